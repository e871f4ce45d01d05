// The local evidence: the local KMS's trail files read by DuckDB, and the local ledger table read
// through the SDK with the credentials in `.local/stack.json` (or a ledger export file).
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { KeyPolicyRoles } from '../../lambdas/shared/key-policy.js';
import type { StackFile } from '../../local/stack-file.js';
import type { PrincipalName } from '../../local/principals.js';
import { periodParameters, type AuditSource, type Period } from './audit-source.js';
import { DuckTrail, type KeyPeriod } from './duckdb-trail.js';
import { readLedger, readLedgerFile, type LedgerExport } from './ledger-source.js';
import { parseTrailRow, type AuditEvent, type TrailRow } from './trail-record.js';

export interface LocalSourceOptions {
  /** The local stack's directory (holds stack.json). @default .local */
  readonly dir: string;
  /** @default - `trail` of stack.json, else `<dir>/cloudtrail` */
  readonly trailDir?: string;
  /** A ledger export (JSON Lines) instead of the ledger table. */
  readonly ledgerFile?: string;
  /** The principal that reads the ledger. @default auditor, falling back to admin while the local auditor may not read it */
  readonly readAs?: PrincipalName;
  readonly onNote?: (line: string) => void;
}

export function readStackFile(dir: string): StackFile {
  return JSON.parse(readFileSync(join(dir, 'stack.json'), 'utf8')) as StackFile;
}

export class LocalSource implements AuditSource {
  readonly roles: KeyPolicyRoles;
  private readonly names: Map<string, string>;
  private fileLedger: LedgerExport | undefined;

  private constructor(
    private readonly stack: StackFile,
    private readonly trail: DuckTrail,
    private readonly options: LocalSourceOptions,
  ) {
    const p = stack.principals;
    // The training role appears in key policies once datasets exist; a stack file from before them has none.
    const training = (p as Partial<Record<string, { arn: string }>>)['training']?.arn;
    this.roles = { ingest: p.ingest.arn, steward: p.steward.arn, export: p.export.arn, purge: p.purge.arn, auditor: p.auditor.arn, ...(training === undefined ? {} : { training }) };
    this.names = new Map(Object.entries(p).map(([name, creds]) => [creds.arn, name]));
    if (options.ledgerFile !== undefined) this.fileLedger = readLedgerFile(options.ledgerFile);
  }

  static async open(options: LocalSourceOptions): Promise<LocalSource> {
    const stack = readStackFile(options.dir);
    const trailDir = options.trailDir ?? (isAbsolute(stack.trail) ? stack.trail : (existsSync(resolve(stack.trail)) ? resolve(stack.trail) : join(options.dir, 'cloudtrail')));
    return new LocalSource(stack, await DuckTrail.open(trailDir), options);
  }

  nameOf(arn: string | undefined): string {
    if (arn === undefined) return '(unknown)';
    return this.names.get(arn) ?? arn;
  }

  async employeesWithKeys(): Promise<string[]> {
    if (this.fileLedger !== undefined) return [...this.fileLedger.events.keys()];
    return this.trail.employeesWithKeys();
  }

  async ledger(employeeIds: readonly string[]): Promise<LedgerExport> {
    if (this.fileLedger !== undefined) {
      const wanted = new Set(employeeIds);
      return { events: new Map([...this.fileLedger.events].filter(([id]) => wanted.has(id))), invalid: this.fileLedger.invalid.filter((i) => wanted.has(i.employeeId)) };
    }
    const table = this.stack.tables?.ledger;
    const endpoint = this.stack.endpoints.dynamodb;
    if (table === undefined || endpoint === undefined) throw new Error('stack.json names no ledger table; start the local stack (npm start), or pass --ledger <export.jsonl>');
    const read = async (as: PrincipalName): Promise<LedgerExport> => {
      const { accessKeyId, secretAccessKey } = this.stack.principals[as];
      const client = new DynamoDBClient({ endpoint, region: this.stack.region, credentials: { accessKeyId, secretAccessKey }, maxAttempts: 2 });
      try {
        return await readLedger(DynamoDBDocumentClient.from(client), table, employeeIds);
      } finally {
        client.destroy();
      }
    };
    const as = this.options.readAs ?? 'auditor';
    try {
      return await read(as);
    } catch (error) {
      if (this.options.readAs !== undefined || (error as Error).name !== 'AccessDeniedException') throw error;
      this.options.onNote?.('the local auditor principal may not read the ledger; reading it as admin');
      return read('admin');
    }
  }

  async streamForCheck(_period: Period, periods: readonly KeyPeriod[], onEvents: (events: AuditEvent[]) => void): Promise<void> {
    await this.trail.streamForCheck(periods, (rows) => onEvents(rows.map(parseTrailRow)));
  }

  async keyTimeline(period: Period, employeeId: string, keyArn: string): Promise<AuditEvent[]> {
    const rows = await this.trail.namedQuery('employee-key-timeline', { ...periodParameters(period), employeeId, keyArn });
    return rows.map((r) => parseTrailRow(r as unknown as TrailRow));
  }

  async keyPurge(period: Period, keyArn: string): Promise<AuditEvent[]> {
    const rows = await this.trail.namedQuery('purge-proof', { ...periodParameters(period), keyArn });
    return rows.map((r) => parseTrailRow(r as unknown as TrailRow));
  }

  async close(): Promise<void> {
    this.trail.close();
  }
}
