// What IAM checks for a DynamoDB call: the action(s) from X-Amz-Target, on the table ARN (or the
// index ARN for a Query or Scan with IndexName), with dynamodb:LeadingKeys where it is cheap to
// know. Pure: the local DynamoDB front (local/dynamodb.ts) feeds it the parsed request body.
import type { PolicyValue } from '../kms/policy-evaluator.js';

export interface DynamoDbAccess {
  readonly action: string;
  readonly resource: string;
  readonly context: Readonly<Record<string, PolicyValue>>;
}

export interface DynamoDbScope {
  readonly region: string;
  readonly account: string;
  /** The partition key's attribute name of each known table, for dynamodb:LeadingKeys. */
  readonly hashKeyOf: (table: string) => string | undefined;
}

export const DYNAMODB_TARGET_PREFIX = 'DynamoDB_20120810.';

type Json = Record<string, unknown>;

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A TableName may be a name or (since 2023) a table ARN. */
function tableArn(scope: DynamoDbScope, table: string): string {
  return table.startsWith('arn:') ? table : `arn:aws:dynamodb:${scope.region}:${scope.account}:table/${table}`;
}

function tableNameOf(table: string): string {
  const at = table.indexOf(':table/');
  return table.startsWith('arn:') && at !== -1 ? (table.slice(at + ':table/'.length).split('/')[0] ?? table) : table;
}

/** An AttributeValue as a condition-key string: S and N as written, B as base64. */
function scalarOf(value: unknown): string | undefined {
  if (!isRecord(value)) return undefined;
  for (const type of ['S', 'N', 'B'] as const) if (typeof value[type] === 'string') return value[type];
  return undefined;
}

/** The partition key value a Query asks for: `pk = :v` in KeyConditionExpression, or the legacy KeyConditions. */
function queriedPartition(input: Json, hashKey: string): string | undefined {
  const expression = input['KeyConditionExpression'];
  if (typeof expression === 'string') {
    const names = isRecord(input['ExpressionAttributeNames']) ? input['ExpressionAttributeNames'] : {};
    const values = isRecord(input['ExpressionAttributeValues']) ? input['ExpressionAttributeValues'] : {};
    for (const [, name = '', value = ''] of expression.matchAll(/(#?[A-Za-z0-9_.-]+)\s*=\s*(:[A-Za-z0-9_]+)/g)) {
      const resolved = name.startsWith('#') ? names[name] : name;
      if (resolved === hashKey) return scalarOf(values[value]);
    }
    return undefined;
  }
  const conditions = input['KeyConditions'];
  if (isRecord(conditions) && isRecord(conditions[hashKey])) {
    const condition = conditions[hashKey];
    const list = condition['AttributeValueList'];
    if (condition['ComparisonOperator'] === 'EQ' && Array.isArray(list)) return scalarOf(list[0]);
  }
  return undefined;
}

function leadingKeys(scope: DynamoDbScope, operation: string, table: string, input: Json): Record<string, PolicyValue> {
  const hashKey = scope.hashKeyOf(tableNameOf(table));
  if (hashKey === undefined) return {};
  let value: string | undefined;
  if (operation === 'PutItem') value = isRecord(input['Item']) ? scalarOf(input['Item'][hashKey]) : undefined;
  else if (['GetItem', 'DeleteItem', 'UpdateItem'].includes(operation)) value = isRecord(input['Key']) ? scalarOf(input['Key'][hashKey]) : undefined;
  else if (operation === 'Query') value = queriedPartition(input, hashKey);
  return value === undefined ? {} : { 'dynamodb:LeadingKeys': [value] };
}

const TRANSACT_WRITE_ACTIONS: Readonly<Record<string, string>> = {
  Put: 'dynamodb:PutItem',
  Update: 'dynamodb:UpdateItem',
  Delete: 'dynamodb:DeleteItem',
  ConditionCheck: 'dynamodb:ConditionCheckItem',
};

/** Every (action, resource) the call needs; all must be allowed. */
export function dynamoDbAccessOf(operation: string, input: Json, scope: DynamoDbScope): DynamoDbAccess[] {
  const requestItems = isRecord(input['RequestItems']) ? Object.keys(input['RequestItems']) : [];
  switch (operation) {
    case 'BatchGetItem':
    case 'BatchWriteItem':
      return requestItems.map((table) => ({ action: `dynamodb:${operation}`, resource: tableArn(scope, table), context: {} }));
    case 'TransactGetItems':
    case 'TransactWriteItems': {
      const items = Array.isArray(input['TransactItems']) ? input['TransactItems'] : [];
      return items.flatMap((item: unknown) => {
        if (!isRecord(item)) return [];
        return Object.entries(item).flatMap(([kind, part]) => {
          const action = operation === 'TransactGetItems' ? 'dynamodb:GetItem' : TRANSACT_WRITE_ACTIONS[kind];
          if (action === undefined || !isRecord(part) || typeof part['TableName'] !== 'string') return [];
          return [{ action, resource: tableArn(scope, part['TableName']), context: {} }];
        });
      });
    }
    case 'ListTagsOfResource':
    case 'TagResource':
    case 'UntagResource':
      return [{ action: `dynamodb:${operation}`, resource: typeof input['ResourceArn'] === 'string' ? input['ResourceArn'] : '*', context: {} }];
    default: {
      const table = input['TableName'];
      if (typeof table !== 'string' || table === '') return [{ action: `dynamodb:${operation}`, resource: '*', context: {} }];
      const index = input['IndexName'];
      const onIndex = (operation === 'Query' || operation === 'Scan') && typeof index === 'string' && index !== '';
      return [
        {
          action: `dynamodb:${operation}`,
          resource: onIndex ? `${tableArn(scope, table)}/index/${index}` : tableArn(scope, table),
          context: leadingKeys(scope, operation, table, input),
        },
      ];
    }
  }
}
