/**
 * Node flags every launcher passes to the bundle (`node <flags> dist/sidecars.js`);
 * V8 fixes heap sizes at start-up, so they cannot be set from inside the bundle.
 *
 * A 2 MB semi-space (V8 grows it to 16 MB by default). With 16 MB the young
 * generation is as large as the old generation's headroom (~16 MB over ~10 MB
 * live), so V8 starts a full mark-compact after nearly every scavenge during
 * an upload: about one per 10 MB. With 2 MB: −14 % proxy CPU per uploaded MB
 * and −30 MB peak RSS, for ~+5 % CPU per small request (more scavenges);
 * docs/performance.md, Egress, "Session 4". Not set: `--max-old-space-size`
 * (a heap cap turns load into a crash) and `--turbo-force-mid-tier-regalloc`,
 * which removes the ~30 MB TurboFan compile spike of undici's wasm llhttp but
 * which V8 marks "for testing".
 */
export const BUNDLE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];
