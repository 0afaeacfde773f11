import { createServer, type AddressInfo } from 'node:net';
import { TLSSocket, createSecureContext } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Resolver } from '../../src/sidecars/egress/resolve.js';
import { openSocket, TlsSessionCache } from '../../src/sidecars/egress/upstream.js';
import { makeUpstreamPki, type TestPki } from './support.js';

describe('upstream sockets: TLS session reuse', () => {
  let pki: TestPki;
  let server: ReturnType<typeof createServer>;
  let port = 0;
  beforeAll(async () => {
    pki = await makeUpstreamPki(['up.test', 'other.test']);
    const ctx = createSecureContext({ key: pki.keyPem, cert: pki.certPem });
    server = createServer((raw) => {
      const tls = new TLSSocket(raw, { isServer: true, secureContext: ctx });
      tls.on('error', () => tls.destroy());
      tls.on('secure', () => tls.end('hi'));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const open = (resolver: Resolver, host: string, sessions: TlsSessionCache, ca: string) =>
    new Promise<{ reused: boolean; authorized: boolean }>((resolve, reject) => {
      openSocket(resolver, () => createSecureContext({ ca }), 'https:', host, port, (err, sock) => {
        if (err || !sock) return reject(err ?? new Error('no socket'));
        const tls = sock as TLSSocket;
        const result = { reused: tls.isSessionReused(), authorized: tls.authorized };
        // Read to the end so the server's session ticket is processed before the next connect.
        tls.resume();
        tls.once('end', () => resolve(result));
        tls.once('error', reject);
      }, sessions);
    });

  it('resumes the session on a new connection to the same host and address, still verifying the certificate', async () => {
    const resolver = new Resolver(new Map([[`up.test:${port}`, '127.0.0.1'], [`other.test:${port}`, '127.0.0.1']]));
    const sessions = new TlsSessionCache();
    const first = await open(resolver, 'up.test', sessions, pki.caPem);
    expect(first).toEqual({ reused: false, authorized: true });
    const second = await open(resolver, 'up.test', sessions, pki.caPem);
    expect(second).toEqual({ reused: true, authorized: true });
    // Another name never gets that session.
    const other = await open(resolver, 'other.test', sessions, pki.caPem);
    expect(other.reused).toBe(false);
  });

  it('a wrong trust store still fails the handshake on a fresh connection', async () => {
    const resolver = new Resolver(new Map([[`up.test:${port}`, '127.0.0.1']]));
    const wrong = await makeUpstreamPki(['up.test']);
    await expect(open(resolver, 'up.test', new TlsSessionCache(), wrong.caPem)).rejects.toThrow(/certificate|signature|issuer/i);
  });

  it('the session cache stays bounded', () => {
    const c = new TlsSessionCache(2);
    c.set('a', Buffer.from('1'));
    c.set('b', Buffer.from('2'));
    c.set('c', Buffer.from('3'));
    expect(c.get('a')).toBeUndefined();
    expect(c.get('c')?.toString()).toBe('3');
  });
});
