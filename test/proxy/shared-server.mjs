// An MCP server on the official SDK's stdio transport, answering JSON-RPC by hand, for a proxy that shares one
// server among many client sessions. It keeps no per-client state of its own, and tells what it saw.
//   PROTOCOL=v   the only protocol version it speaks (default: the one asked for)
// Tools: whoami (pid and initializations seen), slow {name} (progress, then waits for release or cancel),
// release (answers every waiting slow call), cancelled (names of slow calls cancelled), sample (asks the client
// for a sampling), touch {uri} (says the resource changed), change (says the tool list changed),
// subscriptions (resources subscribed now), log {level} (a log message at that level), die (exits mid-call).
import process from 'node:process';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';

const transport = new StdioServerTransport();
const send = (message) => transport.send({ jsonrpc: '2.0', ...message });
const answer = (id, result) => send({ id, result });
const text = (t) => ({ content: [{ type: 'text', text: t }] });
let initializations = 0;
const waiting = new Map(); // request id -> name
const cancelled = [];
const subscriptions = new Set();
const asked = new Map(); // own request id -> resolve
let asks = 0;

const TOOLS = ['whoami', 'slow', 'release', 'cancelled', 'sample', 'touch', 'change', 'subscriptions', 'log', 'die'];

async function call(id, name, args = {}, meta = {}) {
  switch (name) {
    case 'whoami':
      return answer(id, text(JSON.stringify({ pid: process.pid, initializations })));
    case 'slow':
      if (meta.progressToken !== undefined) {
        await send({ method: 'notifications/progress', params: { progressToken: meta.progressToken, progress: 1 } });
      }
      waiting.set(id, args.name);
      return;
    case 'release':
      for (const [wid, wname] of waiting) await answer(wid, text(`done ${wname}`));
      waiting.clear();
      return answer(id, text('released'));
    case 'cancelled':
      return answer(id, text(JSON.stringify(cancelled)));
    case 'sample': {
      const own = `s${++asks}`;
      const reply = new Promise((resolve) => asked.set(own, resolve));
      await send({
        id: own,
        method: 'sampling/createMessage',
        params: { messages: [{ role: 'user', content: { type: 'text', text: 'hi' } }], maxTokens: 10 },
      });
      const r = await reply;
      return answer(id, text(r.error ? `error: ${r.error.message}` : `sampled: ${r.result.content.text}`));
    }
    case 'touch':
      await send({ method: 'notifications/resources/updated', params: { uri: args.uri } });
      return answer(id, text('touched'));
    case 'change':
      await send({ method: 'notifications/tools/list_changed' });
      return answer(id, text('changed'));
    case 'log':
      await send({
        method: 'notifications/message',
        params: { level: args.level, logger: 'shared', data: args.level },
      });
      return answer(id, text('logged'));
    case 'subscriptions':
      return answer(id, text(JSON.stringify([...subscriptions].sort())));
    case 'die':
      process.exit(3);
  }
  return send({ id, error: { code: -32602, message: `no tool ${name}` } });
}

transport.onmessage = async (message) => {
  if (!('method' in message)) {
    const resolve = asked.get(message.id);
    asked.delete(message.id);
    return resolve?.(message);
  }
  const { method, params = {} } = message;
  if (!('id' in message)) {
    if (method === 'notifications/cancelled' && waiting.has(params.requestId)) {
      cancelled.push(waiting.get(params.requestId));
      waiting.delete(params.requestId);
    }
    return;
  }
  const { id } = message;
  switch (method) {
    case 'initialize':
      initializations++;
      return answer(id, {
        protocolVersion: process.env.PROTOCOL ?? params.protocolVersion,
        capabilities: { tools: { listChanged: true }, resources: { subscribe: true }, logging: {} },
        serverInfo: { name: 'shared', version: '1.0.0' },
      });
    case 'ping':
      return answer(id, {});
    case 'tools/list':
      return answer(id, { tools: TOOLS.map((name) => ({ name, inputSchema: { type: 'object' } })) });
    case 'tools/call':
      return call(id, params.name, params.arguments, params._meta);
    case 'resources/list':
      return answer(id, { resources: [{ uri: 'file:///a', name: 'a' }] });
    case 'resources/subscribe':
      subscriptions.add(params.uri);
      return answer(id, {});
    case 'resources/unsubscribe':
      subscriptions.delete(params.uri);
      return answer(id, {});
    default:
      return send({ id, error: { code: -32601, message: `no method ${method}` } });
  }
};
await transport.start();
process.stdin.on('end', () => process.exit(0));
