import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_RESERVE_BYTES } from '../../src/sidecars/egress/audit-reserve.js';
import { missingTool } from '../support/prereq.js';
import { curl, makeUpstreamPki, route, startUpstream, type Harness } from './support.js';
import { RawWs } from './websocket-support.js';

// A real full disk: egress runs in a private mount namespace whose state folder
// is a 4 MB tmpfs, and the test fills that tmpfs the way an agent fills its
// workspace (through /proc/PID/root, which resolves paths in the child's mounts).
const noMount = missingTool('unshare', ['-m', '--propagation', 'private', 'mount', '-t', 'tmpfs', 'tmpfs', '/mnt']) ?? missingTool('curl');

/** Issue 13 finding 8: no request leaves without its audit line, and a full disk does not silence the audit. */
describe.skipIf(noMount)('egress audit on a full disk (fail closed, reserve)', () => {
  let up: Awaited<ReturnType<typeof startUpstream>>;
  let dir: string;
  let state: string;
  let child: { pid?: number | undefined; exitCode?: number | null | undefined; stdout: NodeJS.ReadableStream | null } & PromiseLike<unknown>;
  let pid: number;
  const logs: Record<string, unknown>[] = [];
  let h: Pick<Harness, 'proxyUrl' | 'caFile'>;
  let caPem: string;

  /** A path inside the child's mount namespace (its tmpfs). */
  const inNs = (p: string): string => `/proc/${pid}/root${p}`;
  const auditLines = (): Record<string, unknown>[] =>
    readFileSync(inNs(join(state, 'egress-audit.jsonl')), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{') && l.endsWith('}'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const waitFor = async (what: string, pred: () => boolean): Promise<void> => {
    for (let i = 0; i < 100; i++) {
      if (pred()) return;
      await sleep(100);
    }
    throw new Error(`timed out waiting for ${what}`);
  };
  const url = (path: string): string => `https://audit.test:${up.port}${path}`;

  beforeAll(async () => {
    const pki = await makeUpstreamPki(['audit.test']);
    up = await startUpstream(pki);
    dir = mkdtempSync(join(tmpdir(), 'egress-full-disk-'));
    state = join(dir, 'state');
    mkdirSync(state);
    writeFileSync(join(dir, 'upstream-ca.pem'), pki.caPem);
    writeFileSync(join(dir, 'routes.json'), JSON.stringify([route('audit.test', up.port)]));
    const caFile = join(dir, 'ca.pem');
    const src = `import { startEgress } from ${JSON.stringify(join(process.cwd(), 'src/sidecars/egress/index.ts'))};
      const log = (e) => process.stdout.write(JSON.stringify(e) + '\\n');
      const h = await startEgress({ listen: { host: '127.0.0.1', port: 0 }, routesFile: ${JSON.stringify(join(dir, 'routes.json'))},
        caCertOut: ${JSON.stringify(caFile)}, auditLog: ${JSON.stringify(join(state, 'egress-audit.jsonl'))} }, { bottle: 'full-disk', log }, process.env);
      log({ event: 'test-ready', address: h.address });
      process.on('SIGTERM', () => void h.close().then(() => process.exit(0)));`;
    child = execa('unshare', ['-m', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs -o size=4m,mode=0755 tmpfs "$0" && exec node --import tsx --input-type=module -e "$1"', state, src], {
      env: { BOT_BOTTLE_UPSTREAM_CA: join(dir, 'upstream-ca.pem'), BOT_BOTTLE_RESOLVE: `audit.test:${up.port}:127.0.0.1` },
      reject: false,
    });
    pid = child.pid!;
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let i = buf.indexOf('\n'); i !== -1; i = buf.indexOf('\n')) {
        logs.push(JSON.parse(buf.slice(0, i)) as Record<string, unknown>);
        buf = buf.slice(i + 1);
      }
    });
    await waitFor('the egress ready line', () => logs.some((l) => l.event === 'test-ready'));
    const address = logs.find((l) => l.event === 'test-ready')!.address as string;
    h = { proxyUrl: `http://${address}`, caFile };
    caPem = readFileSync(caFile, 'utf8');
  });
  afterAll(async () => {
    if (child?.pid !== undefined && (child.exitCode ?? null) === null) {
      process.kill(child.pid, 'SIGTERM');
      await child;
    }
    await up?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('holds a reserve beside the log, in the egress state folder only', () => {
    expect(statSync(inNs(join(state, 'egress-audit.jsonl.reserve'))).size).toBe(AUDIT_RESERVE_BYTES);
    // The tmpfs exists only in egress's mount namespace.
    expect(existsSync(join(state, 'egress-audit.jsonl'))).toBe(false);
  });

  it('writes the line of a request forwarded as the disk fills, then refuses (503) until there is room again', async () => {
    const first = await curl(h as Harness, url('/before'));
    expect(first.status).toBe(200);
    await waitFor('the first line', () => auditLines().some((l) => l.path === '/before'));

    // The agent fills the disk (its workspace shares it with the state folder).
    const fill = inNs(join(state, 'agent-fill'));
    const fd = openSync(fill, 'w');
    const block = Buffer.alloc(64 * 1024, 7);
    let filled = 0;
    try {
      for (let i = 0; i < 1000; i++) filled += writeSync(fd, block);
    } catch (err) {
      expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
    } finally {
      closeSync(fd);
    }
    expect(filled).toBeGreaterThan(0);

    // Lines still fit in the audit file's last page for a while; the append that
    // needs a new one fails, and the reserve takes it: every request that got
    // through has its line, the one that found the disk full included.
    const forwarded: string[] = [];
    for (let i = 0; i < 200 && !logs.some((l) => l.event === 'egress-audit-down'); i++) {
      const r = await curl(h as Harness, url(`/as-it-fills-${i}`));
      if (r.status === 503) break;
      expect(r.status).toBe(200);
      forwarded.push(`/as-it-fills-${i}`);
    }
    await waitFor('egress to report the audit down', () => logs.some((l) => l.event === 'egress-audit-down'));
    expect(forwarded.length).toBeGreaterThan(0);
    await waitFor('the lines of every forwarded request', () => {
      const paths = new Set(auditLines().map((l) => l.path));
      return forwarded.every((p) => paths.has(p));
    });

    const seenBefore = up.seen.length;
    const refused = await curl(h as Harness, url('/while-full'));
    expect(refused.status).toBe(503);
    expect(refused.body).toContain('stage: audit');
    expect(refused.body).toContain('no space left on device');
    expect(refused.body).not.toContain(state);
    const ws = await RawWs.open({ proxy: h.proxyUrl, host: 'audit.test', port: up.port, path: '/ws', caPem });
    expect(ws.status).toBe(503);
    ws.close();
    expect(up.seen.length).toBe(seenBefore);
    await waitFor('a summary line of the refusals', () => auditLines().some((l) => l.event === 'egress-audit-degraded' && (l.refused as number) >= 2));

    // Room again: egress takes its reserve back and serves.
    unlinkSync(fill);
    await waitFor('egress to recover', () => logs.some((l) => l.event === 'egress-audit-recovered'));
    const after = await curl(h as Harness, url('/after'));
    expect(after.status).toBe(200);
    expect(statSync(inNs(join(state, 'egress-audit.jsonl.reserve'))).size).toBe(AUDIT_RESERVE_BYTES);
    await waitFor('the line after recovery', () => auditLines().some((l) => l.path === '/after'));
    expect(auditLines().filter((l) => l.path === '/while-full')).toEqual([]);
  });
});
