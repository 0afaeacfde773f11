import { SANDBOX_RUN } from './sandbox-args.js';

export interface Forward {
  name: string;
  port: number;
  socket: string;
}

/** The containment probe, run by init before the agent (src/containment). */
export interface InitProbe {
  /** Its whole command line inside the sandbox (containment/guest.ts). */
  argv: string[];
}

/**
 * The first program inside the sandbox: seed the tmpfs home, start the
 * loopback forwarders to the bundle's sockets, wait until they listen, then
 * become the agent once the launcher releases the bottle by writing `go` on
 * fd 8 (the sandbox starts while the bundle is still starting, and the
 * launcher releases it only when the bundle is ready and, with the
 * containment probe, when the probe's report passed). Runs under /bin/sh
 * with the sandbox's clean environment.
 *
 * The probe starts right after the home is seeded (node's start-up then
 * overlaps everything else), with no environment and no terminal: its spec
 * arrives on fd 7 and its report leaves on fd 6. No other process gets
 * any of those fds.
 */
export function initScript(forwards: readonly Forward[], probe?: InitProbe): string {
  const lines = [
    '#!/bin/sh',
    'set -eu',
    `cp -a ${SANDBOX_RUN}/seed/. "$HOME"/ 2>/dev/null || true`,
  ];
  if (probe) {
    lines.push(`${probe.argv.map(quote).join(' ')} <&7 >&6 2>&6 6>&- 7<&- 8<&- &`, 'probe=$!');
  }
  for (const f of forwards) {
    lines.push(`socat TCP-LISTEN:${f.port},bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:${SANDBOX_RUN}/sock/${f.socket} </dev/null >/dev/null 2>&1 6>&- 7<&- 8<&- &`);
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
  );
  if (probe) lines.push('st=0; wait "$probe" || st=$?', '[ "$st" = 0 ] || echo "probe-exit $st" >&6');
  lines.push(
    'exec 6>&- 7<&-',
    'go=; IFS= read -r go <&8 || true',
    'exec 8<&-',
    '[ "$go" = go ] || { echo "bot-bottle: the bottle was not released (its start failed or its containment check did not pass); the agent was not started" >&2; exit 125; }',
    'exec "$@"',
  );
  return `${lines.join('\n')}\n`;
}

function quote(s: string): string {
  return `'${s.replaceAll("'", "'\\''")}'`;
}
