import { afterEach, describe, expect, it } from 'vitest';
import { resolveSecrets } from '../../src/launch/secrets.js';
import { ManifestCatalog } from '../../src/manifest/catalog.js';
import { PLACEHOLDER_TOKEN } from '../../src/plan/placeholder.js';
import { resolvePlan, type PlanRequest } from '../../src/plan/resolve.js';
import { provisionGuest } from '../../src/provision/guest.js';
import { tempHome, type TempHome } from '../support/home.js';

/** The codex provider in the plan and in what is provisioned into the bottle. */
let h: TempHome;
afterEach(() => h.cleanup());

const KEY = 'real-openai-api-key-0123456789abcdef';
const endpoints = { proxyUrl: 'http://127.0.0.1:3128', superviseUrl: 'http://127.0.0.1:8419/mcp' };

function plan(bottle: string, agent = '', overrides: Partial<PlanRequest> = {}) {
  h.writeBottle('b', bottle);
  h.writeAgent('a', `bottle: b\n${agent}`, 'Be careful.');
  return resolvePlan(new ManifestCatalog({ home: h.home, cwd: h.cwd, userHome: h.userHome }), {
    agent: 'a', bottles: [], backend: 'bwrap', backendReason: 't', slug: 'a-1', cwd: h.cwd, copyCwd: false,
    mode: { kind: 'interactive' }, home: h.home, hostEnv: { OPENAI_KEY: KEY }, userHome: h.userHome,
    ...overrides,
  });
}

describe('codex provider', () => {
  it('auth_token: egress injects the host variable on api.openai.com; the agent gets placeholders only', async () => {
    h = tempHome();
    const p = plan('agent_provider: {template: codex, auth_token: OPENAI_KEY}');
    expect(p.sidecars.egress.routes.map((r) => [r.host, r.auth])).toEqual([['api.openai.com', { scheme: 'Bearer', tokenSlot: 'EGRESS_TOKEN_0', tokenRef: 'OPENAI_KEY' }]]);
    expect(p.env).toEqual([{ name: 'OPENAI_API_KEY', kind: 'placeholder', value: PLACEHOLDER_TOKEN, secret: false }]);
    expect(p.warnings.map((w) => w.message)).toEqual([]);
    const secrets = await resolveSecrets(p, { hostEnv: { OPENAI_KEY: KEY } });
    expect(secrets.sidecarEnv).toEqual({ EGRESS_TOKEN_0: KEY });
    const setup = provisionGuest(p, endpoints, secrets, { userHome: h.userHome });
    expect(setup.env.OPENAI_API_KEY).toBe(PLACEHOLDER_TOKEN);
    // The shape `codex login --with-api-key` writes, which keeps Codex's login screen away.
    expect(JSON.parse(setup.files.find((f) => f.path === '/home/agent/.codex/auth.json')?.content ?? '{}')).toEqual({ auth_mode: 'apikey', OPENAI_API_KEY: PLACEHOLDER_TOKEN });
    expect(JSON.stringify(setup)).not.toContain(KEY);
    expect(JSON.stringify(p)).not.toContain(KEY);
    // Codex's sessions stay in the bottle's state, so `resume` finds them.
    expect(p.provider.persist).toEqual([{ hostPath: `${h.home}/state/a-1/agent-home/.codex`, guestPath: '/home/agent/.codex' }]);
  });

  it('runs with full access to the bottle and no prompts, outside a git repo, with the agent\'s model; `resume` continues the last session', () => {
    h = tempHome();
    const fm = 'agent_provider: {template: codex, auth_token: OPENAI_KEY}';
    expect(plan(fm, 'model: gpt-5.3-codex', { mode: { kind: 'headless', prompt: '--not-an-option' } }).provider.command).toEqual([
      'codex', 'exec', '--dangerously-bypass-approvals-and-sandbox', '--model=gpt-5.3-codex', '--skip-git-repo-check', '--', '--not-an-option',
    ]);
    expect(plan(fm, 'model: gpt-5.3-codex', { mode: { kind: 'headless', prompt: 'go on' }, resume: true }).provider.command).toEqual([
      'codex', 'exec', 'resume', '--last', '--dangerously-bypass-approvals-and-sandbox', '--model=gpt-5.3-codex', '--skip-git-repo-check', '--', 'go on',
    ]);
    expect(plan(fm).provider.command).toEqual(['codex', '--dangerously-bypass-approvals-and-sandbox']);
    expect(plan(fm, '', { resume: true }).provider.command).toEqual(['codex', 'resume', '--last', '--dangerously-bypass-approvals-and-sandbox']);
  });

  it('ignores Claude Code\'s model aliases and refuses a model that is not a name at the manifest', () => {
    h = tempHome();
    const fm = 'agent_provider: {template: codex, auth_token: OPENAI_KEY}';
    expect(plan(fm, 'model: sonnet').provider.command).toEqual(['codex', '--dangerously-bypass-approvals-and-sandbox']);
    // The agent schema checks `model:` before any provider sees it: an option can never pass as a model.
    expect(() => plan(fm, 'model: "--config=x"')).toThrow(/model: model is a model name or alias/);
  });

  it('refuses both credential sources at once', () => {
    h = tempHome();
    const p = plan('agent_provider: {template: codex, auth_token: OPENAI_KEY, forward_host_credentials: true}');
    expect(p.warnings.map((w) => w.message)).toContain('agent_provider: auth_token and forward_host_credentials are both set for codex: keep one: launch will fail');
  });

  it('provisions config.toml: no approvals, full access, trusted workspace, nothing phoned home, the supervise MCP server', () => {
    h = tempHome();
    const setup = provisionGuest(plan('agent_provider: {template: codex, auth_token: OPENAI_KEY}'), endpoints, { agentEnv: {}, sidecarEnv: {} }, { userHome: h.userHome });
    const config = setup.files.find((f) => f.path === '/home/agent/.codex/config.toml')?.content ?? '';
    for (const line of [
      'approval_policy = "never"',
      'sandbox_mode = "danger-full-access"',
      'check_for_update_on_startup = false',
      '[analytics]\nenabled = false',
      '[feedback]\nenabled = false',
      'api_key_model_discovery = false',
      'plugins = false',
      'daemon_auto_start = false',
      '[projects."/workspace"]\ntrust_level = "trusted"',
      '[mcp_servers.supervise]\nurl = "http://127.0.0.1:8419/mcp"',
    ]) {
      expect(config).toContain(line);
    }
    expect(setup.files.find((f) => f.path === '/home/agent/.codex/AGENTS.md')?.content).toBe('Be careful.\n');
  });

  it('writes an empty AGENTS.md when the agent has no prompt, so a removed prompt does not linger in the kept ~/.codex', () => {
    h = tempHome();
    h.writeBottle('b', 'agent_provider: {template: codex, auth_token: OPENAI_KEY}');
    h.writeAgent('a', 'bottle: b');
    const p = resolvePlan(new ManifestCatalog({ home: h.home, cwd: h.cwd, userHome: h.userHome }), {
      agent: 'a', bottles: [], backend: 'bwrap', backendReason: 't', slug: 'a-1', cwd: h.cwd, copyCwd: false,
      mode: { kind: 'interactive' }, home: h.home, hostEnv: { OPENAI_KEY: KEY }, userHome: h.userHome,
    });
    expect(provisionGuest(p, endpoints, { agentEnv: {}, sidecarEnv: {} }).files.find((f) => f.path === '/home/agent/.codex/AGENTS.md')?.content).toBe('');
  });
});
