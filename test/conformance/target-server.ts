/**
 * The conformance target: an MCP server over streamable HTTP with the tools,
 * resources and prompts the official conformance suite's server scenarios
 * call (`@modelcontextprotocol/conformance`), built on the MCP SDK's
 * low-level `Server`. `npm run conformance` runs the suite against it
 * directly and through `mcp-policy proxy`, and compares the two.
 *
 * It is written in erasable TypeScript only, so Node 22 runs it as it is:
 *
 *   node test/conformance/target-server.ts [PORT]
 *
 * listens on 127.0.0.1 (port 0, the kernel's choice, by default), prints
 * `listening http://127.0.0.1:PORT/mcp` on standard output and stops cleanly
 * on SIGTERM or SIGINT.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { type EventStore, StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  CallToolRequestSchema,
  type CallToolResult,
  CompleteRequestSchema,
  ElicitResultSchema,
  ErrorCode,
  GetPromptRequestSchema,
  type GetPromptResult,
  type JSONRPCMessage,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  type LoggingLevel,
  McpError,
  ReadResourceRequestSchema,
  type ReadResourceResult,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  type Tool,
  UnsubscribeRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

/** A 1×1 red PNG. */
const IMAGE = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
/** A WAV file with one sample. */
const AUDIO = 'UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=';

/** Largest request body the target reads; the suite's requests are a few kilobytes. */
const MAX_BODY = 1024 * 1024;
/** Events kept per session for `Last-Event-ID`: enough for every scenario, bounded so a long run cannot grow it. */
const MAX_EVENTS = 1_000;
/** How long a client should wait before reconnecting after the target closes a stream on purpose. */
const RETRY_MS = 500;

const EMPTY_OBJECT = { type: 'object' as const, properties: {} };

/** Tools the suite lists and calls; `json_schema_2020_12_tool` keeps its schema's 2020-12 keywords as written. */
const TOOLS: Tool[] = [
  { name: 'test_simple_text', description: 'Tests simple text content response', inputSchema: EMPTY_OBJECT },
  { name: 'test_image_content', description: 'Tests image content response', inputSchema: EMPTY_OBJECT },
  { name: 'test_audio_content', description: 'Tests audio content response', inputSchema: EMPTY_OBJECT },
  { name: 'test_embedded_resource', description: 'Tests embedded resource content', inputSchema: EMPTY_OBJECT },
  {
    name: 'test_multiple_content_types',
    description: 'Tests response with multiple content types (text, image, resource)',
    inputSchema: EMPTY_OBJECT,
  },
  { name: 'test_tool_with_logging', description: 'Emits log messages while it runs', inputSchema: EMPTY_OBJECT },
  { name: 'test_tool_with_progress', description: 'Reports progress while it runs', inputSchema: EMPTY_OBJECT },
  { name: 'test_error_handling', description: 'Always fails', inputSchema: EMPTY_OBJECT },
  {
    name: 'test_reconnection',
    description: 'Closes its SSE stream mid-call and answers after the client reconnects',
    inputSchema: EMPTY_OBJECT,
  },
  {
    name: 'test_sampling',
    description: 'Asks the client for an LLM completion',
    inputSchema: {
      type: 'object',
      properties: { prompt: { type: 'string', description: 'The prompt to send to the LLM' } },
      required: ['prompt'],
    },
  },
  {
    name: 'test_elicitation',
    description: 'Asks the user for input',
    inputSchema: {
      type: 'object',
      properties: { message: { type: 'string', description: 'The message to show the user' } },
      required: ['message'],
    },
  },
  {
    name: 'test_elicitation_sep1034_defaults',
    description: 'Elicitation with a default for every primitive type',
    inputSchema: EMPTY_OBJECT,
  },
  {
    name: 'test_elicitation_sep1330_enums',
    description: 'Elicitation with every enum schema variant',
    inputSchema: EMPTY_OBJECT,
  },
  {
    name: 'json_schema_2020_12_tool',
    description: 'A tool whose input schema uses JSON Schema 2020-12 keywords',
    inputSchema: {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      $defs: {
        address: { type: 'object', properties: { street: { type: 'string' }, city: { type: 'string' } } },
      },
      properties: { name: { type: 'string' }, address: { $ref: '#/$defs/address' } },
      additionalProperties: false,
    },
  },
];

