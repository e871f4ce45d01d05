// Automatic key rotation: EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus. A rotation
// that falls due (by the adjustable clock) adds key material; old ciphertexts still decrypt.
import { z } from 'zod';
import { authorizeOnKey, defineOperation, epochSeconds, keyIdInput, requireUsable, resolveKey } from './context.js';

const DAY_MS = 86_400_000;

export const rotationOperations = {
  EnableKeyRotation: defineOperation({
    readOnly: false,
    input: z.object({ KeyId: keyIdInput, RotationPeriodInDays: z.number().int().min(90).max(2560).optional() }),
    handle(ctx, input) {
      const period = input.RotationPeriodInDays ?? 365;
      ctx.trail.requestParameters = { keyId: input.KeyId, rotationPeriodInDays: period };
      const resolved = resolveKey(ctx, input.KeyId, { allowAlias: false });
      authorizeOnKey(ctx, resolved, { action: 'kms:EnableKeyRotation' });
      requireUsable(resolved.key);
      resolved.key.rotation = { enabled: true, periodInDays: period, nextRotationDate: ctx.clock.now().getTime() + period * DAY_MS };
      ctx.store.saveKey(resolved.key);
      return {};
    },
  }),

  DisableKeyRotation: defineOperation({
    readOnly: false,
    input: z.object({ KeyId: keyIdInput }),
    handle(ctx, input) {
      ctx.trail.requestParameters = { keyId: input.KeyId };
      const resolved = resolveKey(ctx, input.KeyId, { allowAlias: false });
      authorizeOnKey(ctx, resolved, { action: 'kms:DisableKeyRotation' });
      requireUsable(resolved.key);
      resolved.key.rotation = { enabled: false, periodInDays: resolved.key.rotation.periodInDays };
      ctx.store.saveKey(resolved.key);
      return {};
    },
  }),

  GetKeyRotationStatus: defineOperation({
    readOnly: true,
    input: z.object({ KeyId: keyIdInput }),
    handle(ctx, input) {
      ctx.trail.requestParameters = { keyId: input.KeyId };
      const resolved = resolveKey(ctx, input.KeyId, { allowAlias: false });
      authorizeOnKey(ctx, resolved, { action: 'kms:GetKeyRotationStatus' });
      const { rotation } = resolved.key;
      return {
        KeyId: resolved.key.arn,
        KeyRotationEnabled: rotation.enabled,
        ...(rotation.enabled ? { RotationPeriodInDays: rotation.periodInDays } : {}),
        ...(rotation.nextRotationDate === undefined ? {} : { NextRotationDate: epochSeconds(rotation.nextRotationDate) }),
      };
    },
  }),
};
