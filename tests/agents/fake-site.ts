import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { createServer } from 'node:https';
import type { TestPki } from '../egress/support.js';

/**
 * A plain HTTPS site on port 443 of a random loopback address (egress keeps
 * the port and BOT_BOTTLE_RESOLVE maps only the address): every request is
 * recorded and answered `200 SITE-OK <host><path>`. Binding 443 needs root,
 * as in CI.
 */
export interface FakeSite {
  address: string;
  /** `BOT_BOTTLE_RESOLVE` entries sending each of `hosts` here. */
  resolve: string[];
  requests: Array<{ method: string; path: string; headers: IncomingMessage['headers'] }>;
  close(): Promise<void>;
}

export async function startFakeSite(pki: TestPki, hosts: readonly string[]): Promise<FakeSite> {
  const requests: FakeSite['requests'] = [];
  const server = createServer({ key: pki.keyPem, cert: pki.certPem }, (req, res) => {
    requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers });
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`SITE-OK ${req.headers.host ?? ''}${req.url ?? ''}\n`);
    });
  });
  let address = '';
  for (let attempt = 0; ; attempt++) {
    const b = randomBytes(3);
    address = `127.${(b[0]! % 254) + 1}.${b[1]!}.${(b[2]! % 253) + 2}`;
    const ok = await new Promise<boolean>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        if (err.code === 'EADDRINUSE' && attempt < 5) resolve(false);
        else reject(new Error(`fake site cannot listen on ${address}:443 (${err.code ?? err.message}); it needs root`));
      };
      server.once('error', onError);
      server.listen(443, address, () => {
        server.off('error', onError);
        resolve(true);
      });
    });
    if (ok) break;
  }
  return {
    address,
    resolve: hosts.map((h) => `${h}:443:${address}`),
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
