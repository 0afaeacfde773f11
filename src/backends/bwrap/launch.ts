import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, readdirSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { CliError, type CliContext } from '../../cli/context.js';
import type { Readable, Writable } from 'node:stream';
import { startHostSidecars, sidecarEnv } from '../../launch/host-sidecars.js';
import { sidecarConfig } from '../../launch/sidecar-config.js';
import type { TeardownStack } from '../../launch/teardown.js';
import { caBundle } from '../../provision/ca-bundle.js';
import { provisionGuest, type GuestSetup } from '../../provision/guest.js';
import { GUEST_HOME, GUEST_PATH, GUEST_UID, GUEST_USER } from '../../provision/layout.js';
import type { BottlePlan } from '../../plan/types.js';
import { bottleStatePaths, homePaths } from '../../state/paths.js';
import { PidRecord } from '../../state/pids.js';
import { identify, signalProcess } from '../../state/process-identity.js';
import { assertNoLinks, chownTree, copyTree, removeTree } from '../../util/safe-fs.js';
import type { LaunchContext, RunningBottle } from '../types.js';
import { hostProgram } from './host-program.js';
import { initScript, type Forward } from './init-script.js';
import { seccompProgram } from './seccomp.js';
import { assertNulFree, sandboxArgs, sandboxCommand, type SandboxMounts } from './sandbox-args.js';
import { lendWorkspace } from './ownership.js';
import { rootStaging, SANDBOX_HOST_UID } from './root-staging.js';
import { trace } from '../../util/trace.js';
import { findOnPath } from '../probe.js';
import { bwrapProbe, PROBE_FDS, probeFiles, type ProbePipes } from './containment.js';
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
  const stateRoot = homePaths(opts.home).stateRoot;
  removeTree(stateRoot, run);
  const sockDir = join(run, 'sock');
  const seedDir = join(run, 'seed');
  mkdirSync(sockDir, { recursive: true, mode: 0o711 });
  mkdirSync(seedDir, { recursive: true, mode: 0o755 });
  stack.defer('remove run folder', () => removeTree(stateRoot, run));
  const pids = new PidRecord(join(run, 'pids.json'));

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
  // The agent wrote these last run: never create, write or bind through a link it planted.
  for (const dir of plan.provider.persist ?? []) assertNoLinks(stateRoot, dir.hostPath);
  const persisted = preparePersistedDirs(plan, owner);
  setup.files = writePersistedFiles(persisted, setup.files, owner);
  writeSeed(seedDir, setup);
  // The operator's PATH order decides which installation runs, as it would on the host.
  const program = hostProgram(setup.command[0] ?? 'sh', (opts.hostEnv.PATH ? `${opts.hostEnv.PATH}:` : '') + GUEST_PATH);
  if (program.guestDir) setup.env.PATH = `${program.guestDir}:${setup.env.PATH ?? GUEST_PATH}`;

  writeFileSync(configFile, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  trace('sidecar config written');
  // The sandbox starts while the bundle does (its init holds the agent until released below), so the
  // sandbox's and the probe's start-up overlap the bundle's instead of adding to it.
  const starting = startHostSidecars({
    configFile,
    logFile: join(paths.dir, 'sidecars.log'),
    env: sidecarEnv(opts.hostEnv, ctx.secrets.sidecarEnv),
    teardown: stack,
  });
  void starting.catch(() => undefined); // awaited below; a failure before that must not be an unhandled rejection

  const probe = ctx.containment.enabled ? probeFiles(run) : undefined;
  const early = probe ? await ctx.containment.begin({ proxy: { host: '127.0.0.1', port: 3128 }, endpoints: forwards.map((f) => ({ host: '127.0.0.1', port: f.port })) }) : undefined;
  const files = {
    // Filled in place (same inode, so the sandbox's binds see it) once the bundle has minted the CA.
    caFile: writeRunFile(run, 'ca-guest.pem', ''),
    caBundle: writeRunFile(run, 'ca-bundle.crt', ''),
    etcPasswd: writeRunFile(run, 'passwd', `root:x:0:0:root:/root:/usr/sbin/nologin\n${GUEST_USER}:x:${GUEST_UID}:${GUEST_UID}:agent:${GUEST_HOME}:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`),
    etcGroup: writeRunFile(run, 'group', `root:x:0:\n${GUEST_USER}:x:${GUEST_UID}:\nnogroup:x:65534:\n`),
    etcHosts: writeRunFile(run, 'hosts', `127.0.0.1\tlocalhost ${plan.slug}\n::1\tlocalhost\n`),
    initScript: writeRunFile(run, 'init.sh', initScript(forwards, probe?.init)),
  };
  chmodSync(run, 0o711);

  let mounts: SandboxMounts = {
    workspace: paths.workspace,
    socketDir: sockDir,
    seedDir,
    ...files,
    extra: [...program.binds, ...(probe?.binds ?? [])],
    links: program.links,
    persist: persisted.map((d) => ({ src: d.hostPath, dest: d.guestPath })),
  };
  let prefix: string[] = [];
  if (asRoot) {
    // bwrap started by root maps the sandbox to host root; run it as an unprivileged uid instead,
    // lent the workspace for the run (ownership.ts). The seed is this launch's own fresh folder.
    lendWorkspace(paths.workspace, stack);
    chownTree(seedDir, SANDBOX_HOST_UID, SANDBOX_HOST_UID);
    for (const dir of persisted) chownTree(dir.hostPath, SANDBOX_HOST_UID, SANDBOX_HOST_UID);
    const staged = rootStaging(plan.slug, mounts, stack);
    mounts = staged.mounts;
    prefix = staged.prefix;
  }
  trace('guest provisioned');
  const args = sandboxArgs({ mounts, env: setup.env, hostname: plan.slug, workdir: setup.workdir, newSession: !opts.interactive });
  const seccomp = seccompProgram();
  if (!seccomp) ctx.log(`bot-bottle: no seccomp filter for ${process.arch}; the bottle relies on its namespaces alone`);
  // The operator's PATH decides which bwrap runs, as it decided which one `availability` checked.
  const bwrapArgv = [...prefix, findOnPath('bwrap', opts.hostEnv.PATH) ?? 'bwrap', '--info-fd', '4', ...(seccomp ? ['--seccomp', '5'] : []), '--args', '3', ...sandboxCommand(setup.command)];
  const running = await spawnSandbox(plan.slug, bwrapArgv, args, seccomp, opts.interactive, stack, pids);
  // The probe starts its checks that need no bundle now, while the bundle starts.
  if (early !== undefined) running.pipes.spec.write(`${early}\n`);

  const sidecars = await starting;
  trace('sidecars ready');
  pids.set('sidecars', sidecars.identity);
  // The sandbox runs as another uid when we are root; sockets need to be connectable by it.
  for (const sock of readdirSync(sockDir)) chmodSync(join(sockDir, sock), 0o666);
  const caPem = readFileSync(caCertOut, 'utf8');
  writeFileSync(files.caFile, caPem);
  writeFileSync(files.caBundle, caBundle(caPem));
  if (probe) {
    // The agent starts only once the gate has judged what the probe saw from inside.
    await ctx.containment.verify(bwrapProbe({ pipes: running.pipes, exited: running.exited, caPem, hostProcessMarkers: [configFile], seccomp: seccomp !== undefined }));
  }
  running.pipes.verdict.end('go\n');
  sidecars.warm();
  return { slug: running.slug, exited: running.exited, failed: sidecars.died };
}

