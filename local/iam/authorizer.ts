// IAM for the local fronts of S3, DynamoDB and SQS (the local KMS has its own key-policy rules in
// local/kms/authorizer.ts): who signed, which condition keys every request carries, and whether
// the principal's identity policies and the resource's policy allow an action on a resource ARN.
// Both use the one policy evaluator, local/kms/policy-evaluator.ts.
import {
  evaluateIdentityPolicies,
  evaluateResourcePolicy,
  type EvaluationRequest,
  type PolicyDocument,
  type PolicyValue,
} from '../kms/policy-evaluator.js';
import type { LocalIdentity, LocalPrincipal } from '../principals.js';

/** The principal that owns an access key id, and that key's secret for the SigV4 verifier. */
export class PrincipalDirectory {
  private readonly byAccessKey: ReadonlyMap<string, LocalPrincipal>;

  constructor(readonly identity: LocalIdentity) {
    this.byAccessKey = new Map(Object.values(identity.principals).map((p) => [p.accessKeyId, p]));
  }

  principalOf(accessKeyId: string): LocalPrincipal | undefined {
    return this.byAccessKey.get(accessKeyId);
  }

  readonly secretOf = (accessKeyId: string): string | undefined => this.byAccessKey.get(accessKeyId)?.secretAccessKey;
}

/**
 * Global condition keys AWS puts on every request of a role session. `aws:SecureTransport` is
 * "true" although the local endpoints speak plain HTTP on 127.0.0.1: they stand for AWS's HTTPS
 * endpoints, and the templates' enforceSSL statements (Deny when it is "false") would otherwise
 * deny every local call. The loopback hop never leaves the machine.
 */
export function requestContext(principal: LocalPrincipal, region: string, now: Date): Record<string, PolicyValue> {
  return {
    'aws:CurrentTime': now.toISOString(),
    'aws:EpochTime': String(Math.floor(now.getTime() / 1000)),
    'aws:PrincipalArn': principal.arn,
    'aws:PrincipalAccount': principal.accountId,
    'aws:PrincipalType': 'AssumedRole',
    'aws:userid': `${principal.roleId}:${principal.roleName}-session`,
    'aws:SecureTransport': 'true',
    'aws:RequestedRegion': region,
  };
}

export interface AccessRequest {
  readonly principal: LocalPrincipal;
  /** e.g. `dynamodb:Query`, `s3:GetObject`. */
  readonly action: string;
  /** The ARN AWS authorizes, e.g. `arn:aws:s3:::bucket/key`, or `*`. */
  readonly resource: string;
  readonly context: Readonly<Record<string, PolicyValue>>;
  /** The bucket or queue policy, where the resource has one. @default - none */
  readonly resourcePolicy?: PolicyDocument;
}

export type AccessDecision = { readonly allowed: true } | { readonly allowed: false; readonly reason: string };

/**
 * Same-account evaluation for services whose resource policies grant on their own (S3, SQS): an
 * explicit Deny in either policy wins; otherwise an Allow in the identity policies, or a resource
 * policy Allow that names the principal itself, allows. A resource policy that names only the
 * account delegates to IAM, so it adds nothing. (KMS differs: its key policy must allow too.)
 */
export function authorizeAccess(request: AccessRequest): AccessDecision {
  const { principal } = request;
  const evaluation: EvaluationRequest = {
    principal: { arn: principal.arn, sessionArn: principal.sessionArn, accountId: principal.accountId },
    action: request.action,
    resource: request.resource,
    context: request.context,
  };
  const resource = request.resourcePolicy === undefined ? undefined : evaluateResourcePolicy(request.resourcePolicy, evaluation);
  if (resource?.decision === 'explicit-deny') return { allowed: false, reason: 'with an explicit deny in a resource-based policy' };
  const identity = evaluateIdentityPolicies(principal.identityPolicies, evaluation);
  if (identity === 'explicit-deny') return { allowed: false, reason: 'with an explicit deny in an identity-based policy' };
  if (identity === 'allow' || resource?.allowedDirectly === true) return { allowed: true };
  return { allowed: false, reason: `because no identity-based policy allows the ${request.action} action` };
}

/** AWS's wording for a denial, e.g. for DynamoDB's and SQS's AccessDenied messages. */
export function deniedMessage(request: AccessRequest, decision: AccessDecision & { allowed: false }): string {
  return `User: ${request.principal.sessionArn} is not authorized to perform: ${request.action} on resource: ${request.resource} ${decision.reason}`;
}
