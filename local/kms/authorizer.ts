// Decides whether a principal may perform a KMS action, combining key policy, identity policies
// and grants the way KMS does: an explicit Deny anywhere wins; the key policy allows directly;
// identity policies count only where the key policy delegates to the account; grants add.
import type { LocalPrincipal } from '../principals.js';
import { KmsException } from './errors.js';
import type { StoredGrant, StoredKey } from './key-store.js';
import {
  evaluateIdentityPolicies,
  evaluateResourcePolicy,
  parsePolicyDocument,
  type PolicyDocument,
  type PolicyValue,
} from './policy-evaluator.js';

export interface AuthorizationRequest {
  readonly principal: LocalPrincipal;
  /** e.g. `kms:GenerateDataKey` */
  readonly action: string;
  /** The key ARN, an alias ARN, or `*` for actions without a resource. */
  readonly resource: string;
  /** Absent for actions that only identity policies govern (CreateKey, ListAliases). */
  readonly key?: StoredKey;
  readonly context: Readonly<Record<string, PolicyValue>>;
  /** The grant operation name this call would use (e.g. `Decrypt`), when grants may allow it. */
  readonly grantOperation?: string;
  /** The request's encryption context ({} when a cryptographic call sent none), checked against grant constraints. */
  readonly encryptionContext?: Readonly<Record<string, string>>;
}

export type Authorization =
  | { readonly allowed: true; readonly via: 'key-policy' | 'identity-policy' | 'grant'; readonly grantId?: string }
  | { readonly allowed: false; readonly reason: string };

const parsedPolicies = new WeakMap<StoredKey, { source: string; doc: PolicyDocument }>();

function keyPolicyOf(key: StoredKey): PolicyDocument {
  const cached = parsedPolicies.get(key);
  if (cached && cached.source === key.policy) return cached.doc;
  const doc = parsePolicyDocument(key.policy);
  parsedPolicies.set(key, { source: key.policy, doc });
  return doc;
}

/** A grant names a role; it applies to that role and to its sessions. */
export function principalMatches(granted: string, principal: LocalPrincipal): boolean {
  return granted === principal.arn || granted === principal.sessionArn;
}

/**
 * Grant constraint keys are case-insensitive, values case-sensitive (AWS GrantConstraints), and
 * they apply only to operations that take an encryption context (`context` undefined otherwise).
 */
function constraintsHold(grant: StoredGrant, context: Readonly<Record<string, string>> | undefined): boolean {
  if (context === undefined) return true;
  const lowered = new Map(Object.entries(context).map(([k, v]) => [k.toLowerCase(), v]));
  const subset = grant.constraints?.encryptionContextSubset;
  if (subset && !Object.entries(subset).every(([k, v]) => lowered.get(k.toLowerCase()) === v)) return false;
  const equals = grant.constraints?.encryptionContextEquals;
  if (equals) {
    const wanted = Object.entries(equals);
    if (wanted.length !== lowered.size) return false;
    if (!wanted.every(([k, v]) => lowered.get(k.toLowerCase()) === v)) return false;
  }
  return true;
}

export function findGrant(request: AuthorizationRequest): StoredGrant | undefined {
  const { key, grantOperation } = request;
  if (!key || !grantOperation) return undefined;
  return key.grants.find(
    (grant) =>
      principalMatches(grant.granteePrincipal, request.principal) &&
      grant.operations.includes(grantOperation) &&
      constraintsHold(grant, request.encryptionContext),
  );
}

export function authorize(request: AuthorizationRequest): Authorization {
  const evaluation = {
    principal: { arn: request.principal.arn, sessionArn: request.principal.sessionArn, accountId: request.principal.accountId },
    action: request.action,
    resource: request.resource,
    context: request.context,
  };
  const identity = evaluateIdentityPolicies(request.principal.identityPolicies, evaluation);
  if (!request.key) {
    if (identity === 'explicit-deny') return { allowed: false, reason: 'with an explicit deny in an identity-based policy' };
    if (identity === 'allow') return { allowed: true, via: 'identity-policy' };
    return { allowed: false, reason: 'because no identity-based policy allows the ' + request.action + ' action' };
  }
  const resource = evaluateResourcePolicy(keyPolicyOf(request.key), evaluation);
  if (resource.decision === 'explicit-deny') return { allowed: false, reason: 'with an explicit deny in a resource-based policy' };
  if (identity === 'explicit-deny') return { allowed: false, reason: 'with an explicit deny in an identity-based policy' };
  if (resource.allowedDirectly) return { allowed: true, via: 'key-policy' };
  if (resource.allowedViaAccount && identity === 'allow') return { allowed: true, via: 'identity-policy' };
  const grant = findGrant(request);
  if (grant) return { allowed: true, via: 'grant', grantId: grant.grantId };
  return { allowed: false, reason: 'because no resource-based policy allows the ' + request.action + ' action' };
}

/** Throws AWS's AccessDeniedException when the request is not allowed. */
export function requireAuthorized(request: AuthorizationRequest): Authorization & { allowed: true } {
  const result = authorize(request);
  if (!result.allowed) {
    throw new KmsException(
      'AccessDeniedException',
      `User: ${request.principal.sessionArn} is not authorized to perform: ${request.action} on resource: ${request.resource} ${result.reason}`,
    );
  }
  return result;
}

/** Whether a policy would still let `principal` change it: KMS's lockout safety check. */
export function policyKeepsPutKeyPolicy(
  policy: PolicyDocument,
  principal: LocalPrincipal,
  keyArn: string,
  context: Readonly<Record<string, PolicyValue>>,
): boolean {
  const evaluation = {
    principal: { arn: principal.arn, sessionArn: principal.sessionArn, accountId: principal.accountId },
    action: 'kms:PutKeyPolicy',
    resource: keyArn,
    context,
  };
  const resource = evaluateResourcePolicy(policy, evaluation);
  if (resource.decision === 'explicit-deny') return false;
  if (resource.allowedDirectly) return true;
  return resource.allowedViaAccount && evaluateIdentityPolicies(principal.identityPolicies, evaluation) === 'allow';
}
