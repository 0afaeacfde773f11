import { afterEach, describe, expect, it } from 'vitest';
import { ManifestCatalog } from '../../src/manifest/catalog.js';
import { resolvePlan, type PlanRequest } from '../../src/plan/resolve.js';
import { blockingWarnings } from '../../src/plan/warnings.js';
import { cli, tempHome, type TempHome } from '../support/home.js';

let h: TempHome;
afterEach(() => h.cleanup());

const SECRET = 'hunter2-the-real-secret-value-0123456789';

function plan(overrides: Partial<PlanRequest> = {}) {
  return resolvePlan(new ManifestCatalog({ home: h.home, cwd: h.cwd, userHome: h.userHome }), {
    agent: 'a',
    bottles: [],
    backend: 'bwrap',
    backendReason: 'test',
    slug: 'a-0001',
    cwd: h.cwd,
    copyCwd: false,
    mode: { kind: 'interactive' },
    home: h.home,
    hostEnv: { GH_PAT: SECRET, API_TOKEN: SECRET },
    userHome: h.userHome,
    ...overrides,
  });
}

describe('env in plans', () => {
  it('marks secret entries and never carries their values', () => {
    h = tempHome();
    h.writeBottle('b', 'agent_provider: {template: shell}\nenv:\n  LIT: "visible"\n  ASK: "?paste it"\n  FROM_HOST: "${GH_PAT}"');
    h.writeAgent('a', 'bottle: b');
    const p = plan();
    expect(p.env).toEqual([
      { name: 'LIT', kind: 'literal', value: 'visible', secret: false },
      { name: 'ASK', kind: 'prompt', prompt: 'paste it', secret: true },
      { name: 'FROM_HOST', kind: 'host', hostVar: 'GH_PAT', secret: true },
    ]);
    expect(JSON.stringify(p)).not.toContain(SECRET);
  });

  it('warns (by name only) when an interpolated host variable is unset', () => {
    h = tempHome();
    h.writeBottle('b', 'agent_provider: {template: shell}\nenv:\n  X: "${NOT_SET_ANYWHERE}"');
    h.writeAgent('a', 'bottle: b');
    expect(plan().warnings.map((w) => w.message)).toContain('env X: host variable NOT_SET_ANYWHERE is not set: launch will fail');
  });
});

