// The key steward's domain: given an employee id and an intent, do to the employee's key what the
// newest valid ledger event implies, and answer with a typed result. It reads the ledger itself;
// nothing in a request says what a key may allow, so a compromised caller cannot choose a policy.
import type { Logger } from '@aws-lambda-powertools/logger';
import { exportGrantName } from '../../contract/export-expiry.js';
import { stewardRequestSchema, type StewardErrorCode, type StewardRequest, type StewardResponse } from '../../contract/steward.js';
import type { Alarms } from '../shared/alarm-metrics.js';
import type { DatasetRecord } from '../shared/datasets-store.js';
import { initialState, type ConsentEvent, type ConsentState } from '../shared/consent-state.js';
import { asDependencyError, KeyQuotaExhaustedError } from '../shared/errors.js';
import type { KeyPolicySync } from '../shared/key-policy-sync.js';
import { AliasTakenError, ForeignKeyError, ShreddingDeniedError, type KeySteward } from '../shared/key-steward.js';
import { InvalidLedgerEventError, type Ledger } from '../shared/ledger.js';

export interface StewardServiceDeps {
  readonly ledger: Ledger;
  readonly steward: KeySteward;
  readonly sync: KeyPolicySync;
  readonly logger: Logger;
  readonly alarms: Alarms;
  /**
   * The datasets table, read before a training grant: a grant is minted only for a dataset that
   * was requested (so counted against its minimum), is being built, has not expired (so the
   * sweeper will retire it), and only for that dataset's scopes.
   */
  readonly datasets: { get(datasetId: string): Promise<DatasetRecord | undefined> };
  readonly now?: () => Date;
}

/**
 * Consent that lets the export role be granted Decrypt: the ExportGrants statement is present
 * (a revoked employee may still export; before any consent or after an erasure there is nothing).
 */
const GRANTABLE = new Set(['active', 'paused', 'revoked']);

/** Consent taken away: applied even below an invalid ledger item. */
const WITHDRAWN = new Set(['revoked', 'purging', 'purged']);

export class StewardService {
  private readonly now: () => Date;

