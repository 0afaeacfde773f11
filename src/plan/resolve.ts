import { existsSync, statSync } from 'node:fs';
import { preconnectTargets } from '../routes/preconnect.js';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { ManifestCatalog } from '../manifest/catalog.js';
import { classifyEnv } from '../manifest/env.js';
import { ManifestError } from '../manifest/errors.js';
import { mergeGitUser } from '../manifest/merge.js';
import { resolveSkill } from '../manifest/roots.js';
import { bottleStatePaths } from '../state/paths.js';
import { providerContribution, providerImage, providerTemplate } from './providers.js';
import { draftFromManifest, finalizeRoutes } from './routes.js';
import { defaultColor } from './slug.js';
import { GUEST_HOME } from './guest-layout.js';
import type { AnsiColor, BackendName, BottlePlan, PlanEnvEntry, PlanWarning, Provenanced } from './types.js';
import { blocking, notice } from './warnings.js';

export interface PlanRequest {
  agent: string;
  /** --bottle flags in order; when empty the agent's `bottle:` is used. */
  bottles: readonly string[];
  backend: BackendName;
  backendReason: string;
  slug: string;
  label?: string | undefined;
  color?: AnsiColor | undefined;
  cwd: string;
  copyCwd: boolean;
  mode: BottlePlan['mode'];
  home: string;
  /** Read only to warn about unset variables; values never enter the plan. */
  hostEnv: Readonly<Record<string, string | undefined>>;
  userHome?: string;
  /** `resume`: the agent continues its last conversation (claude --continue, codex resume --last), or `session` when given. */
  resume?: boolean;
  session?: string | undefined;
  /** False with --no-containment-check (default true). */
  containmentCheck?: boolean;
  /** docker `resume`: the bottle's committed agent image (its metadata's `snapshot`). */
  snapshot?: { image: string; id: string; committedAt: string } | undefined;
  /** `--rm`: delete the bottle's state when it stops. */
  removeAtExit?: boolean;
}

export const GUEST_WORKSPACE = '/workspace';

/**
 * Manifests + flags → BottlePlan. Reads manifest files and looks at the
 * host environment, but creates nothing: this is what --dry-run prints.
 */
