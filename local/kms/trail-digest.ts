// Digest files for the local trail, after CloudTrail's log file integrity validation: each digest
// lists the SHA-256 of every log file that grew since the previous digest, carries the previous
// digest's hash and signature (a chain), and is signed with an Ed25519 key kept in the local KMS's
// state directory (CloudTrail signs with SHA256withRSA; Ed25519 keys are made in a millisecond,
// which matters for tests that start a stack each). tools/audit `verify` checks them.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';

/** One log file as a digest records it: its bytes from 0 to `size` hash to `hashValue`. */
export interface DigestLogFile {
  readonly logFile: string;
  readonly size: number;
  readonly hashValue: string;
  readonly hashAlgorithm: 'SHA-256';
}

/** CloudTrail's digest fields, with local paths for S3 locations. */
export interface TrailDigest {
  readonly awsAccountId: string;
  readonly awsRegion: string;
  readonly digestSequence: number;
  readonly digestStartTime: string;
  readonly digestEndTime: string;
  readonly digestFile: string;
  readonly digestPublicKeyFingerprint: string;
  readonly digestSignatureAlgorithm: 'Ed25519';
  readonly previousDigestFile: string | null;
  readonly previousDigestHashValue: string | null;
  readonly previousDigestHashAlgorithm: 'SHA-256' | null;
  readonly previousDigestSignature: string | null;
  /** True when the writer stopped after this digest: then no log byte may exist that no digest covers. */
  readonly final: boolean;
  readonly logFiles: readonly DigestLogFile[];
}

export const DIGEST_DIR = 'digest';
const PRIVATE_KEY_FILE = 'trail-digest-key.pem';
export const DIGEST_PUBLIC_KEY_FILE = 'trail-digest-key.pub.pem';
/**
 * The newest digest's name, sequence and hash, kept beside the signing key rather than in the trail:
 * a chain proves nothing about its own end, so deleting the newest digests (or all of them) and
 * rewriting what they covered read as "pending", and `verify` passed. It trusts this directory for
 * the key already; an anchor out of the writer's reach is what AWS gives CloudTrail.
 */
export const DIGEST_HEAD_FILE = 'trail-digest-head.json';

export interface DigestHead {
  readonly digestFile: string;
  readonly digestSequence: number;
  readonly hashValue: string;
}

export function digestFileName(account: string, region: string, sequence: number, endTime: string): string {
  const stamp = endTime.replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
  return `${account}_CloudTrail-Digest_${region}_${String(sequence).padStart(8, '0')}_${stamp}.json`;
}

/** CloudTrail's string to sign: end time, the digest's location, the digest's SHA-256, the previous signature. */
export function digestSigningString(digest: TrailDigest, digestBytes: Buffer): string {
  return [digest.digestEndTime, `${DIGEST_DIR}/${digest.digestFile}`, sha256(digestBytes), digest.previousDigestSignature ?? 'null'].join('\n');
}

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function publicKeyFingerprint(key: KeyObject): string {
  return createHash('md5').update(key.export({ type: 'spki', format: 'der' })).digest('hex');
}

export function verifyDigestSignature(publicKey: KeyObject, digest: TrailDigest, digestBytes: Buffer, signatureHex: string): boolean {
  return verify(null, Buffer.from(digestSigningString(digest, digestBytes)), publicKey, Buffer.from(signatureHex, 'hex'));
}

export function loadDigestPublicKey(stateDir: string): KeyObject {
  return createPublicKey(readFileSync(join(stateDir, DIGEST_PUBLIC_KEY_FILE)));
}

/** Writes the digests of one trail directory; remembers what the last digest covered. */
export class TrailDigester {
  private signingKey: { privateKey: KeyObject; fingerprint: string } | undefined;
  private readonly digestDir: string;
  private previous: { digest: TrailDigest; bytes: Buffer; signature: string } | undefined;
  private readonly covered = new Map<string, number>();

