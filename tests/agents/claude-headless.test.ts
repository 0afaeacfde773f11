import { existsSync, readFileSync } from 'node:fs';
import { agentAudit } from '../support/audit.js';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BottleRun } from '../support/bottle-run.js';
import { CLAUDE_PLACEHOLDER, CLAUDE_TOOL_STEPS, claudeMissing, claudeRig, type ClaudeRig } from './claude-support.js';
import { PRECONNECTS_PER_TARGET } from '../../src/sidecars/egress/upstream.js';
import { conversationText } from './fake-anthropic.js';

/**
 * The real Claude Code (`claude -p`, installed from npm) in a bwrap bottle
 * against a fake Anthropic API on loopback. The scripted model makes real
 * tool calls: Bash, Write and a supervise MCP tool.
 */
const missing = claudeMissing();

describe.skipIf(missing)('claude -p in a bottle (OAuth token)', () => {
  let rig: ClaudeRig;
  let first: BottleRun;
  const prompt = [...CLAUDE_TOOL_STEPS, 'say: all done'].join('\n');

  beforeAll(async () => {
    rig = await claudeRig('agent_provider: {template: claude, auth_token: BOT_BOTTLE_CLAUDE_OAUTH_TOKEN}');
    first = await rig.cli(['start', 'coder', '--headless', '--prompt', prompt]);
  }, 180_000);
  afterAll(async () => rig?.close());

  it('runs Bash, Write and the supervise tool without a permission prompt, as an unprivileged user', () => {
    expect(first.exitCode, first.stderr).toBe(0);
    expect(first.stdout).toContain('FAKE-REPLY all done');
    expect(first.stdout).toContain('RESULT 1: 1000');
    expect(first.stdout).not.toMatch(/needs approval|haven't granted|requested permissions/);
    // The supervise server answered from inside the bottle: the route table it reports is the bottle's.
    expect(first.stdout).toMatch(/RESULT 3: .*api\.anthropic\.com/);
  });

  it('leaves the files the tools wrote in the workspace for the operator', () => {
    expect(rig.workspace('bash.txt')).toBe('from-bash\n');
    expect(rig.workspace('written.txt')).toBe('written by the Write tool');
  });

  it('sends the real token upstream; the agent, its output and its kept state only ever hold the placeholder', () => {
    const messages = rig.fake.calls.filter((c) => c.path.startsWith('/v1/messages'));
    expect(messages.length).toBeGreaterThanOrEqual(5);
    for (const call of rig.fake.requests) expect(call.headers.authorization).toBe(`Bearer ${rig.token}`);
    expect(first.stdout).toContain(`CLAUDE_CODE_OAUTH_TOKEN=${CLAUDE_PLACEHOLDER}`);
    expect(first.stdout + first.stderr).not.toContain(rig.token);
    expect(rig.stateText()).not.toContain(rig.token);
    expect(rig.stateText()).toContain('"hasCompletedOnboarding": true');
  });

  it('reaches nothing but the Messages API and the start-up checks it is routed for', () => {
    const paths = new Set(rig.fake.requests.map((r) => r.path.split('?')[0]));
    for (const path of paths) expect(['/v1/messages', '/api/claude_code/settings', '/api/claude_code/policy_limits']).toContain(path);
    const audit = readAudit(rig);
    expect(audit.filter((l) => l.decision !== 'allow')).toEqual([]);
  });

  it('egress connected ahead to the model API when the agent was released, and nowhere else', () => {
    const log = readFileSync(join(rig.h.home, 'state', rig.slug(), 'sidecars.log'), 'utf8');
    const events = log.split('\n').filter((l) => l.includes('egress-preconnect')).map((l) => JSON.parse(l.slice(l.indexOf('{'))) as { event: string; origin: string });
    expect(events.map((e) => [e.event, e.origin])).toEqual(Array.from({ length: PRECONNECTS_PER_TARGET }, () => ['egress-preconnected', 'https://api.anthropic.com:443']));
  });

  it('`resume --headless` continues the conversation: the model sees the earlier turns', async () => {
    const before = rig.fake.calls.length;
    const run = await rig.cli(['resume', rig.slug(), '--headless', '--prompt', 'say: second run']);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toContain('FAKE-REPLY second run');
    const later = rig.fake.calls.slice(before).filter((c) => (c.body.tools ?? []).some((t) => t.name === 'Bash'));
    expect(later.length).toBeGreaterThan(0);
    const seen = conversationText(later[0]!.body);
    expect(seen).toContain('from-bash');
    expect(seen).toContain('FAKE-REPLY all done');
    expect(run.stderr).toContain(`bot-bottle resume ${rig.slug()}`);
  }, 180_000);
});

describe.skipIf(missing)('claude -p in a bottle (API key, permission prompts kept)', () => {
  let rig: ClaudeRig;
  let run: BottleRun;

  beforeAll(async () => {
    rig = await claudeRig('agent_provider: {template: claude, api_key: BOT_BOTTLE_ANTHROPIC_API_KEY, permission_prompts: true}');
    run = await rig.cli(['start', 'coder', '--headless', '--prompt', 'mcp: mcp__supervise__list-egress-routes {}\nbash: echo no > /workspace/denied.txt\nsay: finished']);
  }, 180_000);
  afterAll(async () => rig?.close());

  it('injects the key as x-api-key; the agent holds only the placeholder', () => {
    expect(run.exitCode, run.stderr).toBe(0);
    expect(rig.fake.calls.length).toBeGreaterThan(0);
    for (const call of rig.fake.requests) {
      expect(call.headers['x-api-key']).toBe(rig.token);
      expect(call.headers.authorization).toBeUndefined();
    }
    expect(run.stdout + run.stderr).not.toContain(rig.token);
  });

  it("keeps Claude's prompts when asked to, but never for the supervise tools", () => {
    expect(run.stdout).toMatch(/RESULT 1: .*api\.anthropic\.com/);
    expect(run.stdout).toMatch(/RESULT 2: .*(approval|permission)/i);
    expect(existsSync(join(rig.h.home, 'state', rig.slug(), 'workspace', 'denied.txt'))).toBe(false);
  });
});

function readAudit(rig: ClaudeRig): Array<Record<string, unknown>> {
  return agentAudit(join(rig.h.home, 'state', rig.slug(), 'egress-audit.jsonl'));
}
