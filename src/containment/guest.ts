/** Where every backend puts the containment probe inside a bottle (read-only). */
export const GUEST_PROBE_DIR = '/opt/bot-bottle/containment';
// CommonJS, named so whatever package.json the guest may have: node starts it without its ES module loader
// (~5-10 ms of the probe's start, which is what the agent waits for).
export const GUEST_PROBE_SCRIPT = `${GUEST_PROBE_DIR}/probe.cjs`;
/** The CLI's own node, when it is not already visible under /usr. */
export const GUEST_PROBE_NODE = `${GUEST_PROBE_DIR}/node`;
/** The bundle dist/ ships the probe as (scripts/build.mjs). */
export const PROBE_BUNDLE = 'containment-probe.cjs';

/**
 * How every backend starts the probe: none of the agent's environment, and
 * OpenSSL's default trust store pointed at nothing, so node parses no root
 * certificates (~30-70 ms) and the CA check trusts only the anchor it found
 * in the guest's own store (observe.ts).
 */
export const PROBE_NODE_ARGS = ['--use-openssl-ca'];
export const PROBE_ENV: Record<string, string> = { PATH: '/usr/bin:/bin', SSL_CERT_FILE: '/dev/null', SSL_CERT_DIR: '/nonexistent' };

/** The probe's command line inside a bottle, given where node is there. */
export function probeCommand(node: string): string[] {
  return ['/usr/bin/env', '-i', ...Object.entries(PROBE_ENV).map(([k, v]) => `${k}=${v}`), node, ...PROBE_NODE_ARGS, GUEST_PROBE_SCRIPT];
}
