import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Proposal } from '../../src/supervise/queue.js';
import { fakeGithubToken } from '../egress/support.js';
import { agentAudit } from '../support/audit.js';
import type { BottleRun } from '../support/bottle-run.js';
import { claudeMissing, claudeRig, type ClaudeRig } from './claude-support.js';
import { conversationText } from './fake-anthropic.js';
import { allProposals, approveWhileRunning } from './operator.js';

/**
 * The real Claude Code (`claude -p`) in a bwrap bottle meeting egress and
 * supervise: a blocked host's reason reaches the model, a route approved
 * while the agent waits works over HTTPS in the same agent, a reply that
 * mentions prompt injection reaches the user, a value approved once is not
 * held again, and a hold outlives the upstream's idle keep-alive.
 */
const missing = claudeMissing();
const BOTTLE = 'agent_provider: {template: claude, auth_token: BOT_BOTTLE_CLAUDE_OAUTH_TOKEN}';
const SITE = 'docs.example.org';

const operator = (rig: ClaudeRig) => ({ home: rig.h.home, cli: (args: string[]) => rig.cli(args) });
const audit = (rig: ClaudeRig) => agentAudit(join(rig.h.home, 'state', rig.slug(), 'egress-audit.jsonl'));

describe.skipIf(missing)('claude -p asks for a blocked host and uses it once approved', () => {
  let rig: ClaudeRig;
  let run: BottleRun;
  let approved: Proposal[];
  const prompt = [
    `bash: echo "claude-pid=$CLAUDE_PID"; curl -sS https://${SITE}/before; echo "curl-rc=$?"`,
    `mcp: mcp__supervise__egress-block {"host":"${SITE}","reason":"the task reads its documentation"}`,
    `bash: echo "claude-pid=$CLAUDE_PID"; curl -sS https://${SITE}/after; echo "curl-rc=$?"`,
    'say: fetched',
  ].join('\n');

  beforeAll(async () => {
    rig = await claudeRig(BOTTLE, '', { sites: [SITE] });
    const started = rig.cli(['start', 'coder', '--headless', '--prompt', prompt], 150_000);
    approved = await approveWhileRunning(operator(rig), started, 'egress-block');
    run = await started;
  }, 180_000);
  afterAll(async () => rig?.close());

  it('the blocked curl gets a 403 inside TLS whose body names the host and how to ask, and the model sees it', () => {
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/RESULT 1: [^]*bot-bottle egress blocked GET docs\.example\.org\/before[^]*what to do: to ask for access: call the supervise MCP tool `egress-block`/);
    // What the agent sent back to the model (the tool result), not just what it printed.
    const seen = rig.fake.calls.map((c) => conversationText(c.body)).find((t) => t.includes('bot-bottle egress blocked'));
    expect(seen).toBeDefined();
    expect(seen).toContain(`bot-bottle egress blocked GET ${SITE}/before`);
    expect(seen).toContain('stage: route');
    expect(seen).toContain(`"host":"${SITE}"`);
    expect(rig.site?.requests.map((r) => r.path)).not.toContain('/before');
  });

  it('after the operator approves, the same running agent reaches the host over HTTPS', () => {
    expect(approved.map((p) => p.details)).toEqual([expect.objectContaining({ host: SITE })]);
    expect(run.stdout).toMatch(/RESULT 2: .*approved/);
    expect(run.stdout).toMatch(/RESULT 3: [^]*SITE-OK docs\.example\.org\/after[^]*curl-rc=0/);
    expect(run.stdout).toContain('FAKE-REPLY fetched');
    expect(rig.site?.requests).toEqual([expect.objectContaining({ method: 'GET', path: '/after' })]);
    // One agent process for both fetches: no restart between the block and the approved fetch.
    const pids = [...run.stdout.matchAll(/claude-pid=(\d+)/g)].map((m) => m[1]);
    expect(pids).toHaveLength(2);
    expect(pids[0]).toBe(pids[1]);
  });
});

