// The capacity model's arithmetic against figures worked out by hand (in the comments), one case
// per output column, the quota limits and shard counts, the edges (no employees, bad flags), and
// the stable hash that places employees on shards.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  apiGatewayQuota,
  capacityRow,
  keyMonthlyPrice,
  kmsSymmetricQuota,
  singleShardLimits,
  sizesFor,
  WorkloadError,
  type Workload,
} from '../../tools/capacity/model.js';
import { bucketOf, shardOf } from '../../tools/capacity/sharding.js';

/**
 * Chosen so the hand arithmetic stays short:
 * - batches per employee per month = 10 h x 3600 s / 60 s x 20 days = 600 x 20 = 12,000;
 *   for 1,000 employees 12,000,000 batches and, at 2 scopes, 24,000,000 objects (GenerateDataKey);
 * - peak batches per employee per second = 1/60 x 3 = 0.05.
 */
const HAND: Workload = {
  employees: 1_000,
  batchSeconds: 60,
  scopesPerEmployee: 2,
  activeHoursPerDay: 10,
  workingDaysPerMonth: 20,
  peakFactor: 3,
  region: 'eu-west-2',
  monthlyAttrition: 0.1,
  keyDeletionDays: 7,
  keyAgeYears: 1.5,
  retentionDays: 30,
  objectKiB: 4,
  ingestMemoryMb: 512,
  ingestDurationMs: 100,
  targetUtilisation: 0.5,
};

describe('capacity model: one row by hand', () => {
  const row = capacityRow(HAND);

  it('counts batches and KMS requests per month', () => {
    // 1,000 x 12,000 = 12,000,000 batches; x 2 scopes = 24,000,000 GenerateDataKey.
    expect(row.batchesPerMonth).toBe(12_000_000);
    expect(row.kms.requestsPerMonth).toBe(24_000_000);
  });

  it('gives KMS requests per second, average and peak, against the Region quota', () => {
    // 1,000 x 2 / 60 = 33.33/s; x 3 = 100/s; eu-west-2 is a 20,000/s Region: 100 / 20,000 = 0.5%.
    expect(row.kms.steadyRps).toBeCloseTo(33.3333, 3);
    expect(row.kms.peakRps).toBeCloseTo(100, 9);
    expect(row.kms.quotaRps).toBe(20_000);
    expect(row.kms.peakShareOfQuota).toBeCloseTo(0.005, 9);
  });

  it('counts keys pending deletion against the key quota', () => {
    // 1,000 x 0.1 leave a month, each key pending 7 / 30.4375 months: 700 / 30.4375 = 22.9979.
    // 1,022.9979 keys of 100,000 = 1.0230%.
    expect(row.keys.pendingDeletion).toBeCloseTo(22.9979, 3);
    expect(row.keys.total).toBeCloseTo(1_022.9979, 3);
    expect(row.keys.shareOfQuota).toBeCloseTo(0.010229979, 8);
  });

  it('times onboarding at CreateKey 5/s and a policy rewrite at PutKeyPolicy 15/s', () => {
    // One shard: 1,000 / 5 = 200 s = 0.055556 h; 1,000 / 15 = 66.67 s = 0.018519 h.
    expect(row.shards).toEqual({ needed: 1, limitedBy: 'kms-keys' });
    expect(row.onboardingHours).toBeCloseTo(0.055556, 5);
    expect(row.policyRewriteHours).toBeCloseTo(0.018519, 5);
  });

  it('prices KMS keys by their age: $2 a key once rotated', () => {
    // 1.5 years: one rotation, $1 + $1 = $2; 1,000 keys = $2,000.
    expect(row.monthlyCost.kmsKeys).toBeCloseTo(2_000, 9);
  });

  it('prices KMS requests at $0.03 per 10,000', () => {
    // 24,000,000 / 10,000 = 2,400 x $0.03 = $72.
    expect(row.monthlyCost.kmsRequests).toBeCloseTo(72, 9);
  });

  it('prices Lambda requests and GB-seconds', () => {
    // 12,000,000 x $0.20 / 1e6 = $2.40; 12,000,000 x 0.5 GB x 0.1 s = 600,000 GB-s x $0.0000133334 = $8.00004.
    expect(row.monthlyCost.lambda).toBeCloseTo(10.40004, 6);
  });

  it('prices API Gateway HTTP API requests', () => {
    // 12,000,000 x $1.00 / 1e6 = $12.
    expect(row.monthlyCost.apiGateway).toBeCloseTo(12, 9);
  });

  it('prices S3 PUTs, one per scope per batch', () => {
    // 24,000,000 / 1,000 = 24,000 x $0.005 = $120.
    expect(row.monthlyCost.s3Requests).toBeCloseTo(120, 9);
  });

  it('prices S3 storage for the retention period at steady state', () => {
    // 24,000,000 x 4 KiB = 96,000,000 KiB / 1,048,576 = 91.552734 GB a month;
    // kept 30 / 30.4375 months: 90.236776 GB x $0.023 = $2.075446.
    expect(row.monthlyCost.s3Storage).toBeCloseTo(2.075446, 5);
  });

  it('prices DynamoDB on demand: two writes and one read per batch', () => {
    // 12 million batches x (2 x $0.625 + 1 x $0.125) = 12 x $1.375 = $16.50.
    expect(row.monthlyCost.dynamodb).toBeCloseTo(16.5, 9);
  });

  it('sums the total and divides it per employee', () => {
    // 2,000 + 72 + 10.40004 + 12 + 120 + 2.075446 + 16.5 = $2,232.975486; / 1,000 = $2.232975.
    expect(row.monthlyCost.total).toBeCloseTo(2_232.975486, 4);
    expect(row.monthlyCost.perEmployee).toBeCloseTo(2.232975, 5);
  });
});

