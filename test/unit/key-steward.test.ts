// KeySteward against a scripted KMS: quota errors, KMS's eventual consistency after CreateKey,
// and a denied shredded-policy write read for what it is.
import type { KMSClient } from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import type { AlarmMetric } from '../../lambdas/shared/alarm-metrics.js';
import type { ConsentState } from '../../lambdas/shared/consent-state.js';
import { WINDOW_HISTORY_MS } from '../../lambdas/shared/consent-windows.js';
import { KeyQuotaExhaustedError } from '../../lambdas/shared/errors.js';
import { errorResponse } from '../../lambdas/shared/http.js';
import { buildShreddedKeyPolicy, type KeyPolicyRoles } from '../../lambdas/shared/key-policy.js';
import { KeySteward, SealNotWrittenError, ShreddingDeniedError } from '../../lambdas/shared/key-steward.js';
import { decodeSealed, emptySeal, encodeSealed, SEAL_SKEW_MS } from '../../lambdas/shared/sealed-windows.js';
import { silentLogger } from '../support/in-process-services.js';
import { serviceError } from '../support/sdk-faults.js';

const ACCOUNT = '123456789012';
const roles: KeyPolicyRoles = {
  ingest: `arn:aws:iam::${ACCOUNT}:role/cc-ingest`,
  steward: `arn:aws:iam::${ACCOUNT}:role/cc-steward`,
  export: `arn:aws:iam::${ACCOUNT}:role/cc-export`,
  purge: `arn:aws:iam::${ACCOUNT}:role/cc-purge`,
};
const KEY_ARN = `arn:aws:kms:us-east-1:${ACCOUNT}:key/00000000-0000-4000-8000-000000000000`;
const at = '2026-11-30T10:00:00.000Z';
const granted: ConsentState = { employeeId: 'e-1', status: 'active', scopes: ['clicks'], sequence: 1, updatedAt: at };
const erased: ConsentState = { employeeId: 'e-1', status: 'purging', scopes: [], keyArn: KEY_ARN, sequence: 2, updatedAt: at };

type Script = Record<string, (input: Record<string, unknown>) => unknown>;

/** Reading and writing the sealed windows (the key's description), for tests about something else. */
const SEALING: Script = {
  DescribeKey: () => ({ KeyMetadata: { Arn: KEY_ARN, KeyState: 'Enabled', Description: encodeSealed(emptySeal(Date.parse(at))) } }),
  UpdateKeyDescription: () => ({}),
};

/** A KMS client whose answers the test scripts per command; unscripted commands fail the test. */
function scriptedKms(script: Script): { kms: KMSClient; calls: string[] } {
  const calls: string[] = [];
  const kms = {
    send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      const name = command.constructor.name.replace(/Command$/, '');
      calls.push(name);
      const answer = script[name] ?? SEALING[name];
      if (answer === undefined) throw new Error(`unscripted KMS call ${name}`);
      return answer(command.input);
    },
  } as unknown as KMSClient;
  return { kms, calls };
}

function steward(script: Script) {
  const { kms, calls } = scriptedKms(script);
  const raised: AlarmMetric[] = [];
  const s = new KeySteward(kms, roles, { alarms: { raise: (m) => void raised.push(m) }, logger: silentLogger('steward'), backoffMs: () => 1 });
  return { steward: s, calls, raised };
}

const fail = (name: string, status = 400) => () => {
  throw serviceError(name, status);
};

