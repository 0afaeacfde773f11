import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { createAudit } from '../../src/sidecars/egress/audit.js';

describe('egress audit file (batched writes)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'egress-audit-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const rec = (path: string) => ({ method: 'GET', host: 'a.test', path, route: 'a.test', decision: 'allow' as const, status: 200 });

  it('writes every record as one JSON line, in order, shortly after the request and on close', async () => {
    const file = join(dir, 'audit.jsonl');
    const logged: Record<string, unknown>[] = [];
    const audit = createAudit('b1', file, (e) => logged.push(e));
    for (let i = 0; i < 50; i++) audit.write(rec(`/p${i}`));
    // Without close: the batch reaches the file within a few event-loop turns.
    let lines: string[] = [];
    for (let i = 0; i < 100 && lines.length < 50; i++) {
      await sleep(10);
      lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    }
    expect(lines).toHaveLength(50);
    audit.write(rec('/last'));
    await audit.close();
    const all = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(all.map((l) => l.path)).toEqual([...Array.from({ length: 50 }, (_, i) => `/p${i}`), '/last']);
    expect(all[0]).toMatchObject({ bottle: 'b1', event: 'egress-request', decision: 'allow' });
    expect(logged).toEqual([]);
  });

  it('leaves undefined fields out of the line, and writes what is pending when the process exits without close()', async () => {
    const file = join(dir, 'exit.jsonl');
    // A child that writes two records and exits at once: no timer, no close().
    const src = `import { createAudit } from ${JSON.stringify(join(process.cwd(), 'src/sidecars/egress/audit.ts'))};
      const a = createAudit('b4', ${JSON.stringify(file)}, () => undefined);
      a.write({ method: 'GET', host: 'h.test', path: '/1', route: null, decision: 'block', status: 403, reason: undefined });
      a.write({ method: 'GET', host: 'h.test', path: '/2', route: 'h.test', decision: 'allow' });
      process.exit(0);`;
    await execa('node', ['--import', 'tsx', '--input-type=module', '-e', src]);
    const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(2);
    expect(Object.keys(lines[0]!)).toEqual(['time', 'bottle', 'event', 'method', 'host', 'path', 'route', 'decision', 'status']);
    expect(lines[1]).toMatchObject({ bottle: 'b4', event: 'egress-request', path: '/2', route: 'h.test', decision: 'allow' });
  });

  it('without a file, records go to the sidecar log at once', () => {
    const logged: Record<string, unknown>[] = [];
    const audit = createAudit('b2', undefined, (e) => logged.push(e));
    audit.write(rec('/x'));
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ bottle: 'b2', event: 'egress-request', path: '/x' });
  });
});

describe('egress audit file errors', () => {
  it('fails at start-up, naming the field, when the audit file cannot be opened', () => {
    expect(() => createAudit('b3', join(tmpdir(), 'no-such-dir-egress-audit', 'a.jsonl'), () => undefined)).toThrow(/egress\.auditLog .*cannot open/);
  });
});

describe('egress audit files in an untrusted state folder', () => {
  it('refuses an audit log that is a symlink, and replaces a planted reserve symlink without touching its target', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'egress-audit-links-'));
    try {
      const victim = join(dir, 'victim');
      writeFileSync(victim, 'precious');
      symlinkSync(victim, join(dir, 'linked.jsonl'));
      expect(() => createAudit('b5', join(dir, 'linked.jsonl'), () => undefined)).toThrow(/egress\.auditLog .*cannot open/);
      symlinkSync(victim, join(dir, 'a.jsonl.reserve'));
      const audit = createAudit('b5', join(dir, 'a.jsonl'), () => undefined);
      expect(lstatSync(join(dir, 'a.jsonl.reserve')).isSymbolicLink()).toBe(false);
      expect(readFileSync(victim, 'utf8')).toBe('precious');
      await audit.close();
      expect(existsSync(join(dir, 'a.jsonl.reserve'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