describe('capacity model: quotas and shards', () => {
  it('finds the quota one account and Region runs out of first', () => {
    // Keys: 100,000 / (1 + 0.1 x 7 / 30.4375) = 100,000 / 1.0229979 = 97,751.9 -> 97,751 employees.
    // Requests at 0.05 batches/s per employee: KMS 20,000 / 0.1 = 200,000; API Gateway 10,000 / 0.05 = 200,000;
    // Lambda 1,000 / (0.05 x 0.1 s) = 200,000; DynamoDB writes 40,000 / 0.1 = 400,000.
    const limits = singleShardLimits(HAND);
    expect(limits[0]).toMatchObject({ quota: 'kms-keys', maxEmployees: 97_751 });
    expect(Object.fromEntries(limits.map((l) => [l.quota, l.maxEmployees]))).toEqual({
      'kms-keys': 97_751,
      'kms-symmetric-requests': 200_000,
      'api-gateway-rps': 200_000,
      'lambda-concurrency': 200_000,
      'dynamodb-table-writes': 400_000,
    });
  });

  it('shards past one account by the tightest quota at the target utilisation, and onboards shards in parallel', () => {
    // 1,000,000 employees, 50% target: keys 1,022,997.9 / 50,000 = 20.46 -> 21; KMS 100,000 / 10,000 = 10.
    // Onboarding per shard: ceil(1,000,000 / 21) = 47,620 / 5 / 3600 = 2.645556 h.
    const row = capacityRow({ ...HAND, employees: 1_000_000 });
    expect(row.shards).toEqual({ needed: 21, limitedBy: 'kms-keys' });
    expect(row.onboardingHours).toBeCloseTo(2.645556, 5);
  });

  it('shards by the KMS request quota in a 10,000/s Region when batches are frequent', () => {
    // ca-central-1 (10,000/s), a batch every 10 s at peak x2 and 3 scopes: 0.6 GenerateDataKey/s per employee.
    // 100,000 employees: KMS 60,000 / 10,000 = 6 shards; API Gateway 20,000 / 10,000 = 2; keys 100,000 / 100,000 = 1.
    const row = capacityRow({ ...HAND, employees: 100_000, region: 'ca-central-1', batchSeconds: 10, peakFactor: 2, scopesPerEmployee: 3, monthlyAttrition: 0, targetUtilisation: 1 });
    expect(row.shards).toEqual({ needed: 6, limitedBy: 'kms-symmetric-requests' });
    expect(row.kms.peakShareOfQuota).toBeCloseTo(6, 9);
  });

  it('knows the documented Region quotas', () => {
    expect([kmsSymmetricQuota('us-east-1'), kmsSymmetricQuota('us-west-2'), kmsSymmetricQuota('eu-west-1')]).toEqual([100_000, 100_000, 100_000]);
    expect(['us-east-2', 'ap-southeast-1', 'ap-southeast-2', 'ap-northeast-1', 'eu-central-1', 'eu-west-2'].map(kmsSymmetricQuota)).toEqual(Array(6).fill(20_000));
    expect(kmsSymmetricQuota('ca-central-1')).toBe(10_000);
    expect([apiGatewayQuota('us-east-1'), apiGatewayQuota('eu-south-1')]).toEqual([10_000, 2_500]);
  });

  it('bills the first two rotations and no more', () => {
    expect([0, 0.99, 1, 1.99, 2, 7].map(keyMonthlyPrice)).toEqual([1, 1, 2, 2, 3, 3]);
  });
});

