// The consent-capture stack: HTTP API, consent and purge functions, their roles, the consent
// ledger, the capture and export buckets and the purge queue. Settings come from CDK context.

import { fileURLToPath } from 'node:url';
import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct, Node } from 'constructs';
import { ENV } from '../lambdas/shared/environment.js';
import { API_ROUTES } from './api-routes.js';
import { DataBuckets } from './constructs/data-buckets.js';
import { FunctionDefaults } from './constructs/function-defaults.js';
import { FunctionRoles } from './constructs/function-roles.js';
import { HttpApi } from './constructs/http-api.js';
import { LedgerTable } from './constructs/ledger-table.js';
import { BatchesTable } from './constructs/batches-table.js';
import { JobQueue } from './constructs/job-queue.js';

/** Handler entry files, by function. */
const ENTRIES = {
  consent: fileURLToPath(new URL('../lambdas/consent/index.ts', import.meta.url)),
  purge: fileURLToPath(new URL('../lambdas/purge/index.ts', import.meta.url)),
  keySync: fileURLToPath(new URL('../lambdas/key-sync/index.ts', import.meta.url)),
  ingest: fileURLToPath(new URL('../lambdas/ingest/index.ts', import.meta.url)),
} as const;

/** The CDK context keys this stack reads, with their defaults where they have one. */
export const CONTEXT_KEYS = {
  oidcIssuer: 'oidcIssuer',
  oidcAudience: 'oidcAudience',
  employeeIdClaim: 'employeeIdClaim',
  retentionDays: 'retentionDays',
  keyDeletionDays: 'keyDeletionDays',
  auditorRoleArn: 'auditorRoleArn',
} as const;

export const CONTEXT_DEFAULTS = {
  employeeIdClaim: 'sub',
  retentionDays: 365,
  keyDeletionDays: 7,
} as const;

export interface ConsentCaptureSettings {
  readonly oidcIssuer: string;
  readonly oidcAudience: readonly string[];
  readonly employeeIdClaim: string;
  readonly retentionDays: number;
  readonly keyDeletionDays: number;
  readonly auditorRoleArn?: string;
}

export class ContextError extends Error {
  override readonly name = 'ContextError';
}

/** Reads and validates the stack's settings from CDK context; a bad value fails synth before any resource exists. */
export function readSettings(node: Node): ConsentCaptureSettings {
  const issuer = requiredString(node, CONTEXT_KEYS.oidcIssuer, 'https://login.example.com/');
  let issuerUrl: URL | undefined;
  try {
    issuerUrl = new URL(issuer);
  } catch {
    issuerUrl = undefined;
  }
  if (!issuerUrl || issuerUrl.protocol !== 'https:' || issuerUrl.search !== '' || issuerUrl.hash !== '') {
    throw new ContextError(
      `context "${CONTEXT_KEYS.oidcIssuer}" must be an https URL without query or fragment, got ${JSON.stringify(issuer)}: ` +
        `set it to your identity provider's issuer (the tokens' "iss" claim), e.g. -c ${CONTEXT_KEYS.oidcIssuer}=https://login.example.com/`,
    );
  }

  const audienceRaw = node.tryGetContext(CONTEXT_KEYS.oidcAudience) as unknown;
  const audience = (Array.isArray(audienceRaw) ? audienceRaw : typeof audienceRaw === 'string' ? audienceRaw.split(',') : [])
    .map((value: unknown) => (typeof value === 'string' ? value.trim() : ''))
    .filter((value) => value !== '');
  if (audienceRaw === undefined || audienceRaw === null || audience.length === 0) {
    throw missing(CONTEXT_KEYS.oidcAudience, 'consent-capture');
  }

  const claim = optionalString(node, CONTEXT_KEYS.employeeIdClaim) ?? CONTEXT_DEFAULTS.employeeIdClaim;
  if (!/^\S{1,256}$/.test(claim)) {
    throw new ContextError(
      `context "${CONTEXT_KEYS.employeeIdClaim}" must be a JWT claim name without spaces, got ${JSON.stringify(claim)}: ` +
        `e.g. -c ${CONTEXT_KEYS.employeeIdClaim}=sub`,
    );
  }

  const auditorRoleArn = optionalString(node, CONTEXT_KEYS.auditorRoleArn);
  if (auditorRoleArn !== undefined && !/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/.test(auditorRoleArn)) {
    throw new ContextError(
      `context "${CONTEXT_KEYS.auditorRoleArn}" must be an IAM role ARN, got ${JSON.stringify(auditorRoleArn)}: ` +
        `e.g. -c ${CONTEXT_KEYS.auditorRoleArn}=arn:aws:iam::123456789012:role/compliance-auditor, or leave it unset`,
    );
  }

  return {
    oidcIssuer: issuer,
    oidcAudience: audience,
    employeeIdClaim: claim,
    retentionDays: wholeNumber(node, CONTEXT_KEYS.retentionDays, CONTEXT_DEFAULTS.retentionDays, 1, 3650),
    keyDeletionDays: wholeNumber(node, CONTEXT_KEYS.keyDeletionDays, CONTEXT_DEFAULTS.keyDeletionDays, 7, 30),
    ...(auditorRoleArn === undefined ? {} : { auditorRoleArn }),
  };
}

