// Builds the consent and ingest services in the test process, wired as lambdas/consent/index.ts
// and lambdas/ingest/index.ts wire them, but with SDK clients the test owns: pointed at the local
// stack's endpoints, signing as the function's own principal, with the test's clock and
// (optionally) a FaultPlan attached. In-process services see the clock the test moves; the
// stack's workers only ever see wall-clock time.
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient, type KMSClientConfig } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ConsentService } from '../../lambdas/consent/consent-service.js';
import { lambdaTransport, StewardClient, type StewardTransport } from '../../lambdas/consent/steward-client.js';
import { StewardService } from '../../lambdas/key-steward/steward-service.js';
import { LambdaClient } from '@aws-sdk/client-lambda';
import type { Actor } from '../../lambdas/shared/consent-state.js';
import { LOCAL_ISSUER } from '../../local/issuer.js';
import { BatchClaims } from '../../lambdas/ingest/batch-claims.js';
import { createIngestHandler } from '../../lambdas/ingest/ingest-handler.js';
import { IngestService } from '../../lambdas/ingest/ingest-service.js';
import { KeyringKmsClient, kmsKeyrings } from '../../lambdas/shared/kms-keyring.js';
import { purgeEmployee, type PurgeJob, type PurgeOutcome } from '../../lambdas/purge/purge-employee.js';
import type { HttpEvent, HttpResult } from '../../lambdas/shared/http.js';
import { KeyPolicySync } from '../../lambdas/shared/key-policy-sync.js';
import { DatasetsStore } from '../../lambdas/shared/datasets-store.js';
import { KeySteward } from '../../lambdas/shared/key-steward.js';
import { Ledger } from '../../lambdas/shared/ledger.js';
import type { AlarmMetric, Alarms } from '../../lambdas/shared/alarm-metrics.js';
import type { PrincipalName } from '../../local/principals.js';
import { LOCAL_RESOURCES } from '../../local/stack.js';
import { localFunctionName } from '../../local/resource-names.js';
import type { TestStack } from './local-stack.js';
import type { FaultPlan } from './sdk-faults.js';
import { LOCAL_REQUEST_HANDLER } from '../../local/keep-alive.js';

export interface InProcessOptions {
  /** The services' clock. @default - wall-clock time */
  readonly now?: () => Date;
  /**
   * SDK attempts per call. @default 1: an injected or real fault reaches the service on its
   * first occurrence instead of being hidden by the SDK's retries (the functions use 3).
   */
  readonly maxAttempts?: number;
  /** Attached to every client built. @default - none */
  readonly faults?: FaultPlan;
  /** @default - a logger that writes nothing */
  readonly logger?: Logger;
  /** @default - a fresh recorder */
  readonly alarms?: RecordedAlarms;
  /** Delay of the sweep a withdrawal queues. @default 2, the local stack's */
  readonly revokeSweepDelaySeconds?: number;
  /**
   * How the consent service reaches the key steward: `in-process` (a StewardService in this
   * process, signing as the steward principal, its KMS client carrying the faults as
   * `steward-kms`), or `lambda` (the stack's key-steward function through the local Lambda
   * endpoint, invoked as the consent principal). @default 'in-process'
   */
  readonly steward?: 'in-process' | 'lambda';
}

/** Alarms a test can read back: how often each metric was raised. */
export interface RecordedAlarms extends Alarms {
  readonly raised: AlarmMetric[];
}

export function recordedAlarms(): RecordedAlarms {
  const raised: AlarmMetric[] = [];
  return { raised, raise: (metric) => void raised.push(metric) };
}

export interface Destroyable {
  destroy(): void;
}

/** The actor an employee's own call records: themself, at the local issuer. */
export function employeeActor(employeeId: string): Actor {
  return { kind: 'employee', issuer: LOCAL_ISSUER, subject: employeeId };
}

export function silentLogger(service: string): Logger {
  return new Logger({ serviceName: `test-${service}`, logLevel: 'SILENT' });
}

function clientConfig(t: TestStack, principal: PrincipalName, maxAttempts: number) {
  const { accessKeyId, secretAccessKey } = t.stack.identity.principals[principal];
  return { region: t.stack.identity.region, credentials: { accessKeyId, secretAccessKey }, maxAttempts, requestHandler: LOCAL_REQUEST_HANDLER };
}

