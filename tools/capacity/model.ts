// The capacity and cost model behind `npm run capacity`: pure arithmetic from a workload
// (employees, batch interval, scopes, working hours) to KMS load, quota headroom, shards and a
// monthly bill. Every quota and price is a named constant with its source; docs/capacity.md
// explains the assumptions. No I/O here, so every figure can be checked by hand in a test.

/** Days in an average month (365.25 / 12), for windows given in days. */
export const DAYS_PER_MONTH = 30.4375;

// ---------------------------------------------------------------------------------------------
// Quotas (defaults per account and Region; all of these are adjustable through Service Quotas).
// ---------------------------------------------------------------------------------------------

/**
 * "Cryptographic operations (symmetric) request rate", shared by GenerateDataKey, Decrypt and the
 * other symmetric operations. AWS KMS Developer Guide, "Request quotas",
 * https://docs.aws.amazon.com/kms/latest/developerguide/requests-per-second.html (read 2026).
 */
export const KMS_SYMMETRIC_RPS_DEFAULT = 10_000;
export const KMS_SYMMETRIC_RPS_20K_REGIONS: readonly string[] = ['us-east-2', 'ap-southeast-1', 'ap-southeast-2', 'ap-northeast-1', 'eu-central-1', 'eu-west-2'];
export const KMS_SYMMETRIC_RPS_100K_REGIONS: readonly string[] = ['us-east-1', 'us-west-2', 'eu-west-1'];

/** Same page: CreateKey 5/s (CreateAlias is 5/s too, counted separately), PutKeyPolicy 15/s. */
export const KMS_CREATE_KEY_RPS = 5;
export const KMS_PUT_KEY_POLICY_RPS = 15;

/**
 * "AWS KMS keys: 100,000" per account and Region, "regardless of their key spec or key state", so
 * keys pending deletion count. AWS KMS Developer Guide, "Resource quotas",
 * https://docs.aws.amazon.com/kms/latest/developerguide/resource-limits.html (read 2026).
 */
export const KMS_KEYS_PER_REGION = 100_000;

/**
 * Account-level throttle across all HTTP, REST and WebSocket APIs: 10,000 RPS, 2,500 in the
 * Regions listed. Amazon API Gateway Developer Guide, "Amazon API Gateway quotas",
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html (read 2026).
 */
export const API_GATEWAY_RPS_DEFAULT = 10_000;
export const API_GATEWAY_RPS_2500_REGIONS: readonly string[] = [
  'af-south-1', 'eu-south-1', 'ap-southeast-3', 'me-central-1', 'ap-south-2', 'ap-southeast-4',
  'eu-south-2', 'eu-central-2', 'il-central-1', 'ca-west-1', 'ap-southeast-5', 'ap-southeast-7', 'mx-central-1',
];

/** Concurrent executions per Region: 1,000. AWS Lambda Developer Guide, "Lambda quotas", https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html (read 2026). */
export const LAMBDA_CONCURRENCY = 1_000;

/**
 * On-demand tables are bounded by the 40,000 table-level read and write request units per second
 * quota. Amazon DynamoDB Developer Guide, "DynamoDB maximum throughput for on-demand tables",
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode-max-throughput.html (read 2026).
 */
export const DYNAMODB_TABLE_WRU_PER_SECOND = 40_000;

// ---------------------------------------------------------------------------------------------
// What one batch costs in requests (read from lambdas/ingest: ingest-service.ts, batch-claims.ts).
// ---------------------------------------------------------------------------------------------

/** Claim (conditional PutItem) + complete (UpdateItem) on the batches table, both items under 1 KB. */
export const DYNAMODB_WRITES_PER_BATCH = 2;
/** The newest ledger event: a strongly consistent Query of one item under 4 KB is 1 RRU. */
export const DYNAMODB_READS_PER_BATCH = 1;

// ---------------------------------------------------------------------------------------------
// Prices: us-east-1, USD, on-demand, no free tier (it is small at this scale and varies by account).
// ---------------------------------------------------------------------------------------------

