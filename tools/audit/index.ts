// `npm run audit -- <command>`: the compliance team's questions answered from evidence, the local
// stack's files (default) or AWS (`--source aws`). Commands: employee, check, purge-proof, verify,
// queries. Exit status: 0 when all holds, 1 when evidence contradicts an invariant, 2 on bad usage.
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { AUDIT_QUERIES } from '../../contract/audit-queries.js';
import { roleNameFor } from '../../contract/roles.js';
import { runCheck, runEmployee, runPurgeProof, trailInstant, type AuditSource, type Period } from './audit-source.js';
import { AwsSource } from './aws-source.js';
import { LocalSource } from './local-source.js';
import { printable, Progress, table } from './output.js';
import { verifyTrail } from './trail-verify.js';

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

const USAGE = `usage: npm run audit -- <command> [options]
  employee <id> [--since <dur>] [--json]   one timeline: the ledger (who changed what) and every KMS call on the key
  check [--since <dur>] [--json]           the five invariants; exit 1 naming each offending record
  purge-proof <id> [--json]                disable, scheduled deletion, object counts and the ledger's purged event
  verify [--json]                          the local trail's digest chain; names the first file changed, removed or added
  queries [--json]                         the named queries (the same SQL in Athena and DuckDB)
options:
  --dir <path>          the local stack's directory (default .local)
  --trail <path>        the local trail directory (default: stack.json's trail)
  --ledger <file>       a ledger export (JSON Lines) instead of the ledger table
  --since <dur>         only this far back: 30m, 12h, 7d (default: everything; 90d with --source aws)
  --source aws          read AWS: LookupEvents for 90 days, Athena beyond; with --ledger-table, --workgroup,
                        --account, --role-prefix (default consent-capture) and --region
  --json                machine-readable output`;

