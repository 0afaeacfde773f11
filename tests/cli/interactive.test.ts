import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempHome } from '../support/home.js';
import { missingTool } from '../support/prereq.js';
import { tmuxServer } from '../support/tmux.js';

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli.js');
const missing = missingTool('tmux', ['-V']) ?? missingTool('bwrap') ?? missingTool('socat', ['-V']);

const { tmux, waitFor } = tmuxServer();

describe.skipIf(missing)('interactive start on a real terminal (tmux)', () => {
  it('shows the preflight, asks y/N, attaches the agent to the terminal and returns its exit code', async () => {
    const h = tempHome();
    const session = `bb-test-${process.pid}`;
    try {
      h.writeBottle('b', 'agent_provider: {template: shell}\negress:\n  routes:\n    - host: api.example.test');
      h.writeAgent('a', 'bottle: b');
      const command = `cd ${h.cwd} && env -i PATH=/usr/bin:/bin TERM=xterm BOT_BOTTLE_STANDBY=0 BOT_BOTTLE_HOME=${h.home} ${process.execPath} ${CLI} start a --backend bwrap --label tty; echo EXIT=$?; sleep 60`;
      tmux('new-session', '-d', '-s', session, '-x', '160', '-y', '50', command);
      const preflight = await waitFor(session, 'Launch this bottle? [y/N]');
      expect(preflight).toContain('api.example.test:443');
      expect(preflight).toContain('backend:   bwrap');
      tmux('send-keys', '-t', session, 'y', 'Enter');
      // The agent is bash on the same terminal.
      await new Promise((r) => setTimeout(r, 500));
      tmux('send-keys', '-t', session, 'echo inside-$((6*7)) $(hostname)', 'Enter');
      const inside = await waitFor(session, 'inside-42 tty');
      expect(inside).toContain('inside-42 tty');
      tmux('send-keys', '-t', session, 'exit 3', 'Enter');
      await waitFor(session, 'EXIT=3');
    } finally {
      try {
        tmux('kill-session', '-t', session);
      } catch {
        // Already gone.
      }
      h.cleanup();
    }
  });

  it('answering no launches nothing', async () => {
    const h = tempHome();
    const session = `bb-test-no-${process.pid}`;
    try {
      h.writeBottle('b', 'agent_provider: {template: shell}');
      h.writeAgent('a', 'bottle: b');
      tmux('new-session', '-d', '-s', session, '-x', '160', '-y', '50', `env -i PATH=/usr/bin:/bin BOT_BOTTLE_STANDBY=0 BOT_BOTTLE_HOME=${h.home} ${process.execPath} ${CLI} start a --backend bwrap; echo EXIT=$?; sleep 60`);
      await waitFor(session, 'Launch this bottle? [y/N]');
      tmux('send-keys', '-t', session, 'n', 'Enter');
      const screen = await waitFor(session, 'EXIT=1');
      expect(screen).toContain('not launched');
      expect(existsSync(join(h.home, 'state'))).toBe(false);
    } finally {
      try {
        tmux('kill-session', '-t', session);
      } catch {
        // Already gone.
      }
      h.cleanup();
    }
  });
});

describe.skipIf(missing)('prompted secrets', () => {
  it('asks for a `?` env value without echoing it and hands it to the agent only', async () => {
    const h = tempHome();
    const session = `bb-test-secret-${process.pid}`;
    try {
      h.writeBottle('b', 'agent_provider: {template: shell}\nenv:\n  API_KEY: "?paste the API key"');
      h.writeAgent('a', 'bottle: b');
      tmux('new-session', '-d', '-s', session, '-x', '160', '-y', '50', `env -i PATH=/usr/bin:/bin TERM=xterm BOT_BOTTLE_STANDBY=0 BOT_BOTTLE_HOME=${h.home} ${process.execPath} ${CLI} start a --backend bwrap; echo EXIT=$?; sleep 60`);
      await waitFor(session, 'Launch this bottle? [y/N]');
      tmux('send-keys', '-t', session, 'y', 'Enter');
      await waitFor(session, 'paste the API key:');
      tmux('send-keys', '-t', session, '-l', 'typed-secret-xyz');
      tmux('send-keys', '-t', session, 'Enter');
      await new Promise((r) => setTimeout(r, 700));
      tmux('send-keys', '-t', session, 'echo "len=${#API_KEY}"; exit', 'Enter');
      const screen = await waitFor(session, 'EXIT=0');
      expect(screen).toContain('len=16');
      expect(screen).not.toContain('typed-secret-xyz');
    } finally {
      try {
        tmux('kill-session', '-t', session);
      } catch {
        // Already gone.
      }
      h.cleanup();
    }
  });
});
