/**
 * How a client proves itself to NATS: user/password, a token, an nkey seed, a .creds file
 * (JWT and seed), TLS (CA, client certificate and key), or credentials in the URL
 * (nats://user:pass@host, nats://token@host). One place turns these into nats.js connection
 * options for the daemon's bus, the CLI's and the tests' clients. Files are read here so a
 * missing or malformed one is named before any connection is tried; secrets never reach a
 * log or an error message.
 */
import { readFileSync } from 'node:fs';
import {
  type Authenticator,
  credsAuthenticator,
  nkeyAuthenticator,
  tokenAuthenticator,
  usernamePasswordAuthenticator,
} from '@nats-io/transport-node';
import { BusError } from './errors.js';

export interface BusTls {
  /** CA certificate(s) that signed the server's certificate (PEM file). */
  ca?: string;
  /** Client certificate (PEM file), for servers that verify clients. */
  cert?: string;
  /** The client certificate's private key (PEM file). */
  key?: string;
}

export interface BusAuth {
  user?: string;
  password?: string;
  /** A file holding the password (first line), instead of `password`. */
  passwordFile?: string;
  token?: string;
  /** A file holding the token (first line), instead of `token`. */
  tokenFile?: string;
  /** A file holding an nkey user seed (SU...). */
  nkeySeedFile?: string;
  /** A .creds file (user JWT and seed, as nsc writes it). */
  credsFile?: string;
  tls?: BusTls;
}

/** A credential was given in a way that cannot work (names the setting and what is expected). */
export class BusAuthError extends BusError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('AUTH_CONFIG', message, options);
    this.name = 'BusAuthError';
  }
}

export interface AuthConnectOptions {
  servers: string | string[];
  authenticator?: Authenticator | Authenticator[];
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
}

function readSecret(file: string, what: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new BusAuthError(
      `${what}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      { cause: err },
    );
  }
  const first = text.split('\n')[0]?.trim() ?? '';
  if (!first)
    throw new BusAuthError(`${what}: ${file} is empty; expected the secret on its first line`);
  return first;
}

function checkReadable(file: string, what: string): void {
  try {
    readFileSync(file);
  } catch (err) {
    throw new BusAuthError(
      `${what}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      { cause: err },
    );
  }
}

/** Credentials in a URL moved into `auth` (a URL's own win over none, lose to explicit ones). */
function splitUrl(url: string): { url: string; user?: string; password?: string } {
  const m = /^([a-z]+:\/\/)([^@/]*)@(.*)$/i.exec(url);
  if (!m) return { url };
  const [, scheme, cred, rest] = m as unknown as [string, string, string, string];
  const colon = cred.indexOf(':');
  const dec = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw new BusAuthError(`the bus URL's credentials are not valid URL encoding`);
    }
  };
  if (colon < 0) return { url: `${scheme}${rest}`, user: dec(cred) };
  return {
    url: `${scheme}${rest}`,
    user: dec(cred.slice(0, colon)),
    password: dec(cred.slice(colon + 1)),
  };
}

/** The URL with its credentials removed (for files others may read). */
export function stripUrlCredentials(url: string): string {
  return url.replace(/^([a-z]+:\/\/)[^@/]*@/i, '$1');
}

/** The URL with its credentials masked, for logs and error messages. */
export function redactUrl(url: string | string[]): string {
  const one = (u: string) => u.replace(/^([a-z]+:\/\/)[^@/]*@/i, '$1***@');
  return Array.isArray(url) ? url.map(one).join(',') : one(url);
}

/**
 * nats.js options for `url` and `auth`. At most one of user/password, token, nkey and creds
 * may be given (TLS goes with any of them); a conflict or an unreadable file is a
 * BusAuthError naming the settings.
 */
