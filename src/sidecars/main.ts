import { runSidecars } from './run.js';
import { mark, restartMarks } from './marks.js';
import { LAUNCH_MARKER } from './launch-marker.js';
import { standBy } from './standby.js';
import { standbyIdleSeconds } from './standby-idle.js';
import type { Socket } from 'node:net';
import { readConfigLine } from './stdin-config.js';
import { NoSecretsLine, readStdinSecrets } from './stdin-secrets.js';

/**
 * The bundle's program (dist/sidecars.cjs, run by dist/sidecars.js: entry.ts): the same daemons as
 * `bot-bottle sidecars`, without loading the CLI's commands, so a bottle's
 * bundle starts fast and stays small.
 */
// `--launch-marker ID` is not read here: it is on the command line so the containment check can recognise
// this process if the bottle could see it (a pre-spawned bundle has no config path there).
async function main(): Promise<void> {
  const standbyAt = process.argv.indexOf('--standby');
  if (standbyAt >= 0) return standbyMain(process.argv[standbyAt + 1]);
  const index = process.argv.indexOf('--config');
  const onStdin = process.argv.includes('--config-on-stdin');
  const fromArgv = index >= 0 ? process.argv[index + 1] : undefined;
  if (fromArgv === undefined ? !onStdin || !process.argv.includes('--exit-with-parent') : onStdin) {
    process.stderr.write('usage: sidecars.js --config FILE | --config-on-stdin --exit-with-parent\n');
    process.exitCode = 2;
  } else {
    // A docker standby (backends/docker/standby.ts): warm up first, then wait, up to its idle time, for the
    // launch that claims it to send its secrets and config lines.
    const dockerStandby = onStdin && process.argv.includes('--docker-standby');
    if (dockerStandby) await dockerStandbyWarmups();
    if (process.argv.includes('--secrets-stdin')) {
      try {
        Object.assign(process.env, await readStdinSecrets(process.stdin, dockerStandby ? standbyIdleSeconds(argValue('--idle-s')) * 1000 : undefined));
        if (dockerStandby) restartMarks();
      } catch (err) {
        if (dockerStandby && err instanceof NoSecretsLine) process.exit(0); // idle: nobody claimed it
        process.stderr.write(`bot-bottle sidecars: ${(err as Error).message}\n`);
        process.exit(1);
      }
    }
    let warmWhen: Promise<void> | undefined;
    if (process.argv.includes('--exit-with-parent')) {
      // The launching CLI holds our stdin open; if it dies without tearing down, stdin ends and we stop
      // instead of serving a bottle that no longer exists.
      process.stdin.on('end', () => process.kill(process.pid, 'SIGTERM'));
      process.stdin.on('error', () => process.kill(process.pid, 'SIGTERM'));
      // With --warm-on-stdin the launcher says when to warm up (a `warm` line: it has released the agent).
      if (process.argv.includes('--warm-on-stdin')) warmWhen = warmSignal(process.stdin);
      process.stdin.resume();
    }
    let config = fromArgv;
    if (config === undefined && !dockerStandby) {
      // Pre-spawned (src/launch/prespawn.ts): while the CLI resolves the plan, load what every bwrap bottle runs,
      // then, one short step at a time and only until the config arrives, build what the ready line needs and no
      // config decides (egressIdleWarmups). Nothing listens, and no file of the bottle is read, before the config
      // names it.
      void (async () => {
        const [egress, supervise] = await Promise.all([import('./egress/index.js'), import('./supervise/index.js')]);
        mark('modules');
        let n = 0;
        for (const step of [...egress.egressIdleWarmups(), ...supervise.superviseIdleWarmups()]) {
          if (config !== undefined) return; // the rest runs at the launcher's `warm`, as for any bundle
          await new Promise((resolve) => setImmediate(resolve));
          if (config !== undefined) return;
          await step();
          mark(`idle step ${++n}`);
        }
      })().catch(() => undefined);
    }
    if (config === undefined) {
      try {
        config = await readConfigLine(process.stdin);
      } catch (err) {
        process.stderr.write(`bot-bottle sidecars: ${(err as Error).message}\n`);
        process.exit(1);
      }
      mark('config');
      // Stdin ended first: the CLI ran no launch, or died. Nothing was started.
      if (config === undefined) process.exit(0);
    }
    try {
      await runSidecars(config, undefined, warmWhen);
    } catch (err) {
      process.stderr.write(`bot-bottle sidecars: ${(err as Error).message}\n`);
      process.exitCode = 1;
    }
    // Every daemon has closed; the parent-watch on stdin (or a straggling keep-alive socket) must not keep us alive.
    process.stdin.destroy();
    process.exit();
  }
}

