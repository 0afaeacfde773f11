import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { execa } from 'execa';
import { assertSlug } from '../../plan/slug.js';

/**
 * The smolvm CLI as bot-bottle calls it (smolvm >= 1.8.0; see
 * docs/design/smolmachines.md): argv builders that are pure, one runner.
 * No builder takes an environment: `machine create -e` values are stored in
 * plaintext and printed by `machine ls -v`, so nothing reaches the guest
 * through argv; secrets travel on an exec's stdin.
 */
export const MIN_SMOLVM_VERSION = '1.8.0';

export class SmolvmError extends Error {
  override name = 'SmolvmError';
  constructor(
    message: string,
    readonly exitCode: number,
    /** smolvm's stderr (trimmed), for callers that tell "not found" from real failures. */
    readonly stderr = '',
  ) {
    super(message);
  }
}

/** `smolvm 1.9.3` -> `1.9.3`; anything else is not a smolvm we know. */
export function parseSmolvmVersion(output: string): string | undefined {
  return /^smolvm (\d+\.\d+\.\d+)\b/m.exec(output.trim())?.[1];
}

export function versionAtLeast(version: string, minimum: string): boolean {
  const a = version.split('.').map(Number);
  const b = minimum.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}

const MACHINE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

/** smolvm's own rule: 1-128 chars, `[A-Za-z0-9]` then `[A-Za-z0-9_-]`, no `--`, no trailing `-`. */
export function assertMachineName(name: string): string {
  if (!MACHINE_NAME.test(name) || name.includes('--') || name.endsWith('-')) {
    throw new SmolvmError(`"${name.replace(/[^\x20-\x7e]/g, '?').slice(0, 80)}" is not a smolvm machine name`, 2);
  }
  return name;
}

/**
 * A bottle's machine. Slugs may hold `.` and `--`, which smolvm names may
 * not; the hash keeps two slugs that map to the same readable part apart.
 */
