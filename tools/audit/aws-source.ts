// The evidence in AWS: CloudTrail's LookupEvents for the last 90 days (no setup, no cost, but
// 2 calls a second), Athena over the trail's S3 files beyond that, and the ledger table through
// DynamoDB Query with the caller's own credentials (the auditor role may Query and GetItem).
import { AthenaClient, GetQueryExecutionCommand, GetQueryResultsCommand, StartQueryExecutionCommand } from '@aws-sdk/client-athena';
import { CloudTrailClient, LookupEventsCommand, type LookupAttribute } from '@aws-sdk/client-cloudtrail';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { auditQuery } from '../../contract/audit-queries.js';
import { AUDIT_DATABASE } from '../../contract/audit-trail.js';
import type { KeyPolicyRoles } from '../../lambdas/shared/key-policy.js';
import { periodParameters, type AuditSource, type Period } from './audit-source.js';
import type { KeyPeriod } from './duckdb-trail.js';
import { readLedger, type LedgerExport } from './ledger-source.js';
import { parseTrailRow, rowFromRecord, type AuditEvent, type TrailRow } from './trail-record.js';

/** LookupEvents keeps management events for 90 days; older periods go to Athena. */
export const LOOKUP_EVENTS_DAYS = 90;

export interface AwsSourceOptions {
  readonly region?: string;
  readonly ledgerTable: string;
  readonly workgroup: string;
  readonly roles: KeyPolicyRoles;
  readonly now?: Date;
  readonly onProgress?: (line: string) => void;
}

/** Reads LookupEvents' answer: each event's `CloudTrailEvent` is the full record, as JSON text. */
export function eventsFromLookup(page: { Events?: { CloudTrailEvent?: string }[] }): AuditEvent[] {
  const out: AuditEvent[] = [];
  for (const e of page.Events ?? []) {
    if (e.CloudTrailEvent === undefined) continue;
    try {
      out.push(parseTrailRow(rowFromRecord(JSON.parse(e.CloudTrailEvent))));
    } catch {
      // A record that is not JSON is not evidence of anything; LookupEvents has never sent one.
    }
  }
  return out;
}

/** Reads an Athena result page: the first row of the first page is the header. Empty cells are NULL. */
export function rowsFromAthena(page: { ResultSet?: { Rows?: { Data?: { VarCharValue?: string }[] }[] } }, header: string[] | undefined): { header: string[]; rows: TrailRow[] } {
  const all = page.ResultSet?.Rows ?? [];
  const names = header ?? (all[0]?.Data ?? []).map((d) => d.VarCharValue ?? '');
  const body = header === undefined ? all.slice(1) : all;
  const rows = body.map((r) => Object.fromEntries(names.map((n, i) => [n, r.Data?.[i]?.VarCharValue ?? null])) as unknown as TrailRow);
  return { header: names, rows };
}

export class AwsSource implements AuditSource {
  readonly roles: KeyPolicyRoles;
  private readonly trail: CloudTrailClient;
  private readonly athena: AthenaClient;
  private readonly dynamodb: DynamoDBClient;

  constructor(private readonly options: AwsSourceOptions) {
    this.roles = options.roles;
    const config = options.region === undefined ? {} : { region: options.region };
    this.trail = new CloudTrailClient(config);
    this.athena = new AthenaClient(config);
    this.dynamodb = new DynamoDBClient(config);
  }

  nameOf(arn: string | undefined): string {
    if (arn === undefined) return '(unknown)';
    const role = Object.entries(this.roles).find(([, a]) => a === arn);
    return role === undefined ? arn : role[0];
  }

  private withinLookup(period: Period): boolean {
    const now = (this.options.now ?? new Date()).getTime();
    return Date.parse(period.from) >= now - LOOKUP_EVENTS_DAYS * 86_400_000;
  }

  private async lookup(period: Period, attribute: LookupAttribute): Promise<AuditEvent[]> {
    const events: AuditEvent[] = [];
    let token: string | undefined;
    do {
      const page = await this.trail.send(
        new LookupEventsCommand({ StartTime: new Date(period.from), EndTime: new Date(period.to), LookupAttributes: [attribute], MaxResults: 50, NextToken: token }),
      );
      events.push(...eventsFromLookup(page));
      this.options.onProgress?.(`${events.length} records from LookupEvents`);
      token = page.NextToken;
    } while (token !== undefined);
    // LookupEvents answers newest first; the audit reads in trail order.
    return events.sort((a, b) => a.time.localeCompare(b.time));
  }

