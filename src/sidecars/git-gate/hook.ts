import { randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as z from 'zod/mini';

/**
 * The pre-receive hook is a tiny Node client that hands the push to the gate
 * daemon over a Unix socket and relays the daemon's verdict. Why not scan in
 * the hook itself: the daemon already holds the DLP scanner, the config and
 * the supervise queue, so a push costs one socket round trip instead of a
 * cold Node start that re-loads rules (deps §3 measured ~2 s that way), and
 * there is one place that decides. If the daemon cannot be reached or dies
 * mid-check, the client exits 1: the push is refused (fail closed).
 */

export const HookRequestSchema = z.strictObject({
  token: z.string(),
  repo: z.string(),
  /** Absolute GIT_QUARANTINE_PATH ('' when the push brought no objects). */
  quarantine: z.string(),
  pushOptions: z.array(z.string()).check(z.maxLength(100)),
  /** pre-receive stdin, verbatim. */
  updates: z.string().check(z.maxLength(4 * 1024 * 1024)),
});

export type HookRequest = z.infer<typeof HookRequestSchema>;

/** Lines written here reach the pushing agent as `remote: ...`. */
export type Say = (text: string) => void;
export type HookHandler = (req: HookRequest, say: Say) => Promise<number>;

const CLIENT_SOURCE = String.raw`'use strict';
const net = require('node:net');
const path = require('node:path');
const [sock, token, repo] = process.argv.slice(2);
const die = (m) => { process.stderr.write('git-gate: ' + m + '; push refused\n'); process.exit(1); };
const chunks = [];
let size = 0;
process.stdin.on('data', (d) => { size += d.length; if (size > 4194304) die('too many ref updates'); chunks.push(d); });
process.stdin.on('end', () => {
  const env = process.env;
  const n = Math.min(Number(env.GIT_PUSH_OPTION_COUNT || 0), 100);
  const pushOptions = [];
  for (let i = 0; i < n; i++) pushOptions.push(env['GIT_PUSH_OPTION_' + i] || '');
  const quarantine = env.GIT_QUARANTINE_PATH ? path.resolve(env.GIT_QUARANTINE_PATH) : '';
  const req = { token, repo, quarantine, pushOptions, updates: Buffer.concat(chunks).toString('utf8') };
  const s = net.connect(sock);
  let buf = '';
  let code = 1;
  s.setEncoding('utf8');
  s.on('connect', () => s.write(JSON.stringify(req) + '\n'));
  s.on('data', (d) => {
    buf += d;
    for (let i = buf.indexOf('\n'); i !== -1; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      let m;
      try { m = JSON.parse(line); } catch { continue; }
      if (typeof m.say === 'string') process.stderr.write(m.say);
      if (typeof m.exit === 'number') code = m.exit;
    }
  });
  s.on('error', (e) => die('the push check could not reach the gate daemon (' + (e.code || e.message) + ')'));
  s.on('close', () => process.exit(code));
});
`;

function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface HookServer {
  /** The pre-receive script to install in each mirror (per repo: the repo name is baked in). */
  hookScript(repo: string): string;
  close(): Promise<void>;
}

const MAX_REQUEST = 5 * 1024 * 1024;
/** sun_path is 108 bytes on Linux; deep data dirs fall back to a short private temp dir. */
const MAX_SOCKET_PATH = 100;

export async function startHookServer(dataDir: string, handler: HookHandler, log: (e: Record<string, unknown>) => void): Promise<HookServer> {
  const token = randomBytes(24).toString('hex');
  let sockDir = dataDir;
  let ownDir: string | undefined;
  if (join(dataDir, 'hook.sock').length > MAX_SOCKET_PATH) {
    ownDir = await mkdtemp(join(tmpdir(), 'bbgg-'));
    sockDir = ownDir;
  }
  const sockPath = join(sockDir, 'hook.sock');
  await rm(sockPath, { force: true });
  const clientPath = join(dataDir, 'pre-receive-client.cjs');
  await writeFile(clientPath, CLIENT_SOURCE, { mode: 0o600 });

  const server: Server = createServer((sock) => serve(sock, token, handler, log));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(sockPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    hookScript: (repo) => `#!/bin/sh\n# Installed by the bot-bottle git-gate; hands the push to the gate daemon.\nexec ${shq(process.execPath)} ${shq(clientPath)} ${shq(sockPath)} ${shq(token)} ${shq(repo)}\n`,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(sockPath, { force: true });
      if (ownDir) await rm(ownDir, { recursive: true, force: true });
    },
  };
}

function serve(sock: Socket, token: string, handler: HookHandler, log: (e: Record<string, unknown>) => void): void {
  let buf = '';
  let started = false;
  const send = (msg: Record<string, unknown>): void => {
    if (!sock.destroyed) sock.write(`${JSON.stringify(msg)}\n`);
  };
  sock.setEncoding('utf8');
  sock.on('error', () => undefined);
  sock.on('data', (d: string) => {
    if (started) return;
    buf += d;
    if (buf.length > MAX_REQUEST) {
      send({ say: 'git-gate: push check request too large\n', exit: 1 });
      sock.end();
      started = true;
      return;
    }
    const nl = buf.indexOf('\n');
    if (nl === -1) return;
    started = true;
    let req: HookRequest;
    try {
      req = HookRequestSchema.parse(JSON.parse(buf.slice(0, nl)));
    } catch {
      send({ say: 'git-gate: malformed push check request\n', exit: 1 });
      sock.end();
      return;
    }
    const a = Buffer.from(req.token);
    const b = Buffer.from(token);
    if (a.length !== b.length || !timingSafeEqual(a, b)) {
      send({ say: 'git-gate: push check refused (bad token)\n', exit: 1 });
      sock.end();
      return;
    }
    handler(req, (text) => send({ say: text }))
      .then((code) => send({ exit: code }))
      .catch((err: unknown) => {
        log({ event: 'git-gate.hook-error', repo: req.repo, error: (err as Error).message });
        send({ say: `git-gate: push check failed (${(err as Error).message}); push refused\n`, exit: 1 });
      })
      .finally(() => sock.end());
  });
}
