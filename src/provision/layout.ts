// The guest layout is part of what a plan is written against (src/plan/guest-layout.ts); provisioning
// and the backends keep importing it from here.
export * from '../plan/guest-layout.js';
