import { constants, createWriteStream, existsSync, openSync, readFileSync, type WriteStream } from 'node:fs';
import { isAbsolute } from 'node:path';
import { createInterface } from 'node:readline';
import type { TeardownStack } from '../../launch/teardown.js';
import { BUNDLE_NODE_FLAGS } from '../../sidecars/node-flags.js';
import { DockerError } from './cli.js';
import { attachRunning, startAttached } from './attach.js';
import { connectNetwork, createContainer } from './containers.js';
import { SIDECARS_ENTRY_IN_IMAGE } from './images.js';
import { BUNDLE_ALIAS, containerName, STANDBY_LABEL } from './names.js';
import type { BottleNetwork } from './network.js';
import type { DockerRuntime } from './runtime.js';

/** On a docker standby bundle's command line (sidecars/main.ts reads it). */
export const DOCKER_STANDBY_FLAG = '--docker-standby';

/** The bundle's ports inside its container, on its internal-network address only (bound by alias). */
export const BUNDLE_PORTS = { egress: 3128, supervise: 8419, gitGate: 8418 } as const;

/** The listeners a docker bundle's config gets (sidecarConfig's `listen`), and how the agent names them. */
export function bundleListeners(): { egress: { host: string; port: number }; gitGate: { host: string; port: number }; supervise: { host: string; port: number }; superviseHosts: string[] } {
  // Bound to the alias, i.e. the bundle's address on the internal network: never on the egress leg,
  // where other containers may be (BOT_BOTTLE_DOCKER_EGRESS_NETWORK).
  return {
    egress: { host: BUNDLE_ALIAS, port: BUNDLE_PORTS.egress },
    gitGate: { host: BUNDLE_ALIAS, port: BUNDLE_PORTS.gitGate },
    supervise: { host: BUNDLE_ALIAS, port: BUNDLE_PORTS.supervise },
    superviseHosts: [BUNDLE_ALIAS],
  };
}

/** The bundle as the agent reaches it (provisionGuest's endpoints). */
export function bundleGuestEndpoints(gitGate: boolean): { proxyUrl: string; superviseUrl: string; gitGateUrl?: string } {
  return {
    proxyUrl: `http://${BUNDLE_ALIAS}:${BUNDLE_PORTS.egress}`,
    superviseUrl: `http://${BUNDLE_ALIAS}:${BUNDLE_PORTS.supervise}/mcp`,
    ...(gitGate ? { gitGateUrl: `http://${BUNDLE_ALIAS}:${BUNDLE_PORTS.gitGate}` } : {}),
  };
}

/**
 * Host paths the bundle needs, bound at the same path so the config written
 * for the host works unchanged inside and `supervise`/`approve` on the host
 * keep reading the same routes file, queue and audit log: the bottle's state
 * folder and queue read-write, git-gate deploy keys read-only.
 */
export function bundleBinds(config: { gitGate?: { repos: ReadonlyArray<{ identityFile: string }> } | undefined }, dirs: { stateDir: string; queueDir: string }): Array<{ path: string; readOnly: boolean }> {
  const binds = [
    { path: dirs.stateDir, readOnly: false },
    { path: dirs.queueDir, readOnly: false },
  ];
  for (const repo of config.gitGate?.repos ?? []) {
    if (!binds.some((b) => b.path === repo.identityFile)) binds.push({ path: repo.identityFile, readOnly: true });
  }
  return binds;
}

export interface DockerBundleOptions {
  slug: string;
  /** The sidecars image (ensureSidecarsImage). */
  image: string;
  runtime: DockerRuntime;
  internal: BottleNetwork;
  /** smolmachines only: the bundle's pinned address on `internal` (its listeners bind there). */
  address?: string;
  egress: BottleNetwork;
  /** The config's host path; it must lie in one of `binds`. */
  configFile: string;
  /** Where egress writes its CA certificate (config.egress.caCertOut), read back on the host through the bind. */
  caCertOut: string;
  binds: Array<{ path: string; readOnly: boolean }>;
  /**
   * Token slots, sensitive host values and knobs (sidecarEnv's map): the first
   * line of the bundle's stdin, never env or argv. The host's PATH, HOME,
   * TMPDIR and LANG are dropped: inside, the image's own apply.
   */
  secrets: Record<string, string>;
  teardown: TeardownStack;
  /** The bundle's JSON log (stdout and stderr), opened without following links. */
  logFile: string;
  timeoutMs?: number;
}

