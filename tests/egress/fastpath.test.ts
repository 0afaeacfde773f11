import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { createAudit } from '../../src/sidecars/egress/audit.js';
import { runStagesFast, type RequestContext, type Stage } from '../../src/sidecars/egress/pipeline.js';
import { Resolver } from '../../src/sidecars/egress/resolve.js';
import { buildRouteTable } from '../../src/sidecars/egress/routes.js';
import { ALLOW, block, type Verdict } from '../../src/sidecars/egress/verdict.js';

const ctx = (): RequestContext => ({
  method: 'GET',
  scheme: 'https',
  host: 'a.test',
  port: 443,
  path: '/',
  inHeaders: {},
  rawHeaders: [],
  outHeaders: {},
  tunnel: undefined,
  table: buildRouteTable([]),
  findings: [],
  redacted: false,
  signal: new AbortController().signal,
});

const stage = (name: string, seen: string[], v: Verdict | (() => Promise<Verdict>)): Stage => ({
  name,
  run: () => {
    seen.push(name);
    return typeof v === 'function' ? v() : v;
  },
});

describe('pipeline fast path', () => {
  it('answers synchronously when every stage does, and stops at the first block', () => {
    const seen: string[] = [];
    const v = runStagesFast([stage('a', seen, ALLOW), stage('b', seen, block('b', 'no')), stage('c', seen, ALLOW)], ctx());
    expect(v).not.toBeInstanceOf(Promise);
    expect(v).toMatchObject({ ok: false, stage: 'b' });
    expect(seen).toEqual(['a', 'b']);
  });

  it('continues in order after an asynchronous stage, and a block after it still wins', async () => {
    const seen: string[] = [];
    const stages = [
      stage('a', seen, ALLOW),
      stage('async', seen, () => Promise.resolve(ALLOW)),
      stage('c', seen, block('c', 'refused after the async stage')),
      stage('d', seen, ALLOW),
    ];
    const v = runStagesFast(stages, ctx());
    expect(v).toBeInstanceOf(Promise);
    expect(await v).toMatchObject({ ok: false, stage: 'c' });
    expect(seen).toEqual(['a', 'async', 'c']);
  });

  it('an asynchronous block stops the pipeline; a rejected stage rejects (the caller fails closed)', async () => {
    const seen: string[] = [];
    const v = await runStagesFast([stage('async', seen, () => Promise.resolve(block('async', 'no'))), stage('after', seen, ALLOW)], ctx());
    expect(v).toMatchObject({ ok: false, stage: 'async' });
    expect(seen).toEqual(['async']);
    await expect(Promise.resolve(runStagesFast([stage('boom', [], () => Promise.reject(new Error('scanner failed')))], ctx()))).rejects.toThrow('scanner failed');
  });
});

describe('resolver peek (the hot path skips a promise only for a settled, fresh, allowed answer)', () => {
  it('is empty before the first resolution and filled once it settles', async () => {
    const r = new Resolver(new Map([['pinned.test:443', '127.0.0.1']]));
    expect(r.peek('pinned.test', 443)).toBeUndefined();
    const p = r.resolve('pinned.test', 443);
    expect(r.peek('pinned.test', 443)).toBeUndefined();
    await p;
    expect(r.peek('PINNED.test', 443)).toEqual({ address: '127.0.0.1', family: 4, pinned: true });
    expect(r.peek('pinned.test', 444)).toBeUndefined();
  });

  it('never caches a refused answer, and expires with the TTL', async () => {
    const r = new Resolver(new Map(), 30_000);
    // localhost resolves to loopback: the SSRF guard refuses it.
    await expect(r.resolve('localhost', 443)).rejects.toThrow(/SSRF guard/);
    expect(r.peek('localhost', 443)).toBeUndefined();
    const expired = new Resolver(new Map([['pinned.test:443', '127.0.0.1']]), 0);
    await expired.resolve('pinned.test', 443);
    expect(expired.peek('pinned.test', 443)).toBeUndefined();
  });
});

describe('audit timestamps (formatted once per millisecond)', () => {
  it('every line carries the current time, also across milliseconds', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'audit-ts-'));
    try {
      const file = join(dir, 'a.jsonl');
      const a = createAudit('b', file, () => undefined);
      const t0 = Date.now();
      a.write({ method: 'GET', host: 'x.test', path: '/1', route: null, decision: 'allow' });
      a.write({ method: 'GET', host: 'x.test', path: '/2', route: null, decision: 'allow' });
      await sleep(5);
      a.write({ method: 'GET', host: 'x.test', path: '/3', route: null, decision: 'allow' });
      const t1 = Date.now();
      await a.close();
      const times = readFileSync(file, 'utf8').trim().split('\n').map((l) => Date.parse((JSON.parse(l) as { time: string }).time));
      expect(times).toHaveLength(3);
      for (const t of times) expect(t >= t0 && t <= t1).toBe(true);
      expect(times[2]!).toBeGreaterThan(times[0]!);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
