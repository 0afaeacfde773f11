import { readdirSync, realpathSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { homePaths } from '../state/paths.js';
import { ManifestError } from './errors.js';
import { manifestName, parseAgent, parseBottle, readManifestText, type AgentFile, type BottleFile } from './load.js';
import { mergeBottles, stripExtends, type MergedBottle } from './merge.js';
import { nameProblem } from './names.js';
import { containedPath, isInside } from './roots.js';

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
  /** `file` with symlinks resolved, checked to be inside its agents folder; this is what is read. */
  real: string;
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
  private readonly repoAgentsDir: string | undefined;
  private readonly userHome: string;

  constructor(private readonly sources: CatalogSources) {
    this.paths = homePaths(sources.home);
    this.repoAgentsDir = this.repoAgentsFolder(join(sources.cwd, '.bot-bottle', 'agents'));
    this.userHome = sources.userHome ?? homedir();
    const repoBottles = join(sources.cwd, '.bot-bottle', 'bottles');
    if (resolve(repoBottles) !== resolve(this.paths.bottlesDir) && isDir(repoBottles)) {
      this.warn(
        `ignoring ${repoBottles}: repositories may ship agents, never bottles (bottles carry credentials and egress policy; keep them in ${this.paths.bottlesDir})`,
      );
    }
  }

  agents(): AgentEntry[] {
    const byName = new Map<string, AgentEntry>();
    for (const entry of this.usableFiles(this.paths.agentsDir, 'agent')) byName.set(entry.name, { ...entry, origin: 'home' });
    if (this.repoAgentsDir !== undefined && resolve(this.repoAgentsDir) !== resolve(this.paths.agentsDir)) {
      for (const entry of this.usableFiles(this.repoAgentsDir, 'agent')) {
        const existing = byName.get(entry.name);
        if (existing) {
          this.warn(`agent "${entry.name}" in ${entry.file} is shadowed by ${existing.file} (home agents win over repo agents)`);
          continue;
        }
        byName.set(entry.name, { ...entry, origin: 'repo' });
      }
    }
    return [...byName.values()].sort((a, b) => byNameOrder(a.name, b.name));
  }

  bottleNames(): string[] {
    return this.usableFiles(this.paths.bottlesDir, 'bottle')
      .map((e) => e.name)
      .sort();
  }

  loadAgent(name: string): AgentFile {
    this.assertName(name, 'agent', this.paths.agentsDir);
    const entry = this.agents().find((a) => a.name === name);
    if (!entry) {
      const names = this.agents().map((a) => a.name);
      throw new ManifestError(
        { file: join(this.paths.agentsDir, `${name}.md`) },
        `no agent named "${name}"`,
        names.length > 0 ? `available agents: ${names.join(', ')}` : `create one with \`bot-bottle init ${name}\``,
      );
    }
    return parseAgent(entry.file, entry.origin, readManifestText(entry.real));
  }

  loadBottle(name: string): BottleFile {
    const cached = this.bottleCache.get(name);
    if (cached) return cached;
    this.assertName(name, 'bottle', this.paths.bottlesDir);
    const file = join(this.paths.bottlesDir, `${name}.md`);
    const found = containedPath(file, this.paths.bottlesDir);
    if (!found.ok && found.reason === 'outside') {
      throw new ManifestError(
        { file },
        `resolves to ${found.real}, outside ${this.paths.bottlesDir}: bottles are read only from that folder`,
        'move the bottle file into the folder (a symlinked bottles folder is fine; a symlinked file is not)',
      );
    }
    if (!found.ok) {
      const names = this.bottleNames();
      throw new ManifestError(
        { file },
        `no bottle named "${name}"`,
        names.length > 0 ? `available bottles: ${names.join(', ')}` : `bottles live in ${this.paths.bottlesDir}; \`bot-bottle init --examples\` installs the examples`,
      );
    }
    const bottle = this.absolutizePaths(parseBottle(file, readManifestText(found.real)));
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

  /** The catalog is listed again by every lookup: say each thing once. */
  private warn(message: string): void {
    if (!this.warnings.includes(message)) this.warnings.push(message);
  }

  /** Names arrive checked (schema, CLI flags); checked again here, where they become file names. */
  private assertName(name: string, what: 'agent' | 'bottle', dir: string): void {
    const problem = nameProblem(name, what);
    if (problem) throw new ManifestError({ file: dir }, problem, `${what}s are chosen by the name of their file in ${dir}, without ".md"`);
  }

  /**
   * A repository's agents folder counts only when it really is inside the
   * repository: `.bot-bottle` linked to another folder would let a repository
   * name host files as its agents.
   */
  private repoAgentsFolder(dir: string): string | undefined {
    if (!isDir(dir)) return undefined;
    let realCwd: string;
    let realDir: string;
    try {
      realCwd = realpathSync(this.sources.cwd);
      realDir = realpathSync(dir);
    } catch {
      return undefined;
    }
    if (!isInside(realDir, realCwd)) {
      this.warn(`ignoring ${dir}: it resolves to ${realDir}, outside the repository ${realCwd}`);
      return undefined;
    }
    return dir;
  }

  /** `.md` files in `dir` whose name is a name and whose real path stays inside `dir`; the others are skipped with a warning. */
  private usableFiles(dir: string, what: 'agent' | 'bottle'): { name: string; file: string; real: string }[] {
    const out: { name: string; file: string; real: string }[] = [];
    for (const file of mdFiles(dir)) {
      const name = manifestName(file);
      const problem = nameProblem(name, `${what} file name`);
      if (problem) {
        this.warn(`ignoring a file in ${dir}: ${problem}`);
        continue;
      }
      const found = containedPath(file, dir);
      if (!found.ok) {
        this.warn(
          found.reason === 'outside' ? `ignoring ${file}: it resolves to ${found.real}, outside ${found.realRoot}` : `ignoring ${file}: it cannot be read (dangling link?)`,
        );
        continue;
      }
      out.push({ name, file, real: found.real });
    }
    return out;
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

/**
 * Names are ASCII (NAME_PATTERN): compared case-blind, then exactly, without
 * `localeCompare`, whose first call loads ICU's collator (~6 ms of every launch).
 */
function byNameOrder(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  return x < y ? -1 : x > y ? 1 : a < b ? -1 : a > b ? 1 : 0;
}
