import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BUNDLE_KNOBS, bundleSecrets, bundleSettings } from '../../src/launch/bundle-secrets.js';

/**
 * What reaches the sidecar bundle's environment (a host process's, which `ps e`
 * shows; a standby's for ten minutes after a launch): the knobs the bundle
 * reads, by name. The README tells operators to keep their tokens in
 * `BOT_BOTTLE_*` variables, so a prefix is no test of being a knob.
 */
describe('bundle settings', () => {
  it('keep the knobs and drop every other variable, token variables named BOT_BOTTLE_* included', () => {
    const host = {
      PATH: '/usr/bin',
      BOT_BOTTLE_RESOLVE: 'api.example.test:443:127.0.0.1',
      BOT_BOTTLE_UPSTREAM_CA: '/tmp/ca.pem',
      BOT_BOTTLE_CLAUDE_OAUTH_TOKEN: 'sk-ant-oat01-secretvalue',
      BOT_BOTTLE_GITHUB_TOKEN: 'ghp_secretvalue',
      BOT_BOTTLE_OPENAI_API_KEY: 'sk-secretvalue',
      EGRESS_TOKEN_GH: 'ghp_slotvalue',
      GITHUB_TOKEN: 'ghp_other',
    };
    expect(bundleSettings(host)).toEqual({ PATH: '/usr/bin', BOT_BOTTLE_RESOLVE: 'api.example.test:443:127.0.0.1', BOT_BOTTLE_UPSTREAM_CA: '/tmp/ca.pem' });
  });

  it('leave out a knob the operator marked sensitive: it goes through the secrets channel', () => {
    const host = { BOT_BOTTLE_SENSITIVE_PREFIXES: 'BOT_BOTTLE_RES', BOT_BOTTLE_RESOLVE: 'x:443:127.0.0.1' };
    expect(bundleSettings(host)).toEqual({ BOT_BOTTLE_SENSITIVE_PREFIXES: 'BOT_BOTTLE_RES' });
    expect(bundleSecrets(host, { agentEnv: {}, sidecarEnv: {} })).toEqual({ BOT_BOTTLE_RESOLVE: 'x:443:127.0.0.1' });
  });

  it('name every BOT_BOTTLE_* variable the built bundle reads', () => {
    const bundle = readFileSync(join(import.meta.dirname, '..', '..', 'dist', 'sidecars.cjs'), 'utf8');
    const read = [...new Set(bundle.match(/BOT_BOTTLE_[A-Z0-9_]+/g) ?? [])].filter((name) => !name.endsWith('_'));
    expect(read.length).toBeGreaterThan(0);
    expect(read.filter((name) => !BUNDLE_KNOBS.has(name))).toEqual([]);
  });
});
