// Applies one consent command: read the newest ledger event, repair a half-finished change,
// decide, append the event, make the key policy match, cache the state, queue a purge if needed.
import type { Logger } from '@aws-lambda-powertools/logger';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { KeySyncJob, PurgeJob } from '../../contract/jobs.js';
import { initialState, type ConsentEvent, type ConsentState } from '../shared/consent-state.js';
import { asDependencyError, ContentionError } from '../shared/errors.js';
import { SequenceTakenError, type Ledger } from '../shared/ledger.js';
import type { KeyPolicySync } from '../shared/key-policy-sync.js';
import type { KeySteward } from '../shared/key-steward.js';
import { NO_CHANGE, transition, type ConsentCommand } from './transitions.js';

/** Appends lost to a concurrent writer are retried this often before answering 409 (retryable). */
const MAX_APPEND_ATTEMPTS = 8;


export interface ConsentServiceDeps {
  readonly ledger: Ledger;
  readonly steward: KeySteward;
  readonly sync: KeyPolicySync;
  readonly sqs: SQSClient;
  readonly purgeQueueUrl: string;
  readonly keySyncQueueUrl: string;
  readonly logger: Logger;
  readonly now?: () => Date;
}

export class ConsentService {
  private readonly now: () => Date;

  constructor(private readonly deps: ConsentServiceDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /** The newest state; an employee with no events reads as `none`. */
  async current(employeeId: string): Promise<ConsentState> {
    const latest = await this.deps.ledger.latestEvent(employeeId);
    return latest?.state ?? initialState(employeeId, this.now().toISOString());
  }

  async history(employeeId: string): Promise<ConsentEvent[]> {
    return this.deps.ledger.events(employeeId);
  }

  async apply(employeeId: string, command: ConsentCommand): Promise<ConsentState> {
    const { ledger, logger } = this.deps;
    for (let attempt = 1; attempt <= MAX_APPEND_ATTEMPTS; attempt += 1) {
      const latest = await ledger.latestEvent(employeeId);
      const current = latest?.state ?? initialState(employeeId, this.now().toISOString());
      await this.repair(current);
      const decided = transition(current, command, this.now());
      if (decided === NO_CHANGE) {
        // Re-queue an unfinished purge: the earlier send may have failed after the event landed.
        if (current.status === 'purging' && (command.type === 'offboard' || command.type === 'revoke')) await this.queuePurge(current);
        return current;
      }
      let state = decided.state;
      if (state.keyArn === undefined && state.status !== 'purging') {
        state = { ...state, keyArn: (await this.deps.steward.findKey(employeeId)) ?? (await this.deps.steward.createKey(state)) };
      }
      const event: ConsentEvent = { employeeId, sequence: state.sequence, kind: decided.kind, at: state.updatedAt, actor: decided.actor, state };
      try {
        await ledger.append(event);
      } catch (error) {
        if (error instanceof SequenceTakenError) {
          logger.info('ledger append lost a race; retrying', { employeeId, sequence: state.sequence, attempt });
          await jitter(attempt);
          continue;
        }
        throw error;
      }
      // The purge is queued before the state is cached: if sending fails, the cache stays behind
      // the ledger and the next call's repair queues it again.
      await this.settle(state, decided.startsPurge ? () => this.queuePurge(state) : undefined);
      logger.info('consent changed', { employeeId, kind: decided.kind, sequence: state.sequence });
      return state;
    }
    throw new ContentionError('too many concurrent changes to this consent; retry shortly');
  }

  /**
   * Makes the key and the state cache match a recorded event. When KMS throttles (its
   * PutKeyPolicy quota is a few requests per second per account, so a storm of changes exceeds
   * it), the change is already recorded and ingest already honours it through the ledger; the
   * key write is handed to the key-sync worker instead of failing the request.
   */
  private async settle(state: ConsentState, beforeCaching?: () => Promise<void>): Promise<void> {
    let applied: ConsentState;
    try {
      applied = await this.deps.sync.applyNewest(state.employeeId, state);
    } catch (error) {
      if (asDependencyError(error, 'KMS') === undefined) throw error;
      await beforeCaching?.();
      this.deps.logger.warn('key policy write deferred to the key-sync queue', { employeeId: state.employeeId, sequence: state.sequence, cause: (error as Error).name });
      const job: KeySyncJob = { employeeId: state.employeeId, sequence: state.sequence };
      await this.deps.sqs.send(new SendMessageCommand({ QueueUrl: this.deps.keySyncQueueUrl, MessageBody: JSON.stringify(job) }));
      return;
    }
    await beforeCaching?.();
    await this.deps.ledger.writeState(applied);
  }

  /** A crash between append and state write left the cache (and maybe the key) behind: finish it. */
  private async repair(latest: ConsentState): Promise<void> {
    if (latest.sequence === 0) return;
    const cached = await this.deps.ledger.readState(latest.employeeId);
    if (cached !== undefined && cached.sequence >= latest.sequence) return;
    this.deps.logger.warn('repairing a change that did not finish', { employeeId: latest.employeeId, sequence: latest.sequence });
    if (latest.status === 'purging') await this.queuePurge(latest);
    // A throttled repair must not block the change being asked for (a withdrawal least of all):
    // the key-sync worker finishes it, and this change's own settle converges on the newest event.
    await this.settle(latest);
  }

  private async queuePurge(state: ConsentState): Promise<void> {
    const job: PurgeJob = { employeeId: state.employeeId, sequence: state.sequence };
    await this.deps.sqs.send(new SendMessageCommand({ QueueUrl: this.deps.purgeQueueUrl, MessageBody: JSON.stringify(job) }));
  }
}

function jitter(attempt: number): Promise<void> {
  const ms = Math.random() * Math.min(200, 10 * 2 ** attempt);
  return new Promise((resolve) => setTimeout(resolve, ms));
}