export function resolvePlan(catalog: ManifestCatalog, req: PlanRequest): BottlePlan {
  const userHome = req.userHome ?? homedir();
  const agent = catalog.loadAgent(req.agent);
  const bottleNames = req.bottles.length > 0 ? [...req.bottles] : agent.frontmatter.bottle ? [agent.frontmatter.bottle] : [];
  if (bottleNames.length === 0) {
    const available = catalog.bottleNames();
    throw new ManifestError(
      { file: agent.file, key: 'bottle' },
      `agent "${agent.name}" names no bottle and no --bottle was given`,
      available.length > 0 ? `pass --bottle NAME (available: ${available.join(', ')}) or add \`bottle: NAME\` to the agent` : 'create a bottle in ~/.bot-bottle/bottles/ first (`bot-bottle init --examples`)',
    );
  }
  const resolved = catalog.resolveBottles(bottleNames);
  const bottle = resolved.bottle;
  const warnings: PlanWarning[] = catalog.warnings.map((m) => notice('manifest', m));

  const provider = providerContribution(bottle, req.mode, userHome, {
    model: agent.frontmatter.model,
    resume: req.resume === true,
    session: req.session,
    agentHome: bottleStatePaths(req.slug, req.home).agentHome,
  });
  warnings.push(...provider.warnings);
  const { routes, tokens, merged } = finalizeRoutes((bottle.egress?.routes ?? []).map(draftFromManifest), provider.routes);
  for (const m of merged.filter((x) => x.ignoredAuth)) {
    warnings.push(notice('route-auth-ignored', `manifest route for ${m.host}: auth is ignored, the ${providerTemplate(bottle)} provider injects its own credential (the route's other keys apply)`));
  }
  for (const token of tokens) {
    if (token.from.kind === 'env' && !req.hostEnv[token.from.name]) {
      warnings.push(blocking('token-unset', `host variable ${token.from.name} (token for ${token.slot}) is not set`));
    }
    if (token.from.kind === 'codex-auth-file' && !existsSync(token.from.path)) {
      warnings.push(notice('codex-login-missing', `${token.from.path} does not exist: log in with codex on the host first`));
    }
  }

  const env: PlanEnvEntry[] = [...(provider.env ?? [])];
  for (const [name, raw] of Object.entries(bottle.env ?? {})) {
    const entry = classifyEnv(name, raw);
    if (entry.kind === 'literal') env.push({ ...entry, secret: false });
    else if (entry.kind === 'prompt') env.push({ ...entry, secret: true });
    else {
      env.push({ ...entry, secret: true });
      if (req.hostEnv[entry.hostVar] === undefined) warnings.push(blocking('env-unset', `env ${name}: host variable ${entry.hostVar} is not set`));
    }
  }
  for (const placeholder of provider.placeholders) {
    const index = env.findIndex((e) => e.name === placeholder.name);
    if (index >= 0) env.splice(index, 1);
    env.push(placeholder);
  }

  const skills = agent.frontmatter.skills ?? [];
  for (const skill of skills) {
    const found = resolveSkill(userHome, skill);
    if ('problem' in found) warnings.push(blocking('skill-missing', found.problem));
  }

  const repos = Object.entries(bottle['git-gate']?.repos ?? {}).map(([name, repo]) => {
    if (!existsSync(repo.identity)) warnings.push(blocking('git-identity', `git-gate repo ${name}: identity ${repo.identity} does not exist`));
    // A key is a file: a folder, FIFO or device (a path like /dev/stdin) would hang or fail inside the gate.
    else if (!statSync(repo.identity).isFile()) warnings.push(blocking('git-identity', `git-gate repo ${name}: identity ${repo.identity} is not a regular file`));
    return { name, url: repo.url, identityFile: repo.identity, hostKey: repo.host_key, branches: repo.branches ?? [] };
  });

  const state = bottleStatePaths(req.slug, req.home);
  return {
    version: 1,
    slug: req.slug,
    label: req.label ?? req.slug,
    color: req.color ?? defaultColor(req.slug),
    backend: req.backend,
    backendReason: req.backendReason,
    agent: { name: agent.name, file: agent.file, origin: agent.origin, systemPrompt: agent.body, skills },
    bottles: { names: bottleNames, chain: resolved.chain, files: resolved.files },
    provider: {
      template: providerTemplate(bottle),
      image: providerImage(bottle, provider.program, req.backend),
      command: provider.command,
      ...(provider.persist && provider.persist.length > 0
        ? { persist: provider.persist.map((dir) => ({ hostPath: join(state.agentHome, dir), guestPath: `${GUEST_HOME}/${dir}` })) }
        : {}),
      ...(req.snapshot !== undefined && req.backend === 'docker' ? { snapshot: { image: req.snapshot.image, id: req.snapshot.id, committedAt: req.snapshot.committedAt } } : {}),
    },
    mode: req.mode,
    env,
    workspace: {
      mode: req.copyCwd ? 'copy' : 'empty',
      ...(req.copyCwd ? { source: req.cwd, skip: 'gitignored' as const } : {}),
      hostPath: state.workspace,
      guestPath: GUEST_WORKSPACE,
    },
    git: { user: gitIdentity(bottle['git-gate']?.user, agent.frontmatter['git-gate']?.user) },
    sidecars: {
      egress: { routes, tokens, preconnect: preconnectTargets(routes, req.hostEnv) },
      gitGate: { repos },
      supervise: { enabled: true },
    },
    stateDir: state.dir,
    ...(req.removeAtExit === true ? { removeAtExit: true as const } : {}),
    containmentCheck: req.containmentCheck === false ? { run: false, reason: '--no-containment-check' } : { run: true },
    warnings,
  };
}

/** Agent fields overlay the bottle's; each field says where it came from (an agent's identity is claimed, not vouched). */
function gitIdentity(
  bottleUser: { name?: string | undefined; email?: string | undefined } | undefined,
  agentUser: { name?: string | undefined; email?: string | undefined } | undefined,
): BottlePlan['git']['user'] {
  const merged = mergeGitUser(bottleUser, agentUser) ?? {};
  const out: { name?: Provenanced; email?: Provenanced } = {};
  if (merged.name) out.name = { value: merged.name, from: agentUser?.name ? 'agent' : 'bottle' };
  if (merged.email) out.email = { value: merged.email, from: agentUser?.email ? 'agent' : 'bottle' };
  return out;
}
