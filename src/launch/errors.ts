/**
 * A launch that could not go ahead for a reason the operator can act on (a
 * sidecar that would not start, a failed containment check): printed as one
 * line, never as a stack trace. The CLI maps it to its exit code.
 */
export class LaunchError extends Error {
  override name = 'LaunchError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}