function missing(key: string, example: string): ContextError {
  return new ContextError(`missing context "${key}": set it with -c ${key}=${example} or in cdk.json`);
}

function requiredString(node: Node, key: string, example: string): string {
  const value = optionalString(node, key);
  if (value === undefined) throw missing(key, example);
  return value;
}

function optionalString(node: Node, key: string): string | undefined {
  const value = node.tryGetContext(key) as unknown;
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') {
    throw new ContextError(`context "${key}" must be a string, got ${JSON.stringify(value)}: set it with -c ${key}=<value>`);
  }
  const trimmed = value.trim();
  return trimmed === '' ? undefined : trimmed;
}

function wholeNumber(node: Node, key: string, fallback: number, min: number, max: number): number {
  const raw = node.tryGetContext(key) as unknown;
  if (raw === undefined || raw === null || raw === '') return fallback;
  const value = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\s*\d+\s*$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ContextError(
      `context "${key}" must be a whole number of days from ${min} to ${max}, got ${JSON.stringify(raw)}: ` +
        `e.g. -c ${key}=${fallback} (the default)`,
    );
  }
  return value;
}

export class ConsentCaptureStack extends Stack {
  public readonly settings: ConsentCaptureSettings;
  public readonly roles: FunctionRoles;
  public readonly ledger: LedgerTable;
  public readonly batches: BatchesTable;
  public readonly buckets: DataBuckets;
  public readonly purgeQueue: JobQueue;
  public readonly keySyncQueue: JobQueue;
  public readonly consentFunction: FunctionDefaults;
  public readonly purgeFunction: FunctionDefaults;
  public readonly keySyncFunction: FunctionDefaults;
  public readonly ingestFunction: FunctionDefaults;
  public readonly httpApi: HttpApi;

  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, {
      description: 'consent-capture: consent-gated capture where each employee\'s consent is their own KMS key',
      ...props,
    });
    this.settings = readSettings(this.node);

    this.roles = new FunctionRoles(this, 'Roles');
    this.ledger = new LedgerTable(this, 'Ledger');
    this.batches = new BatchesTable(this, 'Batches');
    this.buckets = new DataBuckets(this, 'Buckets', { retentionDays: this.settings.retentionDays });

    const purgeTimeout = Duration.minutes(5);
    this.purgeQueue = new JobQueue(this, 'PurgeQueue', { jobs: 'purge jobs', consumerTimeout: purgeTimeout });
    const keySyncTimeout = Duration.seconds(30);
    this.keySyncQueue = new JobQueue(this, 'KeySyncQueue', { jobs: 'key-policy sync jobs', consumerTimeout: keySyncTimeout });

    const table = this.ledger.table;
    // The ledger is append-only by design: its writers get PutItem (events are appended with a
    // condition, the state item is replaced), never UpdateItem, DeleteItem or BatchWriteItem.
    this.ledger.grantAppend(this.roles.consent);
    this.ledger.grantAppend(this.roles.purge);
    this.ledger.grantRead(this.roles.ingest);
    this.batches.table.grantReadWriteData(this.roles.ingest);
    // No KMS permission: employee key policies alone let ingest generate data keys.
    this.buckets.grantCaptureWrites(this.roles.ingest);
    this.purgeQueue.queue.grantSendMessages(this.roles.consent);
    this.keySyncQueue.queue.grantSendMessages(this.roles.consent);
    // The purge worker queues its own delayed second sweep.
    this.purgeQueue.queue.grantSendMessages(this.roles.purge);
    this.buckets.grantPurge(this.roles.purge);

    // The roles employee key policies name: both functions that write key policies need them.
    const keyPolicyRoles = {
      [ENV.ingestRoleArn]: this.roles.ingest.roleArn,
      [ENV.consentRoleArn]: this.roles.consent.roleArn,
      [ENV.exportRoleArn]: this.roles.export.roleArn,
      [ENV.purgeRoleArn]: this.roles.purge.roleArn,
      ...(this.settings.auditorRoleArn === undefined ? {} : { [ENV.auditorRoleArn]: this.settings.auditorRoleArn }),
    };

    this.consentFunction = new FunctionDefaults(this, 'ConsentFunction', {
      entry: ENTRIES.consent,
      description: 'Consent, pause, resume, revoke, history and offboarding; steward of employee key policies.',
      role: this.roles.consent,
      invocation: { kind: 'http' },
      timeout: Duration.seconds(15),
      environment: {
        [ENV.ledgerTable]: table.tableName,
        [ENV.purgeQueueUrl]: this.purgeQueue.queue.queueUrl,
        [ENV.keySyncQueueUrl]: this.keySyncQueue.queue.queueUrl,
        ...keyPolicyRoles,
        [ENV.employeeIdClaim]: this.settings.employeeIdClaim,
      },
    });

    this.purgeFunction = new FunctionDefaults(this, 'PurgeFunction', {
      entry: ENTRIES.purge,
      description: 'Crypto-shreds an employee key (disable, schedule deletion) and deletes the employee\'s objects.',
      role: this.roles.purge,
      // One employee per invocation, so the whole timeout is that purge's budget.
      invocation: { kind: 'queue', queue: this.purgeQueue.queue, batchSize: 1 },
      timeout: purgeTimeout,
      environment: {
        [ENV.ledgerTable]: table.tableName,
        [ENV.capturesBucket]: this.buckets.captures.bucketName,
        [ENV.exportsBucket]: this.buckets.exports.bucketName,
        [ENV.keyDeletionDays]: String(this.settings.keyDeletionDays),
        [ENV.purgeQueueUrl]: this.purgeQueue.queue.queueUrl,
        // Ingest's timeout (29 s) plus KMS's worst-case policy propagation (about 5 minutes).
        [ENV.purgeResweepSeconds]: '360',
      },
    });

    this.keySyncFunction = new FunctionDefaults(this, 'KeySyncFunction', {
      entry: ENTRIES.keySync,
      description: 'Writes an employee key policy that KMS throttled, from the newest consent ledger event.',
      // The consent role: the only principal employee key policies let write them.
      role: this.roles.consent,
      // KMS allows a few PutKeyPolicy calls per second per account; a small batch and the queue's
      // retries keep a storm of changes inside that quota instead of throttling every request.
      invocation: { kind: 'queue', queue: this.keySyncQueue.queue, batchSize: 10, maxConcurrency: 2 },
      timeout: keySyncTimeout,
      environment: {
        [ENV.ledgerTable]: table.tableName,
        ...keyPolicyRoles,
      },
    });

    this.ingestFunction = new FunctionDefaults(this, 'IngestFunction', {
      entry: ENTRIES.ingest,
      description: 'Stores capture batches as ciphertext under fresh data keys that employee key policies allow.',
      role: this.roles.ingest,
      invocation: { kind: 'http' },
      timeout: Duration.seconds(29),
      memorySize: 1024,
      environment: {
        [ENV.ledgerTable]: table.tableName,
        [ENV.batchesTable]: this.batches.table.tableName,
        [ENV.capturesBucket]: this.buckets.captures.bucketName,
        [ENV.employeeIdClaim]: this.settings.employeeIdClaim,
      },
    });

    this.httpApi = new HttpApi(this, 'HttpApi', {
      routes: API_ROUTES,
      handlers: { consent: this.consentFunction.fn, ingest: this.ingestFunction.fn },
      jwtIssuer: this.settings.oidcIssuer,
      jwtAudience: this.settings.oidcAudience,
    });

    new CfnOutput(this, 'ApiUrl', { value: this.httpApi.url, description: 'Base URL of the HTTP API' });
    new CfnOutput(this, 'LedgerTableName', { value: table.tableName });
    new CfnOutput(this, 'BatchesTableName', { value: this.batches.table.tableName });
    new CfnOutput(this, 'CapturesBucketName', { value: this.buckets.captures.bucketName });
    new CfnOutput(this, 'ExportsBucketName', { value: this.buckets.exports.bucketName });
    new CfnOutput(this, 'PurgeQueueUrl', { value: this.purgeQueue.queue.queueUrl });
    new CfnOutput(this, 'PurgeDeadLetterQueueUrl', { value: this.purgeQueue.deadLetterQueue.queueUrl });
    new CfnOutput(this, 'KeySyncDeadLetterQueueUrl', { value: this.keySyncQueue.deadLetterQueue.queueUrl });
    new CfnOutput(this, 'IngestRoleArn', { value: this.roles.ingest.roleArn });
    new CfnOutput(this, 'ConsentRoleArn', { value: this.roles.consent.roleArn });
    new CfnOutput(this, 'ExportRoleArn', { value: this.roles.export.roleArn });
    new CfnOutput(this, 'PurgeRoleArn', { value: this.roles.purge.roleArn });
  }
}