describe('egress routes in plans', () => {
  it('gives token slots (shared per source), never token values, and applies defaults', () => {
    h = tempHome();
    h.writeBottle(
      'b',
      `agent_provider: {template: shell}
egress:
  routes:
    - host: API.Example.com
      auth: {scheme: token, token_ref: API_TOKEN}
      matches:
        - paths: [{type: prefix, value: /api/v1/}]
          methods: [get, post]
          headers: [{name: X-Kind, value: ci}]
      dlp: {inbound_detectors: false, outbound_on_match: block}
      git: {fetch: true}
    - host: "*.example.org"
      port: 8443
      auth: {scheme: Bearer, token_ref: API_TOKEN}`,
    );
    h.writeAgent('a', 'bottle: b');
    const p = plan();
    expect(p.sidecars.egress.tokens).toEqual([{ slot: 'EGRESS_TOKEN_0', from: { kind: 'env', name: 'API_TOKEN' } }]);
    const [first, second] = p.sidecars.egress.routes;
    expect(first).toEqual({
      host: 'api.example.com',
      port: 443,
      auth: { scheme: 'token', tokenSlot: 'EGRESS_TOKEN_0', tokenRef: 'API_TOKEN' },
      matches: [{ paths: [{ type: 'prefix', value: '/api/v1/' }], methods: ['GET', 'POST'], headers: [{ name: 'x-kind', value: 'ci', type: 'exact' }] }],
      dlp: { outbound: ['token_patterns', 'known_secrets'], inbound: [], onMatch: 'block' },
      gitFetch: true,
      source: 'manifest',
    });
    expect(second?.port).toBe(8443);
    expect(second?.dlp).toEqual({ outbound: ['token_patterns', 'known_secrets'], inbound: ['naive_injection_detection'], onMatch: 'supervise' });
    expect(JSON.stringify(p)).not.toContain(SECRET);
  });

  it('merges a manifest route into the provider route for the same host: the provider keeps its credential, the manifest tunes DLP and limits paths', () => {
    h = tempHome();
    h.writeBottle(
      'b',
      [
        'agent_provider: {template: claude, auth_token: CLAUDE_TOK}',
        'egress:',
        '  routes:',
        '    - host: api.anthropic.com',
        '      auth: {scheme: token, token_ref: OTHER_TOK}',
        '      matches: [{paths: [{type: prefix, value: /v1/}], methods: [POST]}]',
        '      dlp: {outbound_on_match: redact, outbound_detectors: [known_secrets]}',
        '    - host: other.example',
      ].join('\n'),
    );
    h.writeAgent('a', 'bottle: b');
    const p = plan({ hostEnv: { CLAUDE_TOK: SECRET } });
    expect(p.sidecars.egress.routes.map((r) => [r.host, r.source])).toEqual([
      ['api.anthropic.com', 'provider'],
      ['other.example', 'manifest'],
    ]);
    const model = p.sidecars.egress.routes[0]!;
    expect(model.auth).toEqual({ scheme: 'Bearer', tokenSlot: 'EGRESS_TOKEN_0', tokenRef: 'CLAUDE_TOK' });
    expect(p.sidecars.egress.tokens).toHaveLength(1);
    expect(model.matches).toEqual([{ paths: [{ type: 'prefix', value: '/v1/' }], methods: ['POST'], headers: [] }]);
    // The manifest's DLP keys win; the provider's inbound report mode stays (the manifest did not set it).
    expect(model.dlp).toEqual({ outbound: ['known_secrets'], inbound: ['naive_injection_detection'], onMatch: 'redact', inboundOnMatch: 'report' });
    expect(p.env.find((e) => e.name === 'CLAUDE_CODE_OAUTH_TOKEN')?.kind).toBe('placeholder');
    expect(p.warnings.map((w) => w.message).join('\n')).toContain('manifest route for api.anthropic.com: auth is ignored, the claude provider injects its own credential');
    expect(JSON.stringify(p)).not.toContain(SECRET);
  });

  it('model-API routes report inbound injection findings by default; a manifest route can ask for terminate', () => {
    h = tempHome();
    h.writeBottle('b', 'agent_provider: {template: claude, auth_token: CLAUDE_TOK}');
    h.writeBottle('c', 'agent_provider: {template: codex}');
    h.writeBottle('t', 'extends: b\negress:\n  routes:\n    - host: api.anthropic.com\n      dlp: {inbound_on_match: terminate}\n    - host: web.example');
    h.writeAgent('a', 'bottle: b');
    expect(plan({ hostEnv: { CLAUDE_TOK: SECRET } }).sidecars.egress.routes[0]?.dlp.inboundOnMatch).toBe('report');
    const codex = plan({ bottles: ['c'], hostEnv: {} }).sidecars.egress.routes;
    expect(codex.map((r) => [r.host, r.dlp.inboundOnMatch])).toEqual([
      ['api.openai.com', 'report'],
      ['chatgpt.com', 'report'],
    ]);
    const tuned = plan({ bottles: ['t'], hostEnv: { CLAUDE_TOK: SECRET } }).sidecars.egress.routes;
    expect(tuned[0]?.dlp.inboundOnMatch).toBe('terminate');
    // Other routes keep the default (absent: terminate).
    expect(tuned[1]?.dlp.inboundOnMatch).toBeUndefined();
    expect(plan({ bottles: ['t'], hostEnv: { CLAUDE_TOK: SECRET } }).warnings.map((w) => w.message).join('\n')).not.toContain('auth is ignored');
  });

  it('warns when a token variable is missing', () => {
    h = tempHome();
    h.writeBottle('b', 'agent_provider: {template: claude, auth_token: MISSING_TOK}');
    h.writeAgent('a', 'bottle: b');
    expect(plan({ hostEnv: {} }).warnings.map((w) => w.message)).toContain('host variable MISSING_TOK (token for EGRESS_TOKEN_0) is not set: launch will fail');
  });

  it('types its warnings: a missing token blocks the launch, an ignored manifest auth does not', () => {
    h = tempHome();
    h.writeBottle('b', 'agent_provider: {template: claude, auth_token: MISSING_TOK}\negress:\n  routes:\n    - host: api.anthropic.com\n      auth: {scheme: Bearer, token_ref: OTHER}');
    h.writeAgent('a', 'bottle: b');
    const p = plan({ hostEnv: {} });
    expect(p.warnings).toContainEqual({ code: 'token-unset', message: 'host variable MISSING_TOK (token for EGRESS_TOKEN_0) is not set: launch will fail', blocksLaunch: true });
    expect(p.warnings.find((w) => w.code === 'route-auth-ignored')?.blocksLaunch).toBe(false);
    expect(blockingWarnings(p)).toEqual(['host variable MISSING_TOK (token for EGRESS_TOKEN_0) is not set: launch will fail']);
    expect(blockingWarnings(plan({ hostEnv: { MISSING_TOK: 'x' } }))).toEqual([]);
  });
});

