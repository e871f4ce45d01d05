// The local stack as tools and tests use it: stack.json, the gateway's authorizer and event
// shape, functions running as their own principals, the queue's delivery semantics, s3rver
// pagination, and state that survives a restart. Handlers are fixtures (test/fixtures).
import { readFileSync, statSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { ListAliasesCommand } from '@aws-sdk/client-kms';
import { GetObjectCommand, HeadBucketCommand, ListObjectsV2Command, paginateListObjectsV2, PutObjectCommand } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, GetQueueUrlCommand, SendMessageBatchCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEventV2WithJWTAuthorizer, SQSRecord } from 'aws-lambda';
import { decodeProtectedHeader, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IDLE_CONNECTION_TIMEOUT_MS } from '../../local/keep-alive.js';
import { LOCAL_RESOURCES } from '../../local/stack.js';
import { pollUntil, startTestStack, type TestStack } from '../support/local-stack.js';

// Every function is a fixture, so these tests do not depend on the handlers' own behaviour.
const FIXTURES = {
  consent: { entry: 'test/fixtures/echo-handler.ts' },
  ingest: { entry: 'test/fixtures/echo-handler.ts' },
  purge: { entry: 'test/fixtures/queue-handler.ts' },
  'key-sync': { entry: 'test/fixtures/queue-handler.ts' },
} as const;
const PURGE_QUEUE = LOCAL_RESOURCES.queues.purge;
/** The purge queue delivers one job at a time (batch size 1); key-sync's batches show partial failures. */
const BATCHED_QUEUE = LOCAL_RESOURCES.queues.keySync;

interface Delivery {
  batchSize: number;
  principal: string;
  record: Omit<SQSRecord, 'receiptHandle'>;
}

function deliveries(t: TestStack, tag: string, worker = 'purge'): Delivery[] {
  return t
    .logs(worker)
    .filter((line) => line.startsWith('{"fixture":"delivery"'))
    .map((line) => JSON.parse(line) as Delivery)
    .filter((d) => d.record.body.includes(`"tag":"${tag}"`));
}

function modeOf(path: string): number {
  return statSync(path).mode & 0o777;
}

