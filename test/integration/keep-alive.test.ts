// Idle kept-alive connections (local/keep-alive.ts): the local stack's clients close an idle
// connection before its server does, and a front that finds its reused connection to the emulator
// reset before any answer sends the request again, once, on a new connection. Without these, a
// request sent as the server closes an idle connection fails with ECONNRESET (CI failed so once).
import { Agent, createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Forwarder } from '../../local/iam/proxy.js';
import { HINT_HONOURING_AGENT } from '../../local/keep-alive.js';
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

function get(url: string, agent: Agent): Promise<{ status: number; body: string; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), reused: req.reusedSocket }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** An upstream that resets the n-th request on each connection before reading it, as a server closing an idle connection does. */
async function upstreamResetting(nth: number): Promise<{ url: string; requests: () => number }> {
  const perSocket = new WeakMap<Socket, number>();
  let requests = 0;
  const { url } = await listen((req, res) => {
    requests += 1;
    const n = (perSocket.get(req.socket) ?? 0) + 1;
    perSocket.set(req.socket, n);
    if (n === nth) {
      req.socket.resetAndDestroy();
      return;
    }
    res.end(`answer ${requests}`);
  });
  return { url, requests: () => requests };
}

/** A front that forwards every request to `upstream`, answering 502 with the error's name when forwarding fails. */
async function front(upstream: string): Promise<string> {
  const forwarder = new Forwarder(upstream);
  const { server, url } = await listen((req, res) => {
    forwarder.forward(req, Buffer.alloc(0), res).catch((error: unknown) => {
      res.writeHead(502).end(error instanceof Error ? error.name : 'unknown');
    });
  });
  server.on('close', () => forwarder.close());
  return url;
}

describe('a front forwarding to an emulator', () => {
  it('sends a request again, once, when the upstream resets the reused connection before answering', async () => {
    // Arrange: the second request on any connection is reset.
    const upstream = await upstreamResetting(2);
    const url = await front(upstream.url);
    const client = new Agent({ keepAlive: true });

    // Act
    const first = await get(url, client);
    const second = await get(url, client);
    client.destroy();

    // Assert: answered both times; the upstream saw the reset request and its retry.
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(second.body).toBe('answer 3');
    expect(upstream.requests()).toBe(3);
  });

  it('does not send again a request whose new connection was reset: that is the upstream failing, not a stale connection', async () => {
    // Arrange: every first request on a connection is reset.
    const upstream = await upstreamResetting(1);
    const url = await front(upstream.url);
    const client = new Agent({ keepAlive: true });

    // Act
    const answer = await get(url, client);
    client.destroy();

    // Assert
    expect(answer).toMatchObject({ status: 502, body: 'Error' });
    expect(upstream.requests()).toBe(1);
  });
});

describe("the local stack's clients", () => {
  /** Which side closed the kept-alive connection of one request, after it sat idle. */
  async function closerOfIdleConnection(agent: Agent): Promise<'client' | 'server'> {
    let closer: 'client' | 'server' | undefined;
    const { server, url } = await listen((_req, res) => res.end('ok'), 2_000);
    server.on('connection', (socket: Socket) => {
      // A client that closes first sends FIN: the server's socket ends before it closes.
      socket.on('end', () => (closer ??= 'client'));
      socket.on('close', () => (closer ??= 'server'));
    });
    await get(url, agent);
    const closedBy = await pollUntil(() => closer, { timeoutMs: 10_000, intervalMs: 50, what: 'the idle connection closing' });
    agent.destroy();
    return closedBy;
  }

  it('close an idle connection before the server would, as its Keep-Alive header announces', async () => {
    expect(await closerOfIdleConnection(new Agent(HINT_HONOURING_AGENT))).toBe('client');
  });

  it('(a plain kept-alive agent, as the SDK builds by default, leaves it to the server: the race this avoids)', async () => {
    expect(await closerOfIdleConnection(new Agent({ keepAlive: true }))).toBe('server');
  });
});
