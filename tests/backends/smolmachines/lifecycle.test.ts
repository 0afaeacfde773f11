import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { docker } from '../../../src/backends/docker/cli.js';
import { ensureAgentImage } from '../../../src/backends/docker/images.js';
import { bundleAddressing } from '../../../src/backends/smolmachines/addressing.js';
import { bringUpMachine, installCa, removeBottleMachine, listMachines, ownHome, readEgressEvents, type MachineDeps } from '../../../src/backends/smolmachines/machine.js';
import { ensurePack } from '../../../src/backends/smolmachines/pack.js';
import { execArgs, machineNameFor, type SmolvmRun } from '../../../src/backends/smolmachines/smolvm.js';
import { TeardownStack } from '../../../src/launch/teardown.js';
import { missingOfflineBase, OFFLINE_BUILD } from '../../support/docker.js';
import { doubleObjects, smolvmUnderTest, type SmolvmUnderTest } from '../../support/smolvm.js';

/**
 * The machine lifecycle against smolvm — the test double unless a real
 * smolvm is installed — with the Docker side real: a per-bottle network
 * holding a stand-in bundle (a listener on the bundle's ports) and a
 * neighbour the guest must not reach, and a canary on the host's own
 * address on that network. Injected failures run only against the double.
 */
const quiet = { ...OFFLINE_BUILD, output: new PassThrough().resume() };