describe('KeySteward.createKey', () => {
  it('answers LimitExceededException (the key quota) with 503 key-quota-exhausted, no Retry-After, and an alarm', async () => {
    // Arrange
    const { steward: s, raised, calls } = steward({ CreateKey: fail('LimitExceededException') });

    // Act
    const error = await s.createKey(granted).catch((e: unknown) => e);
    const response = errorResponse(error, silentLogger('t'));

    // Assert
    expect(error).toBeInstanceOf(KeyQuotaExhaustedError);
    expect(response.statusCode).toBe(503);
    expect(JSON.parse(String(response.body))).toMatchObject({ error: 'key-quota-exhausted' });
    expect(JSON.parse(String(response.body))).not.toHaveProperty('retryable');
    expect(response.headers?.['retry-after']).toBeUndefined();
    expect(raised).toEqual(['KeyQuotaExhausted']);
    expect(calls).toEqual(['CreateKey']);
  });

  it('retries CreateAlias and EnableKeyRotation while KMS does not see the new key yet', async () => {
    // Arrange: two NotFound answers each, as right after CreateKey.
    let aliasMisses = 2;
    let rotationMisses = 2;
    const { steward: s, calls } = steward({
      CreateKey: () => ({ KeyMetadata: { Arn: KEY_ARN } }),
      CreateAlias: () => {
        if (aliasMisses-- > 0) throw serviceError('NotFoundException', 400);
        return {};
      },
      EnableKeyRotation: () => {
        if (rotationMisses-- > 0) throw serviceError('NotFoundException', 400);
        return {};
      },
    });

    // Act
    const arn = await s.createKey(granted);

    // Assert
    expect(arn).toBe(KEY_ARN);
    expect(calls).toEqual(['CreateKey', 'CreateAlias', 'CreateAlias', 'CreateAlias', 'EnableKeyRotation', 'EnableKeyRotation', 'EnableKeyRotation']);
  });

  it('gives up after a few NotFound answers rather than loop', async () => {
    const { steward: s, calls } = steward({ CreateKey: () => ({ KeyMetadata: { Arn: KEY_ARN } }), CreateAlias: fail('NotFoundException') });

    await expect(s.createKey(granted)).rejects.toMatchObject({ name: 'NotFoundException' });
    expect(calls.filter((c) => c === 'CreateAlias')).toHaveLength(5);
  });
});

describe('KeySteward.applyPolicy on an erasure', () => {
  const shredded = JSON.stringify(buildShreddedKeyPolicy('e-1', roles));

  it('tags the key for erasure, revokes grants, then installs the shredded policy with the lockout bypass', async () => {
    // Arrange
    const puts: Record<string, unknown>[] = [];
    const tags: unknown[] = [];
    const { steward: s, calls } = steward({
      TagResource: (input) => void tags.push(input['Tags']),
      ListGrants: () => ({ Grants: [{ GrantId: 'g-1' }], Truncated: false }),
      RevokeGrant: () => ({}),
      PutKeyPolicy: (input) => void puts.push(input),
    });

    // Act
    await s.applyPolicy(KEY_ARN, erased);

    // Assert
    expect(calls).toEqual(['TagResource', 'ListGrants', 'RevokeGrant', 'PutKeyPolicy']);
    expect(tags).toEqual([[{ TagKey: 'erasure', TagValue: 'requested' }]]);
    expect(puts[0]).toMatchObject({ BypassPolicyLockoutSafetyCheck: true, Policy: shredded });
  });

  it('is done when the write is denied because the shredded policy is already on the key', async () => {
    const { steward: s } = steward({
      TagResource: fail('AccessDeniedException'),
      DescribeKey: () => ({ KeyMetadata: { Arn: KEY_ARN, KeyState: 'Enabled' } }),
      GetKeyPolicy: () => ({ Policy: JSON.stringify(JSON.parse(shredded), null, 2) }),
    });

    await expect(s.applyPolicy(KEY_ARN, erased)).resolves.toBeUndefined();
  });

  it('is done when the key is already pending deletion', async () => {
    const { steward: s } = steward({
      TagResource: fail('KMSInvalidStateException'),
      DescribeKey: () => ({ KeyMetadata: { Arn: KEY_ARN, KeyState: 'PendingDeletion' } }),
    });

    await expect(s.applyPolicy(KEY_ARN, erased)).resolves.toBeUndefined();
  });

  it('is done when the key is gone', async () => {
    const { steward: s } = steward({ TagResource: fail('NotFoundException'), DescribeKey: fail('NotFoundException') });

    await expect(s.applyPolicy(KEY_ARN, erased)).resolves.toBeUndefined();
  });

  it('fails on an AccessDenied when the key is not shredded (an SCP forbidding the lockout bypass, say)', async () => {
    // Arrange: the tag and grants went through; the shredded policy itself is denied.
    const { steward: s } = steward({
      TagResource: () => ({}),
      ListGrants: () => ({ Grants: [], Truncated: false }),
      PutKeyPolicy: fail('AccessDeniedException'),
      DescribeKey: () => ({ KeyMetadata: { Arn: KEY_ARN, KeyState: 'Enabled' } }),
      GetKeyPolicy: () => ({ Policy: JSON.stringify({ Version: '2012-10-17', Id: 'consent-capture/e-1', Statement: [] }) }),
    });

    // Act + Assert
    await expect(s.applyPolicy(KEY_ARN, erased)).rejects.toBeInstanceOf(ShreddingDeniedError);
  });
});

