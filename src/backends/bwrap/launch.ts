import { stageHomeFiles } from '../../provision/stage-home.js';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { hostSidecarHost } from '../../launch/host-sidecars.js';
import type { TeardownStack } from '../../launch/teardown.js';
import { caBundle } from '../../provision/ca-bundle.js';
import { GUEST_HOME, GUEST_PATH, GUEST_UID, GUEST_USER } from '../../provision/layout.js';
import type { BottlePlan } from '../../plan/types.js';
import { PidRecord } from '../../state/pids.js';
import { identify, signalProcess } from '../../state/process-identity.js';
import { chownTree } from '../../util/safe-fs.js';
import type { Boundary, BoundaryContext, HeldGuest } from '../types.js';
import { hostProgram } from './host-program.js';
import { initScript, type Forward } from './init-script.js';
import { seccompProgram } from '../../containment/seccomp.js';
import { assertNulFree, sandboxArgs, sandboxCommand, type SandboxMounts } from './sandbox-args.js';
import { lendWorkspace } from './ownership.js';
import { rootStaging, SANDBOX_HOST_UID } from './root-staging.js';
import { findOnPath } from '../probe.js';
import { bwrapProbe, PROBE_FDS, probeFiles, type ProbePipes } from './containment.js';
import { freshRunFolder } from '../../launch/run-folder.js';

const FORWARDS: Forward[] = [
  { name: 'egress', port: 3128, socket: 'egress.sock' },
  { name: 'supervise', port: 8419, socket: 'supervise.sock' },
  { name: 'git-gate', port: 8418, socket: 'git-gate.sock' },
];

/**
 * One bwrap bottle's boundary: the bundle runs on the host as a child process
 * listening on Unix sockets in the bottle's run folder; the sandbox gets those
 * sockets and loopback forwarders, and no network at all. As root, bwrap's
 * own parts are the root staging, lending the workspace to the sandbox uid,
 * the seccomp filter and the host program binds.
 */
export function bwrapBoundary(plan: BottlePlan, ctx: BoundaryContext): Promise<Boundary> {
  const stack = ctx.teardown;
  // 0o711: as root the sandbox runs as another uid and reaches its sockets and seed through it.
  const { paths, run, pids } = freshRunFolder(plan.slug, ctx.home, stack, 0o711);
  const sockDir = join(run, 'sock');
  const seedDir = join(run, 'seed');
  mkdirSync(sockDir, { recursive: true, mode: 0o711 });
  mkdirSync(seedDir, { recursive: true, mode: 0o755 });
  const asRoot = process.getuid?.() === 0;
  let forwards = FORWARDS;

  const sidecars = hostSidecarHost(run, (bundle) => {
    pids.set('sidecars', bundle.identity);
    // The sandbox runs as another uid when we are root; sockets need to be connectable by it.
    for (const sock of readdirSync(sockDir)) chmodSync(join(sockDir, sock), 0o666);
  });

  return Promise.resolve({
    sidecars,
    ...(asRoot ? { agentDirOwner: SANDBOX_HOST_UID } : {}),
    endpoints({ gitGate }) {
      forwards = FORWARDS.filter((f) => f.name !== 'git-gate' || gitGate);
      return {
        listen: {
          egress: { socket: join(sockDir, 'egress.sock') },
          supervise: { socket: join(sockDir, 'supervise.sock') },
          gitGate: { socket: join(sockDir, 'git-gate.sock') },
          superviseHosts: ['127.0.0.1:8419', 'localhost:8419'],
        },
        caCertOut: join(run, 'ca.pem'),
        guest: {
          proxyUrl: 'http://127.0.0.1:3128',
          superviseUrl: 'http://127.0.0.1:8419/mcp',
          ...(gitGate ? { gitGateUrl: 'http://127.0.0.1:8418' } : {}),
        },
        probe: { proxy: { host: '127.0.0.1', port: 3128 }, endpoints: forwards.map((f) => ({ host: '127.0.0.1', port: f.port })) },
      };
    },
    materialise(spec) {
      const { setup, persisted } = spec;
      stageHomeFiles(seedDir, setup);
      // The operator's PATH order decides which installation runs, as it would on the host.
      const program = hostProgram(setup.command[0] ?? 'sh', (ctx.hostEnv.PATH ? `${ctx.hostEnv.PATH}:` : '') + GUEST_PATH);
      const env = program.guestDir ? { ...setup.env, PATH: `${program.guestDir}:${setup.env.PATH ?? GUEST_PATH}` } : setup.env;
      const probe = spec.probe ? probeFiles(run) : undefined;
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
      const seccomp = seccompProgram();
      return Promise.resolve({
        async start(probeSpec) {
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
          const args = sandboxArgs({ mounts, env, hostname: plan.slug, workdir: setup.workdir, newSession: !ctx.interactive });
          if (!seccomp) ctx.log(`bot-bottle: no seccomp filter for ${process.arch}; the bottle relies on its namespaces alone`);
          // The operator's PATH decides which bwrap runs, as it decided which one `availability` checked.
          const bwrapArgv = [...prefix, findOnPath('bwrap', ctx.hostEnv.PATH) ?? 'bwrap', '--info-fd', '4', ...(seccomp ? ['--seccomp', '5'] : []), '--args', '3', ...sandboxCommand(setup.command)];
          const running = await spawnSandbox(plan.slug, bwrapArgv, args, seccomp, ctx.interactive, stack, pids);
          // The probe starts its checks that need no bundle now, while the bundle starts.
          void probeSpec?.then(
            (spec) => running.pipes.spec.write(`${spec}\n`),
            () => undefined,
          );
          return {
            exited: running.exited,
            trust(caPem) {
              writeFileSync(files.caFile, caPem);
              writeFileSync(files.caBundle, caBundle(caPem));
              return Promise.resolve();
            },
            probe: (ready) => bwrapProbe({ pipes: running.pipes, exited: running.exited, caPem: ready.caPem, hostProcessMarkers: ready.hostProcessMarkers, seccomp: seccomp !== undefined }),
            release() {
              running.pipes.verdict.end('go\n');
              return Promise.resolve();
            },
          };
        },
      });
    },
  });
}

function writeRunFile(run: string, name: string, content: string): string {
  const file = join(run, name);
  writeFileSync(file, content, { mode: 0o644 });
  return file;
}


/**
 * Args travel over fd 3 (`bwrap --args 3`) so env values, including the
 * agent's secrets, never appear on any process's command line.
 */
function spawnSandbox(slug: string, argv: string[], args: string[], seccomp: Buffer | undefined, interactive: boolean, stack: TeardownStack, pids: PidRecord): Promise<Pick<HeldGuest, 'exited'> & { slug: string; pid: number; pipes: ProbePipes }> {
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
