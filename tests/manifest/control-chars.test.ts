import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { sandboxArgs, sandboxCommand, type SandboxMounts } from '../../src/backends/bwrap/sandbox-args.js';
import { askSecret } from '../../src/cli/ask-secret.js';
import { LaunchError } from '../../src/launch/errors.js';
import { UserError } from '../../src/util/errors.js';
import { resolveSecrets } from '../../src/launch/secrets.js';
import { ManifestCatalog } from '../../src/manifest/catalog.js';
import type { ManifestError } from '../../src/manifest/errors.js';
import { manifestErrorOf } from '../support/manifest-error.js';
import { parseAgent, parseBottle } from '../../src/manifest/load.js';
import { resolvePlan } from '../../src/plan/resolve.js';
import { cli, tempHome, type TempHome } from '../support/home.js';

let h: TempHome;
afterEach(() => h.cleanup());

const bottleError = (fm: string): ManifestError => manifestErrorOf(() => parseBottle(h.writeBottle('b', fm)));

describe('control characters in manifests', () => {
  it('refuses a NUL in an env value with file, line, key and the character, never the value', () => {
    h = tempHome();
    const err = bottleError('agent_provider: {template: shell}\nenv:\n  A: "x\\u0000--share-net"');
    expect(err.location).toMatchObject({ line: 4, key: 'env.A' });
    expect(err.message).toMatch(/b\.md:4:\d+: env\.A: contains the control character NUL \(U\+0000\) at character 2/);
    expect(err.message).not.toContain('share-net');
  });

  it('refuses a --bind smuggled through several NULs, an escape and a newline in single-line values', () => {
    h = tempHome();
    expect(bottleError('env:\n  B: "x\\0--bind\\0/\\0/host"').message).toContain('NUL (U+0000)');
    expect(bottleError('env:\n  T: "\\e]0;pwned\\a"').message).toContain('escape (U+001B)');
    expect(bottleError('env:\n  L: "two\\nlines"').message).toContain('newline (U+000A)');
    expect(bottleError('git-gate:\n  repos:\n    app: {url: u, identity: i, host_key: "h ssh-ed25519 AAA\\n* ssh-rsa BBB"}').location.key).toBe('git-gate.repos.app.host_key');
    expect(bottleError('git-gate:\n  user: {name: "bot\\u009b31m"}').message).toContain('U+009B');
  });

  it('refuses a NUL anywhere, even under keys that are ignored, and a control character in a key', () => {
    h = tempHome();
    const ignored = manifestErrorOf(() => parseAgent(h.writeAgent('a', 'description: "a\\u0000b"'), 'home'));
    expect(ignored.location).toMatchObject({ line: 2, key: 'description' });
    expect(bottleError('env:\n  "A\\u0000B": "1"').message).toContain('a key contains the control character NUL');
  });

  it('allows tab and newline in free text and refuses other controls in the raw file, with line and column', () => {
    h = tempHome();
    const ok = parseAgent(h.writeAgent('a', 'description: "tab\\there\\nnext"', 'Line one\n\tindented line two'), 'home');
    expect(ok.body).toBe('Line one\n\tindented line two');
    const nul = manifestErrorOf(() => parseAgent(h.writeAgent('n', 'bottle: b', 'hello\u0000world'), 'home'));
    expect(nul.location).toMatchObject({ line: 4, column: 6 });
    expect(nul.message).toContain('NUL (U+0000)');
    const cr = manifestErrorOf(() => parseAgent(h.writeAgent('c', 'bottle: b', 'visible\rhidden'), 'home'));
    expect(cr.message).toContain('carriage return');
    expect(parseAgent(h.write('crlf.md', '---\r\nbottle: b\r\n---\r\nwindows\r\n'), 'home').body).toBe('windows');
  });

  it('gives a clear error, not a stack trace, for an agent body with a NUL', async () => {
    h = tempHome();
    h.writeBottle('b', 'agent_provider: {template: claude}');
    h.writeAgent('a', 'bottle: b', 'You are\u0000 helpful.');
    const run = await cli(h, ['start', 'a', '--dry-run', '--backend', 'bwrap']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/a\.md:4:8: contains the control character NUL/);
    expect(run.stderr).not.toContain('unexpected error');
  });
});

describe('control characters on the command line', () => {
  it('refuses a --prompt with a NUL or an escape, naming the flag; tabs and newlines are fine', async () => {
    h = tempHome();
    h.writeBottle('b', 'agent_provider: {template: shell}');
    h.writeAgent('a', 'bottle: b');
    const nul = await cli(h, ['start', 'a', '--headless', '--prompt', 'echo a\u0000--share-net', '--dry-run', '--backend', 'bwrap']);
    expect(nul.code).toBe(1);
    expect(nul.stderr).toContain('--prompt contains the control character NUL (U+0000) at character 7');
    const esc = await cli(h, ['start', 'a', '--headless', '--prompt', 'x\u001b[2J', '--dry-run', '--backend', 'bwrap']);
    expect(esc.stderr).toContain('escape (U+001B)');
    const ok = await cli(h, ['start', 'a', '--headless', '--prompt', 'line one\n\tline two', '--dry-run', '--backend', 'bwrap']);
    expect(ok.code).toBe(0);
  });
});

