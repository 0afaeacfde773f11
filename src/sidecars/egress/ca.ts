import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier,
  AttributeTypeAndValue,
  AttributeValue,
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  Extension,
  Extensions,
  GeneralName,
  GeneralSubtree,
  GeneralSubtrees,
  KeyIdentifier,
  KeyUsage,
  KeyUsageFlags,
  Name,
  NameConstraints,
  RelativeDistinguishedName,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_nameConstraints,
  id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
  id_kp_serverAuth,
} from '@peculiar/asn1-x509';
import writeFileAtomic from 'write-file-atomic';

const DAY_MS = 86_400_000;
const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
const OID_CN = '2.5.4.3';
const OID_O = '2.5.4.10';

interface MintedCa {
  der: Buffer;
  pem: string;
  subject: Name;
  /** Never exported: the CA private key exists only inside this process. */
  key: KeyObject;
  /** SubjectKeyIdentifier, repeated as the leaves' AuthorityKeyIdentifier. */
  keyId: Buffer;
  /** DNS subtrees this CA may sign (lower-case, no leading dot). */
  permitted: string[];
}

/**
 * The per-bottle MITM CA.
 *
 * Certificates are built from the ASN.1 schema classes and signed with
 * node:crypto (ECDSA P-256), which starts far faster than a full X.509
 * toolkit: the CA is minted before the bundle reports ready.
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
  private readonly contexts = new Map<string, Promise<SecureContext>>();
  // One leaf key shared by every host: minting a leaf is then one signature.
  private readonly leafKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  private readonly leafKeyPem = this.leafKey.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;

  private constructor(
    private readonly caCertOut: string,
    private readonly bottle: string,
  ) {}

  static async create(bottle: string, caCertOut: string, hosts: readonly string[]): Promise<MitmCa> {
    const ca = new MitmCa(caCertOut, bottle);
    await ca.mint(hosts);
    return ca;
  }

  /** PEM bundle of every CA minted (what `caCertOut` holds). */
  get certPem(): string {
    return this.cas.map((c) => c.pem).join('');
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
      ctx = new Promise<SecureContext>((resolve) => resolve(this.mintLeaf(host)));
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
    const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const spki = spkiOf(keys.publicKey);
    const keyId = keyIdOf(spki);
    const now = Date.now();
    const subject = dn(`bot-bottle egress CA ${this.bottle} #${this.cas.length + 1}`, 'bot-bottle');
    const extensions = [
      ext(id_ce_basicConstraints, true, new BasicConstraints({ cA: true, pathLenConstraint: 0 })),
      ext(id_ce_keyUsage, true, new KeyUsage(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign)),
      ext(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(keyId)),
    ];
    if (permitted.length > 0) extensions.push(nameConstraints(permitted));
    const der = signCert(
      { subject, issuer: subject, spki, notBefore: now - DAY_MS, notAfter: now + 30 * DAY_MS, extensions },
      keys.privateKey,
    );
    this.cas.push({ der, pem: toPem(der, 'CERTIFICATE'), subject, key: keys.privateKey, keyId, permitted });
    // Leaves signed by an older CA stay valid; only hosts the old CA could not sign are new.
    // No fsync: the file is re-minted on every start, and the rename alone keeps readers from a partial file.
    await writeFileAtomic(this.caCertOut, this.certPem, { mode: 0o644, fsync: false });
  }

  private mintLeaf(host: string): SecureContext {
    const ca = this.caFor(host) ?? this.cas[this.cas.length - 1];
    if (!ca) throw new Error('egress CA is not initialised');
    const now = Date.now();
    const der = signCert(
      {
        subject: dn(host),
        issuer: ca.subject,
        spki: spkiOf(this.leafKey.publicKey),
        notBefore: now - DAY_MS,
        notAfter: now + 7 * DAY_MS,
        extensions: [
          ext(id_ce_subjectAltName, false, new SubjectAlternativeName([new GeneralName({ dNSName: host })])),
          ext(id_ce_basicConstraints, true, new BasicConstraints({ cA: false })),
          ext(id_ce_keyUsage, true, new KeyUsage(KeyUsageFlags.digitalSignature)),
          ext(id_ce_extKeyUsage, false, new ExtendedKeyUsage([id_kp_serverAuth])),
          ext(id_ce_authorityKeyIdentifier, false, new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(ca.keyId) })),
        ],
      },
      ca.key,
    );
    // `ca: []`: a server context needs no trust store (no client certificates), and without one node builds
    // its root store on the first leaf, ~20-60 ms at a bottle's first CONNECT (its containment self-test's).
    return createSecureContext({ key: this.leafKeyPem, cert: toPem(der, 'CERTIFICATE') + ca.pem, ca: [] });
  }
}

interface CertFields {
  subject: Name;
  issuer: Name;
  spki: SubjectPublicKeyInfo;
  notBefore: number;
  notAfter: number;
  extensions: Extension[];
}

/** DER of a v3 certificate signed with ECDSA-SHA256 by `key`. */
function signCert(f: CertFields, key: KeyObject): Buffer {
  const alg = new AlgorithmIdentifier({ algorithm: ECDSA_WITH_SHA256 });
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: serial(),
    signature: alg,
    issuer: f.issuer,
    validity: new Validity({ notBefore: new Date(f.notBefore), notAfter: new Date(f.notAfter) }),
    subject: f.subject,
    subjectPublicKeyInfo: f.spki,
    extensions: new Extensions(f.extensions),
  });
  const tbsDer = Buffer.from(AsnConvert.serialize(tbs));
  // node:crypto signs ECDSA as a DER Ecdsa-Sig-Value, which is what X.509 carries.
  const signature = sign('sha256', tbsDer, key);
  const cert = new Certificate({ tbsCertificate: tbs, signatureAlgorithm: alg, signatureValue: toArrayBuffer(signature) });
  return Buffer.from(AsnConvert.serialize(cert));
}

function ext(extnID: string, critical: boolean, value: unknown): Extension {
  return new Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

function dn(cn: string, o?: string): Name {
  const rdn = (type: string, v: string): RelativeDistinguishedName =>
    new RelativeDistinguishedName([new AttributeTypeAndValue({ type, value: new AttributeValue({ utf8String: v }) })]);
  return new Name(o === undefined ? [rdn(OID_CN, cn)] : [rdn(OID_CN, cn), rdn(OID_O, o)]);
}

function spkiOf(key: KeyObject): SubjectPublicKeyInfo {
  return AsnConvert.parse(key.export({ type: 'spki', format: 'der' }), SubjectPublicKeyInfo);
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits. */
function keyIdOf(spki: SubjectPublicKeyInfo): Buffer {
  return createHash('sha1').update(Buffer.from(spki.subjectPublicKey)).digest();
}

/** `*.example.com` → `example.com`; exact hosts constrain to themselves (and their subdomains). */
function subtreeOf(routeHost: string): string {
  const h = routeHost.toLowerCase();
  return h.startsWith('*.') ? h.slice(2) : h;
}

function nameConstraints(permitted: string[]): Extension {
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
  return ext(id_ce_nameConstraints, true, value);
}

function serial(): ArrayBuffer {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x40; // positive and minimal as a DER INTEGER (no leading 0x00)
  return toArrayBuffer(b);
}

function toArrayBuffer(b: Buffer): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

function toPem(der: Buffer, label: string): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}
