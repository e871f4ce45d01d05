// Idempotency of POST /v1/events: each (employee, batchId) is claimed with a conditional write
// before anything is stored. A claim is a lease: if its holder dies, it lapses and a retry
// takes over; once the batch is stored the claim records the result for later duplicates.
// The claim holds a SHA-256 of the batch, so a batchId reused for another body is refused
// instead of being answered as a duplicate (its events would be lost).
import { createHash } from 'node:crypto';
import { BATCH_CLAIM_TTL_SECONDS } from '../../contract/key-usage.js';
import { isAwsError } from '../shared/errors.js';
import type { CaptureBatch } from './schemas.js';
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** Longer than the ingest function's timeout, so a live holder never loses its lease. */
export const LEASE_MS = 60_000;
/**
 * Stored results outlive the 7-day `ts` window, after which a replay is refused anyway. The consent
 * function reads the claim time back from `expiresAt` (GET /v1/consent/last-capture).
 */
const RESULT_TTL_SECONDS = BATCH_CLAIM_TTL_SECONDS;

/** Why a whole scope is refused at upload time: the consent now, or KMS. A retry may succeed later. */
export type RefusalReason = 'consent-not-active' | 'paused' | 'scope-not-consented';
/** A whole-scope refusal, or how many of the scope's events fell outside every consent window (refused for good). */
export type ScopeRefusal = RefusalReason | { readonly outsideConsent: number };

export interface BatchResult {
  readonly stored: Readonly<Record<string, number>>;
  readonly refused: Readonly<Record<string, ScopeRefusal>>;
  readonly redacted: number;
  /** Events the employee's exclusions dropped; absent when none. */
  readonly excluded?: number;
}

export type Claim =
  | { readonly outcome: 'claimed' }
  | { readonly outcome: 'done'; readonly result: BatchResult }
  | { readonly outcome: 'in-progress' }
  /** The batchId is claimed for a different body. */
  | { readonly outcome: 'mismatch' };

/** JSON with object keys sorted, so the digest does not depend on the order the agent wrote them in. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * SHA-256 (hex) of what the agent sent, as parsed: deviceId and events in order. Timestamps are
 * compared as instants (an ISO string and its epoch milliseconds are the same event), key order
 * and whitespace do not count; any other difference does, except in secure-field keystrokes.
 * Those are dropped unread and never stored, so they are left out of the digest too: an unkeyed
 * digest of a password would let whoever reads the claims table confirm guesses of it offline.
 * (Typed text that is stored can still be confirmed by a guess of the whole batch; a digest keyed
 * by a KMS HMAC key only ingest may use would close that too.)
 */
export function batchDigest(batch: Pick<CaptureBatch, 'deviceId' | 'events'>): string {
  const kept = batch.events.filter((event) => !(event.kind === 'keystroke' && event.secureField === true));
  return createHash('sha256').update(canonicalJson({ deviceId: batch.deviceId, events: kept }), 'utf8').digest('hex');
}

function isConditionFailure(error: unknown): boolean {
  return isAwsError(error, 'ConditionalCheckFailedException');
}

export class BatchClaims {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /** Claims the batch unless it is done or leased by a live request. */
  async claim(employeeId: string, batchId: string, bodySha256: string, now: Date, attempt = 1): Promise<Claim> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.table,
          Item: { pk: employeeId, sk: batchId, status: 'in-progress', bodySha256, leaseUntil: now.getTime() + LEASE_MS, expiresAt: Math.floor(now.getTime() / 1000) + RESULT_TTL_SECONDS },
          ConditionExpression: 'attribute_not_exists(sk) OR (#status = :inProgress AND leaseUntil < :now)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':inProgress': 'in-progress', ':now': now.getTime() },
        }),
      );
      return { outcome: 'claimed' };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    // Read the claim that won (ReturnValuesOnConditionCheckFailure would save this read, but
    // local DynamoDB does not implement it).
    const existing = (await this.db.send(new GetCommand({ TableName: this.table, Key: { pk: employeeId, sk: batchId }, ConsistentRead: true }))).Item;
    // A claim written before digests existed has none: it is taken to match (as before).
    const recorded = existing?.['bodySha256'];
    if (typeof recorded === 'string' && recorded !== bodySha256) return { outcome: 'mismatch' };
    if (existing?.['status'] === 'done') return { outcome: 'done', result: existing['result'] as BatchResult };
    // Released between our write and our read: try once more, then let the agent retry.
    if (existing === undefined && attempt < 2) return this.claim(employeeId, batchId, bodySha256, now, attempt + 1);
    return { outcome: 'in-progress' };
  }

  async complete(employeeId: string, batchId: string, result: BatchResult): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: employeeId, sk: batchId },
        UpdateExpression: 'SET #status = :done, #result = :result REMOVE leaseUntil',
        ExpressionAttributeNames: { '#status': 'status', '#result': 'result' },
        ExpressionAttributeValues: { ':done': 'done', ':result': result },
      }),
    );
  }

  /** Gives the batch up, so the agent's retry is judged afresh (after a fault, or when nothing was stored). */
  async release(employeeId: string, batchId: string): Promise<void> {
    await this.db.send(
      new DeleteCommand({
        TableName: this.table,
        Key: { pk: employeeId, sk: batchId },
        ConditionExpression: '#status = :inProgress',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':inProgress': 'in-progress' },
      }),
    ).catch((error: unknown) => {
      if (!isConditionFailure(error)) throw error;
    });
  }
}
