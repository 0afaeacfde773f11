import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { codexConfigToml } from '../../src/provision/codex.js';
import { appendTomlConfig, superviseRegistration } from '../../src/supervise/registration.js';
import { tempHome, type TempHome } from '../support/home.js';
import { missingTool } from '../support/prereq.js';

/**
 * The config.toml bot-bottle provisions, read by the pinned Codex itself with
 * --strict-config: a key this Codex does not know (a typo, or one a new
 * version renamed) would otherwise be ignored in silence, and with it the
 * setting that keeps an approval prompt or a phone-home call away. Codex runs
 * without a network (bwrap --unshare-net): it only has to get past loading
 * its config.
 */
const missing = missingTool('codex', ['--version'], 'scripts/install-agents.sh') ?? missingTool('bwrap');

let h: TempHome;
afterEach(() => h.cleanup());

/** Runs codex exec until it has printed its session header (config loaded) or failed; returns its output. */
function codexUntilStarted(codexHome: string, workdir: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'bwrap',
      ['--unshare-net', '--die-with-parent', '--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--tmpfs', '/tmp', '--bind', codexHome, codexHome, '--bind', workdir, workdir, '--chdir', workdir, 'codex', ...args],
      // Its own process group, so bwrap and Codex inside it stop together, before the test removes their files.
      { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: join(codexHome, '..'), CODEX_HOME: codexHome }, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
    );
    let out = '';
    let timedOut = false;
    const stop = (): void => {
      try {
        process.kill(-(child.pid ?? 0), 'SIGKILL');
      } catch {
        // Already gone.
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, 30_000);
    const onData = (chunk: Buffer): void => {
      out += chunk.toString('utf8');
      if (/session id:/.test(out)) stop();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('error', reject);
    child.once('close', () => {
      clearTimeout(timer);
      if (timedOut) reject(new Error(`codex neither started nor failed within 30 s:\n${out}`));
      else resolve(out);
    });
  });
}

describe.skipIf(missing)('provisioned Codex config', () => {
  it('is accepted by the installed Codex with --strict-config and applies the bottle\'s settings', async () => {
    h = tempHome();
    const codexHome = join(h.userHome, '.codex');
    mkdirSync(codexHome, { recursive: true });
    const workspace = join(h.root, 'workspace');
    mkdirSync(workspace);
    const mcp = superviseRegistration('codex', 'http://127.0.0.1:8419/mcp').files[0]?.content ?? '';
    writeFileSync(join(codexHome, 'config.toml'), appendTomlConfig(codexConfigToml(workspace), mcp));
    writeFileSync(join(codexHome, 'auth.json'), JSON.stringify({ auth_mode: 'apikey', OPENAI_API_KEY: 'placeholder' }));
    const out = await codexUntilStarted(codexHome, workspace, ['exec', '--strict-config', '--skip-git-repo-check', '-c', 'openai_base_url="http://127.0.0.1:9/v1"', 'hello']);
    expect(out).not.toMatch(/unknown configuration field|Error loading config/);
    expect(out).toContain('approval: never');
    expect(out).toContain('sandbox: danger-full-access');
  });

  it('would catch a key Codex does not know', async () => {
    h = tempHome();
    const codexHome = join(h.userHome, '.codex');
    mkdirSync(codexHome, { recursive: true });
    writeFileSync(join(codexHome, 'config.toml'), `check_for_updates_on_start = false\n${codexConfigToml(h.cwd)}`);
    const out = await codexUntilStarted(codexHome, h.cwd, ['exec', '--strict-config', '--skip-git-repo-check', 'hello']);
    expect(out).toContain('unknown configuration field `check_for_updates_on_start`');
  });
});
