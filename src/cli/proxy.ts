/** `mcp-policy proxy`: argument parsing and messages; the proxy itself is src/proxy/. */
import { Command, Option } from 'commander';
import { type EngineName } from '../engines/engine.js';
import { McpPolicyError } from '../core/errors.js';
import { JWT_ALGORITHMS } from '../host/auth.js';
import { policyProfile } from '../host/policy-profile.js';
import { openSourcesWithData } from '../host/sources.js';
import { readTextFile } from '../policy/file.js';
import { parseProxyConfig } from '../proxy/config.js';
import { serverFacts, type ServerTarget, transportForUrl } from '../proxy/facts.js';
import { type HttpAuthOptions } from '../proxy/http.js';
import { fixedPrincipal } from '../proxy/identity.js';
import { startProxy } from '../proxy/proxy.js';
import { UPSTREAM_SHARING, type UpstreamSharing } from '../proxy/shared.js';
import { addVerificationOptions } from './fleet-options.js';
import { PACKAGE_VERSION } from './usage.js';
import { addSourceOptions, type CliIo, engineOption, type SourceFlags, sourcesFrom, validOrExit } from './io.js';

interface ProxyCliOptions extends SourceFlags {
  config?: string;
  server?: string;
  serverType?: string;
  serverSource?: string;
  upstreamUrl?: string;
  upstreamTransport?: 'streamable' | 'sse';
  listen: string;
  allowNonLoopback?: boolean;
  decisionLog?: string;
  pin?: string;
  pinUpdate?: boolean;
  sessionIdle?: string;
  maxSessionsPerClient?: string;
  maxChildren?: string;
  upstreamSharing?: UpstreamSharing;
  authIssuer?: string;
  authAudience?: string;
  authJwks?: string;
  authResource?: string;
  authGroupsClaim?: string;
  authClaims?: string;
  principalSub?: string;
  principalGroups?: string;
  logArguments?: boolean;
  redactArguments?: string;
  maxWork?: string;
  engine: EngineName;
}

/** A comma-separated list flag; empty entries are refused. */
function list(text: string | undefined, flag: string): string[] | undefined {
  if (text === undefined) return undefined;
  const items = text.split(',').map((s) => s.trim());
  if (items.some((s) => s === ''))
    throw new McpPolicyError('usage', `${flag} must be names separated by commas, not "${text}"`);
  return items;
}

/** The `--auth-*` flags as listener options: JWT verification needs issuer, audience and keys together. */
function authFrom(opts: ProxyCliOptions): HttpAuthOptions | undefined {
  const required = {
    '--auth-issuer': opts.authIssuer,
    '--auth-audience': opts.authAudience,
    '--auth-jwks': opts.authJwks,
  };
  const given = Object.values(required).filter((v) => v !== undefined).length;
  const extras = [opts.authResource, opts.authGroupsClaim, opts.authClaims].some((v) => v !== undefined);
  if (given === 0 && !extras) return undefined;
  if (given < 3) {
    const missing = Object.entries(required)
      .filter(([, v]) => v === undefined)
      .map(([k]) => k);
    throw new McpPolicyError('usage', `authentication also needs ${missing.join(' and ')}`);
  }
  const jwks = opts.authJwks!;
  const claims = list(opts.authClaims, '--auth-claims');
  return {
    ...(opts.authResource !== undefined && { resource: opts.authResource }),
    jwt: {
      issuer: opts.authIssuer!,
      audience: opts.authAudience!,
      algorithms: [...JWT_ALGORITHMS],
      ...(/^https?:\/\//i.test(jwks) ? { jwksUrl: jwks } : { jwksFile: jwks }),
      ...(opts.authGroupsClaim !== undefined && { groupsClaim: opts.authGroupsClaim }),
      ...(claims !== undefined && { claims }),
    },
  };
}

function positiveInteger(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1) {
    throw new McpPolicyError('usage', `${flag} must be a whole number of at least 1, not "${text}"`);
  }
  return n;
}

