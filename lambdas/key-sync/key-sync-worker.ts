// What the key-sync worker does with a batch of jobs: sync each employee's key policy once, back
// off inside the invocation when KMS throttles, and when KMS is still throttling, queue the job
// again with a delay instead of failing it, so a storm delays a job but never dead-letters it.
import type { Logger } from '@aws-lambda-powertools/logger';
import { processPartialResponse } from '@aws-lambda-powertools/batch';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { keySyncQueueJobSchema } from '../../contract/export-expiry.js';
import type { KeySyncJob } from '../../contract/jobs.js';
import { asDependencyError } from '../shared/errors.js';
import { jsonOrUndefined, MalformedJobError, newProcessor } from '../shared/jobs.js';
import type { KeyPolicySync } from '../shared/key-policy-sync.js';

export interface KeySyncWorkerDeps {
  readonly sync: Pick<KeyPolicySync, 'syncNewest'>;
  readonly sqs: SQSClient;
  /** The key-sync queue itself: a throttled job goes back to it. */
  readonly queueUrl: string;
  readonly logger: Logger;
  /** Syncs of one job per invocation while KMS throttles (each already has the SDK's own retries). @default 3 */
  readonly attemptsPerInvocation?: number;
  /** Wait before in-invocation attempt n+1. @default 1 s doubling, with full jitter */
  readonly backoffMs?: (attempt: number) => number;
  /** DelaySeconds of the job's n-th deferral (1-based). @default 30 s doubling, at most SQS's 900 */
  readonly deferSeconds?: (deferral: number) => number;
  readonly sleep?: (ms: number) => Promise<void>;
  /**
   * The hourly export sweep (export-expiry.ts), for the `expire-exports` job EventBridge Scheduler
   * queues here; it stops starting employees once `timeLeftMs()` is spent, and then fails (the job
   * is retried, and goes on where it stopped). @default - none: such a job fails, and the queue dead-letters it
   */
  readonly expireExports?: (timeLeftMs: () => number) => Promise<unknown>;
  /**
   * A sweep job this soon after a sweep that succeeded in this instance is done without sweeping:
   * whoever may queue jobs here (the consent, policy-watch and steward roles) could otherwise make
   * every one of thousands of jobs scan the export table and list grants. Shorter than the hour
   * between scheduled sweeps. @default 15 minutes
   */
  readonly sweepAtMostEveryMs?: number;
}

/** Time kept back for the sync itself and the re-queue, so a backoff never runs into the timeout. */
const RESERVE_MS = 15_000;

const defaultBackoff = (attempt: number): number => Math.random() * 1_000 * 2 ** (attempt - 1);
const defaultDefer = (deferral: number): number => Math.min(900, 30 * 2 ** (deferral - 1));
const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const isSweep = (record: SQSRecord): boolean => (jsonOrUndefined(record.body) as { kind?: unknown } | undefined)?.kind === 'expire-exports';

function isThrottling(error: unknown): boolean {
  return asDependencyError(error, 'KMS')?.code === 'dependency-throttled';
}

export function createKeySyncHandler(deps: KeySyncWorkerDeps): (event: SQSEvent, context: Context) => Promise<SQSBatchResponse> {
  const attempts = deps.attemptsPerInvocation ?? 3;
  const backoffMs = deps.backoffMs ?? defaultBackoff;
  const deferSeconds = deps.deferSeconds ?? defaultDefer;
  const sleep = deps.sleep ?? defaultSleep;
  const { logger } = deps;
  const sweepEveryMs = deps.sweepAtMostEveryMs ?? 15 * 60 * 1000;
  let lastSweepAt: number | undefined;

  /** Syncs, retrying throttles while the invocation has time. Returns false when KMS is still throttling. */
  async function syncWithBackoff(job: KeySyncJob, context: Context): Promise<boolean> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        const state = await deps.sync.syncNewest(job.employeeId);
        logger.info('key policy synced', { employeeId: job.employeeId, sequence: state?.sequence, deferrals: job.deferrals ?? 0 });
        return true;
      } catch (error) {
        if (!isThrottling(error)) throw error;
        const wait = backoffMs(attempt);
        if (attempt >= attempts || context.getRemainingTimeInMillis() < wait + RESERVE_MS) return false;
        await sleep(wait);
      }
    }
  }

  return (event, context) => {
    const done = new Set<string>();
    const syncRecord = async (record: SQSRecord): Promise<void> => {
      const parsed = keySyncQueueJobSchema.safeParse(jsonOrUndefined(record.body));
      if (!parsed.success) {
        logger.error('malformed key-sync job', { messageId: record.messageId });
        throw new MalformedJobError(record.messageId);
      }
      if ('kind' in parsed.data) {
        if (deps.expireExports === undefined) throw new Error('this worker has no export sweep configured');
        if (lastSweepAt !== undefined && Date.now() - lastSweepAt < sweepEveryMs) {
          logger.info('export sweep skipped: one ran moments ago', { messageId: record.messageId });
          return;
        }
        // A failure (one employee's key could not be swept, or time ran out) returns the job to
        // the queue. The sweep stops in time for the invocation to answer: a timeout would return
        // the whole batch, key-policy syncs included, and spend their receives.
        await deps.expireExports(() => context.getRemainingTimeInMillis() - RESERVE_MS);
        lastSweepAt = Date.now();
        return;
      }
      const job = parsed.data;
      // Jobs of one employee collapse: one sync applies the newest event, whatever was queued.
      if (done.has(job.employeeId)) return;
      let synced: boolean;
      try {
        synced = await syncWithBackoff(job, context);
      } catch (error) {
        logger.warn('key sync failed; it will be retried', { employeeId: job.employeeId, error: error instanceof Error ? error.name : String(error) });
        throw error;
      }
      if (synced) {
        done.add(job.employeeId);
        return;
      }
      // Still throttled: a fresh message with a delay. The original then succeeds, so its receive
      // count (which dead-letters after maxReceiveCount) is not spent on KMS's storm. If the send
      // fails, the record fails and SQS redelivers it: the job is never dropped.
      const deferrals = (job.deferrals ?? 0) + 1;
      const next: KeySyncJob = { ...job, deferrals };
      await deps.sqs.send(new SendMessageCommand({ QueueUrl: deps.queueUrl, MessageBody: JSON.stringify(next), DelaySeconds: deferSeconds(deferrals) }));
      logger.warn('KMS is throttling; key sync deferred', { employeeId: job.employeeId, deferrals });
    };
    // Key-policy syncs (pauses, withdrawals) first, sweeps last: a sweep never delays a sync, and
    // it gets whatever time the syncs left.
    const ordered = { ...event, Records: [...event.Records.filter((r) => !isSweep(r)), ...event.Records.filter(isSweep)] };
    return processPartialResponse(ordered, syncRecord, newProcessor(), { context, processInParallel: false, throwOnFullBatchFailure: false });
  };
}
