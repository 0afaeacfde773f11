import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DockerRuntime } from '../../src/backends/docker/runtime.js';
import type { BottleRun } from '../support/bottle-run.js';
import { dockerAgentMissing } from '../support/docker-upstream.js';
import { claudeRig, type ClaudeRig } from './claude-support.js';

/**
 * `start --backend docker --headless` with the `shell` template: the prompt
 * is a bash script run as the agent in its container; what it writes lands in
 * the workspace for the operator, and its request to api.anthropic.com goes
 * through the bundle (token injected) to the fake API behind a relay
 * container on the egress network.
 */
for (const runtime of ['runc', 'runsc'] as DockerRuntime[]) {
  describe.skipIf(dockerAgentMissing(runtime))(`the shell agent in a docker bottle (${runtime})`, () => {
    let rig: ClaudeRig;
    let run: BottleRun;
    const prompt = [
      'echo from-the-shell > /workspace/shell.txt',
      'echo "uid=$(id -u) home=$HOME"',
      `curl -sS --max-time 30 -X POST -H 'content-type: application/json' -d '{"messages":[{"role":"user","content":"hi"}]}' https://api.anthropic.com/v1/messages; echo`,
      'echo "token-in-env=$(env | grep -c sk-ant-oat01)"',
    ].join('\n');

    beforeAll(async () => {
      rig = await claudeRig('agent_provider: {template: shell}\negress:\n  routes:\n    - host: api.anthropic.com\n      auth: {scheme: Bearer, token_ref: BOT_BOTTLE_CLAUDE_OAUTH_TOKEN}', '', { docker: runtime });
      run = await rig.cli(['start', 'coder', '--backend', 'docker', '--headless', '--prompt', prompt], 300_000);
    }, 600_000);
    afterAll(async () => rig?.close(), 60_000);

    it('runs the prompt as the unprivileged agent and leaves what it wrote in the workspace', () => {
      expect(run.exitCode, `${run.stdout}\n${run.stderr}`).toBe(0);
      expect(run.stdout).toContain('uid=1000 home=/home/agent');
      expect(rig.workspace('shell.txt')).toBe('from-the-shell\n');
    });

    it('reaches the fake API through the bundle with the token injected; the agent never holds it', () => {
      expect(run.stdout).toMatch(/"type":"message"/);
      expect(rig.fake.requests.length).toBe(1);
      expect(rig.fake.requests[0]?.headers.authorization).toBe(`Bearer ${rig.token}`);
      expect(run.stdout).toContain('token-in-env=0');
      expect(run.stdout + run.stderr).not.toContain(rig.token);
      expect(rig.stateText()).not.toContain(rig.token);
    });
  });
}
