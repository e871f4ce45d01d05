// The one place where Athena (Trino) SQL and DuckDB differ for the audit queries: the named
// queries are written for Athena (contract/audit-queries.ts), and this module makes DuckDB run the
// same text over the local trail's JSON Lines, under the same table and column names.
import { CLOUDTRAIL_COLUMNS, CLOUDTRAIL_TABLE } from '../../contract/audit-trail.js';

/**
 * Functions Athena has and DuckDB lacks, defined as DuckDB macros with Athena's meaning.
 * `json_extract_scalar` answers NULL for an object or array, as Athena's does.
 */
export const DUCKDB_MACROS: readonly string[] = [
  `CREATE OR REPLACE MACRO json_extract_scalar(j, p) AS
     CASE WHEN json_type(json_extract(j, p)) IN ('OBJECT', 'ARRAY') THEN NULL ELSE json_extract_string(j, p) END`,
];

/**
 * Athena text to DuckDB text. DuckDB's `element_at` is for maps only; on a list, DuckDB's
 * subscript is already NULL past the end (Athena's `list[1]` would fail there, hence element_at).
 */
export function toDuckDb(athenaSql: string): string {
  return athenaSql.replace(/element_at\(\s*([a-z_][a-z0-9_]*)\s*,\s*(\d+)\s*\)/g, '$1[$2]');
}

/** Double quotes for a DuckDB string literal: only paths this tool chose, but quoted all the same. */
function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/**
 * The `cloudtrail` view over local trail files (one CloudTrail record a line; `files` a path or glob):
 * Athena's lowercase column names, `requestparameters` and friends as JSON text, the partition
 * columns derived from the record as partition projection derives them from the S3 path.
 */
export function localTrailView(files: string): string {
  const present = new Set(['eventversion', 'useridentity', 'eventtime', 'eventsource', 'eventname', 'awsregion', 'sourceipaddress', 'useragent', 'errorcode', 'errormessage',
    'requestparameters', 'responseelements', 'additionaleventdata', 'requestid', 'eventid', 'readonly', 'resources', 'eventtype', 'recipientaccountid', 'eventcategory']);
  const absent = CLOUDTRAIL_COLUMNS.filter((c) => !present.has(c.name)).map((c) => `CAST(NULL AS VARCHAR) AS ${c.name}`);
  return `CREATE OR REPLACE VIEW ${CLOUDTRAIL_TABLE} AS
SELECT "eventVersion" AS eventversion,
  {'type': "userIdentity".type, 'principalid': "userIdentity"."principalId", 'arn': "userIdentity".arn, 'accountid': "userIdentity"."accountId",
   'accesskeyid': "userIdentity"."accessKeyId",
   'sessioncontext': {'sessionissuer': {'type': "userIdentity"."sessionContext"."sessionIssuer".type, 'arn': "userIdentity"."sessionContext"."sessionIssuer".arn,
     'accountid': "userIdentity"."sessionContext"."sessionIssuer"."accountId", 'username': "userIdentity"."sessionContext"."sessionIssuer"."userName"}}} AS useridentity,
  "eventTime" AS eventtime, "eventSource" AS eventsource, "eventName" AS eventname, "awsRegion" AS awsregion,
  "sourceIPAddress" AS sourceipaddress, "userAgent" AS useragent, "errorCode" AS errorcode, "errorMessage" AS errormessage,
  CAST("requestParameters" AS VARCHAR) AS requestparameters, CAST("responseElements" AS VARCHAR) AS responseelements,
  CAST("additionalEventData" AS VARCHAR) AS additionaleventdata, "requestID" AS requestid, "eventID" AS eventid,
  CAST("readOnly" AS VARCHAR) AS readonly,
  list_transform(resources, r -> {'arn': r."ARN", 'accountid': r."accountId", 'type': r.type}) AS resources,
  "eventType" AS eventtype, "recipientAccountId" AS recipientaccountid, "eventCategory" AS eventcategory,
  ${absent.join(', ')},
  "awsRegion" AS region, replace(substr("eventTime", 1, 10), '-', '/') AS "timestamp"
FROM read_json(${literal(files)}, format = 'newline_delimited', union_by_name = false, columns = {
  "eventVersion": 'VARCHAR',
  "userIdentity": 'STRUCT(type VARCHAR, "principalId" VARCHAR, arn VARCHAR, "accountId" VARCHAR, "accessKeyId" VARCHAR, "sessionContext" STRUCT("sessionIssuer" STRUCT(type VARCHAR, arn VARCHAR, "accountId" VARCHAR, "userName" VARCHAR)))',
  "eventTime": 'VARCHAR', "eventSource": 'VARCHAR', "eventName": 'VARCHAR', "awsRegion": 'VARCHAR',
  "sourceIPAddress": 'VARCHAR', "userAgent": 'VARCHAR', "errorCode": 'VARCHAR', "errorMessage": 'VARCHAR',
  "requestParameters": 'JSON', "responseElements": 'JSON', "additionalEventData": 'JSON',
  "requestID": 'VARCHAR', "eventID": 'VARCHAR', "readOnly": 'BOOLEAN',
  resources: 'STRUCT("ARN" VARCHAR, "accountId" VARCHAR, type VARCHAR)[]',
  "eventType": 'VARCHAR', "recipientAccountId": 'VARCHAR', "eventCategory": 'VARCHAR'
})`;
}
