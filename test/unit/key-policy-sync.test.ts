// KeyPolicySync when a change's policy and grants are written but its seal is not: the training
// grants it withdrew are recorded at once, since the retry (key-sync) finds them gone already.
import { describe, expect, it } from 'vitest';
import type { ConsentEvent, ConsentState } from '../../lambdas/shared/consent-state.js';
import { KeyPolicySync } from '../../lambdas/shared/key-policy-sync.js';
import { SealNotWrittenError, type KeySteward } from '../../lambdas/shared/key-steward.js';
import type { Ledger, LedgerHead } from '../../lambdas/shared/ledger.js';
import { serviceError } from '../support/sdk-faults.js';

const KEY_ARN = 'arn:aws:kms:us-east-1:123456789012:key/00000000-0000-4000-8000-000000000000';
const revoked: ConsentState = { employeeId: 'e-1', status: 'revoked', scopes: [], keyArn: KEY_ARN, sequence: 1, updatedAt: '2026-11-30T10:00:00.000Z' };

/** The ledger methods KeyPolicySync and appendOnTop use, in memory. */
function memoryLedger(events: ConsentEvent[]): Ledger {
  const ledger = {
    head: async (): Promise<LedgerHead> => ({ sequence: events.length, newestValid: events.at(-1) }),
    readState: async () => events.at(-1)?.state,
    writeState: async () => undefined,
    append: async (event: ConsentEvent) => void events.push(event),
    events: async () => [...events],
  };
  return ledger as unknown as Ledger;
}

describe('KeyPolicySync.applyNewest when the seal write fails after the grants went', () => {
  it('records the withdrawn training grants, then fails with the seal write\'s own error', async () => {
    // Arrange
    const events: ConsentEvent[] = [{ employeeId: 'e-1', sequence: 1, kind: 'revoked', at: revoked.updatedAt, actor: { kind: 'service', name: 'key-steward' }, state: revoked }];
    const throttled = serviceError('ThrottlingException', 400);
    const steward = {
      applyPolicyWithdrawing: async () => {
        throw new SealNotWrittenError([{ datasetId: 'd-1', scope: 'clicks' }], throttled);
      },
    } as unknown as KeySteward;

    // Act
    const outcome = await new KeyPolicySync(memoryLedger(events), steward).applyNewest('e-1', revoked).catch((error: unknown) => error);

    // Assert
    expect(outcome).toBe(throttled);
    expect(events.at(-1)).toMatchObject({ kind: 'datasets-withdrawn', sequence: 2, details: { datasets: [{ datasetId: 'd-1', scopes: ['clicks'] }] } });
  });
});