/**
 * $1 per key-month; automatic rotation adds $1/month for each of the first two rotations and is
 * capped there. AWS KMS pricing, https://aws.amazon.com/kms/pricing/ (read 2026: "each newly
 * generated backing key costs an additional $1/month"; the cap at the second rotation is quoted
 * from that page by third parties, the stored copy we read did not show the sentence). Keys
 * scheduled for deletion are not charged (same page).
 */
export const PRICE_KMS_KEY_MONTH = 1;
export const PRICE_KMS_ROTATED_BACKING_KEY_MONTH = 1;
export const KMS_BILLED_ROTATIONS_CAP = 2;
/** $0.03 per 10,000 symmetric requests. AWS KMS pricing (figure seen on third-party copies of the page, 2026). */
export const PRICE_KMS_PER_10K_REQUESTS = 0.03;

/** Arm: $0.20 per million requests, $0.0000133334 per GB-second (first tier). AWS Lambda pricing, https://aws.amazon.com/lambda/pricing/ (figures seen on third-party copies, 2026). */
export const PRICE_LAMBDA_PER_MILLION_REQUESTS = 0.2;
export const PRICE_LAMBDA_ARM_PER_GB_SECOND = 0.0000133334;

/** HTTP APIs: $1.00 per million for the first 300 million a month ($0.90 after; we keep $1.00, an upper bound). Amazon API Gateway pricing, https://aws.amazon.com/api-gateway/pricing/. */
export const PRICE_API_GATEWAY_HTTP_PER_MILLION = 1;

/** S3 Standard: PUT $0.005 per 1,000; storage $0.023 per GB-month (first 50 TB). Amazon S3 pricing, https://aws.amazon.com/s3/pricing/. */
export const PRICE_S3_PUT_PER_1000 = 0.005;
export const PRICE_S3_STANDARD_GB_MONTH = 0.023;

/** On-demand, after the November 2024 reduction: $0.625 per million WRU, $0.125 per million RRU. Amazon DynamoDB pricing, https://aws.amazon.com/dynamodb/pricing/on-demand/. */
export const PRICE_DYNAMODB_PER_MILLION_WRU = 0.625;
export const PRICE_DYNAMODB_PER_MILLION_RRU = 0.125;

// ---------------------------------------------------------------------------------------------
// The model.
// ---------------------------------------------------------------------------------------------

export interface Workload {
  /** Employees with a consent record (each has one KMS key). */
  readonly employees: number;
  /** An agent sends one batch every this many seconds while its employee works. */
  readonly batchSeconds: number;
  /** Consented scopes per employee (1-3): each batch becomes one object and one GenerateDataKey per scope. */
  readonly scopesPerEmployee: number;
  readonly activeHoursPerDay: number;
  readonly workingDaysPerMonth: number;
  /** Peak rate over the working-hours average (everyone starting at nine, say). */
  readonly peakFactor: number;
  readonly region: string;
  /** Fraction of employees who leave (and are erased) each month; their keys wait out the deletion window. */
  readonly monthlyAttrition: number;
  /** ScheduleKeyDeletion waiting period, 7-30 days (the stack's `keyDeletionDays`). */
  readonly keyDeletionDays: number;
  /** Age of the keys: a key rotated once costs $2, twice or more $3. */
  readonly keyAgeYears: number;
  /** Captures expire after this many days (the stack's `retentionDays`). */
  readonly retentionDays: number;
  /** Size of one stored object (one scope of one batch, gzip'd and encrypted), in KiB. */
  readonly objectKiB: number;
  readonly ingestMemoryMb: number;
  readonly ingestDurationMs: number;
  /** Plan shards to use at most this fraction of any quota. */
  readonly targetUtilisation: number;
}

export const DEFAULT_WORKLOAD: Omit<Workload, 'employees'> = {
  batchSeconds: 60,
  scopesPerEmployee: 3,
  activeHoursPerDay: 8,
  workingDaysPerMonth: 21,
  peakFactor: 2,
  region: 'us-east-1',
  monthlyAttrition: 0.015,
  keyDeletionDays: 7,
  keyAgeYears: 2,
  retentionDays: 365,
  objectKiB: 2,
  ingestMemoryMb: 1024,
  ingestDurationMs: 50,
  targetUtilisation: 0.8,
};

