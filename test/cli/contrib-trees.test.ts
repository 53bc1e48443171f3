/**
 * The scheduler glue in contrib/ on whole jobs (issue 11): a job shell with
 * two children, started as the scheduler starts it (its own session), is
 * checkpointed and restarted by the scripts, run with the arguments and
 * environment variables the scheduler gives them, against the real bin/
 * commands; the job then finishes with the output of an uninterrupted run.
 *  - Torque: pbs_mom's $checkpoint_script (qhold: signal 9 once saved) and
 *    $restart_script (qrls; cr_restart waits for the job).
 *  - Slurm: the prolog's registration (ckpt-slurm-register, the batch step
 *    found in the job's cgroup) with the node daemon, ckpt-preempt from the
 *    batch script's trap (the daemon checkpoints and kills the job), then the
 *    requeued job's restart as contrib/slurm/sbatch-example.sh does it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { inspect } from '../../src/engine/libckpt.js';
import { lineCount, linesProgram, startDaemon, until } from '../daemon/fixture.js';
import { natsServer } from '../helpers/nats.js';
import { REPO } from './run-cli.js';

const gone = (pid: number) => !existsSync(`/proc/${pid}`);

function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(cmd, args, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/**
 * The batch job: a shell leading its own session (as pbs_mom and slurmstepd
 * start it), its output in a spool file, two children writing their files.
 */
async function startJob(t: ExecutionContext, dir: string) {
  const script = join(dir, 'job.sh');
  const lines = linesProgram();
  writeFileSync(
    script,
    `echo SHELL $$
${lines} "$1/a" 1200 </dev/null >/dev/null 2>&1 &
${lines} "$1/b" 1250 </dev/null >/dev/null 2>&1 &
wait
echo "done $(wc -l <"$1/a") $(wc -l <"$1/b")" >"$1/result"
`,
  );
  const spool = join(dir, 'job.OU');
  const fd = openSync(spool, 'w');
  const proc: ChildProcess = spawn('setsid', ['-f', 'bash', script, dir], {
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  proc.unref();
  const m = await until(
    'the job shell',
    () => /SHELL (\d+)/.exec(readFileSync(spool, 'utf8')) ?? false,
  );
  const shell = Number(m[1]);
  await until(
    'both children writing',
    () => lineCount(join(dir, 'a')) > 5 && lineCount(join(dir, 'b')) > 5,
  );
  const kids = children(shell);
  t.teardown(() => {
    for (const p of [shell, ...kids, ...children(shell)])
      try {
        process.kill(p, 'SIGKILL');
      } catch {}
  });
  return { shell, kids };
}

async function finished(t: ExecutionContext, dir: string) {
  t.is(readFileSync(join(dir, 'result'), 'utf8'), 'done 1200 1250\n');
  t.is(lineCount(join(dir, 'a')), 1200, 'a: no gap, no repeat');
  t.is(lineCount(join(dir, 'b')), 1250, 'b: no gap, no repeat');
}

test.serial(
  'torque checkpoint_script (qhold) and restart_script (qrls) on a job shell with its children',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'ckpt-torque-tree-'));
    const job = await startJob(t, dir);
    t.is(job.kids.length, 2);
    const ckdir = join(dir, 'checkpoint');
    const torque = (name: string) => join(REPO, 'contrib', 'torque', name);
    const env = { PBS_JOBID: '77.srv', PBS_O_WORKDIR: dir };
    // session_id job_id user_id group_id checkpoint_dir checkpoint_name signal_num depth
    const ck = await run(
      torque('checkpoint_script'),
      [String(job.shell), '77.srv', 'root', 'root', ckdir, 'ck.77', '9', '1'],
      env,
    );
    t.is(ck.code, 0, ck.stderr);
    t.regex(ck.stderr, /checkpointed session \d+ to .*ck\.77/);
    await until('qhold: the whole job gone', () => [job.shell, ...job.kids].every(gone));
    const info = await inspect(join(ckdir, 'ck.77'));
    t.deepEqual(
      (info.tree as { pid: number }[]).map((r) => r.pid),
      [job.shell, ...job.kids],
      'one image with the shell and its children',
    );
    t.false(existsSync(join(dir, 'result')));
    // qrls: restart_script waits for the job, exits with its status
    const rs = await run(
      torque('restart_script'),
      [String(job.shell), '77.srv', 'root', 'root', ckdir, 'ck.77'],
      env,
    );
    t.is(rs.code, 0, rs.stderr);
    await finished(t, dir);
  },
);

test.serial(
  'slurm: prolog registration, ckpt-preempt from the trap, the requeued job restarts from the image',
  async (t) => {
    const server = await natsServer(t);
    const d = await startDaemon(t, { url: server.url, node: 'slurmnode' });
    const dir = mkdtempSync(join(tmpdir(), 'ckpt-slurm-tree-'));
    const job = await startJob(t, dir);
    const slurm = (name: string) => join(REPO, 'contrib', 'slurm', name);
    // slurmstepd's cgroup v2 layout, with the batch step's first process
    const cgroot = join(dir, 'cgroup');
    const step = join(cgroot, 'system.slice', 'slurmstepd.scope', 'job_78', 'step_batch', 'user');
    mkdirSync(step, { recursive: true });
    writeFileSync(join(step, 'cgroup.procs'), `${job.shell}\n`);
    const env = {
      SLURM_JOB_ID: '78',
      SLURM_JOBID: '78',
      SLURMD_NODENAME: 'slurmnode',
      CKPT_NODE: 'slurmnode',
      CKPT_BUS_URL: server.url,
      CKPT_CGROUP_ROOT: cgroot,
      CKPT_REGISTER_TIMEOUT: '20',
    };
    const reg = await run(slurm('ckpt-slurm-register'), ['78'], env);
    t.is(reg.code, 0, reg.stderr);
    // the batch script's trap on USR1/TERM
    const pre = await run(slurm('ckpt-preempt'), [], env);
    t.is(pre.code, 0, pre.stderr + pre.stdout);
    const image = /image: (\S+)/.exec(pre.stdout)?.[1] ?? '';
    t.true(existsSync(image), pre.stdout);
    await until('the whole job killed', () => [job.shell, ...job.kids].every(gone));
    const info = await inspect(image);
    t.is((info.processes as unknown[]).length, 3, 'the image holds the shell and its children');
    // the requeued job: as sbatch-example.sh, new pids, the restarter waits
    const pidFile = join(dir, 'pid');
    const rs = await run(join(REPO, 'bin', 'ckpt'), [
      'restart',
      '--no-restore-pid',
      '--quiet',
      '--pid-file',
      pidFile,
      image,
    ]);
    t.is(rs.code, 0, rs.stderr);
    t.regex(readFileSync(pidFile, 'utf8'), /^\d+\s*$/);
    await finished(t, dir);
    t.is(d.node, 'slurmnode');
  },
);
