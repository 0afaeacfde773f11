import { existsSync, readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';

const SYSTEM_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/cert.pem'];

/**
 * Host roots plus the bottle CA. Inside a bottle every TLS connection is
 * re-signed by egress, so the bottle CA is what matters; the host roots keep
 * tools that insist on a well-formed system bundle happy.
 */
export function caBundle(bottleCaPem: string): string {
  const system = SYSTEM_BUNDLES.find((p) => existsSync(p));
  const roots = system ? readFileSync(system, 'utf8') : rootCertificates.join('\n');
  return `${roots.trimEnd()}\n\n# bot-bottle egress CA\n${bottleCaPem.trim()}\n`;
}
