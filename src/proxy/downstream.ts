/** The MCP server a proxy governs, reached with the SDK's client transports. */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { ReadableStream } from 'node:stream/web';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { type FetchLike, type Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { type ServerTarget } from './facts.js';

/**
 * A fresh transport to the server: a child process for a command (with the
 * proxy's whole environment, since the proxy stands where the server was
 * configured), or an HTTP connection for a URL.
 */
export function serverTransport(target: ServerTarget): Transport {
  if (target.kind === 'command') {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
    return new StdioClientTransport({ command: target.command, args: [...target.args], env, stderr: 'inherit' });
  }
  return target.transport === 'sse'
    ? new SSEClientTransport(target.url)
    : new StreamableHTTPClientTransport(target.url, { fetch: nodeFetch });
}

/** Connections to the server kept open between requests, as many as requests in flight. */
const keepAlive = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };

/** How long the server may keep the proxy waiting, as undici's `fetch` bounded it (`headersTimeout`, `bodyTimeout`). */
export interface UpstreamTimeouts {
  /** From sending a request to the answer's headers, for every request. */
  readonly headersMs: number;
  /**
   * Between two pieces of an answer's body, for answers to POST only: a GET stream carries the server's own
   * notifications and may rightly stay quiet for hours, so it is bounded by the session's life instead.
   */
  readonly bodyIdleMs: number;
}

export const UPSTREAM_TIMEOUTS: UpstreamTimeouts = { headersMs: 300_000, bodyIdleMs: 300_000 };

/** The id of the one JSON-RPC request a POST body carries, if it carries one. */
function requestId(body: string | undefined): string | number | undefined {
  if (body === undefined) return undefined;
  try {
    const message = JSON.parse(body) as { id?: unknown; method?: unknown };
    const id = message?.id;
    return typeof message?.method === 'string' && (typeof id === 'string' || typeof id === 'number') ? id : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `fetch` for the server over Node's own HTTP client, with kept-alive connections. Each call goes through
 * undici's `fetch` otherwise, whose spec machinery (request and response objects, header checks, an abort
 * listener per request on the transport's one signal, which only garbage collection takes off again) was the
 * largest part of the proxy's own work per relayed call. The body of the answer is streamed as it arrives, so an
 * SSE answer reaches the client event by event.
 *
 * A server that never answers would otherwise hold a connection per request for the whole session. Past the
 * headers timeout the request fails, so the relay answers the client that it cannot reach the server. Past the
 * body idle timeout a JSON answer fails the same way; an SSE answer ends with a JSON-RPC error for the request it
 * answers, since the SDK's transport only reports a broken stream and the request would never be answered.
 */
export function upstreamFetch(timeouts: UpstreamTimeouts = UPSTREAM_TIMEOUTS): FetchLike {
  return (url, init) =>
    new Promise<Response>((resolve, fail) => {
      const target = new URL(url);
      const secure = target.protocol === 'https:';
      if (!secure && target.protocol !== 'http:') {
        fail(new TypeError(`cannot fetch "${target.href}": only http and https are supported`));
        return;
      }
      const signal = init?.signal ?? undefined;
      if (signal?.aborted) {
        fail(signal.reason);
        return;
      }
      const headers: Record<string, string> = {};
      new Headers(init?.headers).forEach((value, name) => (headers[name] = value));
      const body = init?.body;
      if (body !== undefined && body !== null && typeof body !== 'string') {
        fail(new TypeError('the proxy sends the server only text bodies'));
        return;
      }
      const method = init?.method ?? 'GET';
      const request = (secure ? httpsRequest : httpRequest)(
        target,
        { method, headers, agent: secure ? keepAlive.https : keepAlive.http, ...(signal && { signal }) },
        (res) => {
          clearTimeout(headersTimer);
          const answer = new Headers();
          for (let k = 0; k + 1 < res.rawHeaders.length; k += 2)
            answer.append(res.rawHeaders[k]!, res.rawHeaders[k + 1]!);
          const status = res.statusCode ?? 502;
          const empty = method === 'HEAD' || status === 204 || status === 205 || status === 304;
          if (empty) res.resume();
          try {
            resolve(
              new Response(
                empty
                  ? null
                  : method === 'GET'
                    ? (Readable.toWeb(res) as ReadableStream<Uint8Array>)
                    : bounded(res, timeouts.bodyIdleMs, answer, body ?? undefined),
                { status, statusText: res.statusMessage ?? '', headers: answer },
              ),
            );
          } catch (e) {
            // A status a Response cannot carry (1xx, or past 599).
            res.destroy();
            fail(e);
          }
        },
      );
      const headersTimer = setTimeout(() => {
        // Destroying the request destroys its socket, so the connection is not handed to the next request.
        request.destroy(new Error(`the server sent no answer in ${timeouts.headersMs / 1000} s`));
      }, timeouts.headersMs);
      request.once('error', (e) => {
        clearTimeout(headersTimer);
        fail(e);
      });
      request.end(body ?? undefined);
    });
}

/**
 * The answer's body, ended once the server has sent nothing of it for `idleMs`: its connection is destroyed,
 * and an SSE answer gets a last event, the error answer to the request it was to answer; any other answer fails.
 */
function bounded(
  res: IncomingMessage,
  idleMs: number,
  headers: Headers,
  sent: string | undefined,
): ReadableStream<Uint8Array> {
  const message = `the server sent nothing more of its answer in ${idleMs / 1000} s`;
  const sse = (headers.get('content-type') ?? '').toLowerCase().startsWith('text/event-stream');
  let timer: ReturnType<typeof setTimeout> | undefined;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      timer = setTimeout(() => {
        res.removeAllListeners('data');
        res.destroy();
        // Read from the body only now: parsing it for every call would cost each relayed call for the rare stall.
        const id = sse ? requestId(sent) : undefined;
        if (id === undefined) return controller.error(new Error(message));
        const error = { jsonrpc: '2.0', id, error: { code: -32603, message, data: { code: 'server_failed' } } };
        // A blank line first ends an event the server left half written.
        controller.enqueue(new TextEncoder().encode(`\n\nevent: message\ndata: ${JSON.stringify(error)}\n\n`));
        controller.close();
      }, idleMs);
      res.on('data', (chunk: Buffer) => {
        timer!.refresh();
        controller.enqueue(chunk);
        if ((controller.desiredSize ?? 1) <= 0) res.pause();
      });
      res.once('end', () => {
        clearTimeout(timer);
        controller.close();
      });
      res.once('error', (e) => {
        clearTimeout(timer);
        controller.error(e);
      });
      res.once('close', () => {
        clearTimeout(timer);
        // A connection lost mid-answer without an error still ends the body, so no reader waits on it.
        if (!res.complete && !res.errored) {
          try {
            controller.error(new Error('the server closed the connection before the end of its answer'));
          } catch {
            // Already ended by the timeout or cancelled by the reader.
          }
        }
      });
    },
    pull() {
      res.resume();
    },
    cancel() {
      // The reader going away (the session closing) lets go of the server's connection too.
      clearTimeout(timer);
      res.destroy();
    },
  });
}

/** `fetch` for the server, with the default timeouts. */
export const nodeFetch: FetchLike = upstreamFetch();
