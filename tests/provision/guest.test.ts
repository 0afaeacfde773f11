import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManifestCatalog } from '../../src/manifest/catalog.js';
import { resolvePlan } from '../../src/plan/resolve.js';
import { provisionGuest } from '../../src/provision/guest.js';
import { codexAccessToken, resolveSecrets } from '../../src/launch/secrets.js';
import { PLACEHOLDER_TOKEN } from '../../src/plan/placeholder.js';
import { tempHome, type TempHome } from '../support/home.js';

let h: TempHome;
afterEach(() => h.cleanup());

const endpoints = { proxyUrl: 'http://127.0.0.1:3128', superviseUrl: 'http://127.0.0.1:8419/mcp', gitGateUrl: 'http://127.0.0.1:8418' };

function planFor(bottle: string, agent: string, hostEnv: Record<string, string> = {}) {
  h.writeBottle('b', bottle);
  h.writeAgent('a', `bottle: b\n${agent}`, 'Be careful.');
  return resolvePlan(new ManifestCatalog({ home: h.home, cwd: h.cwd, userHome: h.userHome }), {
    agent: 'a', bottles: [], backend: 'bwrap', backendReason: 't', slug: 'a-1', cwd: h.cwd, copyCwd: false,
    mode: { kind: 'interactive' }, home: h.home, hostEnv, userHome: h.userHome,
  });
}

const jwt = (payload: object) => ['e30', Buffer.from(JSON.stringify(payload)).toString('base64url'), 'sig'].join('.');

