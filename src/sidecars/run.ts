import { loadSidecarConfig, type SidecarConfig } from './config.js';
import { startEgress } from './egress/index.js';
import { startGitGate } from './git-gate/index.js';
import { startSupervise } from './supervise/index.js';

export interface Daemon {
  name: string;
  close(): Promise<void>;
}

export interface RunningSidecars {
  daemons: Daemon[];
  ready: Record<string, unknown>;
  close(): Promise<void>;
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
export async function startSidecars(config: SidecarConfig, log: SidecarLog = stdoutLog): Promise<RunningSidecars> {
  const daemons: Daemon[] = [];
  const ready: Record<string, unknown> = { event: 'ready', bottle: config.bottle };
  const ctx = { bottle: config.bottle, log };
  const closeAll = async (): Promise<void> => {
    for (const d of [...daemons].reverse()) {
      await d.close().catch((err: unknown) => log({ event: 'sidecar-close-failed', daemon: d.name, error: (err as Error).message }));
    }
  };
  try {
    if (config.egress) {
      const egress = await startEgress(config.egress, ctx);
      daemons.push({ name: 'egress', close: () => egress.close() });
      ready.egress = { listen: egress.address, caCert: egress.caCertPath };
    }
    // Other daemons (gitGate, supervise) start here.
    if (config.gitGate) {
      const gitGate = await startGitGate(config.gitGate, ctx);
      daemons.push({ name: 'gitGate', close: () => gitGate.close() });
      ready.gitGate = { url: gitGate.url ?? ('socket' in config.gitGate.listen ? config.gitGate.listen.socket : undefined) };
    }
    if (config.supervise) {
      const supervise = await startSupervise(config.supervise, ctx);
      daemons.push({ name: 'supervise', close: () => supervise.close() });
      ready.supervise = { url: supervise.url };
    }
  } catch (err) {
    await closeAll();
    throw err;
  }
  if (daemons.length === 0) throw new Error('sidecar config starts no daemons: add an `egress` section');
  return { daemons, ready, close: closeAll };
}

/** `bot-bottle sidecars --config FILE`: run until SIGTERM/SIGINT. */
export async function runSidecars(configFile: string, log: SidecarLog = stdoutLog): Promise<void> {
  const config = loadSidecarConfig(configFile);
  const running = await startSidecars(config, log);
  log(running.ready);
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
