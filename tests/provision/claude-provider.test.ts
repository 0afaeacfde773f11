import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBottleCli } from '../support/bottle-run.js';
import { tempHome } from '../support/home.js';
import { missingTool } from '../support/prereq.js';

/**
 * The claude provider as the agent program sees it. A stand-in `claude` on
 * the host PATH (Claude Code itself needs the network) reports its argv,
 * its environment and its MCP registration from inside the bottle.
 */
describe.skipIf(missingTool('bwrap') ?? missingTool('socat', ['-V']))('claude provider inside a bwrap bottle', () => {
  it('runs the host program headless with -p, the agent prompt, a placeholder token and the supervise MCP server registered', async () => {
    const h = tempHome();
    try {
      const bin = join(h.userHome, '.local', 'bin');
      mkdirSync(bin, { recursive: true });
      writeFileSync(
        join(bin, 'claude'),
        ['#!/bin/sh', 'for a in "$@"; do echo "ARG $a"; done', 'echo "TOKEN $CLAUDE_CODE_OAUTH_TOKEN"', 'echo "MCP $(cat "$HOME/.claude.json" | tr -d " \\n")"', 'echo "SECRET-IN-ENV $(env | grep -c real-oauth-secret)"', ''].join('\n'),
      );
      chmodSync(join(bin, 'claude'), 0o755);
      h.writeBottle('c', 'agent_provider: {template: claude, auth_token: MY_CLAUDE_TOKEN}');
      h.writeAgent('coder', 'bottle: c', 'You write careful code.');
      const run = await runBottleCli(['start', 'coder', '--headless', '--prompt', 'fix the bug'], {
        cwd: h.cwd,
        env: { BOT_BOTTLE_HOME: h.home, BOT_BOTTLE_BACKEND: 'bwrap', MY_CLAUDE_TOKEN: 'real-oauth-secret-value', PATH: `${bin}:${process.env.PATH ?? ''}` },
      });
      expect(run.exitCode, run.stderr).toBe(0);
      const lines = run.stdout.split('\n');
      expect(lines.filter((l) => l.startsWith('ARG '))).toEqual(['ARG --append-system-prompt', 'ARG You write careful code.', 'ARG -p', 'ARG fix the bug']);
      expect(lines).toContain('TOKEN bot-bottle-placeholder-egress-injects-the-real-token');
      expect(lines).toContain('MCP {"mcpServers":{"supervise":{"type":"http","url":"http://127.0.0.1:8419/mcp"}}}');
      expect(lines).toContain('SECRET-IN-ENV 0');
      expect(run.stdout + run.stderr).not.toContain('real-oauth-secret-value');
    } finally {
      h.cleanup();
    }
  });
});
