import type { ServerResponse } from 'node:http';
import { adviceFor } from './advice.js';

/** A stage's answer: go on, or stop with a status and a reason a human can act on. */
export type Verdict = { ok: true } | Block;

export interface Block {
  ok: false;
  status: number;
  /** Which stage blocked. */
  stage: string;
  /** What was blocked and why, one sentence; never a secret value. */
  reason: string;
  /** False for blocks an `egress-block` proposal cannot lift (malformed requests, git push). */
  askable?: boolean;
  /** What the agent can do about it, when the stage knows better than its default advice (advice.ts). */
  hint?: string;
}

export const ALLOW: Verdict = { ok: true };

export function block(stage: string, reason: string, status = 403, askable = true, hint?: string): Block {
  return hint === undefined ? { ok: false, status, stage, reason, askable } : { ok: false, status, stage, reason, askable, hint };
}

/** Thrown from inside streaming paths (body DLP) to carry a Block out of an async pipeline. */
export class BlockError extends Error {
  constructor(readonly verdict: Block) {
    super(verdict.reason);
    this.name = 'BlockError';
  }
}

/** The 403 body: what was blocked, why, and what the agent can do about it (advice.ts). */
export function blockBody(b: Block, what: { method: string; host: string; path: string }): string {
  const lines = [`bot-bottle egress blocked ${what.method} ${what.host}${what.path}`, `stage: ${b.stage}`, `reason: ${b.reason}`];
  for (const a of adviceFor(b, what)) lines.push(`what to do: ${a}`);
  return lines.join('\n') + '\n';
}

export function sendBlock(res: ServerResponse, b: Block, what: { method: string; host: string; path: string }): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = blockBody(b, what);
  res.writeHead(b.status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'x-bot-bottle-block': b.stage,
  });
  res.end(body);
}

/** Raw-socket form for CONNECT refusals and parser errors (no ServerResponse exists). */
export function rawResponse(status: number, statusText: string, body: string): string {
  return (
    `HTTP/1.1 ${status} ${statusText}\r\ncontent-type: text/plain; charset=utf-8\r\n` +
    `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`
  );
}