describe('agent and bottle choice', () => {
  it('--bottle flags replace the agent\'s bottle; git identity shows provenance', () => {
    h = tempHome();
    h.writeBottle('x', 'agent_provider: {template: shell}\ngit-gate: {user: {name: Bottle, email: b@example.com}}');
    h.writeBottle('y', 'agent_provider: {template: codex}');
    h.writeAgent('a', 'bottle: y\ngit-gate: {user: {name: Agent}}', 'do work');
    const p = plan({ bottles: ['x'] });
    expect(p.bottles.names).toEqual(['x']);
    expect(p.provider.template).toBe('shell');
    expect(p.git.user).toEqual({ name: { value: 'Agent', from: 'agent' }, email: { value: 'b@example.com', from: 'bottle' } });
    expect(p.agent.systemPrompt).toBe('do work');
  });

  it('fails when neither the agent nor a flag names a bottle', () => {
    h = tempHome();
    h.writeBottle('x', 'env: {}');
    h.writeAgent('a', 'description: portable');
    expect(() => plan()).toThrow(/names no bottle[\s\S]*available: x/);
  });

  it('records the workspace copy and the headless command', () => {
    h = tempHome();
    h.writeBottle('x', 'agent_provider: {template: shell}');
    h.writeAgent('a', 'bottle: x');
    const p = plan({ copyCwd: true, mode: { kind: 'headless', prompt: 'echo done' } });
    expect(p.workspace).toEqual({ mode: 'copy', source: h.cwd, skip: 'gitignored', hostPath: `${h.home}/state/a-0001/workspace`, guestPath: '/workspace' });
    expect(p.provider.command).toEqual(['bash', '-c', 'echo done']);
  });
});

describe('secrets stay out of output and errors', () => {
  it('dry-run text and json, and failure messages, never contain host secret values', async () => {
    h = tempHome();
    h.writeBottle('b', 'agent_provider: {template: claude, auth_token: TOK}\nenv:\n  S: "${TOK}"');
    h.writeAgent('a', 'bottle: b');
    for (const format of ['text', 'json']) {
      const run = await cli(h, ['start', 'a', '--dry-run', '--format', format, '--backend', 'bwrap'], { TOK: SECRET });
      expect(run.code).toBe(0);
      expect(run.stdout + run.stderr).not.toContain(SECRET);
      expect(run.stdout).toContain(format === 'json' ? '"hostVar": "TOK"' : 'secret, from host $TOK');
    }
    h.writeBottle('bad', `env:\n  S: ${SECRET}\nbogus: 1`);
    const bad = await cli(h, ['start', 'a', '--bottle', 'bad', '--dry-run', '--backend', 'bwrap'], { TOK: SECRET });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('unknown key "bogus"');
    expect(bad.stderr).not.toContain(SECRET);
  });
});
