import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import type { ProviderTemplate } from '../../manifest/schema.js';
import type { ImagePlan } from '../../plan/types.js';
import { packageRoot } from '../../util/package-root.js';
import { assertPlainFile } from '../../util/safe-fs.js';
import { locateHostProgram, PINNED_PROGRAMS } from './agent-programs.js';
import { stageFile, stageTree } from './build-context.js';
import { docker, DockerError, dockerStreaming, isNoSuchObject } from './cli.js';
import { engineFailure, engineRequest, engineSocket } from './engine.js';

/**
 * The docker backend's images, built on first use and found again by a
 * fingerprint of everything that goes into them (Dockerfile, base image,
 * build arguments, the staged program), so a warm start costs two
 * `docker image inspect` calls and a changed input builds a new image while
 * the engine's layer cache keeps every layer that did not change.
 */

/** The normal, online base. Without a registry, build bot-bottle/base:bookworm with scripts/build-offline-base-image.sh. */
export const DEFAULT_BASE_IMAGE = 'debian:bookworm-slim';
export const OFFLINE_BASE_IMAGE = 'bot-bottle/base:bookworm';
/** A bottle's own Dockerfile in its state folder (what a supervised capability request proposes); it wins over everything. */
export const OVERRIDE_DOCKERFILE = 'Dockerfile';

const IMAGE_REF = /^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$/;

export interface ImageOptions {
  /** Where BOT_BOTTLE_DOCKER_BASE_IMAGE is read (default: this process's environment). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Build progress (docker's own output); default stderr, so a headless agent's stdout stays clean. */
  output?: Writable;
  /** `none` builds without any network (the offline base needs none; tests prove it). */
  buildNetwork?: 'none';
  /** Where host programs are looked up (default PATH). */
  pathVar?: string;
}

export interface Image {
  /** The engine's image id (sha256:...). */
  id: string;
  ref: string;
  built: boolean;
}

export function baseImage(env: Readonly<Record<string, string | undefined>> = process.env): string {
  const value = env.BOT_BOTTLE_DOCKER_BASE_IMAGE;
  if (value === undefined || value === '') return DEFAULT_BASE_IMAGE;
  if (!IMAGE_REF.test(value)) {
    throw new DockerError(
      `BOT_BOTTLE_DOCKER_BASE_IMAGE="${value.replace(/[^\x20-\x7e]/g, '?').slice(0, 80)}" is not an image reference: use ${DEFAULT_BASE_IMAGE} (the default) or ${OFFLINE_BASE_IMAGE} from scripts/build-offline-base-image.sh`,
    );
  }
  return value;
}

export type AgentImageSource =
  | { kind: 'override'; dockerfile: string }
  | { kind: 'dockerfile'; dockerfile: string }
  | { kind: 'provider'; template: ProviderTemplate };

/**
 * The Dockerfile cascade: the bottle's override in its state folder, then
 * `agent_provider.dockerfile`, then the provider's default image. The state
 * folder is hostile input, so the override counts only as a regular file
 * reached without links; anything else there is an error, not a fallback.
 */
export function agentImageSource(plan: { stateDir: string; provider: { template: ProviderTemplate; image: ImagePlan } }): AgentImageSource {
  const override = join(plan.stateDir, OVERRIDE_DOCKERFILE);
  let present = true;
  try {
    statSync(override);
  } catch {
    present = false;
  }
  if (present) {
    try {
      assertPlainFile(plan.stateDir, override);
    } catch (error) {
      throw new DockerError(`the bottle's Dockerfile override: ${error instanceof Error ? error.message : String(error)}`);
    }
    return { kind: 'override', dockerfile: override };
  }
  if (plan.provider.image.kind === 'dockerfile') return { kind: 'dockerfile', dockerfile: plan.provider.image.path };
  return { kind: 'provider', template: plan.provider.template };
}

/** The agent image for a source from the cascade, built if needed. */
export async function ensureAgentImage(source: AgentImageSource, opts: ImageOptions = {}): Promise<Image> {
  switch (source.kind) {
    case 'provider':
      return ensureProviderImage(source.template, opts);
    case 'dockerfile':
      return buildCustomImage(source.dockerfile, dirname(source.dockerfile), opts);
    case 'override':
      // Only the Dockerfile goes to the engine: an override cannot pull files from the state folder (or anywhere) into the image.
      return buildCustomImage(source.dockerfile, undefined, opts);
  }
}