describe.skipIf(missingOfflineBase())('smolvm machine lifecycle (Docker real, smolvm real or the double)', () => {
  const id = randomBytes(3).toString('hex');
  const slug = `smt-${id}`;
  const addressing = bundleAddressing(slug, {});
  const neighbour = addressing.address.replace(/\.(\d+)$/, (_, last: string) => `.${Number(last) + 1}`);
  const network = `bb-smoltest-${id}`;
  const logs: string[] = [];
  const fixtures = new TeardownStack();
  let smol: SmolvmUnderTest;
  let imageId: string;
  let pack: string;
  let cacheDir: string;
  let canary: Server;
  let canaryPort = 0;
  let canaryHits = 0;
  let stack: TeardownStack;

  const deps = (run?: SmolvmRun): MachineDeps => ({ run: run ?? smol.run, log: (m) => logs.push(m) });
  const spec = (name: string) => ({ name, from: pack, allowCidrs: [`${addressing.address}/32`], dns: addressing.address });
  const inGuest = async (name: string, script: string): Promise<string> => (await smol.run(execArgs(name, ['bash', '-c', script]))).stdout.trim();
  /** What a TCP connect from the guest gets: the first bytes, or `refused`. */
  const reach = (name: string, host: string, port: number): Promise<string> =>
    inGuest(name, `timeout 5 bash -c 'exec 3<>/dev/tcp/${host}/${port} && head -c 6 <&3' 2>/dev/null || echo refused`);
  const listener = (name: string, ip: string, reply: string): Promise<string> =>
    docker(['run', '-d', '--rm', '--name', name, '--network', network, '--ip', ip, '-v', `${process.execPath}:/usr/local/bin/node:ro`, '--entrypoint', '/usr/local/bin/node', imageId, '-e', `for (const p of [3128, 8419]) require('net').createServer((s) => s.end('${reply}')).listen(p)`]);

  beforeAll(async () => {
    smol = smolvmUnderTest();
    fixtures.defer('smolvm data', () => smol.cleanup());
    imageId = (await ensureAgentImage({ kind: 'provider', template: 'shell' }, quiet)).id;
    await docker(['network', 'create', '--internal', '--subnet', addressing.subnet, '--gateway', addressing.gateway, network]);
    fixtures.defer('network', () => docker(['network', 'rm', network]));
    await listener(`${network}-bundle`, addressing.address, 'bundle');
    fixtures.defer('bundle', () => docker(['rm', '-f', `${network}-bundle`]));
    await listener(`${network}-other`, neighbour, 'other!');
    fixtures.defer('neighbour', () => docker(['rm', '-f', `${network}-other`]));
    // The host's own address on the bottle's network: a guest must never reach the host.
    canary = createServer((s) => {
      canaryHits += 1;
      s.on('error', () => undefined);
      s.end('host!!');
    });
    await new Promise<void>((resolve) => canary.listen(0, addressing.gateway, resolve));
    canaryPort = (canary.address() as { port: number }).port;
    fixtures.defer('canary', () => new Promise((resolve) => canary.close(resolve)));
    cacheDir = mkdtempSync(join(smol.dataDir, 'cache-'));
    pack = (await ensurePack(deps(), { imageId, cacheDir })).file;
  }, 240_000);

  afterAll(async () => {
    await fixtures.unwind();
  }, 60_000);

  afterEach(async () => {
    await stack?.unwind();
  }, 60_000);

  /** Nothing of a machine is left: not in smolvm, and (double) no container or network. */
  async function assertGone(name: string, run: SmolvmRun = smol.run): Promise<void> {
    expect((await listMachines(run)).map((m) => m.name)).not.toContain(name);
    if (smol.double) expect(doubleObjects(smol.dataDir)).toEqual({ containers: [], networks: [] });
  }

  it('packs the agent image once per image id and reuses the pack', async () => {
    expect(existsSync(pack)).toBe(true);
    expect(pack).toBe(join(cacheDir, `${imageId.slice('sha256:'.length)}.smolmachine`));
    const again = await ensurePack(deps(), { imageId, cacheDir });
    expect(again).toEqual({ file: pack, built: false });
    // The temporary import machine and work folder are gone.
    expect((await listMachines(smol.run)).filter((m) => m.name.startsWith('bb-pack-'))).toEqual([]);
    expect(readdirSync(cacheDir).filter((f) => f.startsWith('.pack-'))).toEqual([]);
  }, 120_000);

  it('creates, starts, provisions and tears down a machine that reaches only the bundle', async () => {
    stack = new TeardownStack();
    const name = machineNameFor(`${slug}-ok`);
    await bringUpMachine(stack, deps(), spec(name));
    const pem = execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=bot-bottle test CA', '-days', '1', '-keyout', '/dev/null'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    await installCa(deps(), name, pem, '/etc/bot-bottle/ca.pem');
    const certLine = pem.split('\n')[1]!;
    expect(await inGuest(name, `grep -c -F '${certLine}' /etc/ssl/certs/ca-certificates.crt /etc/bot-bottle/ca.pem`)).toBe('/etc/ssl/certs/ca-certificates.crt:1\n/etc/bot-bottle/ca.pem:1');
    // A retried step runs the script again: it must report the certificate added again.
    await installCa(deps(), name, pem, '/etc/bot-bottle/ca.pem');
    await ownHome(deps(), name, 'agent', '/home/agent');
    expect(await inGuest(name, 'stat -c %U /home/agent')).toBe('agent');

    expect(await reach(name, addressing.address, 3128)).toBe('bundle');
    expect(await reach(name, addressing.address, 8419)).toBe('bundle');
    expect(await reach(name, neighbour, 3128)).toBe('refused');
    expect(await reach(name, addressing.gateway, canaryPort)).toBe('refused');
    expect(canaryHits).toBe(0);
    const events = await readEgressEvents(smol.run, name);
    expect(events.map((e) => e.dest.replace(/:\d+$/, ''))).toContain(neighbour);

    // A secret reaches an exec by reference: the value is in smolvm's environment, not on its argv.
    const secret = `s3cr3t-${id}`;
    const seen = await smol.run(execArgs(name, ['sh', '-c', 'echo "$API_KEY"'], { secretEnv: { API_KEY: 'BB_TEST_SECRET' } }), { env: { BB_TEST_SECRET: secret } });
    expect(seen.stdout.trim()).toBe(secret);

    const failures = await stack.unwind();
    expect(failures).toEqual([]);
    await assertGone(name);
  }, 120_000);

  describe('injected failures (the double only)', () => {
    const onlyDouble = (): boolean => !smol.double;

    it('a start that fails unwinds completely, with smolvm\'s words in the error', async (ctx) => {
      if (onlyDouble()) ctx.skip();
      stack = new TeardownStack();
      const name = machineNameFor(`${slug}-start`);
      const run = smol.with({ SMOLVM_DOUBLE_FAIL: 'start' });
      await expect(stack.guard(() => bringUpMachine(stack, deps(run), spec(name)))).rejects.toThrow(/smolvm machine start --name \S+ failed \(exit 1\): .*Error: agent operation failed: start/);
      await assertGone(name, run);
    }, 60_000);

    it('exit 137 on the first exec: readiness retries; a provisioning step killed with 137 is retried once and succeeds', async (ctx) => {
      if (onlyDouble()) ctx.skip();
      stack = new TeardownStack();
      const first = machineNameFor(`${slug}-r137`);
      await bringUpMachine(stack, deps(smol.with({ SMOLVM_DOUBLE_EXEC_137: '1' })), spec(first), { intervalMs: 10 });
      // exec #1 (readiness) was killed, exec #2 answered: up, without a sleep.
      expect(await inGuest(first, 'echo up')).toBe('up');
      await stack.unwind();

      stack = new TeardownStack();
      const second = machineNameFor(`${slug}-p137`);
      const run = smol.with({ SMOLVM_DOUBLE_EXEC_137: '2' });
      logs.length = 0;
      await bringUpMachine(stack, deps(run), spec(second));
      await ownHome(deps(run), second, 'agent', '/home/agent');
      expect(logs.join('\n')).toMatch(/"give the home to the agent user" .* was killed \(exit 137: client disconnected\); retrying once/);
      await stack.unwind();
      await assertGone(second);
    }, 120_000);

    it('an allow-list that does not take (or smolvm < 1.8.0 with --from) leaves the guest open: the double leaks for real', async (ctx) => {
      if (onlyDouble()) ctx.skip();
      for (const [label, extra] of [
        ['open', { SMOLVM_DOUBLE_FAIL: 'allow-list' }],
        ['old', { SMOLVM_DOUBLE_VERSION: '1.7.4' }],
      ] as const) {
        stack = new TeardownStack();
        const name = machineNameFor(`${slug}-${label}`);
        const run = smol.with(extra);
        await bringUpMachine(stack, deps(run), spec(name));
        expect(await reach(name, neighbour, 3128)).toBe('other!');
        const hits = canaryHits;
        expect(await reach(name, addressing.gateway, canaryPort)).toBe('host!!');
        expect(canaryHits).toBe(hits + 1);
        await stack.unwind();
        await assertGone(name);
      }
      canaryHits = 0;
    }, 120_000);

    it('a pack that fails leaves no machine, no pack and no work folder', async (ctx) => {
      if (onlyDouble()) ctx.skip();
      const dir = mkdtempSync(join(smol.dataDir, 'cache-fail-'));
      const run = smol.with({ SMOLVM_DOUBLE_FAIL: 'pack' });
      await expect(ensurePack(deps(run), { imageId, cacheDir: dir })).rejects.toThrow(/smolvm pack create failed \(exit 1\): Error: pack: failed to export/);
      expect(readdirSync(dir)).toEqual([]);
      expect((await listMachines(run)).filter((m) => m.name.startsWith('bb-pack-'))).toEqual([]);
      expect(doubleObjects(smol.dataDir)).toEqual({ containers: [], networks: [] });
    }, 120_000);

    it('`delete` without -f answers Cancelled and deletes nothing; ours passes -f', async (ctx) => {
      if (onlyDouble()) ctx.skip();
      stack = new TeardownStack();
      const name = machineNameFor(`${slug}-del`);
      await bringUpMachine(stack, deps(), spec(name));
      const bare = await smol.run(['machine', 'delete', '--name', name]);
      expect(bare).toMatchObject({ exitCode: 0, stdout: expect.stringContaining('Cancelled') as unknown });
      expect((await listMachines(smol.run)).map((m) => m.name)).toContain(name);
      // What cleanup does after a dead launch: found by name, stopped and deleted; then nothing to do.
      expect(await removeBottleMachine(smol.run, name)).toBe(true);
      await assertGone(name);
      expect(await removeBottleMachine(smol.run, name)).toBe(false);
      // The stack's own undos find it gone and count that as done.
      expect(await stack.unwind()).toEqual([]);
    }, 60_000);
  });
});
