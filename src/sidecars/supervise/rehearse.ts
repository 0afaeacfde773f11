import { request } from 'node:http';
import type { Server } from 'node:http';

/**
 * One MCP handshake (`initialize`, then `tools/list`) sent by the server to
 * itself, over its own socket, before any agent connects. The first exchange
 * after the modules load costs far more than later ones: node's own fetch
 * classes (Request, Response, Headers, which the SDK's transport converts
 * through) load on first use, and the tool schemas are turned into JSON
 * schema for the first time. An agent that connects at start (Claude Code does
 * before its first model call) then meets a warm server. Stateless: nothing
 * is kept, no tool runs, no proposal is written. Errors are ignored; the agent's
 * own requests meet them and report them.
 */
export async function rehearseHandshake(server: Server, host: string): Promise<void> {
  const address = server.address();
  if (address === null) return;
  const target = typeof address === 'string' ? { socketPath: address } : { host: address.address, port: address.port };
  const post = (body: unknown): Promise<void> =>
    new Promise((resolve) => {
      const req = request(
        {
          ...target,
          method: 'POST',
          path: '/mcp',
          headers: { host, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
          timeout: 5_000,
        },
        (res) => {
          res.resume();
          res.on('end', resolve);
          res.on('error', () => resolve());
        },
      );
      req.on('error', () => resolve());
      req.on('timeout', () => req.destroy());
      req.end(JSON.stringify(body));
    });
  await post({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bot-bottle-warm-up', version: '0' } } });
  await post({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} });
}
