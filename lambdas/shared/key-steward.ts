// The steward role's dealings with employee keys: find or create the key, write its policy and
// seal its consent windows (its description), tag it for erasure, revoke and mint grants. Only the key-steward and key-sync functions use it.
import type { Logger } from '@aws-lambda-powertools/logger';
import {
  CreateAliasCommand,
  CreateGrantCommand,
  CreateKeyCommand,
  DescribeKeyCommand,
  EnableKeyRotationCommand,
  GetKeyPolicyCommand,
  GetKeyRotationStatusCommand,
  ListGrantsCommand,
  PutKeyPolicyCommand,
  RevokeGrantCommand,
  TagResourceCommand,
  UpdateKeyDescriptionCommand,
  type GrantListEntry,
  type KMSClient,
} from '@aws-sdk/client-kms';
import { adoptionVerdict, samePolicy } from './key-adoption.js';
import type { Alarms } from './alarm-metrics.js';
import { ConflictError, isAwsError, KeyQuotaExhaustedError } from './errors.js';
import { buildKeyPolicy, ERASURE_TAG, type KeyPolicyRoles } from './key-policy.js';
import type { ConsentState } from './consent-state.js';
import { ENV, optionalEnv, requireEnv } from './environment.js';
import { ALIAS_PREFIX, APP_TAG } from '../../contract/app.js';
import { parseTrainingGrantName, trainingGrantName } from '../../contract/datasets.js';
import type { Scope } from './consent-model.js';
import { windowsOf } from './consent-windows.js';
import { decodeSealed, emptySeal, encodeSealed, legacyDescriptionOf, legacySeal, sealOpens, sealWindows } from './sealed-windows.js';

/** A training grant the steward revoked because the consent it rested on is gone: which dataset lost which scope. */
export interface WithdrawnGrant {
  readonly datasetId: string;
  readonly scope: Scope;
}

export function aliasOf(employeeId: string): string {
  return `${ALIAS_PREFIX}${employeeId}`;
}

/** An alias for this employee already names a key this application must not adopt. */
export class ForeignKeyError extends ConflictError {
  constructor(
    readonly employeeId: string,
    readonly why: string,
  ) {
    super(`the alias of employee ${employeeId} names a key this application will not adopt; an operator must investigate before consent can be recorded`, 'key-conflict');
  }
}

/** Another request created this employee's alias first: re-read the ledger and decide again. */
export class AliasTakenError extends Error {
  override readonly name = 'AliasTakenError';
}

/**
 * A change's policy and grants are written but its seal is not (`cause`, throttling say): the
 * caller records the training grants it withdrew, then fails with `cause` so the change is
 * retried (key-sync), which then finds those grants already gone.
 */
export class SealNotWrittenError extends Error {
  override readonly name = 'SealNotWrittenError';
  constructor(
    readonly withdrawn: WithdrawnGrant[],
    override readonly cause: unknown,
  ) {
    super('the key policy and grants were written, the sealed windows were not', { cause });
  }
}

/** KMS refused to install the shredded policy, and the key is not already shredded. */
export class ShreddingDeniedError extends Error {
  override readonly name = 'ShreddingDeniedError';
}

export interface KeyStewardOptions {
  /** @default - no alarms (tests that do not look at them) */
  readonly alarms?: Alarms;
  readonly logger?: Logger;
  /** How long to wait before retry `attempt` (1-based) of a call KMS cannot see the new key for yet. @default 100 ms doubling */
  readonly backoffMs?: (attempt: number) => number;
  /** The steward's clock, which seals the windows (sealed-windows.ts). @default - the system clock */
  readonly now?: () => Date;
}

