import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAllPending } from '../../src/supervise/queue.js';
import { homePaths } from '../../src/state/paths.js';
import { PLACEHOLDER_TOKEN } from '../../src/plan/placeholder.js';
import type { BottleRun } from '../support/bottle-run.js';
import { CODEX_TEST_MODEL, codexPackageRoot, codexPrereqMissing, codexWorld, filesContaining, type CodexWorld } from './codex-support.js';
import { inputTexts, lastUserText, toolOutputs, type ModelScript, type ResponsesCall } from './fake-openai.js';

/**
 * The real Codex CLI (npm, pinned by scripts/install-agents.sh) run headless
 * (`codex exec`) in a bwrap bottle against a fake OpenAI Responses API on
 * loopback. The scripted model issues real tool calls: a shell command that
 * writes into the workspace, and the supervise MCP server's egress-block,
 * which the operator approves while Codex waits.
 */
const missing = codexPrereqMissing();

const script: ModelScript = (call) => {
  const prompt = lastUserText(call.input);
  const outputs = [...toolOutputs(call.input).values()];
  if (prompt.startsWith('make hello')) {
    if (outputs.length === 0) {
      return [{ type: 'function_call', name: 'exec_command', arguments: { cmd: "printf 'written by codex\\n' > /workspace/hello.txt && env | sort && cat ~/.codex/auth.json" } }];
    }
    if (outputs.length === 1) {
      return [{ type: 'function_call', namespace: 'mcp__supervise', name: 'egress_block', arguments: { host: 'docs.example.org', reason: 'the task needs its documentation' } }];
    }
    return [{ type: 'message', text: `HELLO-DONE operator said: ${/"status":\s*"(\w+)"/.exec(outputs[1] ?? '')?.[1] ?? 'nothing'}` }];
  }
  if (prompt.startsWith('what did I ask first')) {
    const earlier = inputTexts(call.input).some((t) => t.startsWith('make hello'));
    return [{ type: 'message', text: earlier ? 'RESUMED: first you asked me to make hello' : 'RESUMED-WITHOUT-HISTORY' }];
  }
  if (prompt.startsWith('where is codex')) {
    if (outputs.length === 0) {
      // Which codex binary is running (the launcher execs the native one from the platform package).
      return [{ type: 'function_call', name: 'exec_command', arguments: { cmd: 'for p in /proc/[0-9]*; do readlink "$p/exe"; done | grep /codex$ | sort -u; touch /opt/bot-bottle/lib/node_modules/@openai/codex/x 2>&1; echo "touch-rc=$?"' } }];
    }
    return [{ type: 'message', text: `WHERE ${outputs[0]?.replace(/\s+/g, ' ') ?? ''}` }];
  }
  return [{ type: 'message', text: `ECHO ${prompt}` }];
};

/** Calls of one turn: those whose prompt (the last user message) starts with `prefix`. */
const turn = (w: CodexWorld, prefix: string): ResponsesCall[] => w.fake.calls.filter((c) => !c.prewarm && lastUserText(c.input).startsWith(prefix));

