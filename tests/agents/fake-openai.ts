import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TestPki } from '../egress/support.js';
import { decodeFrames, encodeFrame } from '../egress/websocket-support.js';

/**
 * A fake OpenAI Responses API for running the real Codex CLI against: TLS on
 * loopback, `POST /v1/responses` answered as an SSE stream of response events,
 * and the same events over Codex's WebSocket transport (`GET /v1/responses`
 * upgraded; one `response.create` message per turn, one text frame per event).
 * What the model "says" comes from a script that sees every request.
 */

/** One item the scripted model outputs in a turn. */
export type ModelOutput =
  | { type: 'message'; text: string }
  /** `namespace`: a tool in one of Codex's namespaces, e.g. an MCP server's (`mcp__supervise`). */
  | { type: 'function_call'; name: string; namespace?: string; arguments: Record<string, unknown> };

export interface ResponsesCall {
  transport: 'sse' | 'websocket';
  headers: IncomingMessage['headers'];
  /** The request body (`response.create` message without its `type` for WebSocket). */
  body: Record<string, unknown>;
  /**
   * The whole conversation: the body's input, preceded, when it continues an earlier response
   * (`previous_response_id`, as Codex does on its WebSocket), by that response's input and output.
   */
  input: Array<Record<string, unknown>>;
  /** A warm-up request (`generate: false`): answered with no output, not shown to the script. */
  prewarm: boolean;
}

export type ModelScript = (call: ResponsesCall, fake: FakeOpenAi) => ModelOutput[];

export interface FakeOpenAi {
  port: number;
  /** false: answer WebSocket upgrades with 426, so Codex falls back to HTTPS with SSE. */
  websocket: boolean;
  /** Every Responses request, in order. */
  calls: ResponsesCall[];
  /** Every request that reached the server (method, path, headers), including upgrades and other endpoints. */
  requests: Array<{ method: string; path: string; headers: IncomingMessage['headers'] }>;
  close(): Promise<void>;
}

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

type Item = Record<string, unknown>;

/** Every text the conversation carries (messages, tool calls and their outputs), for scripts and assertions. */
export function inputTexts(input: readonly Item[]): string[] {
  const out: string[] = [];
  for (const item of input) {
    if (typeof item.output === 'string') out.push(item.output);
    if (typeof item.arguments === 'string') out.push(item.arguments);
    if (Array.isArray(item.content)) {
      for (const part of item.content as Item[]) if (typeof part.text === 'string') out.push(part.text);
    }
  }
  return out;
}

/** Codex also sends its environment context as user messages (`<environment_context>…`); the person's prompt is the last other one. */
function userPromptIndex(input: readonly Item[]): number {
  for (let i = input.length - 1; i >= 0; i--) {
    const item = input[i]!;
    if (item.role === 'user' && !messageText(item).startsWith('<')) return i;
  }
  return -1;
}

function messageText(item: Item): string {
  return Array.isArray(item.content) ? (item.content as Item[]).map((p) => (typeof p.text === 'string' ? p.text : '')).join('') : '';
}

/** What the person typed this turn. */
export function lastUserText(input: readonly Item[]): string {
  const i = userPromptIndex(input);
  return i >= 0 ? messageText(input[i]!) : '';
}

/** Tool results that came back since the person's last prompt, by call id. */
export function toolOutputs(input: readonly Item[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const item of input.slice(userPromptIndex(input) + 1)) {
    if ((item.type === 'function_call_output' || item.type === 'custom_tool_call_output') && typeof item.call_id === 'string') {
      out.set(item.call_id, typeof item.output === 'string' ? item.output : JSON.stringify(item.output));
    }
  }
  return out;
}

/** The output items of one scripted turn, as the Responses API shapes them. */
function outputItems(id: string, outputs: readonly ModelOutput[]): Item[] {
  return outputs.map((o, i) =>
    o.type === 'message'
      ? { type: 'message', role: 'assistant', id: `${id}_msg${i}`, content: [{ type: 'output_text', text: o.text }] }
      : { type: 'function_call', id: `${id}_fc${i}`, call_id: `call_${id}_${i}`, name: o.name, ...(o.namespace ? { namespace: o.namespace } : {}), arguments: JSON.stringify(o.arguments) },
  );
}

function responseEvents(id: string, items: readonly Item[], model: string): Item[] {
  const events: Item[] = [{ type: 'response.created', response: { id, model } }];
  items.forEach((item, i) => {
    if (item.type === 'message') {
      const text = messageText(item);
      events.push({ type: 'response.output_item.added', output_index: i, item: { ...item, content: [] } });
      events.push({ type: 'response.output_text.delta', output_index: i, item_id: item.id, content_index: 0, delta: text });
    }
    events.push({ type: 'response.output_item.done', output_index: i, item });
  });
  events.push({
    type: 'response.completed',
    response: { id, model, usage: { input_tokens: 10, input_tokens_details: null, output_tokens: 5, output_tokens_details: null, total_tokens: 15 } },
  });
  return events;
}

