// `npm run capacity -- [--employees N] [--batch-seconds S] [flags] [--json]`
// Prints the capacity and cost plan (tools/capacity/model.ts) for 1k, 10k, 100k and 1M employees,
// and for N when it is not one of those. A bad flag prints usage and exits 2.
import { parseArgs } from 'node:util';
import { capacityRow, DEFAULT_WORKLOAD, singleShardLimits, sizesFor, WorkloadError, type CapacityRow, type Workload } from './model.js';

const USAGE = `usage: npm run capacity -- [--employees N] [--batch-seconds S] [--json]
  [--scopes 1-3] [--active-hours H] [--working-days D] [--peak-factor F] [--region R]
  [--attrition FRACTION_PER_MONTH] [--deletion-days 7-30] [--key-age-years Y]
  [--retention-days D] [--object-kib K] [--memory-mb M] [--duration-ms MS] [--target-utilisation U]`;

/** Flag name to workload field, with the flag's default (from DEFAULT_WORKLOAD). */
const NUMERIC_FLAGS = {
  'batch-seconds': 'batchSeconds',
  scopes: 'scopesPerEmployee',
  'active-hours': 'activeHoursPerDay',
  'working-days': 'workingDaysPerMonth',
  'peak-factor': 'peakFactor',
  attrition: 'monthlyAttrition',
  'deletion-days': 'keyDeletionDays',
  'key-age-years': 'keyAgeYears',
  'retention-days': 'retentionDays',
  'object-kib': 'objectKiB',
  'memory-mb': 'ingestMemoryMb',
  'duration-ms': 'ingestDurationMs',
  'target-utilisation': 'targetUtilisation',
} as const satisfies Record<string, keyof Omit<Workload, 'employees' | 'region'>>;

function usageError(message: string): never {
  process.stderr.write(`capacity: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function parseNumber(flag: string, raw: string): number {
  // Number('') is 0 and Number('1e3') is 1000: accept plain decimals only, so a typo is not a figure.
  if (!/^\d+(\.\d+)?$/.test(raw)) usageError(`--${flag} ${JSON.stringify(raw.slice(0, 40))} is not a number`);
  return Number(raw);
}

function parse(argv: string[]): { employees: number | undefined; base: Omit<Workload, 'employees'>; json: boolean } {
  let values: Record<string, string | boolean | undefined>;
  try {
    const options: Record<string, { type: 'string' | 'boolean' }> = { employees: { type: 'string' }, region: { type: 'string' }, json: { type: 'boolean' } };
    for (const flag of Object.keys(NUMERIC_FLAGS)) options[flag] = { type: 'string' };
    ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }));
  } catch (error) {
    usageError(error instanceof Error ? error.message : 'bad arguments');
  }
  const base: Record<string, number | string> = { ...DEFAULT_WORKLOAD };
  for (const [flag, field] of Object.entries(NUMERIC_FLAGS)) {
    const raw = values[flag];
    if (typeof raw === 'string') base[field] = parseNumber(flag, raw);
  }
  if (typeof values['region'] === 'string') base['region'] = values['region'];
  const rawEmployees = values['employees'];
  const employees = typeof rawEmployees === 'string' ? parseNumber('employees', rawEmployees) : undefined;
  const workload = base as unknown as Omit<Workload, 'employees'>;
  // Validate flags once up front, with a valid employee count, so a bad flag is a usage error.
  try {
    capacityRow({ ...workload, employees: employees ?? 1 });
  } catch (error) {
    if (error instanceof WorkloadError) usageError(error.message);
    throw error;
  }
  return { employees, base: workload, json: values['json'] === true };
}

const count = (n: number): string => Math.round(n).toLocaleString('en-US');
const usd = (n: number): string => (n >= 100 ? `$${count(n)}` : `$${n.toFixed(2)}`);
const percent = (n: number): string => `${(n * 100).toFixed(n < 0.1 ? 2 : 1)}%`;
const hours = (n: number): string => (n < 1 ? `${(n * 60).toFixed(1)} min` : `${n.toFixed(1)} h`);

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padStart(widths[i] ?? 0)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

function render(rows: CapacityRow[], base: Omit<Workload, 'employees'>): string {
  const capacity = table(
    ['employees', 'KMS req/s avg', 'KMS req/s peak', 'of KMS quota', 'keys incl. pending', 'of key quota', 'shards (limit)', 'onboard', 'rewrite policies'],
    rows.map((r) => [
      count(r.employees),
      count(r.kms.steadyRps),
      count(r.kms.peakRps),
      percent(r.kms.peakShareOfQuota),
      count(r.keys.total),
      percent(r.keys.shareOfQuota),
      `${r.shards.needed} (${r.shards.limitedBy})`,
      hours(r.onboardingHours),
      hours(r.policyRewriteHours),
    ]),
  );
  const cost = table(
    ['employees', 'KMS keys', 'KMS requests', 'Lambda', 'API Gateway', 'S3 PUT', 'S3 storage', 'DynamoDB', 'total / month', 'per employee'],
    rows.map((r) => {
      const c = r.monthlyCost;
      return [count(r.employees), usd(c.kmsKeys), usd(c.kmsRequests), usd(c.lambda), usd(c.apiGateway), usd(c.s3Requests), usd(c.s3Storage), usd(c.dynamodb), usd(c.total), usd(c.perEmployee)];
    }),
  );
  const limits = singleShardLimits(base)
    .map((l) => `  ${l.quota.padEnd(24)} full at ${count(l.maxEmployees).padStart(11)} employees (quota ${count(l.limit)})`)
    .join('\n');
  return [
    `Workload: a batch every ${base.batchSeconds} s, ${base.scopesPerEmployee} scopes, ${base.activeHoursPerDay} h/day, ${base.workingDaysPerMonth} days/month, peak x${base.peakFactor}, ${base.region}`,
    `          attrition ${percent(base.monthlyAttrition)}/month, deletion window ${base.keyDeletionDays} d, keys ${base.keyAgeYears} years old, retention ${base.retentionDays} d, ${base.objectKiB} KiB/object, ingest ${base.ingestMemoryMb} MB x ${base.ingestDurationMs} ms`,
    '',
    `Capacity (shards sized to ${percent(base.targetUtilisation)} of every quota; onboarding at CreateKey 5/s and policy rewrite at PutKeyPolicy 15/s run per shard in parallel)`,
    capacity,
    '',
    'Monthly cost, USD, us-east-1 prices, no free tier',
    cost,
    '',
    `One account in ${base.region} runs out (first line first):`,
    limits,
  ].join('\n');
}

const { employees, base, json } = parse(process.argv.slice(2));
const rows = sizesFor(employees).map((n) => capacityRow({ ...base, employees: n }));
if (json) process.stdout.write(`${JSON.stringify({ workload: base, singleShardLimits: singleShardLimits(base), rows }, null, 2)}\n`);
else process.stdout.write(`${render(rows, base)}\n`);