void main();

/**
 * A docker standby loads and warms what no config decides (as a host standby does), then says so on stdout,
 * where `docker logs` shows it to whoever waits for a standby (benches, tests).
 */
async function dockerStandbyWarmups(): Promise<void> {
  const [egress, supervise] = await Promise.all([import('./egress/index.js'), import('./supervise/index.js')]);
  for (const step of [...egress.egressStandbyWarmups(), ...supervise.superviseIdleWarmups()]) {
    try {
      await step();
    } catch {
      // A warm-up that fails here fails again where it is needed, and is reported there.
    }
  }
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), event: 'standby' })}\n`);
}

/**
 * `--standby SOCKET --launch-marker ID` (sidecars/standby.ts): warm everything no config decides, wait to be
 * claimed, then run as a pre-spawned bundle whose stdin and stdout are the claiming connection.
 */
async function standbyMain(socketPath: string | undefined): Promise<void> {
  const markerAt = process.argv.indexOf('--launch-marker');
  const marker = markerAt >= 0 ? process.argv[markerAt + 1] : undefined;
  if (socketPath === undefined || !socketPath.startsWith('/') || marker === undefined || !LAUNCH_MARKER.test(marker)) {
    process.stderr.write('usage: sidecars.js --standby SOCKET --launch-marker ID\n');
    process.exit(2);
  }
  const [egress, supervise] = await Promise.all([import('./egress/index.js'), import('./supervise/index.js')]);
  for (const step of [...egress.egressStandbyWarmups(), ...supervise.superviseIdleWarmups()]) {
    try {
      await step();
    } catch {
      // A warm-up that fails here fails again where it is needed, and is reported there.
    }
  }
  const channel = await standBy(socketPath, marker, standbyIdleSeconds(process.env.BOT_BOTTLE_STANDBY_IDLE_S) * 1000);
  restartMarks();
  const say = (text: string): void => void channel.write(text);
  // The claiming CLI holds the connection open; if it dies without tearing down, the connection ends.
  const parentGone = (): void => void process.kill(process.pid, 'SIGTERM');
  channel.on('end', parentGone);
  channel.on('close', parentGone);
  channel.on('error', parentGone);
  const warmWhen = warmSignal(channel);
  let config: string | undefined;
  try {
    config = await readConfigLine(channel);
  } catch (err) {
    say(`bot-bottle sidecars: ${(err as Error).message}\n`);
    return endChannel(channel, 1);
  }
  mark('config');
  if (config === undefined) return endChannel(channel, 0);
  try {
    await runSidecars(config, (event) => say(`${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`), warmWhen);
  } catch (err) {
    say(`bot-bottle sidecars: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
  endChannel(channel, process.exitCode === 1 ? 1 : 0);
}

function endChannel(channel: Socket, code: number): void {
  channel.removeAllListeners('end');
  channel.removeAllListeners('close');
  channel.end(() => process.exit(code));
  setTimeout(() => process.exit(code), 1_000).unref();
}

/** Resolves at the first `warm` line on `input`; anything else on it is ignored. */
function warmSignal(input: NodeJS.ReadableStream): Promise<void> {
  return new Promise((resolve) => {
    let buffered = '';
    const onData = (chunk: Buffer | string): void => {
      buffered = (buffered + chunk.toString()).slice(-64);
      if (!/(^|\n)warm\n/.test(buffered)) return;
      input.off('data', onData);
      resolve();
    };
    input.on('data', onData);
  });
}

/** The value after `flag` on the command line (a docker standby's `--idle-s`: it has no settings before its claim). */
function argValue(flag: string): string | undefined {
  const at = process.argv.indexOf(flag);
  return at >= 0 ? process.argv[at + 1] : undefined;
}
