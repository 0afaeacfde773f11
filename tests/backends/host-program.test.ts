import { chmodSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hostProgram } from '../../src/backends/bwrap/host-program.js';

/**
 * How the bwrap backend finds the agent's program on the host and what it
 * binds into the sandbox, over package layouts built here (npm global with a
 * nested platform package, a hoisted one, a single binary).
 */
let root: string;

beforeEach(() => {
  root = realpathSync(mkdtempSync(join(tmpdir(), 'bb-hostprog-')));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function write(path: string, text: string, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  chmodSync(path, mode);
}

/** `<prefix>/lib/node_modules/@acme/agent` with its launcher linked from `<prefix>/bin/agent`, as `npm install -g` lays it out. */
function npmGlobal(prefix: string, platformDep: 'nested' | 'hoisted' | 'missing'): string {
  const pkg = join(prefix, 'lib', 'node_modules', '@acme', 'agent');
  write(join(pkg, 'package.json'), JSON.stringify({ name: '@acme/agent', bin: { agent: 'bin/agent.js' }, optionalDependencies: { '@acme/agent-linux-x64': '1.0.0', '@acme/agent-darwin-arm64': '1.0.0' } }));
  write(join(pkg, 'bin', 'agent.js'), '#!/usr/bin/env node\nconsole.log("launcher")\n', 0o755);
  const platform =
    platformDep === 'nested' ? join(pkg, 'node_modules', '@acme', 'agent-linux-x64') : join(prefix, 'lib', 'node_modules', '@acme', 'agent-linux-x64');
  if (platformDep !== 'missing') {
    write(join(platform, 'package.json'), JSON.stringify({ name: '@acme/agent-linux-x64' }));
    write(join(platform, 'vendor', 'agent'), 'native', 0o755);
  }
  mkdirSync(join(prefix, 'bin'), { recursive: true });
  symlinkSync('../lib/node_modules/@acme/agent/bin/agent.js', join(prefix, 'bin', 'agent'));
  return pkg;
}

describe('hostProgram', () => {
  it('binds the whole package of a Node launcher (with its nested platform package) and links the program to its launcher', () => {
    const prefix = join(root, 'npm');
    const pkg = npmGlobal(prefix, 'nested');
    const program = hostProgram('agent', `${join(prefix, 'bin')}:/usr/bin:/bin`);
    expect(program.binds).toEqual([{ src: pkg, dest: '/opt/bot-bottle/lib/node_modules/@acme/agent' }]);
    expect(program.links).toEqual([{ target: '/opt/bot-bottle/lib/node_modules/@acme/agent/bin/agent.js', path: '/opt/bot-bottle/bin/agent' }]);
    expect(program.guestDir).toBe('/opt/bot-bottle/bin');
  });

  it('also binds a platform package hoisted beside the package, where Node would find it', () => {
    const prefix = join(root, 'npm');
    const pkg = npmGlobal(prefix, 'hoisted');
    const program = hostProgram('agent', join(prefix, 'bin'));
    expect(program.binds).toEqual([
      { src: pkg, dest: '/opt/bot-bottle/lib/node_modules/@acme/agent' },
      { src: join(prefix, 'lib', 'node_modules', '@acme', 'agent-linux-x64'), dest: '/opt/bot-bottle/lib/node_modules/@acme/agent-linux-x64' },
    ]);
  });

  it('skips optional dependencies that are not installed (other platforms)', () => {
    const prefix = join(root, 'npm');
    npmGlobal(prefix, 'missing');
    expect(hostProgram('agent', join(prefix, 'bin')).binds).toHaveLength(1);
  });

  it('follows the operator\'s PATH order', () => {
    const first = join(root, 'first');
    const second = join(root, 'second');
    npmGlobal(first, 'nested');
    npmGlobal(second, 'nested');
    expect(hostProgram('agent', `${join(second, 'bin')}:${join(first, 'bin')}`).binds[0]?.src).toBe(join(second, 'lib', 'node_modules', '@acme', 'agent'));
  });

  it('binds a single binary outside /usr as the program itself', () => {
    write(join(root, 'versions', '2.1.0'), 'ELF', 0o755);
    mkdirSync(join(root, 'bin'));
    symlinkSync(join(root, 'versions', '2.1.0'), join(root, 'bin', 'claude'));
    expect(hostProgram('claude', join(root, 'bin'))).toEqual({
      binds: [{ src: join(root, 'versions', '2.1.0'), dest: '/opt/bot-bottle/bin/claude' }],
      links: [],
      guestDir: '/opt/bot-bottle/bin',
    });
  });

  it('binds nothing for a program under /usr', () => {
    expect(hostProgram('sh', '/usr/bin:/bin')).toEqual({ binds: [], links: [] });
  });

  it('refuses a package name that would escape the guest folder', () => {
    const prefix = join(root, 'npm');
    const pkg = npmGlobal(prefix, 'nested');
    write(join(pkg, 'package.json'), JSON.stringify({ name: '../../../etc' }));
    // Not a package we can place: treated as a lone file, never as a path under /opt/bot-bottle/lib.
    const program = hostProgram('agent', join(prefix, 'bin'));
    expect(program.binds).toEqual([{ src: join(pkg, 'bin', 'agent.js'), dest: '/opt/bot-bottle/bin/agent' }]);
  });

  it('names the install command when the program is missing', () => {
    expect(() => hostProgram('codex', join(root, 'nowhere'))).toThrow(
      'the bwrap backend runs the agent\'s program from the host, but "codex" is not on PATH: install Codex on the host (npm install -g @openai/codex)',
    );
  });
});
