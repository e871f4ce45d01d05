// The consent-capture stack: the functions, queues, tables, buckets, roles and routes the
// application contract (contract/) declares, wired with their grants. Settings come from CDK context.

import { fileURLToPath } from 'node:url';
import { CfnOutput, Duration, Stack, Validations, type CfnElement, type StackProps } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct, Node } from 'constructs';
import {
  API_ROUTES,
  APP_NAME,
  AUDIT_QUERIES,
  AUDITOR_ROLE_NAME,
  envRefFor,
  functionNameFor,
  MAX_ROLE_NAME_LENGTH,
  ROLE_NAMES,
  roleNameFor,
  FUNCTION_NAMES,
  INVOKED_FUNCTIONS,
  FUNCTIONS,
  QUEUE_NAMES,
  QUEUES,
  SETTING_DEFAULTS,
  TABLES,
  consumerOf,
  type AppSettings,
  type EnvRef,
  type FunctionDeclaration,
  type FunctionName,
  type QueueName,
  type RouteFunction,
  type TableName,
} from '../contract/index.js';
import { DataBuckets } from './constructs/data-buckets.js';
import { FunctionDefaults } from './constructs/function-defaults.js';
import { FunctionRoles } from './constructs/function-roles.js';
import { HttpApi } from './constructs/http-api.js';
import { LedgerTable } from './constructs/ledger-table.js';
import { BatchesTable } from './constructs/batches-table.js';
import { ExportJobsTable } from './constructs/export-jobs-table.js';
import { DatasetsTable } from './constructs/datasets-table.js';
import { DatasetSweepSchedule } from './constructs/dataset-sweep-schedule.js';
import { ExportExpirySchedule } from './constructs/export-expiry-schedule.js';
import { JobQueue } from './constructs/job-queue.js';
import { OperationsAlarms } from './constructs/operations-alarms.js';
import { AuditAlarms } from './constructs/audit-alarms.js';
import { AuditTrail } from './constructs/audit-trail.js';
import { PermissionsBoundary } from './constructs/permissions-boundary.js';

/** The repository root: function entries in the contract are relative to it. */
const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));

/** The CDK context keys this stack reads, with their defaults where they have one. */
export const CONTEXT_KEYS = {
  oidcIssuer: 'oidcIssuer',
  oidcAudience: 'oidcAudience',
  employeeIdClaim: 'employeeIdClaim',
  retentionDays: 'retentionDays',
  keyDeletionDays: 'keyDeletionDays',
  auditorRoleArn: 'auditorRoleArn',
  rolePrefix: 'rolePrefix',
  alarmEmail: 'alarmEmail',
  permissionsBoundary: 'permissionsBoundary',
  ingestConcurrency: 'ingestConcurrency',
  apiRateLimit: 'apiRateLimit',
  apiBurstLimit: 'apiBurstLimit',
  accountConcurrency: 'accountConcurrency',
  datasetMaxDays: 'datasetMaxDays',
  trainingPrincipalArn: 'trainingPrincipalArn',
  auditRetentionDays: 'auditRetentionDays',
} as const;

/**
 * Defaults of the deploy-only settings. Concurrency: Lambda keeps at least 100 executions of an
 * account's quota unreserved, and a new account's quota is 1,000; the reservations (the
 * contract's plus ingest's) must leave those 100.
 */
export const DEPLOY_DEFAULTS = {
  ingestConcurrency: 200,
  apiRateLimit: 200,
  apiBurstLimit: 400,
  accountConcurrency: 1000,
  /** Days each CloudTrail log file is locked (Object Lock, compliance mode) and kept. */
  auditRetentionDays: 365,
} as const;

/** Lambda refuses a reservation that leaves fewer unreserved executions than this. */
export const UNRESERVED_CONCURRENCY_MINIMUM = 100;

export const CONTEXT_DEFAULTS = { ...SETTING_DEFAULTS, ...DEPLOY_DEFAULTS };

