// `npm run bench:audit`: `audit check` over synthetic local trails of 100k and 1M records, against
// a floor measured in the same run (DuckDB's count(*) over the same files), with each run's peak
// RSS from its own process, to show that memory stays flat as the trail grows.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseBenchArgs } from '../bench-args.js';
import { writeSyntheticTrail } from './synthetic-trail.js';

const { values } = parseBenchArgs('bench:audit', { sizes: { type: 'string', default: '100000,1000000' }, employees: { type: 'string', default: '1000' } }, '[--sizes 100000,1000000] [--employees 1000]');
const sizes = values.sizes.split(',').map(Number);
const employees = Number(values.employees);

interface Measurement {
  what: string;
  ms: number;
  peakRssMiB: number;
  records?: number;
  ok?: boolean;
  violations?: number;
}

function measure(what: 'floor' | 'check', dir: string): Measurement {
  const out = execFileSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'measure.ts'), what, dir], { encoding: 'utf8', env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' } });
  return JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as Measurement;
}

const rows: string[] = [];
for (const size of sizes) {
  const dir = mkdtempSync(join(tmpdir(), 'cc-bench-audit-'));
  try {
    const generated = Date.now();
    await writeSyntheticTrail(dir, size, employees);
    process.stderr.write(`${size} records for ${employees} employees written in ${Date.now() - generated} ms\n`);
    const floor = measure('floor', dir);
    const check = measure('check', dir);
    if (floor.records !== size) throw new Error(`the floor counted ${floor.records} records, not ${size}`);
    if (check.ok !== true) throw new Error(`check found ${check.violations} violations in a clean synthetic trail`);
    rows.push(`${String(size).padStart(9)}  floor ${String(floor.ms).padStart(6)} ms (${floor.peakRssMiB} MiB)  check ${String(check.ms).padStart(6)} ms (${check.peakRssMiB} MiB)  ratio ${(check.ms / floor.ms).toFixed(2)}`);
    process.stderr.write(`${rows.at(-1)}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
process.stdout.write(`audit check vs DuckDB count(*) over the same local trail (${employees} employees; peak RSS of each process)\n${rows.join('\n')}\n`);
