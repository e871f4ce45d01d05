// One measurement in its own process, so its peak RSS is its own: `floor` (DuckDB's count(*) over
// the trail files) or `check` (audit check over the same files and the ledger export).
import { join } from 'node:path';
import { runCheck } from '../../tools/audit/audit-source.js';
import { DuckTrail } from '../../tools/audit/duckdb-trail.js';
import { LocalSource } from '../../tools/audit/local-source.js';

const [what, dir] = process.argv.slice(2);
if ((what !== 'floor' && what !== 'check') || dir === undefined) {
  process.stderr.write('usage: measure.ts floor|check <dir>\n');
  process.exit(2);
}
const started = process.hrtime.bigint();
let answer: unknown;
if (what === 'floor') {
  const trail = await DuckTrail.open(join(dir, 'cloudtrail'));
  answer = { records: await trail.count() };
  trail.close();
} else {
  const source = await LocalSource.open({ dir, ledgerFile: join(dir, 'ledger.jsonl') });
  const result = await runCheck(source, { from: '2000-01-01T00:00:00Z', to: '9999-12-31T00:00:00Z' }, { ledger: await source.ledger(await source.employeesWithKeys()) });
  await source.close();
  answer = { ok: result.ok, violations: result.violations.length, employees: result.employees };
}
const ms = Number(process.hrtime.bigint() - started) / 1e6;
process.stdout.write(`${JSON.stringify({ what, ms: Math.round(ms), peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024), ...(answer as object) })}\n`);
