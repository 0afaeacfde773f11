import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tmuxServer } from '../support/tmux.js';
import { missingTool } from '../support/prereq.js';
import { codexPrereqMissing, codexWorld, filesContaining, type CodexWorld } from './codex-support.js';
import { inputTexts, lastUserText, toolOutputs, type ModelScript } from './fake-openai.js';

/**
 * Interactive `codex` (its TUI) in a bwrap bottle on a real terminal (tmux):
 * no onboarding, login or trust screen; a prompt typed in runs a tool
 * without asking and the reply shows on screen; `bot-bottle resume` brings
 * the same conversation back.
 */
const missing = codexPrereqMissing() ?? missingTool('tmux', ['-V']);
const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli.js');

const script: ModelScript = (call) => {
  const prompt = lastUserText(call.input);
  const outputs = [...toolOutputs(call.input).values()];
  if (prompt.startsWith('write the note')) {
    if (outputs.length === 0) return [{ type: 'function_call', name: 'exec_command', arguments: { cmd: "printf 'from the tui\\n' > /workspace/note.txt" } }];
    return [{ type: 'message', text: 'NOTE-WRITTEN-42' }];
  }
  if (prompt.startsWith('do you remember')) {
    return [{ type: 'message', text: inputTexts(call.input).some((t) => t.startsWith('write the note')) ? 'REMEMBERED-THE-NOTE' : 'FORGOT-EVERYTHING' }];
  }
  return [{ type: 'message', text: `ECHO ${prompt}` }];
};

/** A tmux server of this file's own: nothing else on the machine can kill its sessions, nor it theirs. */
const TMUX_SOCKET = join(tmpdir(), `bb-codex-tmux-${process.pid}.sock`);

const { tmux, waitFor: waitOnPane } = tmuxServer(TMUX_SOCKET);
/** Codex's TUI is slower to draw: 30 s. */
const waitFor = (session: string, text: string, limitMs = 30_000): Promise<string> => waitOnPane(session, text, limitMs);

/** Type a line into the TUI: the text, then Enter on its own (a paste followed by Enter is taken as one paste). */
async function typeLine(session: string, text: string): Promise<void> {
  tmux('send-keys', '-t', session, '-l', text);
  await new Promise((r) => setTimeout(r, 300));
  tmux('send-keys', '-t', session, 'Enter');
}

describe.skipIf(missing)('codex interactive in a bwrap bottle (real Codex TUI, fake OpenAI API)', () => {
  let w: CodexWorld;
  const session = `bb-codex-${process.pid}`;

  beforeAll(async () => {
    w = await codexWorld(script);
  }, 60_000);

  afterAll(async () => {
    try {
      tmux('kill-server');
    } catch {
      // Already gone.
    }
    rmSync(TMUX_SOCKET, { force: true });
    await w?.close();
  });

  /** `/quit`, typed like a person would (a Ctrl-C that arrives after Codex has left would hit the pane's shell instead). */
  async function quitCodex(): Promise<void> {
    await typeLine(session, '/quit');
  }

  function launch(args: string): void {
    const env = Object.entries({ PATH: process.env.PATH ?? '/usr/bin:/bin', TERM: 'xterm-256color', ...w.env }).map(([k, v]) => `${k}=${v}`);
    const command = `cd ${w.h.cwd} && env -i ${env.map((e) => `'${e}'`).join(' ')} ${process.execPath} ${CLI} ${args}; echo EXIT=$?; sleep 60`;
    try {
      tmux('kill-session', '-t', session);
    } catch {
      // First launch.
    }
    tmux('new-session', '-d', '-s', session, '-x', '160', '-y', '50', command);
  }

  it('starts straight into Codex, runs the tool without asking and shows the reply', async () => {
    launch('start coder');
    await waitFor(session, 'Launch this bottle? [y/N]');
    tmux('send-keys', '-t', session, 'y', 'Enter');
    const ready = await waitFor(session, 'OpenAI Codex');
    await waitFor(session, '/workspace');
    for (const screen of [ready, tmux('capture-pane', '-p', '-t', session)]) {
      expect(screen).not.toMatch(/Sign in|Welcome to Codex|trust|Update available/i);
    }
    await typeLine(session, 'write the note');
    const after = await waitFor(session, 'NOTE-WRITTEN-42');
    expect(after).not.toMatch(/Allow|approve|Approval/i);
    const slug = w.slugs()[0] ?? '';
    expect(readFileSync(join(w.stateDir(slug), 'workspace', 'note.txt'), 'utf8')).toBe('from the tui\n');
    // Quitting Codex ends the bottle, with Codex's exit code, and the bottle says how to come back.
    // (Codex 0.171 also prints its own `codex resume <id>`, which no setting turns off.)
    await quitCodex();
    const end = await waitFor(session, 'EXIT=0');
    expect(end).toContain(`bot-bottle resume ${slug}`);
    // Codex's own start-up calls that egress refused (its remote announcement tip, which no setting stops); nothing else.
    const others = w.audit(slug).filter((e) => e.host !== 'api.openai.com');
    for (const e of others) expect([e.host, e.decision]).toEqual(['raw.githubusercontent.com', 'block']);
    expect(filesContaining(w.stateDir(slug), w.key)).toEqual([]);
  });

  it('`resume` reopens the same conversation', async () => {
    const slug = w.slugs()[0] ?? '';
    launch(`resume ${slug}`);
    await waitFor(session, 'Launch this bottle? [y/N]');
    tmux('send-keys', '-t', session, 'y', 'Enter');
    // The earlier exchange is back on screen before anything is typed.
    await waitFor(session, 'NOTE-WRITTEN-42');
    await typeLine(session, 'do you remember?');
    const screen = await waitFor(session, 'REMEMBERED');
    expect(screen).toContain('REMEMBERED-THE-NOTE');
    await quitCodex();
    await waitFor(session, 'EXIT=0');
  });
});
