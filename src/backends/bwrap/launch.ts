import { spawn } from 'node:child_process';
import { chmodSync, chownSync, cpSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { CliContext } from '../../cli/context.js';
import { startHostSidecars, sidecarEnv } from '../../launch/host-sidecars.js';
import { sidecarConfig } from '../../launch/sidecar-config.js';
import type { TeardownStack } from '../../launch/teardown.js';
import { caBundle } from '../../provision/ca-bundle.js';
import { provisionGuest, type GuestSetup } from '../../provision/guest.js';
import { GUEST_HOME, GUEST_PATH, GUEST_UID, GUEST_USER } from '../../provision/layout.js';
import type { BottlePlan } from '../../plan/types.js';
import { bottleStatePaths } from '../../state/paths.js';
import type { LaunchContext, RunningBottle } from '../types.js';
import { hostProgram } from './host-program.js';
import { initScript, type Forward } from './init-script.js';
import { seccompProgram } from './seccomp.js';
import { sandboxArgs, sandboxCommand, type SandboxMounts } from './sandbox-args.js';
import { rootStaging, SANDBOX_HOST_UID } from './root-staging.js';
import { trace } from '../../util/trace.js';
import { preparePersistedDirs, writePersistedFiles } from '../../launch/agent-home.js';

const FORWARDS: Forward[] = [
  { name: 'egress', port: 3128, socket: 'egress.sock' },
  { name: 'supervise', port: 8419, socket: 'supervise.sock' },
  { name: 'git-gate', port: 8418, socket: 'git-gate.sock' },
];

export interface BwrapLaunchOptions {
  home: string;
  hostEnv: CliContext['env'];
  interactive: boolean;
}

/**
 * One bwrap bottle: the bundle runs on the host as a child process listening
 * on Unix sockets in the bottle's run folder; the sandbox gets those sockets
 * and loopback forwarders, and no network at all.
 */
export async function launchBwrap(plan: BottlePlan, ctx: LaunchContext, opts: BwrapLaunchOptions): Promise<RunningBottle> {
  const paths = bottleStatePaths(plan.slug, opts.home);
  const stack = ctx.teardown;
  const run = paths.runDir;
  rmSync(run, { recursive: true, force: true });
  const sockDir = join(run, 'sock');
  const seedDir = join(run, 'seed');
  mkdirSync(sockDir, { recursive: true, mode: 0o711 });
  mkdirSync(seedDir, { recursive: true, mode: 0o755 });
  stack.defer('remove run folder', () => rmSync(run, { recursive: true, force: true }));

  const caCertOut = join(run, 'ca.pem');
  const configFile = join(run, 'sidecars.json');
  const config = sidecarConfig(
    plan,
    paths,
    opts.home,
    {
      egress: { socket: join(sockDir, 'egress.sock') },
      supervise: { socket: join(sockDir, 'supervise.sock') },
      gitGate: { socket: join(sockDir, 'git-gate.sock') },
      superviseHosts: ['127.0.0.1:8419', 'localhost:8419'],
    },
    caCertOut,
  );
  // Provision first: a missing agent program or skill fails before anything is started.
  const forwards = FORWARDS.filter((f) => f.name !== 'git-gate' || config.gitGate !== undefined);
  const setup = provisionGuest(
    plan,
    {
      proxyUrl: 'http://127.0.0.1:3128',
      superviseUrl: 'http://127.0.0.1:8419/mcp',
      ...(config.gitGate ? { gitGateUrl: 'http://127.0.0.1:8418' } : {}),
    },
    ctx.secrets,
    { term: opts.hostEnv.TERM },
  );
  const asRoot = process.getuid?.() === 0;
  // The agent's own folders (Claude's settings and conversations) persist in the state folder; provisioned files merge into them.
  const owner = asRoot ? SANDBOX_HOST_UID : undefined;
  const persisted = preparePersistedDirs(plan, owner);
  setup.files = writePersistedFiles(persisted, setup.files, owner);
  writeSeed(seedDir, setup);
  const program = hostProgram(setup.command[0] ?? 'sh', GUEST_PATH + (opts.hostEnv.PATH ? `:${opts.hostEnv.PATH}` : ''));
  if (program.guestDir) setup.env.PATH = `${program.guestDir}:${setup.env.PATH ?? GUEST_PATH}`;

  writeFileSync(configFile, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  trace('sidecar config written');
  const sidecars = await startHostSidecars({
    configFile,
    logFile: join(paths.dir, 'sidecars.log'),
    env: sidecarEnv(opts.hostEnv, ctx.secrets.sidecarEnv),
    teardown: stack,
  });
  trace('sidecars ready');
  // The sandbox runs as another uid when we are root; sockets need to be connectable by it.
  for (const sock of readdirSync(sockDir)) chmodSync(join(sockDir, sock), 0o666);

  const caPem = readFileSync(caCertOut, 'utf8');
  const files = {
    caFile: writeRunFile(run, 'ca-guest.pem', caPem),
    caBundle: writeRunFile(run, 'ca-bundle.crt', caBundle(caPem)),
    etcPasswd: writeRunFile(run, 'passwd', `root:x:0:0:root:/root:/usr/sbin/nologin\n${GUEST_USER}:x:${GUEST_UID}:${GUEST_UID}:agent:${GUEST_HOME}:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`),
    etcGroup: writeRunFile(run, 'group', `root:x:0:\n${GUEST_USER}:x:${GUEST_UID}:\nnogroup:x:65534:\n`),
    etcHosts: writeRunFile(run, 'hosts', `127.0.0.1\tlocalhost ${plan.slug}\n::1\tlocalhost\n`),
    initScript: writeRunFile(run, 'init.sh', initScript(forwards)),
  };
  chmodSync(run, 0o711);

  let mounts: SandboxMounts = {
    workspace: paths.workspace,
    socketDir: sockDir,
    seedDir,
    ...files,
    extra: program.bind ? [program.bind] : [],
    persist: persisted.map((d) => ({ src: d.hostPath, dest: d.guestPath })),
  };
  let prefix: string[] = [];
  if (asRoot) {
    // bwrap started by root maps the sandbox to host root; run it as an unprivileged uid instead.
    chownTree(paths.workspace, SANDBOX_HOST_UID);
    chownTree(seedDir, SANDBOX_HOST_UID);
    const staged = rootStaging(plan.slug, mounts, stack);
    mounts = staged.mounts;
    prefix = staged.prefix;
  }
  trace('guest provisioned');
  const args = sandboxArgs({ mounts, env: setup.env, hostname: plan.slug, workdir: setup.workdir, newSession: !opts.interactive });
  const seccomp = seccompProgram();
  if (!seccomp) ctx.log(`bot-bottle: no seccomp filter for ${process.arch}; the bottle relies on its namespaces alone`);
  const bwrapArgv = [...prefix, 'bwrap', '--info-fd', '4', ...(seccomp ? ['--seccomp', '5'] : []), '--args', '3', ...sandboxCommand(setup.command)];
  return spawnSandbox(plan.slug, bwrapArgv, args, seccomp, opts.interactive, stack, sidecars.pid, run);
}

function writeRunFile(run: string, name: string, content: string): string {
  const file = join(run, name);
  writeFileSync(file, content, { mode: 0o644 });
  return file;
}

function writeSeed(seedDir: string, setup: GuestSetup): void {
  for (const file of setup.files) {
    if (!file.path.startsWith(`${GUEST_HOME}/`)) continue;
    const target = join(seedDir, file.path.slice(GUEST_HOME.length + 1));
    mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
    writeFileSync(target, file.content, { mode: file.mode });
  }
  for (const copy of setup.copies) {
    cpSync(copy.hostPath, join(seedDir, copy.guestPath.slice(GUEST_HOME.length + 1)), { recursive: true, dereference: true });
  }
}

function chownTree(path: string, uid: number): void {
  chownSync(path, uid, uid);
  for (const entry of readdirSync(path, { withFileTypes: true, recursive: true })) {
    const full = join(entry.parentPath, entry.name);
    try {
      chownSync(full, uid, uid);
    } catch {
      // A dangling symlink cannot be chowned through; the agent cannot follow it either.
    }
  }
}

/**
 * Args travel over fd 3 (`bwrap --args 3`) so env values, including the
 * agent's secrets, never appear on any process's command line.
 */
function spawnSandbox(slug: string, argv: string[], args: string[], seccomp: Buffer | undefined, interactive: boolean, stack: TeardownStack, sidecarPid: number, run: string): Promise<RunningBottle> {
  const [file, ...rest] = argv;
  // bwrap's own pid-1 reaper lives inside the sandbox and keeps bwrap's environment, readable through
  // /proc/1/environ: it must get nothing of the operator's environment (which holds token values).
  const child = spawn(file ?? 'bwrap', rest, {
    stdio: [interactive ? 'inherit' : 'ignore', 'inherit', 'inherit', 'pipe', 'pipe', 'pipe'],
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
  });
  const pid = child.pid;
  if (pid === undefined) return Promise.reject(new Error('could not start bwrap'));
  // bwrap reports the sandbox's pid 1 (as the host sees it) on --info-fd; killing that pid ends the
  // whole pid namespace at once, which is what guarantees that nothing the agent started survives.
  let info = '';
  const infoPipe = child.stdio[4] as NodeJS.ReadableStream;
  infoPipe.on('data', (chunk: Buffer) => (info += chunk.toString('utf8')));
  // When bwrap dies the pipes reset; that is teardown's business, not a crash of the CLI.
  infoPipe.on('error', () => undefined);
  const sandboxPid = (): number | undefined => {
    const found = /"child-pid"\s*:\s*(\d+)/.exec(info)?.[1];
    return found ? Number(found) : undefined;
  };
  writeFileSync(join(run, 'pids.json'), JSON.stringify({ sandbox: pid, sidecars: sidecarPid }));
  const gone = new Promise<void>((resolve) => child.once('close', () => resolve()));
  stack.defer('stop sandbox', async () => {
    killQuietly(sandboxPid());
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await gone;
    // The pid may only have arrived as bwrap died.
    killQuietly(sandboxPid());
  });
  const argsPipe = child.stdio[3] as NodeJS.WritableStream;
  argsPipe.on('error', () => undefined);
  const seccompPipe = (child.stdio as unknown as NodeJS.WritableStream[])[5] as NodeJS.WritableStream;
  seccompPipe.on('error', () => undefined);
  seccompPipe.end(seccomp ?? Buffer.alloc(0));
  argsPipe.end(Buffer.from(`${args.join('\0')}\0`));
  const exited = new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 + signalNumber(signal) : 1)));
  });
  return Promise.resolve({ slug, exited });
}

function killQuietly(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

function signalNumber(signal: NodeJS.Signals): number {
  return ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[signal] ?? 1;
}
