import { describe, expect, it } from 'vitest';
import { appendTomlConfig, mergeJsonConfig, superviseRegistration } from '../../src/supervise/registration.js';

const URL_ = 'http://127.0.0.1:9100/mcp';

describe('superviseRegistration', () => {
  it('claude: a user-scope mcpServers entry of type http, merged into an existing .claude.json', () => {
    const reg = superviseRegistration('claude', URL_);
    expect(reg.files).toHaveLength(1);
    const file = reg.files[0]!;
    expect(file).toMatchObject({ path: '.claude.json', mode: 'merge-json' });
    const merged = JSON.parse(mergeJsonConfig('{"theme":"dark","mcpServers":{"other":{"type":"stdio"}}}', file.content)) as Record<string, unknown>;
    expect(merged).toEqual({ theme: 'dark', mcpServers: { other: { type: 'stdio' }, supervise: { type: 'http', url: URL_ } } });
    expect(JSON.parse(mergeJsonConfig(undefined, file.content))).toEqual({ mcpServers: { supervise: { type: 'http', url: URL_ } } });
    expect(reg.commands).toEqual([['claude', 'mcp', 'add', '--scope', 'user', '--transport', 'http', 'supervise', URL_]]);
    expect(reg.env.BOT_BOTTLE_SUPERVISE_URL).toBe(URL_);
  });

  it('codex: an [mcp_servers.supervise] table with the url, appended once', () => {
    const reg = superviseRegistration('codex', URL_);
    const file = reg.files[0]!;
    expect(file.path).toBe('.codex/config.toml');
    expect(file.content).toContain('[mcp_servers.supervise]');
    expect(file.content).toContain(`url = "${URL_}"`);
    const once = appendTomlConfig('model = "o3"', file.content);
    expect(once.startsWith('model = "o3"\n')).toBe(true);
    expect(appendTomlConfig(once, file.content)).toBe(once);
  });

  it('shell: nothing to register, only the env var', () => {
    expect(superviseRegistration('shell', URL_)).toEqual({ files: [], commands: [], env: { BOT_BOTTLE_SUPERVISE_URL: URL_ } });
  });

  it('rejects a URL that is not http(s)', () => {
    expect(() => superviseRegistration('claude', 'not a url')).toThrow(/not a URL/);
    expect(() => superviseRegistration('codex', 'file:///etc/passwd')).toThrow(/http/);
  });
});
