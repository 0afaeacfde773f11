/**
 * What a backend must put inside the bottle so the agent CLI knows the
 * supervise MCP server. Pure: it returns files and argv, the backend's
 * provisioning step writes/runs them inside the bottle.
 */

export type ProviderTemplate = 'claude' | 'codex' | 'shell';

export const SUPERVISE_SERVER_NAME = 'supervise';

export interface ProvisionFile {
  /** Relative to the agent user's home directory. */
  path: string;
  /**
   * `merge-json`: deep-merge `content` (a JSON object) into the file, creating it if absent.
   * `append-toml`: append `content` unless the file already has the `[mcp_servers.supervise]` table.
   */
  mode: 'merge-json' | 'append-toml';
  content: string;
}

export interface SuperviseRegistration {
  files: ProvisionFile[];
  /** Equivalent CLI registration, for agents whose config format changes (argv, no shell). */
  commands: string[][];
  /** Exposed to every template so scripts can find the server. */
  env: Record<string, string>;
}

function checkUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`supervise MCP URL ${JSON.stringify(url)} is not a URL (expected e.g. "http://127.0.0.1:9100/mcp")`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error(`supervise MCP URL must be http(s), got ${parsed.protocol}`);
  return parsed.href;
}

export function superviseRegistration(provider: ProviderTemplate, mcpUrl: string): SuperviseRegistration {
  const url = checkUrl(mcpUrl);
  const env = { BOT_BOTTLE_SUPERVISE_URL: url };
  switch (provider) {
    case 'claude':
      // User scope lives in ~/.claude.json; `type: http` is Claude Code's streamable HTTP transport.
      return {
        files: [
          {
            path: '.claude.json',
            mode: 'merge-json',
            content: `${JSON.stringify({ mcpServers: { [SUPERVISE_SERVER_NAME]: { type: 'http', url } } }, null, 2)}\n`,
          },
        ],
        commands: [['claude', 'mcp', 'add', '--scope', 'user', '--transport', 'http', SUPERVISE_SERVER_NAME, url]],
        env,
      };
    case 'codex':
      return {
        files: [
          {
            path: '.codex/config.toml',
            mode: 'append-toml',
            // A TOML basic string accepts JSON's escapes, and new URL() already percent-encoded the rest.
            content: `\n[mcp_servers.${SUPERVISE_SERVER_NAME}]\nurl = ${JSON.stringify(url)}\n`,
          },
        ],
        commands: [['codex', 'mcp', 'add', SUPERVISE_SERVER_NAME, '--url', url]],
        env,
      };
    case 'shell':
      return { files: [], commands: [], env };
  }
}

/** Deep-merges a `merge-json` file's content into what is already there (objects merge, the rest replaces). */
export function mergeJsonConfig(existing: string | undefined, content: string): string {
  const base: unknown = existing && existing.trim() ? JSON.parse(existing) : {};
  const merged = deepMerge(base, JSON.parse(content));
  return `${JSON.stringify(merged, null, 2)}\n`;
}

/** Appends the Codex table unless it is already present (re-provisioning is idempotent). */
export function appendTomlConfig(existing: string | undefined, content: string): string {
  const header = content.trim().split('\n')[0] ?? '';
  const current = existing ?? '';
  if (current.split('\n').some((l) => l.trim() === header)) return current;
  return `${current}${current.endsWith('\n') || current === '' ? '' : '\n'}${content}`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function deepMerge(base: unknown, patch: unknown): unknown {
  if (!isObject(base) || !isObject(patch)) return patch;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(patch)) out[k] = deepMerge(base[k], v);
  return out;
}
