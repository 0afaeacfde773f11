import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Endpoint, Proto } from './spec.js';

export type Canary = Endpoint & { proto: Proto };
export type CanaryHit = Canary & { from: string };

export interface Canaries {
  list: Canary[];
  hits: CanaryHit[];
  close(): Promise<void>;
}

/**
 * Listeners on the host's loopback and on its other addresses, on random
 * ports, that record whatever reaches them (and echo UDP, so the probe sees
 * an answer too). Open only while the probe runs. Addresses the host cannot
 * bind (e.g. IPv6 switched off) are left out.
 */
export async function openCanaries(addresses: string[] = hostAddresses()): Promise<Canaries> {
  const list: Canary[] = [];
  const hits: CanaryHit[] = [];
  const tcp: Server[] = [];
  const udp: UdpSocket[] = [];
  await Promise.all(
    addresses.map(async (host) => {
      const server = createServer((s) => {
        hits.push({ proto: 'tcp', host, port: (server.address() as { port: number }).port, from: `${s.remoteAddress ?? '?'}:${s.remotePort ?? '?'}` });
        s.on('error', () => undefined);
        s.destroy();
      });
      const port = await new Promise<number | undefined>((resolve) => {
        server.once('error', () => resolve(undefined));
        server.listen(0, host, () => resolve((server.address() as { port: number }).port));
      });
      if (port !== undefined) {
        server.on('error', () => undefined);
        tcp.push(server);
        list.push({ proto: 'tcp', host, port });
      }
      const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
      socket.on('message', (msg, rinfo) => {
        hits.push({ proto: 'udp', host, port: socket.address().port, from: `${rinfo.address}:${rinfo.port}` });
        socket.send(msg, rinfo.port, rinfo.address);
      });
      const udpPort = await new Promise<number | undefined>((resolve) => {
        socket.once('error', () => resolve(undefined));
        socket.bind(0, host, () => resolve(socket.address().port));
      });
      if (udpPort !== undefined) {
        // An echo to a sender that went away must not crash the launcher.
        socket.on('error', () => undefined);
        udp.push(socket);
        list.push({ proto: 'udp', host, port: udpPort });
      } else socket.close();
    }),
  );
  let closed = false;
  return {
    list,
    hits,
    // Idempotent: the gate closes them after its verdict, teardown again if the launch failed first.
    close: async () => {
      if (closed) return;
      closed = true;
      await Promise.all([
        ...tcp.map((s) => new Promise<void>((r) => s.close(() => r()))),
        ...udp.map((s) => new Promise<void>((r) => s.close(() => r()))),
      ]);
    },
  };
}

/** Loopback plus every address of the host's other interfaces (link-local IPv6 left out: it needs a scope). */
export function hostAddresses(): string[] {
  const out = ['127.0.0.1', '::1'];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.internal || (a.family === 'IPv6' && a.address.toLowerCase().startsWith('fe80:'))) continue;
      if (!out.includes(a.address)) out.push(a.address);
    }
  }
  return out;
}
