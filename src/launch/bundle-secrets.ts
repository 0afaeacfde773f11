import type { BundleSecrets, LaunchSecrets } from './boundary.js';

/** The bundle's own knobs: not secret, so they may travel in its environment. */
const KNOBS = new Set(['PATH', 'HOME', 'LANG', 'TMPDIR', 'EGRESS_TOKEN_ALLOW_TIMEOUT_SECONDS', 'EGRESS_UPSTREAM_HEADERS_TIMEOUT_SECONDS']);

function sensitivePrefixes(hostEnv: Readonly<Record<string, string | undefined>>): string[] {
  return (hostEnv.BOT_BOTTLE_SENSITIVE_PREFIXES ?? '').split(',').map((p) => p.trim()).filter((p) => p.length > 0);
}

function sensitive(name: string, prefixes: readonly string[]): boolean {
  return name !== 'BOT_BOTTLE_SENSITIVE_PREFIXES' && prefixes.some((p) => name.startsWith(p));
}

/**
 * The bundle's environment: its knobs (BOT_BOTTLE_*, timeouts) and nothing
 * secret. A host variable the operator marked sensitive is left out even when
 * its name looks like a knob: it goes through the secrets channel.
 */
export function bundleSettings(hostEnv: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const prefixes = sensitivePrefixes(hostEnv);
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(hostEnv)) {
    if (value === undefined || sensitive(name, prefixes) || name.startsWith('EGRESS_TOKEN_')) continue;
    if (KNOBS.has(name) || name.startsWith('BOT_BOTTLE_')) env[name] = value;
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
