// Idle kept-alive connections (local/keep-alive.ts): the local stack's clients close an idle
// connection before its server does, and a front that finds its reused connection to the emulator
// reset before any answer sends the request again, once, on a connection of its own. Without these,
// a request sent as the server closes an idle connection fails with ECONNRESET (CI failed so once).
import { Agent, createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { KMSClient, ListKeysCommand } from '@aws-sdk/client-kms';
import { afterEach, describe, expect, it } from 'vitest';
import { Forwarder } from '../../local/iam/proxy.js';
import { HINT_HONOURING_AGENT, LOCAL_REQUEST_HANDLER } from '../../local/keep-alive.js';
import { pollUntil } from '../support/local-stack.js';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void, keepAliveMs = 5_000): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  server.keepAliveTimeout = keepAliveMs;
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** One GET: its status and body, or `aborted` when the answer was cut off after its headers. */
function get(url: string, agent: Agent): Promise<{ status: number; body: string; aborted: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), aborted: false }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), aborted: true }));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * An upstream that, on the n-th request of each connection, resets the connection without an
 * answer (`reset`), after the headers and part of the body (`partial`), or never answers (`hold`).
 */
async function upstream(nth: number, fault: 'reset' | 'partial' | 'hold'): Promise<{ url: string; requests: () => number }> {
  const perSocket = new WeakMap<Socket, number>();
  let requests = 0;
  const { url } = await listen((req, res) => {
    requests += 1;
    const n = (perSocket.get(req.socket) ?? 0) + 1;
    perSocket.set(req.socket, n);
    if (n !== nth) {
      res.end(`answer ${requests}`);
      return;
    }
    if (fault === 'partial') {
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial-', () => setTimeout(() => req.socket.resetAndDestroy(), 20));
    } else if (fault === 'reset') {
      req.socket.resetAndDestroy();
    }
  });
  return { url, requests: () => requests };
}

/** A front that forwards every request to `upstream`, answering 502 with the error's name when forwarding fails. */
async function front(upstreamUrl: string): Promise<{ url: string; forwarder: Forwarder }> {
  const forwarder = new Forwarder(upstreamUrl);
  const { server, url } = await listen((req, res) => {
    forwarder.forward(req, Buffer.alloc(0), res).catch((error: unknown) => {
      if (res.headersSent) res.destroy();
      else res.writeHead(502).end(error instanceof Error ? error.name : 'unknown');
    });
  });
  server.on('close', () => forwarder.close());
  return { url, forwarder };
}

describe('a front forwarding to an emulator', () => {
  it('sends a request again, once, when the upstream resets the reused connection before answering', async () => {
    // Arrange: the second request on any connection is reset.
    const emulator = await upstream(2, 'reset');
    const { url } = await front(emulator.url);
    const client = new Agent({ keepAlive: true });

    // Act
    const first = await get(url, client);
    const second = await get(url, client);
    client.destroy();

    // Assert: answered both times; the upstream saw the reset request and its resend.
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(second.body).toBe('answer 3');
    expect(emulator.requests()).toBe(3);
  });

  it('sends it again on a connection of its own, not on another idle one that went stale with it', async () => {
    // Arrange: two connections to the upstream, idle side by side; the second request on each is reset.
    const emulator = await upstream(2, 'reset');
    const { url } = await front(emulator.url);
    const client = new Agent({ keepAlive: true });
    const warm = await Promise.all([get(url, client), get(url, client)]);

    // Act
    const answer = await get(url, client);
    client.destroy();

    // Assert
    expect(warm.map((w) => w.status)).toEqual([200, 200]);
    expect(answer).toMatchObject({ status: 200, body: 'answer 4' });
    expect(emulator.requests()).toBe(4);
  });

  it('does not send again a request whose new connection was reset: that is the upstream failing, not a stale connection', async () => {
    // Arrange: every first request on a connection is reset.
    const emulator = await upstream(1, 'reset');
    const { url } = await front(emulator.url);
    const client = new Agent({ keepAlive: true });

    // Act
    const answer = await get(url, client);
    client.destroy();

    // Assert
    expect(answer).toMatchObject({ status: 502, body: 'Error' });
    expect(emulator.requests()).toBe(1);
  });

  it('does not send again a request the upstream began to answer: the caller sees the answer cut off', async () => {
    // Arrange: the second request on a connection gets its headers and part of its body, then a reset.
    const emulator = await upstream(2, 'partial');
    const { url } = await front(emulator.url);
    const client = new Agent({ keepAlive: true });
    await get(url, client);

    // Act
    const answer = await get(url, client);
    client.destroy();

    // Assert: the front did not write a second answer over the first (which would throw).
    expect(answer).toMatchObject({ status: 200, aborted: true });
    expect(emulator.requests()).toBe(2);
  });

  it('does not send again a request its own shutdown cut off', async () => {
    // Arrange: the second request on a connection is held unanswered.
    const emulator = await upstream(2, 'hold');
    const { url, forwarder } = await front(emulator.url);
    const client = new Agent({ keepAlive: true });
    await get(url, client);
    const held = get(url, client).catch((error: unknown) => error);
    await pollUntil(() => emulator.requests() === 2, { what: 'the held request reaching the upstream' });

    // Act: the front closes its connections to the upstream mid-request, as at shutdown.
    forwarder.close();
    const answer = await held;
    client.destroy();

    // Assert: the stale-connection error reaches the caller; nothing was sent again.
    expect(answer).toMatchObject({ status: 502, body: 'StaleConnectionError' });
    expect(emulator.requests()).toBe(2);
  });
});

describe("the local stack's clients", () => {
  /** Which side closed the kept-alive connection of one request, after it sat idle. */
  async function closerOfIdleConnection(send: (url: string) => Promise<{ destroy(): void }>): Promise<'client' | 'server'> {
    let closer: 'client' | 'server' | undefined;
    const { server, url } = await listen((_req, res) => res.end('{}'), 2_000);
    server.on('connection', (socket: Socket) => {
      // A client that closes first sends FIN: the server's socket ends before it closes.
      socket.on('end', () => (closer ??= 'client'));
      socket.on('close', () => (closer ??= 'server'));
    });
    const client = await send(url);
    try {
      return await pollUntil(() => closer, { timeoutMs: 10_000, intervalMs: 50, what: 'the idle connection closing' });
    } finally {
      client.destroy();
    }
  }

  const viaAgent = (agent: Agent) => async (url: string) => {
    await get(url, agent);
    return agent;
  };

  /** A ListKeys through an AWS SDK client built as the tests' shared clients are. */
  const viaSdk = (requestHandler: typeof LOCAL_REQUEST_HANDLER | undefined) => async (url: string) => {
    const client = new KMSClient({ endpoint: url, region: 'us-east-1', credentials: { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'secret' }, maxAttempts: 1, ...(requestHandler === undefined ? {} : { requestHandler }) });
    await client.send(new ListKeysCommand({})).catch(() => undefined);
    return client;
  };

  it('close an idle connection before the server would, as its Keep-Alive header announces', async () => {
    expect(await closerOfIdleConnection(viaAgent(new Agent(HINT_HONOURING_AGENT)))).toBe('client');
  });

  it('do so as AWS SDK clients too, given LOCAL_REQUEST_HANDLER', async () => {
    expect(await closerOfIdleConnection(viaSdk(LOCAL_REQUEST_HANDLER))).toBe('client');
  });

  it('(an SDK client with its default agent leaves it to the server: the race this avoids)', async () => {
    expect(await closerOfIdleConnection(viaSdk(undefined))).toBe('server');
  });
});