describe('KeySteward.applyPolicy on a withdrawal', () => {
  it('revokes every grant made before it, across pages, after writing its policy', async () => {
    // Arrange
    const revoked: unknown[] = [];
    const { steward: s, calls } = steward({
      PutKeyPolicy: () => ({}),
      ListGrants: (input) => (input['Marker'] === undefined ? { Grants: [{ GrantId: 'g-1' }], Truncated: true, NextMarker: 'm' } : { Grants: [{ GrantId: 'g-2' }], Truncated: false }),
      RevokeGrant: (input) => {
        revoked.push(input['GrantId']);
        if (input['GrantId'] === 'g-2') throw serviceError('NotFoundException', 400);
        return {};
      },
    });

    // Act
    await s.applyPolicy(KEY_ARN, { ...erased, status: 'revoked' });

    // Assert: a grant already retired (NotFound) is no failure.
    expect(calls.indexOf('PutKeyPolicy')).toBeLessThan(calls.indexOf('ListGrants'));
    expect(revoked).toEqual(['g-1', 'g-2']);
  });

  it('keeps a grant made after the withdrawal (a later export) when the revoked state is applied again', async () => {
    // Arrange: the withdrawal was at `at`; g-old predates it, g-new was made a minute later.
    const revoked: unknown[] = [];
    const withdrawal = Date.parse(at);
    const { steward: s } = steward({
      PutKeyPolicy: () => ({}),
      ListGrants: () => ({
        Grants: [
          { GrantId: 'g-old', CreationDate: new Date(withdrawal - 60_000) },
          { GrantId: 'g-new', CreationDate: new Date(withdrawal + 60_000) },
          { GrantId: 'g-undated' },
        ],
        Truncated: false,
      }),
      RevokeGrant: (input) => {
        revoked.push(input['GrantId']);
        return {};
      },
    });

    // Act
    await s.applyPolicy(KEY_ARN, { ...erased, status: 'revoked' });

    // Assert
    expect(revoked).toEqual(['g-old', 'g-undated']);
  });
});

