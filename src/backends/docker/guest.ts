import { stageHomeFiles } from '../../provision/stage-home.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { trace } from '../../util/trace.js';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { TeardownStack } from '../../launch/teardown.js';
import { caBundle } from '../../provision/ca-bundle.js';
import type { GuestSetup } from '../../provision/guest.js';
import { GUEST_CA_BUNDLE, GUEST_CA_FILE, GUEST_HOME, GUEST_UID } from '../../provision/layout.js';
import { removeTree } from '../../util/safe-fs.js';
import { DockerError, dockerChild } from './cli.js';
import { createContainer, startContainer } from './containers.js';
import { engineSocket, engineUpload } from './engine.js';
import { BUNDLE_ALIAS, containerName } from './names.js';
import { packageRoot } from '../../util/package-root.js';
import type { DockerRuntime } from './runtime.js';
import { seccompExecPrefix } from '../../containment/seccomp.js';

/** The agent's user inside every docker bottle (the images' `agent`). */
export const AGENT_USER = `${GUEST_UID}:${GUEST_UID}`;

/**
 * Put before every command run in a bottle as the agent (the agent, the
 * probe, `bot-bottle exec`, unpacking a home): the agent's own seccomp deny
 * list on top of the runtime's profile, so docker under runc or gVisor denies
 * what bwrap denies (containment/seccomp.ts). Images need /usr/bin/perl.
 */
export const AGENT_EXEC_PREFIX: readonly string[] = seccompExecPrefix();

/**
 * What holds an agent container while nothing of the agent runs: its pid 1
 * (under docker's `--init`) just sleeps. The launcher provisions, runs the
 * containment probe and then starts the agent with `docker exec` (guest-exec.ts),
 * so "released" means "the launcher ran the agent", and nothing in the
 * container can release itself.
 */
export const HOLD_COMMAND = ['sleep', 'infinity'];

/**
 * With the containment check, the container's first process runs the probe
 * (its spec on the container's stdin, its report on stdout: probe.ts) and then
 * holds as HOLD_COMMAND does: the probe's node starts with the container
 * instead of after it, through a `docker exec` (~130 ms under gVisor). A probe
 * that ends without its report line leaves a `probe-exit N` line instead, so
 * the launcher fails at once rather than waiting for a line that never comes.
 * It runs as the agent, under the agent's seccomp prefix, like everything else.
 */
export function probeThenHold(probe: readonly string[]): string[] {
  return [...AGENT_EXEC_PREFIX, '/bin/sh', '-c', '"$@" || echo "probe-exit $?"; exec sleep infinity', 'sh', ...probe];
}

/** A resolver that refuses every lookup at once (nothing answers on the container's loopback), shipped with the package. */
const AGENT_RESOLV_CONF = (): string => join(packageRoot(), 'docker', 'agent-resolv.conf');

export interface AgentContainerOptions {
  slug: string;
  /** The agent image (ensureAgentImage), or a committed snapshot of this bottle (commit.ts). */
  image: string;
  runtime: DockerRuntime;
  /** The bottle's internal network: its only network. */
  network: string;
  /**
   * The internal network's pinned addresses (addressing.ts): the agent then has no resolver at all (its
   * lookups are refused at once) and finds the bundle through /etc/hosts. Without them (a network made
   * elsewhere) it keeps Docker's embedded resolver, which forwards nothing outside.
   */
  addressing?: { bundle: string; agent: string };
  /**
   * A docker standby's network-namespace holder (standby.ts), already on the internal network at the agent's
   * address with the bundle in its /etc/hosts: the agent's container joins it, and its start skips the
   * network setup (~150 ms under runc, ~250 under gVisor). Its hostname is then the holder's (`bottle`).
   */
  joinNetns?: string;
  workspace: { hostPath: string; guestPath: string };
  /** Folders the agent keeps across runs (plan.provider.persist), bound read-write. */
  persist?: Array<{ hostPath: string; guestPath: string }>;
  /** Host files bound read-only (the containment probe and its node, probe.ts). */
  readOnly?: Array<{ hostPath: string; guestPath: string }>;
  /** The containment probe's command line: then it is the container's first process (probeThenHold), fed through an attach. */
  probe?: readonly string[];
  teardown: TeardownStack;
}

