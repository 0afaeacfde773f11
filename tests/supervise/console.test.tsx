import { readFile } from 'node:fs/promises';
import { render } from 'ink-testing-library';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EgressRoutePlan } from '../../src/routes/model.js';
import { SuperviseConsole, type ConsoleDeps } from '../../src/supervise/console/App.js';
import { consoleDeps } from '../../src/supervise/console/run.js';
import { ProposalQueue, type Answer } from '../../src/supervise/queue.js';
import { bottleStatePaths, queueDir } from '../../src/state/paths.js';
import { manifestRoute, tempHome, writeRoutes } from './helpers.js';

let home: string;
let cleanup: () => Promise<void>;
const unmounts: (() => void)[] = [];

beforeEach(async () => {
  ({ home, cleanup } = await tempHome());
});
afterEach(async () => {
  for (const u of unmounts.splice(0)) u();
  await cleanup();
});

const ESC = '\u001B';
const ENTER = '\r';

/** Bounded wait for a rendered frame (ink renders asynchronously after file events). */
async function until(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function mount(deps: ConsoleDeps): ReturnType<typeof render> {
  const app = render(<SuperviseConsole {...deps} />);
  unmounts.push(() => app.unmount());
  return app;
}

async function press(app: ReturnType<typeof render>, keys: string): Promise<void> {
  app.stdin.write(keys);
  await new Promise((r) => setTimeout(r, 30));
}

async function seed(): Promise<{ a: ProposalQueue; b: ProposalQueue; ids: string[] }> {
  await writeRoutes(home, 'alpha', [manifestRoute]);
  const a = new ProposalQueue(queueDir('alpha', home), 'alpha');
  const b = new ProposalQueue(queueDir('beta', home), 'beta');
  const p1 = await a.submit('egress-block', { host: 'registry.npmjs.org', reason: 'npm install' }, { timeoutMs: 60_000 });
  await new Promise((r) => setTimeout(r, 5));
  const p2 = await b.submit('capability-block', { change: 'apt-get install -y jq', reason: 'json' }, { timeoutMs: 60_000 });
  return { a, b, ids: [p1.id, p2.id] };
}

describe('supervise console (ink)', () => {
  it('lists pending proposals across bottles, oldest first, and opens a detail view', async () => {
    const { ids } = await seed();
    const app = mount(consoleDeps(home));
    await until(() => (app.lastFrame() ?? '').includes('2 pending'), 'the list');
    const frame = app.lastFrame() ?? '';
    expect(frame.indexOf(ids[0]!)).toBeLessThan(frame.indexOf(ids[1]!));
    expect(frame).toContain('registry.npmjs.org: npm install');
    expect(frame).toContain('beta');
    await press(app, 'j');
    await press(app, ENTER);
    await until(() => (app.lastFrame() ?? '').includes('from bottle beta'), 'the detail view');
    expect(app.lastFrame()).toContain('"change": "apt-get install -y jq"');
    await press(app, ESC);
    await until(() => (app.lastFrame() ?? '').includes('j/k move'), 'back to the list');
  });

  it('approves from the list: the answer is written and the route applied', async () => {
    const { a, ids } = await seed();
    const app = mount(consoleDeps(home));
    await until(() => (app.lastFrame() ?? '').includes('2 pending'), 'the list');
    const waiting = a.wait(ids[0]!, { timeoutMs: 10_000 });
    await press(app, 'a');
    const answer: Answer = await waiting;
    expect(answer.status).toBe('approved');
    expect(answer.by).toMatch(/^operator:/);
    await until(() => (app.lastFrame() ?? '').includes('is live and kept for resume'), 'the applied message');
    expect(app.lastFrame()).toContain('1 pending');
    const routes = JSON.parse(await readFile(bottleStatePaths('alpha', home).egressRoutes, 'utf8')) as EgressRoutePlan[];
    expect(routes.map((r) => r.host)).toEqual(['api.github.com', 'registry.npmjs.org']);
  });

  it('rejects with a reason typed in the UI', async () => {
    const { b, ids } = await seed();
    const app = mount(consoleDeps(home));
    await until(() => (app.lastFrame() ?? '').includes('2 pending'), 'the list');
    await press(app, 'j');
    await press(app, ENTER);
    await press(app, 'r');
    await until(() => (app.lastFrame() ?? '').includes('Reason for rejecting'), 'the reason prompt');
    await press(app, ENTER); // empty reason is refused
    await until(() => (app.lastFrame() ?? '').includes('type a reason'), 'the empty-reason hint');
    for (const ch of 'use the base image') await press(app, ch);
    await press(app, ENTER);
    const answer = await b.wait(ids[1]!, { timeoutMs: 5_000 });
    expect(answer).toMatchObject({ status: 'rejected', notes: 'use the base image' });
    await until(() => (app.lastFrame() ?? '').includes('1 pending'), 'the list to shrink');
  });

  it('edit-then-approve sends a modified answer with the edited details', async () => {
    const { a, ids } = await seed();
    const deps: ConsoleDeps = {
      ...consoleDeps(home),
      edit: (p) => Promise.resolve({ ...p.details, methods: ['GET'] }),
    };
    const app = mount(deps);
    await until(() => (app.lastFrame() ?? '').includes('2 pending'), 'the list');
    await press(app, 'e');
    const answer = await a.wait(ids[0]!, { timeoutMs: 5_000 });
    expect(answer).toMatchObject({ status: 'modified', details: { host: 'registry.npmjs.org', methods: ['GET'] } });
  });

  it('shows control characters from a proposal as visible escapes, never raw', async () => {
    const q = new ProposalQueue(queueDir('delta', home), 'delta');
    await q.submit(
      'egress-token-allow',
      { host: 'api.example.com', method: 'POST', path: '/v1', findings: [{ detector: 'token_patterns', rule: 'jwt', where: 'body', context: 'x\u001b[2Jy\u009b31m' }] },
      { timeoutMs: 60_000 },
    );
    const app = mount(consoleDeps(home));
    await until(() => (app.lastFrame() ?? '').includes('1 pending'), 'the list');
    expect(app.lastFrame()).toContain('x\\u001b[2Jy\\u009b31m');
    await press(app, ENTER);
    await until(() => (app.lastFrame() ?? '').includes('from bottle delta'), 'the detail view');
    const frame = app.lastFrame() ?? '';
    expect(frame).not.toContain('\u001b[2J');
    expect(frame).not.toContain('\u009b');
  });

  it('shows a held value by detector, place, owner and masked context, and answers "once" or "for this bottle"', async () => {
    const q = new ProposalQueue(queueDir('eps', home), 'eps');
    const details = (path: string) => ({
      host: 'api.anthropic.com',
      method: 'POST',
      path,
      findings: [
        {
          detector: 'known_secrets',
          rule: 'known-secret',
          masked: '****',
          length: 40,
          where: 'body',
          belongs_to: ['token slot EGRESS_TOKEN_0 (host variable GH_TOKEN, injected for api.github.com)'],
          context: '…"content":"the token is ⟨known_secrets/known-secret, 40 chars⟩ in .env"…',
        },
      ],
      scopes: ['bottle', 'once'],
    });
    const once = await q.submit('egress-token-allow', details('/v1/messages'), { timeoutMs: 60_000 });
    const app = mount(consoleDeps(home));
    // Long lines wrap at the test terminal's width.
    const frame = (): string => (app.lastFrame() ?? '').replace(/[\s│]+/g, ' ');
    await until(() => frame().includes('1 pending'), 'the list');
    expect(frame()).toContain('POST api.anthropic.com/v1/messages: known_secrets/known-secret of token slot EGRESS_TOKEN_0');
    expect(frame()).toContain('o allow once');
    await press(app, ENTER);
    await until(() => frame().includes('belongs to: token slot EGRESS_TOKEN_0 (host variable GH_TOKEN'), 'the detail view');
    expect(frame()).toContain('context: …"content":"the token is ⟨known_secrets/known-secret, 40 chars⟩ in .env"…');
    await press(app, 'o');
    expect(await q.wait(once.id, { timeoutMs: 5_000 })).toMatchObject({ status: 'approved', scope: 'once' });
    const bottle = await q.submit('egress-token-allow', details('/v1/other'), { timeoutMs: 60_000 });
    await until(() => frame().includes(bottle.id), 'the second proposal');
    await press(app, 'a');
    expect(await q.wait(bottle.id, { timeoutMs: 5_000 })).toMatchObject({ status: 'approved', scope: 'bottle' });
  });

  it('picks up new proposals while open and survives a console restart mid-wait', async () => {
    const app = mount(consoleDeps(home));
    await until(() => (app.lastFrame() ?? '').includes('nothing pending'), 'an empty list');
    const q = new ProposalQueue(queueDir('gamma', home), 'gamma');
    const p = await q.submit('git-push-allow', { ref: 'refs/heads/main', finding: 'GITHUB_TOKEN' }, { timeoutMs: 60_000 });
    const waiting = q.wait(p.id, { timeoutMs: 15_000 });
    await until(() => (app.lastFrame() ?? '').includes(p.id), 'the new proposal to appear');
    app.unmount();
    // A fresh console sees the same pending proposal and answers it.
    const again = mount(consoleDeps(home));
    await until(() => (again.lastFrame() ?? '').includes(p.id), 'the proposal after restart');
    await press(again, 'a');
    expect((await waiting).status).toBe('approved');
  });
});
