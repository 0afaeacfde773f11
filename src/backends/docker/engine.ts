import { trace, tracing } from '../../util/trace.js';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import type { Socket } from 'node:net';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { DockerError } from './cli.js';

/**
 * The few Engine API calls on a launch's critical path (image lookups,
 * network and container creation, connect, start), spoken directly over the
 * engine's unix socket: each is a couple of milliseconds, where a `docker`
 * CLI run is a Go program's start (15 ms idle, 50–100 ms on a loaded host).
 * The bundle's attach and the probe's exec use a hijacked stream (`engineHijack`).
 * Everything else (builds, the agent's exec, listing) stays with the CLI.
 *
 * Only the local socket: DOCKER_HOST=unix://PATH or, with neither DOCKER_HOST
 * nor DOCKER_CONTEXT set, /var/run/docker.sock. Anything else (a context, a
 * TCP engine) is the CLI's business (`engineSocket` is then undefined and the
 * callers use it), as it follows contexts and TLS settings we do not.
 */

/** The API version every call names: Docker 20.10's, which later engines still serve. */
export const API_VERSION = 'v1.41';
const DEFAULT_SOCKET = '/var/run/docker.sock';

export function engineSocket(env: Readonly<Record<string, string | undefined>> = process.env): string | undefined {
  const host = env.DOCKER_HOST;
  if (host !== undefined && host !== '') {
    const path = /^unix:\/\/(\/[^\0]*)$/.exec(host)?.[1];
    return path !== undefined && existsSync(path) ? path : undefined;
  }
  if (env.DOCKER_CONTEXT !== undefined && env.DOCKER_CONTEXT !== '' && env.DOCKER_CONTEXT !== 'default') return undefined;
  return existsSync(DEFAULT_SOCKET) ? DEFAULT_SOCKET : undefined;
}

export interface EngineReply {
  status: number;
  /** The parsed JSON body (undefined for an empty one). */
  body: unknown;
}

/**
 * One request to the engine. Resolves with any HTTP status (callers decide
 * what a 404 means); rejects with a DockerError when the engine cannot be
 * reached or does not answer within `timeoutMs`. `what` names the operation
 * in messages as the CLI would (`docker network create ...`).
 */
export function engineRequest(socketPath: string, method: 'GET' | 'POST' | 'DELETE', path: string, what: string, body?: unknown, timeoutMs = 60_000): Promise<EngineReply> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const sent = tracing() ? performance.now() : 0;
  return new Promise<EngineReply>((resolve, reject) => {
    const req = request(
      {
        socketPath,
        // One connection per call: nothing idles open to the engine, and each call is one step tests can fail.
        agent: false,
        method,
        path: `/${API_VERSION}${path}`,
        headers: { Host: 'docker', ...(payload !== undefined ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) } : {}) },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => reject(new DockerError(`${what} failed: ${e.message}`)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8').trim();
          let parsed: unknown;
          try {
            parsed = text === '' ? undefined : JSON.parse(text);
          } catch {
            parsed = { message: text.slice(0, 500) };
          }
          if (sent > 0) trace(`engine ${method} ${path.split('?')[0]} ${res.statusCode ?? 0} in ${(performance.now() - sent).toFixed(0)} ms`);
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    req.on('error', (e: NodeJS.ErrnoException) => {
      const why = e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? `no Docker engine answers at ${socketPath} (is dockerd running?)` : e.message;
      reject(new DockerError(`${what} failed: ${why}`, why));
    });
    req.end(payload);
  });
}

/** The engine's own words for a failed call (its `message`), as the CLI would print them. */
export function engineMessage(reply: EngineReply): string {
  const message = (reply.body as { message?: unknown } | undefined)?.message;
  return typeof message === 'string' && message !== '' ? message : `HTTP ${reply.status}`;
}

/** A non-2xx reply as the DockerError the CLI path would raise (stderr carries the engine's words, for isNoSuchObject). */
export function engineFailure(what: string, reply: EngineReply): DockerError {
  const message = engineMessage(reply);
  return new DockerError(`${what} failed: Error response from daemon: ${message}`, `Error response from daemon: ${message}`);
}

