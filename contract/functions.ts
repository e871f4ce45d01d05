// The application's Lambda functions: handler entry, role, limits, trigger and environment. The
// environment is declared as logical references that each side resolves to its own resources:
// the CDK app to tokens of its constructs, the local stack to its local names and URLs.
import { METRICS_NAMESPACE, SERVICE_NAME } from './app.js';
import { ENV, type EnvName } from './environment.js';
import type { QueueName } from './queues.js';
import type { BucketName, TableName } from './resources.js';
import type { RoleName } from './roles.js';
import type { SettingName } from './settings.js';

/**
 * Functions that other functions invoke directly (trigger `invoke`), so an environment may name
 * them. Listed apart from FUNCTIONS because FUNCTIONS' own type cannot refer to its keys.
 */
export const INVOKED_FUNCTIONS = ['key-steward'] as const;
export type InvokedFunction = (typeof INVOKED_FUNCTIONS)[number];

/** A value an environment variable takes, by what it refers to. */
export type EnvRef =
  | { readonly table: TableName }
  | { readonly bucket: BucketName }
  | { readonly queueUrl: QueueName }
  | { readonly roleArn: RoleName }
  /** Another function of the contract, by its name there: its function name (AWS) or local function name. */
  | { readonly functionName: InvokedFunction }
  /** A deployer setting; an optional setting that is unset leaves the variable out. */
  | { readonly setting: SettingName }
  | { readonly value: string };

/** A variable whose value must differ locally, with the reason; the parity test accepts exactly this difference. */
export interface EnvDifference {
  readonly aws: EnvRef;
  readonly local: EnvRef;
  readonly reason: string;
}

export type EnvEntry = EnvRef | EnvDifference;

export function isEnvDifference(entry: EnvEntry): entry is EnvDifference {
  return 'aws' in entry && 'local' in entry;
}

/** The reference each side resolves. */
export function envRefFor(entry: EnvEntry, side: 'aws' | 'local'): EnvRef {
  return isEnvDifference(entry) ? entry[side] : entry;
}

export type FunctionTrigger =
  /** Invoked synchronously by the HTTP API; routes.ts says which routes. */
  | { readonly kind: 'http' }
  /**
   * Invoked synchronously (RequestResponse) by other functions, never by a route: only the roles
   * listed may call lambda:InvokeFunction on it.
   */
  | { readonly kind: 'invoke'; readonly invokers: readonly RoleName[] }
  | {
      readonly kind: 'queue';
      readonly queue: QueueName;
      readonly batchSize: number;
      /** Most concurrent invocations the queue may drive (2-1000). @default - no limit */
      readonly maxConcurrency?: number;
    };

export interface FunctionDeclaration {
  /** The construct id of the function in the CDK app (a contract: renaming it replaces the function). */
  readonly constructId: string;
  /** The handler module, relative to the repository root; it exports `handler`. */
  readonly entry: string;
  /** The execution role; key policies name roles, so a function runs as one of ROLES. */
  readonly role: RoleName;
  readonly description: string;
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
  readonly trigger: FunctionTrigger;
  readonly environment: Readonly<Partial<Record<EnvName, EnvEntry>>>;
  /**
   * Concurrent executions reserved for this function (also its ceiling), so that a flood of
   * other calls (slow ingests) cannot take the account's concurrency from it. The ingest
   * function's comes from the deployer (CDK context `ingestConcurrency`) instead.
   * @default - none: the CDK app's NIST 800-53 check reports the function
   */
  readonly reservedConcurrency?: number;
}

/** A function's fixed name in AWS, `<prefix>-<function>`, so an SCP can fence it by name. */
export function functionNameFor(prefix: string, name: string): string {
  return `${prefix}-${name}`;
}

/** Variables every function gets, besides its own `environment`. */
export const COMMON_ENVIRONMENT = {
  POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
  POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
} as const;

/** The roles employee key policies name: both functions that write key policies need them. */
const KEY_POLICY_ROLES = {
  [ENV.ingestRoleArn]: { roleArn: 'ingest' },
  [ENV.stewardRoleArn]: { roleArn: 'steward' },
  [ENV.exportRoleArn]: { roleArn: 'export' },
  [ENV.purgeRoleArn]: { roleArn: 'purge' },
  [ENV.trainingRoleArn]: { roleArn: 'training' },
  [ENV.auditorRoleArn]: { setting: 'auditorRoleArn' },
} as const satisfies Partial<Record<EnvName, EnvEntry>>;

/**
 * The delay of the sweeps that follow a withdrawal (the consent function queues it) and an
 * erasure (the purge worker's second sweep): ingest's timeout (29 s) plus KMS's worst-case policy
 * propagation (about 5 minutes).
 */
const RESWEEP_DELAY: EnvDifference = {
  aws: { value: '360' },
  local: { value: '2' },
  reason: 'the local KMS applies a policy change at once and a local ingest takes well under a second, so the sweeps need not wait for propagation',
};

