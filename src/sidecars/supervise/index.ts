import { mkdir, unlink } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ProposalQueue } from '../../supervise/queue.js';
import { SuperviseConfigSchema, type SuperviseConfigInput } from './config.js';
import { rehearseHandshake } from './rehearse.js';

/**
 * The MCP SDK is the bundle's largest dependency; it loads while a pre-spawned
 * bundle waits for its config (superviseIdleWarmups), else on the first
 * request or at `warm()`, after the bundle's ready line. Loaded on the next
 * turn after listening, as before, it ran while egress was still starting and
 * delayed the ready line by ~90 ms (docs/performance.md, "Claude Code start").
 */
let mcpModules: Promise<[typeof import('@modelcontextprotocol/sdk/server/streamableHttp.js'), typeof import('./server.js')]> | undefined;
function loadMcp(): NonNullable<typeof mcpModules> {
  mcpModules ??= Promise.all([import('@modelcontextprotocol/sdk/server/streamableHttp.js'), import('./server.js')]);
  return mcpModules;
}

/**
 * A pre-spawned bundle's idle step (sidecars/main.ts), after egress's: the MCP SDK (~75 ms here). A config
 * arriving meanwhile waits for it, so the ready line comes later, but the containment probe is what the agent
 * waits for, and it finishes after that; loaded at `warm` instead, it ran on the bundle's one thread just as
 * the agent started and connected (claude -p: its first request +34-77 ms, now +6-34; docs/performance.md).
 */
export const superviseIdleWarmups = (): Array<() => Promise<unknown> | void> => [() => loadMcp()];

export interface SidecarContext {
  bottle: string;
  log: (event: Record<string, unknown>) => void;
}

export interface SuperviseHandle {
  /** `http://127.0.0.1:<port>/mcp`, or `http://localhost/mcp` over the unix socket. */
  url: string;
  close(): Promise<void>;
  /** Loads the MCP server's modules and rehearses one handshake ahead of the agent's (after the bundle's ready line); resolves when done. */
  warm(): Promise<void>;
}

/**
 * The supervise MCP server: agent tools that turn into proposals in the
 * bottle's queue folder. Stateless streamable HTTP (a fresh McpServer and
 * transport per request) because every piece of state is on disk; a restart
 * loses nothing and a retried call finds its proposal again.
 */
export async function startSupervise(section: SuperviseConfigInput, ctx: SidecarContext): Promise<SuperviseHandle> {
  const config = SuperviseConfigSchema.parse(section);
  const queue = new ProposalQueue(config.queueDir, ctx.bottle);
  await mkdir(config.queueDir, { recursive: true, mode: 0o700 });
  let allowedHosts: string[] = [];
  const shutdown = new AbortController();

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      ctx.log({ event: 'supervise-error', error: (err as Error).message });
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32603, message: 'internal error' }, id: null }));
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/mcp' && path !== '/') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the MCP endpoint is /mcp\n');
      return;
    }
    // Checked here as well as by the SDK: the server has no auth, so a
    // rebinding attacker's Host must never reach a tool.
    if (!allowedHosts.includes(req.headers.host ?? '')) {
      ctx.log({ event: 'supervise-host-refused', host: req.headers.host ?? '' });
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message: 'Host header not allowed' }, id: null }));
      return;
    }
    const [{ StreamableHTTPServerTransport }, { createSuperviseServer }] = await loadMcp();
    const mcp = createSuperviseServer({
      queue,
      routesFile: config.routesFile,
      proposalTimeoutMs: config.proposalTimeoutMs,
      progressIntervalMs: config.progressIntervalMs,
      log: ctx.log,
      shutdown: shutdown.signal,
    });
    const transport = new StreamableHTTPServerTransport({
      // No sessionIdGenerator: stateless mode.
      enableDnsRebindingProtection: true,
      allowedHosts,
    });
    res.on('close', () => {
      void transport.close();
      void mcp.close();
    });
    await mcp.connect(transport);
    await transport.handleRequest(req, res);
  }

  let url: string;
  if ('socket' in config.listen) {
    const socket = config.listen.socket;
    await unlink(socket).catch(() => undefined);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socket, () => resolve());
    });
    allowedHosts = ['localhost', ...config.allowedHosts];
    url = 'http://localhost/mcp';
  } else {
    const { host, port } = config.listen;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const bound = (server.address() as AddressInfo).port;
    const names = ['127.0.0.1', 'localhost', '[::1]', ...config.allowedHosts];
    allowedHosts = names.flatMap((n) => [n, `${n}:${bound}`]);
    url = `http://${host === '::1' ? '[::1]' : host}:${bound}/mcp`;
  }
  ctx.log({ event: 'supervise-listening', url, queueDir: config.queueDir });

  return {
    url,
    warm: () =>
      loadMcp().then(
        () => rehearseHandshake(server, allowedHosts[0] ?? 'localhost'),
        (err: unknown) => ctx.log({ event: 'supervise-error', error: `cannot load the MCP server: ${(err as Error).message}` }),
      ),
    async close() {
      // Waiting tool calls end here; their proposals stay pending on disk.
      shutdown.abort(new Error('supervise is shutting down'));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
