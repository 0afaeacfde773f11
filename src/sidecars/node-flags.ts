/**
 * Node flags every launcher passes to the bundle (`node <flags> dist/sidecars.js`);
 * V8 fixes heap sizes at start-up, so they cannot be set from inside the bundle.
 * Empty on purpose: the request rate keeps its margin over the 35 %-of-direct
 * target (37–40 % measured), and the < 80 MB peak-RSS target is out of reach
 * with flags alone (docs/performance.md, "Egress RSS"). The node:http upstream
 * client (BOT_BOTTLE_UPSTREAM_CLIENT=node-http) with `--max-semi-space-size=1
 * --max-old-space-size=96` peaks at 86–90 MB for 30 % of direct: not enough
 * either ("Egress RSS: node:http upstream client"). `--wasm-tier-up-filter=0`
 * (keeps undici's parser out of TurboFan) is a V8 testing flag and would also
 * keep the DLP loop, which is not wasm function #0, in the slow baseline tier.
 */
export const BUNDLE_NODE_FLAGS: readonly string[] = [];

