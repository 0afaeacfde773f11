// Request bodies are scanned decoded: a gzip'd secret is still a secret. The
// output is capped so a zip bomb costs at most maxBytes; anything we cannot
// decode (zstd on Node 20, unknown codings, corrupt data) throws, and callers
// block.
import { brotliDecompressSync, gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';

export type BodyDecodeFailure = 'unsupported-encoding' | 'too-large' | 'corrupt';

export class DlpBodyDecodeError extends Error {
  override name = 'DlpBodyDecodeError';
  constructor(
    readonly reason: BodyDecodeFailure,
    message: string,
  ) {
    super(message);
  }
}

function decodeOne(buf: Buffer, coding: string, maxBytes: number): Buffer {
  const opts = { maxOutputLength: maxBytes };
  try {
    switch (coding) {
      case 'identity':
        return buf;
      case 'gzip':
      case 'x-gzip':
        return gunzipSync(buf, opts);
      case 'deflate':
        // RFC 9110 says zlib-wrapped; some clients send raw deflate anyway.
        try {
          return inflateSync(buf, opts);
        } catch (e) {
          if (isTooLarge(e)) throw e;
          return inflateRawSync(buf, opts);
        }
      case 'br':
        return brotliDecompressSync(buf, opts);
      default:
        throw new DlpBodyDecodeError('unsupported-encoding', `content-encoding "${coding}" cannot be decoded for DLP scanning (supported: gzip, deflate, br, identity); the request is blocked`);
    }
  } catch (e) {
    if (e instanceof DlpBodyDecodeError) throw e;
    if (isTooLarge(e)) throw new DlpBodyDecodeError('too-large', `decoded body exceeds the DLP scan limit of ${maxBytes} bytes; the request is blocked`);
    throw new DlpBodyDecodeError('corrupt', `body is not valid ${coding} data; the request is blocked`);
  }
}

function isTooLarge(e: unknown): boolean {
  return e instanceof RangeError || (e as { code?: unknown } | null)?.code === 'ERR_BUFFER_TOO_LARGE';
}

/**
 * Decode `buf` per its Content-Encoding header (codings applied in order, so
 * removed in reverse) with the output capped at maxBytes.
 */
export function decodeBodyForScan(buf: Buffer, contentEncoding: string | undefined, maxBytes: number): Buffer {
  const codings = (contentEncoding ?? '')
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '');
  let out = buf;
  if (out.length > maxBytes) throw new DlpBodyDecodeError('too-large', `body exceeds the DLP scan limit of ${maxBytes} bytes; the request is blocked`);
  for (const coding of codings.reverse()) out = decodeOne(out, coding, maxBytes);
  return out;
}