const DEFAULTS_SCHEMA = {
  type: 'object' as const,
  properties: {
    name: { type: 'string' as const, description: 'User name', default: 'John Doe' },
    age: { type: 'integer' as const, description: 'User age', default: 30 },
    score: { type: 'number' as const, description: 'User score', default: 95.5 },
    status: {
      type: 'string' as const,
      description: 'User status',
      enum: ['active', 'inactive', 'pending'],
      default: 'active',
    },
    verified: { type: 'boolean' as const, description: 'Verification status', default: true },
  },
  required: [],
};

const ENUMS_SCHEMA = {
  type: 'object' as const,
  properties: {
    untitledSingle: { type: 'string', description: 'Select one option', enum: ['option1', 'option2', 'option3'] },
    titledSingle: {
      type: 'string',
      description: 'Select one option with titles',
      oneOf: [
        { const: 'value1', title: 'First Option' },
        { const: 'value2', title: 'Second Option' },
        { const: 'value3', title: 'Third Option' },
      ],
    },
    legacyEnum: {
      type: 'string',
      description: 'Select one option (legacy)',
      enum: ['opt1', 'opt2', 'opt3'],
      enumNames: ['Option One', 'Option Two', 'Option Three'],
    },
    untitledMulti: {
      type: 'array',
      description: 'Select multiple options',
      minItems: 1,
      maxItems: 3,
      items: { type: 'string', enum: ['option1', 'option2', 'option3'] },
    },
    titledMulti: {
      type: 'array',
      description: 'Select multiple options with titles',
      minItems: 1,
      maxItems: 3,
      items: {
        anyOf: [
          { const: 'value1', title: 'First Choice' },
          { const: 'value2', title: 'Second Choice' },
          { const: 'value3', title: 'Third Choice' },
        ],
      },
    },
  },
  required: [],
};

const RESOURCES = [
  {
    uri: 'test://static-text',
    name: 'static-text',
    title: 'Static Text Resource',
    mimeType: 'text/plain',
    text: 'This is the content of the static text resource.',
  },
  {
    uri: 'test://static-binary',
    name: 'static-binary',
    title: 'Static Binary Resource',
    mimeType: 'image/png',
    blob: IMAGE,
  },
  {
    uri: 'test://watched-resource',
    name: 'watched-resource',
    title: 'Watched Resource',
    mimeType: 'text/plain',
    text: 'Watched resource content',
  },
];

const TEMPLATE = /^test:\/\/template\/([^/]+)\/data$/;

const PROMPTS = [
  { name: 'test_simple_prompt', title: 'Simple Test Prompt', description: 'A prompt without arguments' },
  {
    name: 'test_prompt_with_arguments',
    title: 'Prompt With Arguments',
    description: 'A prompt with required arguments',
    arguments: [
      { name: 'arg1', description: 'First test argument', required: true },
      { name: 'arg2', description: 'Second test argument', required: true },
    ],
  },
  {
    name: 'test_prompt_with_embedded_resource',
    title: 'Prompt With Embedded Resource',
    description: 'A prompt that includes an embedded resource',
    arguments: [{ name: 'resourceUri', description: 'URI of the resource to embed', required: true }],
  },
  { name: 'test_prompt_with_image', title: 'Prompt With Image', description: 'A prompt with image content' },
];

function invalidParams(message: string): McpError {
  return new McpError(ErrorCode.InvalidParams, message);
}

function stringArg(args: Record<string, unknown> | undefined, name: string): string {
  const value = args?.[name];
  if (typeof value !== 'string') throw invalidParams(`argument "${name}" must be a string`);
  return value;
}

