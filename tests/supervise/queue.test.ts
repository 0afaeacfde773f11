import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AlreadyAnsweredError, ProposalQueue, findProposal, listAllPending } from '../../src/supervise/queue.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'bb-queue-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

function queue(slug: string): ProposalQueue {
  return new ProposalQueue(join(root, slug), slug);
}

async function audit(): Promise<Record<string, unknown>[]> {
  const text = await readFile(join(root, 'audit.jsonl'), 'utf8');
  return text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('ProposalQueue', () => {
  it('submits a proposal file and lists it as pending', async () => {
    const q = queue('alpha');
    const p = await q.submit('egress-block', { host: 'example.com', reason: 'docs' }, { timeoutMs: 60_000 });
    expect(p.slug).toBe('alpha');
    expect(p.timeout_at).toBeDefined();
    const onDisk = JSON.parse(await readFile(q.proposalPath(p.id), 'utf8')) as Record<string, unknown>;
    expect(onDisk).toMatchObject({ id: p.id, kind: 'egress-block', details: { host: 'example.com' } });
    expect((await q.pending()).map((x) => x.id)).toEqual([p.id]);
  });

  it('wait resolves with the operator answer and the audit log records who and why', async () => {
    const q = queue('alpha');
    const p = await q.submit('git-push-allow', { ref: 'refs/heads/main' });
    const waiting = q.wait(p.id, { timeoutMs: 10_000 });
    const res = await q.answer(p.id, { status: 'rejected', notes: 'not on main', by: 'alice' });
    expect(res.outcome).toBe('answered');
    const answer = await waiting;
    expect(answer).toMatchObject({ status: 'rejected', notes: 'not on main', by: 'alice' });
    expect(await q.pending()).toEqual([]);
    const events = await audit();
    expect(events.map((e) => e.event)).toEqual(['submitted', 'rejected']);
    expect(events[1]).toMatchObject({ by: 'alice', reason: 'not on main', id: p.id, slug: 'alpha' });
  });

  it('the second answer loses: no proposal is answered twice', async () => {
    const q = queue('alpha');
    const p = await q.submit('capability-block', { change: 'apt-get install jq', reason: 'json' });
    const results = await Promise.allSettled([
      q.answer(p.id, { status: 'approved', by: 'console-1' }),
      q.answer(p.id, { status: 'rejected', notes: 'no', by: 'console-2' }),
    ]);
    const ok = results.filter((r) => r.status === 'fulfilled');
    const failed = results.filter((r) => r.status === 'rejected');
    expect(ok).toHaveLength(1);
    expect(failed).toHaveLength(1);
    expect((failed[0] as PromiseRejectedResult).reason).toBeInstanceOf(AlreadyAnsweredError);
  });

  it('times out, and a later answer is recorded as late and not applied', async () => {
    const q = queue('alpha');
    const p = await q.submit('egress-token-allow', { host: 'api.example.com' }, { timeoutMs: 100 });
    const answer = await q.wait(p.id, { timeoutMs: 100 });
    expect(answer.status).toBe('timeout');
    const late = await q.answer(p.id, { status: 'approved', by: 'bob' });
    expect(late.outcome).toBe('late');
    expect((await q.readAnswer(p.id))?.status).toBe('timeout');
    const names = await readdir(q.dir);
    expect(names.some((n) => n.startsWith(`${p.id}.late-`))).toBe(true);
    expect((await audit()).map((e) => e.event)).toEqual(['submitted', 'timeout', 'late']);
  });

  it('a wait shorter than the proposal timeout leaves the proposal open for a later wait', async () => {
    const q = queue('alpha');
    const p = await q.submit('git-push-allow', { ref: 'refs/heads/x' }, { timeoutMs: 60_000 });
    expect((await q.wait(p.id, { timeoutMs: 50 })).status).toBe('timeout');
    expect(await q.readAnswer(p.id)).toBeUndefined();
    expect((await q.pending()).map((x) => x.id)).toEqual([p.id]);
    expect((await q.answer(p.id, { status: 'approved', by: 'op' })).outcome).toBe('answered');
    expect((await q.wait(p.id, { timeoutMs: 50 })).status).toBe('approved');
  });

  it('an answer after timeout_at counts as late even if the waiter died', async () => {
    const q = queue('alpha');
    const p = await q.submit('egress-block', { host: 'a.example' }, { timeoutMs: 1 });
    await new Promise((r) => setTimeout(r, 20));
    expect(await q.pending()).toEqual([]);
    const res = await q.answer(p.id, { status: 'approved', by: 'bob' });
    expect(res.outcome).toBe('late');
    expect(res.answer.status).toBe('timeout');
  });

  it('calls onProgress while waiting and stops on abort', async () => {
    const q = queue('alpha');
    const p = await q.submit('egress-block', { host: 'b.example' });
    let ticks = 0;
    const ac = new AbortController();
    const waiting = q.wait(p.id, {
      timeoutMs: 20_000,
      progressIntervalMs: 50,
      signal: ac.signal,
      onProgress: () => {
        ticks++;
        if (ticks === 3) ac.abort(new Error('client went away'));
      },
    });
    await expect(waiting).rejects.toThrow('client went away');
    expect(ticks).toBe(3);
    // Aborting the wait leaves the proposal pending for the operator.
    expect((await q.pending()).map((x) => x.id)).toEqual([p.id]);
  });

  it('a retried identical ask reuses the undelivered proposal (restart of the asker)', async () => {
    const q = queue('alpha');
    const first = await q.submit('egress-block', { host: 'c.example', reason: 'r' }, { timeoutMs: 60_000 });
    const again = await new ProposalQueue(q.dir, 'alpha').submit('egress-block', { reason: 'r', host: 'c.example' }, { timeoutMs: 60_000 });
    expect(again.id).toBe(first.id);
    // Answered while the asker was down: the retry gets the answer, once.
    await q.answer(first.id, { status: 'approved', by: 'op' });
    const retry = await q.submit('egress-block', { host: 'c.example', reason: 'r' });
    expect(retry.id).toBe(first.id);
    expect((await q.wait(retry.id, { timeoutMs: 1000 })).status).toBe('approved');
    const fresh = await q.submit('egress-block', { host: 'c.example', reason: 'r' });
    expect(fresh.id).not.toBe(first.id);
  });

  it('lists pending proposals across bottles oldest first and finds by id', async () => {
    const a = queue('alpha');
    const b = queue('beta');
    const p1 = await a.submit('egress-block', { host: 'one.example' });
    await new Promise((r) => setTimeout(r, 5));
    const p2 = await b.submit('egress-block', { host: 'two.example' });
    await new Promise((r) => setTimeout(r, 5));
    const p3 = await a.submit('capability-block', { change: 'x' });
    expect((await listAllPending(root)).map((p) => p.id)).toEqual([p1.id, p2.id, p3.id]);
    const found = await findProposal(root, p2.id);
    expect(found?.queue.slug).toBe('beta');
    expect(await findProposal(root, 'zzzzzzzz-00000000')).toBeUndefined();
  });

  it('rejects malformed ids and slugs', async () => {
    expect(() => new ProposalQueue(join(root, 'x'), '../x')).toThrow(/slug/);
    await expect(queue('alpha').get('../../etc/passwd')).rejects.toThrow(/malformed/);
  });
});
