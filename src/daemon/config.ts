/**
 * The daemon's configuration (convict): defaults below, then a JSON config
 * file (--config or CKPT_CONFIG), then environment variables (CKPT_*), then
 * command-line arguments. `ckpt daemon --print-config` shows the result.
 * Documented in docs/daemon.md.
 */
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import convict from 'convict';
import type { BusAuth } from '../bus/index.js';
import { ENGINE_CHOICES, type EngineChoice } from '../shared/engine-choice.js';
import { isToken } from '../shared/types.js';

/** The host name as a subject-safe token (dots and the like become '-'). */
export function defaultNode(): string {
  const name = hostname()
    .replace(/[^A-Za-z0-9_-]/g, '-')
    .slice(0, 64);
  return isToken(name) ? name : 'node';
}

convict.addFormat({
  name: 'token',
  validate(v: unknown) {
    if (!isToken(v)) {
      throw new Error(`must be a subject-safe token (letters, digits, '_' or '-', 1-64 chars)`);
    }
  },
});

convict.addFormat({
  name: 'history-cap',
  validate(v: unknown) {
    if (!Number.isSafeInteger(v) || ((v as number) < 1024 ** 2 && v !== 0 && v !== -1)) {
      throw new Error(
        'must be 0 (automatic), -1 (no cap) or a number of bytes of at least 1 MiB (1048576)',
      );
    }
  },
  // an empty or non-decimal string stays a string, so the check above names it
  coerce: (v: string) => (/^-?\d+$/.test(v.trim()) ? Number(v) : v),
});

convict.addFormat({
  name: 'string-list',
  validate(v: unknown) {
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
      throw new Error('must be a list of file paths');
    }
  },
  coerce: (v: string) => v.split(',').filter(Boolean),
});

export const schema = {
  node: {
    doc: "This node's name on the bus (default: the host name)",
    format: 'token',
    default: defaultNode(),
    env: 'CKPT_NODE',
    arg: 'node',
  },
  bus: {
    url: {
      doc: 'NATS server URL; empty: start a local nats-server (JetStream) and use it',
      format: String,
      default: '',
      env: 'CKPT_BUS_URL',
      arg: 'bus',
    },
    prefix: {
      doc: 'Subject prefix',
      format: 'token',
      default: 'ft',
      env: 'CKPT_BUS_PREFIX',
      arg: 'prefix',
    },
    user: {
      doc: 'NATS user (with password or passwordFile); credentials in the URL work too',
      format: String,
      default: '',
      env: 'CKPT_BUS_USER',
      arg: 'bus-user',
    },
    password: {
      doc: 'NATS password (prefer passwordFile: arguments are visible to every local user)',
      format: String,
      default: '',
      sensitive: true,
      env: 'CKPT_BUS_PASSWORD',
    },
    passwordFile: {
      doc: 'File whose first line is the NATS password',
      format: String,
      default: '',
      env: 'CKPT_BUS_PASSWORD_FILE',
      arg: 'bus-password-file',
    },
    token: {
      doc: 'NATS token (prefer tokenFile)',
      format: String,
      default: '',
      sensitive: true,
      env: 'CKPT_BUS_TOKEN',
    },
    tokenFile: {
      doc: 'File whose first line is the NATS token',
      format: String,
      default: '',
      env: 'CKPT_BUS_TOKEN_FILE',
      arg: 'bus-token-file',
    },
    nkeySeedFile: {
      doc: 'File holding an nkey user seed (SU...)',
      format: String,
      default: '',
      env: 'CKPT_BUS_NKEY',
      arg: 'bus-nkey',
    },
    credsFile: {
      doc: 'A NATS .creds file (user JWT and seed)',
      format: String,
      default: '',
      env: 'CKPT_BUS_CREDS',
      arg: 'bus-creds',
    },
    tls: {
      ca: {
        doc: 'CA certificate (PEM) that signed the NATS server certificate',
        format: String,
        default: '',
        env: 'CKPT_BUS_TLS_CA',
        arg: 'bus-tls-ca',
      },
      cert: {
        doc: 'Client certificate (PEM) for servers that verify clients',
        format: String,
        default: '',
        env: 'CKPT_BUS_TLS_CERT',
        arg: 'bus-tls-cert',
      },
      key: {
        doc: "The client certificate's private key (PEM)",
        format: String,
        default: '',
        env: 'CKPT_BUS_TLS_KEY',
        arg: 'bus-tls-key',
      },
    },
    historyMaxBytes: {
      doc: 'Cap of the JetStream history stream in bytes (oldest entries go first); 0: 1 GiB or, when the server cannot reserve that much, the largest power-of-two share of it it can (a warning says which); -1: no cap',
      format: 'history-cap',
      default: 0,
      env: 'CKPT_HISTORY_MAX_BYTES',
      arg: 'history-max-bytes',
    },
    localPort: {
      doc: 'Port of the local nats-server (-1: a free one)',
      format: 'int',
      default: -1,
      env: 'CKPT_BUS_LOCAL_PORT',
      arg: 'local-port',
    },
  },
  adminGroup: {
    doc: 'A group (name or gid) whose members may act on every job through the local socket, as root does; empty: root alone',
    format: String,
    default: '',
    env: 'CKPT_ADMIN_GROUP',
    arg: 'admin-group',
  },
  stateDir: {
    doc: 'Jobs, outbox, local NATS store, daemon.json (where `ckpt run` finds the daemon)',
    format: String,
    default: '/var/lib/ckpt',
    env: 'CKPT_STATE_DIR',
    arg: 'state-dir',
  },
  imageDir: {
    doc: 'Where checkpoint images go (<imageDir>/<job>/<job>.<seq>.ckpt); empty: <stateDir>/images',
    format: String,
    default: '',
    env: 'CKPT_IMAGE_DIR',
    arg: 'image-dir',
  },
  policies: {
    doc: 'Policy files (YAML or JSON), comma-separated; empty: the default set',
    format: 'string-list',
    default: [] as string[],
    env: 'CKPT_POLICIES',
    arg: 'policies',
  },
  concurrency: {
    doc: 'Checkpoints running at once on this node',
    format: 'nat',
    default: 1,
    env: 'CKPT_CONCURRENCY',
    arg: 'concurrency',
  },
  collapseMs: {
    doc: 'Policy requests for one job within this window merge into one decision, at the cost of this much decision latency; 0: decide at once (the executor still joins requests for a job already queued or being checkpointed)',
    format: 'nat',
    default: 0,
    env: 'CKPT_COLLAPSE_MS',
    arg: 'collapse-ms',
  },
  engine: {
    doc: 'Checkpoint engine: kernel (kmod/ckpt.ko through /dev/ckpt, no ptrace), user (ptrace), or auto (the module when /dev/ckpt is present, else user); images of either restart with either',
    format: [...ENGINE_CHOICES],
    default: 'auto' as EngineChoice,
    env: 'CKPT_ENGINE',
    arg: 'engine',
  },
  timeoutMs: {
    doc: 'A checkpoint taking longer is abandoned (the job continues, the last image stays)',
    format: 'nat',
    default: 600_000,
    env: 'CKPT_TIMEOUT_MS',
    arg: 'timeout-ms',
  },
  retain: {
    doc: 'Images kept per job (older ones are deleted)',
    format: 'nat',
    default: 3,
    env: 'CKPT_RETAIN',
    arg: 'retain',
  },
  metrics: {
    port: {
      doc: 'Prometheus endpoint port (0: a free one, -1: off)',
      format: 'int',
      default: 9464,
      env: 'CKPT_METRICS_PORT',
      arg: 'metrics-port',
    },
    host: {
      doc: 'Prometheus endpoint address',
      format: String,
      default: '127.0.0.1',
      env: 'CKPT_METRICS_HOST',
      arg: 'metrics-host',
    },
  },
  log: {
    level: {
      doc: 'pino log level',
      format: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
      default: 'info',
      env: 'CKPT_LOG_LEVEL',
      arg: 'log-level',
    },
    format: {
      doc: 'auto: human-readable (pino-pretty) when stderr is a terminal, else JSON lines; pretty; json',
      format: ['auto', 'pretty', 'json'],
      default: 'auto',
      env: 'CKPT_LOG_FORMAT',
      arg: 'log-format',
    },
  },
};

