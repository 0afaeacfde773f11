export * from './api.js';
export { createScanner } from './scanner.js';
export { createStreamScanner } from './stream.js';
export { knownSecretsFromEnv, knownSecretEntriesFromEnv } from './env.js';
export { exampleCredential } from './examples.js';
export { decodeBodyForScan, DlpBodyDecodeError, type BodyDecodeFailure } from './body.js';
export { TOKEN_RULES } from './rules/index.js';
