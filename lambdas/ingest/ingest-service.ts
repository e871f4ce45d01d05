// Stores a capture batch: claim it (idempotency), read the newest consent event once (validated),
// keep only the events whose `ts` falls in a consent window of their scope, check that the
// employee's alias names the key the ledger records, redact, then for each scope ask KMS for a
// fresh data key and store ciphertext. Consent is judged at both instants: the ledger at event
// time, KMS at upload time (a scope whose GenerateDataKey is denied is refused).
import type { Logger } from '@aws-lambda-powertools/logger';
import type { KeyringNode } from '@aws-crypto/material-management-node';
import { DescribeKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Alarms } from '../shared/alarm-metrics.js';
import { SCOPE_OF_EVENT_KIND, type Scope } from '../shared/consent-model.js';
import { effectiveState, initialState, type ConsentEvent, type ConsentState } from '../shared/consent-state.js';
import { isInside, windowSpans, windowsOf, type WindowSpans } from '../shared/consent-windows.js';
import { ApiError, ConsentStateUnavailableError, isAwsError } from '../shared/errors.js';
import { aliasOf } from '../shared/key-steward.js';
import { InvalidLedgerEventError, type Ledger } from '../shared/ledger.js';
import { decodeSealed, legacyDescriptionOf, sealedSpans } from '../shared/sealed-windows.js';
import { batchDigest, type BatchClaims, type BatchResult, type RefusalReason, type ScopeRefusal } from './batch-claims.js';
import { redactEvents } from './redaction.js';
import { groupByScope, type CaptureBatch, type CaptureEvent } from './schemas.js';
import { objectKey, OBJECT_CONTENT_TYPE, seal, serialise } from './sealing.js';
import { DEVICE_ID_METADATA, EVENTS_FROM_METADATA, EVENTS_TO_METADATA } from '../../contract/resources.js';
import { applyExclusions, NO_EXCLUSIONS } from '../../contract/exclusions.js';

export type { RefusalReason, ScopeRefusal } from './batch-claims.js';

export type IngestOutcome =
  | { readonly kind: 'stored'; readonly result: BatchResult }
  | { readonly kind: 'refused'; readonly result: BatchResult }
  | { readonly kind: 'duplicate' };

export class BatchInProgressError extends ApiError {
  override readonly name = 'BatchInProgressError';
  readonly status = 409;
  readonly code = 'batch-in-progress';
  override readonly retryAfterSeconds = 2;
}

/**
 * The batchId was already used for a different body (as Powertools' IdempotencyValidationError).
 * Not retryable: the same request will always be refused, and answering `duplicate` would lose it.
 */
export class BatchIdReusedError extends ApiError {
  override readonly name = 'BatchIdReusedError';
  readonly status = 409;
  readonly code = 'batch-id-reused';
}

export interface IngestDeps {
  readonly ledger: Ledger;
  readonly claims: BatchClaims;
  readonly s3: S3Client;
  readonly bucket: string;
  /** A KMS keyring whose generator is `keyArn` (the employee's key), signing as the ingest role. */
  readonly keyringFor: (keyArn: string) => KeyringNode;
  /** KMS as the ingest role, to resolve the employee's alias. */
  readonly kms: KMSClient;
  readonly logger: Logger;
  readonly alarms: Alarms;
  readonly now?: () => Date;
}

/** KMS refused the data key: the key policy does not allow this capture now. */
export function isAccessDenied(error: unknown): boolean {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if (isAwsError(e, 'AccessDeniedException', 'DisabledException', 'KMSInvalidStateException', 'NotFoundException')) return true;
  }
  return false;
}

function refusalFor(state: ConsentState, scope: Scope): RefusalReason | undefined {
  if (state.status === 'paused') return 'paused';
  if (state.status !== 'active') return 'consent-not-active';
  return state.scopes.includes(scope) ? undefined : 'scope-not-consented';
}

export class IngestService {
  private readonly now: () => Date;

