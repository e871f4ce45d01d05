// What every KMS operation handler receives, and the helpers they share: key-id resolution,
// condition context, key-state checks and authorization with AWS's error messages.
import { requestContext } from '../../iam/authorizer.js';
import { z } from 'zod';
import type { LocalIdentity, LocalPrincipal } from '../../principals.js';
import { requireAuthorized, type Authorization } from '../authorizer.js';
import type { Clock } from '../clock.js';
import { KmsException } from '../errors.js';
import { KeyStore, type StoredKey } from '../key-store.js';
import type { PolicyValue } from '../policy-evaluator.js';

export interface TrailNotes {
  requestParameters: Record<string, unknown> | null;
  responseElements: Record<string, unknown> | null;
  resources: { ARN: string }[];
}

export interface OperationContext {
  readonly principal: LocalPrincipal;
  readonly identity: LocalIdentity;
  readonly store: KeyStore;
  readonly clock: Clock;
  /** Handlers record what CloudTrail should show; never plaintext. */
  readonly trail: TrailNotes;
}

export interface Operation<I extends z.ZodType = z.ZodType> {
  readonly input: I;
  readonly readOnly: boolean;
  handle(ctx: OperationContext, input: z.infer<I>): Record<string, unknown>;
}

export function defineOperation<I extends z.ZodType>(op: Operation<I>): Operation {
  return op as unknown as Operation;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const keyIdInput = z.string().min(1).max(2048);
export const encryptionContextInput = z.record(z.string(), z.string()).optional();
export const grantTokensInput = z.array(z.string().min(1).max(8192)).max(10).optional();

export interface ResolvedKey {
  readonly key: StoredKey;
  /** The alias name the caller used, for kms:RequestAlias. */
  readonly requestAlias?: string;
}

export function keyArn(ctx: OperationContext, keyId: string): string {
  return `arn:aws:kms:${ctx.identity.region}:${ctx.identity.account}:key/${keyId}`;
}

export function aliasArn(ctx: OperationContext, aliasName: string): string {
  return `arn:aws:kms:${ctx.identity.region}:${ctx.identity.account}:${aliasName}`;
}

/** Looks a key up by id, key ARN, alias name or alias ARN, as KMS accepts. */
export function resolveKey(ctx: OperationContext, keyId: string, options: { allowAlias: boolean } = { allowAlias: true }): ResolvedKey {
  const arnPrefix = `arn:aws:kms:${ctx.identity.region}:${ctx.identity.account}:`;
  let id = keyId;
  if (id.startsWith('arn:')) {
    if (!id.startsWith(arnPrefix)) {
      if (/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)\//.test(id)) {
        throw new KmsException('NotFoundException', `Key '${keyId}' does not exist`);
      }
      throw new KmsException('InvalidArnException', `ARN ${keyId} is not a valid KMS key or alias ARN`);
    }
    id = id.slice(arnPrefix.length);
    if (id.startsWith('key/')) id = id.slice(4);
  }
  if (id.startsWith('alias/')) {
    if (!options.allowAlias) throw new KmsException('NotFoundException', `Invalid keyId ${keyId}`);
    const alias = ctx.store.getAlias(id);
    const key = alias && liveKey(ctx, alias.targetKeyId);
    if (!key) throw new KmsException('NotFoundException', `Alias ${aliasArn(ctx, id)} is not found.`);
    return { key, requestAlias: id };
  }
  if (!UUID.test(id)) throw new KmsException('NotFoundException', `Invalid keyId ${keyId}`);
  const key = liveKey(ctx, id);
  if (!key) throw new KmsException('NotFoundException', `Key '${keyArn(ctx, id)}' does not exist`);
  return { key };
}

