// Builds every employee key policy from the consent state. One pure function, used by the key
// steward at run time, by the local stack and by the tests, so what KMS enforces is what we tested.
import type { RoleName } from '../../contract/roles.js';
import { SCOPES, type ConsentStatus, type Scope } from './consent-model.js';

export interface PolicyStatementJson {
  readonly Sid: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Principal: { readonly AWS: string | readonly string[] };
  readonly Action: string | readonly string[];
  readonly Resource: '*';
  readonly Condition?: Readonly<Record<string, Readonly<Record<string, string | readonly string[]>>>>;
}

export interface KeyPolicyDocument {
  readonly Version: '2012-10-17';
  readonly Id: string;
  readonly Statement: readonly PolicyStatementJson[];
}

/**
 * The IAM roles that appear in employee key policies. All are role ARNs, never the account root.
 * The consent role is not one of them: the HTTP-facing function has no power over any key; nor is
 * the policy-watch role, which only reads what was written.
 */
export type KeyPolicyRoles = Readonly<Record<Exclude<RoleName, 'consent' | 'datasets' | 'training' | 'policy-watch'>, string>> & {
  /** @default - no auditor statement */
  readonly auditor?: string;
  /**
   * The training role, which the steward may grant Decrypt per employee and consented scope.
   * The datasets worker is not here: it never touches a key, it asks the steward.
   * @default - no training grants statement (no dataset can get a grant)
   */
  readonly training?: string;
};

export interface KeyPolicyState {
  readonly employeeId: string;
  readonly status: ConsentStatus;
  readonly scopes: readonly Scope[];
  /** ISO-8601 instant; required when status is `paused`. */
  readonly pausedUntil?: string;
}

/** The encryption context keys ingest must send, exactly (case included) and nothing else. */
export const ENCRYPTION_CONTEXT_KEYS = ['employeeId', 'scope', 'batchId'] as const;

/**
 * The tag that opens `Shredding` to the purge role. Only the steward role may set it, only to
 * this value, and nobody may remove it: the purge role alone cannot shred an active key.
 */
export const ERASURE_TAG = { key: 'erasure', value: 'requested' } as const;

/**
 * What the steward role may do to a key: steward it, never use it for cryptography. Only what
 * KeySteward calls: no EnableKey (it could undo a purge's DisableKey), no ListResourceTags.
 */
export const STEWARDSHIP_ACTIONS = [
  'kms:PutKeyPolicy',
  'kms:GetKeyPolicy',
  'kms:DescribeKey',
  // TagResource is not here: the ErasureTag statement allows exactly one tag.
  // CreateAlias and EnableKeyRotation are needed right after CreateKey, and KMS authorizes both
  // against the new key's policy. Without them first consent fails (docs/design.md, change 1).
  'kms:CreateAlias',
  'kms:EnableKeyRotation',
  'kms:GetKeyRotationStatus',
  'kms:ListGrants',
  'kms:RevokeGrant',
  // The sealed consent windows live in the key's description (sealed-windows.ts); no other
  // statement allows it, so no ledger writer can add consent to the past.
  'kms:UpdateKeyDescription',
] as const;

export const SHREDDING_ACTIONS = ['kms:DisableKey', 'kms:ScheduleKeyDeletion', 'kms:DescribeKey'] as const;
/** What the steward role keeps on an erased key: enough to see that it is erased, nothing to undo it. */
export const SHREDDED_STEWARD_ACTIONS = ['kms:DescribeKey', 'kms:GetKeyPolicy'] as const;
export const AUDITOR_ACTIONS = ['kms:DescribeKey', 'kms:GetKeyPolicy', 'kms:ListGrants'] as const;

const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const ROLE_ARN_PATTERN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;

export class KeyPolicyInputError extends Error {
  override readonly name = 'KeyPolicyInputError';
}

/**
 * The key policy for an employee's consent state.
 * - always: stewardship, the erasure tag, shredding once that tag is set (and auditors).
 * - `active`: plus capture for the consented scopes, the ingest role's DescribeKey (it checks
 *   that the alias names the ledger's key), export grants constrained to this employee, and
 *   training grants constrained to this employee and one consented scope.
 * - `paused`: as active, plus a Deny that lapses at `pausedUntil` inside KMS.
 * - `revoked`: export grants only. Revoking without erasure keeps the key precisely so the
 *   employee can still export; the withdrawal revokes the grants that existed before it, and a
 *   new export mints a new, equally constrained grant. No capture.
 * - `none`: nothing more: no data was ever captured, so there is nothing to export.
 * - `purging` / `purged`: the shredded policy (see buildShreddedKeyPolicy).
 */
