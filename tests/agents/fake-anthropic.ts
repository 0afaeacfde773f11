import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { makeUpstreamPki, type TestPki } from '../egress/support.js';

/**
 * A fake Anthropic Messages API for running the real Claude Code against:
 * TLS on a loopback address at port 443 (where egress, told by
 * BOT_BOTTLE_RESOLVE, sends api.anthropic.com), `POST /v1/messages` answered
 * as an SSE stream (or JSON when `stream` is off), and a scripted model that
 * issues real tool calls. A plain-HTTP CONNECT front (`proxyUrl`) lets a bare
 * `claude` on the host reach the same server without DNS, for comparisons.
 *
 * The script reads the newest user prompt: each line (or ` ;; `-separated part) `bash: CMD`,
 * `write: PATH TEXT` or `mcp: TOOL JSON` is one tool call, made in order,
 * one per model turn; `say: TEXT` is the final answer. The final answer is
 * `FAKE-REPLY <say text>` followed by every tool result of the turn, so a test
 * sees on the agent's output what the tools really did.
 */

export interface MessagesCall {
  path: string;
  headers: IncomingMessage['headers'];
  body: MessagesBody;
}

export interface MessagesBody {
  model?: string;
  stream?: boolean;
  system?: unknown;
  tools?: Array<{ name?: string }>;
  messages?: Array<{ role: string; content: string | ContentBlock[] }>;
  [key: string]: unknown;
}

type ContentBlock = { type: string; text?: string; content?: unknown; [key: string]: unknown };

export interface FakeAnthropic {
  /** The loopback address the TLS server listens on (port 443). */
  address: string;
  /** `BOT_BOTTLE_RESOLVE` entry sending api.anthropic.com here. */
  resolve: string;
  /** The fake's CA (what `BOT_BOTTLE_UPSTREAM_CA` must trust). */
  caPem: string;
  /** An HTTP proxy URL whose CONNECT to api.anthropic.com:443 reaches the fake; every other target gets 403. */
  proxyUrl: string;
  /** Every request that reached the TLS server (`at`: Date.now() when its body had arrived). */
  requests: Array<{ method: string; path: string; headers: IncomingMessage['headers']; body: string; at: number }>;
  /** Every Messages API call, parsed. */
  calls: MessagesCall[];
  /** CONNECT targets the front refused (a bare run must produce none). */
  refusedConnects: string[];
  close(): Promise<void>;
}

export type Step = { kind: 'bash'; command: string } | { kind: 'write'; path: string; content: string } | { kind: 'mcp'; tool: string; input: Record<string, unknown> };

/** The text of a user message's blocks that are not system reminders. */
function userText(content: string | ContentBlock[]): string {
  if (typeof content === 'string') return content;
  return content
    .filter((b) => b.type === 'text' && typeof b.text === 'string' && !b.text.startsWith('<system-reminder>'))
    .map((b) => b.text)
    .join('\n');
}

function toolResultText(block: ContentBlock): string {
  if (typeof block.content === 'string') return block.content;
  if (Array.isArray(block.content)) return (block.content as ContentBlock[]).map((c) => c.text ?? '').join('');
  return '';
}

/** Every text in a request's conversation (prompts, replies, tool calls and results), for assertions. */
export function conversationText(body: MessagesBody): string {
  const out: string[] = [];
  for (const m of body.messages ?? []) {
    if (typeof m.content === 'string') out.push(m.content);
    else for (const b of m.content) out.push(b.text ?? '', b.type === 'tool_result' ? toolResultText(b) : '', b.type === 'tool_use' ? JSON.stringify(b.input) : '');
  }
  return out.join('\n');
}

export function parseSteps(prompt: string): { steps: Step[]; say: string } {
  const steps: Step[] = [];
  let say = 'done';
  // One step per line, or per ` ;; ` (a terminal's prompt box sends a line per Enter).
  for (const raw of prompt.split(/\n| ;; /)) {
    const line = raw.trim();
    const m = /^(bash|write|mcp|say):\s?(.*)$/.exec(line);
    if (!m) continue;
    const rest = m[2] ?? '';
    if (m[1] === 'bash') steps.push({ kind: 'bash', command: rest });
    else if (m[1] === 'say') say = rest;
    else {
      const space = rest.indexOf(' ');
      const head = space < 0 ? rest : rest.slice(0, space);
      const tail = space < 0 ? '' : rest.slice(space + 1);
      if (m[1] === 'write') steps.push({ kind: 'write', path: head, content: tail });
      else steps.push({ kind: 'mcp', tool: head, input: tail ? (JSON.parse(tail) as Record<string, unknown>) : {} });
    }
  }
  return { steps, say };
}

type Reply = { blocks: Array<{ type: 'text'; text: string } | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> }>; stop: 'end_turn' | 'tool_use' };

/**
 * The scripted model. Only the agent's main loop (a request offering the Bash
 * tool) follows the script; Claude Code's side requests (titles, summaries)
 * get a short text.
 */
