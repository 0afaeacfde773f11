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
 * The probe starts first (node's start-up then overlaps everything else;
 * it reads the home only once the forwarders, started after the seeding,
 * listen), with no environment and no terminal: its spec
 * arrives on fd 7 and its report leaves on fd 6. No other process gets
 * any of those fds.
 *
 * Attached to a terminal, init runs under bash with job control (`set -m`):
 * each step, and then the agent, is the terminal's foreground job in a
 * process group of its own, so a Ctrl-C typed while the bottle starts (before
 * the agent reads keys raw) reaches only that step or the agent, never init,
 * bwrap or the launcher, and does not end the bottle. Not dash: its job
 * control, on leaving, hands the terminal back to the group it found, which
 * is outside the sandbox's pid namespace, and fails (exit 2). Not `exec` for
 * the agent: a shell that execs has no job control left. Without bash, init
 * runs as before (the agent exec'd in place).
 */
export function initScript(forwards: readonly Forward[], probe?: InitProbe): string {
  const lines = [
    '#!/bin/sh',
    'if [ -t 0 ] && [ -z "${BASH_VERSION:-}" ] && command -v bash >/dev/null 2>&1; then exec bash "$0" "$@"; fi',
    'set -eu',
    // A Ctrl-C before the first step took the terminal reaches init too. A handler, not an
    // ignore: the agent gets SIGINT's default back when it starts.
    "intr=0; trap 'intr=1' INT",
    'attached=0; if [ -t 0 ] && [ -n "${BASH_VERSION:-}" ]; then attached=1; set -m; fi',
  ];
  // The probe first: its node start is the longest step before the bottle can be judged. It reads the
  // home only after the forwarders below listen, and they start after the home is seeded.
  if (probe) {
    lines.push(`${probe.argv.map(quote).join(' ')} <&7 >&6 2>&6 6>&- 7<&- 8<&- &`, 'probe=$!');
  }
  lines.push(`cp -a ${SANDBOX_RUN}/seed/. "$HOME"/ 2>/dev/null || true`);
  // `nodelay`: without it socat's TCP side holds a small write until the agent ACKs the one before, and
  // the agent's delayed ACK made that up to 40 ms per exchange (claude -p: ~50-80 ms of its first output).
  for (const f of forwards) {
    lines.push(`socat TCP-LISTEN:${f.port},bind=127.0.0.1,fork,reuseaddr,nodelay UNIX-CONNECT:${SANDBOX_RUN}/sock/${f.socket} </dev/null >/dev/null 2>&1 6>&- 7<&- 8<&- &`);
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
    '  sleep 0.01 || :',
    'done',
  );
  // A trapped Ctrl-C interrupts `wait` and `read`: ask again (only then; an exit or EOF is the answer).
  if (probe) lines.push('while :; do intr=0; st=0; wait "$probe" || st=$?; [ "$intr" = 1 ] && [ "$st" -gt 128 ] || break; done', '[ "$st" = 0 ] || echo "probe-exit $st" >&6');
  lines.push(
    'exec 6>&- 7<&-',
    'while :; do intr=0; go=; IFS= read -r go <&8 && break; [ "$intr" = 1 ] || break; done',
    'exec 8<&-',
    '[ "$go" = go ] || { echo "bot-bottle: the bottle was not released (its start failed or its containment check did not pass); the agent was not started" >&2; exit 125; }',
    '[ "$attached" = 1 ] || exec "$@"',
    // One command per line: bash drops the rest of a line whose foreground job a Ctrl-C ended.
    'set +e',
    '"$@"',
    'st=$?',
    'exit "$st"',
  );
  return `${lines.join('\n')}\n`;
}

function quote(s: string): string {
  return `'${s.replaceAll("'", "'\\''")}'`;
}
