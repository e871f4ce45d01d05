// Creates an employee key the way the key steward does: builder policy, tags, alias, rotation.
import { CreateAliasCommand, CreateKeyCommand, EnableKeyRotationCommand, PutKeyPolicyCommand } from '@aws-sdk/client-kms';
import { buildKeyPolicy, type KeyPolicyState } from '../../lambdas/shared/key-policy.js';
import { APP_TAG, ALIAS_PREFIX } from '../../contract/app.js';
import type { TestKms } from './local-kms.js';

export async function createEmployeeKey(kms: TestKms, state: KeyPolicyState): Promise<string> {
  const steward = kms.client('steward');
  const created = await steward.send(
    new CreateKeyCommand({
      Description: `consent-capture key for ${state.employeeId}`,
      Policy: JSON.stringify(buildKeyPolicy(state, kms.roles)),
      Tags: [
        { TagKey: APP_TAG.key, TagValue: APP_TAG.value },
        { TagKey: 'employeeId', TagValue: state.employeeId },
      ],
    }),
  );
  const arn = created.KeyMetadata?.Arn;
  if (arn === undefined) throw new Error('CreateKey returned no ARN');
  await steward.send(new CreateAliasCommand({ AliasName: `${ALIAS_PREFIX}${state.employeeId}`, TargetKeyId: arn }));
  await steward.send(new EnableKeyRotationCommand({ KeyId: arn }));
  return arn;
}

export async function applyState(kms: TestKms, keyArn: string, state: KeyPolicyState): Promise<void> {
  await kms.client('steward').send(new PutKeyPolicyCommand({ KeyId: keyArn, Policy: JSON.stringify(buildKeyPolicy(state, kms.roles)) }));
}