export function buildKeyPolicy(state: KeyPolicyState, roles: KeyPolicyRoles): KeyPolicyDocument {
  assertEmployeeId(state.employeeId);
  assertRoles(roles);
  if (state.status === 'purging' || state.status === 'purged') {
    return buildShreddedKeyPolicy(state.employeeId, roles);
  }
  const statements: PolicyStatementJson[] = [stewardship(roles), erasureTag(roles), shredding(roles)];
  if (state.status === 'active' || state.status === 'paused') {
    const scopes = normaliseScopes(state.scopes);
    statements.push(exportGrants(state.employeeId, roles), captureWhileConsented(state.employeeId, scopes, roles.ingest), ingestFindsKey(roles.ingest));
    // Active or paused: the scopes are consented now (a pause stops capture, not consent).
    if (roles.training !== undefined) statements.push(trainingGrants(state.employeeId, scopes, roles));
  }
  if (state.status === 'revoked') statements.push(exportGrants(state.employeeId, roles));
  if (state.status === 'paused') {
    statements.push(paused(requireInstant(state.pausedUntil), roles.ingest));
  }
  if (roles.auditor !== undefined) statements.push(auditors(roles.auditor));
  return document(state.employeeId, statements);
}

/**
 * The policy of an erased key: the purge role may disable it, schedule its deletion and describe
 * it; the steward role and auditors may only read it. Nobody may put a policy, enable the key or
 * cancel its deletion again, so not even this application can undo an erasure. The steward
 * role installs it with BypassPolicyLockoutSafetyCheck, because it locks the steward role out.
 */
export function buildShreddedKeyPolicy(employeeId: string, roles: KeyPolicyRoles): KeyPolicyDocument {
  assertEmployeeId(employeeId);
  assertRoles(roles);
  const statements: PolicyStatementJson[] = [
    { Sid: 'ShreddedReadOnly', Effect: 'Allow', Principal: { AWS: roles.steward }, Action: [...SHREDDED_STEWARD_ACTIONS], Resource: '*' },
    shredding(roles),
  ];
  if (roles.auditor !== undefined) statements.push(auditors(roles.auditor));
  return document(employeeId, statements);
}

function document(employeeId: string, statements: PolicyStatementJson[]): KeyPolicyDocument {
  return { Version: '2012-10-17', Id: `consent-capture/${employeeId}`, Statement: statements };
}

function stewardship(roles: KeyPolicyRoles): PolicyStatementJson {
  return {
    Sid: 'KeyStewardship',
    Effect: 'Allow',
    Principal: { AWS: roles.steward },
    Action: [...STEWARDSHIP_ACTIONS],
    Resource: '*',
  };
}

/**
 * Kept apart from stewardship: the steward role may mint only Decrypt grants, only for the export
 * role, which must be able to retire them, and only constrained to this employee's encryption
 * context. For CreateGrant, `kms:EncryptionContext:employeeId` is read from the grant's
 * constraint, and `kms:GrantConstraintType` pins the constraint to a subset (the objects carry
 * scope and batchId too, which the export must not have to list).
 */
function exportGrants(employeeId: string, roles: KeyPolicyRoles): PolicyStatementJson {
  return {
    Sid: 'ExportGrants',
    Effect: 'Allow',
    Principal: { AWS: roles.steward },
    Action: 'kms:CreateGrant',
    Resource: '*',
    Condition: {
      'ForAllValues:StringEquals': { 'kms:GrantOperations': ['Decrypt'] },
      StringEquals: {
        'kms:GranteePrincipal': roles.export,
        'kms:RetiringPrincipal': roles.export,
        'kms:GrantConstraintType': 'EncryptionContextSubset',
        'kms:EncryptionContext:employeeId': employeeId,
      },
      Bool: { 'kms:GrantIsForAWSResource': 'false' },
    },
  };
}

/**
 * The steward role may grant the training role Decrypt only under a constraint that names this
 * employee and one scope consented now: a scope that is not in this statement cannot be granted,
 * even by a compromised steward. `kms:EncryptionContext:scope` is read from the grant's constraint,
 * so a constraint without a scope (which would open every scope) matches nothing. The statement
 * goes when consent does; the steward revokes the grants that no longer match in the same change.
 */
function trainingGrants(employeeId: string, scopes: readonly Scope[], roles: KeyPolicyRoles): PolicyStatementJson {
  return {
    Sid: 'TrainingGrants',
    Effect: 'Allow',
    Principal: { AWS: roles.steward },
    Action: 'kms:CreateGrant',
    Resource: '*',
    Condition: {
      'ForAllValues:StringEquals': { 'kms:GrantOperations': ['Decrypt'] },
      StringEquals: {
        'kms:GranteePrincipal': roles.training ?? '',
        'kms:GrantConstraintType': 'EncryptionContextSubset',
        'kms:EncryptionContext:employeeId': employeeId,
        'kms:EncryptionContext:scope': [...scopes],
      },
      // A retiring principal could only be the training job itself; the steward revokes instead.
      Null: { 'kms:RetiringPrincipal': 'true' },
      Bool: { 'kms:GrantIsForAWSResource': 'false' },
    },
  };
}