  private async athenaRows(sql: string, parameters: readonly string[]): Promise<TrailRow[]> {
    const started = await this.athena.send(
      new StartQueryExecutionCommand({ QueryString: sql, WorkGroup: this.options.workgroup, QueryExecutionContext: { Database: AUDIT_DATABASE }, ...(parameters.length > 0 ? { ExecutionParameters: parameters.map((p) => `'${p.replace(/'/g, "''")}'`) } : {}) }),
    );
    const id = started.QueryExecutionId;
    if (id === undefined) throw new Error('Athena started no query');
    const deadline = Date.now() + 15 * 60_000;
    for (;;) {
      const state = (await this.athena.send(new GetQueryExecutionCommand({ QueryExecutionId: id }))).QueryExecution?.Status?.State;
      if (state === 'SUCCEEDED') break;
      if (state === 'FAILED' || state === 'CANCELLED') throw new Error(`Athena query ${id} ${state.toLowerCase()}`);
      if (Date.now() > deadline) throw new Error(`Athena query ${id} did not finish within 15 minutes`);
      this.options.onProgress?.(`Athena query ${id}: ${state ?? 'starting'}`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    const rows: TrailRow[] = [];
    let header: string[] | undefined;
    let token: string | undefined;
    do {
      const page = await this.athena.send(new GetQueryResultsCommand({ QueryExecutionId: id, NextToken: token, MaxResults: 1000 }));
      const read = rowsFromAthena(page, header);
      header = read.header;
      rows.push(...read.rows);
      this.options.onProgress?.(`${rows.length} rows from Athena`);
      token = page.NextToken;
    } while (token !== undefined);
    return rows;
  }

  private async named(name: string, values: Record<string, string>): Promise<AuditEvent[]> {
    const query = auditQuery(name);
    const rows = await this.athenaRows(query.sql, query.parameters.map((p) => values[p] ?? ''));
    return rows.map(parseTrailRow);
  }

  async employeesWithKeys(period: Period): Promise<string[]> {
    const aliases = this.withinLookup(period)
      ? await this.lookup(period, { AttributeKey: 'EventName', AttributeValue: 'CreateAlias' })
      : await this.allKms(period);
    const prefix = 'alias/consent-capture/';
    return [...new Set(aliases.filter((e) => e.eventName === 'CreateAlias' && e.allowed && e.aliasName?.startsWith(prefix)).map((e) => (e.aliasName ?? '').slice(prefix.length)))].sort();
  }

  private async allKms(period: Period): Promise<AuditEvent[]> {
    if (this.withinLookup(period)) return this.lookup(period, { AttributeKey: 'EventSource', AttributeValue: 'kms.amazonaws.com' });
    const p = periodParameters(period);
    const rows = await this.athenaRows(
      `SELECT eventtime, eventsource, eventname, eventid, errorcode, COALESCE(useridentity.sessioncontext.sessionissuer.arn, useridentity.arn) AS principal,
         element_at(resources, 1).arn AS keyarn, requestparameters, responseelements
       FROM cloudtrail WHERE "timestamp" BETWEEN ? AND ? AND eventtime >= ? AND eventtime < ? AND eventsource = 'kms.amazonaws.com' ORDER BY eventtime`,
      [p['fromDay'] ?? '', p['toDay'] ?? '', period.from, period.to],
    );
    return rows.map(parseTrailRow);
  }

  async ledger(employeeIds: readonly string[]): Promise<LedgerExport> {
    return readLedger(DynamoDBDocumentClient.from(this.dynamodb), this.options.ledgerTable, employeeIds);
  }

  async streamForCheck(period: Period, _periods: readonly KeyPeriod[], onEvents: (events: AuditEvent[]) => void): Promise<void> {
    onEvents(await this.allKms(period));
  }

  async keyTimeline(period: Period, employeeId: string, keyArn: string): Promise<AuditEvent[]> {
    if (this.withinLookup(period)) return this.lookup(period, { AttributeKey: 'ResourceName', AttributeValue: keyArn });
    return this.named('employee-key-timeline', { ...periodParameters(period), employeeId, keyArn });
  }

  async keyPurge(period: Period, keyArn: string): Promise<AuditEvent[]> {
    if (this.withinLookup(period)) return this.lookup(period, { AttributeKey: 'ResourceName', AttributeValue: keyArn });
    return this.named('purge-proof', { ...periodParameters(period), keyArn });
  }

  async close(): Promise<void> {
    this.trail.destroy();
    this.athena.destroy();
    this.dynamodb.destroy();
  }
}