  constructor(private readonly deps: StewardServiceDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /** Serves one request; every outcome, refusal included, is an answer rather than a thrown error. */
  async handle(payload: unknown): Promise<StewardResponse> {
    const parsed = stewardRequestSchema.safeParse(payload);
    if (!parsed.success) {
      // Issue paths only: the payload is untrusted and may carry anything.
      this.deps.alarms.raise('StewardRequestRefused');
      this.deps.logger.error('refused a request the key steward does not serve', { issues: parsed.error.issues.slice(0, 10).map((i) => `${i.path.join('.') || '(request)'}: ${i.code}`) });
      return failure('invalid-request', 'the request is not one the key steward serves');
    }
    const request = parsed.data;
    try {
      return await this.serve(request);
    } catch (error) {
      return this.failed(request, error);
    }
  }

  private async serve(request: StewardRequest): Promise<StewardResponse> {
    const { employeeId } = request;
    const state = await this.newestState(employeeId, request.action === 'apply');
    switch (request.action) {
      case 'ensure-key': {
        // The key recorded, or the one behind the alias if it is exactly ours for this state, or a new one.
        const keyArn = state.keyArn ?? (await this.deps.steward.findKey(state)) ?? (await this.deps.steward.createKey(state));
        return { ok: true, action: 'ensure-key', keyArn };
      }
      case 'apply': {
        if (state.sequence === 0) return { ok: true, action: 'apply', sequence: 0 };
        const applied = await this.deps.sync.applyNewest(employeeId, state);
        return { ok: true, action: 'apply', sequence: applied.sequence, state: { ...applied } };
      }
      case 'export-grant': {
        if (!GRANTABLE.has(state.status) || state.keyArn === undefined) {
          return failure('not-consented', `employee ${employeeId} has no consent an export grant could rest on (status ${state.status})`);
        }
        // Only for an export the employee's own ledger records as requested and not yet finished:
        // a caller that may invoke the steward cannot have the employee's data decrypted off their
        // record, nor replay a finished export's id for a fresh grant.
        if (!(await this.exportPending(employeeId, request.exportId))) {
          this.deps.alarms.raise('StewardRequestRefused');
          this.deps.logger.error('refused an export grant for an export the ledger does not record as pending', { employeeId, exportId: request.exportId });
          return failure('invalid-request', 'no pending export-requested event names this export');
        }
        const grant = await this.deps.steward.createExportGrant(state.keyArn, employeeId, exportGrantName(request.exportId));
        return { ok: true, action: 'export-grant', ...grant };
      }
      case 'training-grant': {
        // Only scopes consented now; the key policy refuses any other, so asking is harmless, but
        // asking only for these keeps CloudTrail free of denied CreateGrant calls.
        const capturing = state.status === 'active' || state.status === 'paused';
        const dataset = await this.deps.datasets.get(request.datasetId);
        // A caller that may invoke the steward (the consent or datasets role) names the dataset;
        // only one being built, unexpired, is granted, so no grant escapes the minimum or the sweeper.
        const buildable = dataset !== undefined && dataset.status === 'building' && Date.parse(dataset.expiresAt) > this.now().getTime();
        if (!buildable) {
          this.deps.alarms.raise('StewardRequestRefused');
          this.deps.logger.error('refused a training grant for a dataset that is not being built', { employeeId, datasetId: request.datasetId });
        }
        const scopes = capturing && buildable && state.keyArn !== undefined ? request.scopes.filter((scope) => state.scopes.includes(scope) && dataset.scopes.includes(scope)) : [];
        for (const scope of scopes) await this.deps.steward.createTrainingGrant(state.keyArn ?? '', employeeId, request.datasetId, scope);
        return { ok: true, action: 'training-grant', scopes, sequence: state.sequence };
      }
      case 'retire-dataset': {
        if (state.keyArn === undefined || state.status === 'purging' || state.status === 'purged') return { ok: true, action: 'retire-dataset', revoked: 0 };
        const revoked = await this.deps.steward.revokeTrainingGrants(state.keyArn, (grant) => grant.datasetId === request.datasetId);
        return { ok: true, action: 'retire-dataset', revoked: revoked.length };
      }
    }
  }

  /** Whether the ledger records `export-requested` for this export and no `export-ready` yet. */
  private async exportPending(employeeId: string, exportId: string): Promise<boolean> {
    const names = (kind: string) => (event: ConsentEvent) => event.kind === kind && event.details?.['exportId'] === exportId;
    const events = await this.deps.ledger.events(employeeId);
    return events.some(names('export-requested')) && !events.some(names('export-ready'));
  }

  /**
   * The newest valid event's state; an invalid newest event is never acted on, except that
   * `enforceWithdrawal` applies a withdrawal below it: the consent service records a withdrawal
   * under an invalid item that sorts above every real one (a ledger writer's junk), and nothing
   * may keep its policy off the key (applying a withdrawal only takes consent away).
   */
  private async newestState(employeeId: string, enforceWithdrawal = false): Promise<ConsentState> {
    const head = await this.deps.ledger.head(employeeId);
    const state = head.newestValid?.state;
    if (head.invalid !== undefined) {
      if (!enforceWithdrawal || state === undefined || !WITHDRAWN.has(state.status)) throw head.invalid;
      this.deps.alarms.raise('LedgerEventInvalid');
      this.deps.logger.error('invalid ledger event above a withdrawal; applying the withdrawal', { employeeId, sequence: head.invalid.sequence, issues: head.invalid.issues });
    }
    return state ?? initialState(employeeId, this.now().toISOString());
  }

  private failed(request: StewardRequest, error: unknown): StewardResponse {
    const { employeeId, action } = request;
    const name = error instanceof Error ? error.name : typeof error;
    if (error instanceof InvalidLedgerEventError) {
      this.deps.alarms.raise('LedgerEventInvalid');
      this.deps.logger.error('invalid newest ledger event; nothing applied', { employeeId, action, sequence: error.sequence, issues: error.issues });
      return failure('ledger-invalid', 'the newest ledger event is invalid; nothing was applied');
    }
    // KeySteward has already alarmed and logged conflicts and the key quota.
    if (error instanceof ForeignKeyError) return failure('key-conflict', error.message);
    if (error instanceof KeyQuotaExhaustedError) return failure('key-quota-exhausted', error.message);
    if (error instanceof AliasTakenError) return failure('alias-taken', 'another request created the alias first');
    if (error instanceof ShreddingDeniedError) {
      this.deps.logger.error('KMS refused the shredded policy', { employeeId, action });
      return failure('shredding-denied', 'KMS refused the shredded policy, and the key is not shredded');
    }
    const dependency = asDependencyError(error, 'KMS');
    if (dependency !== undefined) {
      const code: StewardErrorCode = dependency.code === 'dependency-throttled' ? 'throttled' : 'unavailable';
      this.deps.logger.warn('a dependency failed the key write', { employeeId, action, code, cause: name });
      return failure(code, code === 'throttled' ? 'a dependency is throttling the key write' : 'a dependency is unavailable');
    }
    this.deps.logger.error('key steward failed', { employeeId, action, cause: name });
    return failure('internal', 'the key steward failed; its log has the cause');
  }
}

function failure(error: StewardErrorCode, message: string): StewardResponse {
  return { ok: false, error, message };
}
