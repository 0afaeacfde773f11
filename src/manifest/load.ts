import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { ManifestError, formatKeyPath } from './errors.js';
import { locate, parseFrontmatter, type FrontmatterFile } from './frontmatter.js';
import { REMOVED_AGENT_KEYS, REMOVED_BOTTLE_KEYS, REMOVED_EGRESS_KEYS, REMOVED_ROUTE_KEYS } from './removed-keys.js';
import { AgentSchema, BottleSchema, type AgentFrontmatter, type BottleFrontmatter } from './schema.js';
import { validateFrontmatter } from './validate.js';

export interface BottleFile {
  name: string;
  file: string;
  frontmatter: BottleFrontmatter;
  /** Human documentation; never interpreted. */
  body: string;
}

export interface AgentFile {
  name: string;
  file: string;
  frontmatter: AgentFrontmatter;
  /** The system prompt. */
  body: string;
  origin: 'home' | 'repo';
}

export function manifestName(file: string): string {
  return basename(file).replace(/\.md$/, '');
}

export function readManifestText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ManifestError({ file }, `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

export function parseBottle(file: string, text: string = readManifestText(file)): BottleFile {
  const fm = parseFrontmatter(file, text);
  rejectRemovedKeys(fm, [], REMOVED_BOTTLE_KEYS);
  rejectRemovedKeys(fm, ['egress'], REMOVED_EGRESS_KEYS);
  const routes = fm.doc.getIn(['egress', 'routes']);
  const count = (routes as { items?: unknown[] } | undefined)?.items?.length ?? 0;
  for (let i = 0; i < count; i++) rejectRemovedKeys(fm, ['egress', 'routes', i], REMOVED_ROUTE_KEYS);
  const frontmatter = validateFrontmatter(fm, BottleSchema, 'bottle');
  return { name: manifestName(file), file, frontmatter, body: fm.body };
}

export function parseAgent(file: string, origin: AgentFile['origin'], text: string = readManifestText(file)): AgentFile {
  const fm = parseFrontmatter(file, text);
  rejectRemovedKeys(fm, [], REMOVED_AGENT_KEYS);
  for (const credentialKey of ['repos', 'remotes']) {
    if (fm.doc.hasIn(['git-gate', credentialKey])) {
      throw new ManifestError(
        { file, ...locate(fm, ['git-gate', credentialKey], true), key: `git-gate.${credentialKey}` },
        `agents cannot declare git-gate ${credentialKey}: they carry credentials and host trust`,
        'move the repos to a bottle in ~/.bot-bottle/bottles/ and keep only `git-gate.user` on the agent',
      );
    }
  }
  const frontmatter = validateFrontmatter(fm, AgentSchema, 'agent');
  return { name: manifestName(file), file, frontmatter, body: fm.body, origin };
}

function rejectRemovedKeys(fm: FrontmatterFile, at: PropertyKey[], removed: Record<string, string>): void {
  for (const [key, hint] of Object.entries(removed)) {
    const path = [...at, key];
    if (fm.doc.hasIn(path)) {
      throw new ManifestError(
        { file: fm.file, ...locate(fm, path, true), key: formatKeyPath(path) },
        `"${key}" is no longer supported`,
        hint,
      );
    }
  }
}