describe('KeySteward training grants', () => {
  const TRAINING = `arn:aws:iam::${ACCOUNT}:role/cc-training`;
  function trainingSteward(script: Script) {
    const { kms, calls } = scriptedKms(script);
    return { steward: new KeySteward(kms, { ...roles, training: TRAINING }, { logger: silentLogger('steward'), backoffMs: () => 1 }), calls };
  }
  const grants = [
    { GrantId: 'g-keys', Name: 'dataset:d-1:keystrokes', GranteePrincipal: TRAINING, Constraints: { EncryptionContextSubset: { employeeId: 'e-1', scope: 'keystrokes' } } },
    { GrantId: 'g-clicks', Name: 'dataset:d-1:clicks', GranteePrincipal: TRAINING, Constraints: { EncryptionContextSubset: { employeeId: 'e-1', scope: 'clicks' } } },
    { GrantId: 'g-export', Name: 'export-x-1', GranteePrincipal: roles.export },
    // A grant named like a training grant but for another grantee is not the training role's.
    { GrantId: 'g-lookalike', Name: 'dataset:d-2:keystrokes', GranteePrincipal: roles.export },
  ];

  it('revokes, after the narrowed policy, only the training grants of the scopes no longer consented, and says which', async () => {
    // Arrange
    const revoked: unknown[] = [];
    const { steward: s, calls } = trainingSteward({ PutKeyPolicy: () => ({}), ListGrants: () => ({ Grants: grants }), RevokeGrant: (input) => void revoked.push(input['GrantId']) });

    // Act
    const withdrawn = await s.applyPolicyWithdrawing(KEY_ARN, { ...granted, scopes: ['clicks'], keyArn: KEY_ARN });

    // Assert
    expect(calls.indexOf('PutKeyPolicy')).toBeLessThan(calls.indexOf('ListGrants'));
    expect(revoked).toEqual(['g-keys']);
    expect(withdrawn).toEqual([{ datasetId: 'd-1', scope: 'keystrokes' }]);
  });

  it('judges a training grant by the scope its constraint opens, and revokes one no dataset accounts for, whatever its name', async () => {
    // Arrange: a name that is not a dataset's, and a dataset's name over another scope's constraint.
    const foreign = [
      { GrantId: 'g-unnamed', Name: 'not-a-dataset', GranteePrincipal: TRAINING, Constraints: { EncryptionContextSubset: { employeeId: 'e-1', scope: 'keystrokes' } } },
      { GrantId: 'g-misnamed', Name: 'dataset:d-1:clicks', GranteePrincipal: TRAINING, Constraints: { EncryptionContextSubset: { employeeId: 'e-1', scope: 'keystrokes' } } },
    ];
    const revoked: unknown[] = [];
    const { steward: s } = trainingSteward({ PutKeyPolicy: () => ({}), ListGrants: () => ({ Grants: [...grants, ...foreign] }), RevokeGrant: (input) => void revoked.push(input['GrantId']) });

    // Act: a change that keeps both scopes consented.
    await s.applyPolicyWithdrawing(KEY_ARN, { ...granted, scopes: ['keystrokes', 'clicks'], keyArn: KEY_ARN });

    // Assert
    expect(revoked).toEqual(['g-unnamed', 'g-misnamed']);
  });

  it('reports the training grants a withdrawal revoked among all its grants', async () => {
    const { steward: s } = trainingSteward({ PutKeyPolicy: () => ({}), ListGrants: () => ({ Grants: grants }), RevokeGrant: () => ({}) });

    const withdrawn = await s.applyPolicyWithdrawing(KEY_ARN, { ...erased, status: 'revoked' });

    expect(withdrawn).toEqual([
      { datasetId: 'd-1', scope: 'keystrokes' },
      { datasetId: 'd-1', scope: 'clicks' },
      { datasetId: 'd-2', scope: 'keystrokes' },
    ]);
  });

  it('mints a Decrypt grant constrained to the employee and one scope, named after the dataset, with no retiring principal', async () => {
    const created: Record<string, unknown>[] = [];
    const { steward: s } = trainingSteward({ ListGrants: () => ({ Grants: [] }), CreateGrant: (input) => void created.push(input) });

    await s.createTrainingGrant(KEY_ARN, 'e-1', 'd-9', 'keystrokes');

    expect(created).toEqual([{ KeyId: KEY_ARN, Name: 'dataset:d-9:keystrokes', GranteePrincipal: TRAINING, Operations: ['Decrypt'], Constraints: { EncryptionContextSubset: { employeeId: 'e-1', scope: 'keystrokes' } } }]);
  });

  it('does not mint a second grant for the same dataset and scope (a retried build)', async () => {
    const { steward: s, calls } = trainingSteward({ ListGrants: () => ({ Grants: grants }) });

    await s.createTrainingGrant(KEY_ARN, 'e-1', 'd-1', 'keystrokes');

    expect(calls).toEqual(['ListGrants']);
  });
});