export const STANDARD_SIZES: readonly number[] = [1_000, 10_000, 100_000, 1_000_000];

export type QuotaName = 'kms-keys' | 'kms-symmetric-requests' | 'api-gateway-rps' | 'lambda-concurrency' | 'dynamodb-table-writes';

export interface CostBreakdown {
  readonly kmsKeys: number;
  readonly kmsRequests: number;
  readonly lambda: number;
  readonly apiGateway: number;
  readonly s3Requests: number;
  readonly s3Storage: number;
  readonly dynamodb: number;
  readonly total: number;
  readonly perEmployee: number;
}

export interface CapacityRow {
  readonly employees: number;
  readonly batchesPerMonth: number;
  readonly kms: {
    /** GenerateDataKey per second averaged over working hours. */
    readonly steadyRps: number;
    readonly peakRps: number;
    readonly quotaRps: number;
    /** Peak over the quota of one account and Region. */
    readonly peakShareOfQuota: number;
    readonly requestsPerMonth: number;
  };
  readonly keys: {
    readonly active: number;
    readonly pendingDeletion: number;
    readonly total: number;
    readonly quota: number;
    readonly shareOfQuota: number;
  };
  readonly shards: { readonly needed: number; readonly limitedBy: QuotaName };
  /** CreateKey for every employee at 5/s, each shard in parallel. */
  readonly onboardingHours: number;
  /** PutKeyPolicy for every key at 15/s, each shard in parallel (after a role change, say). */
  readonly policyRewriteHours: number;
  readonly monthlyCost: CostBreakdown;
}

export interface QuotaLimit {
  readonly quota: QuotaName;
  /** What the workload asks of this quota per employee (keys, or requests per second at peak). */
  readonly demandPerEmployee: number;
  readonly limit: number;
  /** The most employees one account and Region holds before this quota is full (at 100%). */
  readonly maxEmployees: number;
}

export class WorkloadError extends Error {
  override readonly name = 'WorkloadError';
}

/**
 * Whole-number rounding that ignores binary noise: 0.6 x 100,000 / 10,000 is 6.000000000000001 in
 * floating point, and a plain Math.ceil would plan a seventh shard for it.
 */
const EPSILON = 1e-9;
const ceilExact = (x: number): number => Math.ceil(x - EPSILON);
const floorExact = (x: number): number => Math.floor(x + EPSILON);

function check(condition: boolean, message: string): void {
  if (!condition) throw new WorkloadError(message);
}

/** Rejects a workload the arithmetic would turn into nonsense (zero employees, a negative rate). */
export function validateWorkload(w: Workload): void {
  check(Number.isInteger(w.employees) && w.employees >= 1, `employees must be a whole number of at least 1, got ${w.employees}`);
  check(Number.isFinite(w.batchSeconds) && w.batchSeconds > 0, `batchSeconds must be more than 0, got ${w.batchSeconds}`);
  check(Number.isInteger(w.scopesPerEmployee) && w.scopesPerEmployee >= 1 && w.scopesPerEmployee <= 3, `scopesPerEmployee must be 1, 2 or 3, got ${w.scopesPerEmployee}`);
  check(w.activeHoursPerDay > 0 && w.activeHoursPerDay <= 24, `activeHoursPerDay must be more than 0 and at most 24, got ${w.activeHoursPerDay}`);
  check(w.workingDaysPerMonth > 0 && w.workingDaysPerMonth <= 31, `workingDaysPerMonth must be more than 0 and at most 31, got ${w.workingDaysPerMonth}`);
  check(w.peakFactor >= 1 && Number.isFinite(w.peakFactor), `peakFactor must be at least 1, got ${w.peakFactor}`);
  check(/^[a-z]{2}(-gov)?-[a-z]+-\d$/.test(w.region), `region must look like us-east-1, got ${JSON.stringify(w.region)}`);
  check(w.monthlyAttrition >= 0 && w.monthlyAttrition <= 1, `monthlyAttrition must be a fraction from 0 to 1, got ${w.monthlyAttrition}`);
  check(Number.isInteger(w.keyDeletionDays) && w.keyDeletionDays >= 7 && w.keyDeletionDays <= 30, `keyDeletionDays must be a whole number from 7 to 30, got ${w.keyDeletionDays}`);
  check(w.keyAgeYears >= 0 && Number.isFinite(w.keyAgeYears), `keyAgeYears must be 0 or more, got ${w.keyAgeYears}`);
  check(Number.isInteger(w.retentionDays) && w.retentionDays >= 1, `retentionDays must be a whole number of at least 1, got ${w.retentionDays}`);
  check(w.objectKiB > 0 && Number.isFinite(w.objectKiB), `objectKiB must be more than 0, got ${w.objectKiB}`);
  check(Number.isInteger(w.ingestMemoryMb) && w.ingestMemoryMb >= 128 && w.ingestMemoryMb <= 10_240, `ingestMemoryMb must be a whole number from 128 to 10240, got ${w.ingestMemoryMb}`);
  check(w.ingestDurationMs > 0 && Number.isFinite(w.ingestDurationMs), `ingestDurationMs must be more than 0, got ${w.ingestDurationMs}`);
  check(w.targetUtilisation > 0 && w.targetUtilisation <= 1, `targetUtilisation must be more than 0 and at most 1, got ${w.targetUtilisation}`);
}

