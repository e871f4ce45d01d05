// Key lifecycle and key policies: CreateKey, DescribeKey, ListKeys, Get/Put/ListKeyPolicies,
// UpdateKeyDescription, EnableKey, DisableKey, ScheduleKeyDeletion, CancelKeyDeletion.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { policyKeepsPutKeyPolicy } from '../authorizer.js';
import { KmsException } from '../errors.js';
import { KeyStore, type StoredKey } from '../key-store.js';
import { parsePolicyDocument, PolicyGrammarError, type PolicyDocument, type PolicyStatement } from '../policy-evaluator.js';
import {
  authorizeByIdentity,
  authorizeOnKey,
  baseContext,
  defineOperation,
  epochSeconds,
  keyArn,
  keyIdInput,
  requireNotPendingDeletion,
  resolveKey,
  type OperationContext,
} from './context.js';
import { tagContext, tagsInput, validateTags } from './tags.js';

const MAX_POLICY_BYTES = 32_768;
const DAY_MS = 86_400_000;

export function defaultKeyPolicy(account: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Id: 'key-default-1',
    Statement: [
      { Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${account}:root` }, Action: 'kms:*', Resource: '*' },
    ],
  });
}

export function keyMetadata(key: StoredKey): Record<string, unknown> {
  return {
    AWSAccountId: key.accountId,
    KeyId: key.keyId,
    Arn: key.arn,
    CreationDate: epochSeconds(key.creationDate),
    Enabled: key.keyState === 'Enabled',
    Description: key.description,
    KeyUsage: 'ENCRYPT_DECRYPT',
    KeyState: key.keyState,
    ...(key.deletionDate === undefined ? {} : { DeletionDate: epochSeconds(key.deletionDate) }),
    ...(key.pendingWindowInDays === undefined ? {} : { PendingDeletionWindowInDays: key.pendingWindowInDays }),
    Origin: 'AWS_KMS',
    KeyManager: 'CUSTOMER',
    CustomerMasterKeySpec: 'SYMMETRIC_DEFAULT',
    KeySpec: 'SYMMETRIC_DEFAULT',
    EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'],
    MultiRegion: false,
  };
}

function principalsOf(statement: PolicyStatement): string[] {
  const principal = statement.Principal ?? statement.NotPrincipal;
  if (principal === undefined || principal === '*') return [];
  const aws = principal['AWS'];
  if (aws === undefined) return [];
  return typeof aws === 'string' ? [aws] : [...aws];
}

/** Grammar, size and principals, as PutKeyPolicy and CreateKey check them. */
export function validatePolicy(ctx: OperationContext, policy: string): PolicyDocument {
  if (Buffer.byteLength(policy, 'utf8') > MAX_POLICY_BYTES) {
    throw new KmsException('LimitExceededException', `The key policy exceeds the maximum size of ${MAX_POLICY_BYTES} bytes.`);
  }
  let doc: PolicyDocument;
  try {
    doc = parsePolicyDocument(policy);
  } catch (error) {
    if (error instanceof PolicyGrammarError || error instanceof SyntaxError) {
      throw new KmsException('MalformedPolicyDocumentException', `The key policy is not valid: ${error.message}`);
    }
    throw error;
  }
  const statements = Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement as PolicyStatement];
  const known = new Set(Object.values(ctx.identity.principals).map((p) => p.arn));
  const ownRole = new RegExp(`^arn:aws:iam::${ctx.identity.account}:role/`);
  for (const statement of statements) {
    for (const arn of principalsOf(statement)) {
      // AWS rejects a policy naming a role that does not exist; same here for this account's roles.
      if (ownRole.test(arn) && !known.has(arn)) {
        throw new KmsException('MalformedPolicyDocumentException', 'Policy contains a statement with one or more invalid principals.');
      }
    }
  }
  return doc;
}

function assertNoLockout(ctx: OperationContext, doc: PolicyDocument, arn: string, bypass: boolean | undefined): void {
  if (bypass === true) return;
  if (!policyKeepsPutKeyPolicy(doc, ctx.principal, arn, baseContext(ctx))) {
    throw new KmsException(
      'MalformedPolicyDocumentException',
      'The new key policy will not allow you to update the key policy in the future.',
    );
  }
}

const keyOnly = z.object({ KeyId: keyIdInput });

export const keyOperations = {
  CreateKey: defineOperation({
    readOnly: false,
    input: z.object({
      Policy: z.string().min(1).max(131_072).optional(),
      Description: z.string().max(8192).optional(),
      KeyUsage: z.enum(['ENCRYPT_DECRYPT', 'SIGN_VERIFY', 'GENERATE_VERIFY_MAC', 'KEY_AGREEMENT']).optional(),
      KeySpec: z.string().optional(),
      CustomerMasterKeySpec: z.string().optional(),
      // Every origin and MultiRegion value AWS accepts, so IAM conditions on kms:KeyOrigin and
      // kms:MultiRegion are evaluated first, as in AWS; what the local KMS cannot make is refused after.
      Origin: z.enum(['AWS_KMS', 'EXTERNAL', 'AWS_CLOUDHSM', 'EXTERNAL_KEY_STORE']).optional(),
      Tags: tagsInput.optional(),
      BypassPolicyLockoutSafetyCheck: z.boolean().optional(),
      MultiRegion: z.boolean().optional(),
    }),
    handle(ctx, input) {
      const spec = input.KeySpec ?? input.CustomerMasterKeySpec ?? 'SYMMETRIC_DEFAULT';
      const origin = input.Origin ?? 'AWS_KMS';
      const usage = input.KeyUsage ?? 'ENCRYPT_DECRYPT';
      const multiRegion = input.MultiRegion ?? false;
      ctx.trail.requestParameters = {
        description: input.Description ?? '',
        keyUsage: usage,
        keySpec: spec,
        origin,
        multiRegion,
        bypassPolicyLockoutSafetyCheck: input.BypassPolicyLockoutSafetyCheck ?? false,
        ...(input.Policy === undefined ? {} : { policy: input.Policy }),
        ...(input.Tags === undefined ? {} : { tags: input.Tags }),
      };
      const tags = validateTags(input.Tags ?? []);
      const extra = {
        ...tagContext(tags),
        'kms:KeySpec': spec,
        'kms:KeyUsage': usage,
        'kms:KeyOrigin': origin,
        'kms:MultiRegion': String(multiRegion),
        'kms:BypassPolicyLockoutSafetyCheck': String(input.BypassPolicyLockoutSafetyCheck ?? false),
      };
      authorizeByIdentity(ctx, 'kms:CreateKey', '*', extra);
      // Tagging at creation also needs kms:TagResource in an identity policy, as in AWS.
      if (tags.length > 0) authorizeByIdentity(ctx, 'kms:TagResource', '*', extra);
      if (spec !== 'SYMMETRIC_DEFAULT' || usage !== 'ENCRYPT_DECRYPT' || origin !== 'AWS_KMS' || multiRegion) {
        throw new KmsException(
          'UnsupportedOperationException',
          `The local KMS makes only single-Region SYMMETRIC_DEFAULT keys with origin AWS_KMS; got KeySpec ${spec}, Origin ${origin}, MultiRegion ${String(multiRegion)}.`,
        );
      }
      const keyId = randomUUID();
      const arn = keyArn(ctx, keyId);
      const policy = input.Policy ?? defaultKeyPolicy(ctx.identity.account);
      if (input.Policy !== undefined) {
        assertNoLockout(ctx, validatePolicy(ctx, input.Policy), arn, input.BypassPolicyLockoutSafetyCheck);
      }
      const key: StoredKey = {
        keyId,
        arn,
        accountId: ctx.identity.account,
        creationDate: ctx.clock.now().getTime(),
        description: input.Description ?? '',
        keyState: 'Enabled',
        policy,
        tags,
        rotation: { enabled: false, periodInDays: 365 },
        materials: [KeyStore.newMaterial()],
        grants: [],
      };
      ctx.store.saveKey(key);
      ctx.trail.resources = [{ ARN: arn }];
      const metadata = keyMetadata(key);
      ctx.trail.responseElements = { keyMetadata: metadata };
      return { KeyMetadata: metadata };
    },
  }),

  DescribeKey: defineOperation({
    readOnly: true,
    input: z.object({ KeyId: keyIdInput, GrantTokens: z.array(z.string()).optional() }),
    handle(ctx, input) {
      ctx.trail.requestParameters = { keyId: input.KeyId };
      const resolved = resolveKey(ctx, input.KeyId);
      authorizeOnKey(ctx, resolved, { action: 'kms:DescribeKey', grantOperation: 'DescribeKey' });
      return { KeyMetadata: keyMetadata(resolved.key) };
    },
  }),

  ListKeys: defineOperation({
    readOnly: true,
    input: z.object({ Limit: z.number().int().min(1).max(1000).optional(), Marker: z.string().optional() }),
    handle(ctx, input) {
      ctx.trail.requestParameters = {};
      authorizeByIdentity(ctx, 'kms:ListKeys', '*');
      const all = ctx.store.listKeys().sort((a, b) => a.keyId.localeCompare(b.keyId));
      const start = input.Marker === undefined ? 0 : Number(input.Marker);
      if (!Number.isInteger(start) || start < 0) throw new KmsException('ValidationException', 'Invalid Marker');
      const limit = input.Limit ?? 100;
      const page = all.slice(start, start + limit);
      const truncated = start + limit < all.length;
      return {
        Keys: page.map((k) => ({ KeyId: k.keyId, KeyArn: k.arn })),
        Truncated: truncated,
        ...(truncated ? { NextMarker: String(start + limit) } : {}),
      };
    },
  }),

  GetKeyPolicy: defineOperation({
    readOnly: true,
    input: z.object({ KeyId: keyIdInput, PolicyName: z.string().optional() }),
    handle(ctx, input) {
      ctx.trail.requestParameters = { keyId: input.KeyId, policyName: input.PolicyName ?? 'default' };
      const resolved = resolveKey(ctx, input.KeyId, { allowAlias: false });
      authorizeOnKey(ctx, resolved, { action: 'kms:GetKeyPolicy' });
      if ((input.PolicyName ?? 'default') !== 'default') throw new KmsException('NotFoundException', 'Only the default policy name is supported.');
      return { Policy: resolved.key.policy, PolicyName: 'default' };
    },
  }),

  ListKeyPolicies: defineOperation({
    readOnly: true,
    input: keyOnly,
    handle(ctx, input) {
      ctx.trail.requestParameters = { keyId: input.KeyId };
      const resolved = resolveKey(ctx, input.KeyId, { allowAlias: false });
      authorizeOnKey(ctx, resolved, { action: 'kms:ListKeyPolicies' });
      return { PolicyNames: ['default'], Truncated: false };
    },
  }),

  PutKeyPolicy: defineOperation({
    readOnly: false,
    input: z.object({
      KeyId: keyIdInput,
      Policy: z.string().min(1).max(131_072),
      PolicyName: z.string().optional(),
      BypassPolicyLockoutSafetyCheck: z.boolean().optional(),
    }),
    handle(ctx, input) {
      ctx.trail.requestParameters = {
        keyId: input.KeyId,
        policyName: input.PolicyName ?? 'default',
        policy: input.Policy,
        bypassPolicyLockoutSafetyCheck: input.BypassPolicyLockoutSafetyCheck ?? false,
      };
      const resolved = resolveKey(ctx, input.KeyId, { allowAlias: false });
      authorizeOnKey(ctx, resolved, {
        action: 'kms:PutKeyPolicy',
        extraContext: { 'kms:BypassPolicyLockoutSafetyCheck': String(input.BypassPolicyLockoutSafetyCheck ?? false) },
      });
      if ((input.PolicyName ?? 'default') !== 'default') throw new KmsException('NotFoundException', 'Only the default policy name is supported.');
      const doc = validatePolicy(ctx, input.Policy);
      assertNoLockout(ctx, doc, resolved.key.arn, input.BypassPolicyLockoutSafetyCheck);
      resolved.key.policy = input.Policy;
      ctx.store.saveKey(resolved.key);
      return {};
    },
  }),

  // As in AWS: a key id or ARN (no alias), the key policy (or an identity policy it defers to)
  // must allow it, and a key pending deletion refuses it.
  UpdateKeyDescription: defineOperation({
    readOnly: false,
    input: z.object({ KeyId: keyIdInput, Description: z.string().max(8192) }),
    handle(ctx, input) {
      ctx.trail.requestParameters = { keyId: input.KeyId, description: input.Description };
      const resolved = resolveKey(ctx, input.KeyId, { allowAlias: false });
      authorizeOnKey(ctx, resolved, { action: 'kms:UpdateKeyDescription' });
      requireNotPendingDeletion(resolved.key);
      resolved.key.description = input.Description;
      ctx.store.saveKey(resolved.key);
      return {};
    },
  }),

  EnableKey: defineOperation({
    readOnly: false,
    input: keyOnly,
    handle(ctx, input) {
      ctx.trail.requestParameters = { keyId: input.KeyId };
      const resolved = resolveKey(ctx, input.KeyId, { allowAlias: false });
      authorizeOnKey(ctx, resolved, { action: 'kms:EnableKey' });
      requireNotPendingDeletion(resolved.key);
      resolved.key.keyState = 'Enabled';
      ctx.store.saveKey(resolved.key);
      return {};
    },
  }),

  DisableKey: defineOperation({
    readOnly: false,
    input: keyOnly,
    handle(ctx, input) {
      ctx.trail.requestParameters = { keyId: input.KeyId };
      const resolved = resolveKey(ctx, input.KeyId, { allowAlias: false });
      authorizeOnKey(ctx, resolved, { action: 'kms:DisableKey' });
      requireNotPendingDeletion(resolved.key);
      resolved.key.keyState = 'Disabled';
      ctx.store.saveKey(resolved.key);
      return {};
    },
  }),

  ScheduleKeyDeletion: defineOperation({
    readOnly: false,
    input: z.object({ KeyId: keyIdInput, PendingWindowInDays: z.number().int().min(7).max(30).optional() }),
    handle(ctx, input) {
      const days = input.PendingWindowInDays ?? 30;
      ctx.trail.requestParameters = { keyId: input.KeyId, pendingWindowInDays: days };
      const resolved = resolveKey(ctx, input.KeyId, { allowAlias: false });
      authorizeOnKey(ctx, resolved, {
        action: 'kms:ScheduleKeyDeletion',
        extraContext: { 'kms:ScheduleKeyDeletionPendingWindowInDays': String(days) },
      });
      const { key } = resolved;
      requireNotPendingDeletion(key);
      key.keyState = 'PendingDeletion';
      key.deletionDate = ctx.clock.now().getTime() + days * DAY_MS;
      key.pendingWindowInDays = days;
      ctx.store.saveKey(key);
      const response = { KeyId: key.arn, DeletionDate: epochSeconds(key.deletionDate), KeyState: 'PendingDeletion', PendingWindowInDays: days };
      ctx.trail.responseElements = { keyId: key.arn, deletionDate: new Date(key.deletionDate).toISOString(), keyState: 'PendingDeletion', pendingWindowInDays: days };
      return response;
    },
  }),

  CancelKeyDeletion: defineOperation({
    readOnly: false,
    input: keyOnly,
    handle(ctx, input) {
      ctx.trail.requestParameters = { keyId: input.KeyId };
      const resolved = resolveKey(ctx, input.KeyId, { allowAlias: false });
      authorizeOnKey(ctx, resolved, { action: 'kms:CancelKeyDeletion' });
      const { key } = resolved;
      if (key.keyState !== 'PendingDeletion') {
        throw new KmsException('KMSInvalidStateException', `${key.arn} is not pending deletion.`);
      }
      // As in AWS, a key whose deletion is cancelled comes back Disabled.
      key.keyState = 'Disabled';
      delete key.deletionDate;
      delete key.pendingWindowInDays;
      ctx.store.saveKey(key);
      return { KeyId: key.arn };
    },
  }),
};
