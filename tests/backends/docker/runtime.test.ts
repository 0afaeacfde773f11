import { randomBytes } from 'node:crypto';
import { release } from 'node:os';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { docker } from '../../../src/backends/docker/cli.js';
import { createArgs, createContainer, startContainer } from '../../../src/backends/docker/containers.js';
import { ensureAgentImage } from '../../../src/backends/docker/images.js';
import { containerName } from '../../../src/backends/docker/names.js';
import { chooseRuntime, detectRuntime, parseRuntimes } from '../../../src/backends/docker/runtime.js';
import { missingOfflineBase, missingRunsc, OFFLINE_BUILD } from '../../support/docker.js';

describe('choosing the runtime', () => {
  const info = '{"runc":{"path":"runc"},"runsc":{"path":"/usr/bin/runsc","runtimeArgs":["--network=host"]}}';

  it('reads the registered runtimes and their arguments from docker info', () => {
    expect(parseRuntimes(info)).toEqual({ runc: [], runsc: ['--network=host'] });
    expect(() => parseRuntimes('[]')).toThrow(/not an object/);
  });

  it('uses gVisor whenever it is registered, and says so (with its arguments)', () => {
    expect(chooseRuntime(parseRuntimes(info), {})).toEqual({
      runtime: 'runsc',
      bundle: 'runc',
      reason: "gVisor (runsc --network=host) is registered with the engine: every bottle's agent runs under it; the sidecar bundle (bot-bottle's own) under runc",
    });
    expect(chooseRuntime({ runc: [] }, {})).toEqual({ runtime: 'runc', bundle: 'runc', reason: expect.stringMatching(/^runc .*not registered/) });
  });

  it('takes an explicit choice, and refuses runsc where it is not registered instead of falling back', () => {
    expect(chooseRuntime(parseRuntimes(info), { BOT_BOTTLE_DOCKER_RUNTIME: 'runc' })).toMatchObject({ runtime: 'runc', reason: expect.stringContaining('registered but not used') });
    expect(() => chooseRuntime({ runc: [] }, { BOT_BOTTLE_DOCKER_RUNTIME: 'runsc' })).toThrow(/not registered/);
    expect(() => chooseRuntime({ runc: [] }, { BOT_BOTTLE_DOCKER_RUNTIME: 'kata' })).toThrow(/use runsc or runc/);
  });

  it('puts the sidecar bundle under runc unless asked for gVisor there too, and refuses that where runsc is not registered', () => {
    expect(chooseRuntime(parseRuntimes(info), { BOT_BOTTLE_DOCKER_BUNDLE_RUNTIME: 'runsc' })).toMatchObject({ runtime: 'runsc', bundle: 'runsc', reason: expect.stringContaining('bundle under gVisor too') });
    expect(chooseRuntime(parseRuntimes(info), { BOT_BOTTLE_DOCKER_RUNTIME: 'runc', BOT_BOTTLE_DOCKER_BUNDLE_RUNTIME: 'runsc' })).toMatchObject({ runtime: 'runc', bundle: 'runsc' });
    expect(chooseRuntime(parseRuntimes(info), { BOT_BOTTLE_DOCKER_BUNDLE_RUNTIME: 'runc' })).toMatchObject({ runtime: 'runsc', bundle: 'runc' });
    expect(() => chooseRuntime({ runc: [] }, { BOT_BOTTLE_DOCKER_BUNDLE_RUNTIME: 'runsc' })).toThrow(/BOT_BOTTLE_DOCKER_BUNDLE_RUNTIME=runsc, but .*not registered/);
    expect(() => chooseRuntime(parseRuntimes(info), { BOT_BOTTLE_DOCKER_BUNDLE_RUNTIME: 'kata' })).toThrow(/use runsc or runc/);
  });

  it('puts environment names on argv, never their values', () => {
    const args = createArgs({ slug: 'dkr-a', role: 'agent', name: 'n', image: 'img', network: 'none', env: { SOME_VALUE: 'must-not-appear' }, command: ['true'] });
    expect(args).toContain('SOME_VALUE');
    expect(args.join(' ')).not.toContain('must-not-appear');
    expect(() => createArgs({ slug: 'dkr-a', role: 'agent', name: 'n', image: 'img', network: 'none', env: { 'A=B': 'x' }, command: ['true'] })).toThrow(/not an environment variable name/);
  });
});

describe.skipIf(missingOfflineBase() ?? missingRunsc())('gVisor registered with the real engine', () => {
  /** Create, start and wait for a container; its output and the runtime the engine used. */
  const runUnder = async (runtime: string | undefined): Promise<{ output: string; runtime: string }> => {
    const image = await ensureAgentImage({ kind: 'provider', template: 'shell' }, { ...OFFLINE_BUILD, output: new PassThrough().resume() });
    const slug = `dkr-rt-${randomBytes(3).toString('hex')}`;
    const container = await createContainer({
      slug,
      role: 'agent',
      name: containerName(slug, 'agent'),
      image: image.id,
      network: 'none',
      ...(runtime !== undefined ? { runtime } : {}),
      env: { GREETING: 'hello' },
      command: ['sh', '-c', 'echo "$GREETING $(id -u) $(uname -r)"'],
    });
    try {
      await startContainer(container.id);
      expect(await docker(['wait', container.id])).toBe('0');
      return { output: await docker(['logs', container.id]), runtime: await docker(['inspect', '--format', '{{.HostConfig.Runtime}}', container.id]) };
    } finally {
      await container.undo();
    }
  };

  it("is detected, and every bottle's agent would run under it", async () => {
    expect(await detectRuntime({})).toMatchObject({ runtime: 'runsc', reason: expect.stringMatching(/^gVisor \(runsc.*every bottle's agent runs under it; the sidecar bundle .* under runc$/) });
  }, 30_000);

  it('runs a container on its own kernel (runc shares the host kernel)', async () => {
    const gvisor = await runUnder('runsc');
    expect(gvisor.runtime).toBe('runsc');
    const [greeting, uid, kernel] = gvisor.output.split(' ');
    expect([greeting, uid]).toEqual(['hello', '1000']);
    expect(kernel).not.toBe(release());
    const runc = await runUnder(undefined);
    expect(runc.runtime).toBe('runc');
    expect(runc.output).toBe(`hello 1000 ${release()}`);
  }, 120_000);
});
