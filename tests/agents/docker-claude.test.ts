import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DockerRuntime } from '../../src/backends/docker/runtime.js';
import { agentAudit } from '../support/audit.js';
import type { BottleRun } from '../support/bottle-run.js';
import { secretSightings } from '../support/docker-sightings.js';
import { dockerAgentMissing } from '../support/docker-upstream.js';
import { CLAUDE_PLACEHOLDER, CLAUDE_TOOL_STEPS, claudeRig, type ClaudeRig } from './claude-support.js';
import { conversationText } from './fake-anthropic.js';
import { approveWhenAsked } from './operator.js';

/**
 * The real Claude Code (`claude -p`, from the claude agent image) in a docker
 * bottle, `start --backend docker --headless`, against the fake Anthropic API
 * behind a relay container on the bottle's egress network. The scripted
 * model runs Bash, Write and the supervise tools; its egress-block question
 * reaches the operator, who approves while the bottle is up and is searched
 * for the token: the agent container's inspect, processes and files, and the
 * bundle's inspect and processes' initial environments.
 */
for (const runtime of ['runc', 'runsc'] as DockerRuntime[]) {
  describe.skipIf(dockerAgentMissing(runtime, 'claude'))(`claude -p in a docker bottle (${runtime})`, () => {
    let rig: ClaudeRig;
    let run: BottleRun;
    let sightings: string[] | undefined;
    const prompt = [...CLAUDE_TOOL_STEPS, 'mcp: mcp__supervise__egress-block {"host":"docs.example.org","reason":"the task needs its documentation"}', 'say: all done'].join('\n');

    beforeAll(async () => {
      rig = await claudeRig('agent_provider: {template: claude, auth_token: BOT_BOTTLE_CLAUDE_OAUTH_TOKEN}', '', { docker: runtime });
      const running = rig.cli(['start', 'coder', '--backend', 'docker', '--headless', '--prompt', prompt], 300_000);
      // The operator, in another terminal: while the agent waits on the question, look for the token, then approve.
      const asked = await approveWhenAsked({ home: rig.h.home, kind: 'egress-block', cli: (args) => rig.cli(args), whileWaiting: () => secretSightings(rig.slug(), rig.token), limitMs: 240_000 });
      sightings = asked?.seen;
      run = await running;
    }, 600_000);
    afterAll(async () => rig?.close(), 60_000);

    it('runs Bash, Write and the supervise tools without a permission prompt, as the unprivileged agent', () => {
      expect(run.exitCode, `${run.stdout}\n${run.stderr}`).toBe(0);
      expect(run.stdout).toContain('FAKE-REPLY all done');
      expect(run.stdout).toContain('RESULT 1: 1000');
      expect(run.stdout).not.toMatch(/needs approval|haven't granted|requested permissions/);
      // The supervise server answered from inside the bottle: the route table it reports is the bottle's.
      expect(run.stdout).toMatch(/RESULT 3: .*api\.anthropic\.com/);
    });

    it('leaves the files the tools wrote in the workspace for the operator', () => {
      expect(rig.workspace('bash.txt')).toBe('from-bash\n');
      expect(rig.workspace('written.txt')).toBe('written by the Write tool');
    });

    it("brings the operator's approval back to the model", () => {
      expect(sightings).toBeDefined();
      expect(run.stdout).toMatch(/RESULT 5: .*approved/);
    });

    it('sends the real token upstream; the agent, its containers and its kept state only ever hold the placeholder', () => {
      const messages = rig.fake.calls.filter((c) => c.path.startsWith('/v1/messages'));
      expect(messages.length).toBeGreaterThanOrEqual(6);
      for (const call of rig.fake.requests) expect(call.headers.authorization).toBe(`Bearer ${rig.token}`);
      expect(run.stdout).toContain(`CLAUDE_CODE_OAUTH_TOKEN=${CLAUDE_PLACEHOLDER}`);
      expect(sightings).toEqual([]);
      expect(run.stdout + run.stderr).not.toContain(rig.token);
      expect(rig.stateText()).not.toContain(rig.token);
    });

    it('reaches nothing but the Messages API and the start-up checks it is routed for', () => {
      const paths = new Set(rig.fake.requests.map((r) => r.path.split('?')[0]));
      for (const path of paths) expect(['/v1/messages', '/api/claude_code/settings', '/api/claude_code/policy_limits']).toContain(path);
      const audit = agentAudit(join(rig.h.home, 'state', rig.slug(), 'egress-audit.jsonl'));
      expect(audit.length).toBeGreaterThan(0);
      expect(audit.filter((l) => l.decision !== 'allow')).toEqual([]);
    });

    it('`resume --headless` continues the conversation: the model sees the earlier turns', async () => {
      const before = rig.fake.calls.length;
      const again = await rig.cli(['resume', rig.slug(), '--headless', '--prompt', 'say: second run'], 300_000);
      expect(again.exitCode, `${again.stdout}\n${again.stderr}`).toBe(0);
      expect(again.stdout).toContain('FAKE-REPLY second run');
      const later = rig.fake.calls.slice(before).filter((c) => (c.body.tools ?? []).some((t) => t.name === 'Bash'));
      expect(later.length).toBeGreaterThan(0);
      const seen = conversationText(later[0]!.body);
      expect(seen).toContain('from-bash');
      expect(seen).toContain('FAKE-REPLY all done');
      expect(rig.stateText()).not.toContain(rig.token);
    }, 300_000);
  });
}
