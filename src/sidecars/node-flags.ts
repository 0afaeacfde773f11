/**
 * Node flags every launcher passes to the bundle (`node <flags> dist/sidecars.js`);
 * V8 fixes heap sizes at start-up, so they cannot be set from inside the bundle.
 * Empty on purpose (docs/performance.md, "Egress RSS: session 3"): the best set
 * measured, `--max-semi-space-size=1 --max-old-space-size=96
 * --turbo-force-mid-tier-regalloc`, keeps the rps phase at 81–84 MB (the
 * mid-tier register allocator shrinks the TurboFan compile of undici's wasm
 * llhttp from ~43 to ~13 MB of zone) but costs +13–19 % proxy CPU per
 * request (41 → 37 % of direct: no margin left over the 35 % target), and uploads
 * still peak at ~100 MB: request-body chunks held in the gated body's Readable
 * buffer survive until a full GC. V8 also marks that allocator flag "for
 * testing". Re-measure once the body path no longer queues chunks in a Readable.
 */
export const BUNDLE_NODE_FLAGS: readonly string[] = [];
