// How the local fronts name what IAM checks: DynamoDB actions on table and index ARNs with
// dynamodb:LeadingKeys, S3 actions on bucket and object ARNs with ListBucket's condition keys.
import { describe, expect, it } from 'vitest';
import { dynamoDbAccessOf } from '../../local/iam/dynamodb-access.js';
import { S3RequestError, s3AccessOf, type S3Request } from '../../local/iam/s3-access.js';

const scope = { region: 'eu-west-1', account: '123456789012', hashKeyOf: (t: string) => (t === 'ledger' ? 'pk' : undefined) };
const table = 'arn:aws:dynamodb:eu-west-1:123456789012:table/ledger';

describe('dynamoDbAccessOf', () => {
  it('authorizes a Query with IndexName on the index ARN, with the queried partition as dynamodb:LeadingKeys', () => {
    const access = dynamoDbAccessOf(
      'Query',
      { TableName: 'ledger', IndexName: 'byTime', KeyConditionExpression: '#p = :p AND sk > :s', ExpressionAttributeNames: { '#p': 'pk' }, ExpressionAttributeValues: { ':p': { S: 'e-1' }, ':s': { S: 'a' } } },
      scope,
    );

    expect(access).toEqual([{ action: 'dynamodb:Query', resource: `${table}/index/byTime`, context: { 'dynamodb:LeadingKeys': ['e-1'] } }]);
  });

  it('takes LeadingKeys from the Item of a PutItem and the Key of a GetItem', () => {
    expect(dynamoDbAccessOf('PutItem', { TableName: 'ledger', Item: { pk: { S: 'e-2' }, sk: { S: 'x' } } }, scope)[0]?.context).toEqual({ 'dynamodb:LeadingKeys': ['e-2'] });
    expect(dynamoDbAccessOf('GetItem', { TableName: 'ledger', Key: { pk: { S: 'e-3' }, sk: { S: 'x' } } }, scope)[0]?.context).toEqual({ 'dynamodb:LeadingKeys': ['e-3'] });
  });

  it('authorizes each table of a BatchWriteItem, and each item of a TransactWriteItems by its own action', () => {
    expect(dynamoDbAccessOf('BatchWriteItem', { RequestItems: { ledger: [], other: [] } }, scope).map((a) => [a.action, a.resource])).toEqual([
      ['dynamodb:BatchWriteItem', table],
      ['dynamodb:BatchWriteItem', 'arn:aws:dynamodb:eu-west-1:123456789012:table/other'],
    ]);
    expect(
      dynamoDbAccessOf('TransactWriteItems', { TransactItems: [{ Put: { TableName: 'ledger' } }, { Delete: { TableName: 'ledger' } }, { ConditionCheck: { TableName: 'ledger' } }] }, scope).map((a) => a.action),
    ).toEqual(['dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:ConditionCheckItem']);
  });

  it('accepts a table ARN as TableName', () => {
    expect(dynamoDbAccessOf('GetItem', { TableName: table, Key: { pk: { S: 'e' } } }, scope)[0]).toMatchObject({ resource: table, context: { 'dynamodb:LeadingKeys': ['e'] } });
  });
});

const s3 = (method: string, path: string, query: [string, string][] = [], body = '', headers: Record<string, string> = {}): S3Request => ({ method, path, query, headers, body: Buffer.from(body) });

describe('s3AccessOf', () => {
  it('maps ListObjectsV2 to s3:ListBucket on the bucket ARN with s3:prefix, s3:delimiter and s3:max-keys', () => {
    expect(s3AccessOf(s3('GET', '/b', [['list-type', '2'], ['prefix', 'captures/e/'], ['delimiter', '/'], ['max-keys', '10']]))).toEqual([
      { action: 's3:ListBucket', bucket: 'b', resource: 'arn:aws:s3:::b', context: { 's3:prefix': 'captures/e/', 's3:delimiter': '/', 's3:max-keys': '10' } },
    ]);
  });

  it('maps object calls to their actions on the object ARN', () => {
    const action = (method: string, query: [string, string][] = []) => s3AccessOf(s3(method, '/b/k/1', query)).map((a) => [a.action, a.resource]);
    expect(action('GET')).toEqual([['s3:GetObject', 'arn:aws:s3:::b/k/1']]);
    expect(action('HEAD')).toEqual([['s3:GetObject', 'arn:aws:s3:::b/k/1']]);
    expect(action('PUT')).toEqual([['s3:PutObject', 'arn:aws:s3:::b/k/1']]);
    expect(action('POST', [['uploads', '']])).toEqual([['s3:PutObject', 'arn:aws:s3:::b/k/1']]);
    expect(action('PUT', [['partNumber', '1'], ['uploadId', 'u']])).toEqual([['s3:PutObject', 'arn:aws:s3:::b/k/1']]);
    expect(action('DELETE', [['uploadId', 'u']])).toEqual([['s3:AbortMultipartUpload', 'arn:aws:s3:::b/k/1']]);
    expect(action('DELETE')).toEqual([['s3:DeleteObject', 'arn:aws:s3:::b/k/1']]);
    expect(s3AccessOf(s3('GET', '/b', [['location', '']]))[0]?.action).toBe('s3:GetBucketLocation');
  });

  it('maps DeleteObjects to s3:DeleteObject on every key, XML entities decoded', () => {
    const body = '<Delete><Object><Key>captures/a</Key></Object><Object><Key>x&amp;y</Key></Object></Delete>';

    expect(s3AccessOf(s3('POST', '/b', [['delete', '']], body)).map((a) => a.resource)).toEqual(['arn:aws:s3:::b/captures/a', 'arn:aws:s3:::b/x&y']);
  });

  it('refuses a DeleteObjects body that names no key', () => {
    expect(() => s3AccessOf(s3('POST', '/b', [['delete', '']], '<Delete></Delete>'))).toThrow(S3RequestError);
  });

  it('asks for GetObject on the source of a copy', () => {
    expect(s3AccessOf(s3('PUT', '/b/dst', [], '', { 'x-amz-copy-source': '/src/captures%2Fk' })).map((a) => [a.action, a.resource])).toEqual([
      ['s3:PutObject', 'arn:aws:s3:::b/dst'],
      ['s3:GetObject', 'arn:aws:s3:::src/captures/k'],
    ]);
  });
});
