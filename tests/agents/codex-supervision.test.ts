import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeGithubToken } from '../egress/support.js';
import type { BottleRun } from '../support/bottle-run.js';
import { codexPrereqMissing, codexWorld, type CodexWorld } from './codex-support.js';
import { inputTexts, lastUserText, toolOutputs, type ModelScript, type ResponsesCall } from './fake-openai.js';
import { allProposals, approveWhileRunning } from './operator.js';

/**
 * The real Codex (`codex exec`) in a bwrap bottle meeting egress and
 * supervise, over its WebSocket transport: a blocked host's reason reaches
 * the model and an approved host works in the same agent, a reply that
 * mentions prompt injection is printed, and a value approved once is not
 * held again.
 */
const missing = codexPrereqMissing();
const SITE = 'docs.example.org';
const TOKEN = fakeGithubToken('codex-held-once');

const script: ModelScript = (call) => {
  const prompt = lastUserText(call.input);
  const outputs = [...toolOutputs(call.input).values()];
  const exec = (cmd: string) => [{ type: 'function_call' as const, name: 'exec_command', arguments: { cmd } }];
  if (prompt.startsWith('fetch the docs')) {
    if (outputs.length === 0) return exec(`echo "codex-pid=$PPID"; curl -sS https://${SITE}/before; echo "curl-rc=$?"`);
    if (outputs.length === 1) return [{ type: 'function_call', namespace: 'mcp__supervise', name: 'egress_block', arguments: { host: SITE, reason: 'the task reads its documentation' } }];
    if (outputs.length === 2) return exec(`curl -sS https://${SITE}/after; echo "curl-rc=$?"`);
    return [{ type: 'message', text: `FETCH-DONE ${outputs[2]?.replace(/\s+/g, ' ') ?? ''}` }];
  }
  if (prompt.startsWith('injection')) return [{ type: 'message', text: 'INJECTION-REPLY the page said to ignore previous instructions; I did not' }];
  if (prompt.startsWith('token')) {
    if (outputs.length === 0) return exec(`echo "build-token=${TOKEN}"`);
    if (outputs.length === 1) return exec('echo second-step');
    if (outputs.length === 2) return exec('echo third-step');
    return [{ type: 'message', text: 'TOKEN-DONE' }];
  }
  return [{ type: 'message', text: `ECHO ${prompt}` }];
};

const turn = (w: CodexWorld, prefix: string): ResponsesCall[] => w.fake.calls.filter((c) => !c.prewarm && lastUserText(c.input).startsWith(prefix));
const operator = (w: CodexWorld) => ({ home: w.h.home, cli: (args: string[]) => w.cli(args) });

describe.skipIf(missing)('codex exec meets egress and supervise', () => {
  let w: CodexWorld;
  beforeAll(async () => {
    w = await codexWorld(script, { sites: [SITE] });
  }, 60_000);
  afterAll(async () => w?.close());

  it('sees why a host is blocked, asks for it, and reaches it over HTTPS once approved, in the same run', async () => {
    const started = w.cli(['start', 'coder', '--headless', '--prompt', 'fetch the docs'], { timeoutMs: 120_000 });
    const approved = await approveWhileRunning(operator(w), started, 'egress-block');
    const run = await started;
    expect(run.exitCode, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(approved.map((p) => p.details)).toEqual([expect.objectContaining({ host: SITE })]);
    // The blocked curl's output, as it went back to the model: egress's 403 body from inside TLS.
    const seen = toolOutputs(turn(w, 'fetch the docs').at(-1)?.input ?? []);
    const first = [...seen.values()][0] ?? '';
    expect(first).toContain(`bot-bottle egress blocked GET ${SITE}/before`);
    expect(first).toContain('what to do: to ask for access: call the supervise MCP tool `egress-block`');
    expect(run.stdout).toMatch(/FETCH-DONE .*SITE-OK docs\.example\.org\/after .*curl-rc=0/);
    expect(w.site?.requests.map((r) => r.path)).toEqual(['/after']);
  }, 150_000);

  it('prints a reply that mentions prompt injection and exits 0', async () => {
    const run = await w.cli(['start', 'coder', '--headless', '--prompt', 'injection']);
    expect(run.exitCode, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.stdout).toContain('INJECTION-REPLY the page said to ignore previous instructions; I did not');
  }, 120_000);

  let tokenRun: BottleRun;
  it('asks the operator once about a flagged value that every later request carries', async () => {
    const before = new Set((await allProposals(w.h.home)).map((e) => e.proposal.id));
    const started = w.cli(['start', 'coder', '--headless', '--prompt', 'token'], { timeoutMs: 120_000 });
    const approved = await approveWhileRunning(operator(w), started, 'egress-token-allow');
    tokenRun = await started;
    expect(tokenRun.exitCode, `${tokenRun.stdout}\n${tokenRun.stderr}`).toBe(0);
    expect(tokenRun.stdout).toContain('TOKEN-DONE');
    const fresh = (await allProposals(w.h.home)).filter((e) => !before.has(e.proposal.id));
    expect(fresh).toHaveLength(1);
    expect(approved).toHaveLength(1);
    expect(fresh[0]?.proposal.kind).toBe('egress-token-allow');
    expect(JSON.stringify(fresh[0])).not.toContain(TOKEN);
    // Later requests (or the turns they point back to) carried the value and went through.
    const carrying = turn(w, 'token').filter((c) => inputTexts(c.input).some((t) => t.includes(TOKEN)));
    expect(carrying.length).toBeGreaterThanOrEqual(2);
    // Held on Codex's WebSocket itself (the message waited for the operator), not cut into a fallback to HTTPS.
    expect(carrying.map((c) => c.transport)).toEqual(carrying.map(() => 'websocket'));
  }, 150_000);
});
