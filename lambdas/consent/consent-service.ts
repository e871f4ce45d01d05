// Applies one consent command: read the newest ledger event, repair a half-finished change,
// decide, append the event, have the key steward make the key policy match, cache the state,
// queue a purge if needed. This function never writes a key itself: the steward derives every
// key write from the ledger (lambdas/key-steward).
// A withdrawal (revoke, erase, offboarding) is always recorded: nothing in the ledger or in KMS
// can block it; what cannot be enforced at once is queued and alarmed.
import type { Logger } from '@aws-lambda-powertools/logger';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Alarms } from '../shared/alarm-metrics.js';
import type { KeySyncJob, PurgeJob, RevokeSweepJob } from '../../contract/jobs.js';
import { initialState, type Actor, type ConsentEvent, type ConsentState } from '../shared/consent-state.js';
import { asDependencyError, ConsentStateUnavailableError, ContentionError } from '../shared/errors.js';
import { InvalidLedgerEventError, SequenceTakenError, type Ledger } from '../shared/ledger.js';
import { AliasTakenError, ForeignKeyError } from '../shared/key-steward.js';
import type { KeyStewardPort } from './steward-client.js';
import { NO_CHANGE, restatedWithdrawal, transition, type ConsentCommand } from './transitions.js';

/** Appends lost to a concurrent writer are retried this often before answering 409 (retryable). */
const MAX_APPEND_ATTEMPTS = 8;


export interface ConsentServiceDeps {
  readonly ledger: Ledger;
  /** The key steward: the only writer of employee keys. */
  readonly steward: KeyStewardPort;
  readonly sqs: SQSClient;
  readonly purgeQueueUrl: string;
  readonly keySyncQueueUrl: string;
  /** Delay of the sweep a withdrawal queues on the purge queue (the purge's re-sweep delay). */
  readonly revokeSweepDelaySeconds: number;
  readonly logger: Logger;
  readonly alarms: Alarms;
  readonly now?: () => Date;
}

/** Commands that take consent away: they must never be blocked. */
function isWithdrawal(command: ConsentCommand): boolean {
  return command.type === 'revoke' || command.type === 'offboard';
}

export class ConsentService {
  private readonly now: () => Date;

