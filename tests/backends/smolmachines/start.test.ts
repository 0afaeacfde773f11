import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docker } from '../../../src/backends/docker/cli.js';
import { listBottleResources } from '../../../src/backends/docker/resources.js';
import { bundleAddressing } from '../../../src/backends/smolmachines/addressing.js';
import { listMachines } from '../../../src/backends/smolmachines/machine.js';
import { CHECKS } from '../../../src/containment/checks.js';
import { runBottleCli } from '../../support/bottle-run.js';
import { missingOfflineBase, OFFLINE_BUILD } from '../../support/docker.js';
import { tempHome, type TempHome } from '../../support/home.js';
import { doubleObjects, SMOLVM_DOUBLE_DIR, smolvmUnderTest, type SmolvmUnderTest } from '../../support/smolvm.js';

/**
 * `bot-bottle start --backend smolmachines`, the whole CLI, against smolvm
 * (the test double unless a real smolvm is on PATH) with Docker real: the
 * shell agent passes the self-test inside the guest, reaches the bundle's
 * ports and nothing else, writes its workspace, and sees no secret in
 * smolvm's records, argv or its own files; every injected failure of the
 * double is a clear error that leaves no machine, container or network;
 * `resume` starts a new machine on the kept workspace.
 */
const TOKEN = `ghp_${randomBytes(18).toString('hex')}`;
const AGENT_VALUE = `agent-only-${randomBytes(6).toString('hex')}`;
const b64 = (text: string): string => Buffer.from(text).toString('base64');