export function kmsSymmetricQuota(region: string): number {
  if (KMS_SYMMETRIC_RPS_100K_REGIONS.includes(region)) return 100_000;
  if (KMS_SYMMETRIC_RPS_20K_REGIONS.includes(region)) return 20_000;
  return KMS_SYMMETRIC_RPS_DEFAULT;
}

export function apiGatewayQuota(region: string): number {
  return API_GATEWAY_RPS_2500_REGIONS.includes(region) ? 2_500 : API_GATEWAY_RPS_DEFAULT;
}

/** Batches one employee sends in a month. */
export function batchesPerEmployeeMonth(w: Omit<Workload, 'employees'>): number {
  return ((w.activeHoursPerDay * 3600) / w.batchSeconds) * w.workingDaysPerMonth;
}

/** Monthly price of one key of this age: $1, plus $1 per rotation so far, at most two. */
export function keyMonthlyPrice(keyAgeYears: number): number {
  return PRICE_KMS_KEY_MONTH + PRICE_KMS_ROTATED_BACKING_KEY_MONTH * Math.min(KMS_BILLED_ROTATIONS_CAP, Math.floor(keyAgeYears));
}

/** Keys waiting out their deletion window, per active employee, at a steady attrition. */
export function pendingDeletionPerEmployee(w: Pick<Workload, 'monthlyAttrition' | 'keyDeletionDays'>): number {
  return w.monthlyAttrition * (w.keyDeletionDays / DAYS_PER_MONTH);
}

/** Peak batches per second for one employee (working-hours average times the peak factor). */
function peakBatchesPerSecondPerEmployee(w: Omit<Workload, 'employees'>): number {
  return (1 / w.batchSeconds) * w.peakFactor;
}

/** For each quota, how many employees fill one account and Region, smallest first. */
export function singleShardLimits(w: Omit<Workload, 'employees'>): QuotaLimit[] {
  const peakBatches = peakBatchesPerSecondPerEmployee(w);
  const demands: { quota: QuotaName; demandPerEmployee: number; limit: number }[] = [
    { quota: 'kms-keys', demandPerEmployee: 1 + pendingDeletionPerEmployee(w), limit: KMS_KEYS_PER_REGION },
    { quota: 'kms-symmetric-requests', demandPerEmployee: peakBatches * w.scopesPerEmployee, limit: kmsSymmetricQuota(w.region) },
    { quota: 'api-gateway-rps', demandPerEmployee: peakBatches, limit: apiGatewayQuota(w.region) },
    { quota: 'lambda-concurrency', demandPerEmployee: peakBatches * (w.ingestDurationMs / 1000), limit: LAMBDA_CONCURRENCY },
    { quota: 'dynamodb-table-writes', demandPerEmployee: peakBatches * DYNAMODB_WRITES_PER_BATCH, limit: DYNAMODB_TABLE_WRU_PER_SECOND },
  ];
  return demands
    .map((d) => ({ ...d, maxEmployees: floorExact(d.limit / d.demandPerEmployee) }))
    .sort((a, b) => a.maxEmployees - b.maxEmployees);
}

