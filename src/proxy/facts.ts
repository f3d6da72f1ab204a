/**
 * The request facts a proxy puts in every policy request (`server`,
 * `serverType`, `serverSource`, `transport`): given explicitly, or derived
 * from how the proxy reaches its server.
 */
import { McpPolicyError } from '../core/errors.js';
import { SERVER_TYPES, type ServerType, type Transport } from '../policy/model.js';

/** The facts that describe one MCP server to the policy. */
export interface ServerFacts {
  readonly server: string;
  readonly serverType?: ServerType;
  readonly serverSource?: string;
  readonly transport: Transport;
}

/** How the proxy reaches the MCP server it governs. */
export type ServerTarget =
  | { readonly kind: 'command'; readonly command: string; readonly args: readonly string[] }
  | { readonly kind: 'url'; readonly url: URL; readonly transport: 'streamable' | 'sse' };

/** Launchers whose first non-option argument names the real server package or script. */
const LAUNCHERS = new Set(['npx', 'bunx', 'uvx', 'pnpx', 'node', 'bun', 'deno', 'python', 'python3', 'uv', 'pipx']);

/**
 * A server name from a command line, so the policies' `server` rules apply
 * without a flag: `npx @modelcontextprotocol/server-filesystem /d` and
 * `node_modules/.bin/mcp-server-filesystem` both give `filesystem`.
 */
export function serverNameFromCommand(command: string, args: readonly string[]): string {
  const base = (p: string) => p.split(/[\\/]/).filter(Boolean).at(-1) ?? p;
  let word = command;
  if (LAUNCHERS.has(base(command))) {
    const skip = new Set(['run', 'dlx', 'exec', '-y', '--yes', '-q', '--quiet']);
    word = args.find((a) => !a.startsWith('-') && !skip.has(a)) ?? command;
  }
  let name = base(word.replace(/@[^/@]*$/, '')); // drop a trailing @version
  if (name === 'index.js' || name === 'index.mjs' || name === 'dist') {
    name =
      base(
        word
          .split(/[\\/]/)
          .slice(0, -1)
          .filter((p) => p !== 'dist')
          .join('/'),
      ) || name;
  }
  name = name.replace(/\.(m?js|cjs|ts|py)$/, '');
  name = name.replace(/^(mcp-server-|server-|mcp-)/, '').replace(/(-mcp-server|-mcp|-server)$/, '');
  return name === '' ? 'server' : name;
}

/** The transport a URL speaks unless told: SSE when its path ends in `/sse`. */
export function transportForUrl(url: URL): 'streamable' | 'sse' {
  return /\/sse\/?$/.test(url.pathname) ? 'sse' : 'streamable';
}

/** Options that override derived facts. */
export interface FactOptions {
  readonly server?: string;
  readonly serverType?: string;
  readonly serverSource?: string;
}

/**
 * The facts for a target: a command is `stdio` with a name from the command
 * line; a URL is `remote`, its transport and URL as the source, its host as the
 * name. Options win.
 */
export function serverFacts(target: ServerTarget, options: FactOptions = {}): ServerFacts {
  if (options.serverType !== undefined && !(SERVER_TYPES as readonly string[]).includes(options.serverType)) {
    throw new McpPolicyError(
      'usage',
      `unknown server type "${options.serverType}"; expected ${SERVER_TYPES.join(', ')}`,
    );
  }
  const derived =
    target.kind === 'command'
      ? { server: serverNameFromCommand(target.command, target.args), transport: 'stdio' as const }
      : {
          server: target.url.hostname,
          serverType: 'remote' as const,
          serverSource: target.url.href,
          transport: target.transport,
        };
  const serverType = (options.serverType as ServerType | undefined) ?? derived.serverType;
  const serverSource = options.serverSource ?? derived.serverSource;
  return {
    server: options.server ?? derived.server,
    transport: derived.transport,
    ...(serverType !== undefined && { serverType }),
    ...(serverSource !== undefined && { serverSource }),
  };
}
