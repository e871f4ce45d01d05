// The local principals' IAM policies, read from the CDK app's synthesized template: each function
// role's inline and managed policies and the buckets' policies, with CloudFormation intrinsics
// resolved to the local resources. What the local stack enforces is what `cdk deploy` deploys.
// Synthesis costs seconds, so the extracted policies are cached on disk, keyed by a hash of the
// sources that shape them; the synthesis itself lives in template-synth.ts, imported only on a miss.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FunctionName } from '../contract/functions.js';
import type { QueueName } from '../contract/queues.js';
import type { BucketName, TableName } from '../contract/resources.js';
import { ADMINISTRATOR_ACCESS, AUDITOR_ROLE_NAME, ROLE_NAMES, type IdentityPolicy, type RoleName } from '../contract/roles.js';
import type { PolicyDocument } from './kms/policy-evaluator.js';
import { localAuditBucketName, localBucketName, localFunctionName, localQueueName, localRoleName, localTableName, type AuditBucketName } from './resource-names.js';

/** A policy document as the template holds it: values may be CloudFormation intrinsics. */
export type TemplatePolicyDocument = Readonly<Record<string, unknown>>;

/** The roles whose policies the template gives a local principal: the function roles and the auditor. */
export type TemplateRoleName = RoleName | typeof AUDITOR_ROLE_NAME;
export const TEMPLATE_ROLE_NAMES: readonly TemplateRoleName[] = [...ROLE_NAMES, AUDITOR_ROLE_NAME];

/** What a template resource is, in the contract's terms. */
export type ContractResource =
  | { readonly kind: 'role'; readonly name: TemplateRoleName }
  /**
   * The audit trail's buckets, which the auditor's policy names. They have no local counterpart
   * (the local trail is files): their ARNs resolve to names no local bucket has.
   */
  | { readonly kind: 'audit-bucket'; readonly name: AuditBucketName }
  | { readonly kind: 'table'; readonly name: TableName }
  | { readonly kind: 'bucket'; readonly name: BucketName }
  | { readonly kind: 'queue'; readonly name: QueueName }
  | { readonly kind: 'log-group'; readonly name: FunctionName }
  | { readonly kind: 'function'; readonly name: FunctionName };

/** The policies of the synthesized template, before resolution. Plain JSON, so it can be cached. */
export interface TemplatePolicies {
  /** Each function role's (and the auditor's) policy documents: its own inline policies, attached policies and managed policies. */
  readonly roles: Readonly<Record<TemplateRoleName, readonly TemplatePolicyDocument[]>>;
  /** Bucket policies of the contract's buckets. */
  readonly bucketPolicies: Readonly<Partial<Record<BucketName, TemplatePolicyDocument>>>;
  /** Template logical id → the contract resource it is: how intrinsics find local names. */
  readonly resources: Readonly<Record<string, ContractResource>>;
}

/** A template construct that no rule here can resolve: the local stack must not guess a policy. */
export class TemplatePolicyError extends Error {
  override readonly name = 'TemplatePolicyError';
}

interface CfnResource {
  readonly Type: string;
  readonly Properties?: Readonly<Record<string, unknown>>;
}

/** The AWS managed policies whose content the local stack knows. Any other fails extraction. */
const KNOWN_MANAGED_POLICIES: Readonly<Record<string, IdentityPolicy>> = {
  AdministratorAccess: ADMINISTRATOR_ACCESS,
};

function refTarget(value: unknown): string | undefined {
  if (value !== null && typeof value === 'object' && 'Ref' in value && typeof (value as { Ref: unknown }).Ref === 'string') {
    return (value as { Ref: string }).Ref;
  }
  return undefined;
}

/**
 * Collects each contract role's policies and each contract bucket's policy from a synthesized
 * template. `resources` maps the template's logical ids to the contract (the synthesizer derives
 * it from the stack's constructs). Resources outside the contract (the access-log bucket) are skipped.
 */