export interface DockerBundle {
  id: string;
  name: string;
  ready: Record<string, unknown>;
  caPem: string;
  /** Resolves with what happened if the bundle ends before teardown stops it; never rejects. */
  died: Promise<string>;
}

/**
 * The sidecar bundle as a container on the bottle's internal network (alias
 * `sidecars`) and its egress network. Created with stdin open and started
 * attached (`docker start -ai`): the secrets are the first line on its stdin
 * and the rest of stdin is its lifeline (`--exit-with-parent`), so a CLI that
 * dies takes the bundle with it. Each resource registers its undo as it
 * comes into being.
 */
export async function startDockerBundle(opts: DockerBundleOptions): Promise<DockerBundle> {
  const created = await createDockerBundle(opts);
  return runDockerBundle(created, opts);
}

export type BundleContainerOptions = Pick<DockerBundleOptions, 'slug' | 'image' | 'runtime' | 'internal' | 'egress' | 'binds' | 'teardown' | 'address'> & {
  /** The bundle waits for a `warm` line on stdin before its warm-ups (AttachedBundle.warm), so they do not slow the containment check. */
  warmOnStdin?: boolean;
} & (
    | Pick<DockerBundleOptions, 'configFile'>
    /**
     * A docker standby (standby.ts): no config yet. It warms up, then waits up to `idleS` for the secrets line
     * and the config's path after it, and its container carries the standby's key.
     */
    | { standby: { key: string; idleS: number } }
  );

/**
 * Create the bundle's container (not started) and join it to its egress
 * network. Only the config file's path is needed here, not its content, so
 * a launch creates it while the rest of the bottle is being prepared.
 */
export async function createDockerBundle(opts: BundleContainerOptions): Promise<{ id: string; name: string }> {
  const name = containerName(opts.slug, 'sidecars');
  const container = await createContainer({
    slug: opts.slug,
    role: 'sidecars',
    name,
    image: opts.image,
    network: opts.internal.name,
    aliases: [BUNDLE_ALIAS],
    ...(opts.address !== undefined ? { ip: opts.address } : opts.internal.addressing !== undefined ? { ip: opts.internal.addressing.bundle } : {}),
    runtime: opts.runtime,
    mounts: opts.binds.map((b) => ({ source: b.path, target: b.path, readOnly: b.readOnly })),
    interactive: true,
    pidsLimit: 512,
    command: [
      'node',
      ...BUNDLE_NODE_FLAGS,
      SIDECARS_ENTRY_IN_IMAGE,
      ...('standby' in opts ? ['--config-on-stdin', DOCKER_STANDBY_FLAG, '--idle-s', String(opts.standby.idleS)] : ['--config', opts.configFile]),
      '--exit-with-parent',
      '--secrets-stdin',
      ...(opts.warmOnStdin === true || 'standby' in opts ? ['--warm-on-stdin'] : []),
    ],
    ...('standby' in opts ? { labels: { [STANDBY_LABEL]: opts.standby.key } } : {}),
  });
  opts.teardown.defer('remove bundle container', container.undo);
  await connectNetwork(container.id, opts.egress.name);
  return { id: container.id, name };
}

/** Start a created bundle attached, hand it its secrets line and wait for its `ready`. */
export async function runDockerBundle(container: { id: string; name: string }, opts: Pick<DockerBundleOptions, 'caCertOut' | 'secrets' | 'teardown' | 'logFile' | 'timeoutMs'>): Promise<DockerBundle> {
  return attachDockerBundle(container, opts.teardown).handOver(opts);
}

/** A bundle container started and attached, its node up and waiting for its secrets line. */
export interface AttachedBundle {
  /**
   * Write the secrets line (and for a claimed standby, the config's path after it) and resolve once the
   * bundle reported ready (its config file must exist by then).
   */
  handOver: (opts: Pick<DockerBundleOptions, 'caCertOut' | 'secrets' | 'logFile' | 'timeoutMs'> & { configLine?: string }) => Promise<DockerBundle>;
  /** The `warm` line (a bundle created with warmOnStdin): its warm-ups start now. */
  warm: () => void;
}

/**
 * Start a created bundle attached (`docker start -ai`, over the engine's
 * socket where it is local) before its config and secrets exist: node starts
 * and loads the bundle while the rest of the bottle is made, then blocks
 * reading the first line of its stdin (main.ts reads the config only after
 * it). The stop is on `teardown` from now on: stdin ends, and a bundle still
 * waiting for its secrets exits.
 */
