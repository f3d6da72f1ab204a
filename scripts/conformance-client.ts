/**
 * The MCP client the conformance suite's client scenarios run
 * (`conformance client --command "node dist/scripts/conformance-client.js"`):
 * the suite starts a scenario server, appends its URL to the command and
 * names the scenario in `MCP_CONFORMANCE_SCENARIO`.
 *
 * With `MCP_POLICY_CONFORMANCE_POLICY=<policy file>` the client that the
 * scenario server sees is `mcp-policy proxy <policy> --upstream-url <URL>`:
 * an SDK client drives the proxy over stdio, and the proxy talks to the
 * scenario server with its own transport, so the scenario checks what the
 * proxy sends and how it reconnects. Without it the SDK client connects to
 * the URL itself, the baseline the proxy is compared with.
 *
 * Exits 0 when the scenario's steps completed, 1 otherwise (the suite then
 * prints this process's output).
 */
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { type Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { CallToolResultSchema, ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';

const CLI = fileURLToPath(new URL('../../bin/mcp-policy.js', import.meta.url));

/** The client scenarios this driver knows, and what each does once connected. */
const CLIENT_SCENARIOS = ['initialize', 'tools_call', 'elicitation-sep1034-client-defaults', 'sse-retry'] as const;
type ClientScenario = (typeof CLIENT_SCENARIOS)[number];

function transportTo(url: string, policy: string | undefined): Transport {
  if (policy === undefined) return new StreamableHTTPClientTransport(new URL(url));
  return new StdioClientTransport({
    command: process.execPath,
    args: [CLI, 'proxy', policy, '--upstream-url', url],
    // The proxy's diagnostics go to this process's standard error, which the suite shows on failure.
    stderr: 'inherit',
  });
}

async function run(scenario: ClientScenario, url: string, policy: string | undefined): Promise<void> {
  const client = new Client(
    { name: 'mcp-policy-conformance-client', version: '1.0.0' },
    // The SDK fills in an elicitation form's defaults only when the client says it applies them.
    scenario === 'elicitation-sep1034-client-defaults'
      ? { capabilities: { elicitation: { form: { applyDefaults: true } } } }
      : {},
  );
  if (scenario === 'elicitation-sep1034-client-defaults') {
    // Accepting with nothing filled in: the defaults must reach the server.
    client.setRequestHandler(ElicitRequestSchema, () => ({ action: 'accept', content: {} }));
  }
  const transport = transportTo(url, policy);
  await client.connect(transport);
  try {
    switch (scenario) {
      case 'initialize':
        await client.listTools();
        break;
      case 'tools_call': {
        await client.listTools();
        const result = await client.callTool({ name: 'add_numbers', arguments: { a: 5, b: 3 } });
        if (result.isError) throw new Error(`add_numbers failed: ${JSON.stringify(result.content)}`);
        break;
      }
      case 'elicitation-sep1034-client-defaults':
        await client.listTools();
        await client.callTool({ name: 'test_client_elicitation_defaults', arguments: {} });
        break;
      case 'sse-retry':
        // The server ends this call's stream before answering; the answer comes on the resumed stream.
        await client.request(
          { method: 'tools/call', params: { name: 'test_reconnection', arguments: {} } },
          CallToolResultSchema,
        );
        break;
    }
  } finally {
    await client.close();
  }
}

const scenario = process.env.MCP_CONFORMANCE_SCENARIO;
const url = process.argv[2];
if (!CLIENT_SCENARIOS.includes(scenario as ClientScenario) || url === undefined) {
  process.stderr.write(
    `conformance-client: unknown scenario ${JSON.stringify(scenario ?? '')} or no server URL; knows ${CLIENT_SCENARIOS.join(', ')}\n`,
  );
  process.exit(1);
}
try {
  await run(scenario as ClientScenario, url, process.env.MCP_POLICY_CONFORMANCE_POLICY || undefined);
  process.exit(0);
} catch (e) {
  process.stderr.write(`conformance-client: ${(e as Error).message}\n`);
  process.exit(1);
}
