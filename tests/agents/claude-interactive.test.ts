import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingTool } from '../support/prereq.js';
import { claudeMissing, claudeRig, TmuxCli, type ClaudeRig } from './claude-support.js';
import { conversationText } from './fake-anthropic.js';

/**
 * Interactive Claude Code from the shipped `claude` bottle on a real terminal
 * (tmux): it starts straight at its prompt with the injected token, answers,
 * and `bot-bottle --resume <session>` (what Claude itself prints at exit)
 * continues the same conversation in the same bottle.
 */
const missing = claudeMissing([() => missingTool('tmux', ['-V'])]);

/** What must never show: onboarding, a login, failed checks, and advice that cannot work from the host. */
const NEVER = [/Welcome to Claude Code/, /Select login method/i, /Choose the text style/i, /Unable to connect/i, /missing or broken/i, /Auto-update failed/i, /claude --resume/, /Do you want to use this API key/i];

describe.skipIf(missing)('interactive claude in a bottle (tmux)', () => {
  let rig: ClaudeRig;
  let firstExit: string;
  let session: string;

  beforeAll(async () => {
    rig = await claudeRig('');
    // The shipped example bottle and agent, as `bot-bottle init --examples` installs them (README: `bot-bottle start claude`).
    cpSync('examples/bottles/claude.md', join(rig.h.home, 'bottles', 'claude.md'));
    cpSync('examples/agents/claude.md', join(rig.h.home, 'agents', 'claude.md'));
  }, 60_000);
  afterAll(async () => rig?.close());

  it('starts at its prompt without onboarding, runs a tool without asking, and shows the reply', async () => {
    const tty = new TmuxCli(rig);
    try {
      await tty.start(['start', 'claude']);
      await tty.waitFor('Launch this bottle? [y/N]');
      await tty.keys('y', 'Enter');
      const ready = await tty.waitFor(/bypass permissions on/);
      for (const never of NEVER) expect(ready).not.toMatch(never);
      await tty.submit('bash: echo from-the-terminal > /workspace/tty.txt && id -u ;; say: a reply on screen');
      const replied = await tty.waitFor('FAKE-REPLY a reply on screen');
      expect(replied).toContain('RESULT 1: 1000');
      expect(rig.workspace('tty.txt')).toBe('from-the-terminal\n');
      await tty.submit('/exit');
      firstExit = await tty.exited();
    } finally {
      await tty.kill();
    }
    for (const never of NEVER) expect(firstExit).not.toMatch(never);
    expect(firstExit).toContain('EXIT=0');
    // Claude's own exit hint names a command that works from the host, and bot-bottle says how to resume the bottle.
    session = /bot-bottle --resume ([0-9a-f-]{36})/.exec(firstExit)?.[1] ?? '';
    expect(session).not.toBe('');
    expect(firstExit).toContain(`bot-bottle resume ${rig.slug()}`);
    for (const call of rig.fake.requests) expect(call.headers.authorization).toBe(`Bearer ${rig.token}`);
    expect(rig.stateText()).not.toContain(rig.token);
  }, 180_000);

  it('`bot-bottle --resume <session>` reopens the conversation: its history is on screen and the model sees it', async () => {
    expect(session).not.toBe('');
    const before = rig.fake.calls.length;
    const tty = new TmuxCli(rig);
    try {
      await tty.start(['--resume', session]);
      const preflight = await tty.waitFor('Launch this bottle? [y/N]');
      expect(preflight).toContain(`--resume ${session}`);
      await tty.keys('y', 'Enter');
      const reopened = await tty.waitFor('FAKE-REPLY a reply on screen');
      for (const never of NEVER) expect(reopened).not.toMatch(never);
      await tty.waitFor(/bypass permissions on/);
      await tty.submit('say: second session');
      await tty.waitFor('FAKE-REPLY second session');
      await tty.submit('/exit');
      expect(await tty.exited()).toContain('EXIT=0');
    } finally {
      await tty.kill();
    }
    const later = rig.fake.calls.slice(before).filter((c) => (c.body.tools ?? []).some((t) => t.name === 'Bash'));
    expect(later.length).toBeGreaterThan(0);
    expect(conversationText(later.at(-1)!.body)).toContain('from-the-terminal');
  }, 180_000);
});

describe.skipIf(missing)('interactive claude with an API key (tmux)', () => {
  let rig: ClaudeRig;
  beforeAll(async () => {
    rig = await claudeRig('agent_provider: {template: claude, api_key: BOT_BOTTLE_ANTHROPIC_API_KEY}');
  }, 60_000);
  afterAll(async () => rig?.close());

  it('starts without asking whether to use the key, and the key reaches the upstream as x-api-key', async () => {
    const tty = new TmuxCli(rig);
    let screen: string;
    try {
      await tty.start(['start', 'coder']);
      await tty.waitFor('Launch this bottle? [y/N]');
      await tty.keys('y', 'Enter');
      screen = await tty.waitFor(/bypass permissions on/);
      await tty.submit('say: keyed reply');
      screen += await tty.waitFor('FAKE-REPLY keyed reply');
      await tty.submit('/exit');
      screen += await tty.exited();
    } finally {
      await tty.kill();
    }
    for (const never of NEVER) expect(screen).not.toMatch(never);
    expect(screen).toContain('EXIT=0');
    expect(rig.fake.calls.length).toBeGreaterThan(0);
    for (const call of rig.fake.requests) expect(call.headers['x-api-key']).toBe(rig.token);
  }, 180_000);
});
