import { randomBytes } from 'node:crypto';

/**
 * A per-launch marker on the bundle's command line (`--launch-marker`): the
 * containment check looks for it inside the bottle, where no host process may
 * show. Made by the launcher, checked by the bundle and by a launch claiming a
 * standby bundle.
 */
export const LAUNCH_MARKER = /^bb-launch-[0-9a-f]{24}$/;

export function launchMarker(): string {
  return `bb-launch-${randomBytes(12).toString('hex')}`;
}
