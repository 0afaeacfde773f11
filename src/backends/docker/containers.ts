import { docker, isNoSuchObject } from './cli.js';
import { labelArgs, type ResourceRole } from './names.js';

/**
 * Everything `docker create` needs for one of a bottle's containers,
 * gathered first and turned into argv by a pure function. Environment
 * values are NOT secrets (`docker inspect` shows them): tokens reach the
 * bundle through a file only it can read.
 */
export interface ContainerSpec {
  slug: string;
  role: Extract<ResourceRole, 'sidecars' | 'agent'>;
  name: string;
  image: string;
  /** The first network; more are joined with connectNetwork before start. */
  network: string;
  aliases?: string[];
  /** A pinned address on `network` (smolmachines: the bundle's address is the guest's one allowed /32). */
  ip?: string;
  /** `runsc` when gVisor is registered (runtime.ts). */
  runtime?: string;
  user?: string;
  workdir?: string;
  /** Visible in `docker inspect`; never secrets. Passed as bare `-e NAME` with the value in the CLI's environment. */
  env?: Record<string, string>;
  mounts?: Array<{ source: string; target: string; readOnly: boolean }>;
  tmpfs?: string[];
  readOnlyRoot?: boolean;
  /** `127.0.0.1` keeps Docker's embedded DNS from forwarding outside names for the agent. */
  dns?: string[];
  /** `name:address` lines for the container's /etc/hosts. */
  extraHosts?: string[];
  pidsLimit?: number;
  /** Keep stdin open (`docker start -ai` then feeds it; closed when that CLI ends). */
  interactive?: boolean;
  hostname?: string;
  command: string[];
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function createArgs(spec: ContainerSpec): string[] {
  const args = ['create', '--name', spec.name, ...labelArgs(spec.slug, spec.role), '--network', spec.network];
  for (const alias of spec.aliases ?? []) args.push('--network-alias', alias);
  if (spec.ip !== undefined) args.push('--ip', spec.ip);
  // Baseline for every bottle container: an init that reaps and forwards signals (a stop is immediate),
  // no capabilities, no privilege gain through set-id files.
  args.push('--init', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges');
  if (spec.runtime !== undefined) args.push('--runtime', spec.runtime);
  if (spec.user !== undefined) args.push('--user', spec.user);
  if (spec.workdir !== undefined) args.push('--workdir', spec.workdir);
  for (const name of Object.keys(spec.env ?? {})) {
    if (!ENV_NAME.test(name)) throw new Error(`"${name}" is not an environment variable name`);
    args.push('--env', name);
  }
  for (const m of spec.mounts ?? []) args.push('--mount', `type=bind,source=${m.source},target=${m.target}${m.readOnly ? ',readonly' : ''}`);
  for (const t of spec.tmpfs ?? []) args.push('--tmpfs', t);
  if (spec.readOnlyRoot === true) args.push('--read-only');
  for (const d of spec.dns ?? []) args.push('--dns', d);
  for (const h of spec.extraHosts ?? []) args.push('--add-host', h);
  if (spec.pidsLimit !== undefined) args.push('--pids-limit', String(spec.pidsLimit));
  if (spec.interactive === true) args.push('--interactive');
  if (spec.hostname !== undefined) args.push('--hostname', spec.hostname);
  args.push('--', spec.image, ...spec.command);
  return args;
}

/** Create (not start) a container; resolves with its id and its undo (`docker rm -f`). */
export async function createContainer(spec: ContainerSpec): Promise<{ id: string; undo: () => Promise<void> }> {
  for (const m of spec.mounts ?? []) {
    // --mount splits on commas: a path holding one would smuggle in options.
    if (m.source.includes(',') || m.target.includes(',')) throw new Error(`mount paths must not contain commas: ${m.source} -> ${m.target}`);
  }
  const id = await docker(createArgs(spec), { env: spec.env ?? {} });
  return { id, undo: () => removeContainer(id) };
}

export async function connectNetwork(container: string, network: string, aliases: string[] = []): Promise<void> {
  await docker(['network', 'connect', ...aliases.flatMap((a) => ['--alias', a]), network, container]);
}

export async function startContainer(container: string): Promise<void> {
  await docker(['start', container]);
}

export async function removeContainer(container: string): Promise<void> {
  try {
    await docker(['rm', '--force', '--volumes', container]);
  } catch (error) {
    if (!isNoSuchObject(error)) throw error;
  }
}