/** A call that must succeed: resolves with the body of a 2xx reply, else rejects with the engine's words. */
export async function engineCall(socketPath: string, method: 'GET' | 'POST' | 'DELETE', path: string, what: string, body?: unknown): Promise<unknown> {
  const reply = await engineRequest(socketPath, method, path, what, body);
  if (reply.status >= 200 && reply.status < 300) return reply.body;
  throw engineFailure(what, reply);
}

/**
 * `PUT /containers/{id}/archive`: a tar stream extracted into a created (not
 * yet started) container at `path`, entries keeping the owners their headers
 * name (what `docker cp - ID:PATH` does). Rejects with the engine's words.
 */
export function engineUpload(socketPath: string, container: string, path: string, tar: NodeJS.ReadableStream, timeoutMs = 60_000): Promise<void> {
  const what = `docker cp - ${container}:${path}`;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath,
        agent: false,
        method: 'PUT',
        path: `/${API_VERSION}/containers/${encodeURIComponent(container)}/archive?path=${encodeURIComponent(path)}&noOverwriteDirNonDir=1`,
        headers: { Host: 'docker', 'Content-Type': 'application/x-tar' },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          if (res.statusCode === 200) return resolve();
          let body: unknown;
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            body = { message: Buffer.concat(chunks).toString('utf8').slice(0, 500) };
          }
          reject(engineFailure(what, { status: res.statusCode ?? 0, body }));
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    req.on('error', (e) => reject(new DockerError(`${what} failed: ${e.message}`, e.message)));
    tar.on('error', (e: Error) => req.destroy(e));
    tar.pipe(req);
  });
}

/** A hijacked attach or exec stream: raw bytes in, docker's multiplexed frames out, split back into two streams. */
export interface HijackedStream {
  /** The process's stdin; `end()` closes it (a half-close: its output still comes). */
  stdin: Writable;
  stdout: Readable;
  stderr: Readable;
  /** Resolves once the engine closed the stream (the process ended, or `destroy`). */
  closed: Promise<void>;
  destroy: () => void;
}

/**
 * `POST path` upgraded to a raw stream (what the CLI does for `start -ai` and
 * `exec -i`: `Upgrade: tcp`, the engine answers 101 and the connection
 * carries the process's stdio). Without a TTY the engine frames its output:
 * an 8-byte header (stream 1 stdout / 2 stderr, 3 zero bytes, the payload's
 * length as a big-endian uint32), then the payload. Rejects with the engine's
 * words when it refuses (no such container, not running).
 */
export function engineHijack(socketPath: string, path: string, what: string, body?: unknown, timeoutMs = 60_000): Promise<HijackedStream> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request({
      socketPath,
      agent: false,
      method: 'POST',
      path: `/${API_VERSION}${path}`,
      headers: {
        Host: 'docker',
        Connection: 'Upgrade',
        Upgrade: 'tcp',
        ...(payload !== undefined ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) } : {}),
      },
      timeout: timeoutMs,
    });
    req.on('upgrade', (_res, socket: Socket, head: Buffer) => {
      // The stream lives as long as its process: no idle limit from here on.
      socket.setTimeout(0);
      resolve(demultiplex(socket, head));
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          parsed = { message: Buffer.concat(chunks).toString('utf8').trim().slice(0, 500) };
        }
        reject(engineFailure(what, { status: res.statusCode ?? 0, body: parsed }));
      });
    });
    req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    req.on('error', (e: NodeJS.ErrnoException) => {
      const why = e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? `no Docker engine answers at ${socketPath} (is dockerd running?)` : e.message;
      reject(new DockerError(`${what} failed: ${why}`, why));
    });
    req.end(payload);
  });
}

function demultiplex(socket: Socket, head: Buffer): HijackedStream {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let pending: Buffer = Buffer.alloc(0);
  const take = (chunk: Buffer): void => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 8) {
      const size = pending.readUInt32BE(4);
      if (pending.length < 8 + size) break;
      (pending[0] === 2 ? stderr : stdout).write(pending.subarray(8, 8 + size));
      pending = pending.subarray(8 + size);
    }
  };
  if (head.length > 0) take(head);
  socket.on('data', take);
  // A process that died leaves a broken stream: the close is what callers watch, never an EPIPE.
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      stdout.end();
      stderr.end();
      resolve();
    }),
  );
  return { stdin: socket, stdout, stderr, closed, destroy: () => socket.destroy() };
}