/** `30m`, `12h`, `7d` → milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+)([mhd])$/.exec(text);
  if (match === null) throw new UsageError(`--since ${JSON.stringify(text)} is not a duration; use e.g. 30m, 12h or 7d`);
  return Number(match[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 'm' | 'h' | 'd'];
}

class UsageError extends Error {}

export async function main(argv: readonly string[], io: Io = { out: (t) => process.stdout.write(`${t}\n`), err: (t) => process.stderr.write(`${t}\n`) }): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        dir: { type: 'string', default: '.local' },
        trail: { type: 'string' },
        ledger: { type: 'string' },
        since: { type: 'string' },
        json: { type: 'boolean', default: false },
        source: { type: 'string', default: 'local' },
        region: { type: 'string' },
        'ledger-table': { type: 'string' },
        workgroup: { type: 'string', default: 'consent-capture-audit' },
        account: { type: 'string' },
        'role-prefix': { type: 'string', default: 'consent-capture' },
        help: { type: 'boolean', default: false },
      },
    });
  } catch (error) {
    io.err(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, subject] = positionals;
  if (values.help || command === undefined) {
    io.out(USAGE);
    return values.help ? 0 : 2;
  }
  try {
    if (command === 'queries') {
      if (values.json) io.out(JSON.stringify(AUDIT_QUERIES, null, 2));
      else for (const q of AUDIT_QUERIES) io.out(`${q.name}(${q.parameters.join(', ')})\n  ${q.description}\n`);
      return 0;
    }
    if (command === 'verify') return verify(values.source, values.dir, values.trail, values.json, io);
    const aws = values.source === 'aws';
    if (!aws && values.source !== 'local') throw new UsageError(`--source ${JSON.stringify(values.source)}: use local or aws`);
    const now = new Date();
    const since = values.since ?? (aws ? '90d' : undefined);
    // Local records can carry a clock moved forward by tests or demos: read to the end of time.
    const period: Period = {
      from: since === undefined ? '2000-01-01T00:00:00Z' : trailInstant(new Date(now.getTime() - parseDuration(since))),
      to: aws ? trailInstant(now) : '9999-12-31T00:00:00Z',
    };
    const progress = new Progress();
    const source = aws ? awsSource(values, progress) : await LocalSource.open({ dir: values.dir, ...(values.trail === undefined ? {} : { trailDir: values.trail }), ...(values.ledger === undefined ? {} : { ledgerFile: values.ledger }), onNote: (l) => io.err(l) });
    try {
      if (command === 'check') return await check(source, period, values.json, io, progress);
      if (subject === undefined) throw new UsageError(`${command} needs an employee id`);
      if (command === 'employee') {
        const entries = await runEmployee(source, period, subject);
        io.out(values.json ? JSON.stringify(entries, null, 2) : entries.length === 0 ? `no evidence about ${subject}` : table(entries, ['time', 'source', 'what', 'who', 'outcome', 'detail']));
        return 0;
      }
      if (command === 'purge-proof') {
        const proof = await runPurgeProof(source, period, subject);
        if (values.json) io.out(JSON.stringify(proof, null, 2));
        else {
          const rows = [
            { step: 'erasure requested', ...proof.erasureRequested },
            { step: 'erasure tag', ...proof.tagged },
            { step: 'shredded key policy', ...proof.shreddedPolicy },
            { step: 'DisableKey', ...proof.disabled },
            { step: 'ScheduleKeyDeletion', ...proof.deletionScheduled, detail: proof.deletionScheduled?.deletionDate === undefined ? '' : `deletion on ${proof.deletionScheduled.deletionDate}` },
            { step: 'purged (ledger)', ...proof.purged, detail: proof.purged === undefined ? '' : JSON.stringify(proof.purged.details) },
          ];
          io.out(`${subject}: key ${proof.keyArn ?? '(none recorded)'}`);
          io.out(table(rows, ['step', 'at', 'by', 'ref', 'detail']));
          for (const use of proof.usesAfterDisable) io.out(printable(`use after DisableKey: ${use.at} ${use.eventName} by ${use.by}: ${use.outcome}`));
          io.out(proof.complete ? 'purge proven' : `purge NOT proven: missing ${proof.missing.join(', ')}`);
        }
        return proof.complete ? 0 : 1;
      }
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    } finally {
      progress.done();
      await source.close();
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`${error.message}\n${USAGE}`);
      return 2;
    }
    throw error;
  }
}

function awsSource(values: { region?: string | undefined; 'ledger-table'?: string | undefined; workgroup: string; account?: string | undefined; 'role-prefix': string }, progress: Progress): AuditSource {
  const table = values['ledger-table'];
  const account = values.account;
  if (table === undefined || account === undefined) throw new UsageError('--source aws needs --ledger-table <name> and --account <12 digits>');
  const role = (name: Parameters<typeof roleNameFor>[1]) => `arn:aws:iam::${account}:role/${roleNameFor(values['role-prefix'], name)}`;
  return new AwsSource({
    ...(values.region === undefined ? {} : { region: values.region }),
    ledgerTable: table,
    workgroup: values.workgroup,
    roles: { ingest: role('ingest'), steward: role('steward'), export: role('export'), purge: role('purge'), training: role('training'), auditor: `arn:aws:iam::${account}:role/${values['role-prefix']}-auditor` },
    onProgress: (line) => progress.update(line),
  });
}

async function check(source: AuditSource, period: Period, json: boolean, io: Io, progress: Progress): Promise<number> {
  const result = await runCheck(source, period, { onProgress: (n) => progress.update(`checked ${n} records`) });
  progress.done();
  if (json) io.out(JSON.stringify(result, null, 2));
  else {
    if (result.violations.length > 0) io.out(table(result.violations, ['invariant', 'time', 'employeeId', 'eventName', 'eventId', 'principal', 'message']));
    for (const i of result.invalidLedgerEvents) io.out(printable(`invalid ledger event: ${i.employeeId} #${i.sequence ?? '?'}: ${i.issues.join('; ')}`));
    io.out(result.ok ? `all invariants hold (${result.employees} employees)` : `${result.violations.length} violation(s), ${result.invalidLedgerEvents.length} invalid ledger event(s)`);
  }
  return result.ok ? 0 : 1;
}

function verify(sourceName: string, dir: string, trail: string | undefined, json: boolean, io: Io): number {
  if (sourceName === 'aws') {
    io.out('In AWS, CloudTrail validates its own digests:\n  aws cloudtrail validate-logs --trail-arn <trail ARN> --start-time <ISO time> [--verbose]');
    return 0;
  }
  const result = verifyTrail(trail ?? join(dir, 'cloudtrail'), join(dir, 'kms'));
  if (json) io.out(JSON.stringify(result, null, 2));
  else {
    for (const p of result.problems) io.out(`${p.kind.toUpperCase()}: ${p.file}: ${p.reason}`);
    for (const p of result.pending) io.out(`pending: ${p} (written after the newest digest, while the local KMS runs)`);
    io.out(result.problems.length === 0 ? `trail intact: ${result.digests} digests, ${result.logFiles} log files` : `trail NOT intact: first ${result.problems[0]?.kind} file ${result.problems[0]?.file}`);
  }
  return result.problems.length === 0 ? 0 : 1;
}

if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`audit failed: ${(error as Error).message}\n`);
      process.exitCode = 2;
    },
  );
}