export function extractTemplatePolicies(template: { readonly Resources?: Readonly<Record<string, CfnResource>> }, resources: Readonly<Record<string, ContractResource>>): TemplatePolicies {
  const roles = Object.fromEntries(TEMPLATE_ROLE_NAMES.map((name) => [name, [] as TemplatePolicyDocument[]])) as Record<TemplateRoleName, TemplatePolicyDocument[]>;
  const bucketPolicies: Partial<Record<BucketName, TemplatePolicyDocument>> = {};
  const roleOf = (ref: unknown): TemplateRoleName | undefined => {
    const id = refTarget(ref);
    const resource = id === undefined ? undefined : resources[id];
    return resource?.kind === 'role' ? resource.name : undefined;
  };
  for (const [logicalId, resource] of Object.entries(template.Resources ?? {})) {
    const props = resource.Properties ?? {};
    switch (resource.Type) {
      case 'AWS::IAM::Policy':
      case 'AWS::IAM::ManagedPolicy': {
        if (props['Users'] !== undefined || props['Groups'] !== undefined) {
          throw new TemplatePolicyError(`${logicalId}: policies attached to users or groups have no local principal`);
        }
        for (const ref of (props['Roles'] as unknown[] | undefined) ?? []) {
          const role = roleOf(ref);
          if (role !== undefined) roles[role].push(props['PolicyDocument'] as TemplatePolicyDocument);
        }
        break;
      }
      case 'AWS::IAM::Role': {
        const role = resources[logicalId];
        if (role?.kind !== 'role') break;
        for (const policy of (props['Policies'] as { PolicyDocument: TemplatePolicyDocument }[] | undefined) ?? []) roles[role.name].push(policy.PolicyDocument);
        for (const arn of (props['ManagedPolicyArns'] as unknown[] | undefined) ?? []) {
          const name = managedPolicyName(arn);
          const known = name === undefined ? undefined : KNOWN_MANAGED_POLICIES[name];
          if (known === undefined) {
            throw new TemplatePolicyError(`${logicalId} (role ${role.name}) has managed policy ${JSON.stringify(arn)}, whose content the local stack does not know: add it to KNOWN_MANAGED_POLICIES or use an inline policy`);
          }
          roles[role.name].push(known as unknown as TemplatePolicyDocument);
        }
        break;
      }
      case 'AWS::S3::BucketPolicy': {
        const id = refTarget(props['Bucket']);
        const bucket = id === undefined ? undefined : resources[id];
        if (bucket?.kind === 'bucket') bucketPolicies[bucket.name] = props['PolicyDocument'] as TemplatePolicyDocument;
        break;
      }
      default:
        break;
    }
  }
  return { roles, bucketPolicies, resources };
}

/** `arn:${Partition}:iam::aws:policy/NAME` (a string or the Fn::Join CDK writes) → NAME. */
function managedPolicyName(arn: unknown): string | undefined {
  const flat = typeof arn === 'string' ? arn : JSON.stringify(arn);
  return /:iam::aws:policy\/(?:[\w-]+\/)*([\w+=,.@-]+)/.exec(flat)?.[1];
}

/** Where the local stack's resources are: what intrinsics resolve to. */
export interface LocalTarget {
  readonly account: string;
  readonly region: string;
}

const PARTITION = 'aws';

function resolveRef(id: string, target: LocalTarget, resources: TemplatePolicies['resources']): string {
  switch (id) {
    case 'AWS::Partition':
      return PARTITION;
    case 'AWS::Region':
      return target.region;
    case 'AWS::AccountId':
      return target.account;
    case 'AWS::URLSuffix':
      return 'amazonaws.com';
  }
  const resource = resources[id];
  switch (resource?.kind) {
    case 'table':
      return localTableName(resource.name);
    case 'bucket':
      return localBucketName(resource.name);
    case 'role':
      return localRoleName(resource.name);
    case 'function':
      return localFunctionName(resource.name);
    case 'audit-bucket':
      return localAuditBucketName(resource.name);
    default:
      throw new TemplatePolicyError(`cannot resolve {"Ref": "${id}"}: ${resource === undefined ? 'the template resource is not in the application contract' : `a Ref to a ${resource.kind} has no local value`}`);
  }
}

