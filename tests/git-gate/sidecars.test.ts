import { rmSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SidecarConfigSchema } from '../../src/sidecars/config.js';
import { startSidecars } from '../../src/sidecars/run.js';
import { tempDir } from './support.js';

function get(opts: { socketPath?: string; port?: number; path: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', ...opts, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('git-gate in the sidecar bundle', () => {
  const dir = tempDir('gg-sidecars-');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('starts from the gitGate section on a Unix socket and refuses undeclared repos and dumb HTTP', async () => {
    const socket = join(dir, 'gate.sock');
    const config = SidecarConfigSchema.parse({ bottle: 'gg-sc', gitGate: { listen: { socket }, dataDir: join(dir, 'data'), repos: [] } });
    const running = await startSidecars(config, () => undefined);
    try {
      expect(running.ready.gitGate).toEqual({ url: socket });
      const missing = await get({ socketPath: socket, path: '/nope.git/info/refs?service=git-upload-pack' });
      expect(missing.status).toBe(404);
      expect(missing.body).toContain('no such repository');
      const dumb = await get({ socketPath: socket, path: '/nope.git/HEAD' });
      expect(dumb.status).toBe(404);
    } finally {
      await running.close();
    }
  });

  it('rejects a bad section with the field named', () => {
    const r = SidecarConfigSchema.safeParse({ bottle: 'b', gitGate: { listen: { host: '127.0.0.1', port: 1 }, dataDir: '/d', repos: [{ name: 'x' }] } });
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.path.join('.'))).toContain('gitGate.repos.0.url');
  });
});