  constructor(
    private readonly trailDir: string,
    private readonly keyDir: string,
    private readonly account: string,
    private readonly region: string,
  ) {
    this.digestDir = join(trailDir, DIGEST_DIR);
    // A restart continues the chain where the last run left it. The directory is made by the first
    // digest, so a trail directory holds only log files until then.
    for (const name of (existsSync(this.digestDir) ? readdirSync(this.digestDir) : []).filter((n) => n.endsWith('.json')).sort()) {
      const bytes = readFileSync(join(this.digestDir, name));
      const digest = JSON.parse(bytes.toString('utf8')) as TrailDigest;
      for (const f of digest.logFiles) this.covered.set(f.logFile, f.size);
      this.previous = { digest, bytes, signature: readFileSync(join(this.digestDir, `${name}.sig`), 'utf8').trim() };
    }
  }

  /** The end of the newest digest: records after it are not covered yet. */
  get lastEndTime(): string | undefined {
    return this.previous?.digest.digestEndTime;
  }

  get lastWasFinal(): boolean {
    return this.previous?.digest.final === true;
  }

  /** Writes a digest of every log file that grew since the previous one; `final` when the writer stops. */
  write(endTime: Date, final: boolean): void {
    if (this.signingKey === undefined) {
      const privateKey = loadOrCreateKey(this.keyDir);
      this.signingKey = { privateKey, fingerprint: publicKeyFingerprint(createPublicKey(privateKey)) };
    }
    const { privateKey, fingerprint } = this.signingKey;
    mkdirSync(this.digestDir, { recursive: true });
    const logFiles: DigestLogFile[] = [];
    for (const name of readdirSync(this.trailDir).filter((n) => n.endsWith('.jsonl')).sort()) {
      const size = statSync(join(this.trailDir, name)).size;
      if (this.covered.get(name) === size) continue;
      logFiles.push({ logFile: name, size, hashValue: sha256(readFileSync(join(this.trailDir, name)).subarray(0, size)), hashAlgorithm: 'SHA-256' });
      this.covered.set(name, size);
    }
    const sequence = (this.previous?.digest.digestSequence ?? 0) + 1;
    const end = endTime.toISOString().replace(/\.\d{3}Z$/, 'Z');
    const digest: TrailDigest = {
      awsAccountId: this.account,
      awsRegion: this.region,
      digestSequence: sequence,
      digestStartTime: this.previous?.digest.digestEndTime ?? end,
      digestEndTime: end,
      digestFile: digestFileName(this.account, this.region, sequence, end),
      digestPublicKeyFingerprint: fingerprint,
      digestSignatureAlgorithm: 'Ed25519',
      previousDigestFile: this.previous?.digest.digestFile ?? null,
      previousDigestHashValue: this.previous === undefined ? null : sha256(this.previous.bytes),
      previousDigestHashAlgorithm: this.previous === undefined ? null : 'SHA-256',
      previousDigestSignature: this.previous?.signature ?? null,
      final,
      logFiles,
    };
    const bytes = Buffer.from(`${JSON.stringify(digest, null, 2)}\n`);
    const signature = sign(null, Buffer.from(digestSigningString(digest, bytes)), privateKey).toString('hex');
    // The signature first: a digest without its signature would read as tampered with.
    writeAtomically(join(this.digestDir, `${digest.digestFile}.sig`), `${signature}\n`);
    writeAtomically(join(this.digestDir, digest.digestFile), bytes);
    const head: DigestHead = { digestFile: digest.digestFile, digestSequence: sequence, hashValue: sha256(bytes) };
    writeAtomically(join(this.keyDir, DIGEST_HEAD_FILE), `${JSON.stringify(head)}\n`);
    this.previous = { digest, bytes, signature };
  }
}

function loadOrCreateKey(keyDir: string): KeyObject {
  const file = join(keyDir, PRIVATE_KEY_FILE);
  if (existsSync(file)) return createPrivateKey(readFileSync(file));
  mkdirSync(keyDir, { recursive: true, mode: 0o700 });
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  writeFileSync(join(keyDir, DIGEST_PUBLIC_KEY_FILE), publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  return privateKey;
}

function writeAtomically(file: string, content: string | Buffer): void {
  writeFileSync(`${file}.tmp`, content);
  renameSync(`${file}.tmp`, file);
}
