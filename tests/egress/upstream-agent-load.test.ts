import { createServer, type Server } from 'node:net';
import { Readable } from 'node:stream';
import { createSecureContext } from 'node:tls';
import { Agent } from 'undici';
import type { Dispatcher } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import AgentModule from 'undici/lib/dispatcher/agent.js';
import { Resolver } from '../../src/sidecars/egress/resolve.js';
import { createUpstreamAgent } from '../../src/sidecars/egress/upstream.js';

/** A DispatchHandler that records the error it gets, if any. */
function recorder() {
  let resolveErr!: (e: Error) => void;
  const failed = new Promise<Error>((r) => (resolveErr = r));
  const handler: Dispatcher.DispatchHandler = {
    onRequestStart: () => undefined,
    onResponseStart: () => undefined,
    onResponseData: () => undefined,
    onResponseEnd: () => undefined,
    onResponseError: (_c, err) => resolveErr(err),
  };
  return { handler, failed };
}

describe('undici upstream agent loading', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = undefined;
  });

  // The proxy loads undici's Agent module, not its index (less memory): the path must hold that class.
  it('loads the Agent class undici exports', () => {
    expect(AgentModule).toBe(Agent);
  });

  it('a body that fails while undici loads reaches the handler and opens no upstream connection', async () => {
    let connections = 0;
    server = createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const up = createUpstreamAgent(new Resolver(new Map([[`up.test:${port}`, '127.0.0.1']])), () => createSecureContext());
    const body = new Readable({ read() {} });
    const { handler, failed } = recorder();
    up.dispatch({ origin: `http://up.test:${port}`, path: '/', method: 'POST', headers: {}, body }, handler);
    // Fails before undici has taken the body (the first dispatch waits for the module load).
    body.destroy(new Error('blocked by the gate'));
    expect((await failed).message).toBe('blocked by the gate');
    expect(connections).toBe(0);
    await up.close();
  });

  it('warm() loads undici before the first request: dispatch then hands the body to undici at once', async () => {
    // A request through the loaded agent to a closed port: undici itself reports the refused connection.
    server = createServer();
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    await new Promise<void>((r) => server!.close(() => r()));
    server = undefined;
    const up = createUpstreamAgent(new Resolver(new Map([[`up.test:${port}`, '127.0.0.1']])), () => createSecureContext());
    void up.warm?.();
    await new Promise((r) => setTimeout(r, 200));
    const body = new Readable({ read() {} });
    const { handler, failed } = recorder();
    up.dispatch({ origin: `http://up.test:${port}`, path: '/', method: 'POST', headers: {}, body }, handler);
    // Loaded: undici's Request took the body (it listens for its errors) within dispatch itself.
    expect(body.listenerCount('error')).toBeGreaterThan(0);
    body.push(null);
    expect((await failed).message).toMatch(/ECONNREFUSED|connect/);
    await up.close();
  });
});
