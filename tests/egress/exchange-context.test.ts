import { describe, expect, it } from 'vitest';
import { ExchangeContext } from '../../src/sidecars/egress/exchange-context.js';
import type { RouteTable } from '../../src/sidecars/egress/routes.js';

describe('ExchangeContext', () => {
  const table = { routes: [] } as unknown as RouteTable;
  const target = { scheme: 'https' as const, host: 'api.test', port: 443, path: '/v1?q=1', tunnel: undefined };

  it('carries the request fields and builds the signal only when asked', () => {
    let made = 0;
    const ac = new AbortController();
    const ctx = new ExchangeContext({ method: 'POST', headers: { host: 'api.test' }, rawHeaders: ['Host', 'api.test'] }, target, table, {
      signal: () => {
        made++;
        return ac.signal;
      },
    });
    expect([ctx.method, ctx.scheme, ctx.host, ctx.port, ctx.path, ctx.table]).toEqual(['POST', 'https', 'api.test', 443, '/v1?q=1', table]);
    expect(ctx.outHeaders).toEqual({});
    expect(ctx.findings).toEqual([]);
    expect(made).toBe(0);
    expect(ctx.signal).toBe(ac.signal);
    expect(made).toBe(1);
  });

  it('keeps the signal getter on the prototype (a per-object getter closure kept whole exchanges alive across young GCs)', () => {
    const a = new ExchangeContext({ headers: {}, rawHeaders: [] }, target, table, { signal: () => new AbortController().signal });
    const b = new ExchangeContext({ headers: {}, rawHeaders: [] }, target, table, { signal: () => new AbortController().signal });
    expect(a.method).toBe('GET');
    expect(Object.getOwnPropertyDescriptor(a, 'signal')).toBeUndefined();
    expect(Object.getPrototypeOf(a)).toBe(Object.getPrototypeOf(b));
    expect(typeof Object.getOwnPropertyDescriptor(ExchangeContext.prototype, 'signal')?.get).toBe('function');
  });
});
