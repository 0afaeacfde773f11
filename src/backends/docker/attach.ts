import type { Readable, Writable } from 'node:stream';
import { dockerChild } from './cli.js';
import { startContainer } from './containers.js';
import { engineCall, engineHijack, engineSocket, type HijackedStream } from './engine.js';

/** A started container's stdio, attached before it started so no line is lost. */
export interface AttachedIo {
  stdin: Writable;
  stdout: Readable;
  stderr: Readable;
  /** The attachment ended (the container stopped, or `kill`). */
  closed: Promise<void>;
  /** The container's exit status once it stopped (null when unknown). */
  exited: Promise<number | null>;
  /** Detach at once (the container itself is removed by its own undo). */
  kill: () => void;
}

/**
 * Attach, then start: two calls on the engine's socket where it is local (the
 * `docker start -ai` CLI's start is otherwise the first cost on the way of
 * the bundle and the probe), else that CLI. The engine closes the container's stdin when
 * the attachment's write side ends, or when this process dies (its socket
 * closes), which is the bundle's lifeline either way.
 */
export async function startAttached(id: string): Promise<AttachedIo> {
  const socket = engineSocket();
  if (socket === undefined) {
    const child = dockerChild(['start', '--attach', '--interactive', id]);
    const { stdin, stdout, stderr } = child;
    if (stdin === null || stdout === null || stderr === null) throw new Error('docker start gave no pipes');
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    return { stdin, stdout, stderr, exited, closed: exited.then(() => undefined), kill: () => child.kill('SIGKILL') };
  }
  const stream = await engineHijack(socket, `/containers/${encodeURIComponent(id)}/attach?stream=1&stdin=1&stdout=1&stderr=1`, `docker start --attach --interactive ${id}`);
  try {
    await startContainer(id);
  } catch (error) {
    stream.destroy();
    throw error;
  }
  return attachedIo(socket, id, stream);
}

/**
 * Attach to a container that runs already (a claimed docker standby, whose
 * bundle waits for its first stdin line): the same stdio as `startAttached`,
 * output from now on. Its stdin is closed when this attachment's write side
 * ends (it was created with StdinOnce and nothing attached before), which is
 * again the bundle's lifeline.
 */
export async function attachRunning(id: string): Promise<AttachedIo> {
  const socket = engineSocket();
  if (socket === undefined) throw new Error('attaching to a running docker standby needs the local engine socket');
  const stream = await engineHijack(socket, `/containers/${encodeURIComponent(id)}/attach?stream=1&stdin=1&stdout=1&stderr=1`, `docker attach ${id}`);
  return attachedIo(socket, id, stream);
}

/** The attachment's stdio, and the container's exit status once the attachment closed (`docker wait`). */
function attachedIo(socket: string, id: string, stream: HijackedStream): AttachedIo {
  const exited = stream.closed.then(async () => {
    try {
      const done = (await engineCall(socket, 'POST', `/containers/${encodeURIComponent(id)}/wait`, `docker wait ${id}`)) as { StatusCode?: unknown };
      return typeof done.StatusCode === 'number' ? done.StatusCode : null;
    } catch {
      return null;
    }
  });
  return { stdin: stream.stdin, stdout: stream.stdout, stderr: stream.stderr, closed: stream.closed, exited, kill: stream.destroy };
}
