import { ManifestError } from '../../src/manifest/errors.js';

/** The ManifestError `fn` throws; anything else (or nothing) fails the test. */
export function manifestErrorOf(fn: () => unknown): ManifestError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ManifestError) return err;
    throw err;
  }
  throw new Error('expected a ManifestError');
}