/** An event store per session, bounded, so a client that reconnects with `Last-Event-ID` gets what it missed. */
function memoryEventStore(): EventStore {
  const events: { id: string; stream: string; message: JSONRPCMessage }[] = [];
  let counter = 0;
  return {
    async storeEvent(stream, message) {
      // Fixed-width counters keep ids in order as strings within one stream.
      const id = `${stream}_${String(++counter).padStart(12, '0')}`;
      events.push({ id, stream, message });
      if (events.length > MAX_EVENTS) events.shift();
      return id;
    },
    async getStreamIdForEventId(eventId) {
      return events.find((e) => e.id === eventId)?.stream;
    },
    async replayEventsAfter(lastEventId, { send }) {
      const at = events.findIndex((e) => e.id === lastEventId);
      if (at < 0) throw new Error('unknown event id');
      const stream = events[at]!.stream;
      for (const e of events.slice(at + 1)) if (e.stream === stream) await send(e.id, e.message);
      return stream;
    },
  };
}

/** One MCP session's server; `transport` is needed by the tool that closes its own stream. */
function sessionServer(transport: () => StreamableHTTPServerTransport | undefined): Server {
  const server = new Server(
    { name: 'mcp-policy-conformance-target', version: '1.0.0' },
    {
      capabilities: {
        tools: { listChanged: true },
        resources: { subscribe: true, listChanged: true },
        prompts: { listChanged: true },
        logging: {},
        completions: {},
      },
    },
  );
  const subscriptions = new Set<string>();
  const log = (level: LoggingLevel, data: string) =>
    server
      .sendLoggingMessage({ level, logger: 'conformance-target', data })
      .catch(() => undefined /* the client may be gone */);

  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: TOOLS }));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra): Promise<CallToolResult> => {
    const args = request.params.arguments;
    const text = (t: string): CallToolResult => ({ content: [{ type: 'text', text: t }] });
    switch (request.params.name) {
      case 'test_simple_text':
        return text('This is a simple text response for testing.');
      case 'test_image_content':
        return { content: [{ type: 'image', data: IMAGE, mimeType: 'image/png' }] };
      case 'test_audio_content':
        return { content: [{ type: 'audio', data: AUDIO, mimeType: 'audio/wav' }] };
      case 'test_embedded_resource':
        return {
          content: [
            {
              type: 'resource',
              resource: {
                uri: 'test://embedded-resource',
                mimeType: 'text/plain',
                text: 'This is an embedded resource content.',
              },
            },
          ],
        };
      case 'test_multiple_content_types':
        return {
          content: [
            { type: 'text', text: 'Multiple content types test:' },
            { type: 'image', data: IMAGE, mimeType: 'image/png' },
            {
              type: 'resource',
              resource: {
                uri: 'test://mixed-content-resource',
                mimeType: 'application/json',
                text: JSON.stringify({ test: 'data', value: 123 }),
              },
            },
          ],
        };
      case 'test_tool_with_logging':
        for (const data of ['Tool execution started', 'Tool processing data', 'Tool execution completed']) {
          await extra.sendNotification({ method: 'notifications/message', params: { level: 'info', data } });
        }
        return text('Tool with logging executed successfully');
      case 'test_tool_with_progress': {
        const progressToken = extra._meta?.progressToken ?? 0;
        for (const progress of [0, 50, 100]) {
          await extra.sendNotification({
            method: 'notifications/progress',
            params: { progressToken, progress, total: 100, message: `Completed step ${progress} of 100` },
          });
        }
        return text(String(progressToken));
      }
      case 'test_error_handling':
        return errorResult('This tool intentionally returns an error for testing');
      case 'test_reconnection': {
        // Ends the response stream now; the answer is stored and replayed when the client resumes it.
        transport()?.closeSSEStream(extra.requestId);
        await new Promise((resolve) => setTimeout(resolve, 100));
        return text(
          'Reconnection test completed successfully. If you received this, the client properly reconnected after stream closure.',
        );
      }
      case 'test_sampling': {
        const prompt = stringArg(args, 'prompt');
        const result = await extra.sendRequest(
          {
            method: 'sampling/createMessage',
            params: { messages: [{ role: 'user', content: { type: 'text', text: prompt } }], maxTokens: 100 },
          },
          z.object({ content: z.object({ text: z.string().optional() }).passthrough() }).passthrough(),
        );
        return text(`LLM response: ${result.content.text ?? 'No response'}`);
      }
      case 'test_elicitation': {
        const message = stringArg(args, 'message');
        const result = await extra.sendRequest(
          {
            method: 'elicitation/create',
            params: {
              message,
              requestedSchema: {
                type: 'object',
                properties: { response: { type: 'string', description: "User's response" } },
                required: ['response'],
              },
            },
          },
          ElicitResultSchema,
        );
        return text(`User response: action=${result.action}, content=${JSON.stringify(result.content ?? {})}`);
      }
      case 'test_elicitation_sep1034_defaults':
      case 'test_elicitation_sep1330_enums': {
        const defaults = request.params.name === 'test_elicitation_sep1034_defaults';
        const result = await extra.sendRequest(
          {
            method: 'elicitation/create',
            params: defaults
              ? { message: 'Please review and update the form fields with defaults', requestedSchema: DEFAULTS_SCHEMA }
              : // The enum variants include `enumNames`, which the SDK's request type does not list.
                ({ message: 'Please select options from the enum fields', requestedSchema: ENUMS_SCHEMA } as never),
          },
          ElicitResultSchema,
        );
        return text(`Elicitation completed: action=${result.action}, content=${JSON.stringify(result.content ?? {})}`);
      }
      case 'json_schema_2020_12_tool':
        return text(`JSON Schema 2020-12 tool called with: ${JSON.stringify(args ?? {})}`);
      default:
        throw invalidParams(`unknown tool ${JSON.stringify(request.params.name)}`);
    }
  });

  server.setRequestHandler(ListResourcesRequestSchema, () => ({
    resources: RESOURCES.map(({ uri, name, title, mimeType }) => ({ uri, name, title, mimeType })),
  }));
  server.setRequestHandler(ListResourceTemplatesRequestSchema, () => ({
    resourceTemplates: [
      {
        uriTemplate: 'test://template/{id}/data',
        name: 'template',
        title: 'Resource Template',
        mimeType: 'application/json',
      },
    ],
  }));
  server.setRequestHandler(ReadResourceRequestSchema, (request): ReadResourceResult => {
    const uri = request.params.uri;
    const found = RESOURCES.find((r) => r.uri === uri);
    if (found) {
      const { name: _name, title: _title, ...content } = found;
      return { contents: [content] };
    }
    const id = TEMPLATE.exec(uri)?.[1];
    if (id !== undefined) {
      return {
        contents: [
          {
            uri,
            mimeType: 'application/json',
            text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }),
          },
        ],
      };
    }
    throw invalidParams(`unknown resource ${JSON.stringify(uri)}`);
  });
  server.setRequestHandler(SubscribeRequestSchema, (request) => {
    subscriptions.add(request.params.uri);
    void log('info', `Subscribed to resource: ${request.params.uri}`);
    return {};
  });
  server.setRequestHandler(UnsubscribeRequestSchema, (request) => {
    subscriptions.delete(request.params.uri);
    void log('info', `Unsubscribed from resource: ${request.params.uri}`);
    return {};
  });

  server.setRequestHandler(ListPromptsRequestSchema, () => ({ prompts: PROMPTS }));
  server.setRequestHandler(GetPromptRequestSchema, (request): GetPromptResult => {
    const args = request.params.arguments;
    switch (request.params.name) {
      case 'test_simple_prompt':
        return {
          messages: [{ role: 'user', content: { type: 'text', text: 'This is a simple prompt for testing.' } }],
        };
      case 'test_prompt_with_arguments': {
        const arg1 = stringArg(args, 'arg1');
        const arg2 = stringArg(args, 'arg2');
        return {
          messages: [
            {
              role: 'user',
              content: { type: 'text', text: `Prompt with arguments: arg1='${arg1}', arg2='${arg2}'` },
            },
          ],
        };
      }
      case 'test_prompt_with_embedded_resource':
        return {
          messages: [
            {
              role: 'user',
              content: {
                type: 'resource',
                resource: {
                  uri: stringArg(args, 'resourceUri'),
                  mimeType: 'text/plain',
                  text: 'Embedded resource content for testing.',
                },
              },
            },
            { role: 'user', content: { type: 'text', text: 'Please process the embedded resource above.' } },
          ],
        };
      case 'test_prompt_with_image':
        return {
          messages: [
            { role: 'user', content: { type: 'image', data: IMAGE, mimeType: 'image/png' } },
            { role: 'user', content: { type: 'text', text: 'Please analyze the image above.' } },
          ],
        };
      default:
        throw invalidParams(`unknown prompt ${JSON.stringify(request.params.name)}`);
    }
  });

  server.setRequestHandler(SetLevelRequestSchema, (request) => {
    void log('info', `Log level set to: ${request.params.level}`);
    return {};
  });
  server.setRequestHandler(CompleteRequestSchema, () => ({ completion: { values: [], total: 0, hasMore: false } }));
  return server;
}

