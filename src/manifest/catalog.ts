import { existsSync, readdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { homePaths } from '../state/paths.js';
import { ManifestError } from './errors.js';
import { manifestName, parseAgent, parseBottle, type AgentFile, type BottleFile } from './load.js';
import { mergeBottles, stripExtends, type MergedBottle } from './merge.js';

export interface CatalogSources {
  /** $BOT_BOTTLE_HOME */
  home: string;
  /** The directory the operator runs from; its `.bot-bottle/agents` may supply agents. */
  cwd: string;
  /** Host home, for `~` in identity/dockerfile paths. */
  userHome?: string;
}

export interface AgentEntry {
  name: string;
  file: string;
  origin: AgentFile['origin'];
}

export interface ResolvedBottle {
  /** The names folded together, outermost ancestor first, e.g. [claude, dev]. */
  chain: string[];
  files: string[];
  bottle: MergedBottle;
}

/**
 * Finds manifests where the trust boundary allows them: bottles only in the
 * operator's home, agents in home and in the repo. Files are parsed on demand
 * so one broken agent never hides the others.
 */
export class ManifestCatalog {
  readonly warnings: string[] = [];
  private readonly bottleCache = new Map<string, BottleFile>();
  private readonly resolvedCache = new Map<string, ResolvedBottle>();
  private readonly paths;
  private readonly repoAgentsDir: string;
  private readonly userHome: string;

  constructor(private readonly sources: CatalogSources) {
    this.paths = homePaths(sources.home);
    this.repoAgentsDir = join(sources.cwd, '.bot-bottle', 'agents');
    this.userHome = sources.userHome ?? homedir();
    const repoBottles = join(sources.cwd, '.bot-bottle', 'bottles');
    if (resolve(repoBottles) !== resolve(this.paths.bottlesDir) && isDir(repoBottles)) {
      this.warnings.push(
        `ignoring ${repoBottles}: repositories may ship agents, never bottles (bottles carry credentials and egress policy; keep them in ${this.paths.bottlesDir})`,
      );
    }
  }

  agents(): AgentEntry[] {
    const byName = new Map<string, AgentEntry>();
    for (const file of mdFiles(this.paths.agentsDir)) {
      byName.set(manifestName(file), { name: manifestName(file), file, origin: 'home' });
    }
    if (resolve(this.repoAgentsDir) !== resolve(this.paths.agentsDir)) {
      for (const file of mdFiles(this.repoAgentsDir)) {
        const name = manifestName(file);
        const existing = byName.get(name);
        if (existing) {
          this.warnings.push(`agent "${name}" in ${file} is shadowed by ${existing.file} (home agents win over repo agents)`);
          continue;
        }
        byName.set(name, { name, file, origin: 'repo' });
      }
    }
    return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  bottleNames(): string[] {
    return mdFiles(this.paths.bottlesDir).map(manifestName).sort();
  }

  loadAgent(name: string): AgentFile {
    const entry = this.agents().find((a) => a.name === name);
    if (!entry) {
      const names = this.agents().map((a) => a.name);
      throw new ManifestError(
        { file: join(this.paths.agentsDir, `${name}.md`) },
        `no agent named "${name}"`,
        names.length > 0 ? `available agents: ${names.join(', ')}` : `create one with \`bot-bottle init ${name}\``,
      );
    }
    return parseAgent(entry.file, entry.origin);
  }

  loadBottle(name: string): BottleFile {
    const cached = this.bottleCache.get(name);
    if (cached) return cached;
    const file = join(this.paths.bottlesDir, `${name}.md`);
    if (!existsSync(file)) {
      const names = this.bottleNames();
      throw new ManifestError(
        { file },
        `no bottle named "${name}"`,
        names.length > 0 ? `available bottles: ${names.join(', ')}` : `bottles live in ${this.paths.bottlesDir}; \`bot-bottle init --examples\` installs the examples`,
      );
    }
    const bottle = this.absolutizePaths(parseBottle(file));
    this.bottleCache.set(name, bottle);
    return bottle;
  }

  /** Follow `extends` to the root and fold the chain, parent first. */
  resolveBottle(name: string, seen: string[] = []): ResolvedBottle {
    const cached = this.resolvedCache.get(name);
    if (cached) return cached;
    if (seen.includes(name)) {
      const chain = [...seen, name].join(' -> ');
      const file = join(this.paths.bottlesDir, `${seen[seen.length - 1] ?? name}.md`);
      throw new ManifestError(
        { file, key: 'extends' },
        seen.length === 1 && seen[0] === name ? `bottle "${name}" extends itself` : `extends cycle: ${chain}`,
        'remove `extends` from one bottle in the cycle',
      );
    }
    const file = this.loadBottle(name);
    const parentName = file.frontmatter.extends;
    let resolved: ResolvedBottle;
    if (parentName === undefined) {
      resolved = { chain: [name], files: [file.file], bottle: stripExtends(file.frontmatter) };
    } else {
      let parent: ResolvedBottle;
      try {
        parent = this.resolveBottle(parentName, [...seen, name]);
      } catch (err) {
        if (err instanceof ManifestError && err.problem.startsWith(`no bottle named "${parentName}"`)) {
          throw new ManifestError(
            { file: file.file, key: 'extends' },
            `extends "${parentName}", which does not exist (chain: ${[...seen, name, parentName].join(' -> ')})`,
            err.hint,
          );
        }
        throw err;
      }
      resolved = {
        chain: [...parent.chain, name],
        files: [...parent.files, file.file],
        bottle: mergeBottles(parent.bottle, stripExtends(file.frontmatter)),
      };
    }
    this.resolvedCache.set(name, resolved);
    return resolved;
  }

  /** Several bottles chosen at launch fold in order under the same rules as `extends`. */
  resolveBottles(names: readonly string[]): ResolvedBottle {
    let acc: ResolvedBottle = { chain: [], files: [], bottle: {} };
    for (const name of names) {
      const next = this.resolveBottle(name);
      acc = { chain: [...acc.chain, ...next.chain], files: [...acc.files, ...next.files], bottle: mergeBottles(acc.bottle, next.bottle) };
    }
    return acc;
  }

  /** Identity and Dockerfile paths are relative to the bottle file; make them absolute once. */
  private absolutizePaths(bottle: BottleFile): BottleFile {
    const base = dirname(bottle.file);
    const fix = (p: string): string => {
      if (p === '~' || p.startsWith('~/')) return join(this.userHome, p.slice(1));
      return isAbsolute(p) ? p : resolve(base, p);
    };
    const fm = structuredClone(bottle.frontmatter);
    for (const repo of Object.values(fm['git-gate']?.repos ?? {})) repo.identity = fix(repo.identity);
    if (fm.agent_provider?.dockerfile) fm.agent_provider.dockerfile = fix(fm.agent_provider.dockerfile);
    return { ...bottle, frontmatter: fm };
  }
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function mdFiles(dir: string): string[] {
  if (!isDir(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.md') && !f.startsWith('.'))
    .map((f) => join(dir, f));
}
