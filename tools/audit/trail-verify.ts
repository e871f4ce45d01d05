// `audit verify`: checks the local trail's digest chain (local/kms/trail-digest.ts) and every log
// file against it, the way `aws cloudtrail validate-logs` does in AWS, and names what was changed,
// removed or added.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import {
  DIGEST_DIR,
  DIGEST_HEAD_FILE,
  type DigestHead,
  loadDigestPublicKey,
  publicKeyFingerprint,
  sha256,
  verifyDigestSignature,
  type DigestLogFile,
  type TrailDigest,
} from '../../local/kms/trail-digest.js';

export type TrailProblemKind = 'changed' | 'removed' | 'added';

export interface TrailProblem {
  readonly kind: TrailProblemKind;
  /** `digest/<name>` for a digest file, the bare name for a log file. */
  readonly file: string;
  readonly reason: string;
}

export interface TrailVerification {
  readonly digests: number;
  readonly logFiles: number;
  /** Log files (or their tails) written after the newest digest, while the writer runs: not covered yet. */
  readonly pending: readonly string[];
  /** In file order; the first is the first file that was tampered with. */
  readonly problems: readonly TrailProblem[];
}

/** Verifies `trailDir` against digests signed by the key in `stateDir`. Never throws for a bad trail: it reports. */
export function verifyTrail(trailDir: string, stateDir: string): TrailVerification {
  const publicKey = loadDigestPublicKey(stateDir);
  const problems: TrailProblem[] = [];
  const digestDir = join(trailDir, DIGEST_DIR);
  const names = existsSync(digestDir) ? readdirSync(digestDir).filter((n) => n.endsWith('.json')).sort() : [];
  const chain = readChain(digestDir, names, publicKey, problems);
  checkHead(digestDir, names, stateDir, problems);

  // The newest entry per log file: every byte up to its size must hash as digested.
  const covered = new Map<string, DigestLogFile>();
  for (const digest of chain) for (const f of digest.logFiles) covered.set(f.logFile, f);
  const onDisk = readdirSync(trailDir).filter((n) => n.endsWith('.jsonl')).sort();
  const last = chain.at(-1);
  const final = last?.final === true;
  const newestCovered = [...covered.keys()].sort().at(-1);
  const pending: string[] = [];
  for (const [name, entry] of [...covered.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const path = join(trailDir, name);
    if (!existsSync(path)) {
      problems.push({ kind: 'removed', file: name, reason: `listed in a digest with ${entry.size} bytes, but missing` });
      continue;
    }
    const bytes = readFileSync(path);
    if (bytes.length < entry.size || sha256(bytes.subarray(0, entry.size)) !== entry.hashValue) {
      problems.push({ kind: 'changed', file: name, reason: `its first ${entry.size} bytes no longer hash as digested` });
    } else if (bytes.length > entry.size) {
      if (final) problems.push({ kind: 'changed', file: name, reason: `${bytes.length - entry.size} bytes appended after the final digest` });
      else pending.push(name);
    }
  }
  for (const name of onDisk) {
    if (covered.has(name)) continue;
    // Only the writer's newest file may be missing from the digests, and only while it runs.
    const live = !final && (newestCovered === undefined || name > newestCovered) && name === onDisk.at(-1);
    if (live) pending.push(name);
    else problems.push({ kind: 'added', file: name, reason: final ? 'no digest lists it, and the trail was closed by a final digest' : 'no digest lists it, and it is not the newest file' });
  }
  problems.sort((a, b) => order(a).localeCompare(order(b)));
  return { digests: chain.length, logFiles: onDisk.length, pending, problems };
}

/** The chain must end at the digest the writer last recorded beside its key (trail-digest.ts DIGEST_HEAD_FILE). */
function checkHead(digestDir: string, names: readonly string[], stateDir: string, problems: TrailProblem[]): void {
  const path = join(stateDir, DIGEST_HEAD_FILE);
  // A state directory from before the head was kept: nothing to compare with.
  if (!existsSync(path)) return;
  let head: DigestHead;
  try {
    head = JSON.parse(readFileSync(path, 'utf8')) as DigestHead;
  } catch {
    problems.push({ kind: 'changed', file: `${DIGEST_DIR}/(head)`, reason: `the record of the newest digest (${DIGEST_HEAD_FILE}) is not valid JSON` });
    return;
  }
  const at = names.indexOf(head.digestFile);
  if (at === -1) {
    problems.push({ kind: 'removed', file: `${DIGEST_DIR}/${head.digestFile}`, reason: `the writer's record names it as the newest digest (sequence ${head.digestSequence}), but it is missing` });
    return;
  }
  if (sha256(readFileSync(join(digestDir, head.digestFile))) !== head.hashValue) {
    problems.push({ kind: 'changed', file: `${DIGEST_DIR}/${head.digestFile}`, reason: "it no longer hashes as the writer's record of the newest digest" });
  }
  for (const name of names.slice(at + 1)) problems.push({ kind: 'added', file: `${DIGEST_DIR}/${name}`, reason: `it follows the newest digest the writer recorded (${head.digestFile})` });
}

function order(problem: TrailProblem): string {
  // Digest problems first (they put everything after them in doubt), then log files by name (= time).
  return `${problem.file.startsWith(`${DIGEST_DIR}/`) ? '0' : '1'}${problem.file}`;
}

/** The digests, oldest first, each checked against its signature and its predecessor. */
function readChain(digestDir: string, names: readonly string[], publicKey: KeyObject, problems: TrailProblem[]): TrailDigest[] {
  const fingerprint = publicKeyFingerprint(publicKey);
  const chain: TrailDigest[] = [];
  let previous: { digest: TrailDigest; bytes: Buffer; signature: string } | undefined;
  for (const name of names) {
    const file = `${DIGEST_DIR}/${name}`;
    const bytes = readFileSync(join(digestDir, name));
    const sigPath = join(digestDir, `${name}.sig`);
    let digest: TrailDigest;
    try {
      digest = JSON.parse(bytes.toString('utf8')) as TrailDigest;
    } catch {
      problems.push({ kind: 'changed', file, reason: 'not valid JSON' });
      continue;
    }
    const signature = existsSync(sigPath) ? readFileSync(sigPath, 'utf8').trim() : '';
    if (digest.digestFile !== name || digest.digestPublicKeyFingerprint !== fingerprint || !verifyDigestSignature(publicKey, digest, bytes, signature)) {
      problems.push({ kind: 'changed', file, reason: 'its signature does not verify with the trail key' });
    }
    const expectedSequence = (previous?.digest.digestSequence ?? 0) + 1;
    if (digest.digestSequence > expectedSequence) {
      problems.push({ kind: 'removed', file: `${DIGEST_DIR}/(sequence ${expectedSequence}${digest.digestSequence - 1 > expectedSequence ? `-${digest.digestSequence - 1}` : ''})`, reason: `digest ${name} follows sequence ${expectedSequence - 1}` });
    } else if (previous !== undefined && (digest.previousDigestFile !== previous.digest.digestFile || digest.previousDigestHashValue !== sha256(previous.bytes) || digest.previousDigestSignature !== previous.signature)) {
      problems.push({ kind: 'changed', file: `${DIGEST_DIR}/${previous.digest.digestFile}`, reason: `the next digest (${name}) holds another hash or signature for it` });
    } else if (previous === undefined && digest.previousDigestFile !== null) {
      problems.push({ kind: 'removed', file: `${DIGEST_DIR}/${digest.previousDigestFile}`, reason: `the first digest on disk (${name}) names it as its predecessor` });
    }
    chain.push(digest);
    previous = { digest, bytes, signature };
  }
  return chain;
}