function resolveGetAtt(id: string, attribute: string, target: LocalTarget, resources: TemplatePolicies['resources']): string {
  const resource = resources[id];
  const { account, region } = target;
  if (attribute === 'Arn' && resource !== undefined) {
    switch (resource.kind) {
      case 'table':
        return `arn:${PARTITION}:dynamodb:${region}:${account}:table/${localTableName(resource.name)}`;
      case 'bucket':
        return `arn:${PARTITION}:s3:::${localBucketName(resource.name)}`;
      case 'audit-bucket':
        return `arn:${PARTITION}:s3:::${localAuditBucketName(resource.name)}`;
      case 'queue':
        return `arn:${PARTITION}:sqs:${region}:${account}:${localQueueName(resource.name)}`;
      case 'role':
        return `arn:${PARTITION}:iam::${account}:role/${localRoleName(resource.name)}`;
      case 'log-group':
        return `arn:${PARTITION}:logs:${region}:${account}:log-group:/aws/lambda/${localFunctionName(resource.name)}:*`;
      case 'function':
        return `arn:${PARTITION}:lambda:${region}:${account}:function:${localFunctionName(resource.name)}`;
    }
  }
  if (attribute === 'QueueName' && resource?.kind === 'queue') return localQueueName(resource.name);
  throw new TemplatePolicyError(`cannot resolve {"Fn::GetAtt": ["${id}", "${attribute}"]}: ${resource === undefined ? 'the template resource is not in the application contract' : `no local value for ${attribute} of a ${resource.kind}`}`);
}

const NO_VALUE = Symbol('AWS::NoValue');

function resolveValue(value: unknown, target: LocalTarget, resources: TemplatePolicies['resources'], path: string): unknown {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' || value === null) return value;
  if (Array.isArray(value)) {
    return value.map((item, i) => resolveValue(item, target, resources, `${path}[${i}]`)).filter((item) => item !== NO_VALUE);
  }
  const object = value as Record<string, unknown>;
  const keys = Object.keys(object);
  const intrinsic = keys.length === 1 && keys[0] !== undefined && (keys[0] === 'Ref' || keys[0].startsWith('Fn::')) ? keys[0] : undefined;
  if (intrinsic === 'Ref') {
    const id = object['Ref'];
    if (id === 'AWS::NoValue') return NO_VALUE;
    if (typeof id !== 'string') throw new TemplatePolicyError(`${path}: a Ref must name a string, got ${JSON.stringify(id)}`);
    return resolveRef(id, target, resources);
  }
  if (intrinsic === 'Fn::GetAtt') {
    const args = object['Fn::GetAtt'];
    const [id, attribute] = Array.isArray(args) ? args : typeof args === 'string' ? args.split('.') : [];
    if (typeof id !== 'string' || typeof attribute !== 'string') throw new TemplatePolicyError(`${path}: malformed Fn::GetAtt ${JSON.stringify(args)}`);
    return resolveGetAtt(id, attribute, target, resources);
  }
  if (intrinsic === 'Fn::Join') {
    const args = object['Fn::Join'];
    if (!Array.isArray(args) || typeof args[0] !== 'string' || !Array.isArray(args[1])) throw new TemplatePolicyError(`${path}: malformed Fn::Join ${JSON.stringify(args)}`);
    const parts = resolveValue(args[1], target, resources, `${path}.Fn::Join`) as unknown[];
    return parts.map((part) => {
      if (typeof part !== 'string') throw new TemplatePolicyError(`${path}: Fn::Join of a non-string ${JSON.stringify(part)}`);
      return part;
    }).join(args[0]);
  }
  if (intrinsic !== undefined) {
    throw new TemplatePolicyError(`${path}: the local stack cannot resolve ${intrinsic} (${JSON.stringify(object).slice(0, 200)}); teach local/template-policies.ts how, or write the policy without it`);
  }
  return Object.fromEntries(
    Object.entries(object)
      .map(([key, item]) => [key, resolveValue(item, target, resources, `${path}.${key}`)] as const)
      .filter(([, item]) => item !== NO_VALUE),
  );
}