export function monthlyCost(w: Workload): CostBreakdown {
  const batches = w.employees * batchesPerEmployeeMonth(w);
  const objects = batches * w.scopesPerEmployee;
  const kmsKeys = w.employees * keyMonthlyPrice(w.keyAgeYears);
  const kmsRequests = (objects / 10_000) * PRICE_KMS_PER_10K_REQUESTS;
  const gbSeconds = batches * (w.ingestMemoryMb / 1024) * (w.ingestDurationMs / 1000);
  const lambda = (batches / 1e6) * PRICE_LAMBDA_PER_MILLION_REQUESTS + gbSeconds * PRICE_LAMBDA_ARM_PER_GB_SECOND;
  const apiGateway = (batches / 1e6) * PRICE_API_GATEWAY_HTTP_PER_MILLION;
  const s3Requests = (objects / 1000) * PRICE_S3_PUT_PER_1000;
  // At steady state the bucket holds `retentionDays` worth of captures.
  const storedGB = ((objects * w.objectKiB) / (1024 * 1024)) * (w.retentionDays / DAYS_PER_MONTH);
  const s3Storage = storedGB * PRICE_S3_STANDARD_GB_MONTH;
  const dynamodb = (batches / 1e6) * (DYNAMODB_WRITES_PER_BATCH * PRICE_DYNAMODB_PER_MILLION_WRU + DYNAMODB_READS_PER_BATCH * PRICE_DYNAMODB_PER_MILLION_RRU);
  const total = kmsKeys + kmsRequests + lambda + apiGateway + s3Requests + s3Storage + dynamodb;
  return { kmsKeys, kmsRequests, lambda, apiGateway, s3Requests, s3Storage, dynamodb, total, perEmployee: total / w.employees };
}

/** Shards (accounts, each in the same Region) so that no quota is used above the target utilisation. */
export function shardsNeeded(w: Workload): { needed: number; limitedBy: QuotaName } {
  let best: { needed: number; limitedBy: QuotaName } | undefined;
  for (const limit of singleShardLimits(w)) {
    const needed = ceilExact((w.employees * limit.demandPerEmployee) / (limit.limit * w.targetUtilisation));
    if (best === undefined || needed > best.needed) best = { needed, limitedBy: limit.quota };
  }
  // singleShardLimits always returns five entries.
  return best ?? { needed: 1, limitedBy: 'kms-keys' };
}

export function capacityRow(w: Workload): CapacityRow {
  validateWorkload(w);
  const batchesPerMonth = w.employees * batchesPerEmployeeMonth(w);
  const steadyRps = (w.employees * w.scopesPerEmployee) / w.batchSeconds;
  const peakRps = steadyRps * w.peakFactor;
  const quotaRps = kmsSymmetricQuota(w.region);
  const pendingDeletion = w.employees * pendingDeletionPerEmployee(w);
  const totalKeys = w.employees + pendingDeletion;
  const shards = shardsNeeded(w);
  const employeesPerShard = Math.ceil(w.employees / shards.needed);
  return {
    employees: w.employees,
    batchesPerMonth,
    kms: { steadyRps, peakRps, quotaRps, peakShareOfQuota: peakRps / quotaRps, requestsPerMonth: batchesPerMonth * w.scopesPerEmployee },
    keys: { active: w.employees, pendingDeletion, total: totalKeys, quota: KMS_KEYS_PER_REGION, shareOfQuota: totalKeys / KMS_KEYS_PER_REGION },
    shards,
    onboardingHours: employeesPerShard / KMS_CREATE_KEY_RPS / 3600,
    policyRewriteHours: employeesPerShard / KMS_PUT_KEY_POLICY_RPS / 3600,
    monthlyCost: monthlyCost(w),
  };
}

/** The standard sizes, plus `employees` when it is not one of them, in ascending order. */
export function sizesFor(employees: number | undefined): number[] {
  const sizes = new Set(STANDARD_SIZES);
  if (employees !== undefined) sizes.add(employees);
  return [...sizes].sort((a, b) => a - b);
}
