import { PASS_FUNCTION_INDEX } from '../dlp/pass-wasm.js';

/**
 * Node flags every launcher passes to the bundle (`node <flags> dist/sidecars.js`);
 * V8 fixes heap sizes and compiler tiers at start-up, so they cannot be set from inside the bundle.
 *
 * - A 2 MB semi-space (V8 grows it to 16 MB by default). With 16 MB the young
 *   generation is as large as the old generation's headroom (~16 MB over ~10 MB
 *   live), so V8 starts a full mark-compact after nearly every scavenge during
 *   an upload: about one per 10 MB. With 2 MB: −14 % proxy CPU per uploaded MB
 *   and −30 MB peak RSS, for ~+5 % CPU per small request (more scavenges);
 *   docs/performance.md, Egress, "Session 4".
 * - Only the DLP's `pass` is optimised by TurboFan among WebAssembly functions
 *   (the filter is a function index; tests/egress/node-flags.test.ts checks it
 *   is `pass` in our module and an import, never code, in undici's llhttp).
 *   TurboFan compiling llhttp's one huge parser function took ~40 MB of
 *   compiler memory for a moment on the first requests: the bundle's peak RSS
 *   (105–108 MB, against ~86 without it). llhttp stays in Liftoff, V8's
 *   baseline tier; the DLP pass, where uploads spend a fifth of their CPU,
 *   does not. Session 5 in docs/performance.md.
 * - `--expose-gc`, for egress/reclaim.ts: a young-generation GC every 4 MB of
 *   relayed body frees the dead TLS read buffers (−6 MB of peak RSS).
 *
 * Not set: `--max-old-space-size` (a heap cap turns load into a crash) and
 * `--turbo-force-mid-tier-regalloc` (V8 marks it "for testing"; it applies to
 * all optimised code).
 */
export const BUNDLE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2', `--wasm-tier-up-filter=${PASS_FUNCTION_INDEX}`, '--expose-gc'];