export function machineNameFor(slug: string, role: 'agent' | 'pack' = 'agent'): string {
  const readable = assertSlug(slug).replaceAll('.', '_').replace(/-{2,}/g, '-').replace(/-$/, '').slice(0, 64);
  const hash = createHash('sha256').update(slug).digest('hex').slice(0, 8);
  return assertMachineName(`bb-${role === 'pack' ? 'pack-' : ''}${readable}-${hash}`);
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function isIpv4(value: string): boolean {
  return IPV4.test(value);
}

function assertCidr(value: string): string {
  const [ip, bits, extra] = value.split('/');
  if (extra !== undefined || ip === undefined || !isIpv4(ip) || bits === undefined || !/^\d{1,2}$/.test(bits) || Number(bits) > 32) {
    throw new SmolvmError(`"${value.slice(0, 40)}" is not an IPv4 CIDR`, 2);
  }
  return value;
}

export interface CreateSpec {
  name: string;
  /** The cached `.smolmachine` of the agent image. */
  from: string;
  /** The only destinations the guest may reach (destination IP only, every port). */
  allowCidrs: string[];
  /** The guest's resolver: an address where nothing answers DNS closes smolvm's forwarding of queries upstream. */
  dns: string;
}

export function createArgs(spec: CreateSpec): string[] {
  if (spec.allowCidrs.length === 0) throw new SmolvmError('a machine without an allow-list would have no egress policy', 2);
  if (!spec.from.endsWith('.smolmachine')) throw new SmolvmError(`${spec.from} is not a .smolmachine pack`, 2);
  if (!isIpv4(spec.dns)) throw new SmolvmError(`--dns ${spec.dns.slice(0, 40)} is not an IPv4 address`, 2);
  const args = ['machine', 'create', '--name', assertMachineName(spec.name), '--from', spec.from];
  for (const cidr of spec.allowCidrs) args.push('--allow-cidr', assertCidr(cidr));
  args.push('--dns', spec.dns);
  return args;
}

/** `docker save IMG | smolvm machine create --name N --image -`: a local image becomes a machine. */
export function importArgs(name: string): string[] {
  return ['machine', 'create', '--name', assertMachineName(name), '--image', '-'];
}

export const startArgs = (name: string): string[] => ['machine', 'start', '--name', assertMachineName(name)];
export const stopArgs = (name: string): string[] => ['machine', 'stop', '--name', assertMachineName(name)];
/** Always `-f`: without it smolvm <= 1.9.3 asks, reads nothing, prints `Cancelled` and exits 0 with the machine still there. */
export const deleteArgs = (name: string): string[] => ['machine', 'delete', '--name', assertMachineName(name), '-f'];
export const listArgs = (): string[] => ['machine', 'ls', '--json'];
export const egressEventsArgs = (name: string): string[] => ['machine', 'egress-events', '--name', assertMachineName(name), '--json'];
/** Writes OUT (a stub) and OUT.smolmachine (what `create --from` takes); OUT itself must not end in .smolmachine. */
export function packArgs(fromVm: string, output: string): string[] {
  if (output.endsWith('.smolmachine')) throw new SmolvmError(`pack output ${output} must not end in .smolmachine`, 2);
  return ['pack', 'create', '--from-vm', assertMachineName(fromVm), '-o', output];
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * `exec` takes `--name` only (never `-n`); stdin reaches the guest only with `-i`.
 * `secretEnv` maps a guest variable to a variable of smolvm's own environment
 * (`--secret-env GUEST=HOST`, 1.9+): the value never appears on argv; the
 * runner's per-call `env` carries it.
 */
export function execArgs(
  name: string,
  command: readonly string[],
  opts: { stdin?: boolean; workdir?: string; timeoutSeconds?: number; secretEnv?: Record<string, string> } = {},
): string[] {
  if (command.length === 0) throw new SmolvmError('exec needs a command', 2);
  const args = ['machine', 'exec', '--name', assertMachineName(name)];
  for (const [guest, host] of Object.entries(opts.secretEnv ?? {})) {
    if (!ENV_NAME.test(guest) || !ENV_NAME.test(host)) throw new SmolvmError(`--secret-env ${guest.slice(0, 40)}=${host.slice(0, 40)}: not variable names`, 2);
    args.push('--secret-env', `${guest}=${host}`);
  }
  if (opts.stdin === true) args.push('-i');
  if (opts.workdir !== undefined) args.push('-w', opts.workdir);
  if (opts.timeoutSeconds !== undefined) args.push('--timeout', `${Math.max(1, Math.floor(opts.timeoutSeconds))}s`);
  args.push('--', ...command);
  return args;
}

export interface SmolvmResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface SmolvmRunOptions {
  /** What the command reads on stdin (a script, or a `docker save` stream). */
  input?: string | Readable;
  /** Extra variables for smolvm's own environment (the values behind `--secret-env`), never on argv. */
  env?: Record<string, string>;
  timeoutMs?: number;
}

/** Runs smolvm; the seam tests and other hosts replace. Resolves with any exit code, rejects only when it cannot run. */
export type SmolvmRun = (args: readonly string[], opts?: SmolvmRunOptions) => Promise<SmolvmResult>;

/** smolvm's own knobs (SMOLVM_DATA_DIR, ...) and the docker CLI's pass through; nothing else of the operator's environment. */
function smolvmEnv(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (['PATH', 'HOME', 'DOCKER_HOST', 'DOCKER_CONTEXT', 'DOCKER_CONFIG'].includes(name) || name.startsWith('SMOLVM_')) out[name] = value;
  }
  return out;
}

export function smolvmRunner(opts: { binary?: string; env?: Readonly<Record<string, string | undefined>> } = {}): SmolvmRun {
  const binary = opts.binary ?? 'smolvm';
  const env = smolvmEnv(opts.env ?? process.env);
  return async (args, runOpts = {}) => {
    const input = runOpts.input;
    const result = await execa(binary, [...args], {
      env: { ...env, ...runOpts.env },
      extendEnv: false,
      reject: false,
      stripFinalNewline: false,
      timeout: runOpts.timeoutMs ?? 10 * 60_000,
      ...(typeof input === 'string' ? { input } : input !== undefined ? { stdin: input } : { stdin: 'ignore' as const }),
    });
    if (result.exitCode === undefined) throw new SmolvmError(`smolvm ${describe(args)} could not run: ${result.shortMessage}`, -1, result.stderr);
    return { exitCode: result.timedOut ? 124 : result.exitCode, stdout: result.stdout, stderr: result.stderr };
  };
}

/** Run and insist on exit 0; the error names the command and carries smolvm's own words. */
export async function smolvmOk(run: SmolvmRun, args: readonly string[], opts?: SmolvmRunOptions): Promise<SmolvmResult> {
  const result = await run(args, opts);
  if (result.exitCode !== 0) {
    const why = result.stderr.trim().split('\n').slice(-4).join(' / ') || `exit ${result.exitCode}`;
    throw new SmolvmError(`smolvm ${describe(args)} failed (exit ${result.exitCode}): ${why}`, result.exitCode, result.stderr.trim());
  }
  return result;
}

/** The subcommand and the machine for messages; never a command's arguments (a script's name at most). */
export function describe(args: readonly string[]): string {
  const name = args.indexOf('--name');
  const head = args.slice(0, 2).join(' ');
  return name >= 0 && args[name + 1] !== undefined ? `${head} --name ${args[name + 1]}` : head;
}
