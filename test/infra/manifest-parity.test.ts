// Parity between the two deployments of the application contract: walks contract/ and checks that
// the synthesized CDK template and the local stack's definitions (read without starting it) agree
// on every function setting, queue setting, route and scope. Each side's values are mapped back to
// the contract's logical references before comparing, so a value either side computes on its own
// (a timeout, a batch size, a scope, a variable) shows up as a difference. The only accepted
// differences are those the contract declares (`{ aws, local, reason }`).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Stack, type CfnElement } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  API_ROUTES,
  COMMON_ENVIRONMENT,
  consumerOf,
  DEAD_LETTER_RETENTION_DAYS,
  envRefFor,
  FUNCTION_NAMES,
  FUNCTIONS,
  INVOKED_FUNCTIONS,
  QUEUE_NAMES,
  ROLE_NAMES,
  QUEUES,
  routeKey,
  type EnvRef,
  type FunctionName,
  type InvokedFunction,
  type QueueName,
} from '../../contract/index.js';
import type { ConsentCaptureStack } from '../../lib/consent-capture-stack.js';
import { loadOrCreateIdentity, type LocalIdentity } from '../../local/principals.js';
import { LOCAL_RESOURCES, localFunctionName, localQueueName } from '../../local/resource-names.js';
import { localFunctionDefinitions, localQueueDefinitions, localRoutes, localSettings, type LocalFunctionDefinition } from '../../local/stack.js';
import { extractTemplatePolicies, loadTemplatePolicies, resolveRolePolicies } from '../../local/template-policies.js';
import { contractResourcesOf } from '../../local/template-synth.js';
import { synthStack } from './fixtures/test-app.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const AUDITOR = 'arn:aws:iam::123456789012:role/compliance-auditor';
const QUEUE_ENDPOINT = 'http://127.0.0.1:9/000000000000/';

/** A logical reference, or a literal for what resolves to one (settings, values). */
type Canonical = EnvRef;

let outdir: string;
let stack: ConsentCaptureStack;
let template: Template;
let resources: Record<string, Record<string, unknown>>;
let identity: LocalIdentity;
let local: Record<FunctionName, LocalFunctionDefinition>;
let localDir: string;

beforeAll(async () => {
  outdir = mkdtempSync(join(tmpdir(), 'cc-parity-cdk-'));
  localDir = mkdtempSync(join(tmpdir(), 'cc-parity-local-'));
  ({ stack, template } = synthStack({ auditorRoleArn: AUDITOR }, { outdir }));
  resources = template.toJSON()['Resources'] as Record<string, Record<string, unknown>>;
  identity = loadOrCreateIdentity(join(localDir, 'principals.json'), await loadTemplatePolicies());
  local = localFunctionDefinitions(identity, (name) => `${QUEUE_ENDPOINT}${name}`);
});

afterAll(() => {
  rmSync(outdir, { recursive: true, force: true });
  rmSync(localDir, { recursive: true, force: true });
});

const idOf = (construct: IConstruct): string => Stack.of(construct).getLogicalId(construct.node.defaultChild as CfnElement);
const propsOf = (logicalId: string): Record<string, unknown> => (resources[logicalId]?.['Properties'] ?? {}) as Record<string, unknown>;

