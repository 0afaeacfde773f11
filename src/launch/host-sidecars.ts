import { spawn, type ChildProcess } from 'node:child_process';
import { LaunchError } from './errors.js';
import { closeSync, constants, createWriteStream, existsSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import type { BundleSecrets, ReadyBundle, SidecarHost } from './boundary.js';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { bundleArgv, launchMarker, sidecarsEntry, takePrespawnedBundle } from './prespawn.js';
import type { TeardownStack } from './teardown.js';
import { trace, tracing } from '../util/trace.js';
import { identify, type ProcessIdentity } from '../state/process-identity.js';

export interface HostSidecars {
  pid: number;
  /** Recorded right after the spawn, so a stop from another process can tell it from a reused pid. */
  identity: ProcessIdentity | undefined;
  /** On the bundle's command line only, for the containment check (prespawn.ts). */
  marker: string;
  ready: Record<string, unknown>;
  process: ChildProcess;
  /** Resolves with what happened if the bundle ends before teardown stops it; never rejects. */
  died: Promise<string>;
  /** Starts the bundle's warm-ups (call it once the agent is released: sidecars/main.ts, --warm-on-stdin). */
  warm(): void;
}

/**
 * Run `bot-bottle sidecars` as a supervised child of this process (the bwrap
 * backend's bundle). Token values reach it through its secrets file only
 * (hostSidecarHost), never its environment. Its JSON log goes to a file;
 * start-up waits for the `ready` line.
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
  // The bundle src/cli/main.ts started before the plan existed, if it fits; it reads the config path below.
  const early = takePrespawnedBundle(cli, opts.env);
  const marker = early?.marker ?? launchMarker();
  // Its own session: a Ctrl-C or hangup on the operator's terminal goes to the CLI's process group and
  // must not stop the bundle behind the CLI's back (while attached, Ctrl-C belongs to the agent). The CLI
  // decides when the bundle stops; --exit-with-parent still ends it if the CLI dies.
  const child =
    early?.child ??
    spawn(process.execPath, bundleArgv(cli, marker, opts.configFile), {
      env: opts.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start the sidecar bundle');
  const identity = identify(pid);
  let stopping = false;
  const died = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => {
      if (!stopping) resolve(`the sidecar bundle (pid ${pid}) exited unexpectedly (${signal ?? `code ${code}`}); its log: ${opts.logFile}`);
    });
  });
  opts.teardown.defer('stop sidecar bundle', () => {
    stopping = true;
    return stopChild(child);
  });
  if (early) {
    child.stdin.write(`${opts.configFile}\n`);
    trace('sidecar config handed to the pre-spawned bundle');
  }
  // Never through a link planted in the state folder.
  const logFd = openSync(opts.logFile, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  const log = createWriteStream(opts.logFile, { fd: logFd });
  // A disk that fills up mid-run loses log lines; it must not crash the CLI with a stack trace.
  log.on('error', () => undefined);
  opts.teardown.defer('close sidecar log', () => new Promise<void>((resolve) => log.end(resolve)));
  let stderrTail = '';
  child.stderr.on('data', (chunk: Buffer) => {
    log.write(chunk);
    stderrTail = (stderrTail + chunk.toString('utf8')).slice(-2000);
  });
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new LaunchError(`the sidecar bundle did not become ready in ${opts.timeoutMs ?? 15_000} ms (log: ${opts.logFile})`)), opts.timeoutMs ?? 15_000);
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      log.write(`${line}\n`);
      try {
        const event = JSON.parse(line) as Record<string, unknown>;
        if (event.event === 'ready') {
          clearTimeout(timer);
          resolve(event);
        }
      } catch {
        // Not JSON: kept in the log only.
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new LaunchError(`the sidecar bundle exited before it was ready (${signal ?? `code ${code}`}): ${stderrTail.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
  child.stdin.on('error', () => undefined);
  return { pid, identity, marker, ready, process: child, died, warm: () => void child.stdin.write('warm\n') };
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
