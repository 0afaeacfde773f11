import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeMetadata } from '../../src/state/metadata.js';
import { cli, tempHome, type TempHome } from '../support/home.js';

/**
 * Claude Code in a bottle ends with "Resume this session with: bot-bottle
 * --resume <id>" (CLAUDE_CODE_RESUME_HINT_COMMAND): that command finds the
 * bottle holding the conversation and resumes it with `claude --resume <id>`.
 */
let h: TempHome;
afterEach(() => h.cleanup());

const ID = '5999fc57-0c1d-4a67-a92c-d1c18a6e9e68';

async function bottleWithConversation(slug: string, id: string): Promise<void> {
  await writeMetadata(h.home, { slug, agent: 'coder', bottles: ['c'], backend: 'bwrap', cwd: h.cwd, copy_cwd: false, label: slug, color: 'cyan', started_at: new Date().toISOString() });
  const project = join(h.home, 'state', slug, 'agent-home', '.claude', 'projects', '-workspace');
  mkdirSync(project, { recursive: true });
  writeFileSync(join(project, `${id}.jsonl`), '{}\n');
}

describe('bot-bottle --resume <claude session>', () => {
  it('resumes the bottle that holds the conversation, continuing exactly that one', async () => {
    h = tempHome();
    h.writeBottle('c', 'agent_provider: {template: claude, auth_token: TOK}');
    h.writeAgent('coder', 'bottle: c');
    await bottleWithConversation('coder-1111', '0f6c5b7e-1d2a-4c3b-9e8f-7a6b5c4d3e2f');
    await bottleWithConversation('coder-2222', ID);
    const run = await cli(h, ['--resume', ID, '--dry-run'], { TOK: 'x' });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('bottle coder-2222');
    expect(run.stdout).toContain(`--permission-mode bypassPermissions --resume ${ID}`);
    expect(run.stdout).not.toContain('--continue');
  });

  it('says so when no bottle holds it, and never looks up anything but a session id', async () => {
    h = tempHome();
    expect((await cli(h, ['--resume', ID])).stderr).toContain(`no bottle holds the Claude conversation "${ID}"`);
    await bottleWithConversation('coder-3333', ID);
    expect((await cli(h, ['--resume', '../../etc/passwd'])).stderr).toContain('no bottle holds the Claude conversation "../../etc/passwd"');
    expect((await cli(h, ['resume', 'coder-3333', '--session', 'x', '--dry-run'])).stderr).toContain('bottle coder-3333 holds no Claude conversation "x"');
  });
});