/**
 * The agent container, created (not started): uid 1000 with the image's home,
 * on the internal network only, no capabilities, no privilege gain, gVisor
 * when registered. Its root stays writable so `commit` can keep what the
 * agent did to its home; as uid 1000 the agent can write only its home and
 * the temporary folders. It resolves only the bundle's alias, from its
 * /etc/hosts; every other lookup is refused at once.
 */
export async function createAgentContainer(opts: AgentContainerOptions): Promise<{ id: string; name: string }> {
  const name = containerName(opts.slug, 'agent');
  const mounts = [
    { source: opts.workspace.hostPath, target: opts.workspace.guestPath, readOnly: false },
    ...(opts.persist ?? []).map((p) => ({ source: p.hostPath, target: p.guestPath, readOnly: false })),
    ...(opts.readOnly ?? []).map((p) => ({ source: p.hostPath, target: p.guestPath, readOnly: true })),
  ];
  const container = await createContainer({
    slug: opts.slug,
    role: 'agent',
    name,
    image: opts.image,
    network: opts.joinNetns !== undefined ? `container:${opts.joinNetns}` : opts.network,
    runtime: opts.runtime,
    user: AGENT_USER,
    workdir: opts.workspace.guestPath,
    ...(opts.joinNetns !== undefined
      ? {}
      : {
          hostname: opts.slug.slice(0, 63),
          ...(opts.addressing !== undefined ? { ip: opts.addressing.agent, extraHosts: [`${BUNDLE_ALIAS}:${opts.addressing.bundle}`] } : { dns: ['127.0.0.1'] }),
        }),
    pidsLimit: 4096,
    mounts: opts.addressing !== undefined || opts.joinNetns !== undefined ? [...mounts, { source: AGENT_RESOLV_CONF(), target: '/etc/resolv.conf', readOnly: true }] : mounts,
    command: opts.probe !== undefined ? probeThenHold(opts.probe) : HOLD_COMMAND,
    ...(opts.probe !== undefined ? { interactive: true } : {}),
  });
  opts.teardown.defer('remove agent container', container.undo);
  return { id: container.id, name };
}

/**
 * Put the provisioned home files and skill copies in place in the started,
 * held container: staged in a private folder and streamed as a tar archive
 * into `tar -x` run as the agent's uid (`docker exec`), so everything is the
 * agent's own, whatever the runtime (gVisor keeps the container's files out
 * of reach of `docker cp`'s ownership handling). Only paths under the home
 * are written, as in every backend. No secret is in these files: the agent's
 * secret environment goes with `docker exec` (guest-exec.ts).
 */
export async function copyGuestFiles(container: string, setup: Pick<GuestSetup, 'files' | 'copies'>): Promise<void> {
  await withStagedHome(setup, (root) => streamTree(root, container, GUEST_HOME));
}

/** The home files staged in a private folder for `use`, removed afterwards whatever happened. */
async function withStagedHome(setup: Pick<GuestSetup, 'files' | 'copies'>, use: (root: string) => Promise<void>): Promise<void> {
  const staging = mkdtempSync(join(tmpdir(), 'bot-bottle-guest-'));
  const root = join(staging, 'home');
  try {
    mkdirSync(root, { mode: 0o755 });
    stageHomeFiles(root, setup);
    await use(root);
  } finally {
    removeTree(dirname(staging), staging);
  }
}

/**
 * The same files into a created agent container before it starts, so the
 * copy is off the way to the agent's release: one tar whose entries all
 * belong to the agent's uid, extracted by the engine at the home (`docker cp
 * -`; the container's processes see them at boot, under runc and gVisor).
 * Only for images whose home holds nothing the agent planted: the engine
 * extracts as root and follows links already in the image, so a bottle
 * resumed from its own snapshot copies with `copyGuestFiles`, as the agent.
 */
