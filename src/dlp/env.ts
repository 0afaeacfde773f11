/** Names of the bottle's token slots inside the sidecar (spec: `EGRESS_TOKEN_*`). */
const TOKEN_SLOT_PREFIX = 'EGRESS_TOKEN_';
/** Shorter values would match ordinary text too often to be worth blocking on. */
const MIN_SECRET_CHARS = 8;

/**
 * EGRESS_TOKEN_* values plus values of env vars whose names start with a prefix
 * listed (comma-separated) in BOT_BOTTLE_SENSITIVE_PREFIXES. Ignores empty/short values.
 */
export function knownSecretsFromEnv(env: NodeJS.ProcessEnv): string[] {
  return [...new Set(knownSecretEntriesFromEnv(env).map((e) => e.value))].sort();
}

/** The same secrets with the names of the variables that hold them (to tell an operator whose a value is; never the value). */
export function knownSecretEntriesFromEnv(env: NodeJS.ProcessEnv): { name: string; value: string }[] {
  const prefixes = [TOKEN_SLOT_PREFIX];
  for (const p of (env['BOT_BOTTLE_SENSITIVE_PREFIXES'] ?? '').split(',')) {
    const t = p.trim();
    if (t !== '') prefixes.push(t);
  }
  const out: { name: string; value: string }[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (name === 'BOT_BOTTLE_SENSITIVE_PREFIXES' || value === undefined) continue;
    if (!prefixes.some((p) => name.startsWith(p))) continue;
    const v = value.trim();
    if (v.length >= MIN_SECRET_CHARS) out.push({ name, value: v });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
