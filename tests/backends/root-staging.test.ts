import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fstabField, rootStaging, STAGE_ROOT } from '../../src/backends/bwrap/root-staging.js';
import type { SandboxMounts } from '../../src/backends/bwrap/sandbox-args.js';
import { TeardownStack } from '../../src/launch/teardown.js';
import { tempHome, type TempHome } from '../support/home.js';

let h: TempHome;
afterEach(() => h.cleanup());

function mounts(program: string): SandboxMounts {
  const run = join(h.root, 'run');
  for (const d of ['ws', 'sock', 'seed', 'run']) mkdirSync(join(h.root, d), { recursive: true });
  const file = (name: string): string => h.write(`run/${name}`, name);
  return {
    workspace: join(h.root, 'ws'), socketDir: join(h.root, 'sock'), seedDir: join(h.root, 'seed'),
    caFile: file('ca.pem'), caBundle: file('ca-bundle.crt'), etcPasswd: file('passwd'), etcGroup: file('group'), etcHosts: file('hosts'), initScript: join(run, 'init.sh'),
    extra: [{ src: program, dest: '/opt/bot-bottle/bin/agent' }],
  };
}

describe.skipIf(process.getuid?.() !== 0)('root staging', () => {
  it('binds the agent program onto the staging folder instead of copying it, and clears the environment', async () => {
    h = tempHome();
    // A space and a backslash in the path: the binds travel through an fstab table, escaped.
    const program = h.write('private dir\\x/bin/agent', '#!/bin/sh\necho hi\n');
    chmodSync(program, 0o755);
    chmodSync(join(h.root, 'private dir\\x'), 0o700);
    const m = mounts(program);
    const stack = new TeardownStack(() => undefined);
    const staged = rootStaging('unit-test', m, stack);
    try {
      // Nothing is written next to the run files: the old way copied the program there.
      expect(readdirSync(join(h.root, 'run')).sort()).toEqual(['ca-bundle.crt', 'ca.pem', 'group', 'hosts', 'passwd']);
      const target = staged.mounts.extra[0]?.src ?? '';
      expect(target.startsWith(`${STAGE_ROOT}/unit-test-`)).toBe(true);
      const table = staged.prefix[staged.prefix.indexOf('bot-bottle-stage') + 1] ?? '';
      expect(readFileSync(table, 'utf8')).toContain(`${fstabField(program)} ${fstabField(target)} none bind 0 0\n`);
      expect(fstabField(program)).toContain('private\\040dir\\134x');
      // Run the real prefix (mount namespace, binds, setpriv) with a command in place of bwrap: the
      // sandbox uid reads the program through its bind although its folder is 0700, and gets no
      // environment but PATH.
      const run = (...command: string[]): string =>
        execFileSync(staged.prefix[0] ?? 'unshare', [...staged.prefix.slice(1), ...command], {
          cwd: h.root,
          env: { PATH: process.env.PATH, PWD: h.root, SECRET_MARKER: 'operator-value' },
          encoding: 'utf8',
        });
      expect(run('/usr/bin/id', '-u').trim()).toBe('65534');
      expect(run('/bin/cat', target)).toContain('echo hi');
      expect(run('/usr/bin/env').trim().split('\n')).toEqual(['PATH=/usr/sbin:/usr/bin:/sbin:/bin']);
    } finally {
      await stack.unwind();
    }
    expect(existsSync(staged.mounts.workspace)).toBe(false);
  });

  it('explains a program the sandbox uid could not run', async () => {
    h = tempHome();
    const program = h.write('bin/agent', '#!/bin/sh\n');
    chmodSync(program, 0o750);
    const stack = new TeardownStack(() => undefined);
    expect(() => rootStaging('unit-test', mounts(program), stack)).toThrow(/not readable and executable by other users.*chmod o\+rx/);
    await stack.unwind();
  });
});
