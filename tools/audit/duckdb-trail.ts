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
    const instance = await DuckDBInstance.create(':memory:', { threads: '2' });
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
        .map((p) => `(${quote(p.employeeId)}, ${quote(p.scope)}, ${quote(p.keyArn)}, ${quote(p.from)}, ${p.to === undefined ? 'NULL' : quote(p.to)})`);
      await this.connection.run(`INSERT INTO consent_periods VALUES ${values.join(', ')}`);
    }
    const result = await this.connection.stream(
      `SELECT ${RECORD_COLUMNS} FROM ${CLOUDTRAIL_TABLE} t
       WHERE eventsource = 'kms.amazonaws.com' AND errorcode IS NULL
         AND (eventname <> 'GenerateDataKey' OR NOT EXISTS (
           SELECT 1 FROM consent_periods p
           WHERE p.employeeid = json_extract_scalar(t.requestparameters, '$.encryptionContext.employeeId')
             AND p.scope = json_extract_scalar(t.requestparameters, '$.encryptionContext.scope')
             AND p.keyarn = t.resources[1].arn
             AND t.eventtime >= p.period_from AND (p.period_to IS NULL OR t.eventtime < p.period_to)))`,
    );
    for await (const rows of result.yieldRowObjectJson()) onRows(rows as unknown as TrailRow[]);
  }

  /** Every KMS record in a period, in trail order (for tests and small reads). */
  async records(values: DuckDBValue[] = []): Promise<TrailRow[]> {
    const result = await this.connection.runAndReadAll(`SELECT ${RECORD_COLUMNS} FROM ${CLOUDTRAIL_TABLE}`, values);
    return result.getRowObjectsJson() as unknown as TrailRow[];
  }
}