describe.skipIf(missingOfflineBase())('start --backend smolmachines (Docker real, smolvm real or the double)', () => {
  let smol: SmolvmUnderTest;
  let h: TempHome;
  let canary: Server;
  let canaryPort = 0;
  let canaryHits = 0;
  const others: string[] = [];

  const env = (extra: Record<string, string> = {}): Record<string, string> => ({
    PATH: smol.double ? [SMOLVM_DOUBLE_DIR, process.env.PATH ?? '/usr/bin:/bin'].join(delimiter) : (process.env.PATH ?? '/usr/bin:/bin'),
    BOT_BOTTLE_HOME: h.home,
    SMOLVM_DATA_DIR: smol.dataDir,
    BOT_BOTTLE_DOCKER_BASE_IMAGE: OFFLINE_BUILD.env.BOT_BOTTLE_DOCKER_BASE_IMAGE,
    DKB_TOKEN: TOKEN,
    AGENT_SECRET_HOST: AGENT_VALUE,
    ...extra,
  });

  /** Nothing of a bottle is left: no machine, no double container or network, no docker resource with its slug. */
  async function leftovers(slug: string): Promise<string[]> {
    const found = (await listBottleResources()).get(slug);
    const machines = (await listMachines(smol.run)).map((m) => `machine ${m.name}`).filter((m) => m.includes(slug.replaceAll('.', '_')));
    const double = smol.double ? doubleObjects(smol.dataDir) : { containers: [], networks: [] };
    return [
      ...machines,
      ...double.containers.map((c) => `double container ${c}`),
      ...double.networks.map((n) => `double network ${n}`),
      ...(found === undefined ? [] : [...found.containers.map((c) => `container ${c.name}`), ...found.networks.map((n) => `network ${n.name}`)]),
    ];
  }

  beforeAll(async () => {
    smol = smolvmUnderTest();
    h = tempHome();
    h.writeBottle('b', 'agent_provider: {template: shell}\nenv:\n  AGENT_SECRET: ${AGENT_SECRET_HOST}\negress:\n  routes:\n    - host: upstream.test\n      port: 8443\n      auth: {scheme: Bearer, token_ref: DKB_TOKEN}');
    h.writeAgent('a', 'bottle: b');
    // A canary on the host's loopback: the guest must never reach it.
    canary = createServer((s) => {
      canaryHits += 1;
      s.on('error', () => undefined);
      s.end('host!!');
    });
    await new Promise<void>((resolve) => canary.listen(0, '127.0.0.1', resolve));
    canaryPort = (canary.address() as { port: number }).port;
  }, 60_000);

  afterAll(async () => {
    await new Promise((resolve) => canary.close(resolve));
    for (const name of others) await docker(['rm', '-f', name]).catch(() => undefined);
    for (const name of others) await docker(['network', 'rm', name]).catch(() => undefined);
    smol.cleanup();
    h.cleanup();
  }, 120_000);

  it('passes the self-test in the guest, reaches the bundle and nothing else, writes the workspace, shows no secret; resume reuses the workspace', async () => {
    const slug = `sms-${randomBytes(2).toString('hex')}`;
    const { address, gateway } = bundleAddressing(slug, {});
    // Another bottle's bundle: its own /29 of the pool, a listener at its pinned address.
    const other = `sms-other-${randomBytes(2).toString('hex')}`;
    const otherAddr = bundleAddressing(other, {});
    others.push(`${other}-net`);
    await docker(['network', 'create', '--internal', '--subnet', otherAddr.subnet, '--gateway', otherAddr.gateway, `${other}-net`]);
    others.unshift(`${other}-bundle`);
    await docker(['run', '-d', '--rm', '--name', `${other}-bundle`, '--network', `${other}-net`, '--ip', otherAddr.address, '-v', `${process.execPath}:/usr/local/bin/node:ro`, '--entrypoint', '/usr/local/bin/node', OFFLINE_BUILD.env.BOT_BOTTLE_DOCKER_BASE_IMAGE, '-e', "require('net').createServer((s) => s.end('other!')).listen(3128)"]);
    const tcp = (host: string, port: number): string => `$(timeout 5 bash -c 'exec 3<>/dev/tcp/${host}/${port} && echo open' 2>/dev/null || echo closed)`;
    const script = [
      'echo hello-from-the-guest > /workspace/out.txt',
      `echo BUNDLE-EGRESS=${tcp(address, 3128)}`,
      `echo BUNDLE-SUPERVISE=${tcp(address, 8419)}`,
      `echo BUNDLE-OTHER-PORT=${tcp(address, 22)}`,
      `echo HOST-GATEWAY=${tcp(gateway, 22)}`,
      `echo HOST-LOOPBACK=${tcp('127.0.0.1', canaryPort)}`,
      `echo OTHER-BOTTLE=${tcp(otherAddr.address, 3128)}`,
      // Its own bundle's container name: Docker's resolver would answer it if the guest had DNS.
      `echo DNS=$(timeout 5 getent hosts bot-bottle-${slug}-sidecars >/dev/null && echo resolved || echo none)`,
      // The values are in the script base64-encoded: the agent's own command line must not hold them raw.
      `T=$(echo ${b64(TOKEN)} | base64 -d); A=$(echo ${b64(AGENT_VALUE)} | base64 -d)`,
      'echo ENV-HAS-TOKEN=$(env | grep -c "$T")',
      'echo FILES-WITH-SECRET=$(grep -rlsE "$T|$A|PRIVATE KEY" /etc /home /tmp /run /var /workspace 2>/dev/null | wc -l)',
      'echo AGENT-SECRET=$AGENT_SECRET',
      'echo WHO=$(id -u):$(stat -c %u /home/agent)',
      'touch /workspace/ready; for i in $(seq 300); do [ -f /workspace/go ] && break; sleep 0.2; done',
    ].join('\n');
    const running = runBottleCli(['start', 'a', '--backend', 'smolmachines', '--headless', '--label', slug, '--prompt', script], { cwd: h.cwd, env: env(), timeoutMs: 300_000 });
    let finished = false;
    void running.then(() => (finished = true));
    const workspace = join(h.home, 'state', slug, 'workspace');
    for (let i = 0; i < 900 && !finished && !existsSync(join(workspace, 'ready')); i++) await new Promise((r) => setTimeout(r, 200));
    const ready = existsSync(join(workspace, 'ready'));
    // While the agent runs: smolvm's own records and every host command line.
    const verbose = ready ? (await smol.run(['machine', 'ls', '-v'])).stdout : '';
    const argv = ready ? hostCommandLines() : '';
    if (ready) writeFileSync(join(workspace, 'go'), '');
    const run = await running;
    expect(run.stderr).not.toContain('unexpected error');
    expect(run.exitCode, run.stderr).toBe(0);
    expect(ready).toBe(true);
    expect(verbose).toContain(`bb-${slug}`);
    for (const secret of [TOKEN, AGENT_VALUE]) {
      expect(verbose).not.toContain(secret);
      expect(argv).not.toContain(secret);
    }
    expect(run.stdout).toContain('BUNDLE-EGRESS=open');
    expect(run.stdout).toContain('BUNDLE-SUPERVISE=open');
    expect(run.stdout).toContain('BUNDLE-OTHER-PORT=closed');
    expect(run.stdout).toContain('HOST-GATEWAY=closed');
    expect(run.stdout).toContain('HOST-LOOPBACK=closed');
    expect(run.stdout).toContain('OTHER-BOTTLE=closed');
    expect(run.stdout).toContain('DNS=none');
    expect(run.stdout).toContain('ENV-HAS-TOKEN=0');
    expect(run.stdout).toContain('FILES-WITH-SECRET=0');
    expect(run.stdout).toContain(`AGENT-SECRET=${AGENT_VALUE}`);
    expect(run.stdout).toContain('WHO=1000:1000');
    expect(canaryHits).toBe(0);
    expect(readFileSync(join(workspace, 'out.txt'), 'utf8')).toBe('hello-from-the-guest\n');
    const record = JSON.parse(readFileSync(join(h.home, 'state', slug, 'containment.json'), 'utf8')) as { result: string; checks: Array<{ id: string; status: string }> };
    expect(record.result).toBe('passed');
    expect(record.checks.map((c) => c.id)).toEqual(Object.keys(CHECKS));
    expect(record.checks.filter((c) => c.status === 'failed')).toEqual([]);
    // The guest's refused connections (the other bottle, the host) are in the bottle's audit.
    const events = readFileSync(join(h.home, 'state', slug, 'smolvm-egress-events.jsonl'), 'utf8');
    expect(events).toContain(otherAddr.address);
    expect(await leftovers(slug)).toEqual([]);

    // resume: a new machine from the cached pack on the kept workspace.
    const resumed = await runBottleCli(['resume', slug, '--headless', '--prompt', 'cat /workspace/out.txt; echo again > /workspace/second.txt'], { cwd: h.cwd, env: env(), timeoutMs: 300_000 });
    expect(resumed.stderr).not.toContain('unexpected error');
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    expect(resumed.stdout).toContain('hello-from-the-guest');
    expect(resumed.stderr).not.toContain('packing the agent image');
    expect(readFileSync(join(workspace, 'second.txt'), 'utf8')).toBe('again\n');
    expect(await leftovers(slug)).toEqual([]);
  }, 600_000);

  describe('injected failures of the double', () => {
    const start = (slug: string, extra: Record<string, string>, home?: TempHome) =>
      runBottleCli(['start', 'a', '--backend', 'smolmachines', '--headless', '--label', slug, '--prompt', 'echo AGENT-RAN'], { cwd: (home ?? h).cwd, env: { ...env(extra), ...(home ? { BOT_BOTTLE_HOME: home.home } : {}) }, timeoutMs: 300_000 });

    it('a smolvm older than 1.8.0 is refused at preflight, with the reason', async () => {
      if (!smol.double) return;
      const slug = `smv-${randomBytes(2).toString('hex')}`;
      const run = await start(slug, { SMOLVM_DOUBLE_VERSION: '1.7.4' });
      expect(run.exitCode).not.toBe(0);
      expect(run.stderr).toContain('backend smolmachines (from --backend) is not available: smolvm 1.7.4 is older than 1.8.0');
      expect(run.stderr).toContain('silently drops --allow-cidr');
      expect(run.stderr).toContain('smolvm#install');
      expect(run.stdout).not.toContain('AGENT-RAN');
      expect(await leftovers(slug)).toEqual([]);
    }, 120_000);

    it('an allow-list that does not take: the self-test refuses the bottle', async () => {
      if (!smol.double) return;
      const slug = `sma-${randomBytes(2).toString('hex')}`;
      const run = await start(slug, { SMOLVM_DOUBLE_FAIL: 'allow-list' });
      expect(run.exitCode).not.toBe(0);
      expect(run.stderr).toContain('containment check failed');
      expect(run.stderr).not.toContain('unexpected error');
      expect(run.stdout).not.toContain('AGENT-RAN');
      expect(await leftovers(slug)).toEqual([]);
    }, 300_000);

    it('a start that fails is a clear error and unwinds everything', async () => {
      if (!smol.double) return;
      const slug = `smf-${randomBytes(2).toString('hex')}`;
      const run = await start(slug, { SMOLVM_DOUBLE_FAIL: 'start' });
      expect(run.exitCode).not.toBe(0);
      expect(run.stderr).toMatch(/bot-bottle: smolvm machine start --name bb-smf-\S+ failed \(exit 1\)/);
      expect(run.stderr).not.toContain('unexpected error');
      expect(run.stdout).not.toContain('AGENT-RAN');
      expect(await leftovers(slug)).toEqual([]);
    }, 300_000);

    it('exit 137 on the first provisioning exec is retried once and the bottle starts', async () => {
      if (!smol.double) return;
      const slug = `smk-${randomBytes(2).toString('hex')}`;
      // Exec 1 is the readiness check; exec 2 the first provisioning step.
      const run = await start(slug, { SMOLVM_DOUBLE_EXEC_137: '2' });
      expect(run.exitCode, run.stderr).toBe(0);
      expect(run.stderr).toMatch(/provisioning step "give the home to the agent user" in bb-smk-\S+ was killed \(exit 137: client disconnected\); retrying once/);
      expect(run.stdout).toContain('AGENT-RAN');
      expect(await leftovers(slug)).toEqual([]);
    }, 300_000);

    it('a pack that fails is a clear error, leaves no pack and no machine', async () => {
      if (!smol.double) return;
      // A home of its own: the shared one has the pack cached already.
      const fresh = tempHome();
      try {
        fresh.writeBottle('b', 'agent_provider: {template: shell}');
        fresh.writeAgent('a', 'bottle: b');
        const slug = `smp-${randomBytes(2).toString('hex')}`;
        const run = await start(slug, { SMOLVM_DOUBLE_FAIL: 'pack' }, fresh);
        expect(run.exitCode).not.toBe(0);
        expect(run.stderr).toContain('bot-bottle: smolvm pack create failed (exit 1): Error: pack: failed to export the machine');
        expect(run.stderr).not.toContain('unexpected error');
        const cache = join(fresh.home, 'cache', 'smolmachines');
        expect(existsSync(cache) ? readdirSync(cache).filter((f) => f.endsWith('.smolmachine')) : []).toEqual([]);
        expect(await leftovers(slug)).toEqual([]);
        expect((await listMachines(smol.run)).map((m) => m.name)).toEqual([]);
      } finally {
        fresh.cleanup();
      }
    }, 300_000);
  });
});

/** Every process's command line on this host (what `ps` would show anyone). */
function hostCommandLines(): string {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      out.push(readFileSync(`/proc/${pid}/cmdline`, 'latin1').replaceAll('\0', ' '));
    } catch {
      // Gone meanwhile.
    }
  }
  return out.join('\n');
}
