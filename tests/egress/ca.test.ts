import 'reflect-metadata';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, TLSSocket, type SecureContext } from 'node:tls';
import * as x509 from '@peculiar/x509';
import { afterAll, describe, expect, it } from 'vitest';
import { MitmCa } from '../../src/sidecars/egress/ca.js';
import { upstreamCa } from '../../src/sidecars/egress/upstream.js';

/** Serves `ctx` on 127.0.0.1 and reports how a client that trusts only `caPem` judges it. */
async function handshake(ctx: SecureContext, caPem: string, servername: string): Promise<{ authorized: boolean; error: string | null }> {
  const server = createServer((raw) => {
    const tls = new TLSSocket(raw, { isServer: true, secureContext: ctx });
    tls.on('error', () => tls.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const port = (server.address() as AddressInfo).port;
    return await new Promise((resolve, reject) => {
      const c = connect({ host: '127.0.0.1', port, servername, ca: caPem, rejectUnauthorized: false }, () => {
        resolve({ authorized: c.authorized, error: c.authorizationError ? String(c.authorizationError) : null });
        c.destroy();
      });
      c.on('error', reject);
    });
  } finally {
    server.close();
  }
}

/** The leaf certificate a TLS server with `ctx` presents. */
async function peerOf(ctx: SecureContext): Promise<X509Certificate> {
  const server = createServer((raw) => {
    const tls = new TLSSocket(raw, { isServer: true, secureContext: ctx });
    tls.on('error', () => tls.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    return await new Promise<X509Certificate>((resolve, reject) => {
      const c = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, rejectUnauthorized: false }, () => {
        resolve(c.getPeerX509Certificate()!);
        c.destroy();
      });
      c.on('error', reject);
    });
  } finally {
    server.close();
  }
}

describe('egress MITM CA', () => {
  const dir = mkdtempSync(join(tmpdir(), 'egress-ca-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('mints a CA without name constraints (any host can be answered inside TLS) and writes only the certificate', async () => {
    const out = join(dir, 'ca1.pem');
    await MitmCa.create('b,1"x', out);
    const pem = readFileSync(out, 'utf8');
    expect(pem).not.toContain('PRIVATE KEY');
    expect(pem.match(/BEGIN CERTIFICATE/g)).toHaveLength(1);
    const cert = new x509.X509Certificate(pem);
    expect(cert.subject).toContain('bot-bottle egress CA');
    const bc = cert.getExtension(x509.BasicConstraintsExtension)!;
    expect(bc.ca).toBe(true);
    expect(bc.pathLength).toBe(0);
    expect(bc.critical).toBe(true);
    const ku = cert.getExtension(x509.KeyUsagesExtension)!;
    expect(ku.usages & x509.KeyUsageFlags.keyCertSign).toBeTruthy();
    expect(cert.extensions.find((e) => e.type === '2.5.29.30')).toBeUndefined();
    // Self-signed with a valid signature, as node's X.509 parser sees it.
    const n = new X509Certificate(pem);
    expect(n.ca).toBe(true);
    expect(n.verify(n.publicKey)).toBe(true);
    expect(n.serialNumber).toMatch(/^[0-7][0-9A-F]+$/i);
  });

  it('prepared keys serve one CA only: the next bottle gets a key of its own', async () => {
    MitmCa.prepare();
    const first = join(dir, 'prep1.pem');
    const second = join(dir, 'prep2.pem');
    await MitmCa.create('prepared-1', first);
    await MitmCa.create('prepared-2', second);
    const a = new X509Certificate(readFileSync(first, 'utf8'));
    const b = new X509Certificate(readFileSync(second, 'utf8'));
    expect(a.verify(a.publicKey)).toBe(true);
    expect(a.subject).toContain('prepared-1');
    expect(a.publicKey.export({ type: 'spki', format: 'der' }).equals(b.publicKey.export({ type: 'spki', format: 'der' }))).toBe(false);
  });

  it('serves leaves for any name or address that a client trusting only the CA file, read once, accepts', async () => {
    const out = join(dir, 'ca2.pem');
    const ca = await MitmCa.create('b2', out);
    const pem = readFileSync(out, 'utf8');
    for (const host of ['a.test', 'x.b.test', 'never-routed.example']) {
      expect(await handshake(await ca.contextFor(host), pem, host)).toEqual({ authorized: true, error: null });
    }
    // Cached: the same context object per host.
    expect(await ca.contextFor('a.test')).toBe(await ca.contextFor('a.test'));
    // The trust file never changes while the bundle runs.
    expect(readFileSync(out, 'utf8')).toBe(pem);
  });

  it('signs IP-literal leaves with an IP SAN (so an IP target is refused inside TLS too)', async () => {
    const out = join(dir, 'ca3.pem');
    const ca = await MitmCa.create('b3', out);
    const pem = readFileSync(out, 'utf8');
    const peer = await peerOf(await ca.contextFor('127.0.0.1'));
    expect(peer.subjectAltName).toBe('IP Address:127.0.0.1');
    expect(peer.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(peer.verify(new X509Certificate(pem).publicKey)).toBe(true);
    expect((await peerOf(await ca.contextFor('::1'))).checkIP('::1')).toBe('::1');
  });

  it('keeps a bounded number of leaves: names an agent tries do not grow the cache without end', async () => {
    const ca = await MitmCa.create('b4', join(dir, 'ca4.pem'));
    const first = await ca.contextFor('first.test');
    for (let i = 0; i < 600; i++) await ca.contextFor(`n${i}.test`);
    expect(await ca.contextFor('first.test')).not.toBe(first);
  });

  it('leaf certificates carry the host as SAN, serverAuth, and chain to the CA that signed them', async () => {
    const out = join(dir, 'ca5.pem');
    const ca = await MitmCa.create('b5', out);
    const ctx = await ca.contextFor('a.test');
    const server = createServer((raw) => {
      const tls = new TLSSocket(raw, { isServer: true, secureContext: ctx });
      tls.on('error', () => tls.destroy());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const peer = await new Promise<X509Certificate>((resolve, reject) => {
        const c = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, servername: 'a.test', rejectUnauthorized: false }, () => {
          resolve(c.getPeerX509Certificate()!);
          c.destroy();
        });
        c.on('error', reject);
      });
      expect(peer.subjectAltName).toBe('DNS:a.test');
      expect(peer.ca).toBe(false);
      expect(peer.keyUsage).toContain('1.3.6.1.5.5.7.3.1');
      const caCert = new X509Certificate(readFileSync(out, 'utf8'));
      expect(peer.checkIssued(caCert)).toBe(true);
      expect(peer.verify(caCert.publicKey)).toBe(true);
    } finally {
      server.close();
    }
  });
});

describe('upstream trust (BOT_BOTTLE_UPSTREAM_CA)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'egress-upca-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('fails at start-up on a missing file or a file with no certificate, naming the variable', () => {
    expect(() => upstreamCa({ BOT_BOTTLE_UPSTREAM_CA: join(dir, 'missing.pem') })).toThrow(/BOT_BOTTLE_UPSTREAM_CA=.*cannot read/);
    const junk = join(dir, 'junk.pem');
    writeFileSync(junk, 'not a certificate');
    expect(() => upstreamCa({ BOT_BOTTLE_UPSTREAM_CA: junk })).toThrow(/BOT_BOTTLE_UPSTREAM_CA=.*no PEM certificate/);
  });

  it('builds the context once, on first use', () => {
    const get = upstreamCa({});
    expect(get()).toBe(get());
  });
});