function writeRunFile(run: string, name: string, content: string): string {
  const file = join(run, name);
  writeFileSync(file, content, { mode: 0o644 });
  return file;
}

function writeSeed(seedDir: string, setup: GuestSetup): void {
  const seedPath = (guestPath: string): string | undefined => {
    if (!guestPath.startsWith(`${GUEST_HOME}/`)) return undefined;
    const target = join(seedDir, guestPath.slice(GUEST_HOME.length + 1));
    const rel = relative(seedDir, target);
    return rel.length > 0 && !rel.startsWith('..') ? target : undefined;
  };
  for (const file of setup.files) {
    const target = seedPath(file.path);
    if (!target) continue;
    mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
    writeFileSync(target, file.content, { mode: file.mode });
  }
  for (const copy of setup.copies) {
    const target = seedPath(copy.guestPath);
    if (!target) continue;
    mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
    // The skill folder itself may be a link the operator made (skill managers do); inside it,
    // links are copied as links and never followed, so a skill cannot carry host files in.
    const source = realpathSync(copy.hostPath);
    if (!statSync(source).isDirectory()) throw new CliError(`skill ${copy.hostPath} is not a folder`);
    copyTree(source, target);
  }
}

/**
 * Args travel over fd 3 (`bwrap --args 3`) so env values, including the
 * agent's secrets, never appear on any process's command line.
 */
