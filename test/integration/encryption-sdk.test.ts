// The AWS Encryption SDK against the local KMS: ingest encrypts under an employee key with the
// committing, non-signing suite, and only the export role, through a grant, decrypts.
import { KMS } from '@aws-sdk/client-kms';
import { CreateGrantCommand, RetireGrantCommand } from '@aws-sdk/client-kms';
import { AlgorithmSuiteIdentifier, buildClient, CommitmentPolicy, getClient, KmsKeyringNode } from '@aws-crypto/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PrincipalName } from '../../local/principals.js';
import { createEmployeeKey } from '../support/employee-key.js';
import { startTestKms, type TestKms } from '../support/local-kms.js';

const { encrypt, decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
const CONTEXT = { employeeId: 'e-sdk', scope: 'keystrokes', batchId: 'batch-0001' };

let kms: TestKms;
let keyArn: string;
beforeAll(async () => {
  kms = await startTestKms();
  keyArn = await createEmployeeKey(kms, { employeeId: 'e-sdk', status: 'active', scopes: ['keystrokes'] });
});
afterAll(async () => {
  await kms.close();
});

function keyringAs(name: PrincipalName, generator: boolean): KmsKeyringNode {
  const { accessKeyId, secretAccessKey } = kms.identity.principals[name];
  const clientProvider = getClient(KMS, { endpoint: kms.url, region: kms.identity.region, credentials: { accessKeyId, secretAccessKey } });
  return generator ? new KmsKeyringNode({ generatorKeyId: keyArn, clientProvider }) : new KmsKeyringNode({ keyIds: [keyArn], clientProvider });
}

describe('AWS Encryption SDK round trip', () => {
  it('encrypts as ingest and decrypts as export through a grant', async () => {
    // Arrange
    const plaintext = Buffer.from('{"kind":"keystroke","text":"round trip marker 7f3a"}\n'.repeat(50));
    const { result } = await encrypt(keyringAs('ingest', true), plaintext, {
      encryptionContext: CONTEXT,
      suiteId: AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY,
    });
    const { GrantToken } = await kms.client('steward').send(
      new CreateGrantCommand({
        KeyId: keyArn,
        GranteePrincipal: kms.roles.export,
        RetiringPrincipal: kms.roles.export,
        Operations: ['Decrypt'],
        Constraints: { EncryptionContextSubset: { employeeId: 'e-sdk' } },
      }),
    );

    // Act
    const decrypted = await decrypt(keyringAs('export', false), result);

    // Assert
    expect(Buffer.from(decrypted.plaintext).equals(plaintext)).toBe(true);
    expect(decrypted.messageHeader.encryptionContext).toEqual(CONTEXT);
    expect(result.includes(Buffer.from('round trip marker'))).toBe(false);
    await kms.client('export').send(new RetireGrantCommand({ GrantToken }));
  });

  it('cannot decrypt as export without a grant', async () => {
    const { result } = await encrypt(keyringAs('ingest', true), Buffer.from('x'), {
      encryptionContext: CONTEXT,
      suiteId: AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY,
    });

    await expect(decrypt(keyringAs('export', false), result)).rejects.toThrow(/AccessDenied|Unable to decrypt/);
  });

  it('is refused a data key with the default signing suite, whose extra context pair the key policy forbids', async () => {
    // The signing suites add `aws-crypto-public-key` to the context; CaptureWhileConsented allows
    // exactly {employeeId, scope, batchId}, so ingest must use the non-signing committing suite.
    await expect(encrypt(keyringAs('ingest', true), Buffer.from('x'), { encryptionContext: CONTEXT })).rejects.toThrow(/not authorized/);
  });
});
