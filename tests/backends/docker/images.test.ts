import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { PINNED_PROGRAMS, locateHostProgram } from '../../../src/backends/docker/agent-programs.js';
import { docker } from '../../../src/backends/docker/cli.js';
import { agentImageSource, baseImage, DEFAULT_BASE_IMAGE, ensureAgentImage, ensureSidecarsImage, OFFLINE_BASE_IMAGE } from '../../../src/backends/docker/images.js';
import { missingOfflineBase, OFFLINE_BUILD } from '../../support/docker.js';

function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (d: Buffer) => (text += d.toString('utf8')));
  return { stream, text: () => text };
}

/** Runs `sh -c script` in a throwaway container of `image` (no network: nothing here needs one). */
async function inImage(image: string, script: string): Promise<string> {
  return docker(['run', '--rm', '--network', 'none', image, 'sh', '-c', script]);
}

/** A pinned agent program the host does not have is a missing prerequisite (the images copy it from the host). */
async function missingHostProgram(template: 'claude' | 'codex'): Promise<string | undefined> {
  try {
    await locateHostProgram(template);
    return undefined;
  } catch (error) {
    const reason = `host install of ${PINNED_PROGRAMS[template].npmPackage}@${PINNED_PROGRAMS[template].version} missing: ${(error as Error).message}`;
    if (process.env.CI === 'true') throw new Error(`CI prerequisite missing: ${reason}`, { cause: error });
    return reason;
  }
}

describe('the Dockerfile cascade', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bb-cascade-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const provider = (image: { kind: 'default'; name: string } | { kind: 'dockerfile'; path: string }) => ({ template: 'claude' as const, image });

  it('takes the provider default, then agent_provider.dockerfile, then the bottle override', () => {
    const state = join(dir, 'a');
    mkdirSync(state);
    expect(agentImageSource({ stateDir: state, provider: provider({ kind: 'default', name: 'x' }) })).toEqual({ kind: 'provider', template: 'claude' });
    expect(agentImageSource({ stateDir: state, provider: provider({ kind: 'dockerfile', path: '/m/Dockerfile' }) })).toEqual({ kind: 'dockerfile', dockerfile: '/m/Dockerfile' });
    writeFileSync(join(state, 'Dockerfile'), 'FROM scratch\n');
    expect(agentImageSource({ stateDir: state, provider: provider({ kind: 'dockerfile', path: '/m/Dockerfile' }) })).toEqual({ kind: 'override', dockerfile: join(state, 'Dockerfile') });
  });

  it('refuses an override that is a link (the state folder is hostile), instead of falling back', () => {
    const state = join(dir, 'b');
    mkdirSync(state);
    writeFileSync(join(dir, 'elsewhere'), 'FROM scratch\n');
    symlinkSync(join(dir, 'elsewhere'), join(state, 'Dockerfile'));
    expect(() => agentImageSource({ stateDir: state, provider: provider({ kind: 'default', name: 'x' }) })).toThrow(/symbolic link/);
  });

  it('defaults the base image to the public Debian image and checks an override', () => {
    expect(baseImage({})).toBe(DEFAULT_BASE_IMAGE);
    expect(baseImage({ BOT_BOTTLE_DOCKER_BASE_IMAGE: OFFLINE_BASE_IMAGE })).toBe(OFFLINE_BASE_IMAGE);
    expect(() => baseImage({ BOT_BOTTLE_DOCKER_BASE_IMAGE: '--privileged' })).toThrow(/not an image reference/);
  });
});