function spawnSandbox(slug: string, argv: string[], args: string[], seccomp: Buffer | undefined, interactive: boolean, stack: TeardownStack, pids: PidRecord): Promise<Omit<RunningBottle, 'failed'> & { pid: number; pipes: ProbePipes }> {
  const [file, ...rest] = argv;
  // bwrap's own pid-1 reaper lives inside the sandbox and keeps bwrap's environment, readable through
  // /proc/1/environ: it must get nothing of the operator's environment (which holds token values).
  const child = spawn(file ?? 'bwrap', rest, {
    // 6-8: the probe's report and spec, and the release init waits for (init-script.ts).
    stdio: [interactive ? 'inherit' : 'ignore', 'inherit', 'inherit', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe'],
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
  });
  const pid = child.pid;
  if (pid === undefined) return Promise.reject(new Error('could not start bwrap'));
  // bwrap reports the sandbox's pid 1 (as the host sees it) on --info-fd; killing that pid ends the
  // whole pid namespace at once, which is what guarantees that nothing the agent started survives.
  // Its identity is taken the moment it is reported, while it certainly is the sandbox's, so a later
  // kill can never hit a process that inherited the number.
  let info = '';
  const infoPipe = child.stdio[4] as NodeJS.ReadableStream;
  infoPipe.on('data', (chunk: Buffer) => {
    info += chunk.toString('utf8');
    const found = /"child-pid"\s*:\s*(\d+)/.exec(info)?.[1];
    if (found === undefined || pids.get('init') !== undefined) return;
    try {
      pids.set('init', identify(Number(found)));
    } catch {
      // Not on disk: `stop` still reaches the CLI (recorded first), which kills the sandbox from memory.
    }
  });
  // When bwrap dies the pipes reset; that is teardown's business, not a crash of the CLI.
  infoPipe.on('error', () => undefined);
  const killInit = (): void => {
    const init = pids.get('init');
    if (init) signalProcess(init, pids.boot, 'SIGKILL');
  };
  const gone = new Promise<void>((resolve) => child.once('close', () => resolve()));
  stack.defer('stop sandbox', async () => {
    killInit();
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await gone;
    // The pid may only have arrived as bwrap died.
    killInit();
  });
  pids.set('sandbox', identify(pid));
  const argsPipe = child.stdio[3] as NodeJS.WritableStream;
  argsPipe.on('error', () => undefined);
  const seccompPipe = (child.stdio as unknown as NodeJS.WritableStream[])[5] as NodeJS.WritableStream;
  seccompPipe.on('error', () => undefined);
  seccompPipe.end(seccomp ?? Buffer.alloc(0));
  argsPipe.end(Buffer.from(`${assertNulFree(args, 'sandbox option').join('\0')}\0`));
  const exited = new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 + signalNumber(signal) : 1)));
  });
  const stdio = child.stdio as unknown as Array<Readable & Writable>;
  const pipes: ProbePipes = { report: stdio[PROBE_FDS.report] as Readable, spec: stdio[PROBE_FDS.spec] as Writable, verdict: stdio[PROBE_FDS.verdict] as Writable };
  for (const p of [pipes.report, pipes.spec, pipes.verdict]) p.on('error', () => undefined);
  return Promise.resolve({ slug, exited, pid, pipes });
}

function signalNumber(signal: NodeJS.Signals): number {
  return ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[signal] ?? 1;
}
