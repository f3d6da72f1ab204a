/** The MCP server a proxy governs, reached with the SDK's client transports. */
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { type Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
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
    : new StreamableHTTPClientTransport(target.url);
}
