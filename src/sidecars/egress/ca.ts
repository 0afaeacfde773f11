import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject, type KeyPairKeyObjectResult } from 'node:crypto';
import { isIP } from 'node:net';
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
  KeyIdentifier,
  KeyUsage,
  KeyUsageFlags,
  Name,
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
}

/** Leaves live a week; a cached one is replaced a day before it expires (a bottle may run for weeks). */
const LEAF_DAYS = 7;
const LEAF_REFRESH_MS = (LEAF_DAYS - 1) * DAY_MS;
/** The CA outlives any bottle run: it is minted again at every start. */
const CA_DAYS = 400;
/**
 * Leaf contexts kept (least recently used dropped first). Blocked hosts get a
 * leaf too (the refusal is answered inside TLS), so the cache must not grow
 * with every name an agent tries.
 */
const LEAF_CACHE_MAX = 512;

/**
 * The per-bottle MITM CA: minted once when the bundle starts and never
 * changed while it runs (docs/architecture.md, "The bottle's CA").
 *
 * Certificates are built from the ASN.1 schema classes and signed with
 * node:crypto (ECDSA P-256), which starts far faster than a full X.509
 * toolkit: the CA is minted before the bundle reports ready.
 *
 * No name constraints: egress signs a leaf for any CONNECT target, routed or
 * not, so that a refused host is answered inside TLS with a 403 that says why
 * (a CONNECT refusal is invisible to most clients), and so that a route the
 * operator approves works at once in programs that read the trust file only
 * at start (Node reads it once; a CA that changed would need a restart). The
 * allowlist is egress's own check on every request; the CA's key never leaves
 * this process, and the certificate is trusted only inside this bottle.
 */
export class MitmCa {
  private ca: MintedCa | undefined;
  /** Insertion order is use order (a hit is moved to the end): the first key is the least recently used. */
  private readonly contexts = new Map<string, { ctx: Promise<SecureContext>; minted: number }>();
  private readonly keys = takePreparedKeys();
  // One leaf key shared by every host: minting a leaf is then one signature.
  private readonly leafKey = this.keys.leaf;
  private readonly leafKeyPem = this.leafKey.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;

  private constructor(
    private readonly caCertOut: string,
    private readonly bottle: string,
  ) {}

  static async create(bottle: string, caCertOut: string): Promise<MitmCa> {
    const ca = new MitmCa(caCertOut, bottle);
    await ca.mint();
    return ca;
  }

  /** The CA certificate (what `caCertOut` holds). */
  get certPem(): string {
    return this.ca?.pem ?? '';
  }

  /** TLS server context for `host` (a DNS name or an IP literal), cached per host. */
  contextFor(host: string): Promise<SecureContext> {
    const now = Date.now();
    const hit = this.contexts.get(host);
    if (hit && now - hit.minted < LEAF_REFRESH_MS) {
      this.contexts.delete(host);
      this.contexts.set(host, hit);
      return hit.ctx;
    }
    const ctx = new Promise<SecureContext>((resolve) => resolve(this.mintLeaf(host)));
    this.contexts.delete(host);
    this.contexts.set(host, { ctx, minted: now });
    if (this.contexts.size > LEAF_CACHE_MAX) this.contexts.delete(this.contexts.keys().next().value!);
    // A failed mint must not poison the cache.
    ctx.catch(() => {
      if (this.contexts.get(host)?.ctx === ctx) this.contexts.delete(host);
    });
    return ctx;
  }

  /**
   * Work no bottle decides, done by a pre-spawned bundle while it waits for its config (sidecars/main.ts):
   * the CA's and the leaves' key pairs, and one throwaway certificate so the ASN.1 encoder's first, slow
   * use is not on the way to the ready line (~30 ms of a ~40 ms mint). The keys serve the next `create`
   * only: one bundle, one bottle, one CA key.
   */
  static prepare(): void {
    prepared ??= freshKeys();
    signCert({ subject: dn('warm-up'), issuer: dn('warm-up'), spki: spkiOf(prepared.leaf.publicKey), notBefore: 0, notAfter: DAY_MS, extensions: [ext(id_ce_basicConstraints, true, new BasicConstraints({ cA: false }))] }, prepared.leaf.privateKey);
  }

  private async mint(): Promise<void> {
    const keys = this.keys.ca;
    const spki = spkiOf(keys.publicKey);
    const keyId = keyIdOf(spki);
    const now = Date.now();
    const subject = dn(`bot-bottle egress CA ${this.bottle}`, 'bot-bottle');
    const extensions = [
      ext(id_ce_basicConstraints, true, new BasicConstraints({ cA: true, pathLenConstraint: 0 })),
      ext(id_ce_keyUsage, true, new KeyUsage(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign)),
      ext(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(keyId)),
    ];
    const der = signCert(
      { subject, issuer: subject, spki, notBefore: now - DAY_MS, notAfter: now + CA_DAYS * DAY_MS, extensions },
      keys.privateKey,
    );
    this.ca = { der, pem: toPem(der, 'CERTIFICATE'), subject, key: keys.privateKey, keyId };
    // No fsync: the file is re-minted on every start, and the rename alone keeps readers from a partial file.
    await writeFileAtomic(this.caCertOut, this.certPem, { mode: 0o644, fsync: false });
  }

  private mintLeaf(host: string): SecureContext {
    const ca = this.ca;
    if (!ca) throw new Error('egress CA is not initialised');
    const now = Date.now();
    const ip = isIP(host) !== 0;
    const der = signCert(
      {
        subject: dn(host),
        issuer: ca.subject,
        spki: spkiOf(this.leafKey.publicKey),
        notBefore: now - DAY_MS,
        notAfter: now + LEAF_DAYS * DAY_MS,
        extensions: [
          ext(id_ce_subjectAltName, false, new SubjectAlternativeName([new GeneralName(ip ? { iPAddress: host } : { dNSName: host })])),
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

interface KeySet {
  ca: KeyPairKeyObjectResult;
  leaf: KeyPairKeyObjectResult;
}

let prepared: KeySet | undefined;

function freshKeys(): KeySet {
  return { ca: generateKeyPairSync('ec', { namedCurve: 'P-256' }), leaf: generateKeyPairSync('ec', { namedCurve: 'P-256' }) };
}

/** The prepared keys, once; every later CA gets fresh ones. */
function takePreparedKeys(): KeySet {
  const keys = prepared ?? freshKeys();
  prepared = undefined;
  return keys;
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
