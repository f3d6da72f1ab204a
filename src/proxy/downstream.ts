/** The MCP server a proxy governs, reached with the SDK's client transports. */
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { type ReadableStream } from 'node:stream/web';
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

/**
 * `fetch` for the server over Node's own HTTP client, with kept-alive connections. Each call goes through
 * undici's `fetch` otherwise, whose spec machinery (request and response objects, header checks, an abort
 * listener per request on the transport's one signal, which only garbage collection takes off again) was the
 * largest part of the proxy's own work per relayed call. The body of the answer is streamed as it arrives, so an
 * SSE answer reaches the client event by event.
 */
export const nodeFetch: FetchLike = (url, init) =>
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
        const answer = new Headers();
        for (let k = 0; k + 1 < res.rawHeaders.length; k += 2)
          answer.append(res.rawHeaders[k]!, res.rawHeaders[k + 1]!);
        const status = res.statusCode ?? 502;
        const empty = method === 'HEAD' || status === 204 || status === 205 || status === 304;
        if (empty) res.resume();
        try {
          resolve(
            new Response(empty ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), {
              status,
              statusText: res.statusMessage ?? '',
              headers: answer,
            }),
          );
        } catch (e) {
          // A status a Response cannot carry (1xx, or past 599).
          res.destroy();
          fail(e);
        }
      },
    );
    request.once('error', fail);
    request.end(body ?? undefined);
  });
