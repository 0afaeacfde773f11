import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { completeRoute } from '../../src/routes/model.js';
import { bottleStatePaths } from '../../src/state/paths.js';
import { fileBottleStores } from '../../src/state/store/index.js';
import { waitUntilLive } from '../../src/state/store/route-ack.js';
import { tempHome, type TempHome } from '../support/home.js';

let h: TempHome;
afterEach(() => h.cleanup());

const route = (host: string) => completeRoute({ host, source: 'manifest' });

function stores() {
  const paths = bottleStatePaths('alpha', h.home);
  mkdirSync(paths.dir, { recursive: true });
  return { paths, ...fileBottleStores(paths) };
}

describe('the file-backed route store (the state folder is hostile)', () => {
  it('names each table by the digest of its bytes, and an update changes it under the lock', async () => {
    h = tempHome();
    const { routes } = stores();
    expect(await routes.readLive()).toBeUndefined();
    expect(await routes.updateLive((r) => [...r, route('b.test')])).toBeUndefined();
    const first = await routes.writeLive([route('a.test')]);
    expect(await routes.readLive()).toEqual({ generation: first, routes: [route('a.test')] });
    const second = await routes.updateLive((r) => [...r, route('b.test')]);
    expect(second).not.toBe(first);
    expect((await routes.readLive())?.routes.map((r) => r.host)).toEqual(['a.test', 'b.test']);
  });

  it('never reads through a link, nor from a FIFO, and never writes through a link', async () => {
    h = tempHome();
    const { paths, routes } = stores();
    const outside = join(h.home, 'outside.json');
    writeFileSync(outside, JSON.stringify([route('evil.test')]));
    symlinkSync(outside, paths.egressRoutes);
    await expect(routes.readLive()).rejects.toThrow(/symbolic link/);
    await expect(routes.writeLive([route('a.test')])).rejects.toThrow(/symbolic link/);
    expect(readFileSync(outside, 'utf8')).toContain('evil.test');
    execFileSync('mkfifo', [paths.approvedRoutes]);
    await expect(routes.readApproved()).rejects.toThrow(/not a regular file.*refusing to rewrite it/);
  });

  it('refuses a damaged table by schema, naming the bad key, and never rewrites it', async () => {
    h = tempHome();
    const { paths, routes } = stores();
    writeFileSync(paths.egressRoutes, JSON.stringify([{ host: 'a.test', port: 'x' }]));
    await expect(routes.readLive()).rejects.toThrow(/routes file .* is invalid:\n {2}0\.port/);
    await expect(routes.updateLive((r) => r)).rejects.toThrow(/refusing to rewrite it/);
    expect(readFileSync(paths.egressRoutes, 'utf8')).toContain('"x"');
  });

  it('waitUntilLive: written without an egress, applied or refused by the acknowledgement of that very table', async () => {
    h = tempHome();
    const { routes } = stores();
    const has = (host: string) => (r: readonly { host: string }[]) => r.some((x) => x.host === host);
    expect(await waitUntilLive(routes, has('a.test'), { timeoutMs: 100 })).toEqual({ state: 'not-running' });
    const g = await routes.writeLive([route('a.test')]);
    expect(await waitUntilLive(routes, has('a.test'), { timeoutMs: 100 })).toEqual({ state: 'written' });
    await routes.writeAck({ generation: 'older', applied: true, routes: 0, at: 'now' });
    expect(await waitUntilLive(routes, has('a.test'), { timeoutMs: 100 })).toEqual({ state: 'unconfirmed' });
    await routes.writeAck({ generation: g, applied: false, error: 'bad regex', at: 'now' });
    expect(await waitUntilLive(routes, has('a.test'), { timeoutMs: 100 })).toEqual({ state: 'refused', error: 'bad regex' });
    await routes.writeAck({ generation: g, applied: true, routes: 1, at: 'now' });
    expect(await waitUntilLive(routes, has('a.test'), { timeoutMs: 100 })).toEqual({ state: 'applied' });
  });
});
