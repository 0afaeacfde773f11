import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeUpstreamPki } from '../egress/support.js';
import { tempHome, type TempHome } from '../support/home.js';
import { missingTool } from '../support/prereq.js';
import { tmuxServer } from '../support/tmux.js';

/**
 * The README's "Try it by hand (bwrap)" block, run line by line on a real
 * terminal in the `shell` example bottle the quick start installs and starts.
 * The commands come from the README itself, so the README cannot drift from
 * what the product does; what each line must show is pinned here.
 */
const ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'cli.js');
// example.com is pinned to an address of its own on loopback: port 443 is what the example route names.
const UPSTREAM = '127.0.0.77';
const notRoot = process.getuid?.() === 0 ? undefined : 'binding port 443 for the fake example.com needs root (CI runs as root)';
const missing = missingTool('tmux', ['-V']) ?? missingTool('bwrap') ?? missingTool('socat', ['-V']) ?? missingTool('curl') ?? notRoot;
const OPERATOR_SECRET = 'sk-readme-operator-secret-0123456789abcdef';

/** The README block's commands in order (the text before each `#` comment). */
function tryItLines(): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const block = /## Try it by hand \(bwrap\)\s*```sh\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!block) throw new Error('README has no "Try it by hand (bwrap)" sh block');
  return block
    .split('\n')
    .map((line) => line.replace(/\s+#\s.*$/, '').trim())
    .filter((line) => line.length > 0);
}

const { tmux, waitFor } = tmuxServer();

describe.skipIf(missing)("README's Try it by hand, run in the shell example bottle", () => {
  let h: TempHome;
  let upstream: Server;
  const seen: string[] = [];
  const session = `bb-readme-${process.pid}`;
  const lines = tryItLines();

  beforeAll(async () => {
    h = tempHome();
    const pki = await makeUpstreamPki(['example.com']);
    upstream = createServer({ key: pki.keyPem, cert: pki.certPem }, (req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<h1>Example Domain</h1>\n');
    });
    await new Promise<void>((resolve) => upstream.listen(443, UPSTREAM, resolve));
    const caFile = h.write('upstream-ca.pem', pki.caPem);
    // What the quick start runs after building: install the examples, then start the `shell` bottle.
    const env = `env -i PATH=${process.env.PATH} TERM=xterm BOT_BOTTLE_HOME=${h.home} BOT_BOTTLE_BACKEND=bwrap BOT_BOTTLE_STANDBY=0 BOT_BOTTLE_RESOLVE=example.com:443:${UPSTREAM} BOT_BOTTLE_UPSTREAM_CA=${caFile} BOT_BOTTLE_OPENAI_API_KEY=${OPERATOR_SECRET}`;
    const command = `cd ${h.cwd} && ${env} ${process.execPath} ${CLI} init --examples && ${env} ${process.execPath} ${CLI} start shell; echo EXIT=$?; sleep 120`;
    tmux('new-session', '-d', '-s', session, '-x', '200', '-y', '60', command);
  }, 60_000);

  afterAll(async () => {
    try {
      tmux('kill-session', '-t', session);
    } catch {
      // Already gone.
    }
    await new Promise<void>((resolve) => (upstream ? upstream.close(() => resolve()) : resolve()));
    h?.cleanup();
  });

  it('the block starts with the quick start and ends with exit', () => {
    expect(lines[0]).toBe('./scripts/quickstart.sh');
    expect(lines.at(-1)).toBe('exit');
  });

  it('every line does what its comment says', async () => {
    await waitFor(session, 'Launch this bottle? [y/N]', 60_000);
    tmux('send-keys', '-t', session, 'y', 'Enter');
    // Each line's output is fenced by markers so one line's text cannot satisfy the next line's check.
    const outputs: string[] = [];
    for (const [i, line] of lines.slice(1, -1).entries()) {
      // Quoted apart, so the typed command line itself never shows the marker.
      tmux('send-keys', '-t', session, '-l', `echo "BEG""IN-${i}"; ${line}; echo; echo "E""ND-${i}"`);
      tmux('send-keys', '-t', session, 'Enter');
      await waitFor(session, `END-${i}`, 30_000);
      const text = tmux('capture-pane', '-p', '-J', '-S', '-400', '-t', session);
      const begin = text.lastIndexOf(`\nBEGIN-${i}`);
      outputs.push(text.slice(begin, text.lastIndexOf(`END-${i}`)));
    }
    const byCommand = new Map(lines.slice(1, -1).map((line, i) => [line, outputs[i] ?? '']));
    const output = (fragment: string): string => {
      const entry = [...byCommand.entries()].find(([line]) => line.includes(fragment));
      if (!entry) throw new Error(`the README block has no line with ${fragment}`);
      return entry[1];
    };
    expect(output("-w '%{http_code}")).toMatch(/\n200\n/);
    // egress's 403 body (inside TLS): what was blocked and the supervise call that asks for it.
    const post = output('-X POST');
    expect(post, post).toContain('egress blocked POST example.com/');
    expect(post).toContain('"methods":["POST"]');
    const github = output('https://github.com/');
    expect(github, github).toContain('egress blocked GET github.com/');
    expect(github).toContain('`egress-block` with {"host":"github.com"');
    expect(output('_egress.local/allowlist')).toContain('example.com');
    const environ = output('/proc/1/environ');
    expect(environ).toContain('/workspace');
    expect(environ).not.toContain(OPERATOR_SECRET);
    // The GET and the POST's refusal are told apart: only the GET reached the upstream.
    expect(seen).toEqual(['GET /']);

    tmux('send-keys', '-t', session, 'exit', 'Enter');
    const end = await waitFor(session, 'EXIT=0', 30_000);
    expect(end).toMatch(/resume with: bot-bottle resume \S+/);
  }, 180_000);
});
