import { isIP } from 'node:net';
import { z } from 'zod';

/**
 * What an agent may ask for, validated at the MCP boundary and again when an
 * operator edits a proposal (a `modified` answer must be just as well-formed).
 */

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/** Agent-written text is shown in the operator's terminal: no escape sequences or other controls (newline and tab are fine). */
// eslint-disable-next-line no-control-regex
export const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** Lower-case DNS name or `*.domain`; never an IP literal (routes are name-based). */
export const HostSchema = z
  .string()
  .trim()
  .min(1, 'host is required, e.g. "api.example.com"')
  .max(253, 'host is longer than 253 characters')
  .transform((h) => h.toLowerCase())
  .superRefine((host, ctx) => {
    const bare = host.replace(/^\[|\]$/g, '');
    if (isIP(bare) !== 0 || /^[0-9.]+$/.test(host)) {
      ctx.addIssue({ code: 'custom', message: `host "${host}" is an IP literal; ask for the DNS name the client uses` });
      return;
    }
    const name = host.startsWith('*.') ? host.slice(2) : host;
    const labels = name.split('.');
    if (labels.length < 2 || !labels.every((l) => LABEL.test(l))) {
      ctx.addIssue({
        code: 'custom',
        message: `host "${host}" is not a valid host name (expected e.g. "api.example.com" or "*.example.com", no scheme, port or path)`,
      });
    }
  });

export const MethodSchema = z
  .string()
  .transform((m) => m.toUpperCase())
  .pipe(z.enum(HTTP_METHODS, { error: (iss) => `unknown HTTP method ${JSON.stringify(iss.input)}; use one of ${HTTP_METHODS.join(', ')}` }));

export const PathSchema = z
  .string()
  .min(1)
  .max(2048)
  .refine((p) => p.startsWith('/'), { error: (iss) => `path ${JSON.stringify(iss.input)} must start with "/" (a path prefix such as "/v1/repos")` })
  .refine((p) => !/[\s?#]/.test(p) && !CONTROL.test(p), { error: 'path must not contain whitespace, controls, "?" or "#": give a path prefix only' });

const ReasonSchema = z
  .string()
  .trim()
  .min(1, 'reason is required: say what you were doing and why it needs this')
  .max(4000)
  .refine((v) => !CONTROL.test(v), { error: 'reason must not contain control characters (terminal escapes); plain text and newlines only' });

export const EgressBlockInput = z.strictObject({
  host: HostSchema,
  reason: ReasonSchema,
  methods: z.array(MethodSchema).max(16).optional(),
  paths: z.array(PathSchema).max(32).optional(),
});

/** What an operator may edit: the agent's ask plus the port (agents always get 443). */
export const EgressBlockDetails = EgressBlockInput.extend({
  port: z.number().int().min(1).max(65535).optional(),
});

export const CapabilityBlockInput = z.strictObject({
  change: z
    .string()
    .trim()
    .min(1, 'change is required, e.g. "apt-get install -y jq"')
    .max(8000)
    .refine((v) => !CONTROL.test(v), { error: 'change must not contain control characters (terminal escapes); plain text and newlines only' }),
  reason: ReasonSchema,
});

export type EgressBlockDetails = z.infer<typeof EgressBlockDetails>;

/** Readable one-line error list: `field: message; field: message`. */
export function formatIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(details)'}: ${i.message}`).join('; ');
}
