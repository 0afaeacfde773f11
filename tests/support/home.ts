import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { CliContext } from '../../src/cli/context.js';
import { runCli } from '../../src/cli/program.js';

export interface TempHome {
  root: string;
  home: string;
  cwd: string;
  userHome: string;
  writeBottle(name: string, frontmatter: string, body?: string): string;
  writeAgent(name: string, frontmatter: string, body?: string): string;
  writeRepoAgent(name: string, frontmatter: string, body?: string): string;
  write(relative: string, text: string): string;
  cleanup(): void;
}

/** A throwaway $BOT_BOTTLE_HOME, repo cwd and user home for one test. */
export function tempHome(): TempHome {
  const root = mkdtempSync(join(tmpdir(), 'bb-test-'));
  const home = join(root, 'bbhome');
  const cwd = join(root, 'repo');
  const userHome = join(root, 'user');
  for (const d of [home, cwd, userHome]) mkdirSync(d, { recursive: true });
  const write = (path: string, text: string): string => {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    return path;
  };
  const md = (frontmatter: string, body = ''): string => `---\n${frontmatter.trim()}\n---\n${body}\n`;
  return {
    root,
    home,
    cwd,
    userHome,
    writeBottle: (name, fm, body) => write(join(home, 'bottles', `${name}.md`), md(fm, body)),
    writeAgent: (name, fm, body) => write(join(home, 'agents', `${name}.md`), md(fm, body)),
    writeRepoAgent: (name, fm, body) => write(join(cwd, '.bot-bottle', 'agents', `${name}.md`), md(fm, body)),
    write: (relative, text) => write(join(root, relative), text),
    cleanup: () => rmSync(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }),
  };
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the CLI in-process against a temp home, capturing output. */
export async function cli(h: TempHome, argv: string[], env: Record<string, string> = {}): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const ctx: CliContext = {
    home: h.home,
    cwd: h.cwd,
    env: { PATH: process.env.PATH, BOT_BOTTLE_PRECONNECT: '0', BOT_BOTTLE_STANDBY: '0', ...env },
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    isTTY: false,
  };
  const code = await runCli(argv, ctx);
  return { code, stdout, stderr };
}
