import { watch, type FSWatcher } from 'node:fs';
import { unlink } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { basename, dirname } from 'node:path';
import { knownSecretEntriesFromEnv, knownSecretsFromEnv } from '../../dlp/index.js';
import { ProposalQueue } from '../../supervise/queue.js';
import { createAudit } from './audit.js';
import { MitmCa } from './ca.js';
import type { EgressConfig } from './config.js';
import { DlpPolicy } from './dlp-policy.js';
import { buildStages } from './pipeline.js';
import { parseResolveOverrides, Resolver } from './resolve.js';
import { loadRoutes, type LoadedRoutes, type RouteTable } from './routes.js';
import { digestOfFailedRead } from '../../state/store/file-json.js';
import { FileRoutesStore } from '../../state/store/file-routes.js';
import type { RouteAck } from '../../state/store/types.js';
import { UPSTREAM_HEADERS_TIMEOUT_MS } from './forward.js';
import { createProxyServer } from './server.js';
import { upstreamCa } from './upstream.js';
import { createUpstream } from './upstream-node-http.js';

export interface SidecarContext {
  bottle: string;
  log: (event: Record<string, unknown>) => void;
}

export interface EgressHandle {
  close(): Promise<void>;
  /** `host:port` or the socket path, for the ready line. */
  address: string;
  caCertPath: string;
  /** Re-reads the routes file (what SIGHUP does). Resolves false when the file was bad and the old table stays. */
  reload(): Promise<boolean>;
}

const DEFAULT_SUPERVISE_TIMEOUT_S = 300;

function seconds(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const s = Number(env[name] ?? fallback);
  if (!Number.isFinite(s) || s <= 0) throw new Error(`${name}=${env[name]}: must be a positive number of seconds`);
  return s;
}

export async function startEgress(cfg: EgressConfig, ctx: SidecarContext, env: NodeJS.ProcessEnv = process.env): Promise<EgressHandle> {
  // Start-up is strict: a bad routes file, resolve map or CA file is fatal.
  const routesStore = new FileRoutesStore(dirname(cfg.routesFile), cfg.routesFile);
  const first = loadRoutes(routesStore);
  let table: RouteTable = first.table;
  // Every load is acknowledged (generation + result), so whoever changed the table learns
  // when it is live or why it was refused, instead of guessing with a sleep.
  const acknowledge = async (ack: RouteAck): Promise<void> => {
    await routesStore.writeAck(ack).catch((err: unknown) => ctx.log({ event: 'egress-routes-ack-failed', error: (err as Error).message }));
  };
  await acknowledge({ generation: first.generation, applied: true, routes: table.routes.length, at: new Date().toISOString() });
  const resolver = new Resolver(parseResolveOverrides(env.BOT_BOTTLE_RESOLVE));
  const trust = upstreamCa(env);
  const agent = createUpstream(resolver, trust, env);
  const ca = await MitmCa.create(ctx.bottle, cfg.caCertOut);
  const timeoutS = seconds(env, 'EGRESS_TOKEN_ALLOW_TIMEOUT_SECONDS', DEFAULT_SUPERVISE_TIMEOUT_S);
  const headersTimeoutS = seconds(env, 'EGRESS_UPSTREAM_HEADERS_TIMEOUT_SECONDS', UPSTREAM_HEADERS_TIMEOUT_MS / 1000);
  const dlp = new DlpPolicy({
    knownSecrets: knownSecretsFromEnv(env),
    knownSecretNames: knownSecretEntriesFromEnv(env),
    routes: () => table.routes.map((r) => r.plan),
    queue: cfg.superviseQueueDir ? new ProposalQueue(cfg.superviseQueueDir, ctx.bottle) : undefined,
    superviseTimeoutMs: timeoutS * 1000,
    log: ctx.log,
  });
  const audit = createAudit(ctx.bottle, cfg.auditLog, ctx.log);
  const { server, destroyTunnels } = createProxyServer(
    { stages: buildStages({ dlp, resolver, env }), agent, dlp, audit: audit.write, auditDown: audit.down, table: () => table, upstreamHeadersTimeoutMs: headersTimeoutS * 1000 },
    ca,
    { resolver, trust },
  );

  // Requests in flight keep the table object they started with; a reload only swaps the reference.
  // The CA signs any host (ca.ts): a new route needs no new trust in the bottle.
  const reload = async (): Promise<boolean> => {
    let next: LoadedRoutes;
    try {
      next = loadRoutes(routesStore);
    } catch (err) {
      const error = (err as Error).message;
      ctx.log({ event: 'egress-routes-reload-failed', error, note: 'keeping the previous route table' });
      const generation = digestOfFailedRead(err);
      if (generation !== undefined) await acknowledge({ generation, applied: false, error, at: new Date().toISOString() });
      return false;
    }
    table = next.table;
    ctx.log({ event: 'egress-routes-reloaded', routes: next.table.routes.length });
    await acknowledge({ generation: next.generation, applied: true, routes: next.table.routes.length, at: new Date().toISOString() });
    return true;
  };
  const onHup = (): void => void reload();
  process.on('SIGHUP', onHup);
  // Watch the directory: atomic writers rename a new inode over the file.
  let debounce: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(cfg.routesFile), (_event, name) => {
      if (name !== null && name !== basename(cfg.routesFile)) return;
      clearTimeout(debounce);
      debounce = setTimeout(onHup, 50);
    });
    watcher.on('error', (err) => ctx.log({ event: 'egress-routes-watch-error', error: err.message }));
  } catch (err) {
    ctx.log({ event: 'egress-routes-watch-error', error: (err as Error).message, note: 'reload with SIGHUP' });
  }

  const listen = cfg.listen;
  if ('socket' in listen) await unlink(listen.socket).catch(() => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if ('socket' in listen) server.listen(listen.socket, resolve);
    else server.listen(listen.port, listen.host, resolve);
  });
  const addr = server.address();
  const address = typeof addr === 'string' ? addr : `${(addr as AddressInfo).address}:${(addr as AddressInfo).port}`;
  ctx.log({ event: 'egress-listening', address, caCertOut: cfg.caCertOut, routes: table.routes.length });
  // Next turn, after the ready line: load the upstream client before the first request needs it.
  setImmediate(() => agent.warm?.());

  return {
    address,
    caCertPath: cfg.caCertOut,
    reload,
    async close() {
      process.off('SIGHUP', onHup);
      clearTimeout(debounce);
      watcher?.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        destroyTunnels();
      });
      await agent.close().catch(() => undefined);
      await audit.close();
    },
  };
}
