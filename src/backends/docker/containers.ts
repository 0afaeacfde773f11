import { docker, isNoSuchObject } from './cli.js';
import { engineCall, engineRequest, engineFailure, engineSocket } from './engine.js';
import { labelArgs, ROLE_LABEL, SLUG_LABEL, type ResourceRole } from './names.js';
import { assertSlug } from '../../plan/slug.js';

/**
 * Everything `docker create` needs for one of a bottle's containers,
 * gathered first and turned into argv by a pure function. Environment
 * values are NOT secrets (`docker inspect` shows them): tokens reach the
 * bundle through a file only it can read.
 */
export interface ContainerSpec {
  slug: string;
  role: Extract<ResourceRole, 'sidecars' | 'agent' | 'netns'>;
  name: string;
  image: string;
  /**
   * The first network; more are joined with connectNetwork before start. `container:<id>` joins that
   * container's network namespace instead (a docker standby's holder): then no address, alias, host entry
   * or hostname of its own.
   */
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
  /** Labels beside the slug and role (a docker standby's key). */
  labels?: Record<string, string>;
  command: string[];
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function createArgs(spec: ContainerSpec): string[] {
  const args = ['create', '--name', spec.name, ...labelArgs(spec.slug, spec.role), ...Object.entries(spec.labels ?? {}).flatMap(([k, v]) => ['--label', `${k}=${v}`]), '--network', spec.network];
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

/**
 * The same container as `createArgs`, as the Engine API's create body (what
 * the CLI sends for those flags): the two must stay equivalent
 * (tests/backends/docker/engine.test.ts inspects one of each).
 */
export function createBody(spec: ContainerSpec): Record<string, unknown> {
  for (const name of Object.keys(spec.env ?? {})) {
    if (!ENV_NAME.test(name)) throw new Error(`"${name}" is not an environment variable name`);
  }
  const interactive = spec.interactive === true;
  return {
    Image: spec.image,
    Cmd: spec.command,
    ...(spec.user !== undefined ? { User: spec.user } : {}),
    ...(spec.workdir !== undefined ? { WorkingDir: spec.workdir } : {}),
    ...(spec.hostname !== undefined ? { Hostname: spec.hostname } : {}),
    Env: Object.entries(spec.env ?? {}).map(([name, value]) => `${name}=${value}`),
    Labels: { ...spec.labels, [SLUG_LABEL]: assertSlug(spec.slug), [ROLE_LABEL]: spec.role },
    // `create --interactive`: stdin kept open for the one attach that feeds it, closed when that attach ends.
    OpenStdin: interactive,
    StdinOnce: interactive,
    AttachStdin: interactive,
    AttachStdout: true,
    AttachStderr: true,
    HostConfig: {
      NetworkMode: spec.network,
      Init: true,
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      ...(spec.runtime !== undefined ? { Runtime: spec.runtime } : {}),
      Mounts: (spec.mounts ?? []).map((m) => ({ Type: 'bind', Source: m.source, Target: m.target, ReadOnly: m.readOnly })),
      ...(spec.tmpfs !== undefined && spec.tmpfs.length > 0 ? { Tmpfs: Object.fromEntries(spec.tmpfs.map((t) => { const at = t.indexOf(':'); return at < 0 ? [t, ''] : [t.slice(0, at), t.slice(at + 1)]; })) } : {}),
      ...(spec.readOnlyRoot === true ? { ReadonlyRootfs: true } : {}),
      ...(spec.dns !== undefined ? { Dns: spec.dns } : {}),
      ...(spec.extraHosts !== undefined ? { ExtraHosts: spec.extraHosts } : {}),
      ...(spec.pidsLimit !== undefined ? { PidsLimit: spec.pidsLimit } : {}),
    },
    ...(spec.network.startsWith('container:')
      ? {}
      : {
          NetworkingConfig: {
            EndpointsConfig: {
              [spec.network]: { ...(spec.aliases !== undefined ? { Aliases: spec.aliases } : {}), ...(spec.ip !== undefined ? { IPAMConfig: { IPv4Address: spec.ip } } : {}) },
            },
          },
        }),
  };
}

/** Create (not start) a container; resolves with its id and its undo (`docker rm -f`). */
export async function createContainer(spec: ContainerSpec): Promise<{ id: string; undo: () => Promise<void> }> {
  if (spec.network.startsWith('container:') && (spec.ip !== undefined || spec.aliases !== undefined || spec.extraHosts !== undefined || spec.hostname !== undefined || spec.dns !== undefined)) {
    throw new Error(`${spec.name} joins ${spec.network}: its address, aliases, hosts, resolver and hostname are that container's`);
  }
  for (const m of spec.mounts ?? []) {
    // --mount splits on commas: a path holding one would smuggle in options.
    if (m.source.includes(',') || m.target.includes(',')) throw new Error(`mount paths must not contain commas: ${m.source} -> ${m.target}`);
  }
  const socket = engineSocket();
  let id: string;
  if (socket !== undefined) {
    const created = (await engineCall(socket, 'POST', `/containers/create?name=${encodeURIComponent(spec.name)}`, `docker create --name ${spec.name} … ${spec.image}`, createBody(spec))) as { Id?: unknown };
    if (typeof created.Id !== 'string' || !/^[0-9a-f]{64}$/.test(created.Id)) throw new Error(`docker create --name ${spec.name}: the engine answered without a container id`);
    id = created.Id;
  } else {
    id = await docker(createArgs(spec), { env: spec.env ?? {} });
  }
  return { id, undo: () => removeContainer(id) };
}

export async function connectNetwork(container: string, network: string, aliases: string[] = []): Promise<void> {
  const socket = engineSocket();
  if (socket === undefined) {
    await docker(['network', 'connect', ...aliases.flatMap((a) => ['--alias', a]), network, container]);
    return;
  }
  await engineCall(socket, 'POST', `/networks/${encodeURIComponent(network)}/connect`, `docker network connect ${network} ${container}`, { Container: container, EndpointConfig: aliases.length > 0 ? { Aliases: aliases } : {} });
}

export async function startContainer(container: string): Promise<void> {
  const socket = engineSocket();
  if (socket === undefined) {
    await docker(['start', container]);
    return;
  }
  // 304: already running, which is what was asked.
  const reply = await engineRequest(socket, 'POST', `/containers/${encodeURIComponent(container)}/start`, `docker start ${container}`);
  if (reply.status !== 204 && reply.status !== 304) throw engineFailure(`docker start ${container}`, reply);
}

export async function removeContainer(container: string): Promise<void> {
  try {
    const socket = engineSocket();
    if (socket === undefined) await docker(['rm', '--force', '--volumes', container]);
    else await engineCall(socket, 'DELETE', `/containers/${encodeURIComponent(container)}?force=1&v=1`, `docker rm --force ${container}`);
  } catch (error) {
    if (!isNoSuchObject(error)) throw error;
  }
}
