// The application's Lambda functions: handler entry, role, limits, trigger and environment. The
// environment is declared as logical references that each side resolves to its own resources:
// the CDK app to tokens of its constructs, the local stack to its local names and URLs.
import { METRICS_NAMESPACE, SERVICE_NAME } from './app.js';
import { ENV, type EnvName } from './environment.js';
import type { QueueName } from './queues.js';
import type { BucketName, TableName } from './resources.js';
import type { RoleName } from './roles.js';
import type { SettingName } from './settings.js';

/** A value an environment variable takes, by what it refers to. */
export type EnvRef =
  | { readonly table: TableName }
  | { readonly bucket: BucketName }
  | { readonly queueUrl: QueueName }
  | { readonly roleArn: RoleName }
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
}

/** Variables every function gets, besides its own `environment`. */
export const COMMON_ENVIRONMENT = {
  POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
  POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
} as const;

/** The roles employee key policies name: both functions that write key policies need them. */
const KEY_POLICY_ROLES = {
  [ENV.ingestRoleArn]: { roleArn: 'ingest' },
  [ENV.consentRoleArn]: { roleArn: 'consent' },
  [ENV.exportRoleArn]: { roleArn: 'export' },
  [ENV.purgeRoleArn]: { roleArn: 'purge' },
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
    description: 'Consent, pause, resume, revoke, history and offboarding; steward of employee key policies.',
    // API Gateway waits 30 s for an integration. First consent makes several KMS calls (CreateKey,
    // PutKeyPolicy, CreateAlias, EnableKeyRotation), each with SDK retries; a Lambda timeout
    // before the client gives up would cut a change between its ledger append and its key policy.
    timeoutSeconds: 29,
    memoryMb: 512,
    trigger: { kind: 'http' },
    environment: {
      [ENV.ledgerTable]: { table: 'ledger' },
      [ENV.purgeQueueUrl]: { queueUrl: 'purge' },
      [ENV.keySyncQueueUrl]: { queueUrl: 'keySync' },
      [ENV.purgeResweepSeconds]: RESWEEP_DELAY,
      ...KEY_POLICY_ROLES,
      [ENV.employeeIdClaim]: { setting: 'employeeIdClaim' },
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
    environment: {
      [ENV.ledgerTable]: { table: 'ledger' },
      [ENV.capturesBucket]: { bucket: 'captures' },
      [ENV.exportsBucket]: { bucket: 'exports' },
      [ENV.keyDeletionDays]: { setting: 'keyDeletionDays' },
      [ENV.purgeQueueUrl]: { queueUrl: 'purge' },
      [ENV.purgeResweepSeconds]: RESWEEP_DELAY,
    },
  },
  'key-sync': {
    constructId: 'KeySyncFunction',
    entry: 'lambdas/key-sync/index.ts',
    // The consent role: the only principal employee key policies let write them.
    role: 'consent',
    description: 'Writes an employee key policy that KMS throttled, from the newest consent ledger event.',
    // The worker runs because KMS is throttling: ten employees in turn, each with SDK retries and
    // backoff, need more than 30 s, and a timeout would replay the whole batch into the storm.
    timeoutSeconds: 60,
    memoryMb: 512,
    // KMS allows a few PutKeyPolicy calls per second per account; a small batch and the queue's
    // retries keep a storm of changes inside that quota instead of throttling every request.
    trigger: { kind: 'queue', queue: 'keySync', batchSize: 10, maxConcurrency: 2 },
    environment: {
      [ENV.ledgerTable]: { table: 'ledger' },
      ...KEY_POLICY_ROLES,
    },
  },
} as const satisfies Record<string, FunctionDeclaration>;

export type FunctionName = keyof typeof FUNCTIONS;
export const FUNCTION_NAMES = Object.keys(FUNCTIONS) as FunctionName[];

/** The function that consumes a queue. */
export function consumerOf(queue: QueueName): FunctionName {
  const found = FUNCTION_NAMES.find((name) => {
    const trigger: FunctionTrigger = FUNCTIONS[name].trigger;
    return trigger.kind === 'queue' && trigger.queue === queue;
  });
  if (found === undefined) throw new Error(`no function consumes the ${queue} queue: give one a queue trigger in contract/functions.ts`);
  return found;
}
