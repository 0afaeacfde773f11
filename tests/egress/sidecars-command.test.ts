import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { route } from './support.js';

const cli = ['--import', 'tsx', 'src/cli/main.ts', 'sidecars'];

describe('bot-bottle sidecars --config', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sidecars-cmd-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('exits non-zero with a message naming the bad field', async () => {
    const cfg = join(dir, 'bad.json');
    writeFileSync(cfg, JSON.stringify({ bottle: 'b1', egress: { listen: { host: '127.0.0.1', port: 'x' }, routesFile: 'r', caCertOut: 'c' } }));
    const r = await execa('node', [...cli, '--config', cfg], { reject: false, timeout: 20_000 });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain('egress.listen');
  });

  it('exits non-zero when the routes file is bad at start-up', async () => {
    const routes = join(dir, 'bad-routes.json');
    writeFileSync(routes, JSON.stringify([{ host: 'x.test' }]));
    const cfg = join(dir, 'bad-routes-cfg.json');
    writeFileSync(cfg, JSON.stringify({ bottle: 'b1', egress: { listen: { host: '127.0.0.1', port: 0 }, routesFile: routes, caCertOut: join(dir, 'ca0.pem') } }));
    const r = await execa('node', [...cli, '--config', cfg], { reject: false, timeout: 20_000 });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain('routes file');
  });

  it('prints one ready line, reloads on SIGHUP, and stops cleanly on SIGTERM (unix socket listener)', async () => {
    const routes = join(dir, 'routes.json');
    writeFileSync(routes, JSON.stringify([route('a.test', 443)]));
    const sock = join(dir, 'egress.sock');
    const ca = join(dir, 'ca.pem');
    const cfg = join(dir, 'ok.json');
    writeFileSync(cfg, JSON.stringify({ bottle: 'b1', egress: { listen: { socket: sock }, routesFile: routes, caCertOut: ca } }));
    const child = execa('node', [...cli, '--config', cfg], { reject: false, timeout: 25_000 });
    const lines: Record<string, unknown>[] = [];
    const waitFor = (pred: (l: Record<string, unknown>) => boolean) =>
      new Promise<Record<string, unknown>>((resolve, reject) => {
        const found = lines.find(pred);
        if (found) return resolve(found);
        const t = setTimeout(() => reject(new Error(`timed out; got ${JSON.stringify(lines)}`)), 15_000);
        child.stdout.on('data', () => {
          const hit = lines.find(pred);
          if (hit) {
            clearTimeout(t);
            resolve(hit);
          }
        });
      });
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const parts = buf.split('\n');
      buf = parts.pop()!;
      for (const p of parts) if (p.trim()) lines.push(JSON.parse(p) as Record<string, unknown>);
    });
    const ready = await waitFor((l) => l.event === 'ready');
    expect(ready.egress).toEqual({ listen: sock, caCert: ca });
    expect(readFileSync(ca, 'utf8')).toContain('BEGIN CERTIFICATE');
    writeFileSync(routes, JSON.stringify([route('a.test', 443), route('b.test', 443)]));
    child.kill('SIGHUP');
    const reloaded = await waitFor((l) => l.event === 'egress-routes-reloaded');
    expect(reloaded.routes).toBe(2);
    child.kill('SIGTERM');
    const r = await child;
    expect(r.exitCode).toBe(0);
    expect(lines.filter((l) => l.event === 'ready')).toHaveLength(1);
    expect(lines.some((l) => l.event === 'stopped')).toBe(true);
  });
});