/** A key past its deletion date is gone, as it would be in AWS; rotation due by now happens. */
function liveKey(ctx: OperationContext, keyId: string): StoredKey | undefined {
  const key = ctx.store.getKey(keyId);
  if (!key) return undefined;
  const now = ctx.clock.now().getTime();
  if (key.keyState === 'PendingDeletion' && key.deletionDate !== undefined && key.deletionDate <= now) {
    ctx.store.deleteKey(keyId);
    return undefined;
  }
  const next = key.rotation.nextRotationDate;
  if (key.rotation.enabled && key.keyState === 'Enabled' && next !== undefined && next <= now) {
    key.materials.push(KeyStore.newMaterial());
    key.rotation.nextRotationDate = now + key.rotation.periodInDays * 86_400_000;
    ctx.store.saveKey(key);
  }
  return key;
}

/** Condition keys present on every request: the global ones every local front sets, and KMS's own. */
export function baseContext(ctx: OperationContext): Record<string, PolicyValue> {
  return { ...requestContext(ctx.principal, ctx.identity.region, ctx.clock.now()), 'kms:CallerAccount': ctx.principal.accountId };
}

/** Condition keys of a request on an existing key. */
export function keyContext(ctx: OperationContext, resolved: ResolvedKey): Record<string, PolicyValue> {
  const context = baseContext(ctx);
  const { key } = resolved;
  context['kms:KeySpec'] = 'SYMMETRIC_DEFAULT';
  context['kms:KeyUsage'] = 'ENCRYPT_DECRYPT';
  context['kms:KeyOrigin'] = 'AWS_KMS';
  context['kms:KeyManager'] = 'CUSTOMER';
  context['kms:MultiRegion'] = 'false';
  for (const tag of key.tags) context[`aws:ResourceTag/${tag.TagKey}`] = tag.TagValue;
  const aliases = ctx.store.aliasNamesOf(key.keyId);
  if (aliases.length > 0) context['kms:ResourceAliases'] = aliases;
  if (resolved.requestAlias) context['kms:RequestAlias'] = resolved.requestAlias;
  return context;
}

export function encryptionContextKeys(context: Readonly<Record<string, string>> | undefined): Record<string, PolicyValue> {
  const out: Record<string, PolicyValue> = {};
  if (context === undefined || Object.keys(context).length === 0) return out;
  for (const [k, v] of Object.entries(context)) out[`kms:EncryptionContext:${k}`] = v;
  out['kms:EncryptionContextKeys'] = Object.keys(context);
  return out;
}

export interface KeyAuthorization {
  readonly action: string;
  readonly grantOperation?: string;
  readonly encryptionContext?: Readonly<Record<string, string>>;
  readonly extraContext?: Readonly<Record<string, PolicyValue>>;
}

/** Authorizes `action` on a resolved key, recording the key as the trail record's resource. */
export function authorizeOnKey(ctx: OperationContext, resolved: ResolvedKey, auth: KeyAuthorization): Authorization {
  ctx.trail.resources = [{ ARN: resolved.key.arn }];
  return requireAuthorized({
    principal: ctx.principal,
    action: auth.action,
    resource: resolved.key.arn,
    key: resolved.key,
    context: { ...keyContext(ctx, resolved), ...encryptionContextKeys(auth.encryptionContext), ...auth.extraContext },
    grantOperation: auth.grantOperation,
    encryptionContext: auth.encryptionContext,
  });
}

/** Authorizes an action that only identity policies govern. */
export function authorizeByIdentity(ctx: OperationContext, action: string, resource: string, extra: Record<string, PolicyValue> = {}): void {
  requireAuthorized({ principal: ctx.principal, action, resource, context: { ...baseContext(ctx), ...extra } });
}

/** Cryptographic use needs an Enabled key. */
export function requireUsable(key: StoredKey): void {
  if (key.keyState === 'Disabled') throw new KmsException('DisabledException', `${key.arn} is disabled.`);
  if (key.keyState === 'PendingDeletion') throw new KmsException('KMSInvalidStateException', `${key.arn} is pending deletion.`);
}

/** Management calls that KMS refuses on a key pending deletion. */
export function requireNotPendingDeletion(key: StoredKey): void {
  if (key.keyState === 'PendingDeletion') throw new KmsException('KMSInvalidStateException', `${key.arn} is pending deletion.`);
}

export function epochSeconds(ms: number): number {
  return ms / 1000;
}