  constructor(private readonly deps: ConsentServiceDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /** The newest state; an employee with no events reads as `none`. An invalid newest event answers 503. */
  async current(employeeId: string): Promise<ConsentState> {
    try {
      const latest = await this.deps.ledger.latestEvent(employeeId);
      return latest?.state ?? initialState(employeeId, this.now().toISOString());
    } catch (error) {
      if (error instanceof InvalidLedgerEventError) throw this.unreadable(error);
      throw error;
    }
  }

  async history(employeeId: string): Promise<ConsentEvent[]> {
    try {
      return await this.deps.ledger.events(employeeId);
    } catch (error) {
      if (error instanceof InvalidLedgerEventError) throw this.unreadable(error);
      throw error;
    }
  }

  /** `actor` is the caller, recorded on the event with the evidence of the request. */
  async apply(employeeId: string, command: ConsentCommand, actor: Actor): Promise<ConsentState> {
    const { ledger, logger } = this.deps;
    const withdrawal = isWithdrawal(command);
    for (let attempt = 1; attempt <= MAX_APPEND_ATTEMPTS; attempt += 1) {
      const head = await ledger.head(employeeId);
      const basis = head.newestValid?.state ?? initialState(employeeId, this.now().toISOString());
      let current = basis;
      if (head.invalid !== undefined) {
        // Only a withdrawal goes on, from the last valid state, on top of the invalid event.
        if (!withdrawal) throw this.unreadable(head.invalid);
        this.report(head.invalid);
        current = { ...basis, sequence: head.sequence };
      } else {
        await this.repair(current, withdrawal);
      }
      let decided = transition(current, command, this.now());
      // Over an invalid event, a withdrawal that is already satisfied is recorded again anyway,
      // so the newest event is valid and says it.
      if (decided === NO_CHANGE && head.invalid !== undefined) decided = restatedWithdrawal(current, command, this.now());
      if (decided === NO_CHANGE) {
        // Re-queue an unfinished purge: the earlier send may have failed after the event landed.
        if (current.status === 'purging' && (command.type === 'offboard' || command.type === 'revoke')) await this.queuePurge(current);
        return current;
      }
      let state = decided.state;
      if (state.keyArn === undefined && (state.status === 'active' || state.status === 'paused')) {
        try {
          // The steward finds or makes the key from the ledger as it stands (no capture until our event lands).
          state = { ...state, keyArn: await this.deps.steward.ensureKey(employeeId) };
        } catch (error) {
          // Another first consent made the alias, or recorded its event, while we looked: decide again.
          const raced = error instanceof AliasTakenError || (error instanceof ForeignKeyError && (await ledger.head(employeeId)).sequence !== head.sequence);
          if (!raced) throw error;
          await jitter(attempt);
          continue;
        }
      }
      const event: ConsentEvent = { employeeId, sequence: state.sequence, kind: decided.kind, at: decided.at ?? state.updatedAt, actor, state };
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
      // A withdrawal also queues the delayed sweep of what an in-flight ingest lands after it.
      const beforeCaching = decided.startsPurge ? () => this.queuePurge(state) : decided.kind === 'revoked' ? () => this.queueRevokeSweep(state) : undefined;
      await this.settle(state, { mustEnforce: withdrawal, ...(beforeCaching === undefined ? {} : { beforeCaching }) });
      logger.info('consent changed', { employeeId, kind: decided.kind, sequence: state.sequence });
      return state;
    }
    throw new ContentionError('too many concurrent changes to this consent; retry shortly');
  }

  /**
   * Makes the key and the state cache match a recorded event. When KMS throttles (its
   * PutKeyPolicy quota is a few requests per second per account, so a storm of changes exceeds
   * it), the change is already recorded and ingest already honours it through the ledger; the
   * key write is handed to the key-sync worker instead of failing the request. For a withdrawal
   * (`mustEnforce`) any failure is handed over that way, and alarmed unless it is throttling.
   */
  private async settle(state: ConsentState, options: { mustEnforce: boolean; beforeCaching?: () => Promise<void> }): Promise<void> {
    let applied: ConsentState;
    try {
      // The steward reads the newest valid event itself (ours, or a newer one) and writes its policy.
      applied = (await this.deps.steward.applyNewest(state.employeeId)) ?? state;
    } catch (error) {
      const transient = asDependencyError(error, 'KMS') !== undefined;
      if (!transient && !options.mustEnforce) throw error;
      await options.beforeCaching?.();
      const cause = error instanceof Error ? error.name : typeof error;
      if (transient) {
        this.deps.logger.warn('key policy write deferred to the key-sync queue', { employeeId: state.employeeId, sequence: state.sequence, cause });
      } else {
        this.deps.alarms.raise('WithdrawalEnforcementDeferred');
        this.deps.logger.error('withdrawal recorded, but its key policy could not be written; queued for key-sync', { employeeId: state.employeeId, sequence: state.sequence, cause });
      }
      const job: KeySyncJob = { employeeId: state.employeeId, sequence: state.sequence };
      await this.deps.sqs.send(new SendMessageCommand({ QueueUrl: this.deps.keySyncQueueUrl, MessageBody: JSON.stringify(job) }));
      return;
    }
    await options.beforeCaching?.();
    await this.deps.ledger.writeState(applied);
  }

  /**
   * A crash between append and state write left the cache (and maybe the key) behind: finish it.
   * Before a withdrawal a failed repair is reported and passed over: the withdrawal's own write
   * converges on the newest event, and nothing may stand in its way.
   */
  private async repair(latest: ConsentState, beforeWithdrawal: boolean): Promise<void> {
    if (latest.sequence === 0) return;
    const cached = await this.deps.ledger.readState(latest.employeeId);
    if (cached !== undefined && cached.sequence >= latest.sequence) return;
    this.deps.logger.warn('repairing a change that did not finish', { employeeId: latest.employeeId, sequence: latest.sequence });
    try {
      if (latest.status === 'purging') await this.queuePurge(latest);
      // The sweep job names this state's sequence; if it came from a later event that restates
      // the revoke (an export recorded on top), the worker walks back to the revoke it restates.
      if (latest.status === 'revoked') await this.queueRevokeSweep(latest);
      // A throttled repair must not block the change being asked for (a withdrawal least of all):
      // the key-sync worker finishes it, and this change's own settle converges on the newest event.
      await this.settle(latest, { mustEnforce: false });
    } catch (error) {
      if (!beforeWithdrawal) throw error;
      this.deps.logger.error('repair failed; going on with the withdrawal', { employeeId: latest.employeeId, sequence: latest.sequence, cause: error instanceof Error ? error.name : typeof error });
    }
  }

  /** Reports an invalid newest event (ids and issue paths only) and returns the 503 to answer. */
  private unreadable(invalid: InvalidLedgerEventError): ConsentStateUnavailableError {
    this.report(invalid);
    return new ConsentStateUnavailableError('the consent record cannot be read; an operator has been alerted. A withdrawal is still accepted.');
  }

  private report(invalid: InvalidLedgerEventError): void {
    this.deps.alarms.raise('LedgerEventInvalid');
    this.deps.logger.error('invalid ledger event; not applied', { employeeId: invalid.employeeId, sequence: invalid.sequence, issues: invalid.issues });
  }

  private async queuePurge(state: ConsentState): Promise<void> {
    const job: PurgeJob = { employeeId: state.employeeId, sequence: state.sequence };
    await this.deps.sqs.send(new SendMessageCommand({ QueueUrl: this.deps.purgeQueueUrl, MessageBody: JSON.stringify(job) }));
  }

  private async queueRevokeSweep(state: ConsentState): Promise<void> {
    const job: RevokeSweepJob = { kind: 'revoke-sweep', employeeId: state.employeeId, sequence: state.sequence };
    await this.deps.sqs.send(new SendMessageCommand({ QueueUrl: this.deps.purgeQueueUrl, MessageBody: JSON.stringify(job), DelaySeconds: this.deps.revokeSweepDelaySeconds }));
  }
}

function jitter(attempt: number): Promise<void> {
  const ms = Math.random() * Math.min(200, 10 * 2 ** attempt);
  return new Promise((resolve) => setTimeout(resolve, ms));
}
