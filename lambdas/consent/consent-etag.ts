// The entity tag of GET /v1/consent and the If-None-Match test, so agents that poll every minute
// get a 304 without a body while nothing changed. The tag hashes the answer itself (not just the
// ledger sequence), because a pause that lapses changes the answer without a new event.
import { createHash } from 'node:crypto';

/** A strong tag: the answer's JSON, hashed (SHA-256, 128 bits shown). */
export function consentStateEtag(body: unknown): string {
  return `"${createHash('sha256').update(JSON.stringify(body), 'utf8').digest('base64url').slice(0, 22)}"`;
}

/** RFC 9110 §13.1.2: weak comparison, a list of tags, or `*`. Anything malformed never matches. */
export function notModified(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined || ifNoneMatch.length > 4096) return false;
  if (ifNoneMatch.trim() === '*') return true;
  const opaque = etag.replace(/^W\//, '');
  return ifNoneMatch.split(',').some((candidate) => candidate.trim().replace(/^W\//, '') === opaque);
}
