import { SANDBOX_RUN } from './sandbox-args.js';

export interface Forward {
  name: string;
  port: number;
  socket: string;
}

/**
 * The first program inside the sandbox: start the loopback forwarders to the
 * bundle's sockets, wait until they listen, seed the tmpfs home, then become
 * the agent. Runs under /bin/sh with the sandbox's clean environment.
 */
export function initScript(forwards: readonly Forward[]): string {
  const lines = [
    '#!/bin/sh',
    'set -eu',
    `cp -a ${SANDBOX_RUN}/seed/. "$HOME"/ 2>/dev/null || true`,
  ];
  for (const f of forwards) {
    lines.push(`socat TCP-LISTEN:${f.port},bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:${SANDBOX_RUN}/sock/${f.socket} </dev/null >/dev/null 2>&1 &`);
  }
  // Wait (bounded) until every forwarder is listening, so the agent's first request cannot race them.
  const hexPorts = forwards.map((f) => f.port.toString(16).toUpperCase().padStart(4, '0'));
  lines.push(
    'i=0',
    'while :; do',
    '  ok=1',
    ...hexPorts.map((hex) => `  grep -q ":${hex} 00000000:0000 0A" /proc/net/tcp || ok=0`),
    '  [ "$ok" = 1 ] && break',
    '  i=$((i+1)); [ "$i" -gt 500 ] && { echo "bot-bottle: sidecar forwarders did not start" >&2; exit 125; }',
    '  sleep 0.01',
    'done',
    'exec "$@"',
  );
  return `${lines.join('\n')}\n`;
}
