/** Where every backend puts the containment probe inside a bottle (read-only). */
export const GUEST_PROBE_DIR = '/opt/bot-bottle/containment';
export const GUEST_PROBE_SCRIPT = `${GUEST_PROBE_DIR}/probe.js`;
/** The CLI's own node, when it is not already visible under /usr. */
export const GUEST_PROBE_NODE = `${GUEST_PROBE_DIR}/node`;
/** The bundle dist/ ships the probe as (scripts/build.mjs). */
export const PROBE_BUNDLE = 'containment-probe.js';
