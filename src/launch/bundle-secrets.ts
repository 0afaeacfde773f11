import type { BundleSecrets, LaunchSecrets } from './boundary.js';

/**
 * The bundle's own knobs, by name: not secret, so they may travel in its environment. Only these: a
 * `BOT_BOTTLE_*` name is no knob by its prefix alone (the README's token variables, BOT_BOTTLE_CLAUDE_OAUTH_TOKEN
 * and the like, hold secrets). tests/launch/bundle-settings.test.ts checks this list against every
 * `BOT_BOTTLE_*` name the built bundle reads.
 */
export const BUNDLE_KNOBS: ReadonlySet<string> = new Set([
  'PATH',
  'HOME',
  'LANG',
  'TMPDIR',
  'EGRESS_TOKEN_ALLOW_TIMEOUT_SECONDS',
  'EGRESS_UPSTREAM_HEADERS_TIMEOUT_SECONDS',
  'BOT_BOTTLE_RESOLVE',
  'BOT_BOTTLE_SENSITIVE_PREFIXES',
  'BOT_BOTTLE_STANDBY_IDLE_S',
  'BOT_BOTTLE_UPSTREAM_CA',
  'BOT_BOTTLE_UPSTREAM_CLIENT',
]);

function sensitivePrefixes(hostEnv: Readonly<Record<string, string | undefined>>): string[] {
  return (hostEnv.BOT_BOTTLE_SENSITIVE_PREFIXES ?? '').split(',').map((p) => p.trim()).filter((p) => p.length > 0);
}

function sensitive(name: string, prefixes: readonly string[]): boolean {
  return name !== 'BOT_BOTTLE_SENSITIVE_PREFIXES' && prefixes.some((p) => name.startsWith(p));
}

/**
 * The bundle's environment: its knobs (BUNDLE_KNOBS) and nothing else. A host
 * variable the operator marked sensitive is left out even when its name is a
 * knob's: it goes through the secrets channel.
 */
export function bundleSettings(hostEnv: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const prefixes = sensitivePrefixes(hostEnv);
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(hostEnv)) {
    if (value === undefined || sensitive(name, prefixes)) continue;
    if (BUNDLE_KNOBS.has(name)) env[name] = value;
  }
  return env;
}

/** What only the bundle may read: the token slots' values and the sensitive host values its DLP looks for. */
export function bundleSecrets(hostEnv: Readonly<Record<string, string | undefined>>, secrets: LaunchSecrets): BundleSecrets {
  const prefixes = sensitivePrefixes(hostEnv);
  const out: BundleSecrets = {};
  for (const [name, value] of Object.entries(hostEnv)) {
    if (value !== undefined && sensitive(name, prefixes)) out[name] = value;
  }
  return { ...out, ...secrets.sidecarEnv };
}
