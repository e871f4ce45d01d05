// Grants: CreateGrant, ListGrants, RetireGrant, RevokeGrant. A grant adds permissions for one
// grantee, limited to named operations and, optionally, to an encryption context.
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { principalMatches } from '../authorizer.js';
import { KmsException } from '../errors.js';
import type { StoredGrant, StoredKey } from '../key-store.js';
import type { PolicyValue } from '../policy-evaluator.js';
import {
  authorizeOnKey,
  defineOperation,
  encryptionContextKeys,
  epochSeconds,
  keyIdInput,
  requireNotPendingDeletion,
  resolveKey,
  type OperationContext,
} from './context.js';

export const GRANT_OPERATIONS = [
  'Decrypt',
  'Encrypt',
  'GenerateDataKey',
  'GenerateDataKeyWithoutPlaintext',
  'ReEncryptFrom',
  'ReEncryptTo',
  'CreateGrant',
  'RetireGrant',
  'DescribeKey',
] as const;

const principalInput = z.string().min(1).max(256);
const contextMap = z.record(z.string(), z.string());

function grantJson(grant: StoredGrant, key: StoredKey): Record<string, unknown> {
  return {
    KeyId: key.arn,
    GrantId: grant.grantId,
    ...(grant.name === undefined ? {} : { Name: grant.name }),
    CreationDate: epochSeconds(grant.creationDate),
    GranteePrincipal: grant.granteePrincipal,
    ...(grant.retiringPrincipal === undefined ? {} : { RetiringPrincipal: grant.retiringPrincipal }),
    IssuingAccount: `arn:aws:iam::${grant.issuingAccount}:root`,
    Operations: grant.operations,
    ...(grant.constraints === undefined
      ? {}
      : {
          Constraints: {
            ...(grant.constraints.encryptionContextSubset ? { EncryptionContextSubset: grant.constraints.encryptionContextSubset } : {}),
            ...(grant.constraints.encryptionContextEquals ? { EncryptionContextEquals: grant.constraints.encryptionContextEquals } : {}),
          },
        }),
  };
}

/** Grantees and retirees must be real principals: our roles (or sessions), or an account root. */
function checkPrincipal(ctx: OperationContext, arn: string, field: string): void {
  const known = Object.values(ctx.identity.principals).some((p) => p.arn === arn || p.sessionArn === arn);
  if (!known && arn !== `arn:aws:iam::${ctx.identity.account}:root`) {
    throw new KmsException('ValidationException', `Invalid ${field} ${arn}: it is not a known principal`);
  }
}

