import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DockerRuntime } from '../../src/backends/docker/runtime.js';
import { PLACEHOLDER_TOKEN } from '../../src/plan/placeholder.js';
import type { BottleRun } from '../support/bottle-run.js';
import { secretSightings } from '../support/docker-sightings.js';
import { dockerAgentMissing } from '../support/docker-upstream.js';
import { CODEX_TEST_MODEL, codexScript, codexTurn, codexWorld, filesContaining, type CodexWorld } from './codex-support.js';
import { inputTexts, toolOutputs } from './fake-openai.js';
import { approveWhenAsked } from './operator.js';

/**
 * The real Codex (`codex exec`, from the codex agent image) in a docker
 * bottle, `start --backend docker --headless`, against the fake OpenAI API
 * behind a relay container on the bottle's egress network: a shell command
 * writes into the workspace, supervise's egress_block reaches the operator
 * (who approves while the bottle is up and is searched for the key), over
 * Codex's WebSocket transport.
 */
for (const runtime of ['runc', 'runsc'] as DockerRuntime[]) {
  describe.skipIf(dockerAgentMissing(runtime, 'codex'))(`codex exec in a docker bottle (${runtime})`, () => {
    let w: CodexWorld;
    let run: BottleRun;
    let slug = '';
    let sightings: string[] | undefined;

    beforeAll(async () => {
      w = await codexWorld(codexScript, { docker: runtime });
      const running = w.cli(['start', 'coder', '--backend', 'docker', '--headless', '--prompt', 'make hello'], { timeoutMs: 300_000 });
      // The operator, in another terminal: while Codex waits on the question, look for the key, then approve.
      const asked = await approveWhenAsked({ home: w.h.home, kind: 'egress-block', cli: (args) => w.cli(args), whileWaiting: () => secretSightings(w.slugs()[0] ?? '', w.key), limitMs: 240_000 });
      sightings = asked?.seen;
      run = await running;
      slug = w.slugs()[0] ?? '';
    }, 600_000);
    afterAll(async () => w?.close(), 60_000);

    it('runs tools without prompts: the file Codex wrote is in the workspace for the operator', () => {
      expect(run.exitCode, `${run.stdout}\n${run.stderr}`).toBe(0);
      expect(run.stdout).toContain('HELLO-DONE');
      expect(readFileSync(join(w.stateDir(slug), 'workspace', 'hello.txt'), 'utf8')).toBe('written by codex\n');
    });

    it("reaches the supervise MCP server: the operator's approval comes back to the model", () => {
      expect(sightings).toBeDefined();
      expect(run.stdout).toContain('HELLO-DONE operator said: approved');
    });

    it('puts the real key on the wire and only a placeholder in the bottle: env, files, processes, docker inspect', () => {
      const calls = codexTurn(w, 'make hello');
      expect(calls.length).toBeGreaterThanOrEqual(3);
      for (const call of calls) expect(call.headers.authorization).toBe(`Bearer ${w.key}`);
      // What the agent saw of its own environment and credentials file, as the tool output reached the model.
      const seen = [...toolOutputs(calls.at(-1)?.input ?? []).values()][0] ?? '';
      expect(seen).toContain(`OPENAI_API_KEY=${PLACEHOLDER_TOKEN}`);
      expect(seen).toContain(`"OPENAI_API_KEY": "${PLACEHOLDER_TOKEN}"`);
      expect(sightings).toEqual([]);
      expect(w.fake.calls.some((c) => JSON.stringify(c.body).includes(w.key))).toBe(false);
      expect(run.stdout + run.stderr).not.toContain(w.key);
      expect(filesContaining(w.stateDir(slug), w.key)).toEqual([]);
    });

    it("uses Codex's WebSocket transport and the agent manifest's model, and makes no request egress must refuse", () => {
      const calls = codexTurn(w, 'make hello');
      expect(calls.every((c) => c.transport === 'websocket')).toBe(true);
      expect(calls.every((c) => c.body.model === CODEX_TEST_MODEL)).toBe(true);
      const audit = w.audit(slug);
      expect(audit.some((e) => e.host === 'api.openai.com' && e.status === 101)).toBe(true);
      expect(audit.filter((e) => e.host !== 'api.openai.com')).toEqual([]);
    });

    it('`resume` continues the conversation: the model sees the earlier turns', async () => {
      const resumed = await w.cli(['resume', slug, '--headless', '--prompt', 'what did I ask first?'], { timeoutMs: 300_000 });
      expect(resumed.exitCode, `${resumed.stdout}\n${resumed.stderr}`).toBe(0);
      expect(resumed.stdout).toContain('RESUMED: first you asked me to make hello');
      expect(inputTexts(codexTurn(w, 'what did I ask first')[0]?.input ?? []).some((t) => t.includes('HELLO-DONE'))).toBe(true);
      expect(filesContaining(w.stateDir(slug), w.key)).toEqual([]);
    }, 300_000);

    it("finds the tools Codex ships for its agent (ripgrep) on the agent's PATH", async () => {
      const rg = await w.cli(['start', 'coder', '--backend', 'docker', '--headless', '--prompt', 'which rg'], { timeoutMs: 300_000 });
      expect(rg.exitCode, `${rg.stdout}\n${rg.stderr}`).toBe(0);
      expect(rg.stdout).toMatch(/RG .*ripgrep \d+.* login ripgrep \d+/);
    }, 300_000);
  });
}