export interface DaemonConfig {
  node: string;
  bus: {
    url: string;
    prefix: string;
    localPort: number;
    historyMaxBytes: number;
    user: string;
    password: string;
    passwordFile: string;
    token: string;
    tokenFile: string;
    nkeySeedFile: string;
    credsFile: string;
    tls: { ca: string; cert: string; key: string };
  };
  adminGroup: string;
  stateDir: string;
  imageDir: string;
  policies: string[];
  concurrency: number;
  engine: EngineChoice;
  timeoutMs: number;
  collapseMs: number;
  retain: number;
  metrics: { port: number; host: string };
  log: { level: string; format: 'auto' | 'pretty' | 'json' };
}

/** The configured bus credentials as src/bus/auth.ts takes them (empty settings left out). */
export function busAuthOf(cfg: DaemonConfig): BusAuth {
  const b = cfg.bus;
  const auth: BusAuth = {};
  if (b.user) auth.user = b.user;
  if (b.password) auth.password = b.password;
  if (b.passwordFile) auth.passwordFile = b.passwordFile;
  if (b.token) auth.token = b.token;
  if (b.tokenFile) auth.tokenFile = b.tokenFile;
  if (b.nkeySeedFile) auth.nkeySeedFile = b.nkeySeedFile;
  if (b.credsFile) auth.credsFile = b.credsFile;
  if (b.tls.ca || b.tls.cert || b.tls.key) {
    auth.tls = {};
    if (b.tls.ca) auth.tls.ca = b.tls.ca;
    if (b.tls.cert) auth.tls.cert = b.tls.cert;
    if (b.tls.key) auth.tls.key = b.tls.key;
  }
  return auth;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Defaults < file < env < args. Throws ConfigError naming the key, the value
 * and what is expected.
 */
export function loadConfig(opts: {
  file?: string;
  args?: string[];
  env?: NodeJS.ProcessEnv;
}): DaemonConfig {
  const c = convict(schema, { args: opts.args ?? [], env: opts.env ?? process.env });
  try {
    const file = opts.file ?? (opts.env ?? process.env).CKPT_CONFIG;
    if (file) c.loadFile(file);
    c.validate({ allowed: 'strict' });
  } catch (err) {
    throw new ConfigError(`configuration: ${(err as Error).message}`, { cause: err });
  }
  const cfg = c.getProperties() as DaemonConfig;
  if (cfg.concurrency < 1)
    throw new ConfigError('configuration: concurrency: must be at least 1 (got 0)');
  if (!cfg.imageDir) cfg.imageDir = `${cfg.stateDir}/images`;
  // relative directories are the starting directory's, once: the jobs, the
  // catalog and the banner name absolute paths that work from anywhere
  cfg.stateDir = resolve(cfg.stateDir);
  cfg.imageDir = resolve(cfg.imageDir);
  return cfg;
}
