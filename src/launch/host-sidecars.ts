import { spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { LaunchError } from './errors.js';
import { closeSync, constants, createWriteStream, existsSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import type { BundleSecrets, ReadyBundle, SidecarHost } from './boundary.js';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { bundleArgv, sidecarsEntry, takePrespawnedBundle } from './prespawn.js';
import { launchMarker } from '../sidecars/launch-marker.js';
import type { TeardownStack } from './teardown.js';
import { trace, tracing } from '../util/trace.js';
import { bootId, identify, signalProcess, type ProcessIdentity } from '../state/process-identity.js';
import { botBottleHome } from '../state/paths.js';
import { spawnStandby, standbyWanted, type ClaimedStandby } from './standby.js';

export interface HostSidecars {
  pid: number;
  /** Recorded right after the spawn (or the claim), so a stop from another process can tell it from a reused pid. */
  identity: ProcessIdentity | undefined;
  /** On the bundle's command line only, for the containment check (prespawn.ts). */
  marker: string;
  ready: Record<string, unknown>;
  /** Resolves with what happened if the bundle ends before teardown stops it; never rejects. */
  died: Promise<string>;
  /** Starts the bundle's warm-ups (call it once the agent is released: sidecars/main.ts, --warm-on-stdin). */
  warm(): void;
}

/**
 * The running bundle as the launch talks to it: a child of this CLI (its
 * stdin, stdout and stderr), or a claimed standby (launch/standby.ts: one
 * connection carries both directions, and its text lines stand for stderr).
 */
interface BundleLink {
  pid: number;
  identity: ProcessIdentity | undefined;
  input: Writable;
  output: Readable;
  errors: Readable | undefined;
  /** Once, with how it ended (`code 1`, `SIGKILL`, `its connection closed`). */
  onEnd(listener: (how: string) => void): void;
  stop(): Promise<void>;
}

function childLink(child: ChildProcessWithoutNullStreams): BundleLink {
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start the sidecar bundle');
  return {
    pid,
    identity: identify(pid),
    input: child.stdin,
    output: child.stdout,
    errors: child.stderr,
    onEnd: (listener) => void child.once('exit', (code, signal) => listener(signal ?? `code ${code}`)),
    stop: () => stopChild(child),
  };
}

function standbyLink(claimed: ClaimedStandby): BundleLink {
  const { channel, identity } = claimed;
  const boot = bootId();
  const closed = new Promise<void>((resolve) => channel.once('close', () => resolve()));
  return {
    pid: claimed.pid,
    identity,
    input: channel,
    output: channel,
    errors: undefined,
    onEnd: (listener) => void closed.then(() => listener('its connection closed')),
    async stop() {
      if (channel.destroyed) return;
      trace(`sidecar bundle peak RSS ${peakRssKb(claimed.pid)} kB`);
      // Not our child: signalled only while the recorded process still holds its pid.
      signalProcess(identity, boot, 'SIGTERM');
      const timer = setTimeout(() => signalProcess(identity, boot, 'SIGKILL'), 3_000);
      await closed;
      clearTimeout(timer);
    },
  };
}

/**
 * Run `bot-bottle sidecars` as a supervised child of this process (the bwrap
 * backend's bundle), or take a standby one (launch/standby.ts). Token values
 * reach it through its secrets file only (hostSidecarHost), never its
 * environment. Its JSON log goes to a file; start-up waits for the `ready` line.
 * When it is stopped, a standby for the next launch starts (unless
 * BOT_BOTTLE_STANDBY=0).
 */
export async function startHostSidecars(opts: {
  configFile: string;
  logFile: string;
  env: Record<string, string>;
  teardown: TeardownStack;
  timeoutMs?: number;
}): Promise<HostSidecars> {
  const cli = sidecarsEntry();
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first`);
  // The bundle src/cli/main.ts started (or claimed) before the plan existed, if it fits; it reads the config path below.
  const early = await takePrespawnedBundle(cli, opts.env);
  const marker = early?.marker ?? launchMarker();
  // Its own session: a Ctrl-C or hangup on the operator's terminal goes to the CLI's process group and
  // must not stop the bundle behind the CLI's back (while attached, Ctrl-C belongs to the agent). The CLI
  // decides when the bundle stops; --exit-with-parent still ends it if the CLI dies.
  const link =
    early?.kind === 'standby'
      ? standbyLink(early)
      : childLink(
          early?.child ??
            spawn(process.execPath, bundleArgv(cli, marker, opts.configFile), {
              env: opts.env,
              stdio: ['pipe', 'pipe', 'pipe'],
              detached: true,
            }),
        );
  const { pid, identity } = link;
  let stopping = false;
  const died = new Promise<string>((resolve) => {
    link.onEnd((how) => {
      if (!stopping) resolve(`the sidecar bundle (pid ${pid}) exited unexpectedly (${how}); its log: ${opts.logFile}`);
    });
  });
  const home = botBottleHome(process.env);
  opts.teardown.defer('stop sidecar bundle', async () => {
    stopping = true;
    await link.stop();
    // The next launch's bundle, loaded while nothing of this one is left to slow down.
    if (standbyWanted(process.env) && spawnStandby(home, cli, opts.env) !== undefined) trace('standby sidecar bundle started for the next launch');
  });
  if (early) {
    link.input.write(`${opts.configFile}\n`);
    trace('sidecar config handed to the pre-spawned bundle');
  }
  // Never through a link planted in the state folder.
  const logFd = openSync(opts.logFile, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  const log = createWriteStream(opts.logFile, { fd: logFd });
  // A disk that fills up mid-run loses log lines; it must not crash the CLI with a stack trace.
  log.on('error', () => undefined);
  opts.teardown.defer('close sidecar log', () => new Promise<void>((resolve) => log.end(resolve)));
  let stderrTail = '';
  const keepTail = (text: string): void => void (stderrTail = (stderrTail + text).slice(-2000));
  link.errors?.on('data', (chunk: Buffer) => {
    log.write(chunk);
    keepTail(chunk.toString('utf8'));
  });
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new LaunchError(`the sidecar bundle did not become ready in ${opts.timeoutMs ?? 15_000} ms (log: ${opts.logFile})`)), opts.timeoutMs ?? 15_000);
    const lines = createInterface({ input: link.output });
    lines.on('line', (line) => {
      log.write(`${line}\n`);
      try {
        const event = JSON.parse(line) as Record<string, unknown>;
        if (event.event === 'ready') {
          clearTimeout(timer);
          resolve(event);
        }
      } catch {
        // Not JSON: kept in the log only (a standby's error text comes this way too).
        if (link.errors === undefined) keepTail(`${line}\n`);
      }
    });
    link.onEnd((how) => {
      clearTimeout(timer);
      reject(new LaunchError(`the sidecar bundle exited before it was ready (${how}): ${stderrTail.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
  link.input.on('error', () => undefined);
  return { pid, identity, marker, ready, died, warm: () => void link.input.write('warm\n') };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  if (child.pid !== undefined) trace(`sidecar bundle peak RSS ${peakRssKb(child.pid)} kB`);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
  await exited;
  clearTimeout(timer);
}

function peakRssKb(pid: number): string {
  if (!tracing()) return '';
  try {
    return /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '?';
  } catch {
    return '?';
  }
}

/**
 * The bundle as a child process of the launching CLI, with its config and
 * secrets files in `dir` (the bottle's run folder). `onReady` lets the
 * backend record the process and open its sockets to the guest.
 */
export function hostSidecarHost(dir: string, onReady: (bundle: HostSidecars) => void = () => undefined): SidecarHost {
  return {
    async start(opts): Promise<ReadyBundle> {
      const secretsFile = join(dir, 'sidecars-secrets.json');
      // Removed once the bundle has read it (below), and by teardown if the start fails first.
      opts.teardown.defer('remove the bundle secrets file', () => rmSync(secretsFile, { force: true }));
      writeSecretsFile(secretsFile, opts.secrets);
      const configFile = join(dir, 'sidecars.json');
      writeFileSync(configFile, `${JSON.stringify({ ...opts.config, secretsFile }, null, 2)}\n`, { mode: 0o600 });
      trace('sidecar config written');
      const bundle = await startHostSidecars({ configFile, logFile: opts.logFile, env: opts.settings, teardown: opts.teardown });
      rmSync(secretsFile, { force: true });
      onReady(bundle);
      return { caPem: readFileSync(opts.config.egress.caCertOut, 'utf8'), died: bundle.died, hostProcessMarkers: [configFile, bundle.marker], startMs: bundle.ready.startMs, warm: () => bundle.warm() };
    },
  };
}

/** 0600, created new (O_EXCL: never an existing file or a planted link), readable by the bundle's uid alone. */
function writeSecretsFile(file: string, secrets: BundleSecrets): void {
  const fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    writeSync(fd, JSON.stringify(secrets));
  } finally {
    closeSync(fd);
  }
}