  constructor(private readonly deps: IngestDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  async ingest(employeeId: string, batch: CaptureBatch): Promise<IngestOutcome> {
    const { claims } = this.deps;
    const claim = await claims.claim(employeeId, batch.batchId, batchDigest(batch), this.now());
    if (claim.outcome === 'mismatch') {
      throw new BatchIdReusedError('this batchId was already used for a different batch; send this batch again with a new batchId');
    }
    if (claim.outcome === 'done') return { kind: 'duplicate' };
    if (claim.outcome === 'in-progress') throw new BatchInProgressError('this batch is being stored by another request; retry with the same batchId');
    try {
      const result = await this.store(employeeId, batch);
      // Nothing stored and something refused for now (a pause, a missing scope, KMS): let a later
      // retry (after a resume, say) be judged afresh. Events outside consent are refused for good,
      // so a batch of only those is a final 202 with `stored: {}`, like one of only secure fields.
      if (Object.keys(result.stored).length === 0 && Object.values(result.refused).some((reason) => typeof reason === 'string')) {
        await claims.release(employeeId, batch.batchId);
        return { kind: 'refused', result };
      }
      await claims.complete(employeeId, batch.batchId, result);
      return { kind: 'stored', result };
    } catch (error) {
      await claims.release(employeeId, batch.batchId).catch((releaseError: unknown) => {
        // The lease lapses by itself; the original error is the one to report.
        this.deps.logger.warn('could not release a batch claim', { employeeId, batchId: batch.batchId, cause: (releaseError as Error).name });
      });
      throw error;
    }
  }

  /** The newest event, validated; an invalid one fails closed (503) and is alarmed. */
  private async latestEvent(employeeId: string): Promise<ConsentEvent | undefined> {
    try {
      return await this.deps.ledger.latestEvent(employeeId);
    } catch (error) {
      if (!(error instanceof InvalidLedgerEventError)) throw error;
      this.deps.alarms.raise('LedgerEventInvalid');
      this.deps.logger.error('invalid ledger event; refusing to store', { employeeId, sequence: error.sequence, issues: error.issues });
      throw new ConsentStateUnavailableError('the consent record cannot be read; nothing was stored. Keep the batch and retry later.');
    }
  }

  /**
   * The key the ledger records, once the alias is seen to name it. The ledger is a table and the
   * alias a KMS object, each writable by someone else: only when both agree is the key the one
   * the employee's consent made. Otherwise refuse (503, alarmed): a ledger writer or an alias
   * mover can make ingest refuse, never pick the key.
   * The same answer carries the key's sealed windows (its description, which only the key steward
   * writes): the past as the steward applied it, which a ledger writer cannot widen. A description
   * that is not a seal seals nothing, so every event is outside consent (fail closed), except the
   * description an earlier version gave its keys (`sealed` undefined: the ledger's windows alone
   * decide until the steward's next write seals them).
   */
  private async verifiedKey(employeeId: string, recorded: string | undefined): Promise<{ keyArn: string; sealed: WindowSpans | undefined }> {
    let resolved: string | undefined;
    let description: string | undefined;
    try {
      const metadata = (await this.deps.kms.send(new DescribeKeyCommand({ KeyId: aliasOf(employeeId) }))).KeyMetadata;
      resolved = metadata?.Arn;
      description = metadata?.Description;
    } catch (error) {
      // No alias, or one naming a key whose policy does not let ingest describe it: not ours.
      if (!isAwsError(error, 'NotFoundException', 'AccessDeniedException')) throw error;
    }
    if (recorded !== undefined && resolved === recorded) {
      return { keyArn: recorded, sealed: description === legacyDescriptionOf(employeeId) ? undefined : sealedSpans(decodeSealed(description)) };
    }
    this.deps.alarms.raise('KeyMismatch');
    this.deps.logger.error('the employee alias does not name the key the ledger records; refusing to store', { employeeId, aliasResolved: resolved !== undefined, ledgerHasKey: recorded !== undefined });
    throw new ConsentStateUnavailableError('the consent record and the key do not agree; nothing was stored. Keep the batch and retry later.');
  }

  private async store(employeeId: string, batch: CaptureBatch): Promise<BatchResult> {
    const latest = await this.latestEvent(employeeId);
    const recorded = latest?.state ?? initialState(employeeId, this.now().toISOString());
    const state = effectiveState(recorded, this.now());
    const windows = windowSpans(windowsOf(recorded));
    // The employee's exclusions again, as the agent should have applied them: excluded events are
    // dropped before anything else looks at them, and only counted.
    const { kept, excluded } = applyExclusions(batch.events, recorded.exclusions ?? NO_EXCLUSIONS);
    const wanted = new Set(kept.map((e) => SCOPE_OF_EVENT_KIND[e.kind]));
    const verified = [...wanted].some((scope) => refusalFor(state, scope) === undefined) ? await this.verifiedKey(employeeId, state.keyArn) : undefined;
    const keyArn = verified?.keyArn;
    const stored: Record<string, number> = {};
    const refused: Record<string, ScopeRefusal> = {};
    let redactions = 0;
    // allSettled, not all: on a fault the function must not answer while its own writes are still
    // in flight. A scope stored before a fault is overwritten by the retry (same object key).
    const settled = await Promise.allSettled(
      [...groupByScope(kept)].map(async ([scope, received]) => {
        const reason = refusalFor(state, scope);
        if (reason !== undefined) {
          refused[scope] = reason;
          return;
        }
        // Judged before redaction, so nothing of a dropped event is even looked at again. Inside the
        // ledger's windows and the key's sealed ones: a ledger writer can narrow, never widen, the past.
        const sealed = verified === undefined ? undefined : (verified.sealed ?? windows);
        const inside = received.filter((event) => isInside(windows, scope, event.ts) && sealed !== undefined && isInside(sealed, scope, event.ts));
        if (inside.length < received.length) refused[scope] = { outsideConsent: received.length - inside.length };
        const redaction = redactEvents(inside);
        redactions += redaction.redactions;
        if (redaction.events.length === 0) return;
        if (keyArn === undefined) throw new Error('a permitted scope without a verified key');
        if (await this.storeScope(employeeId, scope, batch, redaction.events, keyArn)) stored[scope] = redaction.events.length;
        else refused[scope] = 'consent-not-active';
      }),
    );
    const failure = settled.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    if (failure) throw failure.reason;
    this.deps.logger.info('batch processed', {
      employeeId,
      batchId: batch.batchId,
      events: batch.events.length,
      stored,
      refused,
      redacted: redactions,
      excluded,
    });
    return { stored, refused, redacted: redactions, ...(excluded > 0 ? { excluded } : {}) };
  }

  /** False when KMS refuses the data key. */
  private async storeScope(employeeId: string, scope: Scope, batch: Pick<CaptureBatch, 'batchId' | 'deviceId'>, events: readonly CaptureEvent[], keyArn: string): Promise<boolean> {
    const { batchId } = batch;
    let ciphertext: Buffer;
    try {
      ciphertext = await seal(this.deps.keyringFor(keyArn), serialise(events), { employeeId, scope, batchId });
    } catch (error) {
      if (isAccessDenied(error)) return false;
      throw error;
    }
    await this.deps.s3.send(
      new PutObjectCommand({
        Bucket: this.deps.bucket,
        Key: objectKey(employeeId, scope, batchId, events),
        Body: ciphertext,
        ContentType: OBJECT_CONTENT_TYPE,
        // The device id (pseudonymous) rides in the metadata: the key policy pins the encryption
        // context to employeeId, scope and batchId, and the events themselves carry no device.
        // Exports read it back (docs/export-format.md).
        // The time range lets a dataset judge the object against consent windows without opening it.
        Metadata: {
          format: 'jsonl+gzip',
          events: String(events.length),
          [DEVICE_ID_METADATA]: batch.deviceId,
          [EVENTS_FROM_METADATA]: String(Math.min(...events.map((e) => e.ts))),
          [EVENTS_TO_METADATA]: String(Math.max(...events.map((e) => e.ts))),
        },
      }),
    );
    return true;
  }
}
