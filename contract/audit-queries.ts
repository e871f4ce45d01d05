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

// Shared building blocks. Every query is bounded by the table's `timestamp` partition (day,
// `yyyy/MM/dd`, so Athena reads only those days) and by `eventtime` (ISO-8601 `…Z` text, which
// sorts as time in both engines). `element_at(resources, 1)` is NULL for a call without a key,
// where `resources[1]` would fail in Athena.
const PRINCIPAL = 'COALESCE(useridentity.sessioncontext.sessionissuer.arn, useridentity.arn)';
const EMPLOYEE = "json_extract_scalar(requestparameters, '$.encryptionContext.employeeId')";
const SCOPE = "json_extract_scalar(requestparameters, '$.encryptionContext.scope')";
const KEY_ARN = 'element_at(resources, 1).arn';
const PERIOD = '"timestamp" BETWEEN ? AND ? AND eventtime >= ? AND eventtime < ?';
const PERIOD_PARAMETERS = ['fromDay', 'toDay', 'from', 'to'] as const;
// The record's own fields after the derived ones: tools/audit reads every answer with one parser.
const RECORD = 'eventid, eventsource, useridentity, requestparameters, responseelements, resources';

/** The named queries. Parameters: `fromDay`/`toDay` are `yyyy/MM/dd` (inclusive), `from`/`to` ISO-8601 instants `yyyy-MM-ddTHH:mm:ssZ` (`to` exclusive). */
export const AUDIT_QUERIES: readonly AuditQuery[] = [
  {
    name: 'employee-key-timeline',
    description: "Every KMS call on one employee's key or naming that employee in its encryption context, allowed and denied, oldest first.",
    sql: `SELECT eventtime, eventname, ${PRINCIPAL} AS principal, errorcode, ${SCOPE} AS scope, ${KEY_ARN} AS keyarn, ${RECORD}
FROM cloudtrail
WHERE ${PERIOD}
  AND eventsource = 'kms.amazonaws.com'
  AND (${EMPLOYEE} = ? OR ${KEY_ARN} = ?)
ORDER BY eventtime, eventid`,
    parameters: [...PERIOD_PARAMETERS, 'employeeId', 'keyArn'],
  },
  {
    name: 'denied-calls',
    description: 'KMS calls that were refused (access denied, a disabled or deleted key, a wrong encryption context), oldest first.',
    sql: `SELECT eventtime, eventname, ${PRINCIPAL} AS principal, errorcode, ${EMPLOYEE} AS employeeid, ${SCOPE} AS scope, ${KEY_ARN} AS keyarn, ${RECORD}
FROM cloudtrail
WHERE ${PERIOD}
  AND eventsource = 'kms.amazonaws.com'
  AND errorcode IS NOT NULL
ORDER BY eventtime, eventid`,
    parameters: [...PERIOD_PARAMETERS],
  },
  {
    name: 'generate-data-key-outside-consent',
    description:
      "Successful GenerateDataKey calls for one employee in a period the ledger says was not consented (a pause, or after a withdrawal): any row is a violation. `npm run audit -- check` finds the periods itself.",
    sql: `SELECT eventtime, ${PRINCIPAL} AS principal, ${SCOPE} AS scope, json_extract_scalar(requestparameters, '$.encryptionContext.batchId') AS batchid, ${KEY_ARN} AS keyarn, ${RECORD}
FROM cloudtrail
WHERE ${PERIOD}
  AND eventsource = 'kms.amazonaws.com'
  AND eventname = 'GenerateDataKey'
  AND errorcode IS NULL
  AND ${EMPLOYEE} = ?
ORDER BY eventtime, eventid`,
    parameters: [...PERIOD_PARAMETERS, 'employeeId'],
  },
  {
    name: 'decrypts-not-by-export-role',
    description: "Decrypt calls on employee data by any principal other than the export role, allowed or denied (errorcode empty: it succeeded).",
    sql: `SELECT eventtime, ${PRINCIPAL} AS principal, errorcode, ${EMPLOYEE} AS employeeid, ${SCOPE} AS scope, ${KEY_ARN} AS keyarn, ${RECORD}
FROM cloudtrail
WHERE ${PERIOD}
  AND eventsource = 'kms.amazonaws.com'
  AND eventname = 'Decrypt'
  AND ${EMPLOYEE} IS NOT NULL
  AND COALESCE(${PRINCIPAL}, '') <> ?
ORDER BY eventtime, eventid`,
    parameters: [...PERIOD_PARAMETERS, 'exportRoleArn'],
  },
  {
    name: 'key-policy-changes',
    description: 'Every key policy written (CreateKey with a policy, PutKeyPolicy), with who wrote it and the policy text, oldest first.',
    sql: `SELECT eventtime, eventname, ${PRINCIPAL} AS principal, errorcode, ${KEY_ARN} AS keyarn, json_extract_scalar(requestparameters, '$.policy') AS policy, ${RECORD}
FROM cloudtrail
WHERE ${PERIOD}
  AND eventsource = 'kms.amazonaws.com'
  AND eventname IN ('PutKeyPolicy', 'CreateKey')
  AND json_extract_scalar(requestparameters, '$.policy') IS NOT NULL
ORDER BY eventtime, eventid`,
    parameters: [...PERIOD_PARAMETERS],
  },
  {
    name: 'purge-proof',
    description: "The crypto-shredding of one key: the erasure tag, the shredded policy, DisableKey and ScheduleKeyDeletion with its deletion date, and any later use.",
    sql: `SELECT eventtime, eventname, ${PRINCIPAL} AS principal, errorcode, json_extract_scalar(responseelements, '$.deletionDate') AS deletiondate, ${RECORD}
FROM cloudtrail
WHERE ${PERIOD}
  AND eventsource = 'kms.amazonaws.com'
  AND ${KEY_ARN} = ?
  AND eventname IN ('TagResource', 'PutKeyPolicy', 'DisableKey', 'ScheduleKeyDeletion', 'CancelKeyDeletion', 'EnableKey', 'Decrypt', 'GenerateDataKey')
ORDER BY eventtime, eventid`,
    parameters: [...PERIOD_PARAMETERS, 'keyArn'],
  },
];

/** The named query called `name`; throws with the known names when there is none. */
export function auditQuery(name: string): AuditQuery {
  const query = AUDIT_QUERIES.find((q) => q.name === name);
  if (query === undefined) throw new Error(`no audit query ${JSON.stringify(name)}; use one of ${AUDIT_QUERIES.map((q) => q.name).join(', ')}`);
  return query;
}
