// Aliases: CreateAlias, UpdateAlias, DeleteAlias, ListAliases. Changing an alias needs permission
// on the key or keys it names (key policies) and on the alias (identity policy), as in AWS.
import { z } from 'zod';
import { KmsException } from '../errors.js';
import { requireAuthorized } from '../authorizer.js';
import {
  aliasArn,
  authorizeByIdentity,
  authorizeOnKey,
  baseContext,
  defineOperation,
  epochSeconds,
  keyIdInput,
  requireNotPendingDeletion,
  resolveKey,
  type OperationContext,
} from './context.js';

const ALIAS_NAME = /^alias\/[a-zA-Z0-9/_-]+$/;
const aliasNameInput = z.string().min(1).max(256);

function checkAliasName(name: string): void {
  if (!ALIAS_NAME.test(name)) {
    throw new KmsException('ValidationException', `Alias must start with the prefix "alias/" and contain only alphanumerics, '/', '_' or '-': ${name}`);
  }
  if (name.startsWith('alias/aws/')) {
    throw new KmsException('ValidationException', `Alias names beginning with alias/aws/ are reserved for AWS managed keys: ${name}`);
  }
}

function authorizeOnAlias(ctx: OperationContext, action: string, name: string): void {
  requireAuthorized({ principal: ctx.principal, action, resource: aliasArn(ctx, name), context: baseContext(ctx) });
}

export const aliasOperations = {
  CreateAlias: defineOperation({
    readOnly: false,
    input: z.object({ AliasName: aliasNameInput, TargetKeyId: keyIdInput }),
    handle(ctx, input) {
      ctx.trail.requestParameters = { aliasName: input.AliasName, targetKeyId: input.TargetKeyId };
      checkAliasName(input.AliasName);
      const resolved = resolveKey(ctx, input.TargetKeyId, { allowAlias: false });
      authorizeOnKey(ctx, resolved, { action: 'kms:CreateAlias' });
      authorizeOnAlias(ctx, 'kms:CreateAlias', input.AliasName);
      ctx.trail.resources = [{ ARN: aliasArn(ctx, input.AliasName) }, { ARN: resolved.key.arn }];
      requireNotPendingDeletion(resolved.key);
      if (ctx.store.getAlias(input.AliasName)) {
        throw new KmsException('AlreadyExistsException', `An alias with the name ${aliasArn(ctx, input.AliasName)} already exists`);
      }
      const now = ctx.clock.now().getTime();
      ctx.store.putAlias({ aliasName: input.AliasName, targetKeyId: resolved.key.keyId, creationDate: now, lastUpdatedDate: now });
      return {};
    },
  }),

  UpdateAlias: defineOperation({
    readOnly: false,
    input: z.object({ AliasName: aliasNameInput, TargetKeyId: keyIdInput }),
    handle(ctx, input) {
      ctx.trail.requestParameters = { aliasName: input.AliasName, targetKeyId: input.TargetKeyId };
      checkAliasName(input.AliasName);
      const alias = ctx.store.getAlias(input.AliasName);
      if (!alias) throw new KmsException('NotFoundException', `Alias ${aliasArn(ctx, input.AliasName)} is not found.`);
      // As in AWS: permission on the alias, on the key it names now, and on the key it will name.
      const current = resolveKey(ctx, alias.targetKeyId, { allowAlias: false });
      const target = resolveKey(ctx, input.TargetKeyId, { allowAlias: false });
      authorizeOnKey(ctx, current, { action: 'kms:UpdateAlias' });
      authorizeOnKey(ctx, target, { action: 'kms:UpdateAlias' });
      authorizeOnAlias(ctx, 'kms:UpdateAlias', input.AliasName);
      ctx.trail.resources = [{ ARN: aliasArn(ctx, input.AliasName) }, { ARN: current.key.arn }, { ARN: target.key.arn }];
      requireNotPendingDeletion(target.key);
      ctx.store.putAlias({ ...alias, targetKeyId: target.key.keyId, lastUpdatedDate: ctx.clock.now().getTime() });
      return {};
    },
  }),

  DeleteAlias: defineOperation({
    readOnly: false,
    input: z.object({ AliasName: aliasNameInput }),
    handle(ctx, input) {
      ctx.trail.requestParameters = { aliasName: input.AliasName };
      const resolved = resolveKey(ctx, input.AliasName);
      authorizeOnKey(ctx, resolved, { action: 'kms:DeleteAlias' });
      authorizeOnAlias(ctx, 'kms:DeleteAlias', input.AliasName);
      ctx.store.deleteAlias(input.AliasName);
      return {};
    },
  }),

  ListAliases: defineOperation({
    readOnly: true,
    input: z.object({ KeyId: keyIdInput.optional(), Limit: z.number().int().min(1).max(100).optional(), Marker: z.string().optional() }),
    handle(ctx, input) {
      ctx.trail.requestParameters = input.KeyId === undefined ? {} : { keyId: input.KeyId };
      authorizeByIdentity(ctx, 'kms:ListAliases', '*');
      const keyId = input.KeyId === undefined ? undefined : resolveKey(ctx, input.KeyId, { allowAlias: false }).key.keyId;
      const all = ctx.store
        .listAliases()
        .filter((a) => keyId === undefined || a.targetKeyId === keyId)
        .filter((a) => ctx.store.getKey(a.targetKeyId) !== undefined)
        .sort((a, b) => a.aliasName.localeCompare(b.aliasName));
      const start = input.Marker === undefined ? 0 : Number(input.Marker);
      if (!Number.isInteger(start) || start < 0) throw new KmsException('ValidationException', 'Invalid Marker');
      const limit = input.Limit ?? 50;
      const truncated = start + limit < all.length;
      return {
        Aliases: all.slice(start, start + limit).map((a) => ({
          AliasName: a.aliasName,
          AliasArn: aliasArn(ctx, a.aliasName),
          TargetKeyId: a.targetKeyId,
          CreationDate: epochSeconds(a.creationDate),
          LastUpdatedDate: epochSeconds(a.lastUpdatedDate),
        })),
        Truncated: truncated,
        ...(truncated ? { NextMarker: String(start + limit) } : {}),
      };
    },
  }),
};