interface Recipe {
  repo: string;
  dockerfile: string;
  buildArgs: Record<string, string>;
  /** What else decides the image's content, beyond the Dockerfile and the base. */
  identity: string[];
  stage: (context: string) => void;
}

function ourDockerfile(name: string): string {
  return join(packageRoot(), 'docker', name);
}

async function ensureProviderImage(template: ProviderTemplate, opts: ImageOptions): Promise<Image> {
  if (template === 'shell') {
    return ensureRecipe({ repo: 'bot-bottle-agent-shell', dockerfile: ourDockerfile('agent-shell.Dockerfile'), buildArgs: {}, identity: [], stage: () => undefined }, opts);
  }
  const program = await locateHostProgram(template, opts.pathVar);
  return ensureRecipe(
    {
      repo: `bot-bottle-agent-${template}`,
      dockerfile: ourDockerfile(`agent-${template}.Dockerfile`),
      buildArgs: { [PINNED_PROGRAMS[template].buildArg]: program.version },
      identity: [program.identity],
      stage: (context) => {
        if (program.source.kind === 'file') stageFile(program.source.path, join(context, 'program', program.source.as));
        else stageTree(program.source.path, join(context, 'program'));
      },
    },
    opts,
  );
}

/**
 * The sidecar bundle image: the host's own Node (the one running bot-bottle,
 * so its version is one we support) and the built bundle. Node is copied in
 * rather than bound at run time so the image stands alone (another engine,
 * `docker commit`); the Dockerfile fails the build if it does not run there.
 */
export async function ensureSidecarsImage(opts: ImageOptions = {}): Promise<Image> {
  if (process.platform !== 'linux') throw new DockerError(`the sidecars image copies this machine's Node binary, which is a ${process.platform} program, not a Linux one`);
  const dist = join(packageRoot(), 'dist');
  const entry = join(dist, 'sidecars.js');
  // The entry, the program and its code caches (util/cached-program.ts): the image's node is this one, and
  // the bundle runs with the same flags, so the cache the build trained here is the one it can use.
  let files: string[];
  try {
    files = [entry, join(dist, 'sidecars.cjs'), ...readdirSync(dist).filter((name) => /^sidecars\.cjs\.[0-9a-f]{8}\.v8$/.test(name)).sort().map((name) => join(dist, name))];
    for (const file of files) statSync(file);
  } catch {
    throw new DockerError(`${entry} or ${join(dist, 'sidecars.cjs')} is missing: run \`npm run build\` first`);
  }
  const app = createHash('sha256');
  for (const file of files) app.update(basename(file)).update('\0').update(readFileSync(file)).update('\0');
  const node = statSync(process.execPath);
  return ensureRecipe(
    {
      repo: 'bot-bottle-sidecars',
      dockerfile: ourDockerfile('sidecars.Dockerfile'),
      buildArgs: {},
      identity: [`node ${process.version} ${process.execPath} ${node.size} ${node.mtimeMs} ${node.ino}`, `app ${app.digest('hex')}`],
      stage: (context) => {
        stageFile(process.execPath, join(context, 'node'));
        for (const file of files) stageFile(file, join(context, 'app', basename(file)));
      },
    },
    opts,
  );
}

/** Where the bundle lives inside the sidecars image. */
export const SIDECARS_ENTRY_IN_IMAGE = '/opt/bot-bottle/sidecars.js';
export const NODE_IN_IMAGE = '/usr/local/bin/node';

async function ensureRecipe(recipe: Recipe, opts: ImageOptions): Promise<Image> {
  const output = opts.output ?? process.stderr;
  const base = baseImage(opts.env);
  const baseId = await ensureBaseImage(base, output);
  const fingerprint = createHash('sha256')
    .update(JSON.stringify({ dockerfile: readFileSync(recipe.dockerfile, 'utf8'), base, baseId, buildArgs: recipe.buildArgs, identity: recipe.identity }))
    .digest('hex')
    .slice(0, 16);
  const ref = `${recipe.repo}:${fingerprint}`;
  const existing = await imageId(ref);
  if (existing !== undefined) return { id: existing, ref, built: false };
  output.write(`bot-bottle: building ${recipe.repo} on ${base} (first use of this version; later starts reuse it)\n`);
  const context = mkdtempSync(join(tmpdir(), 'bot-bottle-build-'));
  try {
    copyFileSync(recipe.dockerfile, join(context, 'Dockerfile'));
    recipe.stage(context);
    await build({ context, dockerfile: join(context, 'Dockerfile'), tags: [ref, `${recipe.repo}:latest`], buildArgs: { BASE_IMAGE: base, ...recipe.buildArgs }, repo: recipe.repo, opts, output });
  } finally {
    rmSync(context, { recursive: true, force: true });
  }
  const id = await imageId(ref);
  if (id === undefined) throw new DockerError(`docker build reported success but ${ref} does not exist`);
  return { id, ref, built: true };
}

