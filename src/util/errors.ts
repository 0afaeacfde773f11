/**
 * An error meant for the operator, raised below the CLI (containment, the
 * backends, provisioning): the CLI prints its message as-is (and the hint on
 * the next line), no stack, and exits with `exitCode`. `CliError` is the same
 * thing raised by the CLI itself; lower layers never import the CLI.
 */
export class UserError extends Error {
  override name = 'UserError';
  readonly hint: string | undefined;
  constructor(
    message: string,
    readonly exitCode = 1,
    opts: { hint?: string; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.hint = opts.hint;
  }
}

/** How the CLI prints a UserError (one line, or two with a hint). */
export function renderUserError(err: UserError): string {
  return `bot-bottle: ${err.message}\n${err.hint ? `  ${err.hint}\n` : ''}`;
}
