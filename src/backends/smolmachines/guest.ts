import { readStdioReport } from '../../containment/stdio-report.js';
import { stageHomeFiles } from '../../provision/stage-home.js';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, renameSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { GUEST_PROBE_NODE, GUEST_PROBE_SCRIPT, PROBE_BUNDLE, probeCommand } from '../../containment/guest.js';
import type { ProbeInside } from '../../containment/gate.js';
import type { GuestSetup } from '../../provision/guest.js';
import { GUEST_HOME, GUEST_UID } from '../../provision/layout.js';
import { packageRoot } from '../../util/package-root.js';
import { removeTree } from '../../util/safe-fs.js';
import { runStep, type MachineDeps } from './machine.js';
import { execArgs, SmolvmError } from './smolvm.js';
import { seccompExecPrefix } from '../../containment/seccomp.js';

/**
 * How every command of the bottle runs in the guest: `--from` machines exec
 * as root (smolvm <= ~1.14), so each one drops to the agent's uid with no
 * capabilities and no privilege gain (setpriv, util-linux, in every Debian
 * image) before anything of ours or the agent's runs.
 */
export const AS_AGENT = [
  'setpriv',
  `--reuid=${GUEST_UID}`,
  `--regid=${GUEST_UID}`,
  '--clear-groups',
  '--no-new-privs',
  '--inh-caps=-all',
  '--bounding-set=-all',
  '--',
];

/** AS_AGENT, then the agent's seccomp deny list (the same as every backend's: containment/seccomp.ts) for the agent and the probe. */
export const AS_FILTERED_AGENT: readonly string[] = [...AS_AGENT, ...seccompExecPrefix()];

/** Spawns smolvm with stdio of its own (the probe, the agent); the values behind `--secret-env` go in `env` only. */
export type SmolvmSpawn = (args: readonly string[], opts: { env?: Record<string, string>; stdio: Array<'pipe' | 'inherit' | 'ignore'> }) => ChildProcess;

export function smolvmSpawner(binary: string, baseEnv: Record<string, string>): SmolvmSpawn {
  return (args, opts) => spawn(binary, [...args], { env: { ...baseEnv, ...opts.env }, stdio: opts.stdio as ['pipe', 'pipe', 'pipe'] });
}

/**
 * The probe's files as a folder smolvm can share (`-v` takes folders only):
 * the CLI's own node and the bundled probe, copied once per node and probe
 * version into the pack cache, and shared read-only at GUEST_PROBE_DIR.
 */
export function probeFolder(cacheDir: string): string {
  const script = join(packageRoot(), 'dist', PROBE_BUNDLE);
  if (!existsSync(script)) throw new SmolvmError(`${script} is missing: run \`npm run build\` first`, 1);
  const node = realpathSync(process.execPath);
  const n = statSync(node);
  const key = createHash('sha256').update(`${node}\0${n.size}\0${n.mtimeMs}\0${n.ino}\0`).update(readFileSync(script)).digest('hex').slice(0, 16);
  const dir = join(cacheDir, `probe-${key}`);
  if (existsSync(join(dir, basename(GUEST_PROBE_SCRIPT)))) return dir;
  mkdirSync(cacheDir, { recursive: true, mode: 0o755 });
  const staging = mkdtempSync(join(cacheDir, '.probe-'));
  try {
    copyFileSync(node, join(staging, 'node'));
    copyFileSync(script, join(staging, basename(GUEST_PROBE_SCRIPT)));
    spawnSync('chmod', ['755', staging, join(staging, 'node')]);
    spawnSync('chmod', ['644', join(staging, basename(GUEST_PROBE_SCRIPT))]);
    renameSync(staging, dir);
  } catch (error) {
    removeTree(cacheDir, staging);
    // Another launch made it meanwhile: theirs is as good.
    if (existsSync(join(dir, basename(GUEST_PROBE_SCRIPT)))) return dir;
    throw error;
  }
  return dir;
}

/**
 * The provisioned home files and skill copies as one provisioning step: a
 * tar archive (base64 inside the script) unpacked by the agent's own uid, so
 * everything is the agent's; only paths under the home are written. No
 * secret is in these files (the agent's environment goes by reference).
 */
