import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { MitmCa } from '../../src/sidecars/egress/ca.js';
import { DlpPolicy } from '../../src/sidecars/egress/dlp-policy.js';
import { makeUpstreamPki, route, startHarness } from './support.js';

/**
 * The bundle's warm-ups (docs/performance.md, "Claude Code start"): work the
 * agent's first requests need, done after the ready line and, when the
 * launcher asks for it, only once it has released the agent.
 */
describe('egress warm-up', () => {
  it("mints the routed hosts' leaves ahead, the injected-auth (model API) route first, wildcards left for use", async () => {
    const pki = await makeUpstreamPki(['web.test']);
    const h = await startHarness(
      pki,
      [route('web.test', 443), route('*.wild.test', 443), route('model.test', 443, { auth: { scheme: 'Bearer', tokenSlot: 'EGRESS_TOKEN_0', tokenRef: 'T' } })],
      { resolve: 'web.test:443:127.0.0.1', env: { EGRESS_TOKEN_0: 'warm-test-token' } },
    );
    const minted = vi.spyOn(MitmCa.prototype, 'contextFor');
    try {
      void h.egress.warm();
      await vi.waitFor(() => expect(minted.mock.calls.length).toBeGreaterThanOrEqual(2), { timeout: 5_000 });
      expect(minted.mock.calls.map((c) => c[0])).toEqual(['model.test', 'web.test']);
      // The pre-minted context is what the first CONNECT gets: the cache hands out the same promise.
      const first = minted.mock.results[0]?.value as Promise<unknown>;
      const ca = minted.mock.contexts[0] as MitmCa;
      expect(ca.contextFor('model.test')).toBe(first);
    } finally {
      minted.mockRestore();
      await h.close();
    }
  });
});

describe('DLP warm-up', () => {
  it("runs each route's detectors once over made-up text, with no finding logged and no proposal queued", async () => {
    const logged: Record<string, unknown>[] = [];
    const queued: unknown[] = [];
    const policy = new DlpPolicy({
      knownSecrets: ['warm-known-secret-0123456789'],
      knownSecretNames: [],
      routes: () => [],
      queue: { propose: (p: unknown) => (queued.push(p), Promise.resolve()) } as never,
      superviseTimeoutMs: 1000,
      log: (e) => logged.push(e),
    });
    const scanned = vi.spyOn(policy, 'bodyStreamScanner');
    const replies = vi.spyOn(policy, 'streamScanner');
    const outbound = ['token_patterns', 'known_secrets'] as const;
    const inbound = ['naive_injection_detection'] as const;
    // Two routes with the same lists warm once; a third with other lists warms too.
    policy.warm([{ outbound: [...outbound], inbound: [...inbound] }, { outbound: [...outbound], inbound: [...inbound] }, { outbound: ['entropy'], inbound: [] }]);
    await vi.waitFor(() => expect(scanned.mock.calls.length).toBe(2), { timeout: 5_000 });
    await new Promise((r) => setImmediate(r));
    expect(scanned.mock.calls.map((c) => c[0])).toEqual([[...outbound], ['entropy']]);
    expect(replies.mock.calls.map((c) => c[0])).toEqual([[...inbound], []]);
    expect(logged).toEqual([]);
    expect(queued).toEqual([]);
  });
});

describe('sidecars --warm-on-stdin', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sidecars-warm-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('warms up only after the launcher writes `warm`, never at the ready line', async () => {
    const routes = join(dir, 'routes.json');
    writeFileSync(routes, JSON.stringify([route('model.test', 443)]));
    const cfg = join(dir, 'sidecars.json');
    writeFileSync(cfg, JSON.stringify({ bottle: 'warm', egress: { listen: { socket: join(dir, 'egress.sock') }, routesFile: routes, caCertOut: join(dir, 'ca.pem') } }));
    const child = execa('node', ['--import', 'tsx', 'src/sidecars/main.ts', '--config', cfg, '--exit-with-parent', '--warm-on-stdin'], { reject: false, timeout: 30_000, stdin: 'pipe' });
    let out = '';
    const seen = (event: string): Promise<void> =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${event} line: ${out}`)), 20_000);
        const check = (): void => {
          if (!out.includes(`"event":"${event}"`)) return;
          clearTimeout(timer);
          child.stdout?.off('data', onData);
          resolve();
        };
        const onData = (d: Buffer): void => {
          out += d.toString();
          check();
        };
        child.stdout?.on('data', onData);
        check();
      });
    try {
      await seen('ready');
      // The ready line carries the bundle's own start-up milestones, for BOT_BOTTLE_TRACE on the launcher.
      const ready = JSON.parse(out.split('\n').find((l) => l.includes('"event":"ready"')) ?? '{}') as { startMs?: Record<string, number> };
      expect(Object.keys(ready.startMs ?? {})).toEqual(expect.arrayContaining(['config loaded', 'egress routes', 'egress ca', 'egress']));
      expect(ready.startMs?.egress).toBeGreaterThanOrEqual(ready.startMs?.['config loaded'] ?? Infinity);
      // Long enough for a warm-up scheduled at the ready line to have logged (it runs on the next turn).
      await new Promise((r) => setTimeout(r, 300));
      child.stdin?.write('not yet\n');
      await new Promise((r) => setTimeout(r, 100));
      expect(out).not.toContain('"event":"sidecars-warming"');
      child.stdin?.write('warm\n');
      await seen('sidecars-warming');
    } finally {
      child.kill('SIGTERM');
      await child;
    }
  });
});
