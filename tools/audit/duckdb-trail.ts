// The local trail in DuckDB: the `cloudtrail` view over the trail's JSON Lines, the named queries
// run on it as Athena would run them, and the streaming read behind `audit check`.
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection, type DuckDBValue } from '@duckdb/node-api';
import { auditQuery } from '../../contract/audit-queries.js';
import { CLOUDTRAIL_TABLE } from '../../contract/audit-trail.js';
import type { ConsentPeriod } from './invariants.js';
import { DUCKDB_MACROS, localTrailView, toDuckDb } from './sql-dialect.js';
import type { TrailRow } from './trail-record.js';

/** One consented period of one scope on one key, for the check's window join. */
export interface KeyPeriod extends ConsentPeriod {
  readonly employeeId: string;
  readonly scope: string;
  readonly keyArn: string;
}

const RECORD_COLUMNS = 'eventtime, eventsource, eventname, eventid, errorcode, useridentity, requestparameters, responseelements, resources';

function quote(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

export class DuckTrail {
  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
  ) {}

  static async open(trailDir: string): Promise<DuckTrail> {
    // A bounded buffer pool: DuckDB otherwise keeps up to 80% of the machine's memory for a scan
    // whose result it streams, and the audit's memory would grow with the trail.
    const instance = await DuckDBInstance.create(':memory:', { threads: '2', memory_limit: '256MB', temp_directory: join(tmpdir(), 'cc-audit-duckdb') });
    const connection = await instance.connect();
    for (const macro of DUCKDB_MACROS) await connection.run(macro);
    const hasFiles = existsSync(trailDir) && readdirSync(trailDir).some((n) => n.endsWith('.jsonl'));
    // read_json refuses a glob that matches nothing: an empty trail reads one empty file instead.
    let files = join(trailDir, '*.jsonl');
    if (!hasFiles) {
      files = join(mkdtempSync(join(tmpdir(), 'cc-audit-empty-')), 'empty.jsonl');
      writeFileSync(files, '');
    }
    await connection.run(localTrailView(files));
    return new DuckTrail(instance, connection);
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
  }

  /** A named query (contract/audit-queries.ts), its Athena text made DuckDB's, with its parameters in order. */
  async namedQuery(name: string, values: Readonly<Record<string, string>>): Promise<Record<string, unknown>[]> {
    const query = auditQuery(name);
    const params = query.parameters.map((p) => {
      const value = values[p];
      if (value === undefined) throw new Error(`query ${name} needs ${p}`);
      return value;
    });
    const result = await this.connection.runAndReadAll(toDuckDb(query.sql), params);
    return result.getRowObjectsJson() as Record<string, unknown>[];
  }

  async count(): Promise<number> {
    const result = await this.connection.runAndReadAll(`SELECT count(*) AS n FROM ${CLOUDTRAIL_TABLE}`);
    return Number(result.getRowObjectsJson()[0]?.['n'] ?? 0);
  }

  /** Employees that have a key, from the evidence: each key's CreateAlias `alias/consent-capture/<id>`. */
  async employeesWithKeys(): Promise<string[]> {
    const result = await this.connection.runAndReadAll(
      `SELECT DISTINCT substr(json_extract_scalar(requestparameters, '$.aliasName'), 23) AS id FROM ${CLOUDTRAIL_TABLE}
       WHERE eventname = 'CreateAlias' AND errorcode IS NULL AND json_extract_scalar(requestparameters, '$.aliasName') LIKE 'alias/consent-capture/%' ORDER BY id`,
    );
    return result.getRowObjectsJson().map((r) => String(r['id']));
  }

  /**
   * Streams, in trail order, every successful KMS record the invariants could object to: all but
   * the data keys that fall inside a consented period of their scope on their employee's key
   * (those are the bulk of a trail, and DuckDB drops them in the scan). `onRows` gets each chunk.
   */
  async streamForCheck(periods: readonly KeyPeriod[], onRows: (rows: TrailRow[]) => void): Promise<void> {
    await this.connection.run('CREATE OR REPLACE TEMP TABLE consent_periods (employeeid VARCHAR, scope VARCHAR, keyarn VARCHAR, period_from VARCHAR, period_to VARCHAR)');
    for (let i = 0; i < periods.length; i += 500) {
      const values = periods
        .slice(i, i + 500)
        .map((p) => `(${quote(p.employeeId)}, ${quote(p.scope)}, ${quote(p.keyArn)}, ${quote(p.from)}, ${quote(p.to ?? '9999-12-31T00:00:00Z')})`);
      await this.connection.run(`INSERT INTO consent_periods VALUES ${values.join(', ')}`);
    }
    // DuckDB's own SQL (not a named query). Nothing in it holds the whole trail (no window
    // function, nothing materialised): the periods are the small side of the join and the trail
    // streams past them, so memory does not grow with the trail. Principal and key come out as
    // text, since turning structs into JS objects costs more than the scan. Sorted by time; the
    // checker orders calls within one second itself (the trail's resolution).
    const result = await this.connection.stream(
      `WITH k AS (
         SELECT eventtime, eventsource, eventname, eventid, errorcode, requestparameters, responseelements,
           COALESCE(useridentity.sessioncontext.sessionissuer.arn, useridentity.arn) AS principal, resources[1].arn AS keyarn,
           json_extract_string(requestparameters, '$.encryptionContext.employeeId') AS employeeid,
           json_extract_string(requestparameters, '$.encryptionContext.scope') AS scope
         FROM ${CLOUDTRAIL_TABLE} WHERE eventsource = 'kms.amazonaws.com' AND errorcode IS NULL)
       SELECT eventtime, eventsource, eventname, eventid, errorcode, requestparameters, responseelements, principal, keyarn FROM k
       WHERE eventname <> 'GenerateDataKey' OR NOT EXISTS (
         SELECT 1 FROM consent_periods p
         WHERE p.employeeid = k.employeeid AND p.scope = k.scope AND p.keyarn = k.keyarn
           AND k.eventtime >= p.period_from AND k.eventtime < p.period_to)
       ORDER BY eventtime`,
    );
    for await (const rows of result.yieldRowObjectJson()) onRows(rows as unknown as TrailRow[]);
  }

  /** Every KMS record in a period, in trail order (for tests and small reads). */
  async records(values: DuckDBValue[] = []): Promise<TrailRow[]> {
    const result = await this.connection.runAndReadAll(`SELECT ${RECORD_COLUMNS} FROM ${CLOUDTRAIL_TABLE}`, values);
    return result.getRowObjectsJson() as unknown as TrailRow[];
  }
}
