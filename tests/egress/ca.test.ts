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

describe('egress MITM CA', () => {
  const dir = mkdtempSync(join(tmpdir(), 'egress-ca-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('mints a name-constrained CA (DNS subtrees of the routes, every IP excluded) and writes only the certificate', async () => {
    const out = join(dir, 'ca1.pem');
    await MitmCa.create('b,1"x', out, ['api.a.test', '*.b.test']);
    const pem = readFileSync(out, 'utf8');
    expect(pem).not.toContain('PRIVATE KEY');
    const cert = new x509.X509Certificate(pem);
    expect(cert.subject).toContain('bot-bottle egress CA');
    const bc = cert.getExtension(x509.BasicConstraintsExtension)!;
    expect(bc.ca).toBe(true);
    expect(bc.pathLength).toBe(0);
    expect(bc.critical).toBe(true);
    const ku = cert.getExtension(x509.KeyUsagesExtension)!;
    expect(ku.usages & x509.KeyUsageFlags.keyCertSign).toBeTruthy();
    const nc = cert.extensions.find((e) => e.type === '2.5.29.30')!;
    expect(nc.critical).toBe(true);
    const ncText = Buffer.from(nc.value).toString('latin1');
    expect(ncText).toContain('api.a.test');
    expect(ncText).toContain('b.test');
    // Self-signed with a valid signature, as node's X.509 parser sees it.
    const n = new X509Certificate(pem);
    expect(n.ca).toBe(true);
    expect(n.verify(n.publicKey)).toBe(true);
    expect(n.serialNumber).toMatch(/^[0-7][0-9A-F]+$/i);
  });

  it('serves leaves that a client trusting only the CA file accepts, for routed hosts', async () => {
    const out = join(dir, 'ca2.pem');
    const ca = await MitmCa.create('b2', out, ['a.test', '*.b.test']);
    const pem = readFileSync(out, 'utf8');
    expect(await handshake(await ca.contextFor('a.test'), pem, 'a.test')).toEqual({ authorized: true, error: null });
    expect(await handshake(await ca.contextFor('x.b.test'), pem, 'x.b.test')).toEqual({ authorized: true, error: null });
    // Cached: the same context object per host.
    expect(await ca.contextFor('a.test')).toBe(await ca.contextFor('a.test'));
  });

  it('a leaf outside the name constraints is rejected by clients (a leaked CA cannot impersonate other hosts)', async () => {
    const out = join(dir, 'ca3.pem');
    const ca = await MitmCa.create('b3', out, ['a.test']);
    const r = await handshake(await ca.contextFor('evil.test'), readFileSync(out, 'utf8'), 'evil.test');
    // Same CA and chain as the accepted case above; only the name differs. Node maps
    // OpenSSL's X509_V_ERR_PERMITTED_VIOLATION to UNSPECIFIED.
    expect(r.authorized).toBe(false);
    expect(r.error).toMatch(/PERMITTED_VIOLATION|name constraint|UNSPECIFIED/i);
    expect(await handshake(await ca.contextFor('a.test'), readFileSync(out, 'utf8'), 'a.test')).toEqual({ authorized: true, error: null });
  });

  it('re-mints when a reload adds a host outside the constraints, and keeps every CA in the file', async () => {
    const out = join(dir, 'ca4.pem');
    const ca = await MitmCa.create('b4', out, ['a.test']);
    expect(await ca.ensureCovers(['a.test', 'sub.a.test'])).toBe(false);
    expect(await ca.ensureCovers(['a.test', 'new.test'])).toBe(true);
    const pem = readFileSync(out, 'utf8');
    expect(pem.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    expect(await handshake(await ca.contextFor('new.test'), pem, 'new.test')).toEqual({ authorized: true, error: null });
    expect(await handshake(await ca.contextFor('a.test'), pem, 'a.test')).toEqual({ authorized: true, error: null });
  });

  it('leaf certificates carry the host as SAN, serverAuth, and chain to the CA that signed them', async () => {
    const out = join(dir, 'ca5.pem');
    const ca = await MitmCa.create('b5', out, ['a.test']);
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
