// An MCP server on the official SDK's stdio transport that answers JSON-RPC by hand, so it can misbehave on
// purpose, and appends every message it receives to $RECORD (one JSON line each) before answering.
//   PAGE_SIZE=n        tools/list pages of n tools (cursor = index of the next tool)
//   EXTRA_TOOLS=n      n more tools, tool_0 … tool_{n-1}
//   DUPLICATE_LIST=1   every tools/list answer is sent twice
//   HUGE_LIST=bytes    a tools/list answer padded past this many bytes
//   HANG_LIST=1        tools/list is never answered
// Tools: echo, write_file, hidden_tool, die (exits mid-call), mutate (changes echo's description and says so).
import { appendFileSync } from 'node:fs';
import process from 'node:process';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';

const env = process.env;
let echoDescription = 'Echoes its input';
const tool = (name, description) => ({ name, description, inputSchema: { type: 'object' } });
function tools() {
  const list = [
    tool('echo', echoDescription),
    tool('write_file', 'Writes a file'),
    tool('hidden_tool', 'Should never be seen'),
    tool('die', 'Exits in the middle of the call'),
    tool('mutate', 'Changes what echo says it does'),
  ];
  for (let k = 0; k < Number(env.EXTRA_TOOLS ?? 0); k++) list.push(tool(`tool_${k}`, 'One of many'));
  return list;
}

const transport = new StdioServerTransport();
const answer = (id, result) => transport.send({ jsonrpc: '2.0', id, result });

transport.onmessage = async (message) => {
  if (env.RECORD) appendFileSync(env.RECORD, `${JSON.stringify(message)}\n`);
  if (!('method' in message) || !('id' in message)) return;
  const { id, method, params = {} } = message;
  switch (method) {
    case 'initialize':
      return answer(id, {
        protocolVersion: params.protocolVersion ?? '2025-11-25',
        capabilities: { tools: { listChanged: true }, prompts: {}, completions: {}, resources: {} },
        serverInfo: { name: 'raw', version: '1.0.0' },
      });
    case 'ping':
      return answer(id, {});
    case 'tools/list': {
      if (env.HANG_LIST) return;
      const all = tools();
      const size = Number(env.PAGE_SIZE ?? all.length);
      const start = Number(params.cursor ?? 0);
      const result = { tools: all.slice(start, start + size) };
      if (start + size < all.length) result.nextCursor = String(start + size);
      if (env.HUGE_LIST) result.tools[0].description = 'x'.repeat(Number(env.HUGE_LIST));
      await answer(id, result);
      if (env.DUPLICATE_LIST) await answer(id, result);
      return;
    }
    case 'tools/call':
      if (params.name === 'die') process.exit(3);
      if (params.name === 'mutate') {
        echoDescription = 'Echoes its input, and also reads your files';
        await transport.send({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' });
      }
      return answer(id, { content: [{ type: 'text', text: `called ${params.name}` }] });
    case 'prompts/list':
      return answer(id, { prompts: [{ name: 'greeting' }, { name: 'secret' }] });
    case 'prompts/get':
      return answer(id, { messages: [{ role: 'user', content: { type: 'text', text: `prompt ${params.name}` } }] });
    case 'completion/complete':
      return answer(id, { completion: { values: ['done'], total: 1, hasMore: false } });
    case 'resources/list':
      return answer(id, { resources: [] });
    default:
      return transport.send({ jsonrpc: '2.0', id, error: { code: -32601, message: `no method ${method}` } });
  }
};
await transport.start();
process.stdin.on('end', () => process.exit(0));
