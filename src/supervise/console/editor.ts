import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Proposal } from '../queue.js';

/**
 * Opens the proposal's details in $VISUAL/$EDITOR as JSON and returns the
 * edit, or undefined when the operator left it unchanged or emptied it.
 * The editor inherits the terminal; the caller has taken ink out of raw mode.
 */
export async function editInEditor(proposal: Proposal, env: NodeJS.ProcessEnv = process.env): Promise<Record<string, unknown> | undefined> {
  const editor = env.VISUAL || env.EDITOR || 'vi';
  const dir = await mkdtemp(join(tmpdir(), 'bb-supervise-edit-'));
  const file = join(dir, `${proposal.id}.json`);
  const original = `${JSON.stringify(proposal.details, null, 2)}\n`;
  try {
    await writeFile(file, original, { mode: 0o600 });
    // $EDITOR may carry arguments ("code --wait"); run it through the shell like git does, with the path as "$1".
    const res = spawnSync('/bin/sh', ['-c', `${editor} "$1"`, 'editor', file], { stdio: 'inherit' });
    if (res.error) throw new Error(`cannot start editor ${JSON.stringify(editor)}: ${res.error.message}`, { cause: res.error });
    if (res.status !== 0) throw new Error(`editor ${JSON.stringify(editor)} exited with status ${res.status ?? res.signal}`);
    const text = await readFile(file, 'utf8');
    if (!text.trim() || text === original) return undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new Error(`the edited file is not valid JSON: ${(err as Error).message}`, { cause: err });
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('the edited details must be a JSON object');
    return parsed as Record<string, unknown>;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
