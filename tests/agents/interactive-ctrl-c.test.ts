import { cpSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingTool } from '../support/prereq.js';
import { claudeMissing, claudeRig, TmuxCli, type ClaudeRig } from './claude-support.js';

/**
 * A Ctrl-C typed while an attached bottle starts, before the agent has the
 * terminal, does not end the bottle: the agent still starts and answers.
 */
const missing = claudeMissing([() => missingTool('tmux', ['-V'])]);

/** Every descendant of `root`, with its command line (from /proc). */
function descendants(root: number): Array<{ pid: number; cmdline: string }> {
  const parent = new Map<number, number>();
  const cmd = new Map<number, string>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      cmd.set(Number(name), readFileSync(`/proc/${name}/cmdline`, 'utf8').replaceAll('\0', ' '));
    } catch {
      // Gone meanwhile.
    }
  }
  const out: Array<{ pid: number; cmdline: string }> = [];
  const within = (pid: number): boolean => {
    for (let p = pid, hops = 0; p > 1 && hops < 64; p = parent.get(p) ?? 0, hops++) if (p === root) return true;
    return false;
  };
  for (const [pid, cmdline] of cmd) if (pid !== root && within(pid)) out.push({ pid, cmdline });
  return out;
}

describe.skipIf(missing)('Ctrl-C while an attached bottle starts', () => {
  let rig: ClaudeRig;

  beforeAll(async () => {
    rig = await claudeRig('');
    cpSync('examples/bottles/claude.md', join(rig.h.home, 'bottles', 'claude.md'));
    cpSync('examples/agents/claude.md', join(rig.h.home, 'agents', 'claude.md'));
  }, 60_000);
  afterAll(async () => rig?.close());

  it('does not end the bottle: the agent starts and answers', async () => {
    const tty = new TmuxCli(rig);
    try {
      await tty.start(['start', 'claude']);
      await tty.waitFor('Launch this bottle? [y/N]');
      const pane = await tty.panePid();
      await tty.keys('y', 'Enter');
      // Ctrl-C once the sandbox's init runs and before the agent does (its containment probe still runs then).
      const until = Date.now() + 30_000;
      let starting = false;
      while (!starting && Date.now() < until) {
        const procs = descendants(pane);
        if (procs.some((p) => p.cmdline.includes('/run/bot-bottle/init.sh')) && procs.some((p) => p.cmdline.includes('containment/probe.cjs'))) starting = true;
        else await new Promise((r) => setTimeout(r, 20));
      }
      expect(starting).toBe(true);
      await tty.keys('C-c');
      const ready = await tty.waitFor(/bypass permissions on/);
      expect(ready).not.toMatch(/containment check failed|not released|stopped; resume with/);
      await tty.submit('say: still here after ctrl-c');
      await tty.waitFor('FAKE-REPLY still here after ctrl-c');
      await tty.submit('/exit');
      const end = await tty.exited();
      expect(end).toContain('EXIT=0');
      expect(end).toContain(`bot-bottle resume ${rig.slug()}`);
    } finally {
      await tty.kill();
    }
  }, 180_000);
});
