import { z } from 'zod';
import { PROBE_SPEC_VERSION, type ProbeReport } from './spec.js';

/**
 * The probe's report comes out of the bottle, so it is checked like any
 * untrusted input before a check reads it (bounded sizes, exact shape).
 */
const text = (max: number) => z.string().max(max);
const endpoint = { host: text(64), port: z.number().int().min(0).max(65_535) };
const proto = z.enum(['tcp', 'udp']);

const ReportSchema = z.strictObject({
  version: z.literal(PROBE_SPEC_VERSION),
  network: z.strictObject({
    interfaces: z.array(text(64)).max(1_000),
    routes: z.array(text(512)).max(10_000),
    listeners: z.array(z.strictObject({ proto, ...endpoint })).max(100_000),
    unixListeners: z.array(text(4_096)).max(100_000),
    notListening: z.array(z.strictObject(endpoint)).max(100),
  }),
  attempts: z.array(z.strictObject({ proto, ...endpoint, outcome: text(200) })).max(1_000),
  dns: z.strictObject({ name: text(255), outcome: text(200) }).optional(),
  proxy: z.strictObject({ status: z.number().int().nullable(), blockStage: text(64).nullable(), error: text(500).optional() }),
  ca: z.strictObject({ inBundle: z.boolean(), fileMatches: z.boolean(), handshake: text(500) }),
  self: z.strictObject({ uid: z.number().int(), ownsUsr: z.boolean(), capEff: text(32), noNewPrivs: text(8), seccomp: text(8) }),
  processes: z.array(z.strictObject({ pid: z.number().int().positive(), cmdline: text(1 << 20) })).max(100_000),
  texts: z.array(z.strictObject({ source: text(4_096), data: z.string() })).max(1_000_000),
  truncated: text(8_192).optional(),
  ms: z.number(),
  timings: z.record(text(32), z.number()),
});

/** Parse the probe's line; anything else (a crash, a `probe-error` line) is an error that quotes its start. */
export function parseReport(raw: string): ProbeReport {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new Error(`the probe did not report: ${JSON.stringify(raw.slice(0, 300))}`);
  }
  // One parse per launch: compiling the schema (zod's JIT) would cost more than it saves.
  const parsed = ReportSchema.safeParse(json, { jitless: true });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`the probe's report is malformed at ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data as ProbeReport;
}
