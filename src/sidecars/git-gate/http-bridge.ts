import { spawn } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Mirror } from './mirror.js';

/**
 * A CGI bridge to `git http-backend`: the request body streams into the CGI's
 * stdin and its stdout streams back (pipe() keeps backpressure), so packs of
 * any size pass through without being held in memory. Only the three smart
 * HTTP endpoints of declared repos are served; dumb HTTP is refused.
 */

const ROUTE_RE = /^\/([A-Za-z0-9][A-Za-z0-9._-]*)\.git\/(info\/refs|git-upload-pack|git-receive-pack)$/;
const SERVICES = new Set(['git-upload-pack', 'git-receive-pack']);
const MAX_CGI_HEADER = 64 * 1024;

export interface BridgeOptions {
  projectRoot: string;
  mirrors: ReadonlyMap<string, Mirror>;
  gitEnv: Record<string, string>;
  log: (event: Record<string, unknown>) => void;
}

export function createGitHttpHandler(opts: BridgeOptions): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    handle(opts, req, res).catch((err: unknown) => {
      opts.log({ event: 'git-gate.http-error', error: (err as Error).message });
      fail(res, 500, 'git-gate: internal error');
    });
  };
}

async function handle(opts: BridgeOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://git-gate');
  const m = ROUTE_RE.exec(url.pathname);
  const mirror = m?.[1] ? opts.mirrors.get(m[1]) : undefined;
  if (!m || !mirror) {
    req.resume();
    fail(res, 404, `git-gate: no such repository ${url.pathname} (declared: ${[...opts.mirrors.keys()].join(', ') || 'none'})`);
    return;
  }
  const endpoint = m[2] ?? '';
  const service = endpoint === 'info/refs' ? (url.searchParams.get('service') ?? '') : endpoint;
  const method = endpoint === 'info/refs' ? 'GET' : 'POST';
  if (!SERVICES.has(service) || req.method !== method) {
    req.resume();
    fail(res, 403, 'git-gate: only smart HTTP (git-upload-pack, git-receive-pack) is served');
    return;
  }
  if (endpoint === 'info/refs') {
    // Every fetch and every push starts here: refresh first so the agent never
    // sees stale refs presented as upstream's current state.
    try {
      await mirror.fetch();
    } catch (err) {
      opts.log({ event: 'git-gate.fetch-failed', repo: mirror.repo.name, error: (err as Error).message });
      req.resume();
      fail(res, 502, (err as Error).message);
      return;
    }
  }
  runCgi(opts, mirror, url, req, res);
}

function runCgi(opts: BridgeOptions, mirror: Mirror, url: URL, req: IncomingMessage, res: ServerResponse): void {
  const header = (name: string): string | undefined => {
    const v = req.headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const env: Record<string, string> = {
    ...opts.gitEnv,
    GIT_PROJECT_ROOT: opts.projectRoot,
    GIT_HTTP_EXPORT_ALL: '1',
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_PROTOCOL: 'HTTP/1.1',
    REQUEST_METHOD: req.method ?? 'GET',
    PATH_INFO: url.pathname,
    QUERY_STRING: url.search.replace(/^\?/, ''),
    REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
    REMOTE_USER: 'agent',
  };
  const optional: [string, string | undefined][] = [
    ['CONTENT_TYPE', header('content-type')],
    ['CONTENT_LENGTH', header('content-length')],
    ['HTTP_CONTENT_ENCODING', header('content-encoding')],
    ['GIT_PROTOCOL', header('git-protocol')],
  ];
  for (const [k, v] of optional) if (v !== undefined) env[k] = v;

  const child = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-4096);
  });
  child.on('error', (err) => {
    opts.log({ event: 'git-gate.cgi-error', repo: mirror.repo.name, error: err.message });
    fail(res, 500, 'git-gate: cannot run git http-backend');
  });
  child.stdin.on('error', () => undefined);
  req.pipe(child.stdin);
  // The client went away: stop the backend instead of letting it run on.
  res.on('close', () => {
    if (!res.writableFinished && child.exitCode === null) child.kill('SIGTERM');
  });

  let head = Buffer.alloc(0);
  let headerDone = false;
  const onData = (chunk: Buffer): void => {
    head = Buffer.concat([head, chunk]);
    const crlf = head.indexOf('\r\n\r\n');
    const lf = head.indexOf('\n\n');
    const end = crlf !== -1 && (lf === -1 || crlf < lf) ? crlf + 4 : lf !== -1 ? lf + 2 : -1;
    if (end === -1) {
      if (head.length > MAX_CGI_HEADER) {
        child.kill('SIGKILL');
        fail(res, 502, 'git-gate: git http-backend sent an oversized header');
      }
      return;
    }
    headerDone = true;
    child.stdout.off('data', onData);
    writeCgiHead(res, head.subarray(0, end).toString('latin1'));
    const rest = head.subarray(end);
    if (rest.length > 0) res.write(rest);
    child.stdout.pipe(res);
  };
  child.stdout.on('data', onData);
  child.on('close', (code) => {
    if (!headerDone) fail(res, 502, `git-gate: git http-backend failed (exit ${code ?? 'signal'}): ${stderr.trim()}`);
    if (code !== 0 && stderr.trim() !== '') opts.log({ event: 'git-gate.cgi-exit', repo: mirror.repo.name, code, stderr: stderr.trim() });
  });
}

function writeCgiHead(res: ServerResponse, text: string): void {
  let status = 200;
  let reason: string | undefined;
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i).trim();
    const value = line.slice(i + 1).trim();
    if (name.toLowerCase() === 'status') {
      const sm = /^(\d{3})\s*(.*)$/.exec(value);
      if (sm) {
        status = Number(sm[1]);
        reason = sm[2] || undefined;
      }
    } else {
      res.setHeader(name, value);
    }
  }
  if (reason) res.writeHead(status, reason);
  else res.writeHead(status);
}

/** text/plain bodies are what git prints to the user (as `remote: ...` lines) on an HTTP error. */
function fail(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache' });
  res.end(`${message}\n`);
}
