import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProposalQueue, type Proposal } from '../../src/supervise/queue.js';
import { fakeGithubToken, makeUpstreamPki, route, startHarness, startUpstream, undiciClient, type Harness } from './support.js';

/** Every pending proposal, once `n` exist (bounded wait). */
async function pendingAtLeast(queue: ProposalQueue, n: number): Promise<Proposal[]> {
  for (let i = 0; i < 400; i++) {
    const ps = await queue.pending();
    if (ps.length >= n) return ps;
    await sleep(25);
  }
  throw new Error(`fewer than ${n} proposals appeared`);
}

const SUPERVISE = { dlp: { outbound: ['token_patterns' as const, 'known_secrets' as const], inbound: [], onMatch: 'supervise' as const } };

/**
 * A flagged value in a model conversation comes back with every later request:
 * the operator is asked once per value (not per request or per connection),
 * sees what is needed to judge it (never the value), and documented examples
 * and test keys are not held at all.
 */
describe('egress DLP approvals', () => {
  let up: Awaited<ReturnType<typeof startUpstream>>;
  let h: Harness;
  let queueDir: string;
  let queue: ProposalQueue;
  const slotValue = ['slot', 'value', 'for', 'the', 'github', 'route', '0042'].join('-');

  beforeAll(async () => {
    const pki = await makeUpstreamPki(['model.test', 'gh.test', 'paste.test']);
    up = await startUpstream(pki);
    queueDir = mkdtempSync(join(tmpdir(), 'egress-approval-queue-'));
    queue = new ProposalQueue(queueDir, 'test-bottle');
    h = await startHarness(
      pki,
      [route('model.test', up.port, SUPERVISE), route('paste.test', up.port, SUPERVISE), route('gh.test', up.port, { auth: { scheme: 'Bearer', tokenSlot: 'EGRESS_TOKEN_0', tokenRef: 'GH_TOKEN' } })],
      {
        resolve: ['model.test', 'gh.test', 'paste.test'].map((n) => `${n}:${up.port}:127.0.0.1`).join(','),
        env: { EGRESS_TOKEN_ALLOW_TIMEOUT_SECONDS: '60', EGRESS_TOKEN_0: slotValue },
        superviseQueueDir: queueDir,
      },
    );
  });
  afterAll(async () => {
    await h?.close();
    await up?.close();
    rmSync(queueDir, { recursive: true, force: true });
  });

  const post = (c: ReturnType<typeof undiciClient>, path: string, body: string) =>
    c.fetch(`https://model.test:${up.port}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });

  it('asks once for requests held at the same time, and an approval for the bottle covers every later connection to that host', async () => {
    const secret = fakeGithubToken('conversation');
    const convo = (turn: number) => JSON.stringify({ messages: [{ role: 'user', content: `my token is ${secret}, keep it` }, { role: 'user', content: `turn ${turn}` }] });
    const a = undiciClient(h, readFileSync(h.caFile, 'utf8'));
    const b = undiciClient(h, readFileSync(h.caFile, 'utf8'));
    try {
      // Two requests on two connections carry the same value (a retry, a parallel call).
      const first = post(a, '/v1/messages', convo(1));
      const [p] = await pendingAtLeast(queue, 1);
      const second = post(b, '/v1/complete', convo(2));
      for (let i = 0; i < 200 && !h.logs.some((l) => l.event === 'egress-supervise-join'); i++) await sleep(25);
      expect(await queue.pending()).toHaveLength(1);
      await queue.answer(p!.id, { status: 'approved', scope: 'bottle', by: 'test-operator' });
      expect((await first).status).toBe(200);
      expect((await second).status).toBe(200);
    } finally {
      await a.agent.destroy();
      await b.agent.destroy();
    }
    // Later turns, on a new connection, pass without a proposal.
    const c = undiciClient(h, readFileSync(h.caFile, 'utf8'));
    try {
      expect((await post(c, '/v1/messages', convo(3))).status).toBe(200);
      expect(await queue.pending()).toHaveLength(0);
      expect(up.seen.filter((s) => s.body.includes(secret))).toHaveLength(3);
      // The approval was for sending it to model.test: another host asks again.
      const elsewhere = c.fetch(`https://paste.test:${up.port}/new`, { method: 'POST', body: convo(4) });
      const [q] = await pendingAtLeast(queue, 1);
      expect(q!.details.host).toBe('paste.test');
      await queue.answer(q!.id, { status: 'rejected', notes: 'not there', by: 'test-operator' });
      expect((await elsewhere).status).toBe(403);
    } finally {
      await c.agent.destroy();
    }
  });

  it('"once" lets one request through and asks again for the next', async () => {
    const secret = fakeGithubToken('once');
    const c = undiciClient(h, readFileSync(h.caFile, 'utf8'));
    try {
      const first = post(c, '/v1/messages', `{"content":"${secret}"}`);
      const [p] = await pendingAtLeast(queue, 1);
      await queue.answer(p!.id, { status: 'approved', scope: 'once', by: 'test-operator' });
      expect((await first).status).toBe(200);
      const again = post(c, '/v1/messages', `{"content":"${secret} again"}`);
      const [q] = await pendingAtLeast(queue, 1);
      expect(q!.id).not.toBe(p!.id);
      await queue.answer(q!.id, { status: 'rejected', notes: 'no', by: 'test-operator' });
      expect((await again).status).toBe(403);
    } finally {
      await c.agent.destroy();
    }
  });

  it('the proposal names detector, rule, place, owner and masked context, and never holds the value', async () => {
    const c = undiciClient(h, readFileSync(h.caFile, 'utf8'));
    try {
      const held = post(c, '/v1/messages', JSON.stringify({ messages: [{ content: `please use ${slotValue} for the API` }] }));
      const [p] = await pendingAtLeast(queue, 1);
      expect(p!.details).toMatchObject({ host: 'model.test', method: 'POST', path: '/v1/messages', scopes: ['bottle', 'once'] });
      const f = (p!.details.findings as Record<string, unknown>[])[0]!;
      expect(f).toMatchObject({ detector: 'known_secrets', rule: 'known-secret', where: 'body', length: slotValue.length });
      expect(f.belongs_to).toEqual(['token slot EGRESS_TOKEN_0 (host variable GH_TOKEN, injected for gh.test)']);
      expect(f.context).toBe(`{"messages":[{"content":"please use ⟨known_secrets/known-secret, ${slotValue.length} chars⟩ for the API"}]}`);
      // Nothing of the value on disk: not in the proposal, not in the queue's audit log.
      for (const name of readdirSync(queueDir)) expect(readFileSync(join(queueDir, name), 'utf8')).not.toContain(slotValue.slice(0, 12));
      await queue.answer(p!.id, { status: 'rejected', notes: 'never send the GitHub token to the model', by: 'test-operator' });
      expect((await held).status).toBe(403);
    } finally {
      await c.agent.destroy();
    }
  });

  it('documented example keys, test-mode keys and sample JWTs pass without asking; a real-shaped key is held', async () => {
    const examples = [
      ['AKIAIOSFODNN7', 'EXAMPLE'].join(''),
      `aws_secret_access_key = ${['wJalrXUtnFEMI/K7MDENG/bPxRfiCY', 'EXAMPLEKEY'].join('')}`,
      ['sk', 'test', '4eC39HqLyjWDarjtT1zdp7dc'].join('_'),
      ['eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9', 'eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ', 'SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c'].join('.'),
      ['sk', 'live', 'x'.repeat(24)].join('_'),
    ];
    const c = undiciClient(h, readFileSync(h.caFile, 'utf8'));
    try {
      const r = await post(c, '/v1/messages', JSON.stringify({ messages: examples.map((content) => ({ content })) }));
      expect(r.status).toBe(200);
      expect(await queue.pending()).toHaveLength(0);
      const audit = h.logs.filter((l) => l.event === 'egress-request').at(-1) as { findings?: { rule: string }[] };
      // Still seen and recorded: only not held.
      expect(audit.findings?.map((f) => f.rule)).toEqual(expect.arrayContaining(['aws-access-key-id', 'stripe-key', 'jwt']));

      const real = ['AKIA', 'Q3VZ7XK2PLM4RT6N'].join('');
      const held = post(c, '/v1/messages', JSON.stringify({ content: real }));
      const [p] = await pendingAtLeast(queue, 1);
      expect((p!.details.findings as { rule: string }[])[0]!.rule).toBe('aws-access-key-id');
      await queue.answer(p!.id, { status: 'rejected', notes: 'no', by: 'test-operator' });
      expect((await held).status).toBe(403);
    } finally {
      await c.agent.destroy();
    }
  });
});
