// Appends a service's own ledger event (`purged`, `revoke-swept`, `export-ready`…) on top of the
// newest sequence, with the ledger's discipline: sequence = newest + 1 under attribute_not_exists,
// and on a lost race read the head again and decide again.
import type { ConsentEvent } from './consent-state.js';
import { SequenceTakenError, type Ledger, type LedgerHead } from './ledger.js';

const DEFAULT_APPEND_ATTEMPTS = 5;

/**
 * `decide` builds the event to append on top of `head` (its sequence must be head.sequence + 1),
 * or answers undefined when nothing needs recording any more (another writer already did).
 * Returns the event appended, or undefined. The state cache follows the appended event only if
 * it was current before: a cache behind the head marks a consent change that did not finish (its
 * purge or revoke sweep may be unsent), which the consent service's next call repairs, so a
 * service's event on top must not hide it.
 */
export async function appendOnTop(
  ledger: Ledger,
  employeeId: string,
  decide: (head: LedgerHead) => ConsentEvent | undefined | Promise<ConsentEvent | undefined>,
  maxAttempts = DEFAULT_APPEND_ATTEMPTS,
): Promise<ConsentEvent | undefined> {
  for (let attempt = 1; attempt <= maxAttempts; attempt += 1) {
    const head = await ledger.head(employeeId);
    const cached = await ledger.readState(employeeId);
    const event = await decide(head);
    if (event === undefined) return undefined;
    if (event.sequence !== head.sequence + 1) throw new Error(`an event on top of ${head.sequence} must take sequence ${head.sequence + 1}, not ${event.sequence}`);
    try {
      await ledger.append(event);
    } catch (error) {
      if (error instanceof SequenceTakenError) continue;
      throw error;
    }
    if (cached !== undefined && cached.sequence >= head.sequence) await ledger.writeState(event.state);
    return event;
  }
  throw new Error(`could not append to the ledger of ${employeeId} after ${maxAttempts} attempts`);
}
