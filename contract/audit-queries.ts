// The compliance team's named queries, declared once. In AWS the CDK app makes one Athena named
// query of each over the CloudTrail table (contract/audit-trail.ts); locally tools/audit runs the
// same query on DuckDB over the local trail's JSON Lines. Owner of the SQL: tools/audit.

export interface AuditQuery {
  /** The named query's name, kebab-case, e.g. `employee-key-timeline`. */
  readonly name: string;
  /** One line for the Athena console and `npm run audit -- queries`. */
  readonly description: string;
  /**
   * The Athena (Trino) text. Parameters are `?` placeholders, in the order of `parameters`.
   * Written in the SQL subset that Athena and DuckDB share; any dialect difference is handled in
   * one place in tools/audit.
   */
  readonly sql: string;
  /** What each `?` stands for, in order, e.g. `['employeeId', 'from', 'to']`. */
  readonly parameters: readonly string[];
}

/** Filled in by the compliance tooling (issue 11): key timeline, denied calls, GenerateDataKey outside consent, foreign decrypts, key-policy changes, purge proof. */
export const AUDIT_QUERIES: readonly AuditQuery[] = [];
