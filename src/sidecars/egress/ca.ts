// x509 v2 needs the Reflect polyfill loaded before its first import.
import 'reflect-metadata';
import { webcrypto, randomBytes } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  GeneralName,
  GeneralSubtree,
  GeneralSubtrees,
  NameConstraints,
  id_ce_nameConstraints,
} from '@peculiar/asn1-x509';
import * as x509 from '@peculiar/x509';
import writeFileAtomic from 'write-file-atomic';

type CryptoKey = webcrypto.CryptoKey;

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

interface MintedCa {
  cert: x509.X509Certificate;
  /** Non-extractable: the CA private key exists only inside this process's WebCrypto. */
  key: CryptoKey;
  /** DNS subtrees this CA may sign (lower-case, no leading dot). */
  permitted: string[];
}

/**
 * The per-bottle MITM CA.
 *
 * Name constraints: the CA is constrained to the DNS subtrees of the routed
 * hosts (and excluded from every IP address), so a leaked CA could not
 * impersonate anything else. Routes can grow at run time (supervise approves a
 * host), and a constrained CA cannot sign the new host. We re-mint rather than
 * pre-widening: when a reload adds a host outside the current constraints, a
 * new CA covering all routed hosts is minted, and `caCertOut` is rewritten
 * with every CA minted so far (so programs that re-read the trust file trust
 * both old and new leaves). Programs that loaded the trust file earlier only
 * trust the new host after a restart; the `ca-reminted` log line says so.
 */
export class MitmCa {
  private readonly cas: MintedCa[] = [];
  private leafKeyPem = '';
  private leafPublic: CryptoKey | undefined;
  private readonly contexts = new Map<string, Promise<SecureContext>>();

  private constructor(
    private readonly caCertOut: string,
    private readonly bottle: string,
  ) {}

  static async create(bottle: string, caCertOut: string, hosts: readonly string[]): Promise<MitmCa> {
    const ca = new MitmCa(caCertOut, bottle);
    // One leaf key shared by every host: minting a leaf is then one signature (~6 ms).
    const leafKeys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']));
    const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', leafKeys.privateKey);
    ca.leafKeyPem = toPem(Buffer.from(pkcs8), 'PRIVATE KEY');
    ca.leafPublic = leafKeys.publicKey;
    await ca.mint(hosts);
    return ca;
  }

  /** PEM bundle of every CA minted (what `caCertOut` holds). */
  get certPem(): string {
    return this.cas.map((c) => c.cert.toString('pem')).join('\n') + '\n';
  }

  /** Re-mint when `hosts` include one that no current CA may sign. Returns true when it did. */
  async ensureCovers(hosts: readonly string[]): Promise<boolean> {
    if (hosts.every((h) => this.caFor(h) !== undefined)) return false;
    await this.mint(hosts);
    return true;
  }

  /** TLS server context for `host`, cached per host. */
  contextFor(host: string): Promise<SecureContext> {
    let ctx = this.contexts.get(host);
    if (!ctx) {
      ctx = this.mintLeaf(host);
      this.contexts.set(host, ctx);
      // A failed mint must not poison the cache.
      ctx.catch(() => this.contexts.delete(host));
    }
    return ctx;
  }

  private caFor(host: string): MintedCa | undefined {
    for (let i = this.cas.length - 1; i >= 0; i--) {
      const c = this.cas[i]!;
      if (c.permitted.some((p) => host === p || host.endsWith(`.${p}`))) return c;
    }
    return undefined;
  }

  private async mint(hosts: readonly string[]): Promise<void> {
    const permitted = [...new Set(hosts.map(subtreeOf).filter((h) => h.length > 0))].sort();
    const keys = (await webcrypto.subtle.generateKey(ALG, false, ['sign', 'verify']));
    const now = Date.now();
    const generation = this.cas.length + 1;
    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ];
    if (permitted.length > 0) extensions.push(nameConstraints(permitted));
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serial(),
      name: `CN=bot-bottle egress CA ${escapeDn(this.bottle)} #${generation}, O=bot-bottle`,
      notBefore: new Date(now - DAY_MS),
      notAfter: new Date(now + 30 * DAY_MS),
      signingAlgorithm: ALG,
      keys,
      extensions,
    });
    this.cas.push({ cert, key: keys.privateKey, permitted });
    // Leaves signed by an older CA stay valid; only hosts the old CA could not sign are new.
    await writeFileAtomic(this.caCertOut, this.certPem, { mode: 0o644 });
  }

  private async mintLeaf(host: string): Promise<SecureContext> {
    const ca = this.caFor(host) ?? this.cas[this.cas.length - 1];
    if (!ca || !this.leafPublic) throw new Error('egress CA is not initialised');
    const now = Date.now();
    const leaf = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: `CN=${escapeDn(host)}`,
      issuer: ca.cert.subject,
      notBefore: new Date(now - DAY_MS),
      notAfter: new Date(now + 7 * DAY_MS),
      signingAlgorithm: ALG,
      publicKey: this.leafPublic,
      signingKey: ca.key,
      extensions: [
        new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: host }]),
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
      ],
    });
    // PEM has no trailing newline: join with '\n' or OpenSSL reports "bad end line".
    const chain = [leaf.toString('pem'), ca.cert.toString('pem')].join('\n');
    return createSecureContext({ key: this.leafKeyPem, cert: chain });
  }
}

/** `*.example.com` → `example.com`; exact hosts constrain to themselves (and their subdomains). */
function subtreeOf(routeHost: string): string {
  const h = routeHost.toLowerCase();
  return h.startsWith('*.') ? h.slice(2) : h;
}

function nameConstraints(permitted: string[]): x509.Extension {
  const value = new NameConstraints({
    permittedSubtrees: new GeneralSubtrees(
      permitted.map((dNSName) => new GeneralSubtree({ base: new GeneralName({ dNSName }) })),
    ),
    // dNSName constraints do not restrict IP SANs: exclude every address explicitly.
    excludedSubtrees: new GeneralSubtrees([
      new GeneralSubtree({ base: new GeneralName({ iPAddress: '0.0.0.0/0' }) }),
      new GeneralSubtree({ base: new GeneralName({ iPAddress: '::/0' }) }),
    ]),
  });
  return new x509.Extension(id_ce_nameConstraints, true, AsnConvert.serialize(value));
}

function serial(): string {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f; // positive INTEGER
  return b.toString('hex');
}

function escapeDn(v: string): string {
  return v.replace(/[,+="\\<>;#]/g, (c) => `\\${c}`);
}

function toPem(der: Buffer, label: string): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}