function errorResult(message: string): CallToolResult {
  return { content: [{ type: 'text', text: message }], isError: true };
}

/** Loopback names only: a Host or Origin naming anything else is a DNS rebinding attempt. */
function isLoopbackHost(host: string | undefined): boolean {
  if (host === undefined) return false;
  try {
    const name = new URL(`http://${host}`).hostname;
    return name === 'localhost' || name === '127.0.0.1' || name === '[::1]';
  } catch {
    return false;
  }
}

function isLoopbackOrigin(origin: string | undefined): boolean {
  if (origin === undefined) return true;
  try {
    return isLoopbackHost(new URL(origin).host);
  } catch {
    return false;
  }
}

function reply(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null }));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new Error('request body too large');
    chunks.push(chunk);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

/** A running target. */
export interface ConformanceTarget {
  /** The MCP endpoint, `http://127.0.0.1:PORT/mcp`. */
  readonly url: URL;
  /** Live sessions. */
  sessions(): number;
  /** Closes every session and the listener. */
  close(): Promise<void>;
}

/** Starts the target on 127.0.0.1 (port 0 lets the kernel choose). */
export async function startConformanceTarget(port = 0): Promise<ConformanceTarget> {
  const sessions = new Map<string, { transport: StreamableHTTPServerTransport; server: Server }>();

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path !== '/mcp') return reply(res, 404, 'not found');
    if (!isLoopbackHost(req.headers.host) || !isLoopbackOrigin(req.headers.origin)) {
      return reply(res, 403, 'forbidden: host or origin is not loopback');
    }
    const id = req.headers['mcp-session-id'];
    const existing = typeof id === 'string' ? sessions.get(id) : undefined;
    if (req.method === 'POST') {
      let body: unknown;
      try {
        body = await readJson(req);
      } catch (e) {
        return reply(res, 400, `bad request: ${(e as Error).message}`);
      }
      if (existing) return existing.transport.handleRequest(req, res, body);
      const initialize =
        typeof body === 'object' && body !== null && (body as { method?: unknown }).method === 'initialize';
      if (id !== undefined || !initialize) return reply(res, id === undefined ? 400 : 404, 'unknown session');
      const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        eventStore: memoryEventStore(),
        retryInterval: RETRY_MS,
        onsessioninitialized: (sid) => void sessions.set(sid, { transport, server }),
      });
      const server = sessionServer(() => transport);
      transport.onclose = () => {
        if (transport.sessionId !== undefined) sessions.delete(transport.sessionId);
      };
      await server.connect(transport);
      return transport.handleRequest(req, res, body);
    }
    if (req.method === 'GET' || req.method === 'DELETE') {
      if (!existing) return reply(res, id === undefined ? 400 : 404, 'unknown session');
      return existing.transport.handleRequest(req, res);
    }
    res.setHeader('allow', 'GET, POST, DELETE');
    return reply(res, 405, 'method not allowed');
  };

  const http = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) reply(res, 500, `internal error: ${(e as Error).message}`);
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(port, '127.0.0.1', () => resolve());
  });
  const { port: bound } = http.address() as AddressInfo;
  return {
    url: new URL(`http://127.0.0.1:${bound}/mcp`),
    sessions: () => sessions.size,
    close: async () => {
      await Promise.allSettled([...sessions.values()].map((s) => s.server.close()));
      sessions.clear();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const target = await startConformanceTarget(Number(process.argv[2] ?? 0));
  process.stdout.write(`listening ${target.url.href}\n`);
  const stop = () => void target.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
