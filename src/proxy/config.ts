/**
 * The proxy's config file: the server to govern and its request facts in one
 * JSON document, for clients whose MCP configuration is awkward to extend
 * with flags. Flags given on the command line win over the file.
 */
import { McpPolicyError } from '../core/errors.js';
import { readJson } from '../diagnostics/json.js';
import { UPSTREAM_SHARING, type UpstreamSharing } from './shared.js';

/** What a config file may say; every key is optional. */
export interface ProxyConfigFile {
  readonly server?: string;
  readonly serverType?: string;
  readonly serverSource?: string;
  readonly upstreamUrl?: string;
  readonly upstreamTransport?: 'streamable' | 'sse';
  /** `--upstream-sharing`: how HTTP sessions reach the server. */
  readonly upstreamSharing?: UpstreamSharing;
  /** The server command and its arguments. */
  readonly command?: readonly string[];
}

const STRING_KEYS = ['server', 'serverType', 'serverSource', 'upstreamUrl'] as const;

function invalid(file: string, pointer: string, message: string): McpPolicyError {
  return new McpPolicyError('invalid_proxy_config', `${file}: ${pointer || '/'}: ${message}`);
}

/** Parses and checks a proxy config file's text; throws `invalid_proxy_config` with a JSON pointer. */
export function parseProxyConfig(text: string, file: string): ProxyConfigFile {
  const doc = readJson(text);
  const first = doc.issues[0];
  if (doc.value === undefined || first !== undefined) {
    throw invalid(file, first?.path ?? '', first?.message ?? 'not JSON');
  }
  const v = doc.value;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(file, '', 'must be a JSON object');
  const o = v as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (![...STRING_KEYS, 'upstreamTransport', 'upstreamSharing', 'command'].includes(key)) {
      throw invalid(file, `/${key}`, `unknown field "${key}"`);
    }
  }
  for (const key of STRING_KEYS) {
    if (o[key] !== undefined && (typeof o[key] !== 'string' || o[key] === '')) {
      throw invalid(file, `/${key}`, `"${key}" must be a non-empty string`);
    }
  }
  if (o.upstreamTransport !== undefined && o.upstreamTransport !== 'streamable' && o.upstreamTransport !== 'sse') {
    throw invalid(
      file,
      '/upstreamTransport',
      `must be "streamable" or "sse", not ${JSON.stringify(o.upstreamTransport)}`,
    );
  }
  if (o.upstreamSharing !== undefined && !UPSTREAM_SHARING.includes(o.upstreamSharing as UpstreamSharing)) {
    throw invalid(file, '/upstreamSharing', `must be "session" or "shared", not ${JSON.stringify(o.upstreamSharing)}`);
  }
  if (o.command !== undefined) {
    if (!Array.isArray(o.command) || o.command.length === 0) {
      throw invalid(file, '/command', '"command" must be a non-empty array of strings');
    }
    o.command.forEach((part, k) => {
      if (typeof part !== 'string') throw invalid(file, `/command/${k}`, 'must be a string');
    });
  }
  return o as ProxyConfigFile;
}
