// Makes an employee's key policy match the newest ledger event, even when several changes race:
// after each write it re-reads the newest event and, if a newer one landed, writes that instead.
import type { ConsentState } from './consent-state.js';
import { SealNotWrittenError, type KeySteward, type WithdrawnGrant } from './key-steward.js';
import type { Ledger } from './ledger.js';
import { appendRestating } from './restating-append.js';

/** Rounds of write-then-check; each round means another change landed during the last write. */
const MAX_CONVERGE_ROUNDS = 5;

export class KeyPolicySync {
  constructor(
    private readonly ledger: Ledger,
    private readonly steward: KeySteward,
  ) {}

  /**
   * Writes the policy for `state`, then re-reads the newest event: a concurrent change may have
   * written its policy before ours, so ours would be stale; write the newest again. The last
   * writer always checks after its own write, so the key converges on the newest event.
   * Returns the state whose policy was written last; the caller caches it.
   */
  async applyNewest(employeeId: string, state: ConsentState): Promise<ConsentState> {
    let target = state;
    const withdrawn: WithdrawnGrant[] = [];
    for (let round = 0; round < MAX_CONVERGE_ROUNDS; round += 1) {
      try {
        if (target.keyArn !== undefined) withdrawn.push(...(await this.steward.applyPolicyWithdrawing(target.keyArn, target)));
      } catch (error) {
        if (!(error instanceof SealNotWrittenError)) throw error;
        // The grants are gone already; a retry will not find them to record.
        withdrawn.push(...error.withdrawn);
        if (withdrawn.length > 0) await this.recordWithdrawn(employeeId, withdrawn);
        throw error.cause;
      }
      // An invalid newest event is never applied: the key stays on the last valid state we wrote.
      const head = await this.ledger.head(employeeId);
      const newest = head.invalid === undefined ? head.newestValid?.state : undefined;
      if (newest === undefined || newest.sequence <= target.sequence) break;
      target = newest;
    }
    if (withdrawn.length > 0) await this.recordWithdrawn(employeeId, withdrawn);
    return target;
  }

  /**
   * Appends `datasets-withdrawn`: which datasets lost which scopes of this employee. The grants are
   * already revoked; this is the record of it, in the same change, so the ledger shows when a
   * dataset's part of this employee became unreadable. Manifests are never rewritten.
   */
  private async recordWithdrawn(employeeId: string, withdrawn: readonly WithdrawnGrant[]): Promise<void> {
    const byDataset = new Map<string, Set<string>>();
    for (const { datasetId, scope } of withdrawn) byDataset.set(datasetId, (byDataset.get(datasetId) ?? new Set()).add(scope));
    const datasets = [...byDataset].map(([datasetId, scopes]) => ({ datasetId, scopes: [...scopes].sort() }));
    await appendRestating(this.ledger, employeeId, {
      kind: 'datasets-withdrawn',
      actor: { kind: 'service', name: 'key-steward' },
      details: { datasets },
      allowedIn: ['active', 'paused', 'revoked', 'purging', 'purged'],
      at: new Date(),
    });
  }

  /** Applies the newest event's policy and caches its state. Idempotent; the key-sync worker's job. */
  async syncNewest(employeeId: string): Promise<ConsentState | undefined> {
    const latest = await this.ledger.latestEvent(employeeId);
    if (!latest) return undefined;
    const applied = await this.applyNewest(employeeId, latest.state);
    await this.ledger.writeState(applied);
    return applied;
  }
}