describe.skipIf(missingOfflineBase())('images built offline on the offline base', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bb-images-'));
  // Custom images are tagged after their Dockerfile's path, which is new on every run: remove them.
  const customRefs: string[] = [];
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    if (customRefs.length > 0) await docker(['image', 'rm', ...customRefs]);
  });

  it('builds the sidecars image with visible progress, then finds it again without building', async () => {
    const out = capture();
    const first = await ensureSidecarsImage({ ...OFFLINE_BUILD, output: out.stream });
    // Either it was built now (progress shown) or an earlier run left it (then nothing is shown).
    if (first.built) expect(out.text()).toMatch(/bot-bottle: building bot-bottle-sidecars[\s\S]*(Step \d+\/\d+|#\d+ )/);
    const again = capture();
    const second = await ensureSidecarsImage({ ...OFFLINE_BUILD, output: again.stream });
    expect(second).toEqual({ id: first.id, ref: first.ref, built: false });
    expect(again.text()).toBe('');
    const versions = await inImage(first.id, 'node --version; git --version; ssh -V 2>&1; test -f /opt/bot-bottle/sidecars.js && echo bundle');
    expect(versions.split('\n')).toEqual([process.version, expect.stringMatching(/^git version /), expect.stringMatching(/^OpenSSH_/), 'bundle']);
    // The bundle's own entry point runs on the image's node and loads its chunks.
    const usage = await docker(['run', '--rm', '--network', 'none', first.id, 'node', '/opt/bot-bottle/sidecars.js']).catch((e: Error) => e.message);
    expect(usage).toContain('usage: sidecars.js --config FILE');
  }, 600_000);

  it('builds the shell agent image: uid 1000, home /home/agent, bash, curl, git', async () => {
    const image = await ensureAgentImage({ kind: 'provider', template: 'shell' }, { ...OFFLINE_BUILD, output: capture().stream });
    const facts = await inImage(image.id, 'id -u; id -g; echo "$HOME"; pwd; bash --version | head -1; curl --version | head -1; git --version; test -w "$HOME" && echo writable');
    const lines = facts.split('\n');
    expect(lines.slice(0, 4)).toEqual(['1000', '1000', '/home/agent', '/home/agent']);
    expect(lines[4]).toMatch(/^GNU bash/);
    expect(lines[5]).toMatch(/^curl /);
    expect(lines[6]).toMatch(/^git version /);
    expect(lines[7]).toBe('writable');
  }, 600_000);

  it('builds a bottle override with only its Dockerfile as context: it cannot copy files from the state folder', async () => {
    const state = join(dir, 'state');
    mkdirSync(state);
    writeFileSync(join(state, 'secret.txt'), 'state-folder-file\n');
    writeFileSync(join(state, 'Dockerfile'), 'ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nCOPY secret.txt /secret.txt\n');
    const source = agentImageSource({ stateDir: state, provider: { template: 'shell', image: { kind: 'default', name: 'x' } } });
    await expect(ensureAgentImage(source, { ...OFFLINE_BUILD, output: capture().stream })).rejects.toThrow(/secret\.txt/);
    writeFileSync(join(state, 'Dockerfile'), 'ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo override-built > /marker\n');
    const built = await ensureAgentImage(source, { ...OFFLINE_BUILD, output: capture().stream });
    customRefs.push(built.ref);
    expect(built.ref).toMatch(/^bot-bottle-agent-custom:[0-9a-f]{16}$/);
    expect(await inImage(built.id, 'cat /marker')).toBe('override-built');
  }, 600_000);

  it('builds agent_provider.dockerfile with its own folder as context', async () => {
    const own = join(dir, 'own');
    mkdirSync(own);
    writeFileSync(join(own, 'tool.sh'), 'echo own-tool\n');
    writeFileSync(join(own, 'Dockerfile'), 'ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nCOPY tool.sh /tool.sh\n');
    const built = await ensureAgentImage({ kind: 'dockerfile', dockerfile: join(own, 'Dockerfile') }, { ...OFFLINE_BUILD, output: capture().stream });
    customRefs.push(built.ref);
    expect(await inImage(built.id, 'sh /tool.sh')).toBe('own-tool');
  }, 600_000);

  for (const template of ['claude', 'codex'] as const) {
    it(`builds the ${template} agent image from the host's pinned install`, async (ctx) => {
      const missing = await missingHostProgram(template);
      if (missing !== undefined) ctx.skip(missing);
      const image = await ensureAgentImage({ kind: 'provider', template }, { ...OFFLINE_BUILD, output: capture().stream });
      const pin = PINNED_PROGRAMS[template];
      const facts = await inImage(image.id, `id -u; echo "$HOME"; ${pin.command} --version`);
      expect(facts.split('\n')).toEqual(['1000', '/home/agent', pin.versionOutput(pin.version)]);
      const label = await docker(['image', 'inspect', '--format', '{{index .Config.Labels "bot-bottle.program"}}', image.id]);
      expect(label).toBe(`${pin.npmPackage}@${pin.version}`);
    }, 900_000);
  }
});