/** The steward role may set the erasure tag and nothing else; nobody may untag. */
function erasureTag(roles: KeyPolicyRoles): PolicyStatementJson {
  return {
    Sid: 'ErasureTag',
    Effect: 'Allow',
    Principal: { AWS: roles.steward },
    Action: 'kms:TagResource',
    Resource: '*',
    Condition: {
      StringEquals: { [`aws:RequestTag/${ERASURE_TAG.key}`]: ERASURE_TAG.value },
      'ForAllValues:StringEquals': { 'aws:TagKeys': [ERASURE_TAG.key] },
    },
  };
}

/** Only once the steward role has tagged the key for erasure (it does so when the ledger records one). */
function shredding(roles: KeyPolicyRoles): PolicyStatementJson {
  return {
    Sid: 'Shredding',
    Effect: 'Allow',
    Principal: { AWS: roles.purge },
    Action: [...SHREDDING_ACTIONS],
    Resource: '*',
    Condition: { StringEquals: { [`aws:ResourceTag/${ERASURE_TAG.key}`]: ERASURE_TAG.value } },
  };
}

/** Ingest resolves the alias and compares the key with the one the ledger records. */
function ingestFindsKey(ingest: string): PolicyStatementJson {
  return { Sid: 'IngestFindsKey', Effect: 'Allow', Principal: { AWS: ingest }, Action: 'kms:DescribeKey', Resource: '*' };
}

function captureWhileConsented(employeeId: string, scopes: readonly Scope[], ingest: string): PolicyStatementJson {
  return {
    Sid: 'CaptureWhileConsented',
    Effect: 'Allow',
    Principal: { AWS: ingest },
    Action: 'kms:GenerateDataKey',
    Resource: '*',
    Condition: {
      StringEquals: {
        'kms:EncryptionContext:employeeId': employeeId,
        'kms:EncryptionContext:scope': scopes,
      },
      // Context key names are case-insensitive in conditions; this pins their exact spelling and
      // forbids extra pairs, so CloudTrail shows exactly what was allowed.
      'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': [...ENCRYPTION_CONTEXT_KEYS] },
      // ForAllValues only bounds the set from above: also require the batch id, so every data
      // key in CloudTrail names the batch it encrypted.
      Null: { 'kms:EncryptionContext:batchId': 'false' },
    },
  };
}

function paused(pausedUntil: string, ingest: string): PolicyStatementJson {
  return {
    Sid: 'Paused',
    Effect: 'Deny',
    Principal: { AWS: ingest },
    Action: 'kms:GenerateDataKey*',
    Resource: '*',
    Condition: { DateLessThan: { 'aws:CurrentTime': pausedUntil } },
  };
}

function auditors(auditor: string): PolicyStatementJson {
  return {
    Sid: 'Auditors',
    Effect: 'Allow',
    Principal: { AWS: auditor },
    Action: [...AUDITOR_ACTIONS],
    Resource: '*',
  };
}

function normaliseScopes(scopes: readonly Scope[]): Scope[] {
  const unknown = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
  if (unknown.length > 0) {
    throw new KeyPolicyInputError(`unknown scope(s) ${JSON.stringify(unknown)}; use any of ${SCOPES.join(', ')}`);
  }
  if (scopes.length === 0) {
    throw new KeyPolicyInputError('an active or paused consent needs at least one scope');
  }
  // Sorted and de-duplicated, so equal states always give byte-identical policies.
  return SCOPES.filter((s) => scopes.includes(s));
}

function requireInstant(value: string | undefined): string {
  if (value === undefined) throw new KeyPolicyInputError('a paused state needs pausedUntil');
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new KeyPolicyInputError(`pausedUntil ${JSON.stringify(value)} is not an ISO-8601 instant`);
  return new Date(ms).toISOString();
}

function assertEmployeeId(id: string): void {
  if (!ID_PATTERN.test(id)) {
    throw new KeyPolicyInputError(`employeeId ${JSON.stringify(id)} must match ${ID_PATTERN.source}`);
  }
}

function assertRoles(roles: KeyPolicyRoles): void {
  for (const [name, arn] of Object.entries(roles)) {
    if (arn === undefined) continue;
    if (typeof arn !== 'string' || !ROLE_ARN_PATTERN.test(arn)) {
      throw new KeyPolicyInputError(`${name} role ${JSON.stringify(arn)} must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)`);
    }
  }
}