export const FUNCTIONS = {
  consent: {
    constructId: 'ConsentFunction',
    entry: 'lambdas/consent/index.ts',
    role: 'consent',
    description: 'Consent, pause, resume, revoke, history and offboarding; asks the key steward to enforce each change.',
    // API Gateway waits 30 s for an integration. First consent waits for the key steward's KMS
    // calls (CreateKey, PutKeyPolicy, CreateAlias, EnableKeyRotation), each with SDK retries; a
    // Lambda timeout before the client gives up would cut a change between its ledger append and
    // its key policy.
    timeoutSeconds: 29,
    memoryMb: 512,
    trigger: { kind: 'http' },
    // Consent changes are rare (a few per employee per month) and take well under a second; 25
    // serve about 100 changes per second, more than KMS's PutKeyPolicy quota (15/s) can write.
    reservedConcurrency: 25,
    environment: {
      [ENV.ledgerTable]: { table: 'ledger' },
      [ENV.purgeQueueUrl]: { queueUrl: 'purge' },
      [ENV.keySyncQueueUrl]: { queueUrl: 'keySync' },
      [ENV.purgeResweepSeconds]: RESWEEP_DELAY,
      [ENV.keyStewardFunction]: { functionName: 'key-steward' },
      [ENV.exportsTable]: { table: 'exportJobs' },
      [ENV.exportQueueUrl]: { queueUrl: 'export' },
      // The consent role signs the 15-minute download URL of a finished export.
      [ENV.exportsBucket]: { bucket: 'exports' },
      [ENV.employeeIdClaim]: { setting: 'employeeIdClaim' },
      // Dataset requests: counted against the ledger's state items, recorded, queued.
      [ENV.datasetsTable]: { table: 'datasets' },
      [ENV.datasetsQueueUrl]: { queueUrl: 'datasets' },
      [ENV.datasetMaxDays]: { setting: 'datasetMaxDays' },
      // Read (Query only) for "when my key last stored captured data": claim times and counts.
      [ENV.batchesTable]: { table: 'batches' },
    },
  },
  'key-steward': {
    constructId: 'KeyStewardFunction',
    entry: 'lambdas/key-steward/index.ts',
    role: 'steward',
    description: 'The only writer of employee keys: given an employee id, writes what the newest valid ledger event implies.',
    // Below the consent function's 29 s, so the caller sees the steward's own answer (or its
    // timeout) before API Gateway gives up on the caller.
    timeoutSeconds: 25,
    memoryMb: 512,
    // The datasets worker asks for training grants and their retirement, never for a policy.
    trigger: { kind: 'invoke', invokers: ['consent', 'datasets'] },
    // Each consent change waits for one steward invocation: as many as the consent function may
    // run, so a consent call never finds its steward throttled.
    reservedConcurrency: 25,
    environment: {
      [ENV.ledgerTable]: { table: 'ledger' },
      // Read before a training grant: only a dataset being built, unexpired, gets one.
      [ENV.datasetsTable]: { table: 'datasets' },
      ...KEY_POLICY_ROLES,
    },
  },
  ingest: {
    constructId: 'IngestFunction',
    entry: 'lambdas/ingest/index.ts',
    role: 'ingest',
    description: 'Stores capture batches as ciphertext under fresh data keys that employee key policies allow.',
    timeoutSeconds: 29,
    // Gzip and AES-GCM over batches up to 1 MiB: memory buys CPU.
    memoryMb: 1024,
    trigger: { kind: 'http' },
    environment: {
      [ENV.ledgerTable]: { table: 'ledger' },
      [ENV.batchesTable]: { table: 'batches' },
      [ENV.capturesBucket]: { bucket: 'captures' },
      [ENV.employeeIdClaim]: { setting: 'employeeIdClaim' },
    },
  },
  purge: {
    constructId: 'PurgeFunction',
    entry: 'lambdas/purge/index.ts',
    role: 'purge',
    description: 'Crypto-shreds an employee key (disable, schedule deletion) and deletes the employee\'s objects.',
    timeoutSeconds: 300,
    memoryMb: 512,
    // One employee per invocation, so the whole timeout is that purge's budget.
    trigger: { kind: 'queue', queue: 'purge', batchSize: 1 },
    // Erasures are rare; five at a time keep DisableKey and ScheduleKeyDeletion far below their
    // quotas, and a flood of ingests can never leave an erasure without a slot.
    reservedConcurrency: 5,
    environment: {
      [ENV.ledgerTable]: { table: 'ledger' },
      [ENV.capturesBucket]: { bucket: 'captures' },
      [ENV.exportsBucket]: { bucket: 'exports' },
      [ENV.keyDeletionDays]: { setting: 'keyDeletionDays' },
      [ENV.purgeQueueUrl]: { queueUrl: 'purge' },
      [ENV.purgeResweepSeconds]: RESWEEP_DELAY,
    },
  },
  export: {
    constructId: 'ExportFunction',
    entry: 'lambdas/export/index.ts',
    role: 'export',
    description: 'Decrypts one employee\'s captures through a one-off grant into a gzip\'d JSON Lines export with a manifest.',
    // Lambda's longest: an export streams every object of the employee; a retry starts over.
    timeoutSeconds: 900,
    // Memory buys CPU (decrypt and gzip); the worker streams, so its footprint stays small (bench/export).
    memoryMb: 1024,
    // One export per invocation, so the whole timeout is that export's budget.
    trigger: { kind: 'queue', queue: 'export', batchSize: 1 },
    // Exports are rare and each reads a whole employee: a few at a time keep KMS and S3 for capture.
    reservedConcurrency: 5,
    environment: {
      [ENV.ledgerTable]: { table: 'ledger' },
      [ENV.exportsTable]: { table: 'exportJobs' },
      [ENV.capturesBucket]: { bucket: 'captures' },
      [ENV.exportsBucket]: { bucket: 'exports' },
    },
  },
  'key-sync': {
    constructId: 'KeySyncFunction',
    entry: 'lambdas/key-sync/index.ts',
    // The steward role: the only principal employee key policies let write them.
    role: 'steward',
    description: 'Writes an employee key policy that KMS throttled, from the newest consent ledger event.',
    // The worker runs because KMS is throttling: ten employees in turn, each with SDK retries and
    // backoff, need more than 30 s, and a timeout would replay the whole batch into the storm.
    timeoutSeconds: 60,
    memoryMb: 512,
    // KMS allows a few PutKeyPolicy calls per second per account; a small batch and the queue's
    // retries keep a storm of changes inside that quota instead of throttling every request.
    trigger: { kind: 'queue', queue: 'keySync', batchSize: 10, maxConcurrency: 2 },
    // As many as the queue drives: deferred withdrawals are enforced here, so they get their own slots.
    reservedConcurrency: 2,
    environment: {
      [ENV.ledgerTable]: { table: 'ledger' },
      // A job KMS keeps throttling is queued again with a delay rather than dead-lettered.
      [ENV.keySyncQueueUrl]: { queueUrl: 'keySync' },
      // The hourly export sweep: revoke the grants of exports that outlived their life, mark them failed.
      [ENV.exportsTable]: { table: 'exportJobs' },
      ...KEY_POLICY_ROLES,
    },
  },
  datasets: {
    constructId: 'DatasetsFunction',
    entry: 'lambdas/datasets/index.ts',
    role: 'datasets',
    description: 'Builds a training dataset (manifest, card, per-employee training grants) and sweeps expired datasets.',
    // A build lists and heads every object of every member in the time range; a retry starts over.
    timeoutSeconds: 900,
    memoryMb: 1024,
    trigger: { kind: 'queue', queue: 'datasets', batchSize: 1 },
    // Builds are rare and each walks many employees: two at a time keep KMS's CreateGrant quota for consent.
    reservedConcurrency: 2,
    environment: {
      [ENV.ledgerTable]: { table: 'ledger' },
      [ENV.datasetsTable]: { table: 'datasets' },
      [ENV.capturesBucket]: { bucket: 'captures' },
      [ENV.exportsBucket]: { bucket: 'exports' },
      [ENV.keyStewardFunction]: { functionName: 'key-steward' },
    },
  },
  'policy-watch': {
    constructId: 'PolicyWatchFunction',
    entry: 'lambdas/policy-watch/index.ts',
    role: 'policy-watch',
    description: 'Checks each employee key policy written against the consent ledger; alarms on drift and queues a key-sync repair.',
    timeoutSeconds: 30,
    memoryMb: 256,
    trigger: { kind: 'queue', queue: 'policyWatch', batchSize: 10, maxConcurrency: 2 },
    // PutKeyPolicy runs at a few per second at most (KMS's quota); two at a time keep up.
    reservedConcurrency: 2,
    environment: {
      [ENV.ledgerTable]: { table: 'ledger' },
      [ENV.keySyncQueueUrl]: { queueUrl: 'keySync' },
      // The same roles the key steward and key-sync build policies with, so the same builder
      // gives the same policy here.
      ...KEY_POLICY_ROLES,
    },
  },
} as const satisfies Record<string, FunctionDeclaration>;

export type FunctionName = keyof typeof FUNCTIONS;
export const FUNCTION_NAMES = Object.keys(FUNCTIONS) as FunctionName[];
// Every function an environment may name is one of FUNCTIONS (checked by the compiler).
INVOKED_FUNCTIONS satisfies readonly FunctionName[];

/** The function that consumes a queue. */
export function consumerOf(queue: QueueName): FunctionName {
  const found = FUNCTION_NAMES.find((name) => {
    const trigger: FunctionTrigger = FUNCTIONS[name].trigger;
    return trigger.kind === 'queue' && trigger.queue === queue;
  });
  if (found === undefined) throw new Error(`no function consumes the ${queue} queue: give one a queue trigger in contract/functions.ts`);
  return found;
}
