import { loadSidecarConfig, type SidecarConfig } from './config.js';
import { mark, startMarks } from './marks.js';
import { readBundleSecrets, type BundleSecrets } from './secrets.js';

export interface Daemon {
  name: string;
  close(): Promise<void>;
  /**
   * Work the first requests will need but the ready line must not wait for
   * (module loads, leaf certificates): run once, after the ready line, so it
   * overlaps the bottle's own start instead of delaying it.
   */
  warm?(): Promise<void> | void;
  /**
   * Warm-up work the agent's first requests do not need (egress: its DLP scanners, ~50 ms of one
   * event-loop turn), started once every daemon's `warm` has settled so it does not hold those up.
   */
  warmLate?(): void;
  /**
   * The one piece of that work the launcher's own check needs before the agent
   * runs (egress: the leaf its containment probe asks for): started right after
   * the ready line, so it overlaps the probe's start instead of its handshake.
   */
  prime?(): void;
}

export interface RunningSidecars {
  daemons: Daemon[];
  ready: Record<string, unknown>;
  close(): Promise<void>;
  /** Starts every daemon's warm-up; call it once the ready line is out. */
  warm(): void;
  /** Starts what the launcher's check needs first (Daemon.prime); call it right after the ready line. */
  prime(): void;
}

export type SidecarLog = (event: Record<string, unknown>) => void;

/** JSON lines on stdout: the launch step and the operator read the same stream. */
export const stdoutLog: SidecarLog = (event) => {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`);
};

/**
 * Starts every daemon whose section is present, in one process. If one fails
 * to start, the ones already running are closed before the error propagates.
 */
export async function startSidecars(config: SidecarConfig, log: SidecarLog = stdoutLog, secrets: BundleSecrets = {}): Promise<RunningSidecars> {
  const daemons: Daemon[] = [];
  const ready: Record<string, unknown> = { event: 'ready', bottle: config.bottle };
  const ctx = { bottle: config.bottle, log, secrets };
  const closeAll = async (): Promise<void> => {
    for (const d of [...daemons].reverse()) {
      await d.close().catch((err: unknown) => log({ event: 'sidecar-close-failed', daemon: d.name, error: (err as Error).message }));
    }
  };
  // Each daemon's modules load only when its section is present, and the daemons
  // start concurrently: one's file and socket waits overlap another's module loading.
  const starting: Promise<{ name: string; daemon: Daemon; ready: unknown }>[] = [];
  const { egress, gitGate, supervise } = config;
  if (egress) {
    starting.push(
      import('./egress/index.js').then(async ({ startEgress }) => {
        const h = await startEgress(egress, ctx);
        return { name: 'egress', daemon: { name: 'egress', close: () => h.close(), warm: () => h.warm(), warmLate: () => h.warmLate(), prime: () => h.prime() }, ready: { listen: h.address, caCert: h.caCertPath } };
      }),
    );
  }
  if (gitGate) {
    starting.push(
      import('./git-gate/index.js').then(async ({ startGitGate }) => {
        const h = await startGitGate(gitGate, ctx);
        return { name: 'gitGate', daemon: { name: 'gitGate', close: () => h.close() }, ready: { url: h.url ?? ('socket' in gitGate.listen ? gitGate.listen.socket : undefined) } };
      }),
    );
  }
  if (supervise) {
    starting.push(
      import('./supervise/index.js').then(async ({ startSupervise }) => {
        const h = await startSupervise(supervise, ctx);
        return { name: 'supervise', daemon: { name: 'supervise', close: () => h.close(), warm: () => h.warm() }, ready: { url: h.url } };
      }),
    );
  }
  const results = await Promise.allSettled(starting.map((s) => s.then((r) => (mark(r.name), r))));
  for (const r of results) {
    if (r.status === 'fulfilled') {
      daemons.push(r.value.daemon);
      ready[r.value.name] = r.value.ready;
    }
  }
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await closeAll();
    throw failed.reason;
  }
  if (daemons.length === 0) throw new Error('sidecar config starts no daemons: add an `egress` section');
  return {
    daemons,
    ready,
    close: closeAll,
    warm: () => void Promise.allSettled(daemons.map(async (d) => d.warm?.())).then(() => setImmediate(() => daemons.forEach((d) => d.warmLate?.()))),
    prime: () => daemons.forEach((d) => d.prime?.()),
  };
}

/**
 * `bot-bottle sidecars --config FILE`: run until SIGTERM/SIGINT. The daemons'
 * warm-ups start once `warmWhen` resolves (default: right after the ready
 * line); a launcher that checks the bottle before releasing its agent passes
 * the moment it releases it, so the warm-ups do not hold up the check's own
 * requests (docs/performance.md, "Claude Code start").
 */
export async function runSidecars(configFile: string, log: SidecarLog = stdoutLog, warmWhen?: Promise<void>): Promise<void> {
  const config = loadSidecarConfig(configFile);
  const secrets = config.secretsFile !== undefined ? readBundleSecrets(config.secretsFile) : {};
  mark('config loaded');
  const running = await startSidecars(config, log, secrets);
  log({ ...running.ready, startMs: startMarks() });
  setImmediate(() => running.prime());
  // After the ready line has been written: the launcher is told first, the warm-ups overlap its next steps.
  void (warmWhen ?? Promise.resolve()).then(() =>
    setImmediate(() => {
      log({ event: 'sidecars-warming' });
      running.warm();
    }),
  );
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      log({ event: 'stopping', signal });
      void running.close().then(resolve);
    };
    const onTerm = (): void => stop('SIGTERM');
    const onInt = (): void => stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
  log({ event: 'stopped' });
}
