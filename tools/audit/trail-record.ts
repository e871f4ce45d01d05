// The one parser of trail records, local or AWS: every source first brings a record to the row
// shape of the Athena CloudTrail table (contract/audit-trail.ts), and `parseTrailRow` reads that
// row into what the audit needs. A record is untrusted input: a forged field is read, never run.

/** A row of the `cloudtrail` table, as Athena and the local DuckDB view answer it. */
export interface TrailRow {
  readonly eventtime: string;
  readonly eventsource?: string | null;
  readonly eventname: string;
  readonly eventid?: string | null;
  readonly errorcode?: string | null;
  readonly useridentity?: unknown;
  /** JSON text, as the table declares it (a string column). */
  readonly requestparameters?: string | null;
  readonly responseelements?: string | null;
  readonly resources?: unknown;
  /** Derived columns of a named query; Athena renders structs as text, so its rows carry these instead. */
  readonly principal?: string | null;
  readonly keyarn?: string | null;
}

/** A grant as CreateGrant asked for it. */
export interface GrantRequest {
  readonly grantee: string | undefined;
  readonly operations: readonly string[];
  /** `EncryptionContextSubset` or `EncryptionContextEquals`, when constrained. */
  readonly constraintType: string | undefined;
  readonly constraintContext: Readonly<Record<string, string>>;
}

/** What the audit reads of one KMS call. */
export interface AuditEvent {
  readonly time: string;
  readonly eventName: string;
  readonly eventSource: string;
  readonly eventId: string;
  /** The role (session issuer) that called, else the caller's own ARN. */
  readonly principal: string | undefined;
  readonly allowed: boolean;
  readonly errorCode: string | undefined;
  readonly keyArn: string | undefined;
  readonly encryptionContext: Readonly<Record<string, string>>;
  readonly employeeId: string | undefined;
  readonly scope: string | undefined;
  /** The policy text of a PutKeyPolicy or CreateKey. */
  readonly policy: string | undefined;
  readonly grant: GrantRequest | undefined;
  /** A CreateGrant's answer, or the grant a RetireGrant/RevokeGrant names. */
  readonly grantId: string | undefined;
  readonly aliasName: string | undefined;
  readonly targetKeyId: string | undefined;
  readonly deletionDate: string | undefined;
  readonly tags: Readonly<Record<string, string>>;
}

type Json = Record<string, unknown>;

function object(value: unknown): Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : {};
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function parseJsonText(value: unknown): Json {
  if (typeof value !== 'string' || value === '') return object(value);
  try {
    return object(JSON.parse(value));
  } catch {
    return {};
  }
}

function stringMap(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(object(value))) if (typeof v === 'string') out[k] = v;
  return out;
}

/** A field by its lowercase name: Athena's structs are lowercase, CloudTrail's JSON is camelCase. */
function field(source: Json, name: string): unknown {
  if (name in source) return source[name];
  const key = Object.keys(source).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : source[key];
}

/** CloudTrail's ISO time to the table's `yyyy-MM-ddTHH:mm:ssZ`. */
function trailTime(value: string): string {
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? value : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function parseTrailRow(row: TrailRow): AuditEvent {
  const identity = object(row.useridentity);
  const issuer = object(field(object(field(identity, 'sessioncontext')), 'sessionissuer'));
  const request = parseJsonText(row.requestparameters);
  const response = parseJsonText(row.responseelements);
  const resources = Array.isArray(row.resources) ? row.resources.map(object) : [];
  const firstResource = resources[0];
  const context = stringMap(request['encryptionContext']);
  const constraints = object(request['constraints']);
  // CloudTrail writes `encryptionContextSubset`; a caller's own spelling (`EncryptionContextSubset`) is read the same.
  const equals = field(constraints, 'encryptioncontextequals');
  const subset = field(constraints, 'encryptioncontextsubset');
  const constraintType = equals !== undefined ? 'EncryptionContextEquals' : subset !== undefined ? 'EncryptionContextSubset' : undefined;
  const tags: Record<string, string> = {};
  if (Array.isArray(request['tags'])) {
    for (const tag of request['tags'].map(object)) {
      const key = text(tag['tagKey'] ?? tag['TagKey']);
      const value = text(tag['tagValue'] ?? tag['TagValue']);
      if (key !== undefined && value !== undefined) tags[key] = value;
    }
  }
  const deletionDate = text(response['deletionDate']);
  return {
    time: trailTime(row.eventtime),
    eventName: row.eventname,
    eventSource: row.eventsource ?? '',
    eventId: row.eventid ?? '',
    principal: text(row.principal) ?? text(field(issuer, 'arn')) ?? text(field(identity, 'arn')),
    allowed: row.errorcode === null || row.errorcode === undefined || row.errorcode === '',
    errorCode: row.errorcode ?? undefined,
    keyArn: text(row.keyarn) ?? (firstResource === undefined ? undefined : text(field(firstResource, 'arn'))),
    encryptionContext: context,
    employeeId: context['employeeId'],
    scope: context['scope'],
    policy: text(request['policy']),
    grant:
      row.eventname === 'CreateGrant'
        ? {
            grantee: text(request['granteePrincipal']),
            operations: Array.isArray(request['operations']) ? request['operations'].filter((o): o is string => typeof o === 'string') : [],
            constraintType,
            constraintContext: stringMap(equals ?? subset),
          }
        : undefined,
    grantId: text(response['grantId']) ?? text(request['grantId']),
    aliasName: text(request['aliasName']),
    targetKeyId: text(request['targetKeyId']),
    deletionDate,
    tags,
  };
}

/**
 * A CloudTrail record as delivered (JSON, camelCase: a local trail line, a LookupEvents
 * `CloudTrailEvent`, an S3 log file's `Records[]`) in the table's row shape.
 */
export function rowFromRecord(record: unknown): TrailRow {
  const r = object(record);
  const json = (value: unknown): string | null => (value === undefined || value === null ? null : JSON.stringify(value));
  return {
    eventtime: text(r['eventTime']) ?? '',
    eventsource: text(r['eventSource']) ?? null,
    eventname: text(r['eventName']) ?? '',
    eventid: text(r['eventID']) ?? null,
    errorcode: text(r['errorCode']) ?? null,
    useridentity: r['userIdentity'],
    requestparameters: json(r['requestParameters']),
    responseelements: json(r['responseElements']),
    resources: r['resources'],
  };
}