/** Attempts at a call on a key just created, which KMS may not find yet (eventual consistency). */
const NEW_KEY_ATTEMPTS = 5;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class KeySteward {
  private readonly alarms: Alarms | undefined;
  private readonly logger: Logger | undefined;
  private readonly backoffMs: (attempt: number) => number;
  private readonly now: () => Date;

  constructor(
    private readonly kms: KMSClient,
    private readonly roles: KeyPolicyRoles,
    options: KeyStewardOptions = {},
  ) {
    this.alarms = options.alarms;
    this.logger = options.logger;
    this.backoffMs = options.backoffMs ?? ((attempt) => 100 * 2 ** (attempt - 1));
    this.now = options.now ?? (() => new Date());
  }

  /**
   * The key behind the employee's alias, if any, once it is exactly a key this application makes
   * for `state` (key-adoption.ts); a key that is not is refused with 409 key-conflict and an
   * alarm. Adopting our own key left without rotation by a crash turns rotation on.
   */
  async findKey(state: ConsentState): Promise<string | undefined> {
    const { employeeId } = state;
    let metadata;
    try {
      metadata = (await this.kms.send(new DescribeKeyCommand({ KeyId: aliasOf(employeeId) }))).KeyMetadata;
    } catch (error) {
      if (isAwsError(error, 'NotFoundException')) return undefined;
      // A key whose policy does not let the steward role describe it is not one of ours.
      if (isAwsError(error, 'AccessDeniedException')) throw this.conflict(employeeId, 'its key policy does not let the steward role describe it');
      throw error;
    }
    const arn = metadata?.Arn;
    if (metadata === undefined || arn === undefined) throw new Error('DescribeKey answered without a key ARN');
    let facts;
    try {
      const [grants, policy, rotation] = await Promise.all([
        this.kms.send(new ListGrantsCommand({ KeyId: arn, Limit: 1 })),
        this.kms.send(new GetKeyPolicyCommand({ KeyId: arn, PolicyName: 'default' })),
        this.kms.send(new GetKeyRotationStatusCommand({ KeyId: arn })),
      ]);
      facts = { metadata, grantCount: (grants.Grants ?? []).length, policy: policy.Policy ?? '', rotationEnabled: rotation.KeyRotationEnabled === true };
    } catch (error) {
      if (isAwsError(error, 'AccessDeniedException', 'KMSInvalidStateException', 'DisabledException')) {
        throw this.conflict(employeeId, `the steward role cannot read it (${(error as Error).name})`);
      }
      throw error;
    }
    const verdict = adoptionVerdict(facts, buildKeyPolicy(state, this.roles));
    if (!verdict.adopt) throw this.conflict(employeeId, verdict.why);
    if (verdict.enableRotation) await this.kms.send(new EnableKeyRotationCommand({ KeyId: arn }));
    // Whatever the description says was written before the key was ours (by whoever planted it, or
    // by a crash before sealing): nothing of the past is sealed on an adopted key.
    await this.kms.send(new UpdateKeyDescriptionCommand({ KeyId: arn, Description: encodeSealed(emptySeal(this.now().getTime())) }));
    return arn;
  }

  private conflict(employeeId: string, why: string): ForeignKeyError {
    this.alarms?.raise('KeyConflict');
    // Ids and the reason only: the reason names states and counts, never a policy or a principal.
    this.logger?.error('refused to adopt the key behind an employee alias', { employeeId, alias: aliasOf(employeeId), why });
    return new ForeignKeyError(employeeId, why);
  }

  /**
   * Creates the employee's key with a policy for `state` (no capture yet), alias and rotation.
   * The alias is the anchor: if another request created one first, AliasTakenError sends the
   * caller back to the ledger, and our key is left without capture permission (see
   * docs/architecture.md, "first consent race").
   */
  async createKey(state: ConsentState): Promise<string> {
    let created;
    try {
      created = await this.kms.send(
        new CreateKeyCommand({
          // The sealed windows (none yet): ingest judges event times by them too (sealed-windows.ts).
          Description: encodeSealed(emptySeal(this.now().getTime())),
          Policy: JSON.stringify(buildKeyPolicy({ ...state, status: 'none', scopes: [] }, this.roles)),
          Tags: [
            { TagKey: APP_TAG.key, TagValue: APP_TAG.value },
            { TagKey: 'employeeId', TagValue: state.employeeId },
          ],
        }),
      );
    } catch (error) {
      if (isAwsError(error, 'LimitExceededException')) {
        this.alarms?.raise('KeyQuotaExhausted');
        this.logger?.error('KMS key quota exhausted; consent cannot be recorded', { employeeId: state.employeeId });
        throw new KeyQuotaExhaustedError('consent cannot be recorded now: the service has reached a limit of its key store; an operator has been alerted, so try again later', { cause: error });
      }
      throw error;
    }
    const arn = created.KeyMetadata?.Arn;
    if (arn === undefined) throw new Error('CreateKey answered without a key ARN');
    try {
      await this.onNewKey(() => this.kms.send(new CreateAliasCommand({ AliasName: aliasOf(state.employeeId), TargetKeyId: arn })));
    } catch (error) {
      if (isAwsError(error, 'AlreadyExistsException')) throw new AliasTakenError(`another request created the alias of ${state.employeeId} first`, { cause: error });
      throw error;
    }
    await this.onNewKey(() => this.kms.send(new EnableKeyRotationCommand({ KeyId: arn })));
    return arn;
  }

  /** Retries a call on a key created moments ago while KMS answers NotFound (its eventual consistency). */
  private async onNewKey<T>(call: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await call();
      } catch (error) {
        if (!isAwsError(error, 'NotFoundException') || attempt >= NEW_KEY_ATTEMPTS) throw error;
        await sleep(this.backoffMs(attempt));
      }
    }
  }

  /**
   * Writes the key policy that `state` implies, and what goes with it. Idempotent.
   * - A withdrawal (`revoked`) revokes every grant made up to the withdrawal's instant, after
   *   writing its policy. That policy still allows new constrained export grants (the employee may
   *   export after withdrawing), so a grant made after the withdrawal belongs to a later export
   *   and survives a re-application of the same state (key-sync, repair).
   * - An erasure first sets the erasure tag (which opens Shredding to the purge role), revokes
   *   every grant, then installs the shredded policy with the lockout bypass. The shredded policy
   *   locks this role out, so a repeat is refused: it is done only if the key reads as shredded
   *   (its policy already the shredded one, or pending deletion, or gone); otherwise the denial
   *   is a real error.
   */
  async applyPolicy(keyArn: string, state: ConsentState): Promise<void> {
    try {
      await this.applyPolicyWithdrawing(keyArn, state);
    } catch (error) {
      throw error instanceof SealNotWrittenError ? error.cause : error;
    }
  }

  /**
   * As {@link applyPolicy}, and answers the training grants it revoked because their scope is no
   * longer consented (a narrowing, a withdrawal, an erasure), so the caller can record which
   * datasets lost which scopes. The revocation is part of the same change: after the policy that
   * no longer allows such grants, before the change is answered.
   */
  async applyPolicyWithdrawing(keyArn: string, state: ConsentState): Promise<WithdrawnGrant[]> {
    const policy = buildKeyPolicy(state, this.roles);
    if (state.status !== 'purging' && state.status !== 'purged') {
      const put = () => this.kms.send(new PutKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default', Policy: JSON.stringify(policy) }));
      const seal = await this.planSeal(keyArn, state);
      if (seal.opens) {
        // A grant, resume or added scope: the seal first, so ingest's windows are open before KMS
        // allows capture and no event captured after it is refused for good while the description
        // lags. A key whose policy predates seals lets the steward write its description only
        // once the policy is put.
        try {
          await this.writeSeal(keyArn, seal);
        } catch (error) {
          if (!isAwsError(error, 'AccessDeniedException')) throw error;
          await put();
          await this.writeSeal(keyArn, seal);
        }
        await put();
      } else {
        // A pause, a withdrawal or a repeat: the policy first, so that what stops capture never
        // waits on the description (UpdateKeyDescription's request quota is a third of
        // PutKeyPolicy's). Until the seal is written the ledger's windows, narrower, decide.
        // The grants go before the seal too: what stops decryption must not wait on it either.
        await put();
        const withdrawn = await this.withdrawGrants(keyArn, state);
        try {
          await this.writeSeal(keyArn, seal);
        } catch (error) {
          throw new SealNotWrittenError(withdrawn, error);
        }
        return withdrawn;
      }
      return this.withdrawGrants(keyArn, state);
    }
    try {
      await this.kms.send(new TagResourceCommand({ KeyId: keyArn, Tags: [{ TagKey: ERASURE_TAG.key, TagValue: ERASURE_TAG.value }] }));
      const revoked = await this.revokeGrants(keyArn);
      await this.kms.send(new PutKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default', Policy: JSON.stringify(policy), BypassPolicyLockoutSafetyCheck: true }));
      return trainingGrantsOf(revoked);
    } catch (error) {
      if (!isAwsError(error, 'AccessDeniedException', 'NotFoundException', 'KMSInvalidStateException')) throw error;
      if (await this.isShredded(keyArn, policy)) return [];
      throw new ShreddingDeniedError(`KMS refused to shred the key of ${state.employeeId} (${(error as Error).name}), and the key is not shredded`, { cause: error });
    }
  }

  /** Revokes what `state` no longer allows: every grant made before a withdrawal, or training grants of scopes no longer consented. */
  private async withdrawGrants(keyArn: string, state: ConsentState): Promise<WithdrawnGrant[]> {
    if (state.status === 'revoked') return trainingGrantsOf(await this.revokeGrants(keyArn, withdrawnAt(state)));
    const consented = state.status === 'active' || state.status === 'paused' ? state.scopes : [];
    return this.revokeTrainingGrants(keyArn, (grant) => !consented.includes(grant.scope));
  }

  /**
   * The key's sealed windows for `state`: the seal so far before now (minus a skew), narrowed to
   * where the state agrees, and the state's windows from then on. A newest ledger event that
   * claims consent in the past the seal lacks (a ledger writer's forgery, or a change applied
   * late) is alarmed, never sealed.
   */
  private async planSeal(keyArn: string, state: ConsentState): Promise<{ text: string; current: string | undefined; opens: boolean }> {
    const current = (await this.kms.send(new DescribeKeyCommand({ KeyId: keyArn }))).KeyMetadata?.Description;
    const now = this.now().getTime();
    const legacy = current === legacyDescriptionOf(state.employeeId);
    const previous = decodeSealed(current) ?? (legacy ? legacySeal(windowsOf(state), now) : undefined);
    if (legacy) this.logger?.warn('sealing a key made before seals: its windows are taken from the ledger once', { employeeId: state.employeeId, sequence: state.sequence });
    const { sealed, addedPastMs } = sealWindows(previous, windowsOf(state), now);
    if (addedPastMs > 0) {
      this.alarms?.raise('LedgerEventInvalid');
      this.logger?.error('the newest ledger event claims past consent the sealed windows lack; sealed without it', { employeeId: state.employeeId, sequence: state.sequence, addedPastMs });
    }
    if (previous === undefined) this.logger?.warn('the key had no sealed windows; sealing from now on', { employeeId: state.employeeId, sequence: state.sequence });
    return { text: encodeSealed(sealed), current, opens: sealOpens(previous, sealed, now) };
  }

  /** Writes a planned seal, unless the key already holds exactly it (a repeat, a resync). */
  private async writeSeal(keyArn: string, seal: { text: string; current: string | undefined }): Promise<void> {
    if (seal.text === seal.current) return;
    await this.kms.send(new UpdateKeyDescriptionCommand({ KeyId: keyArn, Description: seal.text }));
  }

  /**
   * Revokes the training role's grants that `doomed` picks; answers them. A grant is judged by the
   * scope its constraint opens, not by its name, which is only a label: and a training grant that
   * is not exactly one this class mints (named after a dataset, constrained to that name's scope)
   * is revoked whatever `doomed` says, since no dataset accounts for it.
   */
  async revokeTrainingGrants(keyArn: string, doomed: (grant: WithdrawnGrant) => boolean): Promise<WithdrawnGrant[]> {
    const training = this.roles.training;
    if (training === undefined) return [];
    const revoked: GrantListEntry[] = [];
    for (const grant of await this.listGrants(keyArn)) {
      if (grant.GranteePrincipal !== training || grant.GrantId === undefined) continue;
      const named = parseTrainingGrantName(grant.Name);
      const opens = grant.Constraints?.EncryptionContextSubset?.['scope'];
      const ours = named !== undefined && opens === named.scope && grant.Constraints?.EncryptionContextEquals === undefined;
      if (ours && !doomed(named)) continue;
      if (!ours) this.logger?.warn('revoking a training grant that no dataset accounts for', { keyArn, grantId: grant.GrantId });
      await this.revokeGrant(keyArn, grant.GrantId);
      revoked.push(grant);
    }
    return trainingGrantsOf(revoked);
  }

  /**
   * A Decrypt grant for the training role on one employee's key, constrained to that employee and
   * one scope, named after the dataset: the TrainingGrants statement allows nothing wider. A
   * grant of that name already there (a retried build) is kept, not duplicated.
   */
  async createTrainingGrant(keyArn: string, employeeId: string, datasetId: string, scope: Scope): Promise<void> {
    const training = this.roles.training;
    if (training === undefined) throw new Error('no training role is configured (TRAINING_ROLE_ARN)');
    const name = trainingGrantName(datasetId, scope);
    if ((await this.listGrants(keyArn)).some((g) => g.Name === name && g.GranteePrincipal === training)) return;
    await this.kms.send(
      new CreateGrantCommand({
        KeyId: keyArn,
        Name: name,
        GranteePrincipal: training,
        Operations: ['Decrypt'],
        Constraints: { EncryptionContextSubset: { employeeId, scope } },
      }),
    );
  }

  private async listGrants(keyArn: string): Promise<GrantListEntry[]> {
    const grants: GrantListEntry[] = [];
    let marker: string | undefined;
    do {
      const page = await this.kms.send(new ListGrantsCommand({ KeyId: keyArn, ...(marker === undefined ? {} : { Marker: marker }) }));
      grants.push(...(page.Grants ?? []));
      marker = page.Truncated === true ? page.NextMarker : undefined;
    } while (marker !== undefined);
    return grants;
  }

  private async revokeGrant(keyArn: string, grantId: string): Promise<void> {
    try {
      await this.kms.send(new RevokeGrantCommand({ KeyId: keyArn, GrantId: grantId }));
    } catch (error) {
      // Retired or revoked meanwhile: the goal is reached.
      if (!isAwsError(error, 'NotFoundException')) throw error;
    }
  }

  /** Whether the key is already beyond use: gone, pending deletion, or under the shredded policy. */
  private async isShredded(keyArn: string, shreddedPolicy: object): Promise<boolean> {
    try {
      const metadata = (await this.kms.send(new DescribeKeyCommand({ KeyId: keyArn }))).KeyMetadata;
      if (metadata?.KeyState === 'PendingDeletion') return true;
      const current = await this.kms.send(new GetKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default' }));
      return samePolicy(current.Policy ?? '', shreddedPolicy);
    } catch (error) {
      if (isAwsError(error, 'NotFoundException')) return true;
      if (isAwsError(error, 'AccessDeniedException')) return false;
      throw error;
    }
  }

  /**
   * Revokes every grant on the key (export and training grants), or only those made before
   * `madeBefore`; a grant without a creation date is revoked. Answers the grants revoked.
   */
  async revokeGrants(keyArn: string, madeBefore?: Date): Promise<GrantListEntry[]> {
    const grants = await this.listGrants(keyArn);
    const doomed = madeBefore === undefined ? grants : grants.filter((g) => g.CreationDate === undefined || g.CreationDate.getTime() < madeBefore.getTime());
    for (const grant of doomed) {
      if (grant.GrantId !== undefined) await this.revokeGrant(keyArn, grant.GrantId);
    }
    return doomed;
  }

  /**
   * Revokes the export role's grants on the key that `doomed` picks (by name and creation date);
   * answers how many. The export sweep uses it on a key whose export outlived its life.
   */
  async revokeExportGrants(keyArn: string, doomed: (grant: { readonly name: string | undefined; readonly createdAt: Date | undefined }) => boolean): Promise<number> {
    let revoked = 0;
    for (const grant of await this.listGrants(keyArn)) {
      if (grant.GranteePrincipal !== this.roles.export || grant.GrantId === undefined) continue;
      if (!doomed({ name: grant.Name, createdAt: grant.CreationDate })) continue;
      await this.revokeGrant(keyArn, grant.GrantId);
      revoked += 1;
    }
    return revoked;
  }

  /**
   * A Decrypt grant for the export job, as the ExportGrants statement allows it: constrained to
   * this employee's encryption context, retirable by the export role (the job retires it when
   * done). Returns the grant id and token.
   */
  async createExportGrant(keyArn: string, employeeId: string, name: string): Promise<{ grantId: string; grantToken: string }> {
    const created = await this.kms.send(
      new CreateGrantCommand({
        KeyId: keyArn,
        Name: name,
        GranteePrincipal: this.roles.export,
        RetiringPrincipal: this.roles.export,
        Operations: ['Decrypt'],
        Constraints: { EncryptionContextSubset: { employeeId } },
      }),
    );
    if (created.GrantId === undefined || created.GrantToken === undefined) throw new Error('CreateGrant answered without a grant id or token');
    return { grantId: created.GrantId, grantToken: created.GrantToken };
  }
}

/** The roles key policies name, from the function's environment (read at module load). */
export function keyPolicyRolesFromEnv(env: NodeJS.ProcessEnv = process.env): KeyPolicyRoles {
  const auditor = optionalEnv(ENV.auditorRoleArn, env);
  const training = optionalEnv(ENV.trainingRoleArn, env);
  return {
    ingest: requireEnv(ENV.ingestRoleArn, env),
    steward: requireEnv(ENV.stewardRoleArn, env),
    export: requireEnv(ENV.exportRoleArn, env),
    purge: requireEnv(ENV.purgeRoleArn, env),
    ...(auditor === undefined ? {} : { auditor }),
    ...(training === undefined ? {} : { training }),
  };
}

/** The training grants among revoked grants, by their names. */
function trainingGrantsOf(grants: readonly GrantListEntry[]): WithdrawnGrant[] {
  return grants.flatMap((grant) => {
    const named = parseTrainingGrantName(grant.Name);
    return named === undefined ? [] : [named];
  });
}

/**
 * Grants made up to this instant predate the withdrawal: the revoked state's own instant, plus a
 * margin for the clock difference between this function and KMS (a grant made in the same second
 * as the withdrawal is taken to precede it).
 */
function withdrawnAt(state: ConsentState): Date {
  return new Date(Date.parse(state.updatedAt) + WITHDRAWAL_CLOCK_MARGIN_MS);
}

const WITHDRAWAL_CLOCK_MARGIN_MS = 2_000;
