/** `ckpt daemon`: the node daemon (src/daemon) as a foreground service. */
import { pino } from 'pino';
import { redactUrl } from '../bus/auth.js';
import { ConfigError, loadConfig, schema } from '../daemon/config.js';
import { CliError, EXIT, UsageError } from './errors.js';
import { DEFAULT_STATE_DIR } from './local-daemon.js';
import type { Verb } from './verb.js';

/** Every convict `arg` name of the schema: the options this verb accepts. */
function argNames(node: Record<string, unknown>, out: string[] = []): string[] {
  for (const v of Object.values(node)) {
    const o = v as Record<string, unknown>;
    if (typeof o.arg === 'string') out.push(o.arg);
    else if (o && typeof o === 'object' && !('doc' in o)) argNames(o, out);
  }
  return out;
}
const ARGS = argNames(schema as unknown as Record<string, unknown>);

const HELP = `Usage: ckpt daemon [--config FILE] [--print-config] [OPTIONS]

Run the node daemon in the foreground: it subscribes to node-health events on the
bus, decides checkpoints with its policies, runs them through libckpt and
publishes the results. With no bus URL it starts a local nats-server itself.
SIGHUP re-reads the policy files (an invalid file keeps the old policies);
SIGTERM/SIGINT let running checkpoints finish, then stop.

Options (each also settable in the JSON config file or as CKPT_* variables):
      --config FILE       JSON configuration file (also $CKPT_CONFIG)
      --print-config      print the effective configuration as JSON and exit
      --node NODE         this node's name (default: the host name)
      --bus URL           NATS server URL (default: start a local nats-server)
      --prefix PREFIX     subject prefix (default ft)
      --bus-user USER     NATS user; its password from --bus-password-file FILE
                          or $CKPT_BUS_PASSWORD (never an argument: every local
                          user can read arguments)
      --bus-token-file F  NATS token from a file (or $CKPT_BUS_TOKEN)
      --bus-nkey FILE     nkey user seed file
      --bus-creds FILE    NATS .creds file (user JWT and seed)
      --bus-tls-ca FILE   CA of the server's certificate; --bus-tls-cert FILE and
                          --bus-tls-key FILE: a client certificate
                          (credentials in the URL work too: nats://user:pass@host)
      --local-port N      port of the local nats-server (default: a free one)
      --history-max-bytes N  cap of the JetStream history stream (default 0:
                          1 GiB, less if the server cannot reserve it; -1 none)
      --state-dir DIR     jobs, outbox, local NATS store (default /var/lib/ckpt)
      --image-dir DIR     checkpoint images (default STATE-DIR/images)
      --admin-group GROUP members may act on every job through the local
                          socket, as root does (default: none)
      --policies F[,F]    policy files (default: the built-in set)
      --concurrency N     checkpoints at once (default 1)
      --timeout-ms MS     give up a checkpoint after MS (default 600000)
      --collapse-ms MS    merge policy requests within MS (default 0: at once)
      --retain N          images kept per job (default 3)
      --metrics-port N    Prometheus endpoint port (default 9464; 0 any; -1 off)
      --metrics-host H    its address (default 127.0.0.1)
      --log-level L       fatal|error|warn|info|debug|trace|silent (default info)
      --log-format F      auto (pretty on a terminal, else JSON lines), pretty or
                          json (default auto)
Details and defaults: docs/daemon.md.`;