export function scriptedReply(body: MessagesBody): Reply {
  const tools = new Set((body.tools ?? []).map((t) => t.name));
  if (!tools.has('Bash')) return { blocks: [{ type: 'text', text: 'ok' }], stop: 'end_turn' };
  const messages = body.messages ?? [];
  let promptIndex = -1;
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m?.role === 'user' && userText(m.content).trim().length > 0) {
      promptIndex = i;
      break;
    }
  }
  const prompt = promptIndex >= 0 ? userText(messages[promptIndex]!.content) : '';
  const { steps, say } = parseSteps(prompt);
  const results: string[] = [];
  for (const m of messages.slice(promptIndex + 1)) {
    if (m.role !== 'user' || typeof m.content === 'string') continue;
    for (const b of m.content) if (b.type === 'tool_result') results.push(toolResultText(b));
  }
  const next = steps[results.length];
  if (next) {
    const id = `toolu_${randomBytes(12).toString('hex')}`;
    if (next.kind === 'bash') return { blocks: [{ type: 'tool_use', id, name: 'Bash', input: { command: next.command, description: 'scripted step' } }], stop: 'tool_use' };
    if (next.kind === 'write') return { blocks: [{ type: 'tool_use', id, name: 'Write', input: { file_path: next.path, content: next.content } }], stop: 'tool_use' };
    return { blocks: [{ type: 'tool_use', id, name: next.tool, input: next.input }], stop: 'tool_use' };
  }
  const text = [`FAKE-REPLY ${say}`, ...results.map((r, i) => `RESULT ${i + 1}: ${r}`)].join('\n');
  return { blocks: [{ type: 'text', text }], stop: 'end_turn' };
}

function sse(res: ServerResponse, event: string, data: unknown): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

function answerMessages(body: MessagesBody, res: ServerResponse): void {
  const reply = scriptedReply(body);
  const id = `msg_${randomBytes(12).toString('hex')}`;
  const model = body.model ?? 'claude-fake';
  const usage = { input_tokens: 12, output_tokens: 8, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
  if (!body.stream) {
    res.writeHead(200, { 'content-type': 'application/json', 'request-id': `req_${id}` });
    res.end(JSON.stringify({ id, type: 'message', role: 'assistant', model, content: reply.blocks, stop_reason: reply.stop, stop_sequence: null, usage }));
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'request-id': `req_${id}` });
  sse(res, 'message_start', { type: 'message_start', message: { id, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 1 } } });
  reply.blocks.forEach((block, index) => {
    if (block.type === 'text') {
      sse(res, 'content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } });
      sse(res, 'content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text: block.text } });
    } else {
      sse(res, 'content_block_start', { type: 'content_block_start', index, content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} } });
      sse(res, 'content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: JSON.stringify(block.input) } });
    }
    sse(res, 'content_block_stop', { type: 'content_block_stop', index });
  });
  sse(res, 'message_delta', { type: 'message_delta', delta: { stop_reason: reply.stop, stop_sequence: null }, usage: { output_tokens: 8 } });
  sse(res, 'message_stop', { type: 'message_stop' });
  res.end();
}

function randomLoopback(): string {
  const b = randomBytes(3);
  return `127.${(b[0]! % 254) + 1}.${b[1]!}.${(b[2]! % 253) + 2}`;
}

/**
 * Listens on 127.a.b.c:443 (a random loopback address, so parallel runs do
 * not collide); binding 443 needs root, as in CI.
 */
export async function startFakeAnthropic(opts: { pki?: TestPki; idleTimeoutMs?: number } = {}): Promise<FakeAnthropic> {
  const pki = opts.pki ?? (await makeUpstreamPki(['api.anthropic.com']));
  const requests: FakeAnthropic['requests'] = [];
  const calls: MessagesCall[] = [];
  const refusedConnects: string[] = [];
  // `idleTimeoutMs`: like a real API's load balancer, drop a connection that sits idle between requests, or
  // on which a request does not arrive whole, within that time (checked every 100 ms).
  const idle = opts.idleTimeoutMs;
  const timeouts = idle === undefined ? {} : { keepAliveTimeout: idle, headersTimeout: idle, requestTimeout: idle, connectionsCheckingInterval: 100 };
  const server = createHttpsServer({ key: pki.keyPem, cert: pki.certPem, ...timeouts }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const path = req.url ?? '/';
      requests.push({ method: req.method ?? '', path, headers: req.headers, body: raw, at: Date.now() });
      if (req.method === 'POST' && /^\/v1\/messages(\?|$)/.test(path)) {
        const body = JSON.parse(raw) as MessagesBody;
        calls.push({ path, headers: req.headers, body });
        answerMessages(body, res);
      } else if (req.method === 'POST' && path.startsWith('/v1/messages/count_tokens')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ input_tokens: 100 }));
      } else {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ type: 'error', error: { type: 'not_found_error', message: `fake: no ${req.method} ${path}` } }));
      }
    });
  });
  let address = '';
  for (let attempt = 0; ; attempt++) {
    address = randomLoopback();
    const ok = await new Promise<boolean>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        if (err.code === 'EADDRINUSE' && attempt < 5) resolve(false);
        else reject(new Error(`fake Anthropic API cannot listen on ${address}:443 (${err.code ?? err.message}); it needs root`));
      };
      server.once('error', onError);
      server.listen(443, address, () => {
        server.off('error', onError);
        resolve(true);
      });
    });
    if (ok) break;
  }
  const sockets = new Set<Socket>();
  const front = createHttpServer((_req, res) => {
    res.writeHead(405);
    res.end();
  });
  front.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    if (req.url !== 'api.anthropic.com:443') {
      refusedConnects.push(req.url ?? '');
      client.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    const upstream = connect(443, address, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  return {
    address,
    resolve: `api.anthropic.com:443:${address}`,
    caPem: pki.caPem,
    proxyUrl: `http://127.0.0.1:${(front.address() as AddressInfo).port}`,
    requests,
    calls,
    refusedConnects,
    close: async () => {
      for (const s of sockets) s.destroy();
      server.closeAllConnections();
      front.closeAllConnections();
      await Promise.all([new Promise<void>((r) => server.close(() => r())), new Promise<void>((r) => front.close(() => r()))]);
    },
  };
}