export function authOptions(url: string | string[], auth: BusAuth = {}): AuthConnectOptions {
  const urls = Array.isArray(url) ? url : [url];
  let urlUser: string | undefined;
  let urlPass: string | undefined;
  const servers = urls.map((u) => {
    const s = splitUrl(u);
    if (s.user !== undefined) {
      urlUser = s.user;
      urlPass = s.password;
    }
    return s.url;
  });
  const password =
    auth.password ??
    (auth.passwordFile ? readSecret(auth.passwordFile, 'bus password file') : undefined);
  const token =
    auth.token ?? (auth.tokenFile ? readSecret(auth.tokenFile, 'bus token file') : undefined);
  const given = [
    auth.user !== undefined || password !== undefined ? 'user/password' : undefined,
    token !== undefined ? 'token' : undefined,
    auth.nkeySeedFile ? 'nkey seed' : undefined,
    auth.credsFile ? 'creds file' : undefined,
  ].filter(Boolean);
  if (given.length > 1) {
    throw new BusAuthError(
      `bus credentials: give one of user/password, token, nkey seed or creds file, not ${given.join(' and ')}`,
    );
  }
  const out: AuthConnectOptions = {
    servers: Array.isArray(url) ? servers : (servers[0] as string),
  };
  if (auth.user !== undefined || password !== undefined) {
    if (!auth.user) throw new BusAuthError('bus credentials: a password was given without a user');
    if (password === undefined)
      throw new BusAuthError(`bus credentials: user '${auth.user}' was given without a password`);
    out.authenticator = usernamePasswordAuthenticator(auth.user, password);
  } else if (token !== undefined) {
    out.authenticator = tokenAuthenticator(token);
  } else if (auth.nkeySeedFile) {
    const seed = readSecret(auth.nkeySeedFile, 'bus nkey seed file');
    if (!/^SU[A-Z2-7]{50,}$/.test(seed)) {
      throw new BusAuthError(
        `bus nkey seed file ${auth.nkeySeedFile}: expected a user seed (SU followed by base32), got something else`,
      );
    }
    out.authenticator = nkeyAuthenticator(new TextEncoder().encode(seed));
  } else if (auth.credsFile) {
    let creds: string;
    try {
      creds = readFileSync(auth.credsFile, 'utf8');
    } catch (err) {
      throw new BusAuthError(
        `bus creds file: cannot read ${auth.credsFile} (${(err as NodeJS.ErrnoException).code})`,
        { cause: err },
      );
    }
    if (
      !/-----BEGIN NATS USER JWT-----/.test(creds) ||
      !/-----BEGIN USER NKEY SEED-----/.test(creds)
    ) {
      throw new BusAuthError(
        `bus creds file ${auth.credsFile}: expected a NATS .creds file (a USER JWT block and a USER NKEY SEED block)`,
      );
    }
    out.authenticator = credsAuthenticator(new TextEncoder().encode(creds));
  } else if (urlUser !== undefined) {
    out.authenticator =
      urlPass === undefined
        ? tokenAuthenticator(urlUser)
        : usernamePasswordAuthenticator(urlUser, urlPass);
  }
  const tls = auth.tls ?? {};
  if (tls.cert && !tls.key)
    throw new BusAuthError('bus TLS: a client certificate needs its key (tls key)');
  if (tls.key && !tls.cert)
    throw new BusAuthError('bus TLS: a client key needs its certificate (tls cert)');
  if (tls.ca || tls.cert) {
    out.tls = {};
    if (tls.ca) {
      checkReadable(tls.ca, 'bus TLS CA');
      out.tls.caFile = tls.ca;
    }
    if (tls.cert && tls.key) {
      checkReadable(tls.cert, 'bus TLS certificate');
      checkReadable(tls.key, 'bus TLS key');
      out.tls.certFile = tls.cert;
      out.tls.keyFile = tls.key;
    }
  }
  return out;
}

/** True if `auth` holds any credential or TLS setting. */
export function hasAuth(auth: BusAuth | undefined): boolean {
  if (!auth) return false;
  return Boolean(
    auth.user ||
      auth.password ||
      auth.passwordFile ||
      auth.token ||
      auth.tokenFile ||
      auth.nkeySeedFile ||
      auth.credsFile ||
      auth.tls?.ca ||
      auth.tls?.cert ||
      auth.tls?.key,
  );
}
