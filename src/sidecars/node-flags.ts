/**
 * Node flags every launcher passes to the bundle (`node <flags> dist/sidecars.js`);
 * V8 fixes heap sizes at start-up, so they cannot be set from inside the bundle.
 * Empty on purpose: the request rate keeps its margin over the 35 %-of-direct
 * target (37–40 % measured), and the < 80 MB peak-RSS target is out of reach
 * with flags alone (docs/performance.md, "Egress RSS"). The node:http upstream
 * client (BOT_BOTTLE_UPSTREAM_CLIENT=node-http) with `--max-semi-space-size=1
 * --max-old-space-size=96` peaks at 86–90 MB for 30 % of direct: not enough
 * either ("Egress RSS: node:http upstream client").
 */
export const BUNDLE_NODE_FLAGS: readonly string[] = [];

/**
 * The best memory-for-CPU trade-off measured (docs/performance.md, "Egress RSS"):
 * peak RSS ~90–95 MB instead of ~140–150 MB, for ~+8 % proxy CPU per request
 * (35–38 % of direct instead of 37–40 %) and ~10 % less upload throughput.
 * - `--max-semi-space-size=1`: the young generation is most of the growth under load.
 * - `--max-old-space-size=96`: a smaller old-generation limit makes V8 collect
 *   earlier (live heap ~14 MB). A hard cap: a bundle that needed more would abort
 *   with "heap out of memory" (egress fails closed, loudly).
 * - `--wasm-tier-up-filter=0`: only wasm function #0 of each module is tiered up to
 *   TurboFan. That keeps undici's llhttp parser (function #20) in Liftoff: its
 *   TurboFan compile allocates ~43 MB of zone memory for ~150 ms, the largest
 *   single spike. It also keeps every DLP wasm function but #0 (`pass`) in Liftoff,
 *   so it must be re-checked whenever src/dlp/wasm changes its function order.
 * Not the default: it costs rate margin, and the filter is a V8 testing flag.
 */
export const LOW_MEMORY_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--max-old-space-size=96', '--wasm-tier-up-filter=0'];
