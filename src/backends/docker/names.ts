import { createHash } from 'node:crypto';
import { assertSlug } from '../../plan/slug.js';

/**
 * Every docker resource of a bottle carries this label, so `cleanup` finds
 * them by label and never by guessing names.
 */
export const SLUG_LABEL = 'bot-bottle.slug';
export const ROLE_LABEL = 'bot-bottle.role';
/** On a docker standby's resources (standby.ts): the key of what it was made for. */
export const STANDBY_LABEL = 'bot-bottle.standby';

/** `netns`: a docker standby's holder of the agent's network namespace (standby.ts). */
export type ResourceRole = 'internal' | 'egress' | 'sidecars' | 'agent' | 'netns';

/** The alias the agent reaches the sidecar bundle by on the bottle's internal network. */
export const BUNDLE_ALIAS = 'sidecars';

export function labelArgs(slug: string, role: ResourceRole): string[] {
  return ['--label', `${SLUG_LABEL}=${assertSlug(slug)}`, '--label', `${ROLE_LABEL}=${role}`];
}

export function networkName(slug: string, role: 'internal' | 'egress'): string {
  return `bot-bottle-${assertSlug(slug)}-${role}`;
}

export function containerName(slug: string, role: 'sidecars' | 'agent' | 'netns'): string {
  return `bot-bottle-${assertSlug(slug)}-${role}`;
}

/**
 * Linux interface names hold 15 bytes, slugs up to 68: the bridge is named
 * after a hash of the slug, so the firewall rule can name the interface
 * before any container exists (`bb-<8 hex>-i`, 13 bytes).
 */
export function bridgeName(slug: string, role: 'internal' | 'egress'): string {
  const hash = createHash('sha256').update(assertSlug(slug)).digest('hex').slice(0, 8);
  return `bb-${hash}-${role === 'internal' ? 'i' : 'e'}`;
}

const BRIDGE = /^bb-[0-9a-f]{8}-[ie]$/;

/** A bridge name read back from the host (iptables output) before it becomes an argument. */
export function isBridgeName(value: string): boolean {
  return BRIDGE.test(value);
}

/** Docker's own rule for network names, checked before a name from the environment becomes an argument. */
export function isDockerObjectName(value: string): boolean {
  return /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/.test(value);
}
