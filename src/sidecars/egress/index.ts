import { mark } from '../marks.js';
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
import { loadUndiciAgent, upstreamCa } from './upstream.js';
import { DEFAULT_OUTBOUND_DETECTORS, INBOUND_DETECTORS } from '../../routes/model.js';
import { createUpstream } from './upstream-node-http.js';
import { assertTokenSlots } from './token-slots.js';
import { leafOrder } from '../../routes/leaf-order.js';

/**
 * What a pre-spawned bundle does while it waits for its config (sidecars/main.ts): what the ready line itself
 * waits for and no config decides, the CA's keys and the ASN.1 encoder's first use. Each step delays a config
 * that arrives during it; undici's Agent (~20 ms) and the upstream trust store (~40 ms) wait for the launcher's
 * `warm`, after the agent is released (supervise's idle step, the MCP SDK, follows this one).
 */
export const egressIdleWarmups = (): Array<() => Promise<unknown> | void> => [() => MitmCa.prepare()];

/**
 * What a standby bundle (sidecars/standby.ts) does before it listens: the idle steps, then what `warm` would
 * do after release for any config (undici, the upstream trust store, one DLP scan with the default detectors),
 * so none of it runs on the bundle's one thread while a launch waits for it.
 */
export const egressStandbyWarmups = (env: NodeJS.ProcessEnv = process.env): Array<() => Promise<unknown> | void> => [
  ...egressIdleWarmups(),
  () => loadUndiciAgent(),
  () => void upstreamCa(env)(),
  () =>
    new DlpPolicy({ knownSecrets: [], queue: undefined, superviseTimeoutMs: 0, log: () => undefined }).warm([
      { outbound: DEFAULT_OUTBOUND_DETECTORS, inbound: INBOUND_DETECTORS },
    ]),
];

export interface SidecarContext {
  bottle: string;
  log: (event: Record<string, unknown>) => void;
  /** Token slots and sensitive host values from the bundle's secrets file (never its environment). */
  secrets?: Readonly<Record<string, string>>;
}

export interface EgressHandle {
  close(): Promise<void>;
  /** `host:port` or the socket path, for the ready line. */
  address: string;
  caCertPath: string;
  /** Re-reads the routes file (what SIGHUP does). Resolves false when the file was bad and the old table stays. */
  reload(): Promise<boolean>;
  /** After the bundle's ready line: connect ahead, mint the routed hosts' leaf certificates, build the upstream trust store; resolves once the upstream client has loaded. */
  warm(): Promise<void> | void;
  /** After every daemon's `warm`: run each route's DLP scanners once (what the agent's first model request, not its first request, needs). */
  warmLate(): void;
  /** Right after the ready line: mint the first routed host's leaf, the one the containment probe's handshake asks for. */
  prime(): void;
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
  // The secrets file's values beside the knobs; in-process callers (tests) may still pass them in `env`.
  const secretEnv: NodeJS.ProcessEnv = { ...env, ...ctx.secrets };
  // A route whose token is missing fails the start here, not each of its requests with a 502.
  assertTokenSlots(table.routes.map((r) => r.plan), secretEnv);
  // Every load is acknowledged (generation + result), so whoever changed the table learns
  // when it is live or why it was refused, instead of guessing with a sleep.
  const acknowledge = async (ack: RouteAck): Promise<void> => {
    await routesStore.writeAck(ack).catch((err: unknown) => ctx.log({ event: 'egress-routes-ack-failed', error: (err as Error).message }));
  };
  await acknowledge({ generation: first.generation, applied: true, routes: table.routes.length, at: new Date().toISOString() });
  mark('egress routes');
  const resolver = new Resolver(parseResolveOverrides(env.BOT_BOTTLE_RESOLVE));
  const trust = upstreamCa(env);
  const agent = createUpstream(resolver, trust, env, ctx.log);
  mark('egress upstream');
  const ca = await MitmCa.create(ctx.bottle, cfg.caCertOut);
  mark('egress ca');
  const timeoutS = seconds(env, 'EGRESS_TOKEN_ALLOW_TIMEOUT_SECONDS', DEFAULT_SUPERVISE_TIMEOUT_S);
  const headersTimeoutS = seconds(env, 'EGRESS_UPSTREAM_HEADERS_TIMEOUT_SECONDS', UPSTREAM_HEADERS_TIMEOUT_MS / 1000);
  const dlp = new DlpPolicy({
    knownSecrets: knownSecretsFromEnv(secretEnv),
    knownSecretNames: knownSecretEntriesFromEnv(secretEnv),
    routes: () => table.routes.map((r) => r.plan),
    queue: cfg.superviseQueueDir ? new ProposalQueue(cfg.superviseQueueDir, ctx.bottle) : undefined,
    superviseTimeoutMs: timeoutS * 1000,
    log: ctx.log,
  });
  const audit = createAudit(ctx.bottle, cfg.auditLog, ctx.log);
  mark('egress dlp');
  const { server, destroyTunnels } = createProxyServer(
    { stages: buildStages({ dlp, resolver, env: secretEnv }), agent, dlp, audit: audit.write, auditDown: audit.down, table: () => table, upstreamHeadersTimeoutMs: headersTimeoutS * 1000 },
    ca,
    {},
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

  mark('egress server');
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

  return {
    address,
    caCertPath: cfg.caCertOut,
    reload,
    prime() {
      const first = leafOrder(table.routes.map((r) => r.plan))[0];
      if (first !== undefined) void ca.contextFor(first).catch(() => undefined);
    },
    warm() {
      // First: its handshake then overlaps the rest (it builds the upstream trust store on the way).
      if (cfg.preconnect && cfg.preconnect.length > 0) agent.preconnect(cfg.preconnect);
      premintLeaves(ca, table);
      // The upstream trust store (every system root parsed into one context, ~40 ms here) is built
      // once, lazily: build it now rather than in the agent's first request.
      setImmediate(() => {
        try {
          trust();
        } catch {
          // The first request meets the same error and reports it.
        }
      });
      return agent.warm?.();
    },
    warmLate() {
      dlp.warm(table.routes.map((r) => r.plan.dlp));
    },
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

/** Leaves minted ahead: enough for a plan's own hosts, bounded whatever the routes file holds. */
const PREMINT_MAX = 16;

/**
 * Mints the leaf certificates of the routed hosts (routes with injected auth,
 * the model API, first), one per event-loop turn so a request arriving
 * meanwhile is not held behind them: the agent's first CONNECT to its model
 * API then finds its leaf ready. Only exact hosts of the plan; wildcards and
 * unrouted names are minted on use, as before.
 */
function premintLeaves(ca: MitmCa, table: RouteTable): void {
  const hosts = leafOrder(table.routes.map((r) => r.plan)).slice(0, PREMINT_MAX);
  const next = (): void => {
    const host = hosts.shift();
    if (host === undefined) return;
    void ca.contextFor(host).catch(() => undefined);
    setImmediate(next);
  };
  next();
}
