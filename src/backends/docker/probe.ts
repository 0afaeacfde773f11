import { readStdioReport } from '../../containment/stdio-report.js';
import { existsSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import type { ProbeInside, ProbeTargets } from '../../containment/gate.js';
import { GUEST_PROBE_NODE, GUEST_PROBE_SCRIPT, PROBE_BUNDLE, probeCommand } from '../../containment/guest.js';
import { packageRoot } from '../../util/package-root.js';
import { BUNDLE_PORTS } from './bundle.js';
import { dockerChild } from './cli.js';
import { engineCall, engineHijack, engineSocket } from './engine.js';
import { AGENT_EXEC_PREFIX, AGENT_USER } from './guest.js';
import { BUNDLE_ALIAS } from './names.js';
import type { DockerRuntime } from './runtime.js';

/** Docker's embedded resolver listens inside every container on a user network. */
const DOCKER_RESOLVER = '127.0.0.11';

/**
 * The probe's files, bound read-only into the agent container: the bundled
 * probe and the CLI's own node (a Linux binary for the images' Debian; an
 * agent image it cannot run in fails the check, loudly).
 */
export function probeBinds(): Array<{ hostPath: string; guestPath: string }> {
  const script = join(packageRoot(), 'dist', PROBE_BUNDLE);
  if (!existsSync(script)) throw new Error(`${script} is missing: run \`npm run build\` first`);
  return [
    { hostPath: realpathSync(process.execPath), guestPath: GUEST_PROBE_NODE },
    { hostPath: script, guestPath: GUEST_PROBE_SCRIPT },
  ];
}

/** The bundle's endpoints as the agent reaches them, for the gate's `begin`. */
export function dockerProbeTargets(gitGate: boolean): ProbeTargets {
  const at = (port: number): { host: string; port: number } => ({ host: BUNDLE_ALIAS, port });
  return {
    proxy: at(BUNDLE_PORTS.egress),
    endpoints: [at(BUNDLE_PORTS.egress), at(BUNDLE_PORTS.supervise), ...(gitGate ? [at(BUNDLE_PORTS.gitGate)] : [])],
    endpointsRemote: true,
  };
}

/**
 * What a docker bottle looks like from inside: its own loopback and one leg
 * on the internal network (with the routes docker gives it; the host firewall
 * rule and `--internal` make them lead nowhere but the bundle), docker's
 * resolver, the agent's seccomp filter (AGENT_EXEC_PREFIX) on top of the
 * runtime's (docker's default profile under runc); gVisor does not report
 * no_new_privs.
 */
export function dockerExpectations(runtime: DockerRuntime): ProbeInside['expect'] {
  return { interfaces: ['lo', 'eth0'], routes: true, seccomp: runtime === 'runc' || AGENT_EXEC_PREFIX.length > 0, noNewPrivsReported: runtime === 'runc', runtimeListeners: [DOCKER_RESOLVER] };
}

/**
 * Start the probe in the held agent container (`docker exec -i`, as the
 * agent's uid, none of its environment) and hand it the first spec line as
 * soon as `early` resolves; `inside` gives the gate the way to finish it once the CA exists.
 */
export function startDockerProbe(container: string, early: string | Promise<string>): { inside: (o: { caPem: string; hostProcessMarkers: string[]; runtime: DockerRuntime }) => ProbeInside; stop: () => void } {
  const io = probeExec(container, [...AGENT_EXEC_PREFIX, ...probeCommand(GUEST_PROBE_NODE)]);
  const { stdin, stdout, stderr, exited } = io;
  // The probe observes nothing before its first spec line: a launch starts it (node's start-up) while the
  // guest's files are still going in, and hands it the line once they are in place.
  void Promise.resolve(early).then(
    (line) => stdin.write(`${line}\n`),
    () => io.stop(),
  );
  let other = '';
  stderr.on('data', (chunk: Buffer) => {
    if (other.length < 4_000) other += chunk.toString('utf8');
  });
  return {
    stop: io.stop,
    inside: (o) => ({
      expect: dockerExpectations(o.runtime),
      caPem: o.caPem,
      hostProcessMarkers: o.hostProcessMarkers,
      finish: (late) => readStdioReport({ stdin, stdout, exited, stderrTail: () => other }, late),
    }),
  };
}

interface ProbeIo {
  stdin: Writable;
  stdout: Readable;
  stderr: Readable;
  /** Resolves once the exec ended: its status from the CLI, null over the socket (or when it never started). */
  exited: Promise<number | null>;
  stop: () => void;
}

/**
 * `docker exec -i --user AGENT` as two calls on the engine's socket where it
 * is local (exec create, then its start as a hijacked stream: no CLI start on
 * the probe's way), else the CLI. Its stdio is available at once; what is
 * written before the exec runs is held until it does.
 */
function probeExec(container: string, argv: string[]): ProbeIo {
  const socket = engineSocket();
  if (socket === undefined) {
    const child = dockerChild(['exec', '--interactive', '--user', AGENT_USER, container, ...argv]);
    const { stdin, stdout, stderr } = child;
    if (stdin === null || stdout === null || stderr === null) throw new Error('docker exec gave no pipes');
    return {
      stdin,
      stdout,
      stderr,
      exited: new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code))),
      stop: () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      },
    };
  }
  const what = `docker exec --interactive --user ${AGENT_USER} ${container}`;
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  for (const s of [stdin, stdout, stderr]) s.on('error', () => undefined);
  let stopped = false;
  let destroy = (): void => undefined;
  const exited = (async (): Promise<number | null> => {
    try {
      const created = (await engineCall(socket, 'POST', `/containers/${encodeURIComponent(container)}/exec`, what, { AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: false, User: AGENT_USER, Cmd: argv })) as { Id?: unknown };
      if (typeof created.Id !== 'string' || !/^[0-9a-f]{64}$/.test(created.Id)) throw new Error(`${what}: the engine answered without an exec id`);
      const id = created.Id;
      if (stopped) return null;
      const stream = await engineHijack(socket, `/exec/${id}/start`, what, { Detach: false, Tty: false });
      destroy = stream.destroy;
      if (stopped) stream.destroy();
      stdin.pipe(stream.stdin);
      stream.stdout.pipe(stdout);
      stream.stderr.pipe(stderr);
      await stream.closed;
      // Its status is not asked for: it would be one more engine request on the way to release, and a
      // probe that ended without a report is explained by its stderr (or its `probe-error` line).
      return null;
    } catch (error) {
      if (!stderr.writableEnded) stderr.end(error instanceof Error ? error.message : String(error));
      return null;
    } finally {
      if (!stdout.writableEnded) stdout.end();
    }
  })();
  return {
    stdin,
    stdout,
    stderr,
    exited,
    stop: () => {
      stopped = true;
      destroy();
    },
  };
}