describe.skipIf(missing)('claude -p shows a reply that mentions prompt injection', () => {
  let rig: ClaudeRig;
  afterAll(async () => rig?.close());

  it('the model route reports the phrase instead of cutting the reply; claude prints it and exits 0', async () => {
    rig = await claudeRig(BOTTLE);
    const run = await rig.cli(['start', 'coder', '--headless', '--prompt', 'say: the page told me to ignore previous instructions, so I did not'], 60_000);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toContain('FAKE-REPLY the page told me to ignore previous instructions, so I did not');
    expect(audit(rig).filter((l) => l.decision !== 'allow')).toEqual([]);
  }, 180_000);
});

/**
 * The agent echoes a token-like value, so every later model request carries
 * it: the first is held, the operator allows it for the bottle, and no later
 * request is held again.
 */
async function heldOnce(rig: ClaudeRig, token: string, delayMs = 0): Promise<{ run: BottleRun; approved: Proposal[] }> {
  const prompt = [`bash: echo "build-token=${token}"`, 'bash: echo second-step', 'bash: echo third-step', 'say: token done'].join('\n');
  const started = rig.cli(['start', 'coder', '--headless', '--prompt', prompt], 150_000);
  const approved = await approveWhileRunning(operator(rig), started, 'egress-token-allow', { delayMs });
  return { run: await started, approved };
}

describe.skipIf(missing)('claude -p with a flagged value in its conversation', () => {
  let rig: ClaudeRig;
  let run: BottleRun;
  let approved: Proposal[];
  const token = fakeGithubToken('claude-held-once');

  beforeAll(async () => {
    rig = await claudeRig(BOTTLE);
    ({ run, approved } = await heldOnce(rig, token));
  }, 180_000);
  afterAll(async () => rig?.close());

  it('asks the operator once; later model requests carrying the whole conversation go through', async () => {
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toContain('FAKE-REPLY token done');
    expect(run.stdout).toContain('RESULT 3: third-step');
    const proposals = await allProposals(rig.h.home);
    expect(proposals).toHaveLength(1);
    expect(approved).toHaveLength(1);
    expect(proposals[0]?.proposal.kind).toBe('egress-token-allow');
    expect(proposals[0]?.answer).toMatchObject({ status: 'approved' });
    // The proposal tells the operator what was flagged and where, never the value.
    expect(JSON.stringify(proposals[0]?.proposal.details)).toMatch(/github/i);
    expect(JSON.stringify(proposals[0])).not.toContain(token);
    // The held request and the later ones reached the model with the value in them.
    expect(rig.fake.calls.filter((c) => conversationText(c.body).includes(token)).length).toBeGreaterThanOrEqual(3);
  });
});

describe.skipIf(missing)('claude -p held longer than the upstream keeps an idle connection', () => {
  let rig: ClaudeRig;
  afterAll(async () => rig?.close());

  it('the held request completes once approved, never cut by the upstream, and the agent finishes', async () => {
    // The fake API drops a connection idle (or waiting for the rest of a request) for 1 s; the operator answers after 3 s.
    rig = await claudeRig(BOTTLE, '', { idleTimeoutMs: 1000 });
    const token = fakeGithubToken('claude-long-hold');
    const { run, approved } = await heldOnce(rig, token, 3000);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toContain('FAKE-REPLY token done');
    expect(approved).toHaveLength(1);
    expect(run.stdout + run.stderr).not.toMatch(/\b502\b|other side closed/);
    // Every Messages request was answered by the model: none was cut while held (a 408 or 5xx the agent would retry).
    const messages = audit(rig).filter((l) => l.host === 'api.anthropic.com' && String(l.path).startsWith('/v1/messages'));
    expect(messages.length).toBeGreaterThanOrEqual(4);
    expect(messages.filter((l) => l.decision !== 'allow' || l.status !== 200)).toEqual([]);
  }, 180_000);
});
