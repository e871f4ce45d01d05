// SDK clients, created once per function at module scope. Endpoints and credentials come from
// the standard environment (AWS_ENDPOINT_URL_<SERVICE>, AWS_ACCESS_KEY_ID, …), so the same code
// runs in Lambda and against the local stack.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** The SDK retries throttles and 5xx with backoff itself; our handlers map what remains to 503. */
const MAX_ATTEMPTS = 3;

export function kmsClient(): KMSClient {
  return new KMSClient({ maxAttempts: MAX_ATTEMPTS });
}

export function lambdaClient(): LambdaClient {
  return new LambdaClient({ maxAttempts: MAX_ATTEMPTS });
}

export function documentClient(): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(new DynamoDBClient({ maxAttempts: MAX_ATTEMPTS }), {
    marshallOptions: { removeUndefinedValues: true },
  });
}

export function s3Client(env: NodeJS.ProcessEnv = process.env): S3Client {
  // Path-style is needed by local S3 servers; checksums only when required avoids s3rver
  // corrupting streamed uploads. Both are harmless against AWS.
  const local = env['S3_FORCE_PATH_STYLE'] === 'true';
  return new S3Client({
    maxAttempts: MAX_ATTEMPTS,
    ...(local ? { forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED' as const } : {}),
  });
}

export function sqsClient(): SQSClient {
  return new SQSClient({ maxAttempts: MAX_ATTEMPTS });
}
