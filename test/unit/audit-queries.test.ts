// The named queries' Athena text against the Glue table's columns, and the one dialect difference
// DuckDB needs, without a stack.
import { describe, expect, it } from 'vitest';
import { AUDIT_QUERIES, auditQuery } from '../../contract/audit-queries.js';
import { unknownColumns } from '../../tools/audit/query-columns.js';
import { toDuckDb } from '../../tools/audit/sql-dialect.js';

describe('the named queries', () => {
  it.each(AUDIT_QUERIES.map((q) => [q.name, q] as const))('%s reads only columns and struct fields the CloudTrail table declares', (_name, query) => {
    expect(unknownColumns(query.sql)).toEqual([]);
  });

  it.each(AUDIT_QUERIES.map((q) => [q.name, q] as const))('%s has one parameter name per placeholder', (_name, query) => {
    expect(query.sql.split('?').length - 1).toBe(query.parameters.length);
  });

  it('catches a column the table does not have, a struct field it does not have, and an element field', () => {
    expect(unknownColumns('SELECT eventtime, keyid FROM cloudtrail')).toEqual(['keyid']);
    expect(unknownColumns('SELECT useridentity.sessioncontext.sessionissuer.role FROM cloudtrail')).toEqual(['useridentity.sessioncontext.sessionissuer.role']);
    expect(unknownColumns('SELECT element_at(resources, 1).name AS k FROM cloudtrail')).toEqual(['resources[].name']);
    expect(unknownColumns("SELECT json_extract_scalar(requestparameters, '$.keyId') AS keyid FROM cloudtrail WHERE \"timestamp\" > ?")).toEqual([]);
  });

  it('names the known queries when asked for an unknown one', () => {
    expect(() => auditQuery('nope')).toThrow(/employee-key-timeline/);
  });
});

describe('toDuckDb', () => {
  it("rewrites Athena's element_at on an array to DuckDB's subscript, and leaves the rest alone", () => {
    expect(toDuckDb("SELECT element_at(resources, 1).arn FROM cloudtrail WHERE x = 'element_at'")).toBe("SELECT resources[1].arn FROM cloudtrail WHERE x = 'element_at'");
  });
});
