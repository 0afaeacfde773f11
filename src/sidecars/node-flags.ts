/**
 * Node flags every launcher passes to the bundle (`node <flags> dist/sidecars.js`);
 * V8 fixes heap sizes at start-up, so they cannot be set from inside the bundle.
 * Empty on purpose: `--max-semi-space-size=2` cuts the proxy's peak RSS by ~35 MB
 * (158 → 121 MB) but costs ~8 % CPU per request (94 → 102 µs), which drops the
 * request rate below the 35 %-of-direct target (measured side by side,
 * docs/performance.md, Egress). Revisit when memory matters more than rate.
 */
export const BUNDLE_NODE_FLAGS: readonly string[] = [];