describe('provisionGuest', () => {
  it('sets CA trust and proxy variables in both cases, and keeps egress tokens out of the agent env', async () => {
    h = tempHome();
    const plan = planFor('agent_provider: {template: claude, auth_token: REAL_TOK}\nenv: {LIT: "v", SEC: "${HOST_SECRET}"}', '');
    const secrets = await resolveSecrets(plan, { hostEnv: { REAL_TOK: 'real-oauth-token-value', HOST_SECRET: 'host-secret-value' } });
    expect(secrets.sidecarEnv).toEqual({ EGRESS_TOKEN_0: 'real-oauth-token-value' });
    const setup = provisionGuest(plan, endpoints, secrets, { userHome: h.userHome });
    for (const name of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy']) expect(setup.env[name]).toBe('http://127.0.0.1:3128');
    expect(setup.env.NO_PROXY).toBe('localhost,127.0.0.1');
    expect(setup.env.no_proxy).toBe('localhost,127.0.0.1');
    for (const name of ['SSL_CERT_FILE', 'CURL_CA_BUNDLE', 'REQUESTS_CA_BUNDLE', 'GIT_SSL_CAINFO']) expect(setup.env[name]).toBe('/etc/ssl/certs/ca-certificates.crt');
    expect(setup.env.NODE_EXTRA_CA_CERTS).toBe('/etc/bot-bottle/ca.pem');
    expect(setup.env.CODEX_CA_CERTIFICATE).toBe('/etc/bot-bottle/ca.pem');
    expect(setup.env.MCP_SUPERVISE_URL).toBe('http://127.0.0.1:8419/mcp');
    expect(setup.env.CLAUDE_CODE_OAUTH_TOKEN).toBe(PLACEHOLDER_TOKEN);
    expect(setup.env.LIT).toBe('v');
    expect(setup.env.SEC).toBe('host-secret-value');
    expect(JSON.stringify(setup)).not.toContain('real-oauth-token-value');
    // Claude's state lives in its configuration folder, which the bottle keeps across runs.
    expect(setup.env.CLAUDE_CONFIG_DIR).toBe('/home/agent/.claude');
    const claudeJson = setup.files.find((f) => f.path === '/home/agent/.claude/.claude.json');
    expect(claudeJson?.merge).toBe('json');
    expect(JSON.parse(claudeJson?.content ?? '{}')).toMatchObject({
      hasCompletedOnboarding: true,
      bypassPermissionsModeAccepted: true,
      projects: { '/workspace': { hasTrustDialogAccepted: true } },
      mcpServers: { supervise: { type: 'http', url: 'http://127.0.0.1:8419/mcp', alwaysLoad: true } },
    });
    expect(JSON.parse(setup.files.find((f) => f.path === '/home/agent/.bot-bottle/claude-settings.json')?.content ?? '{}')).toMatchObject({
      permissions: { allow: ['mcp__supervise'] },
    });
    // The system prompt goes by file: an argument shows on the host's process list.
    expect(setup.files.find((f) => f.path === '/home/agent/.bot-bottle/system-prompt.md')?.content).toBe('Be careful.\n');
    expect(setup.command).toEqual([
      'claude', '--settings', '/home/agent/.bot-bottle/claude-settings.json', '--append-system-prompt-file', '/home/agent/.bot-bottle/system-prompt.md',
      '--permission-mode', 'bypassPermissions',
    ]);
    expect(setup.command.join(' ')).not.toContain('Be careful');
  });

  it('writes git identity and routes declared repos through the gate', () => {
    h = tempHome();
    const plan = planFor(
      'agent_provider: {template: shell}\ngit-gate:\n  user: {name: Bot, email: bot@example.com}\n  repos:\n    app: {url: "git@forge.example:me/app.git", identity: /k, host_key: "forge.example ssh-ed25519 AAAA"}',
      '',
    );
    const gitconfig = provisionGuest(plan, endpoints, { agentEnv: {}, sidecarEnv: {} }).files.find((f) => f.path === '/home/agent/.gitconfig')?.content ?? '';
    expect(gitconfig).toContain('name = "Bot"');
    expect(gitconfig).toContain('email = "bot@example.com"');
    expect(gitconfig).toContain('[url "http://127.0.0.1:8418/app.git"]');
    expect(gitconfig).toContain('insteadOf = "git@forge.example:me/app.git"');
  });

  it('copies skills from the host and fails before launch when one is missing', () => {
    h = tempHome();
    mkdirSync(join(h.userHome, '.claude', 'skills', 'review'), { recursive: true });
    writeFileSync(join(h.userHome, '.claude', 'skills', 'review', 'SKILL.md'), 'x');
    const ok = planFor('agent_provider: {template: shell}', 'skills: [review]');
    expect(provisionGuest(ok, endpoints, { agentEnv: {}, sidecarEnv: {} }, { userHome: h.userHome }).copies).toEqual([
      { hostPath: join(h.userHome, '.claude', 'skills', 'review'), guestPath: '/home/agent/.claude/skills/review' },
    ]);
    h.cleanup();
    h = tempHome();
    const missing = planFor('agent_provider: {template: shell}', 'skills: [absent]');
    expect(missing.warnings.map((w) => w.message).join('\n')).toContain('skill "absent" is not in');
    expect(() => provisionGuest(missing, endpoints, { agentEnv: {}, sidecarEnv: {} }, { userHome: h.userHome })).toThrow(/skill "absent" is not in/);
  });

  it('codex: the host token goes to egress only; the agent gets a same-shaped file of placeholders', async () => {
    h = tempHome();
    const access = jwt({ exp: Math.floor(Date.now() / 1000) + 3600 });
    mkdirSync(join(h.userHome, '.codex'));
    writeFileSync(join(h.userHome, '.codex', 'auth.json'), JSON.stringify({ OPENAI_API_KEY: null, tokens: { access_token: access, refresh_token: 'refresh-secret', id_token: jwt({ email: 'me@example.com' }), account_id: 'acct' } }));
    const plan = planFor('agent_provider: {template: codex, forward_host_credentials: true}', '');
    expect(plan.sidecars.egress.routes.map((r) => r.host)).toEqual(['api.openai.com', 'chatgpt.com']);
    const secrets = await resolveSecrets(plan, { hostEnv: {} });
    expect(secrets.sidecarEnv.EGRESS_TOKEN_0).toBe(access);
    const setup = provisionGuest(plan, endpoints, secrets, { userHome: h.userHome });
    const auth = JSON.parse(setup.files.find((f) => f.path === '/home/agent/.codex/auth.json')?.content ?? '{}');
    expect(auth.tokens.access_token).toBe(PLACEHOLDER_TOKEN);
    expect(auth.tokens.refresh_token).toBe(PLACEHOLDER_TOKEN);
    expect(auth.tokens.account_id).toBe('acct');
    expect(JSON.stringify(setup)).not.toContain(access);
    expect(JSON.stringify(setup)).not.toContain('refresh-secret');
    expect(setup.files.find((f) => f.path === '/home/agent/.codex/AGENTS.md')?.content).toBe('Be careful.\n');
  });

  it('codex: expired or missing credentials fail clearly', () => {
    h = tempHome();
    const file = h.write('auth.json', JSON.stringify({ tokens: { access_token: jwt({ exp: 1000 }) } }));
    expect(() => codexAccessToken(file, Date.now())).toThrow(/has expired: run `codex` on the host/);
    expect(() => codexAccessToken(join(h.root, 'nope.json'), Date.now())).toThrow(/cannot read Codex credentials .*ENOENT.*codex login/);
    const empty = h.write('empty.json', JSON.stringify({ tokens: null }));
    expect(() => codexAccessToken(empty, Date.now())).toThrow(/holds no access token/);
  });

  it('resolveSecrets names a missing variable but never a value, and refuses prompts without a terminal', async () => {
    h = tempHome();
    const plan = planFor('agent_provider: {template: shell}\nenv: {ASK: "?type it"}', '');
    await expect(resolveSecrets(plan, { hostEnv: {} })).rejects.toThrow(/env ASK must be typed in at launch \("type it"\), but there is no terminal/);
    expect((await resolveSecrets(plan, { hostEnv: {}, prompt: () => Promise.resolve('typed') })).agentEnv).toEqual({ ASK: 'typed' });
    const tokenPlan = planFor('agent_provider: {template: claude, auth_token: GONE}', '');
    await expect(resolveSecrets(tokenPlan, { hostEnv: {} })).rejects.toThrow(/host variable GONE \(the token egress injects as EGRESS_TOKEN_0\) is not set/);
  });
});