describe('local stack', () => {
  let t: TestStack;

  beforeAll(async () => {
    t = await startTestStack({ functions: FIXTURES });
  });
  afterAll(async () => {
    await t?.close();
  });

  describe('start-up', () => {
    it('writes stack.json with every field of the contract, readable only by the user', async () => {
      // Arrange
      const { readFile } = await import('node:fs/promises');
      const file = join(t.localDir, 'stack.json');

      // Act
      const stack = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;

      // Assert
      expect(modeOf(file)).toBe(0o600);
      expect(stack).toEqual({
        api: t.api,
        region: 'us-east-1',
        account: expect.stringMatching(/^\d{12}$/),
        endpoints: {
          kms: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
          s3: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
          dynamodb: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
          lambda: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
        },
        principals: Object.fromEntries(
          ['ingest', 'consent', 'export', 'purge', 'steward', 'datasets', 'training', 'policy-watch', 'admin', 'auditor'].map((name) => [
            name,
            { arn: expect.stringMatching(new RegExp(`^arn:aws:iam::\\d{12}:role/consent-capture-${name}$`)), accessKeyId: expect.any(String), secretAccessKey: expect.any(String) },
          ]),
        ),
        buckets: { captures: LOCAL_RESOURCES.buckets.captures, exports: LOCAL_RESOURCES.buckets.exports },
        tables: { ledger: LOCAL_RESOURCES.tables.ledger, batches: LOCAL_RESOURCES.tables.batches, exportJobs: LOCAL_RESOURCES.tables.exportJobs, datasets: LOCAL_RESOURCES.tables.datasets },
        trail: expect.stringMatching(/cloudtrail$/),
        issuer: { issuer: 'http://127.0.0.1/consent-capture-local', audience: 'consent-capture' },
      });
      expect(t.api).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    });

    it('keeps an idle connection open for a minute on every endpoint, and says so (local/keep-alive.ts)', async () => {
      // Arrange
      const urls = [t.api, ...Object.values(t.stack.endpoints)];
      const agent = new Agent({ keepAlive: true });

      // Act: any answer will do (most refuse an unsigned request); the header is the server's.
      const hints = await Promise.all(
        urls.map(
          (url) =>
            new Promise<string | undefined>((resolve, reject) => {
              const req = httpRequest(url, { agent, method: 'GET' }, (res) => {
                res.resume();
                res.on('end', () => resolve(String(res.headers['keep-alive'])));
              });
              req.on('error', reject);
              req.end();
            }),
        ),
      );
      agent.destroy();

      // Assert
      expect(urls).toHaveLength(6);
      expect(hints).toEqual(urls.map(() => `timeout=${IDLE_CONNECTION_TIMEOUT_MS / 1000}`));
    });

    it("says so on the answers the S3 and DynamoDB fronts forward from their emulators too, not the emulators' own", async () => {
      // Arrange: signed calls the fronts allow, so the answer is the emulator's.
      const s3 = t.s3('admin');
      const dynamodb = t.dynamodb('admin');
      const hints: string[] = [];
      const record = { step: 'deserialize', name: 'recordKeepAlive' } as const;
      const keepAliveOf = <I, O>(next: (args: I) => Promise<O>) => async (args: I): Promise<O> => {
        const out = await next(args);
        hints.push(String((out as { response?: { headers?: Record<string, string> } }).response?.headers?.['keep-alive']));
        return out;
      };
      s3.middlewareStack.add(keepAliveOf, record);
      dynamodb.middlewareStack.add(keepAliveOf, record);

      // Act
      const bucket = await s3.send(new HeadBucketCommand({ Bucket: t.stackFile.buckets?.captures }));
      const table = await dynamodb.send(new DescribeTableCommand({ TableName: t.stackFile.tables?.ledger }));

      // Assert
      expect([bucket.$metadata.httpStatusCode, table.Table?.TableStatus]).toEqual([200, 'ACTIVE']);
      expect(hints).toEqual([`timeout=${IDLE_CONNECTION_TIMEOUT_MS / 1000}`, `timeout=${IDLE_CONNECTION_TIMEOUT_MS / 1000}`]);
    });

    it('leaves no trace in the CloudTrail records by checking that the KMS is up', () => {
      const probes = t.trail().filter((r) => r.userIdentity.type === 'Unknown');
      expect(probes).toEqual([]);
    });

    it('keeps the issuer key pair in issuer.json, readable only by the user', () => {
      expect(modeOf(join(t.localDir, 'issuer.json'))).toBe(0o600);
    });

    it('answers on every endpoint as the service it stands for', async () => {
      // Arrange
      const { stackFile } = t;
      const queueUrl = t.stack.queues.queueUrl(PURGE_QUEUE);

      // Act
      const [aliases, table, captures, exportsBucket, queue, api] = await Promise.all([
        t.kms('auditor').send(new ListAliasesCommand({})),
        t.dynamodb('admin').send(new DescribeTableCommand({ TableName: stackFile.tables?.ledger })),
        // HeadBucket is s3:ListBucket without a prefix: no function role may, the administrator may.
        t.s3('admin').send(new HeadBucketCommand({ Bucket: stackFile.buckets?.captures })),
        t.s3('admin').send(new HeadBucketCommand({ Bucket: stackFile.buckets?.exports })),
        t.sqs('consent').send(new GetQueueUrlCommand({ QueueName: PURGE_QUEUE })),
        // `/` is the employee portal now; an unknown API path is the gateway's own 404.
        t.request('GET', '/v1/no-such-route'),
      ]);

      // Assert
      expect(aliases.Aliases).toBeDefined();
      expect(table.Table?.TableStatus).toBe('ACTIVE');
      expect(table.Table?.KeySchema).toEqual([
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ]);
      expect(captures.$metadata.httpStatusCode).toBe(200);
      expect(exportsBucket.$metadata.httpStatusCode).toBe(200);
      expect(queue.QueueUrl).toBe(queueUrl);
      expect(api.status).toBe(404);
    });
  });

  describe('gateway authorizer', () => {
    it('answers 401 with WWW-Authenticate when the token is missing', async () => {
      const response = await t.request('GET', '/v1/consent');
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(response.json()).toMatchObject({ error: 'unauthorized', message: expect.stringContaining('bearer token') });
    });

    it('answers 401 for an expired token', async () => {
      const token = await t.token('e-1', 'consent:manage', -60);
      const response = await t.request('GET', '/v1/consent', { token });
      expect(response.status).toBe(401);
      expect(response.json()).toMatchObject({ error: 'unauthorized', message: expect.stringContaining('expired') });
    });

    it('answers 401 for a token signed by another key', async () => {
      // Arrange: same algorithm, kid, issuer and audience; only the key differs.
      const { privateKey } = await generateKeyPair('RS256');
      const now = Math.floor(Date.now() / 1000);
      const forged = await new SignJWT({ scope: 'consent:manage' })
        .setProtectedHeader({ alg: 'RS256', kid: t.stack.issuer.kid })
        .setIssuer(t.stack.issuer.issuer)
        .setAudience(t.stack.issuer.audience)
        .setSubject('e-1')
        .setIssuedAt(now)
        .setExpirationTime(now + 300)
        .sign(privateKey);

      // Act
      const response = await t.request('GET', '/v1/consent', { token: forged });

      // Assert
      expect(response.status).toBe(401);
      expect(response.json()).toMatchObject({ error: 'unauthorized', message: expect.stringContaining('signature') });
    });

    it('accepts the local issuer\'s tokens, which are RS256 as API Gateway requires', async () => {
      const token = await t.token('e-1', 'consent:manage');
      const response = await t.request('GET', '/v1/consent', { token });
      expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'RS256', kid: t.stack.issuer.kid });
      expect(response.status).toBe(200);
    });

    describe('refuses any algorithm but RS256 (an HTTP API JWT authorizer verifies only RSA signatures)', () => {
      const claims = () => {
        const now = Math.floor(Date.now() / 1000);
        return { iss: t.stack.issuer.issuer, aud: t.stack.issuer.audience, sub: 'e-1', scope: 'consent:manage', iat: now, exp: now + 300 };
      };
      const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

      it('refuses ES256, even with the issuer\'s kid and claims', async () => {
        const { privateKey } = await generateKeyPair('ES256');
        const token = await new SignJWT(claims()).setProtectedHeader({ alg: 'ES256', kid: t.stack.issuer.kid }).sign(privateKey);
        const response = await t.request('GET', '/v1/consent', { token });
        expect(response.status).toBe(401);
        expect(response.json()).toMatchObject({ error: 'unauthorized', message: 'the token is signed with ES256; this API accepts only RS256' });
      });

      it('refuses HS256 keyed with the issuer\'s own public key (algorithm confusion)', async () => {
        const { publicJwk } = JSON.parse(readFileSync(join(t.stack.localDir, 'issuer.json'), 'utf8')) as { publicJwk: object };
        const secret = new TextEncoder().encode(JSON.stringify(publicJwk));
        const token = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: t.stack.issuer.kid }).sign(secret);
        const response = await t.request('GET', '/v1/consent', { token });
        expect(response.status).toBe(401);
        expect(response.json()).toMatchObject({ message: 'the token is signed with HS256; this API accepts only RS256' });
      });

      it('refuses an unsigned token (alg none)', async () => {
        const token = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims())}.`;
        const response = await t.request('GET', '/v1/consent', { token });
        expect(response.status).toBe(401);
        expect(response.json()).toMatchObject({ message: 'the token is signed with none; this API accepts only RS256' });
      });

      it('refuses a token whose header names no algorithm', async () => {
        const token = `${b64({ typ: 'JWT' })}.${b64(claims())}.c2ln`;
        const response = await t.request('GET', '/v1/consent', { token });
        expect(response.status).toBe(401);
        expect(response.json()).toMatchObject({ message: 'the token is signed with no algorithm; this API accepts only RS256' });
      });
    });

    it('answers 401 for a token minted for another audience', async () => {
      const token = await t.stack.issuer.mint({ subject: 'e-1', scope: 'consent:manage', audience: 'another-api' });
      const response = await t.request('GET', '/v1/consent', { token });
      expect(response.status).toBe(401);
      expect(response.json()).toMatchObject({ error: 'unauthorized', message: expect.stringContaining('audience') });
    });

    it('answers 401 for a token from another issuer', async () => {
      const token = await t.stack.issuer.mint({ subject: 'e-1', scope: 'consent:manage', issuer: 'https://idp.example.com/' });
      const response = await t.request('GET', '/v1/consent', { token });
      expect(response.status).toBe(401);
      expect(response.json()).toMatchObject({ error: 'unauthorized', message: expect.stringContaining('issuer') });
    });

    it('answers 401 for a malformed token', async () => {
      const response = await t.request('GET', '/v1/consent', { token: 'not.a.jwt' });
      expect(response.status).toBe(401);
      expect(response.json()).toMatchObject({ error: 'unauthorized' });
    });

    it('answers 403 when the token has none of the route scopes', async () => {
      const token = await t.token('e-1', 'capture:write');
      const response = await t.request('POST', '/v1/consent/pause', { token, body: { minutes: 5 } });
      expect(response.status).toBe(403);
      expect(response.json()).toMatchObject({ error: 'forbidden', message: expect.stringContaining('consent:manage') });
    });

    it('accepts a token holding any one of the route scopes', async () => {
      const token = await t.token('agent-1', 'capture:write');
      const response = await t.request('GET', '/v1/consent', { token });
      expect(response.status).toBe(200);
    });

    it('answers 404 for a path no route has, before asking for a token', async () => {
      const response = await t.request('GET', '/v1/nothing-here');
      expect(response.status).toBe(404);
      expect(response.json()).toMatchObject({ error: 'not-found' });
    });

    it('answers 405 with Allow for a known path and the wrong method', async () => {
      const token = await t.token('e-1', 'consent:manage');
      const response = await t.request('DELETE', '/v1/consent', { token });
      expect(response.status).toBe(405);
      expect(response.headers.get('allow')).toBe('POST, GET');
      expect(response.json()).toMatchObject({ error: 'method-not-allowed' });
    });

    it('answers 413 for a body over API Gateway’s 10 MiB', async () => {
      const token = await t.token('e-1', 'consent:manage');
      const response = await t.request('POST', '/v1/consent', { token, body: Buffer.alloc(10 * 1024 * 1024 + 1, 0x61), headers: { 'content-type': 'text/plain' } });
      expect(response.status).toBe(413);
      expect(response.json()).toMatchObject({ error: 'payload-too-large' });
    });
  });

  describe('events and results', () => {
    it('gives the function an API Gateway v2 event with the JWT claims as strings', async () => {
      // Arrange
      const token = await t.token('hr-7', 'capture:offboard consent:manage');

      // Act
      const response = await t.request('POST', '/v1/employees/e%2D42/offboard?reason=left&x=1&x=2', {
        token,
        body: { note: 'äöü' },
        headers: { 'X-Custom': 'A', cookie: 'a=1; b=2', 'user-agent': 'agent/1.0' },
      });

      // Assert
      expect(response.status).toBe(200);
      const { event } = response.json<{ event: APIGatewayProxyEventV2WithJWTAuthorizer }>();
      expect(event).toMatchObject({
        version: '2.0',
        routeKey: 'POST /v1/employees/{employeeId}/offboard',
        rawPath: '/v1/employees/e%2D42/offboard',
        rawQueryString: 'reason=left&x=1&x=2',
        cookies: ['a=1', 'b=2'],
        queryStringParameters: { reason: 'left', x: '1,2' },
        pathParameters: { employeeId: 'e-42' },
        isBase64Encoded: false,
        body: '{"note":"äöü"}',
        requestContext: {
          accountId: t.stackFile.account,
          http: { method: 'POST', path: '/v1/employees/e%2D42/offboard', sourceIp: '127.0.0.1', userAgent: 'agent/1.0' },
          routeKey: 'POST /v1/employees/{employeeId}/offboard',
          stage: '$default',
          requestId: response.headers.get('apigw-requestid'),
          authorizer: {
            jwt: {
              claims: { sub: 'hr-7', scope: 'capture:offboard consent:manage', iss: t.stack.issuer.issuer, aud: 'consent-capture', exp: expect.stringMatching(/^\d+$/), iat: expect.stringMatching(/^\d+$/) },
              scopes: ['capture:offboard', 'consent:manage'],
            },
          },
        },
      });
      expect(event.headers).toMatchObject({ 'x-custom': 'A', 'content-type': 'application/json', authorization: `Bearer ${token}` });
      expect(event.headers['cookie']).toBeUndefined();
      expect(event.requestContext.timeEpoch).toBeGreaterThan(Date.now() - 60_000);
      expect(response.headers.get('x-request-id')).toBe(response.headers.get('apigw-requestid'));
    });

    it('passes a body that is not text as base64', async () => {
      const token = await t.token('e-1', 'consent:manage');
      const response = await t.request('POST', '/v1/consent', { token, body: Buffer.from([0xff, 0x00, 0x10]), headers: { 'content-type': 'application/octet-stream' } });
      const { event } = response.json<{ event: APIGatewayProxyEventV2WithJWTAuthorizer }>();
      expect(event.isBase64Encoded).toBe(true);
      expect(event.body).toBe(Buffer.from([0xff, 0x00, 0x10]).toString('base64'));
    });

    it("writes the function's structured result: status, headers and a base64 body", async () => {
      const token = await t.token('e-1', 'consent:manage');
      const response = await fetch(`${t.api}/v1/consent`, { headers: { authorization: `Bearer ${token}`, 'x-fixture': 'binary' } });
      expect(response.status).toBe(201);
      expect(response.headers.get('x-answer')).toBe('42');
      expect(Buffer.from(await response.arrayBuffer())).toEqual(Buffer.from([0, 1, 2, 255]));
    });

    it('answers 200 JSON for a result without statusCode, as API Gateway does', async () => {
      const token = await t.token('e-1', 'consent:manage');
      const response = await t.request('GET', '/v1/consent', { token, headers: { 'x-fixture': 'plain' } });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('application/json');
      expect(response.json()).toEqual({ plain: true });
    });

    it('answers a generic 500 when the handler throws, and keeps the detail out of the answer', async () => {
      const token = await t.token('e-1', 'consent:manage');
      const response = await t.request('GET', '/v1/consent', { token, headers: { 'x-fixture': 'throw' } });
      expect(response.status).toBe(500);
      expect(response.json()).toEqual({ error: 'internal', message: 'internal server error' });
      expect(response.text).not.toMatch(/secret|fixture|at /);
      expect(t.notes().some((n) => n.includes(response.headers.get('apigw-requestid') ?? '?') && n.includes('fixture failure'))).toBe(true);
    });

    it('answers 500 when the runtime crashes, and serves the next request from a fresh one', async () => {
      // Arrange
      const token = await t.token('e-1', 'consent:manage');

      // Act
      const crashed = await t.request('GET', '/v1/consent', { token, headers: { 'x-fixture': 'crash' } });
      const next = await t.request('GET', '/v1/consent', { token });

      // Assert
      expect(crashed.status).toBe(500);
      expect(crashed.json()).toEqual({ error: 'internal', message: 'internal server error' });
      expect(next.status).toBe(200);
    });

    it("runs the function with its own principal's credentials and environment only", async () => {
      const token = await t.token('e-1', 'consent:manage');
      const response = await t.request('GET', '/v1/consent', { token });
      const { env, context } = response.json<{ env: Record<string, string | null>; context: Record<string, unknown> }>();
      expect(context).toEqual({
        functionName: 'consent-capture-consent',
        invokedFunctionArn: `arn:aws:lambda:us-east-1:${t.stackFile.account}:function:consent-capture-consent`,
        awsRequestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
        remainingMs: expect.any(Number),
      });
      expect(env).toEqual({
        accessKeyId: t.stackFile.principals.consent.accessKeyId,
        region: 'us-east-1',
        ledgerTable: LOCAL_RESOURCES.tables.ledger,
        queueUrl: t.stack.queues.queueUrl(PURGE_QUEUE),
        kmsEndpoint: t.stackFile.endpoints.kms,
        s3ForcePathStyle: 'true',
        home: null,
      });
    });
  });

  describe('queue', () => {
    it('delivers what a function sends as an SQS event to the worker, as the worker principal', async () => {
      // Arrange
      const token = await t.token('e-1', 'consent:manage');

      // Act
      const sent = await t.request('POST', '/v1/consent', { token, headers: { 'x-fixture': 'enqueue' }, body: { tag: 'api-to-worker', employeeId: 'e-1' } });
      const [delivery] = await pollUntil(() => deliveries(t, 'api-to-worker').length > 0 && deliveries(t, 'api-to-worker'), { what: 'a delivery' });
      await t.stack.queues.idle(PURGE_QUEUE);

      // Assert
      expect(sent.status).toBe(202);
      const consent = t.stack.identity.principals.consent;
      expect(delivery?.principal).toBe(t.stackFile.principals.purge.accessKeyId);
      expect(delivery?.record).toEqual({
        messageId: sent.json().messageId,
        body: '{"tag":"api-to-worker","employeeId":"e-1"}',
        attributes: {
          ApproximateReceiveCount: '1',
          SentTimestamp: expect.stringMatching(/^\d+$/),
          SenderId: `${consent.roleId}:${consent.roleName}-session`,
          ApproximateFirstReceiveTimestamp: expect.stringMatching(/^\d+$/),
        },
        messageAttributes: {},
        md5OfBody: expect.stringMatching(/^[0-9a-f]{32}$/),
        eventSource: 'aws:sqs',
        eventSourceARN: `arn:aws:sqs:us-east-1:${t.stackFile.account}:${PURGE_QUEUE}`,
        awsRegion: 'us-east-1',
      });
      expect(deliveries(t, 'api-to-worker')).toHaveLength(1);
    });

    it('retries only the records listed in batchItemFailures', async () => {
      // Arrange
      const sqs = t.sqs('consent');
      const QueueUrl = t.stack.queues.queueUrl(BATCHED_QUEUE);

      // Act
      await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl,
          Entries: [
            { Id: 'a', MessageBody: '{"tag":"partial-ok-a"}' },
            { Id: 'b', MessageBody: '{"tag":"partial-fail","mode":"fail","until":1}' },
            { Id: 'c', MessageBody: '{"tag":"partial-ok-c"}' },
          ],
        }),
      );
      await t.stack.queues.idle(BATCHED_QUEUE);

      // Assert
      expect(deliveries(t, 'partial-ok-a', 'key-sync')).toHaveLength(1);
      expect(deliveries(t, 'partial-ok-c', 'key-sync')).toHaveLength(1);
      expect(deliveries(t, 'partial-fail', 'key-sync').map((d) => d.record.attributes.ApproximateReceiveCount)).toEqual(['1', '2']);
      expect(deliveries(t, 'partial-ok-a', 'key-sync')[0]?.batchSize).toBe(3);
    });

    it('retries every record of a batch whose handler throws', async () => {
      const QueueUrl = t.stack.queues.queueUrl(BATCHED_QUEUE);
      await t.sqs('consent').send(
        new SendMessageBatchCommand({
          QueueUrl,
          Entries: [
            { Id: 'x', MessageBody: '{"tag":"throw-x","mode":"throw","until":1}' },
            { Id: 'y', MessageBody: '{"tag":"throw-y"}' },
          ],
        }),
      );
      await t.stack.queues.idle(BATCHED_QUEUE);
      expect(deliveries(t, 'throw-x', 'key-sync')).toHaveLength(2);
      expect(deliveries(t, 'throw-y', 'key-sync')).toHaveLength(2);
    });

    it('moves a message that keeps failing to the dead-letter file after 5 receives', async () => {
      // Act
      const sent = await t.sqs('consent').send(new SendMessageCommand({ QueueUrl: t.stack.queues.queueUrl(PURGE_QUEUE), MessageBody: '{"tag":"poison","mode":"fail"}' }));
      await t.stack.queues.idle(PURGE_QUEUE);

      // Assert
      expect(deliveries(t, 'poison')).toHaveLength(5);
      const letters = t.stack.queues.deadLetters(PURGE_QUEUE).filter((l) => l.messageId === sent.MessageId);
      expect(letters).toEqual([expect.objectContaining({ body: '{"tag":"poison","mode":"fail"}', receiveCount: 5 })]);
      expect(modeOf(join(t.localDir, 'dlq', `${PURGE_QUEUE}.jsonl`))).toBe(0o600);
    });

    it('refuses senders whose identity policies do not allow sqs:SendMessage with AccessDenied', async () => {
      const QueueUrl = t.stack.queues.queueUrl(PURGE_QUEUE);
      for (const principal of ['ingest', 'export', 'auditor'] as const) {
        await expect(t.sqs(principal).send(new SendMessageCommand({ QueueUrl, MessageBody: '{"tag":"denied"}' }))).rejects.toMatchObject({
          Code: 'AccessDenied',
          $metadata: { httpStatusCode: 403 },
        });
      }
      expect(t.stack.queues.stats(PURGE_QUEUE)).toMatchObject({ pending: 0, inFlight: 0 });
    });

    it('refuses a request signed with the wrong secret', async () => {
      const { accessKeyId } = t.stackFile.principals.consent;
      const client = new SQSClient({ endpoint: t.stack.endpoints.sqs, region: 'us-east-1', credentials: { accessKeyId, secretAccessKey: 'wrong' }, maxAttempts: 1 });
      try {
        await expect(client.send(new SendMessageCommand({ QueueUrl: t.stack.queues.queueUrl(PURGE_QUEUE), MessageBody: 'x' }))).rejects.toMatchObject({
          Code: 'SignatureDoesNotMatch',
        });
      } finally {
        client.destroy();
      }
    });

    it('delivers key-sync jobs to the key-sync worker, which runs as the steward role', async () => {
      // Arrange
      const QueueUrl = t.stack.queues.queueUrl(LOCAL_RESOURCES.queues.keySync);

      // Act
      await t.sqs('consent').send(new SendMessageCommand({ QueueUrl, MessageBody: '{"tag":"key-sync-job"}' }));
      const refused = t.sqs('purge').send(new SendMessageCommand({ QueueUrl, MessageBody: '{"tag":"key-sync-job"}' }));
      await expect(refused).rejects.toMatchObject({ Code: 'AccessDenied' });
      await t.stack.queues.idle(LOCAL_RESOURCES.queues.keySync);

      // Assert
      const [delivery, ...more] = deliveries(t, 'key-sync-job', 'key-sync');
      expect(more).toEqual([]);
      expect(delivery?.principal).toBe(t.stackFile.principals.steward.accessKeyId);
      expect(delivery?.record.eventSourceARN).toBe(`arn:aws:sqs:us-east-1:${t.stackFile.account}:${LOCAL_RESOURCES.queues.keySync}`);
    });

    it('reports the queue ARN and its message counts to GetQueueAttributes', async () => {
      const QueueUrl = t.stack.queues.queueUrl(PURGE_QUEUE);
      const { Attributes } = await t.sqs('admin').send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['All'] }));
      expect(Attributes).toMatchObject({
        QueueArn: `arn:aws:sqs:us-east-1:${t.stackFile.account}:${PURGE_QUEUE}`,
        ApproximateNumberOfMessages: '0',
        ApproximateNumberOfMessagesNotVisible: '0',
      });
    });

    it('answers QueueDoesNotExist for an unknown queue', async () => {
      await expect(t.sqs('consent').send(new GetQueueUrlCommand({ QueueName: 'nope' }))).rejects.toMatchObject({ name: 'QueueDoesNotExist' });
    });
  });

  describe('s3', () => {
    it('lists more than 1,000 keys through ListObjectsV2 pages, in key order, without losing any', async () => {
      // Arrange: keys whose directory-walk order differs from key order ("k" < "k-x" < "k/…").
      const s3 = t.s3('ingest');
      const Bucket = LOCAL_RESOURCES.buckets.captures;
      const keys = Array.from({ length: 1_100 }, (_, i) => `captures/page-test/k${String(i).padStart(4, '0')}`);
      keys.push('captures/page-test/k0999-x', 'captures/page-test-2/z', 'captures/page-test/k0999/y');
      for (let i = 0; i < keys.length; i += 100) {
        await Promise.all(keys.slice(i, i + 100).map((Key) => s3.send(new PutObjectCommand({ Bucket, Key, Body: 'c' }))));
      }

      // Act
      const listed: string[] = [];
      let pages = 0;
      // The purge role may list under captures/; the ingest role that wrote the keys may not.
      for await (const page of paginateListObjectsV2({ client: t.s3('purge') }, { Bucket, Prefix: 'captures/page-test' })) {
        pages += 1;
        listed.push(...(page.Contents ?? []).map((o) => o.Key ?? ''));
      }

      // Assert
      expect(pages).toBe(2);
      expect(listed).toEqual([...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
    });

    it('stores what a streaming-checksum-free client puts, byte for byte', async () => {
      const s3 = t.s3('ingest');
      const body = Buffer.from([0, 1, 2, 3, 250, 251]);
      await s3.send(new PutObjectCommand({ Bucket: LOCAL_RESOURCES.buckets.captures, Key: 'captures/bytes/b1', Body: body }));
      // Ingest may not read captures back; the administrator may.
      const got = await t.s3('admin').send(new GetObjectCommand({ Bucket: LOCAL_RESOURCES.buckets.captures, Key: 'captures/bytes/b1' }));
      expect(Buffer.from(await got.Body!.transformToByteArray())).toEqual(body);
    });
  });
});

describe('local stack restart', () => {
  it('keeps ledger items, objects and undelivered queue messages', async () => {
    // Arrange: a message that fails once and then waits a minute for its retry when the stack stops.
    const first = await startTestStack({ functions: FIXTURES, queueRetryDelayMs: () => 60_000 });
    let second: TestStack | undefined;
    try {
      await first.documents('consent').send(new PutCommand({ TableName: LOCAL_RESOURCES.tables.ledger, Item: { pk: 'e-9', sk: 'state', status: 'active' } }));
      await first.s3('ingest').send(new PutObjectCommand({ Bucket: LOCAL_RESOURCES.buckets.captures, Key: 'captures/e-9/x', Body: 'cipher' }));
      const sent = await first.sqs('consent').send(new SendMessageCommand({ QueueUrl: first.stack.queues.queueUrl(PURGE_QUEUE), MessageBody: '{"tag":"survivor","mode":"fail","until":1}' }));
      await pollUntil(() => deliveries(first, 'survivor').length === 1 && first.stack.queues.stats(PURGE_QUEUE).inFlight === 0, { what: 'the first, failed delivery' });
      await first.close({ keepFiles: true });

      // Act
      second = await startTestStack({ localDir: first.localDir, functions: FIXTURES });
      await second.stack.queues.idle(PURGE_QUEUE);

      // Assert
      const item = await second.documents('consent').send(new GetCommand({ TableName: LOCAL_RESOURCES.tables.ledger, Key: { pk: 'e-9', sk: 'state' } }));
      expect(item.Item).toEqual({ pk: 'e-9', sk: 'state', status: 'active' });
      const listed = await second.s3('purge').send(new ListObjectsV2Command({ Bucket: LOCAL_RESOURCES.buckets.captures, Prefix: 'captures/e-9/' }));
      expect(listed.Contents?.map((o) => o.Key)).toEqual(['captures/e-9/x']);
      expect(deliveries(second, 'survivor').map((d) => [d.record.messageId, d.record.attributes.ApproximateReceiveCount])).toEqual([[sent.MessageId, '2']]);
      expect(second.stackFile.account).toBe(first.stackFile.account);
    } finally {
      await second?.close({ keepFiles: true });
      const { rmSync } = await import('node:fs');
      rmSync(first.localDir, { recursive: true, force: true });
    }
  });

  it('refuses to start when a handler cannot load, and names the missing variable', async () => {
    await expect(
      startTestStack({ functions: { ...FIXTURES, consent: { entry: FIXTURES.consent.entry, environment: { LEDGER_TABLE: undefined } } } }),
    ).rejects.toThrow(/function consent failed to load .*echo-handler\.ts: ConfigurationError: environment variable LEDGER_TABLE is required/);
  });
});
