// Synthesizes the CDK app (no asset bundling, no cdk-nag) and extracts its IAM policies for the
// local stack. Imported only when template-policies.ts has no cached copy: aws-cdk-lib is slow to load.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack, type CfnElement } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { FUNCTION_NAMES } from '../contract/functions.js';
import { QUEUE_NAMES } from '../contract/queues.js';
import { BUCKETS, TABLES, type BucketName, type TableName } from '../contract/resources.js';
import { AUDITOR_ROLE_NAME, ROLE_NAMES } from '../contract/roles.js';
import { ConsentCaptureStack } from '../lib/consent-capture-stack.js';
import { extractTemplatePolicies, type ContractResource, type TemplatePolicies } from './template-policies.js';

const cdkJson = JSON.parse(readFileSync(new URL('../cdk.json', import.meta.url), 'utf8')) as { context?: Record<string, unknown> };

/**
 * Context for a policy synthesis: cdk.json's feature flags, and placeholders for the settings a
 * deployer must give. No setting changes an IAM policy, so the placeholders change none.
 */
const SYNTH_CONTEXT = {
  ...cdkJson.context,
  oidcIssuer: 'https://issuer.local.invalid/',
  oidcAudience: 'consent-capture',
  'aws:cdk:bundling-stacks': [],
};

export interface SynthesizeOptions {
  /** Changes the stack before synthesis (tests remove a grant to see the local call fail). @default - none */
  readonly adjust?: (stack: ConsentCaptureStack) => void;
}

/** Template logical id → contract resource, from the stack's constructs that the contract names. */
export function contractResourcesOf(stack: ConsentCaptureStack): Record<string, ContractResource> {
  const idOf = (construct: IConstruct): string => Stack.of(construct).getLogicalId(construct.node.defaultChild as CfnElement);
  const entries: [string, ContractResource][] = [
    ...ROLE_NAMES.map((name): [string, ContractResource] => [idOf(stack.roles.role(name)), { kind: 'role', name }]),
    [idOf(stack.audit.auditor), { kind: 'role', name: AUDITOR_ROLE_NAME }],
    [idOf(stack.audit.bucket), { kind: 'audit-bucket', name: 'trail' }],
    [idOf(stack.audit.resultsBucket), { kind: 'audit-bucket', name: 'results' }],
    ...(Object.keys(TABLES) as TableName[]).map((name): [string, ContractResource] => [idOf(stack.table(name)), { kind: 'table', name }]),
    ...(Object.keys(BUCKETS) as BucketName[]).map((name): [string, ContractResource] => [idOf(stack.buckets.bucket(name)), { kind: 'bucket', name }]),
    ...QUEUE_NAMES.map((name): [string, ContractResource] => [idOf(stack.queues[name].queue), { kind: 'queue', name }]),
    ...FUNCTION_NAMES.map((name): [string, ContractResource] => [idOf(stack.functions[name].logGroup), { kind: 'log-group', name }]),
    ...FUNCTION_NAMES.map((name): [string, ContractResource] => [idOf(stack.functions[name].fn), { kind: 'function', name }]),
  ];
  return Object.fromEntries(entries);
}

export function synthesizeTemplatePolicies(options: SynthesizeOptions = {}): TemplatePolicies {
  const outdir = mkdtempSync(join(tmpdir(), 'cc-policy-synth-'));
  try {
    // CDK's own template validation costs seconds and the template is validated by every synth test.
    const app = new App({ context: SYNTH_CONTEXT, outdir, builtinCloudFormationValidation: false });
    const stack = new ConsentCaptureStack(app, 'ConsentCapture');
    options.adjust?.(stack);
    const template = app.synth().getStackArtifact(stack.artifactId).template as Parameters<typeof extractTemplatePolicies>[0];
    return extractTemplatePolicies(template, contractResourcesOf(stack));
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}
