// The delayed sweep after a withdrawal without erasure: deletes the objects under
// captures/{id}/ that were written from the withdrawal's instant until the employee's next grant
// (if any), and records how many in a `revoke-swept` ledger event that changes no consent.
//
// Which instant: the `revoked` event's `at`. It is taken before the key policy is written, so it
// precedes the moment KMS stops allowing capture, and the answer to the employee comes after both.
// An object is swept when its S3 LastModified is at or after `at`. For a multipart upload S3
// stamps the upload's initiation; for a single PUT it documents only "the object creation date".
// Read as the start of the upload, every upload that begins after the withdrawal returned is
// swept, however late it lands; one that began before `at` got its data key under the consent
// then in force and holds only events consented at their time (ingest judges each event's ts),
// so keeping it is what the consent rule says. Read as the completion, the sweep deletes more,
// never less. LastModified comes from the listing: the purge role needs no GetObject.
//
// LastModified has whole-second precision (S3 lists it with .000 milliseconds; the local s3rver
// gives the file's mtime as an HTTP date), so the window is taken in whole seconds: it starts at
// the second of the withdrawal (objects written up to a second before it go too, the safe side)
// and ends at the second of the next grant (objects written in that second are kept: they may
// be under the new consent). A withdrawal and a new grant within one second sweep nothing.
import type { Logger } from '@aws-lambda-powertools/logger';
import { DeleteObjectsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { RevokeSweepJob } from '../../contract/jobs.js';
import { CAPTURES_PREFIX } from '../../contract/resources.js';
import type { Alarms } from '../shared/alarm-metrics.js';
import type { ConsentEvent } from '../shared/consent-state.js';
import type { Ledger } from '../shared/ledger.js';
import type { LedgerEventReading } from '../shared/ledger-event.js';
import { appendOnTop } from '../shared/append-on-top.js';

export interface RevokeSweepDeps {
  readonly ledger: Ledger;
  readonly s3: S3Client;
  readonly capturesBucket: string;
  readonly logger: Logger;
  readonly alarms: Alarms;
  readonly now?: () => Date;
}

export type RevokeSweepOutcome =
  /** Swept and recorded. */
  | 'swept'
  /** A `revoke-swept` event for this withdrawal exists: a redelivered job deletes and records nothing. */
  | 'already-swept'
  /** The job names no `revoked` event (none at that sequence, or another kind): nothing to do. */
  | 'not-a-revoke'
  /** An erasure followed the withdrawal: the purge deletes everything. */
  | 'erased'
  /** Swept, but the newest ledger event is invalid, so no event was put on top of it (alarmed). */
  | 'swept-unrecorded';

/** What a `revoke-swept` event's details say. */
export interface RevokeSweptDetails {
  readonly revokeSequence: number;
  readonly deleted: number;
  /** The withdrawal's instant: objects written from its second on were deleted. */
  readonly since: string;
  /** The next grant's instant, when consent was given again before the sweep: objects from its second on were kept. */
  readonly until?: string;
}

export async function sweepAfterRevoke(deps: RevokeSweepDeps, job: RevokeSweepJob): Promise<RevokeSweepOutcome> {
  const { employeeId } = job;
  const asked = await withdrawalNamed(deps, employeeId, job.sequence);
  if (asked === undefined || (asked.valid && asked.event.kind !== 'revoked')) {
    deps.logger.warn('revoke-sweep job names no withdrawal; dropping it', { employeeId, sequence: job.sequence });
    return 'not-a-revoke';
  }
  if (!asked.valid) {
    // Its instant cannot be trusted, so nothing can be swept by it: the job ends in the DLQ for a human.
    deps.alarms.raise('LedgerEventInvalid');
    throw new Error(`the withdrawal event ${job.sequence} of ${employeeId} is invalid (${asked.issues.join('; ')}); not sweeping by it`);
  }
  const revoke = asked.event;
  const revokeSequence = revoke.sequence;
  const later = await laterEvents(deps, employeeId, revokeSequence);
  if (sweptAlready(later, revokeSequence)) return 'already-swept';
  if (later.some((e) => e.state.status === 'purging' || e.state.status === 'purged')) return 'erased';
  // Only a valid grant ends the window: an invalid event is never taken for one (deleting more is the safe side).
  const until = later.find((e) => e.kind === 'granted')?.at;
  const deleted = await deleteWrittenBetween(deps, `${CAPTURES_PREFIX}${employeeId}/`, wholeSecond(revoke.at), until === undefined ? undefined : wholeSecond(until));
  const details: RevokeSweptDetails = { revokeSequence, deleted, since: revoke.at, ...(until === undefined ? {} : { until }) };

  let unrecorded = false;
  const recorded = await appendOnTop(deps.ledger, employeeId, async (head) => {
    // A concurrent delivery of the same job may have recorded it meanwhile.
    if (head.sequence > revokeSequence && sweptAlready(await laterEvents(deps, employeeId, revokeSequence), revokeSequence)) return undefined;
    const newest = head.newestValid;
    if (head.invalid !== undefined || newest === undefined) {
      // Restating an older valid state on top of an invalid event could reopen capture: record nothing.
      unrecorded = true;
      return undefined;
    }
    if (newest.state.status === 'purging' || newest.state.status === 'purged') return undefined;
    const sequence = head.sequence + 1;
    const event: ConsentEvent = {
      employeeId,
      sequence,
      kind: 'revoke-swept',
      at: (deps.now?.() ?? new Date()).toISOString(),
      actor: { kind: 'service', name: 'purge-worker' },
      // The consent it found, unchanged (updatedAt included): only the sequence moves.
      state: { ...newest.state, sequence },
      details: { ...details },
    };
    return event;
  });
  if (unrecorded) {
    deps.alarms.raise('LedgerEventInvalid');
    deps.logger.error('withdrawal swept, but the newest ledger event is invalid: the sweep is not recorded', { employeeId, sequence: revokeSequence, deleted });
    return 'swept-unrecorded';
  }
  deps.logger.info('withdrawal swept', { employeeId, revokeSequence, deleted, since: details.since, until: details.until, recorded: recorded?.sequence });
  return recorded === undefined ? 'already-swept' : 'swept';
}

/**
 * The withdrawal a job names. A job queued by the consent service's repair (the revoke's own send
 * failed) names the newest event, which may restate the withdrawal: an export requested or
 * finished on top of it, or a sweep recorded, keeps status `revoked`. Walk back over such events
 * to the `revoked` event they restate, so a lost sweep job is never lost for good.
 */
async function withdrawalNamed(deps: RevokeSweepDeps, employeeId: string, sequence: number): Promise<LedgerEventReading | undefined> {
  let reading = await deps.ledger.eventAt(employeeId, sequence);
  while (reading?.valid === true && reading.event.kind !== 'revoked' && reading.event.state.status === 'revoked' && reading.event.sequence > 1) {
    reading = await deps.ledger.eventAt(employeeId, reading.event.sequence - 1);
  }
  return reading;
}

async function laterEvents(deps: RevokeSweepDeps, employeeId: string, sequence: number): Promise<ConsentEvent[]> {
  const readings = await deps.ledger.eventsAfter(employeeId, sequence);
  const invalid = readings.filter((r) => !r.valid);
  if (invalid.length > 0) {
    deps.alarms.raise('LedgerEventInvalid');
    deps.logger.error('invalid ledger events after a withdrawal; not applied', { employeeId, sequences: invalid.map((r) => (r.valid ? undefined : r.sequence)) });
  }
  return readings.flatMap((r) => (r.valid ? [r.event] : []));
}

/** The instant truncated to its second, as S3 dates objects. */
function wholeSecond(instant: string): number {
  return Math.floor(Date.parse(instant) / 1000) * 1000;
}

function sweptAlready(events: readonly ConsentEvent[], revokeSequence: number): boolean {
  return events.some((e) => e.kind === 'revoke-swept' && e.details?.['revokeSequence'] === revokeSequence);
}

/** Deletes the objects under `prefix` whose upload began in [sinceMs, untilMs); returns the count. */
async function deleteWrittenBetween(deps: RevokeSweepDeps, prefix: string, sinceMs: number, untilMs: number | undefined): Promise<number> {
  let deleted = 0;
  let token: string | undefined;
  do {
    const page = await deps.s3.send(new ListObjectsV2Command({ Bucket: deps.capturesBucket, Prefix: prefix, MaxKeys: 1000, ...(token === undefined ? {} : { ContinuationToken: token }) }));
    const keys = (page.Contents ?? []).flatMap((o) => {
      const written = o.LastModified?.getTime();
      // An object without a date is swept: the safe side for an employee who withdrew.
      const inside = written === undefined || (written >= sinceMs && (untilMs === undefined || written < untilMs));
      return inside && o.Key !== undefined ? [{ Key: o.Key }] : [];
    });
    if (keys.length > 0) {
      const result = await deps.s3.send(new DeleteObjectsCommand({ Bucket: deps.capturesBucket, Delete: { Objects: keys, Quiet: true } }));
      if (result.Errors !== undefined && result.Errors.length > 0) {
        throw new Error(`DeleteObjects failed for ${result.Errors.length} of ${keys.length} objects (first: ${result.Errors[0]?.Code ?? 'unknown'})`);
      }
      deleted += keys.length;
    }
    token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return deleted;
}
