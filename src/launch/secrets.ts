import { readFileSync } from 'node:fs';
import type { LaunchSecrets } from './boundary.js';
import { LaunchError } from './errors.js';
import { controlProblem, type TextKind } from '../manifest/control-chars.js';
import type { BottlePlan, TokenSource } from '../plan/types.js';

export interface SecretSources {
  hostEnv: Readonly<Record<string, string | undefined>>;
  /** Asks the operator for a `?` entry; absent when there is no terminal. */
  prompt?: (question: string) => Promise<string>;
  now?: () => number;
}

/**
 * Turn the plan's "where secrets come from" into values, at the last moment.
 * Errors name the variable or file, never a value.
 */
export async function resolveSecrets(plan: BottlePlan, sources: SecretSources): Promise<LaunchSecrets> {
  const agentEnv: Record<string, string> = {};
  for (const entry of plan.env) {
    if (entry.kind === 'host') {
      const value = sources.hostEnv[entry.hostVar];
      if (value === undefined) throw new LaunchError(`env ${entry.name}: host variable ${entry.hostVar} is not set`);
      // Multi-line values (a PEM key) are fine in an environment; a NUL would split the sandbox's arguments.
      agentEnv[entry.name] = checkedSecret(value, 'nul', `env ${entry.name}: the value of host variable ${entry.hostVar}`);
    } else if (entry.kind === 'prompt') {
      if (!sources.prompt) throw new LaunchError(`env ${entry.name} must be typed in at launch ("${entry.prompt}"), but there is no terminal`);
      const value = await sources.prompt(`${entry.prompt}: `);
      if (value.length === 0) throw new LaunchError(`env ${entry.name}: no value given`);
      agentEnv[entry.name] = checkedSecret(value, 'line', `env ${entry.name}: the value typed in`);
    }
  }
  const sidecarEnv: Record<string, string> = {};
  for (const token of plan.sidecars.egress.tokens) {
    // A token becomes one header value: a single line.
    sidecarEnv[token.slot] = checkedSecret(tokenValue(token, sources), 'line', `the token egress injects as ${token.slot} (${token.from.kind === 'env' ? `host variable ${token.from.name}` : token.from.path})`);
  }
  return { agentEnv, sidecarEnv };
}

/** Refuse control characters in a secret, naming where it came from and never the value. */
function checkedSecret(value: string, kind: TextKind | 'nul', what: string): string {
  const nul = value.indexOf('\0');
  const problem = kind !== 'nul' ? controlProblem(value, kind) : nul >= 0 ? `contains the control character NUL (U+0000) at character ${nul + 1}` : undefined;
  if (problem) throw new LaunchError(`${what} ${problem}; refusing to pass it on`);
  return value;
}

function tokenValue(token: TokenSource, sources: SecretSources): string {
  if (token.from.kind === 'env') {
    const value = sources.hostEnv[token.from.name];
    if (!value) throw new LaunchError(`host variable ${token.from.name} (the token egress injects as ${token.slot}) is not set`);
    return value;
  }
  return codexAccessToken(token.from.path, sources.now?.() ?? Date.now());
}

interface CodexAuth {
  OPENAI_API_KEY?: string | null;
  tokens?: { access_token?: string; id_token?: string; refresh_token?: string; account_id?: string } | null;
}

/** The host's Codex login, for egress only: an API key, or an unexpired ChatGPT access token. */
export function codexAccessToken(path: string, now: number): string {
  let auth: CodexAuth;
  try {
    auth = JSON.parse(readFileSync(path, 'utf8')) as CodexAuth;
  } catch (err) {
    throw new LaunchError(`cannot read Codex credentials ${path} (${(err as NodeJS.ErrnoException).code ?? 'invalid JSON'}): run \`codex login\` on the host`);
  }
  const access = auth.tokens?.access_token;
  if (access) {
    const exp = jwtExpiry(access);
    if (exp !== undefined && exp * 1000 <= now) throw new LaunchError(`the Codex access token in ${path} has expired: run \`codex\` on the host once to refresh it`);
    return access;
  }
  if (auth.OPENAI_API_KEY) return auth.OPENAI_API_KEY;
  throw new LaunchError(`${path} holds no access token or API key: run \`codex login\` on the host`);
}

function jwtExpiry(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    const exp = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp : undefined;
  } catch {
    return undefined;
  }
}