export interface FakeOpenAiOptions {
  host?: string;
  port?: number;
  /** Initial value of `FakeOpenAi.websocket`. */
  websocket?: boolean;
}

export async function startFakeOpenAi(pki: TestPki, script: ModelScript, opts: FakeOpenAiOptions = {}): Promise<FakeOpenAi> {
  const calls: ResponsesCall[] = [];
  const requests: FakeOpenAi['requests'] = [];
  const sockets = new Set<Duplex>();
  /** Each response's whole conversation (input then output), for requests that continue it. */
  const conversations = new Map<string, Item[]>();
  let next = 0;
  const fake: FakeOpenAi = { port: 0, websocket: opts.websocket ?? true, calls, requests, close: () => Promise.resolve() };

  const answer = (transport: ResponsesCall['transport'], headers: IncomingMessage['headers'], body: Item): Item[] => {
    const id = `resp_${++next}`;
    const earlier = typeof body.previous_response_id === 'string' ? (conversations.get(body.previous_response_id) ?? []) : [];
    const input = [...earlier, ...(Array.isArray(body.input) ? (body.input as Item[]) : [])];
    const call: ResponsesCall = { transport, headers, body, input, prewarm: body.generate === false };
    calls.push(call);
    const model = typeof body.model === 'string' ? body.model : 'fake-model';
    let outputs: ModelOutput[] = [];
    if (!call.prewarm) {
      try {
        outputs = script(call, fake);
      } catch (err) {
        outputs = [{ type: 'message', text: `fake model script failed: ${(err as Error).message}` }];
      }
    }
    const items = outputItems(id, outputs);
    conversations.set(id, [...input, ...items]);
    return responseEvents(id, items, model);
  };

  const server = createServer({ key: pki.keyPem, cert: pki.certPem }, (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '').split('?')[0] ?? '';
    requests.push({ method: req.method ?? '', path, headers: req.headers });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'POST' && path.endsWith('/responses')) {
        let body: Item;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Item;
        } catch {
          res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":{"message":"body is not JSON"}}');
          return;
        }
        const events = answer('sse', req.headers, body);
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        // One write per event: the stream is live, as the real API's is.
        for (const ev of events) res.write(`event: ${String(ev.type)}\ndata: ${JSON.stringify(ev)}\n\n`);
        res.end();
        return;
      }
      if (req.method === 'GET' && path.endsWith('/models')) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ object: 'list', data: [] }));
        return;
      }
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: `fake OpenAI: no ${req.method} ${path}` } }));
    });
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (req.url ?? '').split('?')[0] ?? '';
    requests.push({ method: `${req.method ?? ''} (upgrade)`, path, headers: req.headers });
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    if (!path.endsWith('/responses') || !fake.websocket) {
      socket.end(!fake.websocket ? 'HTTP/1.1 426 Upgrade Required\r\ncontent-length: 0\r\nconnection: close\r\n\r\n' : 'HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
      return;
    }
    const accept = createHash('sha1').update(`${String(req.headers['sec-websocket-key'])}${WS_GUID}`).digest('base64');
    // No Sec-WebSocket-Extensions in the answer: frames stay uncompressed.
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    let buf: Buffer = head;
    let parts: Buffer[] = [];
    const onData = (chunk: Buffer): void => {
      const r = decodeFrames(Buffer.concat([buf, chunk]));
      buf = r.rest;
      for (const f of r.frames) {
        if (f.opcode === 0x9) socket.write(encodeFrame(0xa, f.payload, { mask: false }));
        else if (f.opcode === 0x8) socket.end(encodeFrame(0x8, f.payload.subarray(0, 2), { mask: false }));
        else if (f.opcode <= 0x2) {
          parts.push(f.payload);
          if (!f.fin) continue;
          const text = Buffer.concat(parts).toString('utf8');
          parts = [];
          let message: Item;
          try {
            message = JSON.parse(text) as Item;
          } catch {
            continue;
          }
          if (message.type !== 'response.create') continue;
          const { type: _type, ...body } = message;
          for (const ev of answer('websocket', req.headers, body)) socket.write(encodeFrame(0x1, JSON.stringify(ev), { mask: false }));
        }
      }
    };
    socket.on('data', onData);
    if (head.length > 0) onData(Buffer.alloc(0));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  fake.port = (server.address() as AddressInfo).port;
  fake.close = () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.closeAllConnections();
      server.close(() => r());
    });
  return fake;
}
