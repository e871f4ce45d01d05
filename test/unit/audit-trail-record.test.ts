// The one parser of trail records: a record as AWS delivers it (LookupEvents' CloudTrailEvent, in
// CloudTrail's own field spelling), an Athena result page, and forged or malformed input.
import { describe, expect, it } from 'vitest';
import { eventsFromLookup, rowsFromAthena } from '../../tools/audit/aws-source.js';
import { parseTrailRow, rowFromRecord } from '../../tools/audit/trail-record.js';

const KEY = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const EXPORT = 'arn:aws:iam::111122223333:role/consent-capture-export';
const STEWARD = 'arn:aws:iam::111122223333:role/consent-capture-steward';

/** Shaped as CloudTrail documents a KMS CreateGrant record. */
const createGrant = {
  eventVersion: '1.09',
  userIdentity: {
    type: 'AssumedRole',
    principalId: 'AROAEXAMPLE:steward',
    arn: 'arn:aws:sts::111122223333:assumed-role/consent-capture-steward/steward',
    accountId: '111122223333',
    sessionContext: { sessionIssuer: { type: 'Role', principalId: 'AROAEXAMPLE', arn: STEWARD, accountId: '111122223333', userName: 'consent-capture-steward' } },
  },
  eventTime: '2026-11-30T10:15:42Z',
  eventSource: 'kms.amazonaws.com',
  eventName: 'CreateGrant',
  awsRegion: 'eu-west-1',
  requestParameters: {
    keyId: KEY,
    granteePrincipal: EXPORT,
    retiringPrincipal: EXPORT,
    operations: ['Decrypt'],
    constraints: { encryptionContextSubset: { employeeId: 'e-42' } },
  },
  responseElements: { grantId: 'g-1', keyId: KEY },
  requestID: 'r-1',
  eventID: 'ev-1',
  readOnly: false,
  resources: [{ accountId: '111122223333', type: 'AWS::KMS::Key', ARN: KEY }],
  eventType: 'AwsApiCall',
};

describe('parseTrailRow', () => {
  it('reads a CloudTrail record as LookupEvents delivers it', () => {
    const [event] = eventsFromLookup({ Events: [{ CloudTrailEvent: JSON.stringify(createGrant) }] });

    expect(event).toMatchObject({
      time: '2026-11-30T10:15:42Z',
      eventName: 'CreateGrant',
      principal: STEWARD,
      allowed: true,
      keyArn: KEY,
      grantId: 'g-1',
      grant: { grantee: EXPORT, operations: ['Decrypt'], constraintType: 'EncryptionContextSubset', constraintContext: { employeeId: 'e-42' } },
    });
  });

  it('reads a denied call, with its error code, and the encryption context it asked for', () => {
    const denied = { ...createGrant, eventName: 'GenerateDataKey', errorCode: 'AccessDenied', requestParameters: { keyId: KEY, encryptionContext: { employeeId: 'e-42', scope: 'clicks', batchId: 'b-1' } }, responseElements: null };

    expect(parseTrailRow(rowFromRecord(denied))).toMatchObject({ allowed: false, errorCode: 'AccessDenied', employeeId: 'e-42', scope: 'clicks', grant: undefined });
  });

  it('reads an Athena result page: the header row, derived principal and key columns, NULL for empty cells', () => {
    const page = {
      ResultSet: {
        Rows: [
          { Data: [{ VarCharValue: 'eventtime' }, { VarCharValue: 'eventname' }, { VarCharValue: 'principal' }, { VarCharValue: 'errorcode' }, { VarCharValue: 'keyarn' }, { VarCharValue: 'requestparameters' }] },
          { Data: [{ VarCharValue: '2026-11-30T10:15:42Z' }, { VarCharValue: 'Decrypt' }, { VarCharValue: EXPORT }, {}, { VarCharValue: KEY }, { VarCharValue: '{"encryptionContext":{"employeeId":"e-42"}}' }] },
        ],
      },
    };

    const { header, rows } = rowsFromAthena(page, undefined);
    const next = rowsFromAthena({ ResultSet: { Rows: page.ResultSet.Rows.slice(1) } }, header);

    expect(rows.map(parseTrailRow)).toEqual([expect.objectContaining({ eventName: 'Decrypt', principal: EXPORT, allowed: true, keyArn: KEY, employeeId: 'e-42' })]);
    expect(next.rows).toHaveLength(1);
  });

  it('reads a forged or malformed record as data, never failing: no context, no principal, no key', () => {
    const event = parseTrailRow({ eventtime: 'not a time', eventname: 'Decrypt', requestparameters: '{not json', useridentity: 'x', resources: 'y' });

    expect(event).toMatchObject({ eventName: 'Decrypt', principal: undefined, keyArn: undefined, employeeId: undefined, encryptionContext: {} });
    expect(eventsFromLookup({ Events: [{ CloudTrailEvent: '{broken' }, {}] })).toEqual([]);
  });
});