describe('capacity model: edges', () => {
  it('refuses no employees rather than dividing by zero', () => {
    expect(() => capacityRow({ ...HAND, employees: 0 })).toThrow(WorkloadError);
    expect(() => capacityRow({ ...HAND, employees: 0 })).toThrow(/employees must be a whole number of at least 1, got 0/);
  });

  it('refuses values outside their range', () => {
    expect(() => capacityRow({ ...HAND, employees: 1.5 })).toThrow(WorkloadError);
    expect(() => capacityRow({ ...HAND, keyDeletionDays: 6 })).toThrow(/keyDeletionDays/);
    expect(() => capacityRow({ ...HAND, scopesPerEmployee: 4 })).toThrow(/scopesPerEmployee/);
    expect(() => capacityRow({ ...HAND, batchSeconds: 0 })).toThrow(/batchSeconds/);
    expect(() => capacityRow({ ...HAND, region: 'moon' })).toThrow(/region/);
  });

  it('adds the asked size to the four standard ones once', () => {
    expect(sizesFor(2_500)).toEqual([1_000, 2_500, 10_000, 100_000, 1_000_000]);
    expect(sizesFor(10_000)).toEqual([1_000, 10_000, 100_000, 1_000_000]);
    expect(sizesFor(undefined)).toEqual([1_000, 10_000, 100_000, 1_000_000]);
  });

  it('answers a bad flag with usage and exit 2, without a stack trace', () => {
    const cli = fileURLToPath(new URL('../../tools/capacity/index.ts', import.meta.url));
    const run = spawnSync(process.execPath, ['--import', 'tsx', cli, '--employees', '1000', '--scopes', 'four'], { encoding: 'utf8', timeout: 20_000 });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('capacity: --scopes "four" is not a number');
    expect(run.stderr).toContain('usage: npm run capacity');
    expect(run.stderr).not.toMatch(/\n\s+at /);
    expect(run.stdout).toBe('');
  });
});

describe('sharding: a stable hash of the employee id', () => {
  it('takes the first four bytes of SHA-256 as the bucket', () => {
    // sha256("e-42") starts 84a849e8; 0x84a849e8 mod 4096 = 0x9e8 = 2536; 2536 mod 3 = 1.
    expect(bucketOf('e-42')).toBe(2536);
    expect(shardOf('e-42', 3)).toBe(1);
  });

  it('spreads ids evenly over the shards', () => {
    const counts = Array<number>(8).fill(0);
    for (let i = 0; i < 8_000; i += 1) {
      const shard = shardOf(`e-${i}`, 8);
      counts[shard] = (counts[shard] ?? 0) + 1;
    }
    // 1,000 expected per shard; the binomial standard deviation is about 30.
    for (const n of counts) expect(Math.abs(n - 1_000)).toBeLessThan(150);
  });

  it('refuses a shard count below one', () => {
    expect(() => shardOf('e-42', 0)).toThrow(RangeError);
  });
});