export async function putHomeFiles(deps: MachineDeps, name: string, setup: Pick<GuestSetup, 'files' | 'copies'>): Promise<void> {
  const staging = mkdtempSync(join(tmpdir(), 'bot-bottle-guest-'));
  const root = join(staging, 'home');
  try {
    mkdirSync(root, { mode: 0o755 });
    stageHomeFiles(root, setup);
    const tar = spawnSync('tar', ['-C', root, '--numeric-owner', '-cf', '-', '.'], { maxBuffer: 256 << 20, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
    if (tar.status !== 0) throw new SmolvmError(`packing the bottle's home files failed: ${tar.stderr.toString('utf8').trim().slice(0, 300)}`, 1);
    const marker = `BOT_BOTTLE_HOME_${randomBytes(8).toString('hex')}`;
    const script = [`base64 -d <<'${marker}' | ${AS_AGENT.join(' ')} tar -C ${GUEST_HOME} --no-same-owner -xpf -`, tar.stdout.toString('base64').replace(/.{76}/g, '$&\n'), marker, ''].join('\n');
    await runStep(deps, name, 'put the home files in place', script);
  } finally {
    removeTree(dirname(staging), staging);
  }
}

/**
 * What a smolmachines bottle looks like from inside: a VM's own kernel (the
 * hypervisor is the boundary; the agent's seccomp filter guards that kernel
 * too, where there is one for the architecture), one
 * virtio-net interface with its routes (the allow-list makes them lead to
 * the bundle alone). 127.0.0.11 is a resolver inside the guest only (the
 * test double's guest is a container on a Docker network).
 */
export const SMOLMACHINES_EXPECT: ProbeInside['expect'] = { interfaces: ['lo', 'eth0'], routes: true, seccomp: AS_FILTERED_AGENT.length > AS_AGENT.length, noNewPrivsReported: true, runtimeListeners: ['127.0.0.11'] };

/**
 * Start the probe in the held guest (`machine exec -i`, dropped to the
 * agent's uid, none of its environment) and hand it its first spec line;
 * `inside` finishes it once the CA exists. The report travels on its stdout.
 */
export function startGuestProbe(spawnSmolvm: SmolvmSpawn, name: string, early: string): { inside: (o: { caPem: string; hostProcessMarkers: string[] }) => ProbeInside; stop: () => void } {
  const child = spawnSmolvm(execArgs(name, [...AS_FILTERED_AGENT, ...probeCommand(GUEST_PROBE_NODE)], { stdin: true }), { stdio: ['pipe', 'pipe', 'pipe'] });
  const { stdin, stdout, stderr } = child;
  if (stdin === null || stdout === null || stderr === null) throw new SmolvmError('smolvm machine exec gave no pipes', 1);
  stdin.on('error', () => undefined);
  stdin.write(`${early}\n`);
  let other = '';
  stderr.on('data', (chunk: Buffer) => {
    if (other.length < 4_000) other += chunk.toString('utf8');
  });
  const exited = new Promise<number | null>((resolve) => {
    child.once('error', () => resolve(null));
    child.once('exit', (code) => resolve(code));
  });
  return {
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
    inside: (o) => ({
      expect: SMOLMACHINES_EXPECT,
      caPem: o.caPem,
      hostProcessMarkers: o.hostProcessMarkers,
      finish: (late) => readStdioReport({ stdin, stdout, exited, stderrTail: () => other }, late),
    }),
  };
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The agent, run with `machine exec` as the agent's uid. Its whole
 * environment goes by reference (`--secret-env NAME=BB_AGENT_ENV_<i>`): the
 * values are only in this smolvm process's environment, never on argv, in
 * the machine's record (`ls -v`) or a file. Interactive: `-i -t` on the
 * operator's terminal; headless: `--stream` (else smolvm buffers the output).
 */
export function runAgent(spawnSmolvm: SmolvmSpawn, name: string, setup: Pick<GuestSetup, 'env' | 'command' | 'workdir'>, interactive: boolean): ChildProcess {
  const refs: Record<string, string> = {};
  const values: Record<string, string> = {};
  Object.entries(setup.env).forEach(([key, value], i) => {
    if (!ENV_NAME.test(key)) throw new SmolvmError(`the agent's environment has an invalid name "${key.slice(0, 40)}"`, 2);
    refs[key] = `BB_AGENT_ENV_${i}`;
    values[`BB_AGENT_ENV_${i}`] = value;
  });
  const args = execArgs(name, [...AS_FILTERED_AGENT, ...setup.command], { secretEnv: refs, workdir: setup.workdir, ...(interactive ? { stdin: true, tty: true } : { stream: true }) });
  return spawnSmolvm(args, { env: values, stdio: interactive ? ['inherit', 'inherit', 'inherit'] : ['ignore', 'inherit', 'inherit'] });
}

export function exitCodeOf(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    child.once('error', () => resolve(1));
    child.once('exit', (code, signal) => resolve(code ?? (signal !== null ? 128 + 9 : 1)));
  });
}
