// Cryptographic operations: GenerateDataKey, GenerateDataKeyWithoutPlaintext, Encrypt, Decrypt.
// Validation comes first, then authorization, then the key's state, then the work, as in AWS.
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { open, parseBlob, seal } from '../ciphertext.js';
import { KmsException, validationError } from '../errors.js';
import type { StoredKey } from '../key-store.js';
import {
  authorizeOnKey,
  defineOperation,
  encryptionContextInput,
  grantTokensInput,
  keyIdInput,
  requireUsable,
  resolveKey,
  type OperationContext,
} from './context.js';

const MAX_CONTEXT_BYTES = 8192;
const blobInput = z.string().min(1).max(8192);

function decodeBlob(value: string, field: string, max: number): Buffer {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value)) throw new KmsException('SerializationException', `${field} is not valid base64`);
  const bytes = Buffer.from(value, 'base64');
  if (bytes.length < 1 || bytes.length > max) throw validationError(field, `<${bytes.length} bytes>`, `Member must have length between 1 and ${max}`);
  return bytes;
}

function checkContext(context: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const ctx = context ?? {};
  const size = Object.entries(ctx).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
  if (size > MAX_CONTEXT_BYTES) throw new KmsException('ValidationException', `The encryption context exceeds ${MAX_CONTEXT_BYTES} bytes.`);
  return { ...ctx };
}

function dataKeyLength(input: { KeySpec?: string | undefined; NumberOfBytes?: number | undefined }): number {
  if ((input.KeySpec === undefined) === (input.NumberOfBytes === undefined)) {
    throw new KmsException('ValidationException', 'Please specify either number of bytes or key spec.');
  }
  return input.KeySpec === 'AES_128' ? 16 : input.KeySpec === 'AES_256' ? 32 : (input.NumberOfBytes as number);
}

function currentMaterial(key: StoredKey): { material: Buffer; version: number } {
  const version = key.materials.length - 1;
  return { material: Buffer.from(key.materials[version] as string, 'base64'), version };
}

const dataKeyInput = z.object({
  KeyId: keyIdInput,
  KeySpec: z.enum(['AES_256', 'AES_128']).optional(),
  NumberOfBytes: z.number().int().min(1).max(1024).optional(),
  EncryptionContext: encryptionContextInput,
  GrantTokens: grantTokensInput,
});

function generateDataKey(ctx: OperationContext, input: z.infer<typeof dataKeyInput>, action: 'GenerateDataKey' | 'GenerateDataKeyWithoutPlaintext') {
  const context = checkContext(input.EncryptionContext);
  ctx.trail.requestParameters = {
    keyId: input.KeyId,
    encryptionContext: context,
    ...(input.KeySpec === undefined ? {} : { keySpec: input.KeySpec }),
    ...(input.NumberOfBytes === undefined ? {} : { numberOfBytes: input.NumberOfBytes }),
  };
  const length = dataKeyLength(input);
  const resolved = resolveKey(ctx, input.KeyId);
  authorizeOnKey(ctx, resolved, { action: `kms:${action}`, grantOperation: action, encryptionContext: context });
  requireUsable(resolved.key);
  const plaintext = randomBytes(length);
  const { material, version } = currentMaterial(resolved.key);
  const blob = seal(resolved.key, material, version, plaintext, context);
  return { key: resolved.key, plaintext, blob };
}

export const cryptoOperations = {
  GenerateDataKey: defineOperation({
    readOnly: true,
    input: dataKeyInput,
    handle(ctx, input) {
      const { key, plaintext, blob } = generateDataKey(ctx, input, 'GenerateDataKey');
      return { CiphertextBlob: blob.toString('base64'), Plaintext: plaintext.toString('base64'), KeyId: key.arn };
    },
  }),

  GenerateDataKeyWithoutPlaintext: defineOperation({
    readOnly: true,
    input: dataKeyInput,
    handle(ctx, input) {
      const { key, blob } = generateDataKey(ctx, input, 'GenerateDataKeyWithoutPlaintext');
      return { CiphertextBlob: blob.toString('base64'), KeyId: key.arn };
    },
  }),

  Encrypt: defineOperation({
    readOnly: true,
    input: z.object({
      KeyId: keyIdInput,
      Plaintext: z.string().min(1),
      EncryptionContext: encryptionContextInput,
      GrantTokens: grantTokensInput,
      EncryptionAlgorithm: z.literal('SYMMETRIC_DEFAULT').optional(),
    }),
    handle(ctx, input) {
      const context = checkContext(input.EncryptionContext);
      ctx.trail.requestParameters = { keyId: input.KeyId, encryptionContext: context, encryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
      const plaintext = decodeBlob(input.Plaintext, 'plaintext', 4096);
      const resolved = resolveKey(ctx, input.KeyId);
      authorizeOnKey(ctx, resolved, { action: 'kms:Encrypt', grantOperation: 'Encrypt', encryptionContext: context });
      requireUsable(resolved.key);
      const { material, version } = currentMaterial(resolved.key);
      const blob = seal(resolved.key, material, version, plaintext, context);
      return { CiphertextBlob: blob.toString('base64'), KeyId: resolved.key.arn, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
    },
  }),

  Decrypt: defineOperation({
    readOnly: true,
    input: z.object({
      CiphertextBlob: blobInput,
      EncryptionContext: encryptionContextInput,
      GrantTokens: grantTokensInput,
      KeyId: keyIdInput.optional(),
      EncryptionAlgorithm: z.literal('SYMMETRIC_DEFAULT').optional(),
    }),
    handle(ctx, input) {
      const context = checkContext(input.EncryptionContext);
      ctx.trail.requestParameters = {
        encryptionContext: context,
        encryptionAlgorithm: 'SYMMETRIC_DEFAULT',
        ...(input.KeyId === undefined ? {} : { keyId: input.KeyId }),
      };
      const parsed = parseBlob(decodeBlob(input.CiphertextBlob, 'ciphertextBlob', 6144));
      if (!parsed) throw new KmsException('InvalidCiphertextException', '');
      const resolved = resolveKey(ctx, parsed.keyId, { allowAlias: false });
      if (input.KeyId !== undefined && resolveKey(ctx, input.KeyId).key.keyId !== resolved.key.keyId) {
        throw new KmsException('IncorrectKeyException', 'The key ID in the request does not identify a CMK that can perform this operation.');
      }
      authorizeOnKey(ctx, resolved, { action: 'kms:Decrypt', grantOperation: 'Decrypt', encryptionContext: context });
      requireUsable(resolved.key);
      const material = resolved.key.materials[parsed.materialVersion];
      const plaintext = material === undefined ? undefined : open(resolved.key.arn, Buffer.from(material, 'base64'), parsed, context);
      if (!plaintext) throw new KmsException('InvalidCiphertextException', '');
      return { KeyId: resolved.key.arn, Plaintext: plaintext.toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
    },
  }),
};
