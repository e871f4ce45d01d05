// Idle connections between the local stack's servers and their clients.
//
// HTTP/1.1 keep-alive has a race: a server closes a connection that has been idle for its
// keep-alive timeout, and a client that sends its next request on that connection at the same
// moment gets ECONNRESET (the AWS SDK names it TimeoutError). AWS's own endpoints do the same, and
// the SDK's retries absorb it; a client built with `maxAttempts: 1` (as the tests build theirs, so
// that they see each fault) does not. CI failed so once: a test that waited out the purge's 5 s
// re-sweep delay reused an S3 connection as the front closed it (a 5 s keep-alive timeout, which
// Node 20 applies with a second's grace).
//
// Three things keep the race out of the local stack:
// - its servers keep an idle connection for a minute, longer than any pause a test or a demo
//   makes on purpose, and announce it (`Keep-Alive: timeout=60`);
// - the agents below honour that announcement: they drop an idle connection a second before the
//   server would. Node's agent applies the hint only when it has a timeout of its own;
// - the fronts that forward to an emulator send a request again, once, on a connection of its own,
//   when the kept-alive connection it went out on was reset before any answer (local/iam/proxy.ts),
//   as Node's documentation advises; they also pass on neither side's Keep-Alive header.
import type { AgentOptions, Server } from 'node:http';

/** How long a local server keeps an idle connection open. */
export const IDLE_CONNECTION_TIMEOUT_MS = 60_000;

/** Applies the local stack's keep-alive timeout to one of its servers. */
export function keepIdleConnections(server: Server): void {
  server.keepAliveTimeout = IDLE_CONNECTION_TIMEOUT_MS;
}

/**
 * Options for an agent that reuses connections and closes an idle one before the server does. The
 * timeout is an upper bound only: Node's agent lowers it to the server's announced keep-alive
 * timeout less one second, and applies that hint only when a timeout is set. On a connection with a
 * request in flight, the timeout only emits the request's 'timeout' event, which neither the SDK
 * (without a requestTimeout) nor the forwarder acts on: it never cuts a slow answer short.
 */
export const HINT_HONOURING_AGENT: AgentOptions = { keepAlive: true, timeout: 10 * IDLE_CONNECTION_TIMEOUT_MS };

/** An AWS SDK client's `requestHandler` option for clients of the local stack built with few attempts. */
export const LOCAL_REQUEST_HANDLER = { httpAgent: HINT_HONOURING_AGENT };
