import { describe, expect, it } from 'vitest';
import { bundleAddressing, DEFAULT_POOL, POOL_ENV } from '../../../src/backends/smolmachines/addressing.js';
import {
  assertMachineName,
  createArgs,
  deleteArgs,
  execArgs,
  machineNameFor,
  packArgs,
  parseSmolvmVersion,
  versionAtLeast,
} from '../../../src/backends/smolmachines/smolvm.js';

describe('smolvm argv', () => {
  it('create: names are flags, the allow-list and the resolver are passed, and no -e ever', () => {
    const args = createArgs({ name: 'bb-x-1', from: '/c/abc.smolmachine', allowCidrs: ['10.213.0.2/32'], dns: '10.213.0.2' });
    expect(args).toEqual(['machine', 'create', '--name', 'bb-x-1', '--from', '/c/abc.smolmachine', '--allow-cidr', '10.213.0.2/32', '--dns', '10.213.0.2']);
    expect(args).not.toContain('-e');
    expect(args).not.toContain('--env');
  });

  it('create refuses a machine without an allow-list, a non-pack, a bad CIDR or resolver', () => {
    expect(() => createArgs({ name: 'm', from: '/c/a.smolmachine', allowCidrs: [], dns: '10.0.0.2' })).toThrow(/no egress policy/);
    expect(() => createArgs({ name: 'm', from: '/c/a.tar', allowCidrs: ['10.0.0.2/32'], dns: '10.0.0.2' })).toThrow(/not a .smolmachine/);
    expect(() => createArgs({ name: 'm', from: '/c/a.smolmachine', allowCidrs: ['10.0.0.2'], dns: '10.0.0.2' })).toThrow(/not an IPv4 CIDR/);
    expect(() => createArgs({ name: 'm', from: '/c/a.smolmachine', allowCidrs: ['10.0.0.2/32'], dns: 'dns.example' })).toThrow(/not an IPv4/);
  });

  it('delete always passes -f (without it 1.9 answers Cancelled and deletes nothing)', () => {
    expect(deleteArgs('m')).toEqual(['machine', 'delete', '--name', 'm', '-f']);
  });

  it('exec names the machine with --name (exec has no -n) and forwards stdin only with -i', () => {
    expect(execArgs('m', ['sh', '-s'], { stdin: true })).toEqual(['machine', 'exec', '--name', 'm', '-i', '--', 'sh', '-s']);
    expect(execArgs('m', ['true'])).toEqual(['machine', 'exec', '--name', 'm', '--', 'true']);
  });

  it('exec passes secrets by reference (--secret-env GUEST=HOST), never by value', () => {
    expect(execArgs('m', ['env'], { secretEnv: { API_KEY: 'BB_SECRET_1' } })).toEqual(['machine', 'exec', '--name', 'm', '--secret-env', 'API_KEY=BB_SECRET_1', '--', 'env']);
    expect(() => execArgs('m', ['env'], { secretEnv: { 'A=B': 'C' } })).toThrow(/not variable names/);
  });

  it('pack output must not end in .smolmachine', () => {
    expect(packArgs('base', '/c/x')).toEqual(['pack', 'create', '--from-vm', 'base', '-o', '/c/x']);
    expect(() => packArgs('base', '/c/x.smolmachine')).toThrow(/must not end/);
  });

  it('parses `smolvm X.Y.Z` and compares versions', () => {
    expect(parseSmolvmVersion('smolvm 1.9.3\n')).toBe('1.9.3');
    expect(parseSmolvmVersion('something 1.9.3')).toBeUndefined();
    expect(versionAtLeast('1.9.3', '1.8.0')).toBe(true);
    expect(versionAtLeast('1.8.0', '1.8.0')).toBe(true);
    expect(versionAtLeast('1.7.12', '1.8.0')).toBe(false);
    expect(versionAtLeast('2.0.0', '1.8.0')).toBe(true);
  });

  it('machine names follow smolvm rules for any slug', () => {
    for (const slug of ['a', 'my.bottle', 'x--y', 'z-', 'a'.repeat(64)]) {
      const name = machineNameFor(slug);
      expect(() => assertMachineName(name)).not.toThrow();
      expect(name).not.toContain('--');
    }
    expect(machineNameFor('a.b')).not.toBe(machineNameFor('a_b'));
    expect(() => assertMachineName('bad--name')).toThrow();
    expect(() => assertMachineName('trailing-')).toThrow();
    expect(() => assertMachineName('-lead')).toThrow();
  });
});

describe('bundle addressing', () => {
  it('gives each bottle a /29 of the pool, the bundle at .2 of it, the same for the same slug', () => {
    const a = bundleAddressing('alpha', {});
    expect(a).toEqual(bundleAddressing('alpha', {}));
    expect(a.subnet).toMatch(/^10\.213\.\d+\.\d+\/29$/);
    const base = Number(a.subnet.split('/')[0]!.split('.')[3]);
    expect(base % 8).toBe(0);
    expect(a.gateway.split('.')[3]).toBe(String(base + 1));
    expect(a.address.split('.')[3]).toBe(String(base + 2));
    expect(DEFAULT_POOL).toBe('10.213.0.0/16');
  });

  it('honours a pool from the environment and refuses one that is not a pool', () => {
    const a = bundleAddressing('alpha', { [POOL_ENV]: '192.168.77.0/24' });
    expect(a.address.startsWith('192.168.77.')).toBe(true);
    expect(() => bundleAddressing('alpha', { [POOL_ENV]: '192.168.77.5/24' })).toThrow(/not the start/);
    expect(() => bundleAddressing('alpha', { [POOL_ENV]: 'lots' })).toThrow(POOL_ENV);
    expect(() => bundleAddressing('alpha', { [POOL_ENV]: '10.0.0.0/30' })).toThrow(/from \/8 to \/26/);
  });
});
