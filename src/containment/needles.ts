import { readFileSync } from 'node:fs';
import type { ResolvedSecrets } from '../plan/secrets.js';
import type { BottlePlan } from '../plan/types.js';
import { needleForms, type Needle } from './checks.js';

/** Shorter values would match ordinary text (the DLP's known-secret floor). */
const MIN_CHARS = 8;

/**
 * What must not be readable inside a bottle: every token-slot value (the
 * agent only ever holds placeholders), host variables the operator marked
 * sensitive (BOT_BOTTLE_SENSITIVE_PREFIXES), and git-gate deploy keys. A
 * value the manifest hands the agent on purpose (`${HOST_VAR}`, a prompt, a
 * literal) is not a leak and is left out.
 */
export function hostSecretNeedles(plan: BottlePlan, secrets: ResolvedSecrets, hostEnv: Readonly<Record<string, string | undefined>>): Needle[] {
  const given = new Set<string>([...Object.values(secrets.agentEnv), ...plan.env.flatMap((e) => ('value' in e ? [e.value] : []))]);
  const out = new Map<string, string>();
  const add = (label: string, value: string | undefined): void => {
    const v = value?.trim();
    if (v === undefined || v.length < MIN_CHARS || given.has(v) || out.has(v)) return;
    out.set(v, label);
  };
  for (const [slot, value] of Object.entries(secrets.sidecarEnv)) {
    const source = plan.sidecars.egress.tokens.find((t) => t.slot === slot)?.from;
    add(`token slot ${slot}${source?.kind === 'env' ? ` ($${source.name})` : ''}`, value);
  }
  const prefixes = (hostEnv.BOT_BOTTLE_SENSITIVE_PREFIXES ?? '').split(',').map((p) => p.trim()).filter((p) => p.length > 0);
  for (const [name, value] of Object.entries(hostEnv)) {
    if (name !== 'BOT_BOTTLE_SENSITIVE_PREFIXES' && prefixes.some((p) => name.startsWith(p))) add(`host variable $${name}`, value);
  }
  for (const repo of plan.sidecars.gitGate.repos) {
    // A key is leaked whole or not at all: two lines of its body are enough to find it.
    for (const line of keyBodyLines(repo.identityFile).slice(0, 2)) add(`git-gate key ${repo.identityFile}`, line);
  }
  return [...out].map(([value, label]) => ({ label, forms: needleForms(value) }));
}

function keyBodyLines(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    // The bundle reports an unreadable key itself; nothing to search for.
    return [];
  }
  return text.split('\n').map((l) => l.trim()).filter((l) => l.length >= 40 && !l.startsWith('-----'));
}
