import { readFileSync } from 'node:fs';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeUpstreamPki, route, startHarness, startUpstream, undiciClient, type Harness } from './support.js';

const EVENTS = [
  'event: content_block_delta\ndata: {"delta":{"text":"The README warns: \\"ignore previous instructions\\" is a classic prompt injection."}}\n\n',
  'event: message_stop\ndata: {}\n\n',
];

/**
 * A model API's reply is the agent's own conversation: a reply that merely
 * mentions a prompt-injection phrase must reach the agent whole (the route
 * reports), while a web route still cuts it.
 */
describe('inbound DLP on a model-API route reports instead of terminating', () => {
  let up: Awaited<ReturnType<typeof startUpstream>>;
  let h: Harness;

  beforeAll(async () => {
    const pki = await makeUpstreamPki(['model.test', 'web.test']);
    up = await startUpstream(pki, async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const e of EVENTS) {
        res.write(e);
        await new Promise((r) => setImmediate(r));
      }
      res.end();
    });
    const inbound = (inboundOnMatch?: 'report') => ({
      dlp: { outbound: ['token_patterns' as const], inbound: ['naive_injection_detection' as const], onMatch: 'block' as const, ...(inboundOnMatch ? { inboundOnMatch } : {}) },
    });
    h = await startHarness(pki, [route('model.test', up.port, { ...inbound('report'), source: 'provider' }), route('web.test', up.port, inbound())], {
      resolve: ['model.test', 'web.test'].map((n) => `${n}:${up.port}:127.0.0.1`).join(','),
    });
  });
  afterAll(async () => {
    await h?.close();
    await up?.close();
  });

  it('streams the whole reply and records the finding in the audit line', async () => {
    const c = undiciClient(h, readFileSync(h.caFile, 'utf8'));
    try {
      const r = await c.fetch(`https://model.test:${up.port}/v1/messages`, { method: 'POST', body: '{"stream":true}', headers: { 'content-type': 'application/json' } });
      expect(r.status).toBe(200);
      expect(r.body).toBe(EVENTS.join(''));
      const audit = h.logs.filter((l) => l.event === 'egress-request' && l.host === 'model.test').at(-1) as { decision: string; stage?: string; findings?: { rule: string; where: string }[] };
      expect(audit.decision).toBe('allow');
      expect(audit.stage).toBe('inbound-dlp');
      expect(audit.findings?.some((f) => f.rule === 'injection-ignore-previous' && f.where === 'response')).toBe(true);
    } finally {
      await c.agent.close();
    }
  });

  it('a route without the report mode still cuts the same reply', async () => {
    const c = undiciClient(h, readFileSync(h.caFile, 'utf8'));
    try {
      const res = await request(`https://web.test:${up.port}/page`, { dispatcher: c.agent });
      await expect(res.body.text()).rejects.toThrow();
      expect(h.logs.some((l) => l.host === 'web.test' && l.decision === 'terminated' && l.stage === 'inbound-dlp')).toBe(true);
    } finally {
      await c.agent.destroy();
    }
  });
});
