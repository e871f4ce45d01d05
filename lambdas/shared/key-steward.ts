// The consent role's dealings with employee keys: find or create the key, and write its policy.
// Only this module writes key policies; the consent and key-sync functions both use it.
import {
  AlreadyExistsException,
  CreateAliasCommand,
  CreateKeyCommand,
  DescribeKeyCommand,
  EnableKeyRotationCommand,
  NotFoundException,
  PutKeyPolicyCommand,
  type KMSClient,
} from '@aws-sdk/client-kms';
import { buildKeyPolicy, type KeyPolicyRoles } from './key-policy.js';
import type { ConsentState } from './consent-state.js';
import { ENV, optionalEnv, requireEnv } from './environment.js';
import { ALIAS_PREFIX, APP_TAG } from '../../lib/role-policies.js';

export function aliasOf(employeeId: string): string {
  return `${ALIAS_PREFIX}${employeeId}`;
}

function isNamed(error: unknown, name: string): boolean {
  return error instanceof Error && error.name === name;
}

export class KeySteward {
  constructor(
    private readonly kms: KMSClient,
    private readonly roles: KeyPolicyRoles,
  ) {}

  /** The key ARN behind the employee's alias, if any. */
  async findKey(employeeId: string): Promise<string | undefined> {
    try {
      const described = await this.kms.send(new DescribeKeyCommand({ KeyId: aliasOf(employeeId) }));
      return described.KeyMetadata?.Arn;
    } catch (error) {
      if (error instanceof NotFoundException || isNamed(error, 'NotFoundException')) return undefined;
      throw error;
    }
  }

  /**
   * Creates the employee's key with a policy for `state` (no capture yet), alias and rotation.
   * The alias is the anchor: if another request created one first, its key wins and ours is
   * left without capture permission (see docs/architecture.md, "first consent race").
   */
  async createKey(state: ConsentState): Promise<string> {
    const created = await this.kms.send(
      new CreateKeyCommand({
        Description: `consent-capture: data of employee ${state.employeeId}`,
        Policy: JSON.stringify(buildKeyPolicy({ ...state, status: 'none', scopes: [] }, this.roles)),
        Tags: [
          { TagKey: APP_TAG.key, TagValue: APP_TAG.value },
          { TagKey: 'employeeId', TagValue: state.employeeId },
        ],
      }),
    );
    const arn = created.KeyMetadata?.Arn;
    if (arn === undefined) throw new Error('CreateKey answered without a key ARN');
    try {
      await this.kms.send(new CreateAliasCommand({ AliasName: aliasOf(state.employeeId), TargetKeyId: arn }));
    } catch (error) {
      if (!(error instanceof AlreadyExistsException || isNamed(error, 'AlreadyExistsException'))) throw error;
      const winner = await this.findKey(state.employeeId);
      if (winner === undefined) throw error;
      return winner;
    }
    await this.kms.send(new EnableKeyRotationCommand({ KeyId: arn }));
    return arn;
  }

  /** Writes the key policy that `state` implies. Idempotent. A shredded key may already be gone. */
  async applyPolicy(keyArn: string, state: ConsentState): Promise<void> {
    try {
      await this.kms.send(new PutKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default', Policy: JSON.stringify(buildKeyPolicy(state, this.roles)) }));
    } catch (error) {
      const shredded = state.status === 'purging' || state.status === 'purged';
      if (shredded && (error instanceof NotFoundException || isNamed(error, 'NotFoundException'))) return;
      throw error;
    }
  }
}

/** The roles key policies name, from the function's environment (read at module load). */
export function keyPolicyRolesFromEnv(env: NodeJS.ProcessEnv = process.env): KeyPolicyRoles {
  const auditor = optionalEnv(ENV.auditorRoleArn, env);
  return {
    ingest: requireEnv(ENV.ingestRoleArn, env),
    consent: requireEnv(ENV.consentRoleArn, env),
    export: requireEnv(ENV.exportRoleArn, env),
    purge: requireEnv(ENV.purgeRoleArn, env),
    ...(auditor === undefined ? {} : { auditor }),
  };
}
