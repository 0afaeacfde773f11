import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hostProgram } from '../../src/backends/bwrap/host-program.js';
import { ManifestCatalog } from '../../src/manifest/catalog.js';
import { manifestErrorOf } from '../support/manifest-error.js';
import { resolvePlan, type PlanRequest } from '../../src/plan/resolve.js';
import { provisionGuest } from '../../src/provision/guest.js';
import { tempHome, type TempHome } from '../support/home.js';

/**
 * The claude provider as planned and provisioned: what Claude Code is started
 * with and what it finds in its home. The real program runs in tests/agents.
 */
let h: TempHome;
afterEach(() => h.cleanup());

const endpoints = { proxyUrl: 'http://127.0.0.1:3128', superviseUrl: 'http://127.0.0.1:8419/mcp' };

function plan(bottle: string, agent = '', overrides: Partial<PlanRequest> = {}) {
  h.writeBottle('b', bottle);
  h.writeAgent('a', `bottle: b\n${agent}`, 'Be careful.');
  return resolvePlan(new ManifestCatalog({ home: h.home, cwd: h.cwd, userHome: h.userHome }), {
    agent: 'a', bottles: [], backend: 'bwrap', backendReason: 't', slug: 'a-1', cwd: h.cwd, copyCwd: false,
    mode: { kind: 'headless', prompt: '-starts with a dash' }, home: h.home, hostEnv: { TOK: 'x', KEY: 'y' }, userHome: h.userHome,
    ...overrides,
  });
}

describe('claude provider', () => {
  it('runs headless without permission prompts, the prompt after `--`, auto-update and optional traffic off, its config folder kept', () => {
    h = tempHome();
    const p = plan('agent_provider: {template: claude, auth_token: TOK}');
    expect(p.provider.command).toEqual(['claude', '--permission-mode', 'bypassPermissions', '-p', '--', '-starts with a dash']);
    const env = Object.fromEntries(p.env.map((e) => [e.name, e.kind === 'literal' || e.kind === 'placeholder' ? e.value : e.kind]));
    expect(env).toMatchObject({ DISABLE_AUTOUPDATER: '1', CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1', CLAUDE_CODE_RESUME_HINT_COMMAND: 'bot-bottle' });
    expect(env.CLAUDE_CODE_OAUTH_TOKEN).toBe('bot-bottle-placeholder-egress-injects-the-real-token');
    expect(p.provider.persist).toEqual([{ hostPath: join(h.home, 'state', 'a-1', 'agent-home', '.claude'), guestPath: '/home/agent/.claude' }]);
    const route = p.sidecars.egress.routes[0];
    expect(route?.auth).toEqual({ scheme: 'Bearer', tokenSlot: 'EGRESS_TOKEN_0', tokenRef: 'TOK' });
    // Only what Claude Code needs: the Messages API and its start-up checks.
    expect(route?.matches.flatMap((m) => m.paths.map((x) => x.value))).toEqual(['/v1/messages', '/api/claude_code/settings', '/api/claude_code/policy_limits']);
  });

  it('keeps its permission prompts with permission_prompts: true, and still never asks before a supervise tool', () => {
    h = tempHome();
    const p = plan('agent_provider: {template: claude, auth_token: TOK, permission_prompts: true}');
    expect(p.provider.command).not.toContain('bypassPermissions');
    const setup = provisionGuest(p, endpoints, { agentEnv: {}, sidecarEnv: {} }, { userHome: h.userHome });
    const settings = JSON.parse(setup.files.find((f) => f.path.endsWith('claude-settings.json'))?.content ?? '{}');
    expect(settings.permissions.allow).toEqual(['mcp__supervise']);
    expect(settings.skipDangerousModePermissionPrompt).toBeUndefined();
    expect(JSON.parse(setup.files.find((f) => f.path.endsWith('.claude.json'))?.content ?? '{}').bypassPermissionsModeAccepted).toBeUndefined();
  });

  it("passes the agent's model, except `inherit`, and rejects a model that is not a name", () => {
    h = tempHome();
    expect(plan('agent_provider: {template: claude, auth_token: TOK}', 'model: opus').provider.command).toEqual(
      ['claude', '--permission-mode', 'bypassPermissions', '--model', 'opus', '-p', '--', '-starts with a dash'],
    );
    h.cleanup();
    h = tempHome();
    expect(plan('agent_provider: {template: claude, auth_token: TOK}', 'model: inherit').provider.command).not.toContain('--model');
    h.cleanup();
    h = tempHome();
    const err = manifestErrorOf(() => plan('agent_provider: {template: claude, auth_token: TOK}', 'model: "--dangerous flag"'));
    expect(err.message).toContain('model is a model name or alias');
  });

  it('uses an API key through x-api-key with an ANTHROPIC_API_KEY placeholder', () => {
    h = tempHome();
    const p = plan('agent_provider: {template: claude, api_key: KEY}');
    expect(p.sidecars.egress.routes[0]?.auth).toEqual({ header: 'x-api-key', tokenSlot: 'EGRESS_TOKEN_0', tokenRef: 'KEY' });
    expect(p.env.find((e) => e.name === 'ANTHROPIC_API_KEY')).toMatchObject({ kind: 'placeholder' });
    expect(p.env.find((e) => e.name === 'CLAUDE_CODE_OAUTH_TOKEN')).toBeUndefined();
    h.cleanup();
    h = tempHome();
    expect(manifestErrorOf(() => plan('agent_provider: {template: claude, api_key: KEY, auth_token: TOK}')).message).toContain('not both');
    h.cleanup();
    h = tempHome();
    expect(manifestErrorOf(() => plan('agent_provider: {template: shell, api_key: KEY}')).message).toContain('only for the claude template');
  });

  it("lets the bottle's env override a provider setting", () => {
    h = tempHome();
    const p = plan('agent_provider: {template: claude, auth_token: TOK}\nenv: {DISABLE_TELEMETRY: "0"}');
    expect(p.env.filter((e) => e.name === 'DISABLE_TELEMETRY')).toEqual([{ name: 'DISABLE_TELEMETRY', kind: 'literal', value: '0', secret: false }]);
  });

  it('continues the last conversation on resume only when there is one, or the one named', () => {
    h = tempHome();
    const resumed = (): string[] => plan('agent_provider: {template: claude, auth_token: TOK}', '', { resume: true, mode: { kind: 'interactive' } }).provider.command;
    // Interactive `claude --continue` with nothing to continue exits 1.
    expect(resumed()).not.toContain('--continue');
    const project = join(h.home, 'state', 'a-1', 'agent-home', '.claude', 'projects', '-workspace');
    mkdirSync(project, { recursive: true });
    writeFileSync(join(project, '0f6c5b7e-1d2a-4c3b-9e8f-7a6b5c4d3e2f.jsonl'), '{}\n');
    expect(resumed()).toContain('--continue');
    const named = plan('agent_provider: {template: claude, auth_token: TOK}', '', { resume: true, session: '0f6c5b7e-1d2a-4c3b-9e8f-7a6b5c4d3e2f' });
    expect(named.provider.command).toContain('--resume');
    expect(named.provider.command).not.toContain('--continue');
  });

  it('fails clearly when the program is not installed on the host', () => {
    expect(() => hostProgram('claude', '/nonexistent')).toThrow(
      'the bwrap backend runs the agent\'s program from the host, but "claude" is not on PATH: install Claude Code on the host (npm install -g @anthropic-ai/claude-code)',
    );
  });
});