/** A template value mapped back to the contract: a Ref or GetAtt of a contract resource, or a literal. */
function cdkCanonical(value: unknown): Canonical {
  if (typeof value === 'string') return { value };
  const resourceMap = contractResourcesOf(stack);
  const ref = (value as { Ref?: string }).Ref;
  const getAtt = (value as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt'];
  const target = ref !== undefined ? resourceMap[ref] : getAtt !== undefined && getAtt[1] === 'Arn' ? resourceMap[getAtt[0]] : undefined;
  if (target?.kind === 'table' && ref !== undefined) return { table: target.name };
  if (target?.kind === 'bucket' && ref !== undefined) return { bucket: target.name };
  if (target?.kind === 'queue' && ref !== undefined) return { queueUrl: target.name };
  if (target?.kind === 'role' && target.name !== 'auditor' && getAtt !== undefined) return { roleArn: target.name };
  if (target?.kind === 'function' && ref !== undefined && (INVOKED_FUNCTIONS as readonly string[]).includes(target.name)) return { functionName: target.name as InvokedFunction };
  throw new Error(`the template value ${JSON.stringify(value)} is no contract resource`);
}

/** A local value mapped back to the contract. */
function localCanonical(value: string): Canonical {
  for (const [name, local] of Object.entries(LOCAL_RESOURCES.tables)) if (value === local) return { table: name as 'ledger' };
  for (const [name, local] of Object.entries(LOCAL_RESOURCES.buckets)) if (value === local) return { bucket: name as 'captures' };
  for (const name of QUEUE_NAMES) if (value === `${QUEUE_ENDPOINT}${localQueueName(name)}`) return { queueUrl: name };
  for (const name of ROLE_NAMES) if (value === identity.principals[name].arn) return { roleArn: name };
  for (const name of INVOKED_FUNCTIONS) if (value === localFunctionName(name)) return { functionName: name };
  return { value };
}

/** What the contract says a side's variable must be: settings become that side's setting value. */
function expectedCanonical(ref: EnvRef, side: 'aws' | 'local'): Canonical | undefined {
  if (!('setting' in ref)) return ref;
  const settings = side === 'aws' ? stack.settings : localSettings(identity);
  const value = settings[ref.setting];
  return value === undefined ? undefined : { value: String(value) };
}

function expectedEnvironment(fn: FunctionName, side: 'aws' | 'local'): Record<string, Canonical> {
  const expected: Record<string, Canonical> = Object.fromEntries(Object.entries(COMMON_ENVIRONMENT).map(([k, v]) => [k, { value: v }]));
  for (const [name, entry] of Object.entries(FUNCTIONS[fn].environment)) {
    const canonical = entry === undefined ? undefined : expectedCanonical(envRefFor(entry, side), side);
    if (canonical !== undefined) expected[name] = canonical;
  }
  return expected;
}

function cdkFunction(fn: FunctionName): Record<string, unknown> {
  return propsOf(idOf(stack.functions[fn].fn));
}

function cdkEventSource(fn: FunctionName): Record<string, unknown> | undefined {
  const fnId = idOf(stack.functions[fn].fn);
  const mapping = Object.values(resources).find(
    (r) => r['Type'] === 'AWS::Lambda::EventSourceMapping' && JSON.stringify((r['Properties'] as Record<string, unknown>)['FunctionName']) === JSON.stringify({ Ref: fnId }),
  );
  return mapping?.['Properties'] as Record<string, unknown> | undefined;
}

describe.each(FUNCTION_NAMES)('function %s', (fn) => {
  const declaration = FUNCTIONS[fn];

  it('has the contract timeout and memory on both sides', () => {
    const cdk = cdkFunction(fn);
    expect({ timeout: cdk['Timeout'], memory: cdk['MemorySize'] }).toEqual({ timeout: declaration.timeoutSeconds, memory: declaration.memoryMb });
    expect({ timeout: local[fn].timeoutMs / 1000, memory: local[fn].memoryMb }).toEqual({ timeout: declaration.timeoutSeconds, memory: declaration.memoryMb });
  });

  it('runs the contract handler entry as the contract role on both sides', () => {
    expect(stack.functions[fn].entry).toBe(join(REPO_ROOT, declaration.entry));
    expect(local[fn].entry).toBe(declaration.entry);
    expect(cdkCanonical(cdkFunction(fn)['Role'])).toEqual({ roleArn: declaration.role });
    expect(local[fn].principal).toBe(declaration.role);
  });

  it('gets the same variables, whose values resolve to the same contract references', () => {
    const cdkVariables = { ...((cdkFunction(fn)['Environment'] as { Variables: Record<string, unknown> }).Variables) };
    // Source maps through NODE_OPTIONS are Lambda's concern; the local worker enables them itself.
    delete cdkVariables['NODE_OPTIONS'];
    const cdk = Object.fromEntries(Object.entries(cdkVariables).map(([k, v]) => [k, cdkCanonical(v)]));
    const localView = Object.fromEntries(Object.entries(local[fn].environment).map(([k, v]) => [k, localCanonical(v)]));
    expect(cdk).toEqual(expectedEnvironment(fn, 'aws'));
    expect(localView).toEqual(expectedEnvironment(fn, 'local'));
  });

  it('is triggered as the contract says on both sides', () => {
    const trigger = declaration.trigger;
    const mapping = cdkEventSource(fn);
    const localQueue = localQueueDefinitions().find((q) => q.consumer === fn);
    if (trigger.kind === 'http' || trigger.kind === 'invoke') {
      expect(mapping).toBeUndefined();
      expect(localQueue).toBeUndefined();
      return;
    }
    const maxConcurrency = 'maxConcurrency' in trigger ? trigger.maxConcurrency : undefined;
    expect(mapping).toBeDefined();
    expect({
      queue: cdkCanonical({ Ref: (mapping?.['EventSourceArn'] as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0] }),
      batchSize: mapping?.['BatchSize'],
      maxConcurrency: (mapping?.['ScalingConfig'] as { MaximumConcurrency?: number } | undefined)?.MaximumConcurrency,
      partialFailures: mapping?.['FunctionResponseTypes'],
    }).toEqual({ queue: { queueUrl: trigger.queue }, batchSize: trigger.batchSize, maxConcurrency, partialFailures: ['ReportBatchItemFailures'] });
    expect({ queue: localQueue?.queue, batchSize: localQueue?.batchSize, maxConcurrency: localQueue?.maxConcurrentBatches }).toEqual({
      queue: trigger.queue,
      batchSize: trigger.batchSize,
      maxConcurrency,
    });
  });
});

describe.each(FUNCTION_NAMES.filter((fn) => FUNCTIONS[fn].trigger.kind === 'invoke'))('directly invoked function %s', (fn) => {
  it('may be invoked by the contract invokers only (the local Lambda endpoint enforces the same template policies)', () => {
    const trigger = FUNCTIONS[fn].trigger;
    const arn = `arn:aws:lambda:${identity.region}:${identity.account}:function:${localFunctionName(fn)}`;
    const policies = resolveRolePolicies(extractTemplatePolicies(template.toJSON() as never, contractResourcesOf(stack)), identity);
    const cdkInvokers = Object.entries(policies)
      .filter(([, docs]) =>
        docs.some((doc) =>
          doc.Statement.some((st) => st.Effect === 'Allow' && [st.Action].flat().includes('lambda:InvokeFunction') && [st.Resource].flat().includes(arn)),
        ),
      )
      .map(([role]) => role)
      .sort();
    expect(cdkInvokers).toEqual(trigger.kind === 'invoke' ? [...trigger.invokers].sort() : []);
    // No route reaches it, and nothing else outside the account's roles can: no resource-based
    // permission (an API Gateway integration writes one) and no function URL names it.
    expect(API_ROUTES.filter((route) => route.function === fn)).toEqual([]);
    const fnId = idOf(stack.functions[fn].fn);
    const namesFn = (value: unknown): boolean => JSON.stringify(value ?? null).includes(`"${fnId}"`);
    const outside = Object.entries(resources).filter(([, r]) => (r['Type'] === 'AWS::Lambda::Permission' || r['Type'] === 'AWS::Lambda::Url') && namesFn((r['Properties'] as Record<string, unknown> | undefined)?.['FunctionName'] ?? (r['Properties'] as Record<string, unknown> | undefined)?.['TargetFunctionArn']));
    expect(outside.map(([id]) => id)).toEqual([]);
  });
});

describe.each(QUEUE_NAMES)('queue %s', (queue: QueueName) => {
  const declaration = QUEUES[queue];

  it('has a dead-letter queue after maxReceiveCount receives, the contract visibility and retention', () => {
    const props = propsOf(idOf(stack.queues[queue].queue));
    const dlq = idOf(stack.queues[queue].deadLetterQueue);
    expect(props['RedrivePolicy']).toEqual({ deadLetterTargetArn: { 'Fn::GetAtt': [dlq, 'Arn'] }, maxReceiveCount: declaration.maxReceiveCount });
    expect(props['VisibilityTimeout']).toBe(FUNCTIONS[consumerOf(queue)].timeoutSeconds * declaration.visibilityTimeoutFactor);
    expect(props['MessageRetentionPeriod']).toBe(declaration.retentionDays * 86_400);
    // The DLQ keeps a job SQS's maximum, longer than the source queue (retention counts from the original enqueue).
    expect(propsOf(dlq)['MessageRetentionPeriod']).toBe(DEAD_LETTER_RETENTION_DAYS * 86_400);
    // Locally a message moves to the dead-letter file after the same number of receives.
    expect(localQueueDefinitions().find((q) => q.queue === queue)?.maxReceiveCount).toBe(declaration.maxReceiveCount);
  });

  it('may be sent to by the contract senders only (the local SQS enforces the same template policies)', () => {
    const arn = `arn:aws:sqs:${identity.region}:${identity.account}:${localQueueName(queue)}`;
    const policies = resolveRolePolicies(extractTemplatePolicies(template.toJSON() as never, contractResourcesOf(stack)), identity);
    const cdkSenders = Object.entries(policies)
      .filter(([, docs]) =>
        docs.some((doc) =>
          doc.Statement.some((st) => st.Effect === 'Allow' && [st.Action].flat().includes('sqs:SendMessage') && [st.Resource].flat().includes(arn)),
        ),
      )
      .map(([role]) => role)
      .sort();
    expect(cdkSenders).toEqual([...declaration.senders].sort());
    // Locally nobody keeps a sender list: the local SQS authorizes SendMessage with these same
    // template-derived policies (local/iam), whose reach test/integration/local-iam.test.ts checks.
  });
});

describe('routes', () => {
  it('are the contract routes, with the same function and JWT scopes on both sides', () => {
    const integrationFunction = (target: string): string => {
      const integrationId = /^integrations\/(.+)$/.exec(target)?.[1] ?? '';
      const uri = propsOf(integrationId)['IntegrationUri'] as { 'Fn::GetAtt': [string, string] };
      const fn = FUNCTION_NAMES.find((name) => idOf(stack.functions[name].fn) === uri['Fn::GetAtt'][0]);
      return fn ?? `unknown ${uri['Fn::GetAtt'][0]}`;
    };
    const cdk = Object.values(resources)
      .filter((r) => r['Type'] === 'AWS::ApiGatewayV2::Route')
      .map((r) => {
        const props = r['Properties'] as { RouteKey: string; AuthorizationScopes?: string[]; AuthorizationType: string; Target: { 'Fn::Join': [string, unknown[]] } };
        const target = props.Target['Fn::Join'][1].map((part) => (typeof part === 'string' ? part : `${(part as { Ref: string }).Ref}`)).join('');
        return { key: props.RouteKey, function: integrationFunction(target), scopes: [...(props.AuthorizationScopes ?? [])].sort(), authorization: props.AuthorizationType };
      })
      .sort((a, b) => a.key.localeCompare(b.key));
    const expected = API_ROUTES.map((route) => ({ key: routeKey(route), function: route.function, scopes: [...route.scopes].sort() })).sort((a, b) => a.key.localeCompare(b.key));
    expect(cdk).toEqual(expected.map((route) => ({ ...route, authorization: 'JWT' })));
    const localView = localRoutes()
      .map((route) => ({ key: routeKey(route), function: route.function, scopes: [...route.scopes].sort() }))
      .sort((a, b) => a.key.localeCompare(b.key));
    expect(localView).toEqual(expected);
  });

  it('are served only by functions the HTTP API can invoke', () => {
    for (const route of API_ROUTES) expect(FUNCTIONS[route.function].trigger.kind).toBe('http');
  });
});