export async function copyGuestFilesBeforeStart(container: string, setup: Pick<GuestSetup, 'files' | 'copies'>): Promise<void> {
  await withStagedHome(setup, async (root) => {
    trace('docker home staged');
    const pack = spawn('tar', ['-C', root, '--numeric-owner', `--owner=${GUEST_UID}`, `--group=${GUEST_UID}`, '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
    let errors = '';
    pack.stderr.on('data', (d: Buffer) => (errors = (errors + d.toString('utf8')).slice(-2000)));
    const packed = exitOf(pack);
    const socket = engineSocket();
    if (socket !== undefined) {
      await engineUpload(socket, container, GUEST_HOME, pack.stdout);
    } else {
      const unpack = dockerChild(['cp', '-', `${container}:${GUEST_HOME}`]);
      for (const s of [unpack.stderr, unpack.stdout]) s?.on('data', (d: Buffer) => (errors = (errors + d.toString('utf8')).slice(-2000)));
      if (unpack.stdin === null) throw new DockerError('docker cp gave no stdin');
      pack.stdout.pipe(unpack.stdin);
      const code = await exitOf(unpack);
      if (code !== 0) throw new DockerError(`copying the bottle's home files in failed (docker cp ${code}): ${errors.trim()}`);
    }
    const code = await packed;
    if (code !== 0) throw new DockerError(`copying the bottle's home files in failed (tar ${code}): ${errors.trim()}`);
    trace('docker home uploaded');
  });
}

/** `tar -c` of a host folder into `tar -x` inside the container, as the agent. */
async function streamTree(dir: string, container: string, into: string): Promise<void> {
  const pack = spawn('tar', ['-C', dir, '--numeric-owner', '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  const unpack = dockerChild(['exec', '--interactive', '--user', AGENT_USER, container, ...AGENT_EXEC_PREFIX, 'tar', '-C', into, '--no-same-owner', '-xpf', '-']);
  let errors = '';
  for (const s of [pack.stderr, unpack.stderr, unpack.stdout]) s?.on('data', (d: Buffer) => (errors = (errors + d.toString('utf8')).slice(-2000)));
  if (unpack.stdin === null) throw new DockerError('docker exec gave no stdin');
  pack.stdout.pipe(unpack.stdin);
  const [packed, unpacked] = await Promise.all([exitOf(pack), exitOf(unpack)]);
  if (packed !== 0 || unpacked !== 0) throw new DockerError(`copying the bottle's home files in failed (tar ${packed}, docker exec tar ${unpacked}): ${errors.trim()}`);
}

function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    child.once('error', () => resolve(null));
    child.once('close', (code) => resolve(code));
  });
}

export async function startAgentContainer(container: string): Promise<void> {
  await startContainer(container);
}

/** Host files bound read-only over the agent's two trust paths, filled in place once the bundle minted its CA. */
export interface GuestCaFiles {
  file: string;
  bundle: string;
}

/**
 * Create the (empty) CA files in the bottle's run folder, to be bound
 * read-only at GUEST_CA_FILE and GUEST_CA_BUNDLE: the agent (uid 1000) can
 * read them and never change them, and the launcher fills them without a
 * `docker exec` on the way to the agent's release (as the bwrap backend does).
 */
export function guestCaFiles(runDir: string): GuestCaFiles {
  const files = { file: join(runDir, 'ca-guest.pem'), bundle: join(runDir, 'ca-bundle.crt') };
  for (const file of Object.values(files)) {
    writeFileSync(file, '', { mode: 0o644, flag: 'wx' });
    chmodSync(file, 0o644);
  }
  return files;
}

export function guestCaBinds(files: GuestCaFiles): Array<{ hostPath: string; guestPath: string }> {
  return [
    { hostPath: files.file, guestPath: GUEST_CA_FILE },
    { hostPath: files.bundle, guestPath: GUEST_CA_BUNDLE },
  ];
}

/**
 * The bottle CA into the agent's trust stores (the CA alone for Node and
 * Codex; host roots plus the CA at Debian's default bundle path): written in
 * place, same inode, so the container's binds see it under runc and gVisor.
 */
export function trustGuestCa(files: GuestCaFiles, caPem: string): void {
  // 'w' truncates the file the bind holds; it never replaces it (a new inode would stay invisible inside).
  writeFileSync(files.file, `${caPem.trim()}\n`);
  writeFileSync(files.bundle, caBundle(caPem));
}