function documents(client: DynamoDBClient): DynamoDBDocumentClient {
  // As lambdas/shared/clients.ts: optional fields that are undefined are left out.
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

export interface InProcessConsent extends Destroyable {
  readonly service: ConsentService;
  /** The in-process steward's KeySteward, signing as the steward principal. */
  readonly steward: KeySteward;
  readonly stewardService: StewardService;
  readonly ledger: Ledger;
  readonly alarms: RecordedAlarms;
}

/**
 * ConsentService as the consent function builds it, signing as the consent principal, with its
 * key steward (as lambdas/key-steward/index.ts builds it, signing as the steward principal).
 */
export function inProcessConsent(t: TestStack, options: InProcessOptions = {}): InProcessConsent {
  const maxAttempts = options.maxAttempts ?? 1;
  const config = clientConfig(t, 'consent', maxAttempts);
  const stewardConfig = clientConfig(t, 'steward', maxAttempts);
  const kms = new KMSClient({ ...stewardConfig, endpoint: t.stack.endpoints.kms });
  const stewardDynamodb = new DynamoDBClient({ ...stewardConfig, endpoint: t.stack.endpoints.dynamodb });
  const dynamodb = new DynamoDBClient({ ...config, endpoint: t.stack.endpoints.dynamodb });
  const sqs = new SQSClient({ ...config, endpoint: t.stack.endpoints.sqs });
  const lambda = new LambdaClient({ ...config, endpoint: t.stack.endpoints.lambda });
  options.faults?.attach(kms, 'steward-kms');
  options.faults?.attach(stewardDynamodb, 'steward-dynamodb');
  options.faults?.attach(dynamodb, 'consent-dynamodb');
  options.faults?.attach(sqs, 'consent-sqs');
  options.faults?.attach(lambda, 'consent-lambda');
  const p = t.stack.identity.principals;
  const ledger = new Ledger(documents(dynamodb), LOCAL_RESOURCES.tables.ledger);
  const alarms = options.alarms ?? recordedAlarms();
  const logger = options.logger ?? silentLogger('consent');
  const stewardLedger = new Ledger(documents(stewardDynamodb), LOCAL_RESOURCES.tables.ledger);
  const steward = new KeySteward(kms, { ingest: p.ingest.arn, steward: p.steward.arn, export: p.export.arn, purge: p.purge.arn, auditor: p.auditor.arn }, { alarms, logger, backoffMs: () => 5, ...(options.now === undefined ? {} : { now: options.now }) });
  const datasets = new DatasetsStore(documents(stewardDynamodb), LOCAL_RESOURCES.tables.datasets);
  const stewardService = new StewardService({ ledger: stewardLedger, steward, sync: new KeyPolicySync(stewardLedger, steward), datasets, logger, alarms, ...(options.now === undefined ? {} : { now: options.now }) });
  // In process, the request and the answer still cross as JSON, as they do through Lambda.
  const inProcess: StewardTransport = async (request) => JSON.parse(JSON.stringify(await stewardService.handle(JSON.parse(JSON.stringify(request))))) as unknown;
  const transport = options.steward === 'lambda' ? lambdaTransport(lambda, localFunctionName('key-steward')) : inProcess;
  const service = new ConsentService({
    ledger,
    steward: new StewardClient(transport),
    sqs,
    purgeQueueUrl: t.stack.queues.queueUrl(LOCAL_RESOURCES.queues.purge),
    keySyncQueueUrl: t.stack.queues.queueUrl(LOCAL_RESOURCES.queues.keySync),
    revokeSweepDelaySeconds: options.revokeSweepDelaySeconds ?? 2,
    logger,
    alarms,
    ...(options.now === undefined ? {} : { now: options.now }),
  });
  return {
    service,
    steward,
    stewardService,
    ledger,
    alarms,
    destroy() {
      kms.destroy();
      stewardDynamodb.destroy();
      dynamodb.destroy();
      sqs.destroy();
      lambda.destroy();
    },
  };
}

export interface InProcessPurge extends Destroyable {
  /** One delivery of a purge job, as the purge function handles it. */
  run(job: PurgeJob): Promise<PurgeOutcome>;
}

/**
 * purgeEmployee as lambdas/purge/index.ts wires it, signing as the purge principal, with a
 * 7-day deletion window. `resweepSeconds` defaults to 0 (one sweep, then `purged`), so a test
 * drives every delivery itself instead of racing the stack's own purge worker.
 */
export function inProcessPurge(t: TestStack, options: InProcessOptions & { resweepSeconds?: number } = {}): InProcessPurge {
  const maxAttempts = options.maxAttempts ?? 1;
  const config = clientConfig(t, 'purge', maxAttempts);
  const kms = new KMSClient({ ...config, endpoint: t.stack.endpoints.kms });
  const dynamodb = new DynamoDBClient({ ...config, endpoint: t.stack.endpoints.dynamodb });
  const s3 = new S3Client({ ...config, endpoint: t.stack.endpoints.s3, forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED' });
  const sqs = new SQSClient({ ...config, endpoint: t.stack.endpoints.sqs });
  options.faults?.attach(kms, 'purge-kms');
  options.faults?.attach(dynamodb, 'purge-dynamodb');
  options.faults?.attach(s3, 'purge-s3');
  options.faults?.attach(sqs, 'purge-sqs');
  const deps = {
    ledger: new Ledger(documents(dynamodb), LOCAL_RESOURCES.tables.ledger),
    kms,
    s3,
    capturesBucket: LOCAL_RESOURCES.buckets.captures,
    exportsBucket: LOCAL_RESOURCES.buckets.exports,
    keyDeletionDays: 7,
    sqs,
    purgeQueueUrl: t.stack.queues.queueUrl(LOCAL_RESOURCES.queues.purge),
    resweepSeconds: options.resweepSeconds ?? 0,
    logger: options.logger ?? silentLogger('purge'),
    alarms: options.alarms ?? recordedAlarms(),
    ...(options.now === undefined ? {} : { now: options.now }),
  };
  return {
    run: (job) => purgeEmployee(deps, job),
    destroy() {
      kms.destroy();
      dynamodb.destroy();
      s3.destroy();
      sqs.destroy();
    },
  };
}

export interface InProcessIngest extends Destroyable {
  readonly service: IngestService;
  readonly handler: (event: HttpEvent) => Promise<HttpResult>;
  /** KMS clients the keyring's client provider has built so far (one per region). */
  readonly kmsClients: readonly KeyringKmsClient[];
  readonly alarms: RecordedAlarms;
}

/**
 * IngestService and its HTTP handler as lambdas/ingest/index.ts builds them (a cached
 * Encryption SDK client provider, one document client for ledger and claims), signing as the
 * ingest principal.
 */
export function inProcessIngest(t: TestStack, options: InProcessOptions = {}): InProcessIngest {
  const maxAttempts = options.maxAttempts ?? 1;
  const config = clientConfig(t, 'ingest', maxAttempts);
  const dynamodb = new DynamoDBClient({ ...config, endpoint: t.stack.endpoints.dynamodb });
  const s3 = new S3Client({ ...config, endpoint: t.stack.endpoints.s3, forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED' });
  const kms = new KMSClient({ ...config, endpoint: t.stack.endpoints.kms });
  options.faults?.attach(kms, 'ingest-kms');
  options.faults?.attach(dynamodb, 'ingest-dynamodb');
  options.faults?.attach(s3, 'ingest-s3');
  const kmsClients: KeyringKmsClient[] = [];
  const faults = options.faults;
  // The keyring builds its KMS clients itself (getClient): a subclass attaches the faults to each.
  class TestKms extends KeyringKmsClient {
    constructor(kmsConfig: KMSClientConfig) {
      super(kmsConfig);
      faults?.attach(this, 'ingest-kms');
      kmsClients.push(this);
    }
  }
  const db = documents(dynamodb);
  const logger = options.logger ?? silentLogger('ingest');
  const alarms = options.alarms ?? recordedAlarms();
  const service = new IngestService({
    ledger: new Ledger(db, LOCAL_RESOURCES.tables.ledger),
    claims: new BatchClaims(db, LOCAL_RESOURCES.tables.batches),
    s3,
    bucket: LOCAL_RESOURCES.buckets.captures,
    keyringFor: kmsKeyrings({ ...config, endpoint: t.stack.endpoints.kms }, TestKms),
    kms,
    logger,
    alarms,
    ...(options.now === undefined ? {} : { now: options.now }),
  });
  const handler = createIngestHandler({ service, employeeIdClaim: 'sub', logger, ...(options.now === undefined ? {} : { now: options.now }) });
  return {
    service,
    handler,
    kmsClients,
    alarms,
    destroy() {
      kms.destroy();
      dynamodb.destroy();
      s3.destroy();
      for (const client of kmsClients) client.destroy();
    },
  };
}
