// Makes an employee's key policy match the newest ledger event, even when several changes race:
// after each write it re-reads the newest event and, if a newer one landed, writes that instead.
import type { ConsentState } from './consent-state.js';
import type { KeySteward } from './key-steward.js';
import type { Ledger } from './ledger.js';

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
    for (let round = 0; round < MAX_CONVERGE_ROUNDS; round += 1) {
      if (target.keyArn !== undefined) await this.steward.applyPolicy(target.keyArn, target);
      // An invalid newest event is never applied: the key stays on the last valid state we wrote.
      const head = await this.ledger.head(employeeId);
      const newest = head.invalid === undefined ? head.newestValid?.state : undefined;
      if (newest === undefined || newest.sequence <= target.sequence) return target;
      target = newest;
    }
    return target;
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
