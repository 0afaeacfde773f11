import { homedir } from 'node:os';
import type { ResolvedSecrets } from '../plan/secrets.js';
import { gitInsteadOfEntries, renderGitConfig } from '../sidecars/git-gate/insteadof.js';
import { superviseRegistration } from '../supervise/registration.js';
import type { BottlePlan } from '../plan/types.js';
import { UserError } from '../util/errors.js';
import { resolveSkill } from '../manifest/roots.js';
import { CODEX_HOME, codexAuthJson, codexConfigToml } from './codex.js';
import { GUEST_CA_BUNDLE, GUEST_CA_FILE, GUEST_HOME, GUEST_PATH, GUEST_USER } from './layout.js';
import { claudeGuest, GUEST_SYSTEM_PROMPT } from './claude.js';

/** The sidecars as the agent reaches them from inside the bottle. */
export interface GuestEndpoints {
  proxyUrl: string;
  gitGateUrl?: string;
  superviseUrl: string;
}

export interface GuestFile {
  /** Absolute path inside the bottle. */
  path: string;
  content: string;
  mode: number;
  /** `merge-json`: deep-merge into an existing JSON file instead of replacing it. */
  merge?: 'json';
  /** With `merge`: a JSON object that fills only what the existing file does not set. */
  defaults?: string;
}

export interface GuestSetup {
  /** The agent's whole environment: the backend starts the agent with exactly this. */
  env: Record<string, string>;
  files: GuestFile[];
  /** Host folders copied into the bottle (skills). */
  copies: Array<{ hostPath: string; guestPath: string }>;
  command: string[];
  workdir: string;
}

/**
 * One provisioning layer for every backend: CA trust, proxy variables, git
 * routing through the gate and identity, MCP registration, the system prompt
 * and skills. Pure apart from reading skill folders' existence and the Codex
 * auth file; backends decide how to put the result in place.
 */
export function provisionGuest(
  plan: BottlePlan,
  endpoints: GuestEndpoints,
  secrets: ResolvedSecrets,
  opts: { term?: string | undefined; userHome?: string } = {},
): GuestSetup {
  const userHome = opts.userHome ?? homedir();
  const env: Record<string, string> = {
    HOME: GUEST_HOME,
    USER: GUEST_USER,
    LOGNAME: GUEST_USER,
    PATH: GUEST_PATH,
    LANG: 'C.UTF-8',
    TERM: opts.term ?? 'xterm-256color',
    SHELL: '/bin/bash',
    BOT_BOTTLE_SLUG: plan.slug,
    BOT_BOTTLE_LABEL: plan.label,
    BOT_BOTTLE_COLOR: plan.color,
    MCP_SUPERVISE_URL: endpoints.superviseUrl,
    NODE_EXTRA_CA_CERTS: GUEST_CA_FILE,
    SSL_CERT_FILE: GUEST_CA_BUNDLE,
    CURL_CA_BUNDLE: GUEST_CA_BUNDLE,
    REQUESTS_CA_BUNDLE: GUEST_CA_BUNDLE,
    GIT_SSL_CAINFO: GUEST_CA_BUNDLE,
    CODEX_CA_CERTIFICATE: GUEST_CA_FILE,
  };
  for (const name of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy']) env[name] = endpoints.proxyUrl;
  for (const name of ['NO_PROXY', 'no_proxy']) env[name] = 'localhost,127.0.0.1';
  for (const entry of plan.env) {
    if (entry.kind === 'literal' || entry.kind === 'placeholder') env[entry.name] = entry.value;
  }
  Object.assign(env, secrets.agentEnv);

  const files: GuestFile[] = [{ path: `${GUEST_HOME}/.gitconfig`, content: gitConfig(plan, endpoints), mode: 0o644 }];
  const registration = superviseRegistration(plan.provider.template, endpoints.superviseUrl);
  Object.assign(env, registration.env);
  const claude = plan.provider.template === 'claude' ? claudeGuest(plan, endpoints.superviseUrl, plan.workspace.guestPath) : undefined;
  if (claude) {
    // Claude's registration lives in its own configuration folder, with everything else it needs to start.
    Object.assign(env, claude.env);
    files.push(...claude.files);
  } else {
    for (const file of registration.files) {
      // Codex's config.toml starts with bot-bottle's settings; the registration appends its table.
      const content = file.path === '.codex/config.toml' ? codexConfigToml(plan.workspace.guestPath) + file.content : file.content;
      files.push({ path: `${GUEST_HOME}/${file.path}`, content, mode: 0o600, ...(file.mode === 'merge-json' ? { merge: 'json' as const } : {}) });
    }
  }
  if (plan.agent.systemPrompt.length > 0) {
    files.push({ path: GUEST_SYSTEM_PROMPT, content: `${plan.agent.systemPrompt}\n`, mode: 0o644 });
  }
  // Always written: ~/.codex is kept across runs, and a prompt removed from the agent must not linger there.
  if (plan.provider.template === 'codex') files.push({ path: `${CODEX_HOME}/AGENTS.md`, content: plan.agent.systemPrompt.length > 0 ? `${plan.agent.systemPrompt}\n` : '', mode: 0o644 });
  const codexAuth = plan.provider.template === 'codex' ? codexAuthJson(plan) : undefined;
  if (codexAuth !== undefined) files.push({ path: `${CODEX_HOME}/auth.json`, content: codexAuth, mode: 0o600 });

  const copies = plan.agent.skills.map((skill) => {
    // Checked again here, where the name becomes a host path and a guest path.
    const found = resolveSkill(userHome, skill);
    if ('problem' in found) throw new UserError(`${found.problem}; install it on the host or remove it from the agent`);
    return { hostPath: found.path, guestPath: `${GUEST_HOME}/.claude/skills/${skill}` };
  });

  const [program, ...rest] = plan.provider.command;
  // Claude reads its settings and the agent's prompt from provisioned files; codex reads ~/.codex/AGENTS.md; shell has none.
  const command = claude ? [program ?? 'claude', ...claude.args, ...rest] : [...plan.provider.command];
  return { env, files, copies, command, workdir: plan.workspace.guestPath };
}

function gitConfig(plan: BottlePlan, endpoints: GuestEndpoints): string {
  const lines: string[] = [];
  const user = plan.git.user;
  if (user.name || user.email) {
    lines.push('[user]');
    if (user.name) lines.push(`\tname = ${JSON.stringify(user.name.value)}`);
    if (user.email) lines.push(`\temail = ${JSON.stringify(user.email.value)}`);
  }
  lines.push('[safe]', '\tdirectory = *');
  let text = `${lines.join('\n')}\n`;
  if (endpoints.gitGateUrl && plan.sidecars.gitGate.repos.length > 0) {
    text += renderGitConfig(gitInsteadOfEntries(endpoints.gitGateUrl, plan.sidecars.gitGate.repos));
  }
  return text;
}
