// Key tags: TagResource, UntagResource, ListResourceTags, and the tag condition keys.
import { z } from 'zod';
import { KmsException } from '../errors.js';
import type { PolicyValue } from '../policy-evaluator.js';
import { authorizeOnKey, defineOperation, keyIdInput, requireNotPendingDeletion, resolveKey } from './context.js';

export const tagsInput = z.array(z.object({ TagKey: z.string().min(1).max(128), TagValue: z.string().max(256) })).max(50);

export type Tag = { TagKey: string; TagValue: string };

/** Rejects reserved and duplicate keys, as KMS does. */
export function validateTags(tags: readonly Tag[]): Tag[] {
  const seen = new Set<string>();
  for (const tag of tags) {
    if (tag.TagKey.toLowerCase().startsWith('aws:')) throw new KmsException('TagException', `Tag key ${tag.TagKey} uses the reserved prefix aws:`);
    if (seen.has(tag.TagKey)) throw new KmsException('TagException', `Duplicate tag key ${tag.TagKey}`);
    seen.add(tag.TagKey);
  }
  return tags.map((t) => ({ TagKey: t.TagKey, TagValue: t.TagValue }));
}

/** aws:RequestTag/<key> for each tag and aws:TagKeys, the keys a tagging request carries. */
export function tagContext(tags: readonly Tag[]): Record<string, PolicyValue> {
  const context: Record<string, PolicyValue> = {};
  for (const tag of tags) context[`aws:RequestTag/${tag.TagKey}`] = tag.TagValue;
  if (tags.length > 0) context['aws:TagKeys'] = tags.map((t) => t.TagKey);
  return context;
}

export const tagOperations = {
  TagResource: defineOperation({
    readOnly: false,
    input: z.object({ KeyId: keyIdInput, Tags: tagsInput }),
    handle(ctx, input) {
      ctx.trail.requestParameters = { keyId: input.KeyId, tags: input.Tags };
      const resolved = resolveKey(ctx, input.KeyId, { allowAlias: false });
      const tags = validateTags(input.Tags);
      authorizeOnKey(ctx, resolved, { action: 'kms:TagResource', extraContext: tagContext(tags) });
      requireNotPendingDeletion(resolved.key);
      const merged = new Map(resolved.key.tags.map((t) => [t.TagKey, t.TagValue]));
      for (const tag of tags) merged.set(tag.TagKey, tag.TagValue);
      resolved.key.tags = [...merged].map(([TagKey, TagValue]) => ({ TagKey, TagValue }));
      ctx.store.saveKey(resolved.key);
      return {};
    },
  }),

  UntagResource: defineOperation({
    readOnly: false,
    input: z.object({ KeyId: keyIdInput, TagKeys: z.array(z.string().min(1).max(128)).max(50) }),
    handle(ctx, input) {
      ctx.trail.requestParameters = { keyId: input.KeyId, tagKeys: input.TagKeys };
      const resolved = resolveKey(ctx, input.KeyId, { allowAlias: false });
      authorizeOnKey(ctx, resolved, { action: 'kms:UntagResource', extraContext: { 'aws:TagKeys': input.TagKeys } });
      requireNotPendingDeletion(resolved.key);
      resolved.key.tags = resolved.key.tags.filter((t) => !input.TagKeys.includes(t.TagKey));
      ctx.store.saveKey(resolved.key);
      return {};
    },
  }),

  ListResourceTags: defineOperation({
    readOnly: true,
    input: z.object({ KeyId: keyIdInput, Limit: z.number().int().min(1).max(50).optional(), Marker: z.string().optional() }),
    handle(ctx, input) {
      ctx.trail.requestParameters = { keyId: input.KeyId };
      const resolved = resolveKey(ctx, input.KeyId, { allowAlias: false });
      authorizeOnKey(ctx, resolved, { action: 'kms:ListResourceTags' });
      return { Tags: resolved.key.tags, Truncated: false };
    },
  }),
};
