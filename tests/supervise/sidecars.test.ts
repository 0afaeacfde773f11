import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SidecarConfigSchema } from '../../src/sidecars/config.js';
import { startSidecars } from '../../src/sidecars/run.js';
import { startSupervise } from '../../src/sidecars/supervise/index.js';
import { bottleStatePaths, queueDir } from '../../src/state/paths.js';
import { manifestRoute, tempHome, writeRoutes } from './helpers.js';

let home: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ home, cleanup } = await tempHome());
});
afterEach(async () => {
  await cleanup();
});

describe('supervise as a sidecar daemon', () => {
  it('starts from the `supervise` section of the sidecar config and reports its URL', async () => {
    await writeRoutes(home, 'alpha', [manifestRoute]);
    const config = SidecarConfigSchema.parse({
      bottle: 'alpha',
      supervise: { listen: { host: '127.0.0.1', port: 0 }, queueDir: queueDir('alpha', home), routesFile: bottleStatePaths('alpha', home).egressRoutes },
    });
    expect(config.supervise?.proposalTimeoutMs).toBe(15 * 60_000);
    const running = await startSidecars(config, () => undefined);
    try {
      const url = (running.ready.supervise as { url: string }).url;
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
      const client = new Client({ name: 't', version: '1' });
      await client.connect(new StreamableHTTPClientTransport(new URL(url)));
      expect((await client.listTools()).tools).toHaveLength(3);
      await client.close();
    } finally {
      await running.close();
    }
  });

  it('refuses a non-loopback listen address and names the field', () => {
    const r = SidecarConfigSchema.safeParse({
      bottle: 'alpha',
      supervise: { listen: { host: '0.0.0.0', port: 9100 }, queueDir: '/q', routesFile: '/r' },
    });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toContain('supervise');
  });

  it('serves MCP over a unix socket', async () => {
    await writeRoutes(home, 'alpha', [manifestRoute]);
    const socket = join(home, 'supervise.sock');
    const handle = await startSupervise(
      { listen: { socket }, queueDir: queueDir('alpha', home), routesFile: bottleStatePaths('alpha', home).egressRoutes },
      { bottle: 'alpha', log: () => undefined },
    );
    const dispatcher = new Agent({ connect: { socketPath: socket } });
    try {
      const client = new Client({ name: 't', version: '1' });
      const fetchOverSocket = (async (url: string | URL, init?: RequestInit) =>
        undiciFetch(url, { ...(init as Parameters<typeof undiciFetch>[1]), dispatcher })) as unknown as typeof fetch;
      await client.connect(new StreamableHTTPClientTransport(new URL(handle.url), { fetch: fetchOverSocket }));
      const res = await client.callTool({ name: 'list-egress-routes', arguments: {} });
      expect((res.structuredContent as { routes: unknown[] }).routes).toHaveLength(1);
      await client.close();
    } finally {
      await dispatcher.close();
      await handle.close();
    }
  });
});
