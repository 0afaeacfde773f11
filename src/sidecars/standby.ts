import { lstatSync, unlinkSync, chmodSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { dirname } from 'node:path';

/**
 * `--standby SOCKET`: a bundle started ahead of the next launch (by the end of
 * the last one, src/launch/standby.ts) that has loaded and warmed everything no
 * config decides, then waits on a Unix socket in the operator's own 0700 folder.
 * The first launch that connects takes it: the socket stops listening and is
 * unlinked, and that one connection becomes what stdin and stdout are to a
 * pre-spawned bundle (the config path line, the `warm` line, the parent-watch;
 * the JSON log lines back). It holds nothing before that: no config, no secret,
 * no bottle's file. Unclaimed, it exits after its idle time, or as soon as its
 * socket is gone or replaced (its home deleted, `bot-bottle cleanup`).
 */
const CHECK_MS = 2_000;
const FIRST_LINE_MS = 2_000;

/** Exits the process (code 0) when it cannot or need not stand by; resolves with the claiming connection. */
export async function standBy(socketPath: string, marker: string, idleMs: number): Promise<Socket> {
  const dir = dirname(socketPath);
  const uid = process.getuid?.();
  const info = lstatSync(dir, { throwIfNoEntry: false });
  // Only a folder of our own that no one else may enter: whoever can connect can hand us a config.
  if (!info?.isDirectory() || (uid !== undefined && info.uid !== uid) || (info.mode & 0o077) !== 0) quit(`${dir} is not a folder of this user's closed to others`);
  if (lstatSync(socketPath, { throwIfNoEntry: false }) !== undefined) {
    if (await answers(socketPath)) quit('another standby bundle already listens there');
    const old = lstatSync(socketPath, { throwIfNoEntry: false });
    if (old !== undefined && !old.isSocket()) quit(`${socketPath} exists and is not a socket`);
    if (old !== undefined) unlinkSync(socketPath);
  }
  const server = createServer({ allowHalfOpen: false });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, resolve);
  });
  chmodSync(socketPath, 0o600);
  const ours = lstatSync(socketPath).ino;
  const stillOurs = (): boolean => lstatSync(socketPath, { throwIfNoEntry: false })?.ino === ours;
  const unlinkOurs = (): void => {
    try {
      if (stillOurs()) unlinkSync(socketPath);
    } catch {
      // Gone already.
    }
  };
  const idle = setTimeout(() => (unlinkOurs(), quit('idle time over')), idleMs);
  const watch = setInterval(() => void (stillOurs() || quit('socket removed or replaced')), CHECK_MS);
  process.once('SIGTERM', () => (unlinkOurs(), quit('SIGTERM')));
  return new Promise<Socket>((resolve) => {
    let taken = false;
    server.on('connection', (socket) => {
      // A connection says what it wants on its first line: `claim` takes this bundle, `exit` ends it
      // (`bot-bottle cleanup`); one that says nothing (a liveness check) or anything else changes nothing.
      socket.setTimeout(FIRST_LINE_MS, () => socket.destroy());
      socket.on('error', () => undefined);
      let buffered = '';
      const onData = (chunk: Buffer): void => {
        buffered += chunk.toString('latin1');
        const nl = buffered.indexOf('\n');
        if (nl < 0) {
          if (buffered.length > 64) socket.destroy();
          return;
        }
        socket.off('data', onData);
        const word = buffered.slice(0, nl);
        if (word === 'exit') {
          unlinkOurs();
          socket.end(() => quit('asked to exit'));
          return;
        }
        if (word !== 'claim' || taken) return void socket.destroy();
        taken = true;
        // No second launch may take the same bundle: stop listening and take the name away first.
        unlinkOurs();
        server.close();
        clearTimeout(idle);
        clearInterval(watch);
        process.removeAllListeners('SIGTERM');
        socket.setTimeout(0);
        socket.pause();
        const rest = buffered.slice(nl + 1);
        if (rest !== '') socket.unshift(Buffer.from(rest, 'latin1'));
        socket.write(`${JSON.stringify({ standby: 1, pid: process.pid, marker })}\n`);
        resolve(socket);
      };
      socket.on('data', onData);
    });
  });
}

function quit(why: string): never {
  process.stderr.write(`bot-bottle standby: exiting: ${why}\n`);
  process.exit(0);
}

function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(socketPath);
    const done = (yes: boolean): void => {
      s.destroy();
      resolve(yes);
    };
    // A connection that sends nothing changes nothing for a live standby (see the first-line rule above).
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.setTimeout(1_000, () => done(false));
  });
}
