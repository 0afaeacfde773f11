import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { execa } from 'execa';
import { ProxyAgent, request } from 'undici';
import { base62, crc32 } from '../../src/dlp/checksum.js';
import type { EgressRoutePlan } from '../../src/routes/model.js';
import { startEgress, type EgressHandle } from '../../src/sidecars/egress/index.js';

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface TestPki {
  caPem: string;
  keyPem: string;
  certPem: string;
}

/** A throwaway upstream PKI: a CA and one leaf for the given names. */
export async function makeUpstreamPki(names: string[]): Promise<TestPki> {
  const caKeys = (await webcrypto.subtle.generateKey(ALG, false, ['sign', 'verify']));
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    name: 'CN=egress test upstream CA',
    keys: caKeys,
    signingAlgorithm: ALG,
    notBefore: new Date(Date.now() - 86_400_000),
    extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
  });
  const leafKeys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']));
  const leaf = await x509.X509CertificateGenerator.create({
    subject: `CN=${names[0]}`,
    issuer: ca.subject,
    publicKey: leafKeys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: ALG,
    notBefore: new Date(Date.now() - 86_400_000),
    extensions: [new x509.SubjectAlternativeNameExtension(names.map((value) => ({ type: 'dns' as const, value })))],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', leafKeys.privateKey)).toString('base64');
  return {
    caPem: `${ca.toString('pem')}\n`,
    certPem: `${leaf.toString('pem')}\n`,
    keyPem: `-----BEGIN PRIVATE KEY-----\n${pkcs8.replace(/(.{64})/g, '$1\n')}\n-----END PRIVATE KEY-----\n`,
  };
}

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export type UpstreamHandler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void | Promise<void>;

/**
 * A local HTTPS upstream that records what reached it. Default answer: 200 "ok".
 * `host`: where it listens (default loopback; a docker test's own network gateway for its relay).
 */
export async function startUpstream(pki: TestPki, handler?: UpstreamHandler, host = '127.0.0.1') {
  const seen: SeenRequest[] = [];
  const streaming = new Set<string>();
  const server = createServer({ key: pki.keyPem, cert: pki.certPem }, (req, res) => {
    if (streaming.has(req.url ?? '') && handler) {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: '' });
      void handler(req, res, Buffer.alloc(0));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: body.toString('latin1') });
      if (handler) void handler(req, res, body);
      else {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok');
      }
    });
  });
  let accepted = 0;
  const open = new Set<import('node:tls').TLSSocket>();
  server.on('secureConnection', (s) => {
    accepted++;
    open.add(s);
    s.once('close', () => open.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    /** TLS connections accepted so far. */
    connections: () => accepted,
    /** Closes every open connection, as an upstream ending idle keep-alive connections does. */
    dropConnections: () => open.forEach((s) => s.destroy()),
    /** Paths whose handler is called before the body is read (for streaming tests). */
    streaming,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export function route(host: string, port: number, extra: Partial<EgressRoutePlan> = {}): EgressRoutePlan {
  return {
    host,
    port,
    matches: [],
    dlp: { outbound: ['token_patterns', 'known_secrets'], inbound: [], onMatch: 'block' },
    gitFetch: false,
    source: 'manifest',
    ...extra,
  };
}

export interface Harness {
  dir: string;
  caFile: string;
  upstreamCaFile: string;
  proxyUrl: string;
  egress: EgressHandle;
  logs: Record<string, unknown>[];
  routesFile: string;
  env: Record<string, string>;
  writeRoutes(routes: EgressRoutePlan[]): void;
  close(): Promise<void>;
}

/** Starts egress in-process on 127.0.0.1:0 with `routes`, trusting the test upstream CA. */
export async function startHarness(
  pki: TestPki,
  routes: EgressRoutePlan[],
  opts: { env?: Record<string, string>; resolve: string; superviseQueueDir?: string; preconnect?: Array<{ host: string; port: number }> },
): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'egress-test-'));
  const upstreamCaFile = join(dir, 'upstream-ca.pem');
  writeFileSync(upstreamCaFile, pki.caPem);
  const routesFile = join(dir, 'routes', 'egress-routes.json');
  mkdirSync(join(dir, 'routes'));
  const writeRoutes = (r: EgressRoutePlan[]): void => {
    writeFileSync(`${routesFile}.tmp`, JSON.stringify(r));
    renameSync(`${routesFile}.tmp`, routesFile);
  };
  writeRoutes(routes);
  const caFile = join(dir, 'ca.pem');
  const env = { BOT_BOTTLE_UPSTREAM_CA: upstreamCaFile, BOT_BOTTLE_RESOLVE: opts.resolve, ...opts.env };
  const logs: Record<string, unknown>[] = [];
  const egress = await startEgress(
    {
      listen: { host: '127.0.0.1', port: 0 },
      routesFile,
      caCertOut: caFile,
      ...(opts.superviseQueueDir ? { superviseQueueDir: opts.superviseQueueDir } : {}),
      ...(opts.preconnect ? { preconnect: opts.preconnect } : {}),
    },
    { bottle: 'test-bottle', log: (e) => logs.push(e) },
    env,
  );
  return {
    dir,
    caFile,
    upstreamCaFile,
    proxyUrl: `http://${egress.address}`,
    egress,
    logs,
    routesFile,
    env,
    writeRoutes,
    async close() {
      await egress.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs curl through the proxy; returns status, body and exit code (never throws on HTTP errors). */
export async function curl(h: Harness, url: string, args: string[] = []) {
  const r = await execa('curl', ['-sS', '--max-time', '20', '--proxy', h.proxyUrl, '--cacert', h.caFile, '-w', '\n%{http_code}', ...args, url], {
    reject: false,
    env: { NO_PROXY: '', no_proxy: '' },
  });
  const i = r.stdout.lastIndexOf('\n');
  return { status: Number(r.stdout.slice(i + 1)), body: r.stdout.slice(0, i), exitCode: r.exitCode, stderr: r.stderr };
}

/** undici through the proxy, trusting only the egress CA. */
export function undiciClient(h: Harness, caPem: string) {
  const agent = new ProxyAgent({ uri: h.proxyUrl, requestTls: { ca: caPem } });
  return {
    agent,
    async fetch(url: string, init: { method?: string; headers?: Record<string, string>; body?: string | Buffer | AsyncIterable<Buffer> } = {}) {
      const r = await request(url, { dispatcher: agent, method: (init.method ?? 'GET') as 'GET', headers: init.headers ?? {}, ...(init.body !== undefined ? { body: init.body as string } : {}) });
      return { status: r.statusCode, headers: r.headers, body: await r.body.text() };
    },
  };
}

/** Provider-shaped fake secrets assembled at run time (no literal secrets in the repo). */
export function fakeGithubToken(seed = 'a'): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
  let x = crc32(`egress-test-${seed}`);
  let body = '';
  for (let i = 0; i < 30; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    body += alphabet.charAt((x >>> 8) % alphabet.length);
  }
  return ['gh', 'p_'].join('') + body + base62(crc32(body), 6);
}

export const lastAudit = (h: Harness) => h.logs.filter((l) => l.event === 'egress-request').at(-1);
