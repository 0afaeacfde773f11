import { mkdir, rm } from 'node:fs/promises';
import type { Scanner } from '../../dlp/index.js';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { GitGateConfigSchema, type GitGateConfig, type GitGateConfigInput } from './config.js';
import { gateGitEnv } from './git.js';
import { startHookServer } from './hook.js';
import { createGitHttpHandler } from './http-bridge.js';
import { Mirror } from './mirror.js';
import { createPushScanner, handlePush } from './receive.js';

export { GitGateConfigSchema, type GitGateConfig } from './config.js';
export { gitInsteadOfEntries, renderGitConfig } from './insteadof.js';

export interface GitGateContext {
  bottle: string;
  log: (event: Record<string, unknown>) => void;
  /** Token slots and sensitive host values from the bundle's secrets file: what a push must not carry. */
  secrets?: Readonly<Record<string, string>>;
  /** Replaces the default outbound DLP scanner (tests use it to prove the gate fails closed). */
  scanner?: Scanner;
}

export interface GitGateHandle {
  close(): Promise<void>;
  /** `http://127.0.0.1:PORT` when listening on TCP; undefined on a Unix socket. */
  url: string | undefined;
}

/**
 * The per-bottle git server: bare mirrors of the declared upstreams served
 * over smart HTTP, refreshed from upstream before every fetch, with pushes
 * checked and forwarded upstream from inside pre-receive.
 */
export async function startGitGate(section: GitGateConfig | GitGateConfigInput, ctx: GitGateContext): Promise<GitGateHandle> {
  const config = GitGateConfigSchema.parse(section);
  await mkdir(join(config.dataDir, 'home'), { recursive: true, mode: 0o700 });
  await mkdir(join(config.dataDir, 'repos'), { recursive: true });

  const mirrors = new Map(config.repos.map((r) => [r.name, new Mirror(r, config.dataDir)]));
  const scanner = ctx.scanner ?? createPushScanner(Math.min(30_000, config.scanTimeoutMs), { ...process.env, ...ctx.secrets });
  const hooks = await startHookServer(
    config.dataDir,
    (req, say) => handlePush({ config, bottle: ctx.bottle, mirrors, log: ctx.log, scanner }, req, say),
    ctx.log,
  );
  try {
    for (const m of mirrors.values()) await m.init(hooks.hookScript(m.repo.name));
  } catch (err) {
    await hooks.close();
    throw err;
  }

  const server = createServer(
    createGitHttpHandler({ projectRoot: join(config.dataDir, 'repos'), mirrors, gitEnv: gateGitEnv(config.dataDir), log: ctx.log }),
  );
  // Git's own timeouts govern long pack transfers; the server must not cut them off.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      const done = (): void => {
        server.off('error', reject);
        resolve();
      };
      if ('socket' in config.listen) {
        const sock = config.listen.socket;
        rm(sock, { force: true }).then(() => server.listen(sock, done), reject);
      } else server.listen(config.listen.port, config.listen.host, done);
    });
  } catch (err) {
    await hooks.close();
    throw err;
  }
  const addr = server.address();
  const url = addr && typeof addr === 'object' ? `http://${hostForUrl(addr.address)}:${addr.port}` : undefined;
  ctx.log({
    event: 'git-gate.listening',
    listen: url ?? ('socket' in config.listen ? config.listen.socket : ''),
    repos: config.repos.map((r) => ({ name: r.name, url: r.url, identityFile: r.identityFile })),
  });

  return {
    url,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await hooks.close();
    },
  };
}

function hostForUrl(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}
