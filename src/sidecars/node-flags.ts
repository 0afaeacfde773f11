import { PASS_FUNCTION_INDEX } from '../dlp/pass-wasm.js';

/**
 * Node flags every launcher passes to the bundle (`node <flags> dist/sidecars.js`);
 * V8 fixes heap sizes and compiler tiers at start-up, so they cannot be set from inside the bundle.
 *
 * - `--optimize-for-size`: V8's memory-first heap heuristics (a smaller
 *   growing factor and more compaction, so the old generation does not swell
 *   by the garbage a long load promotes) and a 1 MB semi-space (this flag sets
 *   it, whatever --max-semi-space-size says). V8 grows the semi-space to 16 MB
 *   by default, as large as the old generation's headroom, so it started a full
 *   mark-compact after nearly every scavenge during an upload (session 4).
 *   Over the bench's whole run (request-rate load, then 46 uploads) the peak
 *   is 76–78 MB against 80–82 with session 4's `--max-semi-space-size=2`, for
 *   ~15 % more CPU per small request (relative to mitmdump's in the same run;
 *   warm uploads within noise): a sidecar per bottle is idle far more often
 *   than it is loaded, so its footprint counts more. docs/performance.md,
 *   Egress, "Session 6".
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
export const BUNDLE_NODE_FLAGS: readonly string[] = ['--optimize-for-size', `--wasm-tier-up-filter=${PASS_FUNCTION_INDEX}`, '--expose-gc'];
