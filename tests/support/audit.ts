import { existsSync, readFileSync } from 'node:fs';

/**
 * A bottle's egress audit lines, without the launch's own containment probe
 * (it asks for an unrouted `bb-containment-*` host before the agent starts).
 */
export function agentAudit(file: string): Array<Record<string, unknown>> {
  if (!existsSync(file)) return [];
  const lines = readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  return lines.filter((e) => !/^bb-containment-[0-9a-f]+\./.test(String(e.host)));
}