/** AWS: a grant used to create a grant can only pass on the same or fewer operations and the same or stricter constraints. */
function narrowerThan(
  operations: readonly string[],
  constraints: { EncryptionContextSubset?: Record<string, string> | undefined; EncryptionContextEquals?: Record<string, string> | undefined } | undefined,
  parent: StoredGrant,
): boolean {
  if (!operations.every((op) => parent.operations.includes(op))) return false;
  const inherited = parent.constraints;
  if (!inherited) return true;
  const pairsOf = (context: Readonly<Record<string, string>> | undefined) => new Map(Object.entries(context ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  const child = pairsOf(constraints?.EncryptionContextEquals ?? constraints?.EncryptionContextSubset);
  if (inherited.encryptionContextEquals) {
    const required = pairsOf(inherited.encryptionContextEquals);
    return constraints?.EncryptionContextEquals !== undefined && child.size === required.size && [...required].every(([k, v]) => child.get(k) === v);
  }
  return [...pairsOf(inherited.encryptionContextSubset)].every(([k, v]) => child.get(k) === v);
}

function findGrantOrThrow(key: StoredKey, grantId: string): StoredGrant {
  const grant = key.grants.find((g) => g.grantId === grantId);
  if (!grant) throw new KmsException('NotFoundException', `Grant ID ${grantId} not found`);
  return grant;
}

function removeGrant(ctx: OperationContext, key: StoredKey, grantId: string): void {
  key.grants = key.grants.filter((g) => g.grantId !== grantId);
  ctx.store.saveKey(key);
}

/** Locates a grant by its token: the token carries the key id and grant id, as AWS's tokens do. */
function decodeToken(ctx: OperationContext, token: string): { key: StoredKey; grant: StoredGrant } {
  const [keyId = '', grantId = ''] = Buffer.from(token, 'base64url').toString('utf8').split(':');
  const key = ctx.store.getKey(keyId);
  const grant = key?.grants.find((g) => g.grantId === grantId && g.grantToken === token);
  if (!key || !grant) throw new KmsException('InvalidGrantTokenException', 'The grant token is not valid.');
  return { key, grant };
}

export const grantOperations = {
  CreateGrant: defineOperation({
    readOnly: false,
    input: z.object({
      KeyId: keyIdInput,
      GranteePrincipal: principalInput,
      RetiringPrincipal: principalInput.optional(),
      Operations: z.array(z.enum(GRANT_OPERATIONS)).min(1),
      Constraints: z
        .object({ EncryptionContextSubset: contextMap.optional(), EncryptionContextEquals: contextMap.optional() })
        .optional(),
      GrantTokens: z.array(z.string()).optional(),
      Name: z.string().min(1).max(256).regex(/^[a-zA-Z0-9:/_-]+$/).optional(),
    }),
    handle(ctx, input) {
      ctx.trail.requestParameters = {
        keyId: input.KeyId,
        granteePrincipal: input.GranteePrincipal,
        ...(input.RetiringPrincipal === undefined ? {} : { retiringPrincipal: input.RetiringPrincipal }),
        operations: input.Operations,
        ...(input.Constraints === undefined ? {} : { constraints: input.Constraints }),
        ...(input.Name === undefined ? {} : { name: input.Name }),
      };
      const resolved = resolveKey(ctx, input.KeyId, { allowAlias: false });
      const constraints = input.Constraints;
      const constraintContext = constraints?.EncryptionContextEquals ?? constraints?.EncryptionContextSubset;
      const extra: Record<string, PolicyValue> = {
        'kms:GrantOperations': input.Operations,
        'kms:GranteePrincipal': input.GranteePrincipal,
        'kms:GrantIsForAWSResource': 'false',
        ...(input.RetiringPrincipal === undefined ? {} : { 'kms:RetiringPrincipal': input.RetiringPrincipal }),
        ...(constraints?.EncryptionContextEquals
          ? { 'kms:GrantConstraintType': 'EncryptionContextEquals' }
          : constraints?.EncryptionContextSubset
            ? { 'kms:GrantConstraintType': 'EncryptionContextSubset' }
            : {}),
        // For CreateGrant, kms:EncryptionContext:* conditions see the grant's constraints.
        ...encryptionContextKeys(constraintContext),
      };
      const authorization = authorizeOnKey(ctx, resolved, { action: 'kms:CreateGrant', grantOperation: 'CreateGrant', extraContext: extra });
      if (authorization.allowed && authorization.via === 'grant') {
        const parent = resolved.key.grants.find((g) => g.grantId === authorization.grantId);
        if (!parent || !narrowerThan(input.Operations, constraints, parent)) {
          throw new KmsException(
            'AccessDeniedException',
            `User: ${ctx.principal.sessionArn} is not authorized to perform: kms:CreateGrant on resource: ${resolved.key.arn} because a grant can only create grants with the same or fewer operations and the same or stricter constraints`,
          );
        }
      }
      requireNotPendingDeletion(resolved.key);
      if (constraints?.EncryptionContextEquals && constraints.EncryptionContextSubset) {
        throw new KmsException('ValidationException', 'Specify EncryptionContextEquals or EncryptionContextSubset, not both.');
      }
      checkPrincipal(ctx, input.GranteePrincipal, 'GranteePrincipal');
      if (input.RetiringPrincipal !== undefined) checkPrincipal(ctx, input.RetiringPrincipal, 'RetiringPrincipal');
      const { key } = resolved;
      const grantId = createHash('sha256').update(randomBytes(32)).digest('hex');
      const grantToken = Buffer.from(`${key.keyId}:${grantId}:${randomBytes(16).toString('hex')}`, 'utf8').toString('base64url');
      const grant: StoredGrant = {
        grantId,
        grantToken,
        ...(input.Name === undefined ? {} : { name: input.Name }),
        granteePrincipal: input.GranteePrincipal,
        ...(input.RetiringPrincipal === undefined ? {} : { retiringPrincipal: input.RetiringPrincipal }),
        operations: [...new Set(input.Operations)],
        ...(constraints === undefined
          ? {}
          : {
              constraints: {
                ...(constraints.EncryptionContextSubset ? { encryptionContextSubset: constraints.EncryptionContextSubset } : {}),
                ...(constraints.EncryptionContextEquals ? { encryptionContextEquals: constraints.EncryptionContextEquals } : {}),
              },
            }),
        issuingAccount: ctx.identity.account,
        creationDate: ctx.clock.now().getTime(),
      };
      key.grants.push(grant);
      ctx.store.saveKey(key);
      ctx.trail.responseElements = { grantId };
      return { GrantId: grantId, GrantToken: grantToken };
    },
  }),

  ListGrants: defineOperation({
    readOnly: true,
    input: z.object({
      KeyId: keyIdInput,
      GrantId: z.string().optional(),
      GranteePrincipal: principalInput.optional(),
      Limit: z.number().int().min(1).max(100).optional(),
      Marker: z.string().optional(),
    }),
    handle(ctx, input) {
      ctx.trail.requestParameters = { keyId: input.KeyId };
      const resolved = resolveKey(ctx, input.KeyId, { allowAlias: false });
      authorizeOnKey(ctx, resolved, { action: 'kms:ListGrants' });
      const matching = resolved.key.grants.filter(
        (g) =>
          (input.GrantId === undefined || g.grantId === input.GrantId) &&
          (input.GranteePrincipal === undefined || g.granteePrincipal === input.GranteePrincipal),
      );
      const start = input.Marker === undefined ? 0 : Number(input.Marker);
      if (!Number.isInteger(start) || start < 0) throw new KmsException('ValidationException', 'Invalid Marker');
      const limit = input.Limit ?? 50;
      const truncated = start + limit < matching.length;
      return {
        Grants: matching.slice(start, start + limit).map((g) => grantJson(g, resolved.key)),
        Truncated: truncated,
        ...(truncated ? { NextMarker: String(start + limit) } : {}),
      };
    },
  }),

  RetireGrant: defineOperation({
    readOnly: false,
    input: z.object({ GrantToken: z.string().min(1).max(8192).optional(), KeyId: keyIdInput.optional(), GrantId: z.string().optional() }),
    handle(ctx, input) {
      ctx.trail.requestParameters = {
        ...(input.KeyId === undefined ? {} : { keyId: input.KeyId }),
        ...(input.GrantId === undefined ? {} : { grantId: input.GrantId }),
      };
      let key: StoredKey;
      let grant: StoredGrant;
      if (input.GrantToken !== undefined) {
        ({ key, grant } = decodeToken(ctx, input.GrantToken));
      } else if (input.KeyId !== undefined && input.GrantId !== undefined) {
        key = resolveKey(ctx, input.KeyId, { allowAlias: false }).key;
        grant = findGrantOrThrow(key, input.GrantId);
      } else {
        throw new KmsException('ValidationException', 'Specify GrantToken, or both KeyId and GrantId.');
      }
      ctx.trail.resources = [{ ARN: key.arn }];
      // Retiring is governed by the grant itself, not by policies (AWS: "Retiring and revoking grants").
      const mayRetire =
        (grant.retiringPrincipal !== undefined && principalMatches(grant.retiringPrincipal, ctx.principal)) ||
        (grant.operations.includes('RetireGrant') && principalMatches(grant.granteePrincipal, ctx.principal));
      if (!mayRetire) {
        throw new KmsException(
          'AccessDeniedException',
          `User: ${ctx.principal.sessionArn} is not authorized to perform: kms:RetireGrant on resource: ${key.arn} because it is neither the grant's retiring principal nor a grantee allowed to retire it`,
        );
      }
      removeGrant(ctx, key, grant.grantId);
      return {};
    },
  }),

  RevokeGrant: defineOperation({
    readOnly: false,
    input: z.object({ KeyId: keyIdInput, GrantId: z.string().min(1) }),
    handle(ctx, input) {
      ctx.trail.requestParameters = { keyId: input.KeyId, grantId: input.GrantId };
      const resolved = resolveKey(ctx, input.KeyId, { allowAlias: false });
      authorizeOnKey(ctx, resolved, { action: 'kms:RevokeGrant' });
      findGrantOrThrow(resolved.key, input.GrantId);
      removeGrant(ctx, resolved.key, input.GrantId);
      return {};
    },
  }),
};

