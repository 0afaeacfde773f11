/**
 * The SSH side of the gate: where an upstream lives, the pinned known_hosts
 * line for it, and the ssh command git uses to reach it.
 */

export interface SshTarget {
  host: string;
  port: number;
}

/** Parses `ssh://[user@]host[:port]/path` and scp-like `[user@]host:path`. */
export function parseSshUrl(url: string): SshTarget {
  if (url.startsWith('ssh://')) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new Error(`upstream url ${JSON.stringify(url)} is not a valid ssh:// URL`);
    }
    const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
    if (host === '') throw new Error(`upstream url ${JSON.stringify(url)} has no host`);
    return { host, port: parsed.port === '' ? 22 : Number(parsed.port) };
  }
  const m = /^(?:[^@/:]+@)?(\[[^\]]+\]|[^:/]+):(?!\/\/)(.+)$/.exec(url);
  if (!m?.[1]) {
    throw new Error(`upstream url ${JSON.stringify(url)} is not an SSH URL (expected ssh://git@host:port/path.git or git@host:path.git)`);
  }
  return { host: m[1].replace(/^\[(.*)\]$/, '$1'), port: 22 };
}

const KEY_TYPE_RE = /^(ssh-|ecdsa-|sk-)/;

/**
 * A known_hosts line for the pinned key. A bare key (`ssh-ed25519 AAAA...`)
 * gets the host pattern ssh expects for the upstream's host and port; a full
 * known_hosts line is kept as written.
 */
export function knownHostsLine(hostKey: string, target: SshTarget): string {
  const line = hostKey.trim();
  if (line.includes('\n')) throw new Error('hostKey must be a single known_hosts line');
  const first = line.split(/\s+/)[0] ?? '';
  if (!KEY_TYPE_RE.test(first)) return `${line}\n`;
  const pattern = target.port === 22 ? target.host : `[${target.host}]:${target.port}`;
  return `${pattern} ${line}\n`;
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * GIT_SSH_COMMAND for one upstream. `-F /dev/null` and the empty global
 * known_hosts keep the host's ssh config and keys out; BatchMode makes a
 * missing/wrong key fail instead of prompting.
 */
export function sshCommand(identityFile: string, knownHostsFile: string): string {
  return [
    'ssh',
    '-F', '/dev/null',
    '-i', shellQuote(identityFile),
    '-o', 'IdentitiesOnly=yes',
    '-o', 'BatchMode=yes',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', `UserKnownHostsFile=${shellQuote(knownHostsFile)}`,
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'UpdateHostKeys=no',
    '-o', 'ConnectTimeout=15',
  ].join(' ');
}
