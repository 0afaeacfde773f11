import { readFile } from 'node:fs/promises';
import { Command } from '@commander-js/extra-typings';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { registerSupervise } from '../../src/cli/commands/supervise.js';
import { CliError, type CliContext } from '../../src/cli/context.js';
import { ProposalQueue } from '../../src/supervise/queue.js';
import { bottleStatePaths, homePaths, queueDir } from '../../src/state/paths.js';
import { manifestRoute, tempHome, writeRoutes } from './helpers.js';

let home: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ home, cleanup } = await tempHome());
});
afterEach(async () => {
  process.exitCode = undefined;
  await cleanup();
});

/** Runs `bot-bottle supervise ...` in-process with only this command registered. */
async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const ctx: CliContext = { home, cwd: home, env: {}, stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), isTTY: false };
  const program = new Command('bot-bottle').exitOverride().configureOutput({ writeOut: ctx.stdout, writeErr: ctx.stderr });
  registerSupervise(program, ctx);
  for (const c of program.commands) for (const s of [c, ...c.commands]) s.exitOverride().configureOutput({ writeOut: ctx.stdout, writeErr: ctx.stderr });
  process.exitCode = undefined;
  try {
    await program.parseAsync(argv, { from: 'user' });
    return { code: typeof process.exitCode === 'number' ? process.exitCode : 0, stdout, stderr };
  } catch (err) {
    if (err instanceof CliError) return { code: err.exitCode, stdout, stderr: stderr + err.message };
    return { code: 1, stdout, stderr: stderr + String(err) };
  }
}

describe('bot-bottle supervise (non-interactive)', () => {
  it('--once --json prints pending proposals with id, slug, kind, created_at and details', async () => {
    expect(JSON.parse((await run(['supervise', '--once', '--json'])).stdout)).toEqual([]);
    const q = new ProposalQueue(queueDir('alpha', home), 'alpha');
    const p = await q.submit('egress-block', { host: 'pypi.org', reason: 'pip' }, { timeoutMs: 60_000 });
    const out = await run(['supervise', '--once', '--json']);
    expect(out.code).toBe(0);
    const list = JSON.parse(out.stdout) as Record<string, unknown>[];
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ id: p.id, slug: 'alpha', kind: 'egress-block', created_at: p.created_at, details: { host: 'pypi.org', reason: 'pip' } });
    expect((await run(['supervise', '--once'])).stdout).toContain(`${p.id}`);
  });

  it('approve applies the route; reject needs and records a reason', async () => {
    await writeRoutes(home, 'alpha', [manifestRoute]);
    const q = new ProposalQueue(queueDir('alpha', home), 'alpha');
    const a = await q.submit('egress-block', { host: 'pypi.org', reason: 'pip' });
    const b = await q.submit('egress-block', { host: 'evil.example.com', reason: 'hmm' });
    const ok = await run(['supervise', 'approve', a.id, '--reason', 'fine']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('approved');
    expect((await q.readAnswer(a.id))?.notes).toBe('fine');
    const routes = JSON.parse(await readFile(bottleStatePaths('alpha', home).egressRoutes, 'utf8')) as { host: string }[];
    expect(routes.map((r) => r.host)).toEqual(['api.github.com', 'pypi.org']);

    expect((await run(['supervise', 'reject', b.id])).code).not.toBe(0);
    const rej = await run(['supervise', 'reject', b.id, '--reason', 'not for this task']);
    expect(rej.code).toBe(0);
    expect(await q.readAnswer(b.id)).toMatchObject({ status: 'rejected', notes: 'not for this task' });
    const again = await run(['supervise', 'approve', b.id]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('already answered');
    const audit = await readFile(`${homePaths(home).queueRoot}/audit.jsonl`, 'utf8');
    expect(audit).toContain('"reason":"not for this task"');
  });

  it('approve answers a held value for the bottle by default, or --scope once for this request only; a scope is refused elsewhere', async () => {
    const q = new ProposalQueue(queueDir('alpha', home), 'alpha');
    const details = (path: string) => ({ host: 'api.example.com', method: 'POST', path, findings: [{ detector: 'token_patterns', rule: 'jwt', where: 'body', context: 'x ⟨token_patterns/jwt, 120 chars⟩ y' }] });
    const a = await q.submit('egress-token-allow', details('/a'));
    const b = await q.submit('egress-token-allow', details('/b'));
    const listed = await run(['supervise', '--once']);
    expect(listed.stdout).toContain('POST api.example.com/a: token_patterns/jwt in body: x ⟨token_patterns/jwt, 120 chars⟩ y');
    const bottle = await run(['supervise', 'approve', a.id]);
    expect(bottle.stdout).toContain('for the rest of the bottle');
    expect(await q.readAnswer(a.id)).toMatchObject({ status: 'approved', scope: 'bottle' });
    const once = await run(['supervise', 'approve', b.id, '--scope', 'once']);
    expect(once.stdout).toContain('this request only');
    expect(await q.readAnswer(b.id)).toMatchObject({ status: 'approved', scope: 'once' });
    const route = await q.submit('egress-block', { host: 'pypi.org', reason: 'pip' });
    const refused = await run(['supervise', 'approve', route.id, '--scope', 'once']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('egress-token-allow');
    expect(await q.readAnswer(route.id)).toBeUndefined();
  });

  it('an answer after the timeout is reported late and exits non-zero', async () => {
    const q = new ProposalQueue(queueDir('alpha', home), 'alpha');
    const p = await q.submit('capability-block', { change: 'x', reason: 'y' }, { timeoutMs: 1 });
    await new Promise((r) => setTimeout(r, 20));
    const out = await run(['supervise', 'approve', p.id]);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('late');
    await expect(readFile(bottleStatePaths('alpha', home).approvedCapabilities, 'utf8')).rejects.toThrow();
  });

  it('unknown or malformed ids and a missing terminal give clear errors', async () => {
    expect((await run(['supervise', 'approve', '../etc'])).stderr).toContain('is not a proposal id');
    expect((await run(['supervise', 'approve', 'aaaaaaaa-00000000'])).stderr).toContain('no proposal with id');
    expect((await run(['supervise'])).stderr).toContain('needs a terminal');
    expect((await run(['supervise', '--json'])).stderr).toContain('--json needs --once');
  });
});