describe.skipIf(missing)('codex headless in a bwrap bottle (real Codex, fake OpenAI API)', () => {
  let w: CodexWorld;
  let first: BottleRun;
  let slug: string;

  beforeAll(async () => {
    w = await codexWorld(script);
    const run = w.cli(['start', 'coder', '--headless', '--prompt', 'make hello']);
    // The operator, in another terminal: approve what the agent asks for through supervise.
    const until = Date.now() + 60_000;
    let approved = false;
    while (!approved && Date.now() < until) {
      const pending = await listAllPending(homePaths(w.h.home).queueRoot);
      const ask = pending.find((p) => p.kind === 'egress-block');
      if (ask) {
        const answer = await w.cli(['supervise', 'approve', ask.id]);
        expect(answer.exitCode, answer.stderr).toBe(0);
        approved = true;
      } else await new Promise((r) => setTimeout(r, 100));
    }
    first = await run;
    slug = w.slugs()[0] ?? '';
  }, 120_000);

  afterAll(async () => {
    await w?.close();
  });

  it('runs tools without prompts: the file Codex wrote is in the workspace for the operator', () => {
    expect(first.exitCode, `${first.stdout}\n${first.stderr}`).toBe(0);
    expect(first.stdout).toContain('HELLO-DONE');
    expect(readFileSync(join(w.stateDir(slug), 'workspace', 'hello.txt'), 'utf8')).toBe('written by codex\n');
  });

  it('reaches the supervise MCP server: the operator\'s approval comes back to the model', () => {
    expect(first.stdout).toContain('HELLO-DONE operator said: approved');
    const calls = turn(w, 'make hello');
    expect(calls.at(-1)?.input.some((i) => i.type === 'function_call' && i.namespace === 'mcp__supervise' && i.name === 'egress_block')).toBe(true);
  });

  it('puts the real key on the wire to api.openai.com and only a placeholder in the bottle', () => {
    const calls = turn(w, 'make hello');
    expect(calls.length).toBeGreaterThanOrEqual(3);
    for (const call of calls) expect(call.headers.authorization).toBe(`Bearer ${w.key}`);
    // What the agent saw of its own environment and credentials file, as the tool output reached the model.
    const seen = [...toolOutputs(calls.at(-1)?.input ?? []).values()][0] ?? '';
    expect(seen).toContain(`OPENAI_API_KEY=${PLACEHOLDER_TOKEN}`);
    expect(seen).toContain(`"OPENAI_API_KEY": "${PLACEHOLDER_TOKEN}"`);
    expect(w.fake.calls.some((c) => JSON.stringify(c.body).includes(w.key))).toBe(false);
    expect(first.stdout + first.stderr).not.toContain(w.key);
    expect(filesContaining(w.stateDir(slug), w.key)).toEqual([]);
  });

  it('uses Codex\'s WebSocket transport, the agent manifest\'s model, and makes no request egress must refuse', () => {
    const calls = turn(w, 'make hello');
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.every((c) => c.transport === 'websocket')).toBe(true);
    expect(calls.every((c) => c.body.model === CODEX_TEST_MODEL)).toBe(true);
    // No update check, analytics, model or plugin discovery: every request went to the model API.
    const audit = w.audit(slug);
    expect(audit.some((e) => e.host === 'api.openai.com' && e.status === 101)).toBe(true);
    expect(audit.filter((e) => e.host !== 'api.openai.com')).toEqual([]);
  });

  it('`resume` continues the conversation: the model sees the earlier turns', async () => {
    const resumed = await w.cli(['resume', slug, '--headless', '--prompt', 'what did I ask first?']);
    expect(resumed.exitCode, `${resumed.stdout}\n${resumed.stderr}`).toBe(0);
    expect(resumed.stdout).toContain('RESUMED: first you asked me to make hello');
    // A new Codex process, the same session: its first request carries (or, over the WebSocket, points back
    // to with previous_response_id) the first run's turns, including the model's final answer.
    const call = turn(w, 'what did I ask first')[0];
    expect(inputTexts(call?.input ?? []).some((t) => t.includes('HELLO-DONE'))).toBe(true);
    expect(filesContaining(w.stateDir(slug), w.key)).toEqual([]);
  });

  it('falls back to SSE when the API refuses WebSockets, and streams the reply', async () => {
    w.fake.websocket = false;
    try {
      const run = await w.cli(['start', 'coder', '--headless', '--prompt', 'over sse']);
      expect(run.exitCode, `${run.stdout}\n${run.stderr}`).toBe(0);
      expect(run.stdout).toContain('ECHO over sse');
      const calls = turn(w, 'over sse');
      expect(calls.length).toBeGreaterThan(0);
      expect(calls.every((c) => c.transport === 'sse')).toBe(true);
      expect(calls.every((c) => c.headers.authorization === `Bearer ${w.key}`)).toBe(true);
    } finally {
      w.fake.websocket = true;
    }
  });

  it('starts a Codex installed with npm outside /usr: its whole package is bound read-only, nothing copied', async () => {
    // `npm install -g` with a user prefix (nvm, ~/.npm-global): the same package, hard-linked into a prefix of its own.
    const prefix = join(w.h.root, 'npm-prefix');
    const pkg = join(prefix, 'lib', 'node_modules', '@openai', 'codex');
    mkdirSync(join(prefix, 'lib', 'node_modules', '@openai'), { recursive: true });
    execFileSync('cp', ['-al', codexPackageRoot(), pkg]);
    mkdirSync(join(prefix, 'bin'));
    symlinkSync('../lib/node_modules/@openai/codex/bin/codex.js', join(prefix, 'bin', 'codex'));
    const run = await w.cli(['start', 'coder', '--headless', '--prompt', 'where is codex'], { env: { PATH: `${join(prefix, 'bin')}:/usr/bin:/bin` } });
    expect(run.exitCode, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.stdout).toContain('/opt/bot-bottle/lib/node_modules/@openai/codex/node_modules/@openai/codex-linux-');
    expect(run.stdout).not.toContain('/usr/lib/node_modules/@openai/codex/node_modules');
    expect(run.stdout).toMatch(/Read-only file system touch-rc=1/);
    const runDir = join(w.stateDir(w.slugs().at(-1) ?? ''), 'run');
    expect(existsSync(runDir)).toBe(false);
  });
});