describe('control characters in secrets', () => {
  function secretsPlan(fm: string) {
    h = tempHome();
    h.writeBottle('b', fm);
    h.writeAgent('a', 'bottle: b');
    return resolvePlan(new ManifestCatalog({ home: h.home, cwd: h.cwd, userHome: h.userHome }), {
      agent: 'a',
      bottles: [],
      backend: 'bwrap',
      backendReason: 'test',
      slug: 'a-0001',
      cwd: h.cwd,
      copyCwd: false,
      mode: { kind: 'interactive' },
      home: h.home,
      hostEnv: {},
      userHome: h.userHome,
    });
  }

  it('refuses a host variable whose value holds a NUL, without printing the value; newlines (a PEM) pass', async () => {
    const plan = secretsPlan('agent_provider: {template: shell}\nenv:\n  KEY: "${HOST_KEY}"');
    const err = await resolveSecrets(plan, { hostEnv: { HOST_KEY: 'secret-part\u0000--share-net' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LaunchError);
    expect((err as Error).message).toContain('env KEY: the value of host variable HOST_KEY contains the control character NUL');
    expect((err as Error).message).not.toContain('secret-part');
    const pem = await resolveSecrets(plan, { hostEnv: { HOST_KEY: '-----BEGIN KEY-----\nabc\n-----END KEY-----' } });
    expect(pem.agentEnv.KEY).toContain('\n');
  });

  it('refuses a typed secret or a token with a control character', async () => {
    const prompted = secretsPlan('agent_provider: {template: shell}\nenv:\n  P: "?paste it"');
    await expect(resolveSecrets(prompted, { hostEnv: {}, prompt: () => Promise.resolve('abc\u0000def') })).rejects.toThrow(/env P: the value typed in contains the control character NUL/);
    const token = secretsPlan('agent_provider: {template: shell}\negress:\n  routes:\n    - host: a.example\n      auth: {scheme: Bearer, token_ref: TOK}');
    const err = await resolveSecrets(token, { hostEnv: { TOK: 'tok-value\r\nX-Evil: 1' } }).then(
      () => new Error('resolved'),
      (e: unknown) => e as Error,
    );
    expect(err.message).toContain('host variable TOK');
    expect(err.message).not.toContain('tok-value');
  });

  it('refuses a control character typed at the secret prompt instead of silently dropping it', async () => {
    h = tempHome();
    const input = Object.assign(new PassThrough(), { isRaw: false, setRawMode: () => input }) as unknown as NodeJS.ReadStream;
    const output = new PassThrough() as unknown as NodeJS.WriteStream;
    const pending = askSecret('secret: ', input, output);
    input.emit('data', Buffer.from('abc\u001b[Adef\r'));
    await expect(pending).rejects.toThrow(/control character \(escape \(U\+001B\)\)/);
    const fine = askSecret('secret: ', input, output);
    input.emit('data', Buffer.from('abc\u007fd\r'));
    await expect(fine).resolves.toBe('abd');
  });
});

describe('the bwrap argument builder refuses NUL as the last line of defence', () => {
  const mounts: SandboxMounts = {
    workspace: '/w',
    socketDir: '/s',
    seedDir: '/seed',
    caFile: '/ca',
    caBundle: '/cab',
    etcPasswd: '/p',
    etcGroup: '/g',
    etcHosts: '/h',
    initScript: '/i',
    extra: [],
  };

  it('throws on an env value with a NUL, naming its variable but not its value', () => {
    h = tempHome();
    const build = () => sandboxArgs({ mounts, env: { A: 'hidden-value\u0000--share-net' }, hostname: 'x', workdir: '/workspace', newSession: true });
    expect(build).toThrow(UserError);
    expect(build).toThrow(/sandbox option \d+ \(after "A"\) contains a NUL character/);
    expect(build).not.toThrow(/hidden-value/);
    expect(() => sandboxArgs({ mounts: { ...mounts, workspace: '/w\u0000--bind\u0000/\u0000/host' }, env: {}, hostname: 'x', workdir: '/workspace', newSession: true })).toThrow(/NUL/);
    expect(() => sandboxCommand(['claude', '-p', 'a\u0000b'])).toThrow(/agent command argument 6 .* NUL/);
    expect(sandboxArgs({ mounts, env: { A: 'fine\nvalue' }, hostname: 'x', workdir: '/workspace', newSession: true })).toContain('fine\nvalue');
  });
});
