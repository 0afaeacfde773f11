import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBottleCli } from '../support/bottle-run.js';
import { tempHome } from '../support/home.js';
import { bundlePids, CLI, processesExactly, processesWith } from '../support/lifecycle.js';
import { missingTool } from '../support/prereq.js';
import { tmuxServer } from '../support/tmux.js';

const missing = missingTool('tmux', ['-V']) ?? missingTool('bwrap') ?? missingTool('socat', ['-V']);

const { tmux, waitFor, waitForCount } = tmuxServer();

/** The CLI the pane's shell started (its only child). */
function cliPid(session: string): number {
  const shell = tmux('display-message', '-p', '-t', session, '#{pane_pid}').trim();
  const children = readFileSync(`/proc/${shell}/task/${shell}/children`, 'utf8').trim().split(/\s+/).map(Number);
  const cli = children.find((pid) => readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes(CLI));
  if (cli === undefined) throw new Error(`no CLI among the pane's processes ${children.join(', ')}`);
  return cli;
}

/**
 * An attached bottle ends when it is told to from outside: `bot-bottle stop`
 * from another terminal, SIGTERM, or SIGHUP (its terminal went away). Each
 * tears everything down and the CLI exits non-zero; Ctrl-C stays the agent's.
 */
describe.skipIf(missing)('stopping an interactive bottle (tmux)', () => {
  const ways: Array<{ name: string; exit: number; says: string; act: (session: string, slug: string, home: string) => Promise<void> }> = [
    {
      name: '`bot-bottle stop <slug>` from a second process',
      exit: 143,
      says: 'received SIGTERM',
      act: async (_session, slug, home) => {
        const stop = await runBottleCli(['stop', slug], { cwd: '/', env: { BOT_BOTTLE_HOME: home } });
        expect(stop.stdout).toBe(`stopped ${slug}`);
        expect(stop.exitCode).toBe(0);
      },
    },
    { name: 'SIGTERM to the CLI', exit: 143, says: 'received SIGTERM', act: (session) => Promise.resolve(process.kill(cliPid(session), 'SIGTERM')).then(() => undefined) },
    { name: 'SIGHUP to the CLI', exit: 129, says: 'received SIGHUP', act: (session) => Promise.resolve(process.kill(cliPid(session), 'SIGHUP')).then(() => undefined) },
  ];

  for (const way of ways) {
    it(`${way.name} ends it with teardown and exit ${way.exit}`, async () => {
      const h = tempHome();
      const slug = `tty-${randomBytes(3).toString('hex')}`;
      const session = `bb-stop-${slug}`;
      const marker = `${600 + Math.floor(Math.random() * 300)}.${Math.floor(Math.random() * 1e6)}`;
      try {
        h.writeBottle('b', 'agent_provider: {template: shell}');
        h.writeAgent('a', 'bottle: b');
        const command = `cd ${h.cwd} && env -i PATH=/usr/bin:/bin TERM=xterm BOT_BOTTLE_STANDBY=0 BOT_BOTTLE_HOME=${h.home} ${process.execPath} ${CLI} start a --backend bwrap --label ${slug}; echo EXIT=$?; sleep 60`;
        tmux('new-session', '-d', '-s', session, '-x', '160', '-y', '50', command);
        await waitFor(session, 'Launch this bottle? [y/N]');
        tmux('send-keys', '-t', session, 'y', 'Enter');
        // The agent's prompt: bash reads the terminal from now on.
        const prompt = `agent@${slug}:`;
        const prompts = (await waitFor(session, prompt)).split(prompt).length - 1;
        // Ctrl-C at the agent's prompt is the agent's business: the bottle keeps running.
        tmux('send-keys', '-t', session, 'C-c');
        // Type only once bash has handled the SIGINT (a fresh prompt): readline
        // drops whatever part of the line it has read when the signal lands.
        await waitForCount(session, prompt, prompts + 1);
        tmux('send-keys', '-t', session, `sleep ${marker} & echo bg-$((20+22))`, 'Enter');
        await waitFor(session, 'bg-42');
        // bash may echo before its background child has exec'd sleep: look again for a bounded while.
        for (let i = 0; i < 50 && processesExactly(`sleep ${marker}`).length === 0; i++) await new Promise((r) => setTimeout(r, 100));
        expect(processesExactly(`sleep ${marker}`)).toHaveLength(1);
        expect(bundlePids(h.home, slug)).toHaveLength(1);

        await way.act(session, slug, h.home);
        const screen = await waitFor(session, `EXIT=${way.exit}`);
        expect(screen).toContain(`${way.says}; stopping bottle ${slug}`);
        expect(processesWith(`sleep ${marker}`)).toEqual([]);
        expect(bundlePids(h.home, slug)).toEqual([]);
        expect(existsSync(join(h.home, 'state', slug, 'run'))).toBe(false);
      } finally {
        try {
          tmux('kill-session', '-t', session);
        } catch {
          // Already gone.
        }
        h.cleanup();
      }
    }, 60_000);
  }
});
