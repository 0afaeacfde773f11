import { readStdioReport } from '../../containment/stdio-report.js';
import { existsSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import type { ProbeInside, ProbeTargets } from '../../containment/gate.js';
import { GUEST_PROBE_NODE, GUEST_PROBE_SCRIPT, PROBE_BUNDLE, probeCommand } from '../../containment/guest.js';
import { packageRoot } from '../../util/package-root.js';
import { BUNDLE_PORTS } from './bundle.js';
import type { AttachedIo } from './attach.js';
import { AGENT_EXEC_PREFIX } from './guest.js';
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

/** The probe's command line in the agent container (guest.ts's probeThenHold runs it first, then holds). */
export function dockerProbeCommand(): string[] {
  return probeCommand(GUEST_PROBE_NODE);
}

/**
 * The probe running as the agent container's first process (guest.ts,
 * probeThenHold), through the attachment made before the container started:
 * hand it the first spec line as soon as `early` resolves (once the guest's
 * files are in: it observes nothing before that line); `inside` gives the gate
 * the way to finish it once the CA exists. `stop` detaches; the container
 * itself goes with its own undo.
 */
export function dockerProbe(io: AttachedIo, early: string | Promise<string>): { inside: (o: { caPem: string; hostProcessMarkers: string[]; runtime: DockerRuntime }) => ProbeInside; stop: () => void } {
  const { stdin, stdout, stderr } = io;
  // The last line goes only after the first: a guest whose files take longer to copy than the bundle takes
  // to mint its CA must not see the CA line first.
  const earlyWritten = Promise.resolve(early).then(
    (line) => void stdin.write(`${line}\n`),
    (error: unknown) => {
      io.kill();
      throw error;
    },
  );
  void earlyWritten.catch(() => undefined); // finish reports it
  let other = '';
  stderr.on('data', (chunk: Buffer) => {
    if (other.length < 4_000) other += chunk.toString('utf8');
  });
  return {
    stop: io.kill,
    inside: (o) => ({
      expect: dockerExpectations(o.runtime),
      caPem: o.caPem,
      hostProcessMarkers: o.hostProcessMarkers,
      // The container outlives the probe (it holds); only its end without a report line is a failure here.
      finish: (late) => earlyWritten.then(() => readStdioReport({ stdin, stdout, exited: io.closed.then(() => null), stderrTail: () => other }, late)),
    }),
  };
}
