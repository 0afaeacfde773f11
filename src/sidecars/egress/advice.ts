import type { Block } from './verdict.js';

/** What was asked of egress, as the refusal names it. */
export interface Refused {
  method: string;
  host: string;
  /** Path without the query. */
  path: string;
}

const TOOL = 'call the supervise MCP tool `egress-block` with';

/**
 * The "what to do" lines of a refusal, right for the stage that refused: only
 * a host that is not routed, or a method/path its route does not allow, is
 * something the agent can ask the operator for; a DLP, SSRF or git refusal on
 * a routed host is not (asking for that host again changes nothing).
 */
export function adviceFor(b: Block, what: Refused): string[] {
  if (b.hint !== undefined) return [b.hint];
  const reason = '<why this task needs it>';
  switch (b.stage) {
    case 'route':
      return [`to ask for access: ${TOOL} ${JSON.stringify({ host: what.host, reason })}; an approved host works at once, no restart`];
    case 'matches': {
      const ask = { host: what.host, methods: [what.method], paths: [what.path || '/'], reason };
      return [`${what.host} is routed, but not for this method and path. To ask for them: ${TOOL} ${JSON.stringify(ask)} (paths are prefixes)`];
    }
    case 'destination':
      return ['egress routes host names only: use the name of the service (ask for it with `egress-block` if it is not routed)'];
    case 'ssrf':
      return [`${what.host} is routed, but egress never connects to loopback, private or link-local addresses; approving a route cannot change that. Tell the operator if this service should be reachable`];
    case 'outbound-dlp':
      return [
        `${what.host} is routed; the request was refused for what it carries. Send it again without the flagged value (a placeholder is fine); if the value is not a secret, the operator can allow it when egress asks. Asking for the host again changes nothing`,
      ];
    case 'inbound-dlp':
      return [`the response from ${what.host} was refused by inbound DLP; asking for the host again changes nothing`];
    case 'git':
      return [`use the git remotes the bottle provides (git-gate: \`git remote -v\`); git over HTTPS through egress is for read-only fetches the operator turned on per route (git.fetch)`];
    case 'scheme':
      return [`send it to https://${what.host}${what.path} instead; egress injects the credential only over TLS`];
    case 'fronting':
      return ['send the Host header (and TLS SNI) of the host you connected to; one connection serves one host'];
    case 'token':
      return ['the operator must set the host variable named above and resume the bottle; retrying will not help until then'];
    case 'upstream':
      return ['the host is routed; the upstream itself failed or was too slow. Retrying later may help'];
    default:
      return b.askable === false ? [] : [`to ask for access: ${TOOL} ${JSON.stringify({ host: what.host, reason })}`];
  }
}