/** Each function role's (and the auditor's) identity policies, resolved to the local resources. Fails on any intrinsic it cannot resolve. */
export function resolveRolePolicies(policies: TemplatePolicies, target: LocalTarget): Record<TemplateRoleName, IdentityPolicy[]> {
  return Object.fromEntries(
    TEMPLATE_ROLE_NAMES.map((role) => [
      role,
      policies.roles[role].map((doc, i) => resolveValue(doc, target, policies.resources, `role ${role} policy ${i}`) as IdentityPolicy),
    ]),
  ) as Record<TemplateRoleName, IdentityPolicy[]>;
}

/** The contract buckets' policies by local bucket name, resolved to the local resources. */
export function resolveBucketPolicies(policies: TemplatePolicies, target: LocalTarget): Record<string, PolicyDocument> {
  return Object.fromEntries(
    Object.entries(policies.bucketPolicies).map(([bucket, doc]) => [
      localBucketName(bucket as BucketName),
      resolveValue(doc, target, policies.resources, `bucket policy of ${bucket}`) as PolicyDocument,
    ]),
  );
}

// ---- The cache ---------------------------------------------------------------------------------

const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));

/** What shapes the template's policies: the contract, the CDK app, its feature flags, the dependencies, and this extraction. */
const POLICY_SOURCES = ['contract', 'lib', 'bin', 'cdk.json', 'package-lock.json', 'local/template-policies.ts', 'local/template-synth.ts', 'local/resource-names.ts'];

function filesUnder(path: string): string[] {
  if (!existsSync(path)) return [];
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path, { withFileTypes: true })
    .flatMap((entry) => filesUnder(join(path, entry.name)))
    .sort();
}

/** A hash of every source that can change the synthesized policies. */
export function policySourcesHash(root = REPO_ROOT): string {
  const hash = createHash('sha256');
  for (const file of POLICY_SOURCES.flatMap((source) => filesUnder(join(root, source)))) {
    hash.update(relative(root, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  return hash.digest('hex').slice(0, 32);
}

export interface LoadTemplatePoliciesOptions {
  /** Progress lines: `synthesizing IAM policies from the CDK app… ok (2300 ms)`. @default - none */
  readonly onProgress?: (line: string) => void;
  /** @default node_modules/.cache/consent-capture */
  readonly cacheDir?: string;
}

/**
 * The template's policies: from the cache when the sources are unchanged, otherwise synthesized
 * (seconds) and cached. Concurrent cold loads each synthesize and the last rename wins; all agree.
 */
export async function loadTemplatePolicies(options: LoadTemplatePoliciesOptions = {}): Promise<TemplatePolicies> {
  const progress = options.onProgress ?? (() => undefined);
  const t0 = performance.now();
  const cacheDir = options.cacheDir ?? join(REPO_ROOT, 'node_modules', '.cache', 'consent-capture');
  const file = join(cacheDir, `template-policies-${policySourcesHash()}.json`);
  if (existsSync(file)) {
    const cached = JSON.parse(readFileSync(file, 'utf8')) as TemplatePolicies;
    progress(`reading IAM policies synthesized from the CDK app… ok (cached, ${Math.round(performance.now() - t0)} ms)`);
    return cached;
  }
  let policies: TemplatePolicies;
  try {
    const { synthesizeTemplatePolicies } = await import('./template-synth.js');
    policies = synthesizeTemplatePolicies();
  } catch (error) {
    progress('synthesizing IAM policies from the CDK app… failed');
    throw error;
  }
  mkdirSync(cacheDir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(policies));
  renameSync(tmp, file);
  // Copies for sources that have since changed would never be read again.
  for (const stale of readdirSync(cacheDir)) {
    if (stale.startsWith('template-policies-') && stale.endsWith('.json') && join(cacheDir, stale) !== file) rmSync(join(cacheDir, stale), { force: true });
  }
  progress(`synthesizing IAM policies from the CDK app… ok (${Math.round(performance.now() - t0)} ms)`);
  return policies;
}
