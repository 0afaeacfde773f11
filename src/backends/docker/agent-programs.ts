import { execa } from 'execa';
import { accessSync, closeSync, constants, existsSync, openSync, readSync, realpathSync, statSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { DockerError } from './cli.js';

/**
 * The agent programs baked into the claude and codex images, pinned: an
 * image is one known version, and a bottle never updates its own agent. The
 * program is copied in from a host install of exactly that version, so the
 * images build without a registry (here and in CI).
 */
export const PINNED_PROGRAMS = {
  claude: { command: 'claude', npmPackage: '@anthropic-ai/claude-code', version: '2.1.332', buildArg: 'CLAUDE_CODE_VERSION', versionOutput: (v: string) => `${v} (Claude Code)` },
  codex: { command: 'codex', npmPackage: '@openai/codex', version: '0.171.0', buildArg: 'CODEX_VERSION', versionOutput: (v: string) => `codex-cli ${v}` },
} as const;

export type PinnedTemplate = keyof typeof PINNED_PROGRAMS;

/** What goes into the build context's `program/` folder. */
export interface HostProgram {
  template: PinnedTemplate;
  version: string;
  /** A file (claude: `program/claude`) or a folder copied as `program/` (codex). */
  source: { kind: 'file'; path: string; as: string } | { kind: 'folder'; path: string };
  /** Changes when the install does (a reinstall of the same version too): part of the image fingerprint, cheap to compute. */
  identity: string;
}

const CODEX_TRIPLE: Partial<Record<string, string>> = { x64: 'x86_64-unknown-linux-musl', arm64: 'aarch64-unknown-linux-musl' };

function onPathAt(command: string, pathVar: string | undefined): string | undefined {
  for (const dir of (pathVar ?? '').split(delimiter)) {
    if (dir.length === 0) continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return realpathSync(candidate);
    } catch {
      // Not in this folder.
    }
  }
  return undefined;
}

function isElf(path: string): boolean {
  const fd = openSync(path, constants.O_RDONLY);
  try {
    const head = Buffer.alloc(4);
    return readSync(fd, head, 0, 4, 0) === 4 && head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  } finally {
    closeSync(fd);
  }
}

/**
 * Find the host's install of the pinned program. The images hold a Linux
 * binary, so only a native one counts (Claude Code's `claude.exe`, Codex's
 * musl binary behind its Node launcher), and it must print the pinned version.
 */
export async function locateHostProgram(template: PinnedTemplate, pathVar: string | undefined = process.env.PATH): Promise<HostProgram> {
  const pin = PINNED_PROGRAMS[template];
  const install = `npm install -g ${pin.npmPackage}@${pin.version}`;
  const fix = `install it on the host (${install}) or give the bottle its own agent_provider.dockerfile`;
  const found = onPathAt(pin.command, pathVar);
  if (found === undefined) throw new DockerError(`the docker backend's ${template} image copies ${pin.npmPackage}@${pin.version} from a host install, but "${pin.command}" is not on PATH: ${fix}`);
  let binary: string;
  let source: HostProgram['source'];
  if (isElf(found)) {
    binary = found;
    source = template === 'claude' ? { kind: 'file', path: found, as: 'claude' } : { kind: 'file', path: found, as: 'bin/codex' };
  } else if (template === 'codex') {
    // npm's layout: <package>/bin/codex.js picks <package>/node_modules/@openai/codex-linux-<arch>/vendor/<triple>/.
    const triple = CODEX_TRIPLE[process.arch];
    const root = dirname(dirname(found));
    const vendor = [join(root, 'node_modules', '@openai', `codex-linux-${process.arch}`, 'vendor', triple ?? '-'), join(root, 'vendor', triple ?? '-')].find((dir) =>
      existsSync(join(dir, 'bin', 'codex')),
    );
    if (triple === undefined || vendor === undefined) throw new DockerError(`${found} is not a Codex install with a native Linux binary for ${process.arch}: ${fix}`);
    binary = join(vendor, 'bin', 'codex');
    source = { kind: 'folder', path: vendor };
  } else {
    throw new DockerError(`${found} is not a native Claude Code binary (older Claude Code releases were a Node script): ${fix}`);
  }
  const version = await execa(binary, ['--version'], { reject: false, stdin: 'ignore', timeout: 20_000, extendEnv: false, env: { PATH: '/usr/bin:/bin', HOME: '/nonexistent' } });
  const said = version.stdout.trim();
  if (said !== pin.versionOutput(pin.version)) {
    throw new DockerError(`the docker backend's ${template} image pins ${pin.npmPackage}@${pin.version}, but the host's ${binary} says "${said.slice(0, 80) || version.shortMessage}": ${fix}`);
  }
  const stats = statSync(binary);
  return { template, version: pin.version, source, identity: `${pin.npmPackage}@${pin.version} ${binary} ${stats.size} ${stats.mtimeMs} ${stats.ino}` };
}