export const verb: Verb = {
  name: 'daemon',
  summary: 'run the node daemon (bus, policies, executor)',
  help: HELP,
  async run(argv) {
    let file: string | undefined;
    let print = false;
    const rest: string[] = [];
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i] as string;
      if (a === '--print-config') print = true;
      else if (a === '--config' || a.startsWith('--config=')) {
        file = a.includes('=') ? a.slice(9) : argv[++i];
        if (!file) throw new UsageError('--config needs a FILE');
      } else if (a.startsWith('--')) {
        const name = a.slice(2).split('=')[0] as string;
        if (!ARGS.includes(name)) throw new UsageError(`unknown option '${a}'`);
        if (a.includes('=')) rest.push(a);
        else {
          const v = argv[++i];
          if (v === undefined) throw new UsageError(`${a} needs a value`);
          rest.push(`${a}=${v}`);
        }
      } else throw new UsageError(`unexpected argument '${a}'`);
    }
    let cfg: ReturnType<typeof loadConfig>;
    try {
      cfg = loadConfig({ file, args: rest });
    } catch (err) {
      if (err instanceof ConfigError) throw new CliError(err.message, EXIT.usage);
      throw err;
    }
    if (print) {
      const shown = structuredClone(cfg);
      shown.bus.url = redactUrl(shown.bus.url);
      if (shown.bus.password) shown.bus.password = '[Sensitive]';
      if (shown.bus.token) shown.bus.token = '[Sensitive]';
      process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
      return 0;
    }
    const pretty =
      cfg.log.format === 'pretty' || (cfg.log.format === 'auto' && process.stderr.isTTY === true);
    // A log reader that goes away (`ckpt daemon 2>&1 | head`, a collector that died) ends
    // the logging, nothing else: the daemon runs on and SIGTERM still stops it. (pino's
    // SonicBoom destination retried a line on the broken pipe forever in its exit flush.)
    process.stderr.on('error', () => {});
    const logger = pino(
      { level: cfg.log.level, base: { node: cfg.node } },
      pretty
        ? pino.transport({ target: 'pino-pretty', options: { destination: 2 } })
        : process.stderr,
    );
    const { startDaemon } = await import('../daemon/daemon.js');
    const { PolicyFileError } = await import('../policies/index.js');
    let d: Awaited<ReturnType<typeof startDaemon>>;
    try {
      d = await startDaemon(cfg, logger);
    } catch (err) {
      if (err instanceof PolicyFileError) throw new CliError(err.message, EXIT.usage);
      throw new CliError(`daemon: ${(err as Error).message}`, EXIT.unavailable, { cause: err });
    }
    const where = redactUrl(d.url);
    logger.info({ url: where, node: d.node, metrics: d.metricsUrl }, `NATS bus at ${where}`);
    // the CLI finds this daemon through STATE-DIR/daemon.json: name the dir only if not the default
    const envDir = process.env.CKPT_STATE_DIR || DEFAULT_STATE_DIR;
    const sd = cfg.stateDir === envDir ? '' : ` --state-dir ${cfg.stateDir}`;
    process.stderr.write(
      [
        `ckpt daemon: node ${d.node}, bus ${where}, state ${cfg.stateDir}${d.metricsUrl ? `, metrics ${d.metricsUrl}` : ''}`,
        `Try it (in another shell; ckpt finds this daemon through ${cfg.stateDir}/daemon.json):`,
        `  bin/ckpt run --job demo${sd} -- sh -c 'i=0; while :; do i=$((i+1)); echo $i > /tmp/demo.count; sleep 1; done'`,
        `  bin/ckpt jobs${sd}`,
        `  bin/ckpt checkpoint --job demo --kill${sd}     # save it, then end it`,
        `  bin/ckpt restart --job demo${sd}               # back from its latest image`,
        `  bin/ckpt publish --node ${d.node} --severity fatal --type node.failure.imminent${sd}`,
        '',
      ].join('\n'),
    );
    return new Promise<number>((resolve) => {
      process.on('SIGHUP', () => {
        try {
          d.reload();
        } catch (err) {
          logger.error(
            { err: (err as Error).message },
            'policy reload refused; the old policies stay',
          );
        }
      });
      const stop = (sig: string) => {
        logger.info({ signal: sig }, 'stopping');
        d.close().then(
          () => resolve(0),
          (err: Error) => {
            logger.error({ err: err.message }, 'unclean stop');
            resolve(1);
          },
        );
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
  },
};