describe('KeySteward sealing the consent windows in the key description', () => {
  const NOW = Date.parse(at) + 3_600_000;
  const MINUTE = 60_000;
  function sealingSteward(script: Script) {
    const { kms, calls } = scriptedKms(script);
    const raised: AlarmMetric[] = [];
    const s = new KeySteward(kms, roles, { alarms: { raise: (m) => void raised.push(m) }, logger: silentLogger('steward'), now: () => new Date(NOW) });
    return { steward: s, calls, raised };
  }
  // Granted 50 minutes ago, paused from 40 to 20 minutes ago, as the steward sealed it then.
  const sealed = encodeSealed({ since: NOW - 51 * MINUTE, windows: { clicks: [{ from: NOW - 50 * MINUTE, to: NOW - 40 * MINUTE }, { from: NOW - 20 * MINUTE, to: Infinity }] } });
  const widened: ConsentState = { ...granted, keyArn: KEY_ARN, windows: { clicks: [{ from: new Date(NOW - 50 * MINUTE).toISOString() }] } };

  it('keeps the sealed pause and alarms on an event that claims it, writing no seal when nothing changes', async () => {
    // Arrange
    const written: string[] = [];
    const { steward: s, calls, raised } = sealingSteward({
      DescribeKey: () => ({ KeyMetadata: { Arn: KEY_ARN, Description: sealed } }),
      UpdateKeyDescription: (input) => void written.push(String(input['Description'])),
      PutKeyPolicy: () => ({}),
      ListGrants: () => ({ Grants: [] }),
    });

    // Act
    await s.applyPolicy(KEY_ARN, widened);

    // Assert: the seal it would write is the one the key holds (the claimed pause left out).
    expect(calls.slice(0, 2)).toEqual(['DescribeKey', 'PutKeyPolicy']);
    expect(written).toEqual([]);
    expect(raised).toEqual(['LedgerEventInvalid']);
  });

  it('writes the seal before the policy for a change that opens capture (a resume), and after it for one that stops it (a pause)', async () => {
    // Arrange: sealed as paused since 10 minutes ago; the resume opens clicks now, the pause closes them now.
    const paused = encodeSealed({ since: NOW - 51 * MINUTE, windows: { clicks: [{ from: NOW - 50 * MINUTE, to: NOW - 10 * MINUTE }] } });
    const open = encodeSealed({ since: NOW - 51 * MINUTE, windows: { clicks: [{ from: NOW - 50 * MINUTE, to: Infinity }] } });
    const run = async (description: string, state: ConsentState) => {
      const written: string[] = [];
      const { steward: s, calls } = sealingSteward({
        DescribeKey: () => ({ KeyMetadata: { Arn: KEY_ARN, Description: description } }),
        UpdateKeyDescription: (input) => void written.push(String(input['Description'])),
        PutKeyPolicy: () => ({}),
        ListGrants: () => ({ Grants: [] }),
      });
      await s.applyPolicy(KEY_ARN, state);
      return { calls: calls.slice(0, 3), written };
    };
    const resumed: ConsentState = { ...granted, keyArn: KEY_ARN, windows: { clicks: [{ from: new Date(NOW - 50 * MINUTE).toISOString(), to: new Date(NOW - 10 * MINUTE).toISOString() }, { from: new Date(NOW - 1_000).toISOString() }] } };
    const pausing: ConsentState = { ...granted, status: 'paused', pausedUntil: new Date(NOW + 60 * MINUTE).toISOString(), keyArn: KEY_ARN, windows: { clicks: [{ from: new Date(NOW - 50 * MINUTE).toISOString(), to: new Date(NOW - 1_000).toISOString() }, { from: new Date(NOW + 60 * MINUTE).toISOString() }] } };

    // Act
    const resume = await run(paused, resumed);
    const pause = await run(open, pausing);

    // Assert
    expect(resume.calls).toEqual(['DescribeKey', 'UpdateKeyDescription', 'PutKeyPolicy']);
    expect(pause.calls).toEqual(['DescribeKey', 'PutKeyPolicy', 'UpdateKeyDescription']);
    expect(decodeSealed(pause.written[0])?.windows.clicks?.[0]).toEqual({ from: NOW - 50 * MINUTE, to: NOW - 1_000 });
  });

  it('raises nothing when the event agrees with the seal', async () => {
    const { steward: s, raised } = sealingSteward({
      DescribeKey: () => ({ KeyMetadata: { Arn: KEY_ARN, Description: sealed } }),
      UpdateKeyDescription: () => ({}),
      PutKeyPolicy: () => ({}),
      ListGrants: () => ({ Grants: [] }),
    });
    const agreeing = { ...widened, windows: { clicks: [{ from: new Date(NOW - 50 * MINUTE).toISOString(), to: new Date(NOW - 40 * MINUTE).toISOString() }, { from: new Date(NOW - 20 * MINUTE).toISOString() }] } };

    await s.applyPolicy(KEY_ARN, agreeing);

    expect(raised).toEqual([]);
  });

  it('on a key an earlier version made (its description and a policy without the seal write), writes the policy, then seals the ledger\'s windows once', async () => {
    // Arrange
    const written: string[] = [];
    let policyPut = false;
    const { steward: s, calls } = sealingSteward({
      DescribeKey: () => ({ KeyMetadata: { Arn: KEY_ARN, Description: 'consent-capture: data of employee e-1' } }),
      UpdateKeyDescription: (input) => {
        if (!policyPut) throw serviceError('AccessDeniedException', 400);
        written.push(String(input['Description']));
        return {};
      },
      PutKeyPolicy: () => void (policyPut = true),
      ListGrants: () => ({ Grants: [] }),
    });

    // Act
    await s.applyPolicy(KEY_ARN, widened);

    // Assert: the earlier version trusted the ledger's windows; the first seal keeps that trust once.
    expect(calls.slice(0, 3)).toEqual(['DescribeKey', 'PutKeyPolicy', 'UpdateKeyDescription']);
    expect(decodeSealed(written[0])).toEqual({ since: NOW - WINDOW_HISTORY_MS, windows: { clicks: [{ from: NOW - 50 * MINUTE, to: Infinity }] } });
  });

  // Was a hole: a withdrawal wrote its policy, then the seal, then revoked the grants made before
  // it; a throttled UpdateKeyDescription (its quota is a third of PutKeyPolicy's, and a consent
  // role can invoke the steward in a storm) threw before the revocation, so export and training
  // grants kept decrypting until key-sync got through. The seal now comes after the grants.
  it('revokes the grants of a withdrawal even when its seal write is throttled', async () => {
    // Arrange
    const revokedGrants: string[] = [];
    const { steward: s } = sealingSteward({
      DescribeKey: () => ({ KeyMetadata: { Arn: KEY_ARN, Description: sealed } }),
      UpdateKeyDescription: fail('ThrottlingException'),
      PutKeyPolicy: () => ({}),
      ListGrants: () => ({ Grants: [{ GrantId: 'g-export', Name: 'export-x1', GranteePrincipal: roles.export, CreationDate: new Date(NOW - 30 * MINUTE) }] }),
      RevokeGrant: (input) => void revokedGrants.push(String(input['GrantId'])),
    });
    const revoked: ConsentState = { ...granted, status: 'revoked', scopes: [], keyArn: KEY_ARN, sequence: 2, updatedAt: new Date(NOW - 1_000).toISOString(), windows: { clicks: [{ from: new Date(NOW - 50 * MINUTE).toISOString(), to: new Date(NOW - 1_000).toISOString() }] } };

    // Act
    const outcome = await s.applyPolicyWithdrawing(KEY_ARN, revoked).catch((error: unknown) => error);

    // Assert: the throttling still reaches the caller (key-sync writes the seal), after the grants went.
    expect(outcome).toBeInstanceOf(SealNotWrittenError);
    expect((outcome as SealNotWrittenError).cause).toMatchObject({ name: 'ThrottlingException' });
    expect(revokedGrants).toEqual(['g-export']);
  });

  it('on a key whose description is neither a seal nor the earlier version\'s, seals nothing before now', async () => {
    // Arrange: what a planted text would be; only the earlier version's exact description is trusted.
    const written: string[] = [];
    const { steward: s, raised } = sealingSteward({
      DescribeKey: () => ({ KeyMetadata: { Arn: KEY_ARN, Description: 'consent-capture: data of employee e-2' } }),
      UpdateKeyDescription: (input) => void written.push(String(input['Description'])),
      PutKeyPolicy: () => ({}),
      ListGrants: () => ({ Grants: [] }),
    });

    // Act
    await s.applyPolicy(KEY_ARN, widened);

    // Assert
    expect(decodeSealed(written[0])).toEqual({ since: NOW - SEAL_SKEW_MS, windows: { clicks: [{ from: NOW - SEAL_SKEW_MS, to: Infinity }] } });
    expect(raised).toEqual([]);
  });

  it('creates a key whose description is an empty seal', async () => {
    const created: Record<string, unknown>[] = [];
    const { steward: s } = sealingSteward({ CreateKey: (input) => {
        created.push(input);
        return { KeyMetadata: { Arn: KEY_ARN } };
      }, CreateAlias: () => ({}), EnableKeyRotation: () => ({}) });

    await s.createKey(granted);

    expect(decodeSealed(String(created[0]?.['Description']))).toEqual({ since: NOW - SEAL_SKEW_MS, windows: {} });
  });
});

describe('KeySteward.revokeExportGrants (the export sweep)', () => {
  it('revokes only the export role\'s grants that the sweep picks, never another grantee\'s', async () => {
    // Arrange: an export grant the sweep picks, one it keeps, and a training grant it would pick by name and date.
    const training = `arn:aws:iam::${ACCOUNT}:role/cc-training`;
    const old = new Date('2026-11-29T00:00:00.000Z');
    const grants = [
      { GrantId: 'g-doomed', Name: 'export-x-1', GranteePrincipal: roles.export, CreationDate: old },
      { GrantId: 'g-kept', Name: 'export-x-2', GranteePrincipal: roles.export, CreationDate: old },
      { GrantId: 'g-training', Name: 'export-x-1', GranteePrincipal: training, CreationDate: old },
    ];
    const revoked: unknown[] = [];
    const { steward: s } = steward({ ListGrants: () => ({ Grants: grants }), RevokeGrant: (input) => revoked.push(input['GrantId']) });

    // Act
    const count = await s.revokeExportGrants(KEY_ARN, (grant) => grant.name === 'export-x-1');

    // Assert
    expect(count).toBe(1);
    expect(revoked).toEqual(['g-doomed']);
  });
});
