/**
 * Who may do what, decided in the daemon (docs/security.md), not only by the bus server's
 * subject permissions:
 *
 * - a local user on the Unix socket acts only on their own processes and jobs (the job's
 *   owner, recorded from /proc at attach, is the caller's uid); root and members of the
 *   configured admin group (`adminGroup`) act on all;
 * - the scheduler principal (its commands arrive on <prefix>.sched.cmd.>: the accounts in
 *   src/daemon/local-bus.ts) may send checkpoint, preempt, resume, restart, status and jobs
 *   for any job, never attach or detach, whatever the server's permissions let through;
 *   health publishers reach no command subject at all; a command on <prefix>.cmd.> comes
 *   from a principal the server lets publish there (ckpt-admin on the daemon's own server)
 *   and may act on all. What the daemon checks for every caller (owner from /proc, images
 *   in the image directory, signed, with the owner's credentials) applies to all of them.
 */
import { execFileSync } from 'node:child_process';
import type { Caller } from '../bus/index.js';
import { CommandError } from '../bus/index.js';
import { SCHEDULER_VERBS } from './local-bus.js';

export interface Authz {
  /** The admin group's gid, if one is configured. */
  readonly adminGid?: number;
  /** May this caller act on everything (root, the admin group, a bus principal)? */
  privileged(caller: Caller): boolean;
  /**
   * Throws FORBIDDEN naming `what` and why, unless the caller is privileged or `ownerUid`
   * is the caller's own uid.
   */
  requireOwner(caller: Caller, ownerUid: number, what: string): void;
  /** Throws FORBIDDEN if this caller may never send `verb` (the scheduler: attach, detach). */
  requireVerb(caller: Caller, verb: string): void;
}

export class AdminGroupError extends Error {
  override name = 'AdminGroupError';
}

/** A group name or number as a gid (names through NSS: getent). */
export function resolveGroup(group: string): number | undefined {
  if (!group) return undefined;
  if (/^\d+$/.test(group)) return Number(group);
  if (!/^[A-Za-z_][A-Za-z0-9_.-]{0,63}\$?$/.test(group)) {
    throw new AdminGroupError(`adminGroup '${group}': expected a group name or a gid`);
  }
  let line: string;
  try {
    line = execFileSync('getent', ['group', group], { encoding: 'utf8' }).trim();
  } catch {
    throw new AdminGroupError(
      `adminGroup '${group}': no such group (getent group ${group} found nothing); create it or set adminGroup to an existing group`,
    );
  }
  const gid = Number(line.split(':')[2]);
  if (!Number.isInteger(gid) || gid < 0) {
    throw new AdminGroupError(`adminGroup '${group}': getent gave '${line}', not a group entry`);
  }
  return gid;
}

export function createAuthz(adminGid?: number): Authz {
  const privileged = (c: Caller): boolean => {
    if (c.via === 'bus') return true;
    if (c.uid === 0) return true;
    return adminGid !== undefined && (c.gid === adminGid || c.groups.includes(adminGid));
  };
  return {
    adminGid,
    privileged,
    requireVerb(caller, verb) {
      if (
        caller.via === 'bus' &&
        caller.principal === 'scheduler' &&
        !SCHEDULER_VERBS.includes(verb)
      ) {
        throw new CommandError(
          'FORBIDDEN',
          `${verb} refused: the scheduler principal may send ${SCHEDULER_VERBS.join(', ')} only`,
        );
      }
    },
    requireOwner(caller, ownerUid, what) {
      if (privileged(caller)) return;
      if (caller.via === 'socket' && caller.uid === ownerUid) return;
      const who = caller.via === 'socket' ? `uid ${caller.uid}` : 'this caller';
      throw new CommandError(
        'FORBIDDEN',
        `${what} refused: it belongs to uid ${ownerUid}, and ${who} may act only on its own processes and jobs (root and the admin group${adminGid === undefined ? ', none configured,' : ` (gid ${adminGid})`} act on all)`,
      );
    },
  };
}

/** The login name of `uid` (NSS: getent passwd), or undefined when it has none. */
export function userNameOf(uid: number): string | undefined {
  try {
    const line = execFileSync('getent', ['passwd', String(uid)], { encoding: 'utf8' }).trim();
    const [name, , id] = line.split(':');
    return name && Number(id) === uid ? name : undefined;
  } catch {
    return undefined;
  }
}
