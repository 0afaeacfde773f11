/**
 * The agent-side git config that sends every declared upstream through the
 * gate: `url.<gate>/<name>.git.insteadOf <upstream>`. Pure, so provisioning
 * can write it into the agent's ~/.gitconfig and tests can check it.
 */

export interface InsteadOfEntry {
  key: string;
  value: string;
}

/** `gateBaseUrl` as the agent reaches the gate, e.g. `http://git-gate:9418`. */
export function gitInsteadOfEntries(gateBaseUrl: string, repos: readonly { name: string; url: string }[]): InsteadOfEntry[] {
  const base = gateBaseUrl.replace(/\/+$/, '');
  const out: InsteadOfEntry[] = [];
  for (const repo of repos) {
    const key = `url.${base}/${repo.name}.git.insteadOf`;
    for (const value of upstreamSpellings(repo.url)) out.push({ key, value });
  }
  return out;
}

/**
 * The declared URL plus its other SSH spelling (scp-like ⇄ ssh://) when the
 * port is the default, so a clone typed either way still goes through the gate.
 * insteadOf is a prefix match, so only the exact repo URL is used (never a
 * shorter prefix that would also catch sibling repos).
 */
export function upstreamSpellings(url: string): string[] {
  const spellings = [url];
  const scp = /^([^@/:]+@)?([^:/[\]]+):(?!\/\/)(.+)$/.exec(url);
  if (scp && !url.startsWith('ssh://')) {
    const path = scp[3] ?? '';
    spellings.push(`ssh://${scp[1] ?? ''}${scp[2] ?? ''}/${path.replace(/^\//, '')}`);
  } else {
    const m = /^ssh:\/\/([^@/]+@)?([^:/[\]]+)(?::22)?\/(.+)$/.exec(url);
    if (m) spellings.push(`${m[1] ?? ''}${m[2] ?? ''}:${m[3] ?? ''}`);
  }
  return [...new Set(spellings)];
}

/** The same entries as `git config` lines, e.g. for a ~/.gitconfig include. */
export function renderGitConfig(entries: readonly InsteadOfEntry[]): string {
  const bySection = new Map<string, string[]>();
  for (const { key, value } of entries) {
    const m = /^url\.(.+)\.insteadOf$/.exec(key);
    if (!m?.[1]) continue;
    const list = bySection.get(m[1]) ?? [];
    list.push(value);
    bySection.set(m[1], list);
  }
  let text = '';
  for (const [base, values] of bySection) {
    text += `[url ${JSON.stringify(base)}]\n`;
    for (const v of values) text += `\tinsteadOf = ${JSON.stringify(v)}\n`;
  }
  return text;
}
