// The local KMS's ciphertext blob: AES-256-GCM under one key-material version, with the key's
// ARN and the canonical encryption context as associated data. A blob therefore decrypts only
// under its own key and with exactly the context it was made with.
//
// Layout: version(1) | keyId(16, uuid bytes) | materialVersion(2, BE) | iv(12) | ciphertext | tag(16)
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const FORMAT_VERSION = 1;
const HEADER_LENGTH = 1 + 16 + 2 + 12;
const TAG_LENGTH = 16;

export interface ParsedBlob {
  readonly keyId: string;
  readonly materialVersion: number;
  readonly iv: Buffer;
  readonly ciphertext: Buffer;
  readonly tag: Buffer;
}

/** Sorted by key and unambiguous, so {a:1,b:2} and {b:2,a:1} bind identically. */
export function canonicalContext(context: Readonly<Record<string, string>> | undefined): string {
  const entries = Object.entries(context ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify(entries);
}

function aad(keyArn: string, context: Readonly<Record<string, string>> | undefined): Buffer {
  return Buffer.from(`consent-capture-local-kms/v1\n${keyArn}\n${canonicalContext(context)}`, 'utf8');
}

function uuidToBytes(uuid: string): Buffer {
  return Buffer.from(uuid.replace(/-/g, ''), 'hex');
}

function bytesToUuid(bytes: Buffer): string {
  const h = bytes.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function seal(
  key: { keyId: string; arn: string },
  material: Buffer,
  materialVersion: number,
  plaintext: Uint8Array,
  context: Readonly<Record<string, string>> | undefined,
): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', material, iv);
  cipher.setAAD(aad(key.arn, context));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const header = Buffer.alloc(HEADER_LENGTH);
  header.writeUInt8(FORMAT_VERSION, 0);
  uuidToBytes(key.keyId).copy(header, 1);
  header.writeUInt16BE(materialVersion, 17);
  iv.copy(header, 19);
  return Buffer.concat([header, body, cipher.getAuthTag()]);
}

/** Undefined when the bytes are not a blob of ours at all. */
export function parseBlob(blob: Buffer): ParsedBlob | undefined {
  if (blob.length < HEADER_LENGTH + TAG_LENGTH || blob.readUInt8(0) !== FORMAT_VERSION) return undefined;
  return {
    keyId: bytesToUuid(blob.subarray(1, 17)),
    materialVersion: blob.readUInt16BE(17),
    iv: blob.subarray(19, HEADER_LENGTH),
    ciphertext: blob.subarray(HEADER_LENGTH, blob.length - TAG_LENGTH),
    tag: blob.subarray(blob.length - TAG_LENGTH),
  };
}

/** Undefined when authentication fails: wrong key, wrong context or tampered bytes. */
export function open(
  keyArn: string,
  material: Buffer,
  parsed: ParsedBlob,
  context: Readonly<Record<string, string>> | undefined,
): Buffer | undefined {
  try {
    const decipher = createDecipheriv('aes-256-gcm', material, parsed.iv);
    decipher.setAAD(aad(keyArn, context));
    decipher.setAuthTag(parsed.tag);
    return Buffer.concat([decipher.update(parsed.ciphertext), decipher.final()]);
  } catch {
    // GCM reports any mismatch as one opaque failure; the caller maps it to InvalidCiphertextException.
    return undefined;
  }
}