/**
 * A Dockerfile we did not write is built every time (the engine's layer
 * cache makes an unchanged one quick): its context can change in ways we
 * cannot fingerprint without reading all of it.
 */
async function buildCustomImage(dockerfile: string, contextDir: string | undefined, opts: ImageOptions): Promise<Image> {
  const output = opts.output ?? process.stderr;
  let isFile = false;
  try {
    isFile = statSync(dockerfile).isFile();
  } catch {
    // Reported below.
  }
  if (!isFile) throw new DockerError(`${dockerfile} (the bottle's agent Dockerfile) is not a readable file`);
  const ref = `bot-bottle-agent-custom:${createHash('sha256').update(dockerfile).digest('hex').slice(0, 16)}`;
  output.write(`bot-bottle: building ${dockerfile} (cached layers are reused)\n`);
  const staged = contextDir === undefined ? mkdtempSync(join(tmpdir(), 'bot-bottle-build-')) : undefined;
  try {
    if (staged !== undefined) copyFileSync(dockerfile, join(staged, 'Dockerfile'));
    const context = staged ?? contextDir ?? dirname(dockerfile);
    await build({
      context,
      dockerfile: staged !== undefined ? join(staged, 'Dockerfile') : dockerfile,
      tags: [ref],
      buildArgs: { BASE_IMAGE: baseImage(opts.env) },
      repo: 'bot-bottle-agent-custom',
      opts,
      output,
    });
  } finally {
    if (staged !== undefined) rmSync(staged, { recursive: true, force: true });
  }
  const id = await imageId(ref);
  if (id === undefined) throw new DockerError(`docker build reported success but ${ref} does not exist`);
  return { id, ref, built: true };
}

async function build(b: { context: string; dockerfile: string; tags: string[]; buildArgs: Record<string, string>; repo: string; opts: ImageOptions; output: Writable }): Promise<void> {
  const args = ['build', '--force-rm', '--file', b.dockerfile, '--label', `bot-bottle.image=${b.repo}`];
  for (const tag of b.tags) args.push('--tag', tag);
  for (const [name, value] of Object.entries(b.buildArgs)) args.push('--build-arg', `${name}=${value}`);
  if (b.opts.buildNetwork === 'none') args.push('--network', 'none');
  args.push(b.context);
  await dockerStreaming(args, b.output);
}

/** The base image's id, pulled first (with progress) when the engine does not have it. */
async function ensureBaseImage(base: string, output: Writable): Promise<string> {
  const present = await imageId(base);
  if (present !== undefined) return present;
  if (base === OFFLINE_BASE_IMAGE) throw new DockerError(`the base image ${base} does not exist: build it with scripts/build-offline-base-image.sh, or unset BOT_BOTTLE_DOCKER_BASE_IMAGE to use ${DEFAULT_BASE_IMAGE}`);
  output.write(`bot-bottle: pulling the base image ${base}\n`);
  await dockerStreaming(['pull', base], output);
  const pulled = await imageId(base);
  if (pulled === undefined) throw new DockerError(`docker pull ${base} reported success but the image does not exist`);
  return pulled;
}

export async function imageId(ref: string): Promise<string | undefined> {
  const socket = engineSocket();
  if (socket !== undefined) {
    if (!IMAGE_REF.test(ref)) throw new DockerError(`"${ref.replace(/[^\x20-\x7e]/g, '?').slice(0, 80)}" is not an image reference`);
    const reply = await engineRequest(socket, 'GET', `/images/${ref}/json`, `docker image inspect ${ref}`);
    if (reply.status === 404) return undefined;
    const id = (reply.body as { Id?: unknown } | undefined)?.Id;
    if (reply.status !== 200) throw engineFailure(`docker image inspect ${ref}`, reply);
    if (typeof id !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(id)) throw new DockerError(`docker image inspect ${ref}: the engine answered without an image id`);
    return id;
  }
  try {
    return await docker(['image', 'inspect', '--format', '{{.Id}}', ref]);
  } catch (error) {
    if (isNoSuchObject(error)) return undefined;
    throw error;
  }
}
