import { readFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EgressRoutePlan } from '../../src/routes/model.js';
import { mergeRoute, routeFromEgressBlock } from '../../src/supervise/apply.js';
import { decide } from '../../src/supervise/decide.js';
import { ProposalQueue } from '../../src/supervise/queue.js';
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

const routes = async (): Promise<EgressRoutePlan[]> =>
  JSON.parse(await readFile(bottleStatePaths('alpha', home).egressRoutes, 'utf8')) as EgressRoutePlan[];

describe('applying answers', () => {
  it('widens an existing route for the same host instead of adding an unreachable second one', () => {
    const narrow = routeFromEgressBlock({ host: 'api.github.com', reason: 'r', methods: ['GET'], paths: ['/repos'] });
    const base = { ...manifestRoute, matches: [{ methods: ['POST'], paths: [{ type: 'prefix' as const, value: '/graphql' }], headers: [] }] };
    const merged = mergeRoute([base], narrow);
    expect(merged).toHaveLength(1);
    expect(merged[0]!.auth).toEqual(manifestRoute.auth);
    expect(merged[0]!.matches.map((m) => m.methods)).toEqual([['POST'], ['GET']]);
    // An empty match list already allows everything: it stays empty.
    expect(mergeRoute([manifestRoute], narrow)[0]!.matches).toEqual([]);
  });

  it('two consoles racing on one proposal: exactly one answer, the route applied once', async () => {
    await writeRoutes(home, 'alpha', [manifestRoute]);
    const q = new ProposalQueue(queueDir('alpha', home), 'alpha');
    const p = await q.submit('egress-block', { host: 'pypi.org', reason: 'pip' });
    const results = await Promise.allSettled([
      decide(home, p.id, { status: 'approved' }, 'operator:one'),
      decide(home, p.id, { status: 'approved' }, 'operator:two'),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect((await routes()).filter((r) => r.host === 'pypi.org')).toHaveLength(1);
  });

  it('concurrent approvals for one bottle all land in the routes file (no lost update)', async () => {
    await writeRoutes(home, 'alpha', [manifestRoute]);
    const q = new ProposalQueue(queueDir('alpha', home), 'alpha');
    const ps = [];
    for (let i = 0; i < 8; i++) ps.push(await q.submit('egress-block', { host: `h${i}.example.com`, reason: 'r' }));
    await Promise.all(ps.map((p) => decide(home, p.id, { status: 'approved' }, 'operator:test')));
    expect((await routes()).map((r) => r.host).sort()).toEqual(['api.github.com', ...ps.map((_, i) => `h${i}.example.com`)].sort());
    const approved = JSON.parse(await readFile(bottleStatePaths('alpha', home).approvedRoutes, 'utf8')) as EgressRoutePlan[];
    expect(approved).toHaveLength(8);
  });

  it('a bottle that is not running keeps the route for resume only', async () => {
    const q = new ProposalQueue(queueDir('alpha', home), 'alpha');
    const p = await q.submit('egress-block', { host: 'pypi.org', reason: 'pip' });
    const d = await decide(home, p.id, { status: 'approved' });
    expect(d.outcome === 'answered' && d.applied.summary).toContain('not running');
    await expect(readFile(bottleStatePaths('alpha', home).egressRoutes, 'utf8')).rejects.toThrow();
    const approved = JSON.parse(await readFile(bottleStatePaths('alpha', home).approvedRoutes, 'utf8')) as EgressRoutePlan[];
    expect(approved.map((r) => r.host)).toEqual(['pypi.org']);
  });

  it('a corrupt routes file is never overwritten, and the proposal stays unanswered', async () => {
    await writeRoutes(home, 'alpha', [manifestRoute]);
    const { writeFile } = await import('node:fs/promises');
    await writeFile(bottleStatePaths('alpha', home).egressRoutes, '[{"host": 1}]');
    const q = new ProposalQueue(queueDir('alpha', home), 'alpha');
    const p = await q.submit('egress-block', { host: 'pypi.org', reason: 'pip' });
    await expect(decide(home, p.id, { status: 'approved' })).rejects.toThrow(/refusing to rewrite/);
    expect(await readFile(bottleStatePaths('alpha', home).egressRoutes, 'utf8')).toBe('[{"host": 1}]');
    expect(await q.readAnswer(p.id)).toBeUndefined();
  });
});
