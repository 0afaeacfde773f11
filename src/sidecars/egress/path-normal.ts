// Route path rules are matched against the path the agent sent, but the
// upstream acts on the path it resolves: `/api/../admin` matches `prefix /api/`
// and reaches `/admin` with the route's token. Servers and frameworks resolve
// more than RFC 3986 dot segments: `%2e` as a dot, `%2f` and `%5c` (decoded
// before routing), `\` as a separator (IIS, some Node and Python routers),
// `..;/` as `..` (Tomcat's path parameters), and a double-decoding layer turns
// `%252e` into `%2e` into `.`. A path with a dot segment under any of those
// readings is refused on routes with path rules; everything else is matched as
// sent, since without dot segments each reading only adds separators under the
// same prefix.

/** Any `%` escape (also nested, `%252e`) of `.`, `/` or `\`. */
const ESCAPED = /%(?:25)*(2e|2f|5c)/gi;
/** Chars without which no reading of a path holds a dot segment. */
const MAYBE = /[.%\\]/;

/**
 * The path (no query) as a server that decodes `%2e %2f %5c` and treats `\`
 * as `/` reads it, with its dot segments resolved (RFC 3986 5.2.4);
 * undefined when that reading has no dot segment.
 */
export function dotSegmentReading(path: string): string | undefined {
  if (!MAYBE.test(path)) return undefined;
  const read = path.replace(ESCAPED, (_m, hex: string) => (hex === '2e' || hex === '2E' ? '.' : '/')).replace(/\\/g, '/');
  const segments = read.split('/');
  // A segment's name ends at `;` for servlet containers (`..;jsessionid=x` is `..`).
  if (!segments.some((s) => isDot(s.split(';', 1)[0]!))) return undefined;
  return removeDotSegments(segments);
}

function isDot(name: string): boolean {
  return name === '.' || name === '..';
}

/** RFC 3986 5.2.4 over `/`-split segments of an absolute path. */
function removeDotSegments(segments: string[]): string {
  const out: string[] = [];
  // segments[0] is the empty string before the leading `/`.
  for (let i = 1; i < segments.length; i++) {
    const name = segments[i]!.split(';', 1)[0]!;
    const last = i === segments.length - 1;
    if (name === '.') {
      if (last) out.push('');
    } else if (name === '..') {
      out.pop();
      if (last) out.push('');
    } else out.push(segments[i]!);
  }
  return `/${out.join('/')}`;
}

/**
 * The path with every `%XX` escape decoded, nested ones too (`%2564` → `d`),
 * as bytes read one char each: what a server that decodes before it routes
 * sees. For substring tests (the git stage), never sent upstream.
 */
export function decodedReading(path: string): string {
  let p = path;
  // Each round undoes one layer of `%25`; three cover any layering a server stack applies.
  for (let round = 0; round < 3 && p.includes('%'); round++) {
    const next = p.replace(/%([0-9a-f]{2})/gi, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    if (next === p) break;
    p = next;
  }
  return p;
}