export interface ConsentCaptureSettings extends AppSettings {
  readonly oidcIssuer: string;
  readonly oidcAudience: readonly string[];
  /** Roles are `<rolePrefix>-<role>`, functions `<rolePrefix>-<function>`. */
  readonly rolePrefix: string;
  /** @default - no email subscription */
  readonly alarmEmail?: string;
  /** `create`: the stack's own boundary policy; an ARN: that policy. @default - no boundary */
  readonly permissionsBoundary?: 'create' | string;
  readonly ingestConcurrency: number;
  readonly apiRateLimit: number;
  readonly apiBurstLimit: number;
  readonly accountConcurrency: number;
  /** Who may assume the training role (an IAM role ARN). @default - SageMaker jobs of this account */
  readonly trainingPrincipalArn?: string;
  /** Days the audit trail's log files are locked and kept; Object Lock in compliance mode cannot shorten it later. */
  readonly auditRetentionDays: number;
}

/** `ConsentCapture` → `consent-capture`: the role prefix a stack gets when none is given. */
export function defaultRolePrefix(stackName: string): string {
  return stackName
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/[^A-Za-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .toLowerCase() || APP_NAME;
}

/** The longest name a prefix is put in front of: every role and every function of the contract. */
function longestNamedThing(): string {
  return [...ROLE_NAMES, ...FUNCTION_NAMES, 'boundary', AUDITOR_ROLE_NAME, 'key-policies', 'key-use-user', 'trail-change'].reduce((a, b) => (b.length > a.length ? b : a));
}

export class ContextError extends Error {
  override readonly name = 'ContextError';
}

/** Reads and validates the stack's settings from CDK context; a bad value fails synth before any resource exists. */
export function readSettings(node: Node, stackName: string = node.id): ConsentCaptureSettings {
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

  const rolePrefix = optionalString(node, CONTEXT_KEYS.rolePrefix) ?? defaultRolePrefix(stackName);
  const longest = `${rolePrefix}-${longestNamedThing()}`;
  // Lambda function names allow fewer characters than IAM role names; the prefix names both.
  if (!/^[A-Za-z0-9-]+$/.test(rolePrefix) || longest.length > MAX_ROLE_NAME_LENGTH) {
    throw new ContextError(
      `context "${CONTEXT_KEYS.rolePrefix}" must be letters, digits and dashes, at most ${MAX_ROLE_NAME_LENGTH - longest.length + rolePrefix.length} characters ` +
        `(the longest name it starts, "${longest}", must fit IAM's and Lambda's ${MAX_ROLE_NAME_LENGTH}), got ${JSON.stringify(rolePrefix)}: ` +
        `e.g. -c ${CONTEXT_KEYS.rolePrefix}=consent-capture-prod`,
    );
  }

  const trainingPrincipalArn = optionalString(node, CONTEXT_KEYS.trainingPrincipalArn);
  if (trainingPrincipalArn !== undefined && !/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/.test(trainingPrincipalArn)) {
    throw new ContextError(
      `context "${CONTEXT_KEYS.trainingPrincipalArn}" must be an IAM role ARN, got ${JSON.stringify(trainingPrincipalArn)}: ` +
        `e.g. -c ${CONTEXT_KEYS.trainingPrincipalArn}=arn:aws:iam::123456789012:role/sagemaker-execution, or leave it unset (SageMaker jobs of this account)`,
    );
  }

  const alarmEmail = optionalString(node, CONTEXT_KEYS.alarmEmail);
  if (alarmEmail !== undefined && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(alarmEmail)) {
    throw new ContextError(
      `context "${CONTEXT_KEYS.alarmEmail}" must be an email address, got ${JSON.stringify(alarmEmail)}: e.g. -c ${CONTEXT_KEYS.alarmEmail}=platform-oncall@example.com, or leave it unset`,
    );
  }

  const boundaryRaw = node.tryGetContext(CONTEXT_KEYS.permissionsBoundary) as unknown;
  let permissionsBoundary: string | undefined;
  if (boundaryRaw === true || boundaryRaw === 'true') permissionsBoundary = 'create';
  else if (boundaryRaw === undefined || boundaryRaw === null || boundaryRaw === false || boundaryRaw === 'false' || boundaryRaw === '') permissionsBoundary = undefined;
  else if (typeof boundaryRaw === 'string' && /^arn:aws[a-z-]*:iam::\d{12}:policy\/[\w+=,.@/-]{1,512}$/.test(boundaryRaw.trim())) permissionsBoundary = boundaryRaw.trim();
  else {
    throw new ContextError(
      `context "${CONTEXT_KEYS.permissionsBoundary}" must be true, false or a managed policy ARN, got ${JSON.stringify(boundaryRaw)}: ` +
        `e.g. -c ${CONTEXT_KEYS.permissionsBoundary}=true (the stack's own boundary) or -c ${CONTEXT_KEYS.permissionsBoundary}=arn:aws:iam::123456789012:policy/app-boundary`,
    );
  }

  const ingestConcurrency = wholeNumber(node, CONTEXT_KEYS.ingestConcurrency, DEPLOY_DEFAULTS.ingestConcurrency, 1, 10_000, 'concurrent executions');
  const accountConcurrency = wholeNumber(node, CONTEXT_KEYS.accountConcurrency, DEPLOY_DEFAULTS.accountConcurrency, 1, 1_000_000, 'concurrent executions');
  const reserved = reservedConcurrency(ingestConcurrency);
  if (accountConcurrency - reserved.total < UNRESERVED_CONCURRENCY_MINIMUM) {
    throw new ContextError(
      `the functions would reserve ${reserved.total} concurrent executions (${reserved.parts}), which leaves ${accountConcurrency - reserved.total} of the account's ${accountConcurrency}; ` +
        `Lambda keeps at least ${UNRESERVED_CONCURRENCY_MINIMUM} unreserved: lower -c ${CONTEXT_KEYS.ingestConcurrency}=…, or raise the account's quota and set -c ${CONTEXT_KEYS.accountConcurrency}=<the new quota>`,
    );
  }

  return {
    oidcIssuer: issuer,
    oidcAudience: audience,
    employeeIdClaim: claim,
    retentionDays: wholeNumber(node, CONTEXT_KEYS.retentionDays, CONTEXT_DEFAULTS.retentionDays, 1, 3650),
    keyDeletionDays: wholeNumber(node, CONTEXT_KEYS.keyDeletionDays, CONTEXT_DEFAULTS.keyDeletionDays, 7, 30),
    // At most 30: a dataset's grants are retired by then, whatever the deployer sets.
    datasetMaxDays: wholeNumber(node, CONTEXT_KEYS.datasetMaxDays, CONTEXT_DEFAULTS.datasetMaxDays, 1, 30),
    ...(trainingPrincipalArn === undefined ? {} : { trainingPrincipalArn }),
    ...(auditorRoleArn === undefined ? {} : { auditorRoleArn }),
    rolePrefix,
    ...(alarmEmail === undefined ? {} : { alarmEmail }),
    ...(permissionsBoundary === undefined ? {} : { permissionsBoundary }),
    ingestConcurrency,
    apiRateLimit: wholeNumber(node, CONTEXT_KEYS.apiRateLimit, DEPLOY_DEFAULTS.apiRateLimit, 1, 100_000, 'requests per second'),
    apiBurstLimit: wholeNumber(node, CONTEXT_KEYS.apiBurstLimit, DEPLOY_DEFAULTS.apiBurstLimit, 1, 100_000, 'requests'),
    accountConcurrency,
    auditRetentionDays: wholeNumber(node, CONTEXT_KEYS.auditRetentionDays, DEPLOY_DEFAULTS.auditRetentionDays, 1, 3650),
  };
}

/** The concurrency each function reserves: the contract's, and ingest's from context. */
export function reservedConcurrency(ingestConcurrency: number): { readonly byFunction: Readonly<Record<FunctionName, number | undefined>>; readonly total: number; readonly parts: string } {
  const byFunction = Object.fromEntries(
    FUNCTION_NAMES.map((name) => {
      const declared: FunctionDeclaration = FUNCTIONS[name];
      return [name, name === 'ingest' ? ingestConcurrency : declared.reservedConcurrency];
    }),
  ) as Record<FunctionName, number | undefined>;
  const entries = Object.entries(byFunction).filter((entry): entry is [string, number] => entry[1] !== undefined);
  return {
    byFunction,
    total: entries.reduce((sum, [, n]) => sum + n, 0),
    parts: entries.map(([name, n]) => `${name} ${n}`).join(', '),
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

function wholeNumber(node: Node, key: string, fallback: number, min: number, max: number, unit = 'days'): number {
  const raw = node.tryGetContext(key) as unknown;
  if (raw === undefined || raw === null || raw === '') return fallback;
  const value = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\s*\d+\s*$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ContextError(
      `context "${key}" must be a whole number of ${unit} from ${min} to ${max}, got ${JSON.stringify(raw)}: ` +
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
  public readonly exportJobs: ExportJobsTable;
  public readonly datasets: DatasetsTable;
  public readonly datasetSweep: DatasetSweepSchedule;
  public readonly exportExpiry: ExportExpirySchedule;
  public readonly buckets: DataBuckets;
  /** Every queue of the contract, by its name there. */
  public readonly queues: Readonly<Record<QueueName, JobQueue>>;
  /** Every function of the contract, by its name there. */
  public readonly functions: Readonly<Record<FunctionName, FunctionDefaults>>;
  public readonly purgeQueue: JobQueue;
  public readonly keySyncQueue: JobQueue;
  public readonly exportQueue: JobQueue;
  public readonly consentFunction: FunctionDefaults;
  public readonly purgeFunction: FunctionDefaults;
  public readonly keySyncFunction: FunctionDefaults;
  public readonly ingestFunction: FunctionDefaults;
  public readonly keyStewardFunction: FunctionDefaults;
  public readonly exportFunction: FunctionDefaults;
  public readonly httpApi: HttpApi;
  public readonly alarms: OperationsAlarms;
  /** The CloudTrail trail, its locked bucket, Athena and the auditor role. */
  public readonly audit: AuditTrail;
  /** EventBridge rules on CloudTrail: key-policy writes to policy-watch, foreign key use and trail tampering to the topic. */
  public readonly auditAlarms: AuditAlarms;
  /** Present with -c permissionsBoundary=true. */
  public readonly permissionsBoundary?: PermissionsBoundary;

  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, {
      description: 'consent-capture: consent-gated capture where each employee\'s consent is their own KMS key',
      ...props,
    });
    this.settings = readSettings(this.node, this.stackName);
    const prefix = this.settings.rolePrefix;

    let boundary: iam.IManagedPolicy | undefined;
    if (this.settings.permissionsBoundary === 'create') {
      this.permissionsBoundary = new PermissionsBoundary(this, 'PermissionsBoundary', {
        managedPolicyName: `${prefix}-boundary`,
        functionNamePrefix: prefix,
        shredderRoleName: roleNameFor(prefix, 'purge'),
      });
      boundary = this.permissionsBoundary.policy;
    } else if (this.settings.permissionsBoundary !== undefined) {
      boundary = iam.ManagedPolicy.fromManagedPolicyArn(this, 'ImportedPermissionsBoundary', this.settings.permissionsBoundary);
    }
    this.roles = new FunctionRoles(this, 'Roles', {
      namePrefix: prefix,
      ...(boundary === undefined ? {} : { permissionsBoundary: boundary }),
      ...(this.settings.trainingPrincipalArn === undefined ? {} : { trainingPrincipal: new iam.ArnPrincipal(this.settings.trainingPrincipalArn) }),
    });
    this.ledger = new LedgerTable(this, TABLES.ledger.constructId);
    this.batches = new BatchesTable(this, TABLES.batches.constructId);
    this.exportJobs = new ExportJobsTable(this, TABLES.exportJobs.constructId);
    this.datasets = new DatasetsTable(this, TABLES.datasets.constructId);
    this.buckets = new DataBuckets(this, 'Buckets', { retentionDays: this.settings.retentionDays });

    this.queues = Object.fromEntries(
      QUEUE_NAMES.map((name) => {
        const queue = QUEUES[name];
        return [
          name,
          new JobQueue(this, queue.constructId, {
            jobs: queue.jobs,
            consumerTimeout: Duration.seconds(FUNCTIONS[consumerOf(name)].timeoutSeconds),
            maxReceiveCount: queue.maxReceiveCount,
            retentionPeriod: Duration.days(queue.retentionDays),
            visibilityTimeoutFactor: queue.visibilityTimeoutFactor,
          }),
        ];
      }),
    ) as Record<QueueName, JobQueue>;
    this.purgeQueue = this.queues.purge;
    this.keySyncQueue = this.queues.keySync;
    this.exportQueue = this.queues.export;

    // The ledger is append-only by design: its writers get PutItem (events are appended with a
    // condition, the state item is replaced), never UpdateItem, DeleteItem or BatchWriteItem.
    this.ledger.grantAppend(this.roles.consent);
    this.ledger.grantAppend(this.roles.purge);
    // The key steward reads the newest event itself; key-sync (the same role) caches the state it applied.
    this.ledger.grantAppend(this.roles.steward);
    this.ledger.grantRead(this.roles.ingest);
    // policy-watch rebuilds the expected key policy from the ledger; it writes nothing there.
    this.ledger.grantRead(this.roles.role('policy-watch'));
    this.batches.grantClaims(this.roles.ingest);
    this.batches.grantUsageQuery(this.roles.consent);
    // No KMS permission: employee key policies alone let ingest generate data keys.
    this.buckets.grantCaptureWrites(this.roles.ingest);
    for (const name of QUEUE_NAMES) {
      for (const sender of QUEUES[name].senders) this.queues[name].queue.grantSendMessages(this.roles.role(sender));
    }
    this.buckets.grantPurge(this.roles.purge);
    // Exports: the consent function starts them and signs the download URL; the export worker
    // reads captures and writes the file. No KMS permission for either: the export role decrypts
    // only through the one-off grant each export mints, and retires it as the grant allows.
    this.exportJobs.grantRequests(this.roles.consent);
    this.buckets.grantExportDownloads(this.roles.consent);
    this.exportJobs.grantWorker(this.roles.export);
    this.ledger.grantAppend(this.roles.export);
    this.buckets.grantCaptureReads(this.roles.export);
    this.buckets.grantExportWrites(this.roles.export);
    // The hourly export sweep (key-sync, the steward role) ends exports older than their life and
    // revokes their grants, so a worker that keeps a job cannot keep Decrypt.
    this.exportJobs.grantExpiry(this.roles.steward);
    // Datasets: the consent function counts consenting employees, records and queues a request;
    // the worker reads the ledger and the captures' listing, writes manifests and cards, and asks
    // the key steward for training grants. Training jobs read manifests and ciphertext; neither
    // role has any KMS permission: only the steward's per-employee, per-scope grants decrypt.
    this.ledger.grantScan(this.roles.consent);
    this.datasets.grantRequests(this.roles.consent);
    this.datasets.grantWorker(this.roles.datasets);
    this.datasets.grantStewardReads(this.roles.steward);
    this.ledger.grantRead(this.roles.datasets);
    this.buckets.grantCaptureReads(this.roles.datasets);
    this.buckets.grantDatasetWrites(this.roles.datasets);
    this.buckets.grantTrainingReads(this.roles.training);

    // Functions others name in their environment first, so those names resolve; construct ids,
    // not this order, decide the template.
    const reservations = reservedConcurrency(this.settings.ingestConcurrency).byFunction;
    const created: Partial<Record<FunctionName, FunctionDefaults>> = {};
    this.functions = created as Record<FunctionName, FunctionDefaults>;
    const order = [...INVOKED_FUNCTIONS, ...FUNCTION_NAMES.filter((name) => !(INVOKED_FUNCTIONS as readonly string[]).includes(name))];
    for (const name of order) created[name] = this.createFunction(name, FUNCTIONS[name], reservations[name]);
    for (const name of FUNCTION_NAMES) {
      const trigger: FunctionDeclaration['trigger'] = FUNCTIONS[name].trigger;
      if (trigger.kind !== 'invoke') continue;
      for (const invoker of trigger.invokers) {
        this.functions[name].fn.grantInvoke(this.roles.role(invoker));
        acknowledgeInvokeGrant(this.roles.role(invoker), this.functions[name].fn);
      }
    }
    this.consentFunction = this.functions.consent;
    this.purgeFunction = this.functions.purge;
    this.keySyncFunction = this.functions['key-sync'];
    this.ingestFunction = this.functions.ingest;
    this.keyStewardFunction = this.functions['key-steward'];
    this.exportFunction = this.functions.export;

    const handlers: Partial<Record<RouteFunction, lambda.IFunction>> = {};
    for (const route of API_ROUTES) handlers[route.function] = this.functions[route.function].fn;
    this.httpApi = new HttpApi(this, 'HttpApi', {
      routes: API_ROUTES,
      handlers,
      jwtIssuer: this.settings.oidcIssuer,
      jwtAudience: this.settings.oidcAudience,
      throttleRateLimit: this.settings.apiRateLimit,
      throttleBurstLimit: this.settings.apiBurstLimit,
    });

    this.datasetSweep = new DatasetSweepSchedule(this, 'DatasetSweep', { queue: this.queues.datasets.queue });
    this.exportExpiry = new ExportExpirySchedule(this, 'ExportExpiry', { queue: this.queues.keySync.queue });

    this.alarms = new OperationsAlarms(this, 'Alarms', {
      namePrefix: prefix,
      queues: Object.fromEntries(
        QUEUE_NAMES.map((name) => [
          name,
          { queue: this.queues[name].queue, deadLetterQueue: this.queues[name].deadLetterQueue, maxAge: Duration.seconds(QUEUES[name].maxAgeSeconds) },
        ]),
      ),
      functions: Object.fromEntries(FUNCTION_NAMES.map((name) => [name, this.functions[name].fn])),
      ...(this.settings.alarmEmail === undefined ? {} : { email: this.settings.alarmEmail }),
    });

    this.audit = new AuditTrail(this, 'Audit', {
      namePrefix: prefix,
      retentionDays: this.settings.auditRetentionDays,
      dataEventBuckets: [this.buckets.captures, this.buckets.exports],
      accessLogsBucket: this.buckets.accessLogs,
      ledger: this.ledger.table,
      queries: AUDIT_QUERIES,
      ...(boundary === undefined ? {} : { permissionsBoundary: boundary }),
    });
    this.auditAlarms = new AuditAlarms(this, 'AuditAlarms', {
      namePrefix: prefix,
      topic: this.alarms.topic,
      policyWatchQueue: this.queues.policyWatch.queue,
      keyUsers: [this.roles.export, this.roles.steward, this.roles.training],
      trailName: this.audit.trailName,
      trailArn: this.audit.trailArn,
    });

    this.roles.acknowledgeInlinePolicies();

    const table = this.ledger.table;
    new CfnOutput(this, 'ApiUrl', { value: this.httpApi.url, description: 'Base URL of the HTTP API' });
    new CfnOutput(this, 'LedgerTableName', { value: table.tableName });
    new CfnOutput(this, 'BatchesTableName', { value: this.batches.table.tableName });
    new CfnOutput(this, 'CapturesBucketName', { value: this.buckets.captures.bucketName });
    new CfnOutput(this, 'ExportsBucketName', { value: this.buckets.exports.bucketName });
    new CfnOutput(this, 'PurgeQueueUrl', { value: this.purgeQueue.queue.queueUrl });
    new CfnOutput(this, 'PurgeDeadLetterQueueUrl', { value: this.purgeQueue.deadLetterQueue.queueUrl });
    new CfnOutput(this, 'KeySyncDeadLetterQueueUrl', { value: this.keySyncQueue.deadLetterQueue.queueUrl });
    new CfnOutput(this, 'ExportDeadLetterQueueUrl', { value: this.exportQueue.deadLetterQueue.queueUrl });
    new CfnOutput(this, 'ExportJobsTableName', { value: this.exportJobs.table.tableName });
    new CfnOutput(this, 'IngestRoleArn', { value: this.roles.ingest.roleArn });
    new CfnOutput(this, 'ConsentRoleArn', { value: this.roles.consent.roleArn });
    new CfnOutput(this, 'ExportRoleArn', { value: this.roles.export.roleArn });
    new CfnOutput(this, 'PurgeRoleArn', { value: this.roles.purge.roleArn });
    new CfnOutput(this, 'KeyStewardRoleArn', { value: this.roles.steward.roleArn });
    new CfnOutput(this, 'TrainingRoleArn', { value: this.roles.training.roleArn, description: 'Training jobs assume it to read dataset manifests and decrypt through training grants' });
    new CfnOutput(this, 'DatasetsTableName', { value: this.datasets.table.tableName });
    new CfnOutput(this, 'AuditorRoleArn', { value: this.audit.auditor.roleArn, description: 'The compliance auditor role (Athena over the trail, ledger read only)' });
    new CfnOutput(this, 'AuditWorkGroup', { value: this.audit.workGroup.ref, description: 'Athena workgroup of the compliance named queries' });
    new CfnOutput(this, 'AuditTrailBucketName', { value: this.audit.bucket.bucketName });
  }

  /** The table by its name in the contract (contract/resources.ts). */
  public table(name: TableName): dynamodb.Table {
    return { ledger: this.ledger.table, batches: this.batches.table, exportJobs: this.exportJobs.table, datasets: this.datasets.table }[name];
  }

  /** The value a logical reference of the contract takes in this stack; undefined for an unset optional setting. */
  public resolveEnvRef(ref: EnvRef): string | undefined {
    if ('table' in ref) return this.table(ref.table).tableName;
    if ('bucket' in ref) return this.buckets.bucket(ref.bucket).bucketName;
    if ('queueUrl' in ref) return this.queues[ref.queueUrl].queue.queueUrl;
    if ('roleArn' in ref) return this.roles.role(ref.roleArn).roleArn;
    if ('functionName' in ref) {
      const fn = this.functions[ref.functionName] as FunctionDefaults | undefined;
      if (fn === undefined) throw new Error(`function ${ref.functionName} is named in an environment before it exists: list it in INVOKED_FUNCTIONS`);
      return fn.fn.functionName;
    }
    if ('setting' in ref) {
      const value = this.settings[ref.setting];
      return value === undefined ? undefined : String(value);
    }
    return ref.value;
  }

  private createFunction(name: FunctionName, declaration: FunctionDeclaration, reserved: number | undefined): FunctionDefaults {
    const environment: Record<string, string> = {};
    for (const [name, entry] of Object.entries(declaration.environment)) {
      const value = entry === undefined ? undefined : this.resolveEnvRef(envRefFor(entry, 'aws'));
      if (value !== undefined) environment[name] = value;
    }
    const trigger = declaration.trigger;
    return new FunctionDefaults(this, declaration.constructId, {
      entry: `${REPO_ROOT}${declaration.entry}`,
      description: declaration.description,
      role: this.roles.role(declaration.role),
      invocation:
        trigger.kind === 'http'
          ? { kind: 'http' }
          : trigger.kind === 'invoke'
            ? { kind: 'invoke' }
            : {
              kind: 'queue',
              queue: this.queues[trigger.queue].queue,
              batchSize: trigger.batchSize,
              ...(trigger.maxConcurrency === undefined ? {} : { maxConcurrency: trigger.maxConcurrency }),
            },
      timeout: Duration.seconds(declaration.timeoutSeconds),
      memorySize: declaration.memoryMb,
      environment,
      functionName: functionNameFor(this.settings.rolePrefix, name),
      ...(reserved === undefined ? {} : { reservedConcurrentExecutions: reserved }),
    });
  }
}

/**
 * grantInvoke allows the function and its versions and aliases (`<arn>:*`); this app publishes
 * neither, so the wildcard reaches nothing more than the one function.
 */
function acknowledgeInvokeGrant(invoker: iam.Role, fn: lambda.IFunction): void {
  const policy = invoker.node.tryFindChild('DefaultPolicy');
  if (policy === undefined) return;
  const id = Stack.of(fn).getLogicalId(fn.node.defaultChild as CfnElement);
  Validations.of(policy).acknowledge({
    id: `AwsSolutions-IAM5[Resource::<${id}.Arn>:*]`,
    reason: 'lambda:InvokeFunction on the key-steward function and its qualifiers (versions, aliases), as grantInvoke writes it; the app publishes no versions or aliases, so it reaches that one function only.',
  });
}