export function attachDockerBundle(container: { id: string; name: string }, teardown: TeardownStack, opts: { running?: boolean } = {}): AttachedBundle {
  const { name } = container;
  // Opened by handOver; closed after the bundle stopped (registered first, so it runs last) to keep its last lines.
  let log: WriteStream | undefined;
  const early: Array<{ chunk: Buffer | string }> = [];
  const write = (chunk: Buffer | string): void => void (log ? log.write(chunk) : early.push({ chunk }));
  teardown.defer('close bundle log', () => new Promise<void>((resolve) => (log ? log.end(resolve) : resolve())));

  // Not awaited here: the engine answers a start once the container runs (gVisor's boot), which the
  // agent container's own start must not wait for. handOver waits, and so does the stop.
  // A claimed standby runs already (its node waits for its first stdin line): attached only.
  const starting = opts.running === true ? attachRunning(container.id) : startAttached(container.id);
  let stopping = false;
  teardown.defer('stop bundle', async () => {
    stopping = true;
    const io = await starting.catch(() => undefined);
    if (io === undefined) return;
    // Its lifeline: the bundle stops on its own (and flushes its audit) when stdin ends.
    io.stdin.end();
    const timer = setTimeout(io.kill, 5_000);
    await io.closed;
    clearTimeout(timer);
  });
  let stderrTail = '';
  let onReady: (event: Record<string, unknown>) => void = () => undefined;
  const wired = starting.then((io) => {
    io.stderr.on('data', (chunk: Buffer) => {
      write(chunk);
      stderrTail = (stderrTail + chunk.toString('utf8')).slice(-2000);
    });
    const lines = createInterface({ input: io.stdout });
    lines.on('line', (line) => {
      write(`${line}\n`);
      try {
        const event = JSON.parse(line) as Record<string, unknown>;
        if (event.event === 'ready') onReady(event);
      } catch {
        // Not JSON: kept in the log only.
      }
    });
    return io;
  });
  void wired.catch(() => undefined); // awaited by handOver; a launch that fails first must not see an unhandled rejection

  return {
    warm: () => void wired.then((io) => io.stdin.write('warm\n')).catch(() => undefined),
    async handOver(opts) {
      const { stdin, exited } = await wired;
      const logFd = openSync(opts.logFile, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
      log = createWriteStream(opts.logFile, { fd: logFd });
      log.on('error', () => undefined);
      for (const e of early.splice(0)) log.write(e.chunk);
      const died = exited.then((code) => (stopping ? new Promise<string>(() => undefined) : `the sidecar bundle container ${name} exited unexpectedly (code ${code ?? '?'}); its log: ${opts.logFile}`));
      stdin.write(`${JSON.stringify(withoutHostPaths(opts.secrets))}\n${opts.configLine !== undefined ? `${opts.configLine}\n` : ''}`);
      const timeoutMs = opts.timeoutMs ?? 30_000;
      const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
        const timer = setTimeout(() => reject(new DockerError(`the sidecar bundle container ${name} did not become ready in ${timeoutMs} ms (log: ${opts.logFile})`)), timeoutMs);
        onReady = (event) => {
          clearTimeout(timer);
          resolve(event);
        };
        void exited.then((code) => {
          clearTimeout(timer);
          reject(new DockerError(`the sidecar bundle container ${name} exited before it was ready (code ${code ?? '?'}): ${stderrTail.trim().split('\n').slice(-3).join(' | ')}`));
        });
      });
      const caPem = readFileSync(opts.caCertOut, 'utf8');
      if (!caPem.includes('-----BEGIN CERTIFICATE-----')) throw new DockerError(`the sidecar bundle reported ready without a CA certificate at ${opts.caCertOut}`);
      return { id: container.id, name, ready, caPem, died };
    },
  };
}

const HOST_ONLY = new Set(['PATH', 'HOME', 'TMPDIR', 'LANG']);

function withoutHostPaths(env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !HOST_ONLY.has(name)));
}

/**
 * BOT_BOTTLE_UPSTREAM_CA names a host file (a corporate MITM root, a test's
 * upstream CA); the bundle reads it at that path, so it is bound read-only.
 */
export function upstreamCaBind(hostEnv: Readonly<Record<string, string | undefined>>): Array<{ path: string; readOnly: boolean }> {
  const file = hostEnv.BOT_BOTTLE_UPSTREAM_CA;
  if (file === undefined || file === '') return [];
  if (!isAbsolute(file) || !existsSync(file)) throw new DockerError(`BOT_BOTTLE_UPSTREAM_CA=${file.replace(/[^\x20-\x7e]/g, '?').slice(0, 200)} is not an absolute path to an existing file`);
  return [{ path: file, readOnly: true }];
}
