import { setFlagsFromString } from 'node:v8';

/**
 * Route regexes (path and header matches) come from manifests and from
 * routes the operator approves, and egress runs them on every request the
 * agent makes: a backtracking pattern such as `(a+)+$` would let one request
 * hang the proxy. They are therefore compiled with V8's own linear-time
 * engine (the `l` flag, an automaton that never backtracks; in V8 since 8.8
 * behind `--enable-experimental-regexp-engine`, which we switch on here):
 * every accepted pattern runs in time linear in the input, whatever its
 * shape. What that engine cannot run in linear time (backreferences,
 * lookarounds, counted repetitions above 16) is refused with a reason.
 *
 * Why not the alternatives: the vetted `re2` package needs a native build,
 * and a JS port would be a new dependency in the sidecar bundle; a static
 * "no nested quantifiers" check still admits polynomial blow-ups such as
 * `.*.*.*x` on a 16 kB path. Should a future Node lack the engine, the `l`
 * flag is an invalid flag and every regex route is refused (fail closed).
 */
export const MAX_ROUTE_REGEX_LENGTH = 256;
/**
 * Linear is not free: the automaton pays per input character for every state
 * alive at once (`.*.*.*.*x` took 25 ms on a 16 KiB path, the most Node's
 * parser lets through). Regex matches therefore see at most 4 KiB; a longer
 * path or header value does not match (the request is refused like any other
 * unmatched one). Worst case found at both caps: 127 `.*` in a row, 0.34 s
 * per request; a typical route regex takes microseconds.
 */
export const MAX_ROUTE_MATCH_INPUT = 4096;

let engineReady = false;

function enableLinearEngine(): void {
  if (engineReady) return;
  setFlagsFromString('--enable-experimental-regexp-engine');
  engineReady = true;
}

export class RouteRegexError extends Error {
  override name = 'RouteRegexError';
}

/**
 * Compile a route regex, anchored at both ends (a route regex describes the
 * whole path or header value, as in Gateway API), on the linear-time engine.
 */
export function compileRouteRegex(source: string): RegExp {
  if (source.length > MAX_ROUTE_REGEX_LENGTH) {
    throw new RouteRegexError(`regex is ${source.length} characters; the limit is ${MAX_ROUTE_REGEX_LENGTH}`);
  }
  enableLinearEngine();
  let syntaxError: Error | undefined;
  try {
    new RegExp(source);
  } catch (err) {
    syntaxError = err as Error;
  }
  if (syntaxError) throw new RouteRegexError(`invalid regex: ${stripPattern(syntaxError.message)}`);
  try {
    // eslint-disable-next-line no-invalid-regexp -- `l` is V8's linear-time engine, switched on above
    return new RegExp(`^(?:${source})$`, 'l');
  } catch (err) {
    const message = (err as Error).message;
    if (/linear time/i.test(message)) {
      throw new RouteRegexError(
        'regex cannot be matched in linear time: backreferences, lookarounds and counted repetitions above 16 (e.g. {1,255}) are not allowed; use + or * instead of large counts',
      );
    }
    if (/invalid flags/i.test(message)) {
      throw new RouteRegexError('this Node.js has no linear-time regex engine, so regex routes are refused: use prefix or exact matches');
    }
    // `^(?:x)$` around a valid pattern only fails when the pattern closes the group itself, e.g. `a)(b`.
    throw new RouteRegexError(`invalid regex: ${stripPattern(message)}`);
  }
}

/** A compiled route regex with the input cap applied: what egress runs per request. */
export function compileRouteMatcher(source: string): { test(value: string): boolean } {
  const re = compileRouteRegex(source);
  return { test: (value) => value.length <= MAX_ROUTE_MATCH_INPUT && re.test(value) };
}

/** Why `source` is not a usable route regex, or undefined. */
export function routeRegexProblem(source: string): string | undefined {
  try {
    compileRouteRegex(source);
    return undefined;
  } catch (err) {
    if (err instanceof RouteRegexError) return err.message;
    throw err;
  }
}

/** V8 messages repeat the whole pattern (`Invalid regular expression: /((/: Unterminated group`); keep the reason. */
function stripPattern(message: string): string {
  const reason = /: ([^:]+)$/.exec(message)?.[1];
  return reason ?? message;
}
