import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LaunchError } from '../../src/launch/errors.js';
import { hostSidecarHost } from '../../src/launch/host-sidecars.js';
import { TeardownStack } from '../../src/launch/teardown.js';
import { readBundleSecrets } from '../../src/sidecars/secrets.js';
import { route } from '../egress/support.js';
import { tempHome, type TempHome } from '../support/home.js';
import { bundlePids, processesExactly, processesWith, startCli, waitUntil, type StartedCli } from '../support/lifecycle.js';
import { missingTool } from '../support/prereq.js';

/**
 * Token values and the operator's sensitive host values reach the bundle only
 * through its secrets file (0600, removed once read), never its environment
 * or command line, which `ps e` and /proc/<pid>/environ show to the host's
 * other users of that uid (and `docker inspect` shows for a container).
 */
const TOKEN = ['ghp', 'bundleSecretsTokenValue', '0123456789abcdef'].join('_');
const SENSITIVE = 'sensitive-host-value-for-the-bundle-0123';
const KNOB_LIKE = ['ghp', 'knobLikeTokenVariable', '0123456789abcdef'].join('_');

let h: TempHome | undefined;
let started: StartedCli | undefined;
afterEach(async () => {
  await started?.kill();
  started = undefined;
  h?.cleanup();
  h = undefined;
});

const proc = (pid: number, file: string): string => readFileSync(`/proc/${pid}/${file}`, 'latin1');

describe.skipIf(missingTool('bwrap') ?? missingTool('socat', ['-V']))('the bundle of a running bwrap bottle', () => {
  it('holds no token or sensitive value in its environment or command line', async () => {
    h = tempHome();
    h.writeBottle('b', 'agent_provider: {template: shell}\negress:\n  routes:\n    - host: api.example.test\n      auth: {scheme: Bearer, token_ref: SECRETS_TEST_TOKEN}');
    h.writeAgent('a', 'bottle: b');
    const sleep = `${600 + Math.floor(Math.random() * 300)}.${Math.floor(Math.random() * 1e6)}`;
    started = startCli(['start', 'a', '--headless', '--label', 'secrets', '--prompt', `sleep ${sleep}`], {
      cwd: h.cwd,
      // BOT_BOTTLE_GITHUB_TOKEN: a token in a variable named like the README's, which no knob is.
      env: { BOT_BOTTLE_HOME: h.home, BOT_BOTTLE_BACKEND: 'bwrap', SECRETS_TEST_TOKEN: TOKEN, BOT_BOTTLE_SENSITIVE_PREFIXES: 'MYSENS_', MYSENS_X: SENSITIVE, BOT_BOTTLE_GITHUB_TOKEN: KNOB_LIKE },
    });
    const cli = started;
    await waitUntil(`the agent to run (${cli.stderr()})`, () => processesExactly(`sleep ${sleep}`).length > 0 || undefined, 30_000);
    const [pid] = bundlePids(h.home, 'secrets');
    expect(pid).toBeDefined();
    const environ = proc(pid!, 'environ');
    // We can read it (the knobs are there), and the secrets are not; nor is anything the bundle does not read.
    expect(environ).toContain('BOT_BOTTLE_SENSITIVE_PREFIXES=MYSENS_');
    expect(environ).not.toContain('BOT_BOTTLE_HOME=');
    for (const secret of [TOKEN, SENSITIVE, KNOB_LIKE]) {
      expect(environ).not.toContain(secret);
      expect(proc(pid!, 'cmdline')).not.toContain(secret);
    }
    expect(environ).not.toContain('EGRESS_TOKEN_');
    // Read at start-up and gone once the bundle was ready.
    expect(existsSync(join(h.home, 'state', 'secrets', 'run', 'sidecars-secrets.json'))).toBe(false);
    cli.child.kill('SIGTERM');
    expect((await cli.exited).code).toBe(143);
  });
});

describe('a bundle whose token slot has no value', () => {
  it('fails before it is ready, naming the slot and the host variable, and leaves nothing behind', async () => {
    h = tempHome();
    const dir = join(h.root, 'run');
    mkdirSync(join(dir, 'sock'), { recursive: true });
    const routesFile = join(dir, 'routes.json');
    writeFileSync(routesFile, JSON.stringify([route('api.example.test', 443, { auth: { scheme: 'Bearer', tokenSlot: 'EGRESS_TOKEN_0', tokenRef: 'MISSING_HOST_VAR' } })]));
    const config = { bottle: 'missing', egress: { listen: { socket: join(dir, 'sock', 'egress.sock') }, routesFile, caCertOut: join(dir, 'ca.pem') } };
    const stack = new TeardownStack(() => undefined);
    const host = hostSidecarHost(dir);
    const error = await host
      .start({ config: config as never, secrets: { EGRESS_TOKEN_1: TOKEN }, settings: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, logFile: join(dir, 'sidecars.log'), teardown: stack })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LaunchError);
    expect((error as Error).message).toMatch(/exited before it was ready .*token slot EGRESS_TOKEN_0 \(host variable MISSING_HOST_VAR\)/);
    expect((error as Error).message).not.toContain(TOKEN);
    await stack.unwind();
    expect(existsSync(join(dir, 'sidecars-secrets.json'))).toBe(false);
    expect(processesWith('sidecars.js', join(dir, 'sidecars.json'))).toEqual([]);
    expect(stack.size).toBe(0);
  });
});

describe("the bundle's secrets file", () => {
  it('is read only when it is a regular 0600 file of ours, and no error quotes its content', () => {
    h = tempHome();
    const ok = join(h.root, 'ok.json');
    writeFileSync(ok, JSON.stringify({ EGRESS_TOKEN_0: TOKEN }), { mode: 0o600 });
    expect(readBundleSecrets(ok)).toEqual({ EGRESS_TOKEN_0: TOKEN });
    const open = join(h.root, 'open.json');
    writeFileSync(open, JSON.stringify({ EGRESS_TOKEN_0: TOKEN }), { mode: 0o640 });
    expect(() => readBundleSecrets(open)).toThrow(/readable by others \(mode 640\); it must be 0600/);
    const link = join(h.root, 'link.json');
    symlinkSync(ok, link);
    expect(() => readBundleSecrets(link)).toThrow(/cannot open it \(ELOOP\)/);
    const bad = join(h.root, 'bad.json');
    writeFileSync(bad, `{"EGRESS_TOKEN_0": "${TOKEN}"`, { mode: 0o600 });
    expect(() => readBundleSecrets(bad)).toThrow(/is not JSON$/);
    expect(() => readBundleSecrets(bad)).not.toThrow(new RegExp(TOKEN));
  });
});