function parseUrl(text: string, flag: string): URL {
  try {
    return new URL(text);
  } catch {
    throw new McpPolicyError('usage', `${flag} must be a URL, not "${text}"`);
  }
}

function targetOf(command: readonly string[], opts: ProxyCliOptions): ServerTarget {
  if (opts.upstreamUrl !== undefined) {
    if (command.length > 0)
      throw new McpPolicyError('usage', 'give either --upstream-url or a server command, not both');
    const url = parseUrl(opts.upstreamUrl, '--upstream-url');
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new McpPolicyError('usage', `--upstream-url must be http:// or https://, not "${url.href}"`);
    }
    return { kind: 'url', url, transport: opts.upstreamTransport ?? transportForUrl(url) };
  }
  const [cmd, ...args] = command;
  if (cmd === undefined)
    throw new McpPolicyError('usage', 'give the server: -- <command> [args...] or --upstream-url URL');
  return { kind: 'command', command: cmd, args };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The `proxy` command, for registration in the CLI program. */
export function proxyCommand(io: CliIo): Command {
  const stderr = (text: string): void => io.stderr(text);
  return addSourceOptions(addVerificationOptions(new Command('proxy')))
    .description('run an MCP server behind the policy: filter tools and prompts, deny calls (stdio or streamable HTTP)')
    .argument('<policy-or-bundle>', 'policy (JSON or YAML), admin-settings.json, bundle.tar.gz or policy.wasm')
    .argument('[server-command...]', 'the server to start, after --')
    .option(
      '--config <file>',
      'JSON with server, serverType, serverSource, upstreamUrl, upstreamTransport, upstreamSharing, command',
    )
    .option('--server <name>', 'server name in policy requests (default: from the command or URL)')
    .option('--server-type <type>', 'registry, image or remote (default: remote for a URL, none for a command)')
    .option('--server-source <ref>', 'image reference or URL in policy requests (default: the URL for a remote)')
    .option('--upstream-url <url>', 'govern a remote server at this streamable HTTP or SSE URL instead of a command')
    .addOption(
      new Option(
        '--upstream-transport <transport>',
        'transport of --upstream-url (default: sse when the path ends in /sse)',
      ).choices(['streamable', 'sse']),
    )
    .option('--listen <where>', 'stdio, or http://127.0.0.1:PORT/PATH for streamable HTTP', 'stdio')
    .option('--allow-non-loopback', 'allow --listen on an address other machines can reach')
    .option('--session-idle <seconds>', 'HTTP: end a session idle this long (default 60)')
    .option('--max-sessions-per-client <n>', 'HTTP: sessions one client address may hold (default 256; 429 past it)')
    .option('--max-children <n>', 'HTTP: live server processes of a command server (default 128; 503 past it)')
    .addOption(
      new Option(
        '--upstream-sharing <mode>',
        'HTTP: session (a server session, a child process, per client session) or shared (one for all; stateless servers only)',
      ).choices([...UPSTREAM_SHARING]),
    )
    .option(
      '--auth-issuer <url>',
      'HTTP: every request needs a JWT from this issuer (with --auth-audience, --auth-jwks)',
    )
    .option('--auth-audience <aud>', 'HTTP: the audience a JWT must name')
    .option('--auth-jwks <url-or-file>', "HTTP: the issuer's keys, a JWKS URL or file")
    .option('--auth-resource <url>', 'HTTP: the public URL of the proxy in its metadata (default: the --listen URL)')
    .option('--auth-groups-claim <name>', "HTTP: the JWT claim holding the principal's groups")
    .option('--auth-claims <a,b>', 'HTTP: JWT claims copied into the principal for claims rules')
    .option('--principal-sub <sub>', 'a fixed principal for every request (single user, no --auth-*)')
    .option('--principal-groups <a,b>', "the fixed principal's groups")
    .option('--decision-log <file>', 'append every decision as a JSON line (mode 0600)')
    .option('--log-arguments', 'keep argument values in decision records (default: only their JSON types)')
    .option('--redact-arguments <a,b>', 'with --log-arguments: argument names whose values are still logged as types')
    .option('--max-work <n>', 'most rule checks one policy request may ask for (default 50000; refused beyond)')
    .option('--pin <lock-file>', 'pin tool definitions: withhold tools that changed since they were approved')
    .option('--pin-update', 'record the current definitions of approved tools in the --pin lock file')
    .addOption(engineOption('evaluator for a policy file'))
    .action(async (file: string, commandLine: string[], flags: ProxyCliOptions) => {
      const config = flags.config === undefined ? {} : parseProxyConfig(await readTextFile(flags.config), flags.config);
      // Flags win over the file; a command line replaces the file's command.
      const { command: configCommand, ...configFacts } = config;
      const opts = { ...configFacts, ...definedOnly(flags) } as ProxyCliOptions;
      const command =
        commandLine.length > 0 || opts.upstreamUrl !== undefined ? commandLine : [...(configCommand ?? [])];
      if (opts.pinUpdate && opts.pin === undefined)
        throw new McpPolicyError('usage', '--pin-update needs --pin <lock-file>');
      const target = targetOf(command, opts);
      const facts = serverFacts(target, opts);
      const listen = opts.listen === 'stdio' ? ('stdio' as const) : parseUrl(opts.listen, '--listen');
      const idle = positiveInteger(opts.sessionIdle, '--session-idle');
      const perClient = positiveInteger(opts.maxSessionsPerClient, '--max-sessions-per-client');
      const children = positiveInteger(opts.maxChildren, '--max-children');
      const maxWork = positiveInteger(opts.maxWork, '--max-work');
      const auth = authFrom(opts);
      if (opts.principalSub === '') throw new McpPolicyError('usage', '--principal-sub must not be empty');
      const redact = list(opts.redactArguments, '--redact-arguments');
      if (redact !== undefined && opts.logArguments !== true) {
        throw new McpPolicyError('usage', '--redact-arguments needs --log-arguments (without it no value is logged)');
      }
      const principal = fixedPrincipal(opts.principalSub, list(opts.principalGroups, '--principal-groups'));
      const { engine, data } = validOrExit(await openSourcesWithData(sourcesFrom(file, opts)), io);
      try {
        const proxy = await startProxy({
          engine,
          target,
          facts,
          listen,
          ...(opts.decisionLog !== undefined && { decisionLog: opts.decisionLog }),
          ...(opts.pin !== undefined && { pin: { path: opts.pin, update: opts.pinUpdate === true } }),
          ...(opts.allowNonLoopback !== undefined && { allowNonLoopback: opts.allowNonLoopback }),
          ...(auth !== undefined && { auth }),
          ...(principal !== undefined && { principal }),
          ...(opts.logArguments === true && { logArguments: true }),
          ...(redact !== undefined && { redactArguments: redact }),
          profile: policyProfile(data),
          ...(maxWork !== undefined && { maxWork }),
          http: {
            ...(idle !== undefined && { sessionIdleMs: idle * 1000 }),
            ...(perClient !== undefined && { maxSessionsPerClient: perClient }),
            ...(children !== undefined && { maxChildren: children }),
            ...(opts.upstreamSharing !== undefined && { upstreamSharing: opts.upstreamSharing }),
            clientInfo: { name: 'mcp-policy', version: PACKAGE_VERSION },
          },
          onerror: (e) => stderr(`mcp-policy proxy: ${e.message}\n`),
        });
        const stop = () => void proxy.close();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        const where = proxy.url ? `listening on ${proxy.url.href}` : 'on stdio';
        stderr(`mcp-policy proxy: server "${facts.server}" (${facts.transport}) ${where}\n`);
        if (proxy.url && auth === undefined) {
          const reach =
            opts.allowNonLoopback === true ? 'anyone who reaches the address' : 'this machine only (loopback)';
          stderr(
            `mcp-policy proxy: no authentication (--auth-*): every client is one anonymous caller; open to ${reach}\n`,
          );
        }
        await proxy.done;
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      } finally {
        await engine.close();
      }
    });
}
