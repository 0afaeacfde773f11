import { UserError } from '../util/errors.js';

/**
 * A launch that could not go ahead for a reason the operator can act on (a
 * sidecar that would not start, a failed containment check): printed as one
 * line, never as a stack trace, with the exit code it carries.
 */
export class LaunchError extends UserError {
  override name = 'LaunchError';
}
