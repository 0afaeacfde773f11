/**
 * Ref-level push policy: which refs the agent may touch and how. Pure, apart
 * from the fast-forward question, which the caller answers with git.
 */

export interface RefUpdate {
  old: string;
  new: string;
  ref: string;
}

const SHA_RE = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
const ZERO_RE = /^0+$/;

export function isZero(sha: string): boolean {
  return ZERO_RE.test(sha);
}

/** pre-receive stdin: `<old> <new> <ref>` per line. Anything else is refused (fail closed). */
export function parseRefUpdates(text: string): RefUpdate[] {
  const out: RefUpdate[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const [old, next, ref, extra] = line.trim().split(' ');
    if (!old || !next || !ref || extra !== undefined || !SHA_RE.test(old) || !SHA_RE.test(next) || !ref.startsWith('refs/')) {
      throw new Error(`malformed ref update line from git: ${JSON.stringify(line.slice(0, 200))}`);
    }
    out.push({ old, new: next, ref });
  }
  return out;
}

/**
 * `bot/*` means refs/heads/bot/*; a pattern starting with `refs/` is a full
 * ref pattern. `*` matches any run of characters (also `/`), as in refspecs.
 */
export function refMatches(ref: string, pattern: string): boolean {
  const full = pattern.startsWith('refs/') ? pattern : `refs/heads/${pattern}`;
  const re = new RegExp(`^${full.split('*').map(escapeRe).join('.*')}$`);
  return re.test(ref);
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export interface PolicyInput {
  branches?: readonly string[] | undefined;
  allowForcePush: boolean;
  allowDelete: boolean;
}

/** Returns one reason per refused update (empty: all allowed). `isFastForward` is asked only for updates of existing refs. */
export async function checkRefPolicy(
  updates: readonly RefUpdate[],
  policy: PolicyInput,
  isFastForward: (old: string, next: string) => Promise<boolean>,
): Promise<string[]> {
  const refusals: string[] = [];
  for (const u of updates) {
    if (policy.branches && !policy.branches.some((p) => refMatches(u.ref, p))) {
      refusals.push(`${u.ref}: this bottle may only push to ${policy.branches.join(', ')}`);
      continue;
    }
    if (isZero(u.new)) {
      if (!policy.allowDelete) refusals.push(`${u.ref}: deleting refs is not allowed through the gate`);
      continue;
    }
    if (!isZero(u.old) && !policy.allowForcePush && !(await isFastForward(u.old, u.new))) {
      refusals.push(`${u.ref}: non-fast-forward (force) pushes are not allowed through the gate; fetch, rebase or merge, and push again`);
    }
  }
  return refusals;
}
