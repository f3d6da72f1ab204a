/**
 * The proxy under version 2 policies, end to end with the real SDK client and
 * the real filesystem and everything servers: identity from real signed JWTs
 * (a JWKS file), argument and annotation conditions deciding real tool calls,
 * resources decided by URI, completions and prompts by their arguments, and
 * decision records that keep argument values out unless asked.
 */
import { type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { basename, join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NativeEngine } from '../src/engines/native.js';
import { withoutArgumentValues, withRedactedArguments } from '../src/host/decision-log.js';
import { type Policy } from '../src/policy/model.js';
import { serverFacts } from '../src/proxy/facts.js';
import { type RunningProxy, startProxy } from '../src/proxy/proxy.js';
import {
  CLI,
  type Connected,
  EVERYTHING,
  FILESYSTEM,
  runProxyToExit,
  startHttpProxy,
  stop,
  tempDir,
  text,
} from './proxy/helpers.js';

const ISSUER = 'https://issuer.example';
const AUDIENCE = 'mcp-proxy-test';
const POLICY_DENIED = -32003;

type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

/** A real SDK client to `mcp-policy proxy` over stdio; a failed start reports the proxy's stderr. */
async function stdioProxy(proxyArgs: readonly string[], setup?: (client: Client) => void): Promise<Connected> {
  const env = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined));
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, 'proxy', ...proxyArgs],
    env,
    stderr: 'pipe',
  });
  let err = '';
  transport.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const client = new Client({ name: 'proxy-v2-test', version: '1.0.0' }, { capabilities: { sampling: {} } });
  setup?.(client);
  try {
    await client.connect(transport);
  } catch (e) {
    throw new Error(`the proxy did not start (${String(e)}): ${err}`, { cause: e });
  }
  return { client, stderr: () => err, close: () => client.close() };
}

/** Polls a condition until it holds or the deadline passes. */
async function until<T>(read: () => T | undefined, what: string, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

function records(file: string): Record<string, unknown>[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The denial mark of a tool result (in `_meta`: clients check `structuredContent` against an output schema). */
function structured(result: unknown): unknown {
  return (result as { _meta?: Record<string, unknown> })._meta?.['io.github.mcp-policy/denial'];
}

async function rpcError(work: Promise<unknown>): Promise<{ code: number; message: string; data?: unknown }> {
  try {
    await work;
  } catch (e) {
    return e as { code: number; message: string; data?: unknown };
  }
  throw new Error('expected the request to be refused');
}

describe('identity and arguments through one authenticated HTTP proxy (filesystem server)', () => {
  let dir: string;
  let log: string;
  let proxy: { url: URL; child: ChildProcess; stderr: () => string };
  let privateKey: PrivateKey;
  let otherKey: PrivateKey;

  const token = (sub: string, groups: string[], claims: Record<string, unknown> = {}, key = privateKey) =>
    new SignJWT({ groups, ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject(sub)
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(key);

  const connect = async (bearer: string): Promise<Client> => {
    const client = new Client({ name: 'proxy-v2-test', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(proxy.url, { requestInit: { headers: { authorization: `Bearer ${bearer}` } } }),
    );
    return client;
  };

  beforeAll(async () => {
    dir = tempDir();
    writeFileSync(join(dir, 'hello.txt'), 'hi\n');
    log = join(tempDir(), 'decisions.jsonl');
    const pair = await generateKeyPair('ES256');
    privateKey = pair.privateKey;
    otherKey = (await generateKeyPair('ES256')).privateKey;
    const jwks = join(tempDir(), 'jwks.json');
    writeFileSync(jwks, JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }] }));
    const inside = [`${dir}/*`, dir];
    const policy = {
      version: 2,
      default: 'deny',
      rules: [
        {
          action: 'invoke',
          annotations: { destructiveHint: true },
          groups: ['writers'],
          arguments: [{ path: '/path', match: inside, normalize: 'path' }],
          allow: true,
          reason: 'writers may change files in the folder',
        },
        {
          action: 'invoke',
          annotations: { destructiveHint: true },
          allow: false,
          reason: 'destructive tools need the writers group and the folder',
        },
        {
          action: 'invoke',
          arguments: [{ path: '/path', match: inside, normalize: 'path' }],
          allow: true,
          reason: 'reading in the folder',
        },
        { action: 'load', tools: ['move_file'], users: ['alice'], allow: false, reason: 'alice does not move files' },
        { action: 'load', allow: true },
      ],
    };
    const file = join(tempDir(), 'policy.json');
    writeFileSync(file, JSON.stringify(policy));
    proxy = await startHttpProxy([
      file,
      '--engine',
      'native',
      '--auth-issuer',
      ISSUER,
      '--auth-audience',
      AUDIENCE,
      '--auth-jwks',
      jwks,
      '--auth-groups-claim',
      'groups',
      '--auth-claims',
      'team',
      '--decision-log',
      log,
      '--',
      process.execPath,
      FILESYSTEM,
      dir,
    ]);
  });
  afterAll(() => stop(proxy.child));

  it('gives two users different listings and different call results', async () => {
    const alice = await connect(await token('alice', ['readers']));
    const bob = await connect(await token('bob', ['readers', 'writers']));
    try {
      const aliceTools = (await alice.listTools()).tools.map((t) => t.name);
      const bobTools = (await bob.listTools()).tools.map((t) => t.name);
      expect(bobTools).toContain('move_file');
      expect(aliceTools).not.toContain('move_file');
      expect(aliceTools).toContain('write_file');

      const hello = { path: join(dir, 'hello.txt') };
      expect(text(await alice.callTool({ name: 'read_text_file', arguments: hello }))).toBe('hi\n');

      // write_file declares destructiveHint: true; alice is no writer.
      const aliceFile = join(dir, 'alice.txt');
      const denied = await alice.callTool({ name: 'write_file', arguments: { path: aliceFile, content: 'x' } });
      expect(denied.isError).toBe(true);
      expect(structured(denied)).toEqual({
        denied: true,
        reason: 'destructive tools need the writers group and the folder',
        rule: 1,
      });
      expect(existsSync(aliceFile)).toBe(false);

      const bobFile = join(dir, 'bob.txt');
      const written = await bob.callTool({ name: 'write_file', arguments: { path: bobFile, content: 'from bob' } });
      expect(written.isError).toBeFalsy();
      expect(readFileSync(bobFile, 'utf8')).toBe('from bob');
    } finally {
      await Promise.all([alice.close(), bob.close()]);
    }
  });

  it('decides paths after cleaning them, so .. cannot leave the folder', async () => {
    const bob = await connect(await token('bob', ['writers']));
    try {
      const escape = join(dir, 'sub', '..', '..', `${basename(dir)}-escape.txt`);
      const r = await bob.callTool({ name: 'write_file', arguments: { path: escape, content: 'x' } });
      expect(structured(r)).toMatchObject({ denied: true, rule: 1 });
      expect(existsSync(join(dir, '..', `${basename(dir)}-escape.txt`))).toBe(false);
      // Before this session lists the tools, a tool declares nothing: MCP's defaults make it destructive.
      const outside = { path: `${dir}/../../etc/passwd` };
      const unlisted = await bob.callTool({ name: 'read_text_file', arguments: outside });
      expect(structured(unlisted)).toMatchObject({ denied: true, rule: 1 });
      // Listed, it declares readOnlyHint: true (so it is not destructive), and outside the folder the default denies.
      await bob.listTools();
      const read = await bob.callTool({ name: 'read_text_file', arguments: outside });
      expect(structured(read)).toMatchObject({ denied: true, rule: null });
    } finally {
      await bob.close();
    }
  });

  it('refuses requests without a valid token with a challenge naming the metadata', async () => {
    const post = (headers: Record<string, string>) =>
      fetch(proxy.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
      });
    const missing = await post({});
    expect(missing.status).toBe(401);
    const metadataUrl = new URL('/.well-known/oauth-protected-resource/mcp', proxy.url).href;
    expect(missing.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${metadataUrl}"`);

    const forged = await post({ authorization: `Bearer ${await token('mallory', ['writers'], {}, otherKey)}` });
    expect(forged.status).toBe(401);
    expect(forged.headers.get('www-authenticate')).toContain('error="invalid_token"');
    const expired = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject('bob')
      .setExpirationTime(Math.floor(Date.now() / 1000) - 3600)
      .sign(privateKey);
    expect((await post({ authorization: `Bearer ${expired}` })).status).toBe(401);
    const wrongAudience = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(ISSUER)
      .setAudience('another-resource')
      .setSubject('bob')
      .setExpirationTime('10m')
      .sign(privateKey);
    expect((await post({ authorization: `Bearer ${wrongAudience}` })).status).toBe(401);

    const health = (await (await fetch(new URL('/health', proxy.url))).json()) as {
      authFailures?: Record<string, number>;
    };
    expect(health.authFailures?.missing_token).toBeGreaterThanOrEqual(1);
    expect(health.authFailures?.invalid_token).toBeGreaterThanOrEqual(3);

    const metadata = await fetch(metadataUrl);
    expect(metadata.status).toBe(200);
    expect(await metadata.json()).toEqual({
      resource: proxy.url.href,
      authorization_servers: [ISSUER],
      bearer_methods_supported: ['header'],
    });
  });

  it("keeps a session to the subject that opened it: another user's token cannot use it", async () => {
    const transport = new StreamableHTTPClientTransport(proxy.url, {
      requestInit: { headers: { authorization: `Bearer ${await token('bob', ['writers'])}` } },
    });
    const bob = new Client({ name: 'proxy-v2-test', version: '1.0.0' });
    await bob.connect(transport);
    try {
      const r = await fetch(proxy.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-session-id': transport.sessionId!,
          'mcp-protocol-version': '2025-06-18',
          authorization: `Bearer ${await token('alice', ['readers'])}`,
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/list' }),
      });
      expect(r.status).toBe(404);
    } finally {
      await bob.close();
    }
  });

  it('logs who asked and the types of the arguments, never their values or the token', async () => {
    const secret = 'top-secret-content-1234';
    const bearer = await token('carol', ['writers'], { team: 'platform' });
    const carol = await connect(bearer);
    try {
      // Listed first, so the call carries the annotations the server declared.
      await carol.listTools();
      await carol.callTool({ name: 'write_file', arguments: { path: join(dir, 'carol.txt'), content: secret } });
    } finally {
      await carol.close();
    }
    const record = await until(
      () =>
        records(log).find(
          (r) =>
            r.stage === 'tools/call' &&
            (r.request as { action?: string; principal?: { sub?: string } }).principal?.sub === 'carol' &&
            (r.request as { action?: string }).action === 'invoke',
        ),
      'the decision record of carol',
    );
    expect(record.request).toMatchObject({
      tool: 'write_file',
      principal: { sub: 'carol', groups: ['writers'], claims: { team: 'platform' } },
      arguments: { path: 'string', content: 'string' },
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    });
    expect((record.decision as { allowed: boolean }).allowed).toBe(true);
    const all = readFileSync(log, 'utf8');
    expect(all).not.toContain(secret);
    expect(all).not.toContain(join(dir, 'carol.txt'));
    expect(all).not.toContain(bearer);
  });
});

describe('resources, prompts and completions by URI and arguments (everything server, fixed principal)', () => {
  let c: Connected;
  let log: string;
  const policy = {
    version: 2,
    default: 'deny',
    rules: [
      { action: 'resource', resources: ['demo://resource/static/*'], users: ['dana'], allow: true },
      { action: 'resource', allow: false, reason: 'only the static documents' },
      {
        action: 'prompt',
        tools: ['args-prompt'],
        arguments: [{ path: '/city', equals: 'Paris' }],
        allow: true,
      },
      { action: 'prompt', tools: ['simple-prompt'], allow: true },
      { action: 'prompt', allow: false, reason: 'no other prompt' },
      { allow: true },
    ],
  };
  beforeAll(async () => {
    const dir = tempDir();
    const file = join(dir, 'policy.json');
    log = join(dir, 'decisions.jsonl');
    writeFileSync(file, JSON.stringify(policy));
    // The wasm engine (the default) here; the authenticated proxy above runs the native one.
    c = await stdioProxy(
      [
        file,
        '--principal-sub',
        'dana',
        '--decision-log',
        log,
        '--log-arguments',
        '--redact-arguments',
        'State',
        '--server',
        'everything',
        '--',
        process.execPath,
        EVERYTHING,
        'stdio',
      ],
      (client) =>
        client.setRequestHandler(CreateMessageRequestSchema, () => ({
          model: 'test-model',
          role: 'assistant',
          content: { type: 'text', text: 'sampled reply' },
        })),
    );
  });
  afterAll(() => c.close());

  it('lists and reads only the resources the policy allows', async () => {
    const listed = (await c.client.listResources()).resources.map((r) => r.uri);
    expect(listed.length).toBeGreaterThan(0);
    expect(listed.every((u) => u.startsWith('demo://resource/static/'))).toBe(true);
    expect((await c.client.listResourceTemplates()).resourceTemplates).toEqual([]);

    const first = listed[0]!;
    const read = await c.client.readResource({ uri: first });
    expect(read.contents[0]?.uri).toBe(first);

    const dynamic = 'demo://resource/dynamic/text/1';
    const err = await rpcError(c.client.readResource({ uri: dynamic }));
    expect(err.code).toBe(POLICY_DENIED);
    expect(err.data).toEqual({ reason: 'only the static documents', rule: 1 });
    expect((await rpcError(c.client.subscribeResource({ uri: dynamic }))).code).toBe(POLICY_DENIED);
  });

  it('decides prompts on their arguments and refuses completions of what is denied', async () => {
    const paris = await c.client.getPrompt({ name: 'args-prompt', arguments: { city: 'Paris', state: 'Secretland' } });
    expect(JSON.stringify(paris.messages)).toContain('Paris');
    const london = await rpcError(c.client.getPrompt({ name: 'args-prompt', arguments: { city: 'London' } }));
    expect(london.code).toBe(POLICY_DENIED);

    const prompt = await rpcError(
      c.client.complete({
        ref: { type: 'ref/prompt', name: 'completable-prompt' },
        argument: { name: 'department', value: 'E' },
      }),
    );
    expect(prompt.code).toBe(POLICY_DENIED);
    expect(prompt.data).toEqual({ reason: 'no other prompt', rule: 4 });
    const template = await rpcError(
      c.client.complete({
        ref: { type: 'ref/resource', uri: 'demo://resource/dynamic/text/{resourceId}' },
        argument: { name: 'resourceId', value: '1' },
      }),
    );
    expect(template.code).toBe(POLICY_DENIED);
  });

  it("passes the server's own requests to the client and records them", async () => {
    const result = await c.client.callTool({
      name: 'trigger-sampling-request',
      arguments: { prompt: 'say hi', maxTokens: 5 },
    });
    expect(text(result)).toContain('sampled reply');
    const record = await until(
      () => records(log).find((r) => r.stage === 'server/request'),
      'the record of the sampling request',
    );
    expect(record.request).toEqual({ method: 'sampling/createMessage', server: 'everything' });
    expect(record.decision).toMatchObject({ allowed: true, rule: null });
  });

  it('keeps argument values in the log with --log-arguments, but for the names of --redact-arguments', async () => {
    const record = await until(
      () =>
        records(log).find(
          (r) =>
            r.stage === 'prompts/get' && (r.request as { arguments?: { city?: string } }).arguments?.city === 'London',
        ),
      'the record of the denied prompt',
    );
    expect(record.request).toMatchObject({ action: 'prompt', tool: 'args-prompt', principal: { sub: 'dana' } });
    const paris = records(log).find(
      (r) => r.stage === 'prompts/get' && (r.request as { arguments?: { city?: string } }).arguments?.city === 'Paris',
    );
    expect((paris?.request as { arguments?: unknown }).arguments).toEqual({ city: 'Paris', state: 'string' });
    expect(readFileSync(log, 'utf8')).not.toContain('Secretland');
  });
});

describe('the token stays at the proxy; per-subject session limits (in process, an HTTP server behind)', () => {
  const seen: { authorization: string | undefined }[] = [];
  let upstream: Server;
  let proxy: RunningProxy;
  let key: PrivateKey;

  const bearer = (sub: string) =>
    new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject(sub)
      .setExpirationTime('10m')
      .sign(key);
  const connect = async (sub: string) => {
    const client = new Client({ name: 'proxy-v2-test', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(proxy.url!, {
        requestInit: { headers: { authorization: `Bearer ${await bearer(sub)}` } },
      }),
    );
    return client;
  };

  beforeAll(async () => {
    const transports = new Map<string, StreamableHTTPServerTransport>();
    upstream = createServer((req, res) => {
      seen.push({ authorization: req.headers.authorization });
      const sid = req.headers['mcp-session-id'];
      const existing = typeof sid === 'string' ? transports.get(sid) : undefined;
      if (existing) return void existing.handleRequest(req, res);
      const transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => void transports.set(id, transport),
      });
      const server = new McpServer({ name: 'upstream', version: '1.0.0' });
      server.registerTool('whoami', {}, () => ({ content: [{ type: 'text', text: 'someone' }] }));
      void server.connect(transport).then(() => transport.handleRequest(req, res));
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const pair = await generateKeyPair('ES256');
    key = pair.privateKey;
    const jwks = join(tempDir(), 'jwks.json');
    writeFileSync(jwks, JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }] }));
    const target = {
      kind: 'url' as const,
      url: new URL(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}/mcp`),
      transport: 'streamable' as const,
    };
    const policy: Policy = {
      version: 2,
      default: 'deny',
      rules: [
        { action: 'invoke', users: ['erin'], allow: true },
        { action: 'load', allow: true },
      ],
    };
    proxy = await startProxy({
      engine: new NativeEngine(policy),
      target,
      facts: serverFacts(target, { server: 'upstream' }),
      listen: new URL('http://127.0.0.1:0/mcp'),
      auth: { jwt: { issuer: ISSUER, audience: AUDIENCE, algorithms: ['ES256'], jwksFile: jwks } },
      http: { maxSessionsPerClient: 1 },
    });
  });
  afterAll(async () => {
    await proxy.close();
    upstream.closeAllConnections();
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
  });

  it('never sends the client token to the server, and decides for the token subject', async () => {
    const erin = await connect('erin');
    const frank = await connect('frank');
    try {
      expect(text(await erin.callTool({ name: 'whoami', arguments: {} }))).toBe('someone');
      const denied = await frank.callTool({ name: 'whoami', arguments: {} });
      expect(structured(denied)).toMatchObject({ denied: true, rule: null });
    } finally {
      await Promise.all([erin.close(), frank.close()]);
    }
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.filter((h) => h.authorization !== undefined)).toEqual([]);
  });

  it('counts sessions per subject, not per address', async () => {
    const first = await connect('gina');
    try {
      // Same address, another subject: its own share.
      const other = await connect('hank');
      await other.close();
      // Same subject again: past its share of one.
      const refused = await fetch(proxy.url!, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          authorization: `Bearer ${await bearer('gina')}`,
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'initialize',
          params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
        }),
      });
      expect(refused.status).toBe(429);
      await refused.body?.cancel();
    } finally {
      await first.close();
    }
  });
});

describe('proxy flags for identity', () => {
  it('refuses incomplete authentication, authentication over stdio, and a fixed principal with it', async () => {
    const policy = join(tempDir(), 'policy.json');
    writeFileSync(policy, JSON.stringify({ version: 2, default: 'allow', rules: [] }));
    const server = ['--', process.execPath, FILESYSTEM, tempDir()];
    const partial = await runProxyToExit([policy, '--auth-issuer', ISSUER, ...server]);
    expect(partial.code).toBe(2);
    expect(partial.stderr).toContain('authentication also needs --auth-audience and --auth-jwks (usage)');
    const auth = ['--auth-issuer', ISSUER, '--auth-audience', AUDIENCE, '--auth-jwks', policy];
    const stdio = await runProxyToExit([policy, ...auth, ...server]);
    expect(stdio.code).toBe(2);
    expect(stdio.stderr).toContain('authentication (--auth-*) needs --listen http://');
    const both = await runProxyToExit([
      policy,
      ...auth,
      '--listen',
      'http://127.0.0.1:0/mcp',
      '--principal-sub',
      'ivan',
      ...server,
    ]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('give either authentication (--auth-*) or a fixed principal, not both');
  });

  it('says at start that an HTTP listener without authentication is anonymous and loopback only', async () => {
    const policy = join(tempDir(), 'policy.json');
    writeFileSync(policy, JSON.stringify({ version: 2, default: 'allow', rules: [] }));
    const proxy = await startHttpProxy([policy, '--engine', 'native', '--', process.execPath, FILESYSTEM, tempDir()]);
    try {
      await until(() => (/no authentication/.test(proxy.stderr()) ? true : undefined), 'the note about authentication');
      expect(proxy.stderr()).toContain(
        'no authentication (--auth-*): every client is one anonymous caller; open to this machine only (loopback)',
      );
    } finally {
      await stop(proxy.child);
    }
  });
});

describe('decision records without argument values', () => {
  it('replace every value by its JSON type and keep the shape', () => {
    const request = { action: 'invoke', arguments: { a: 'x', b: [1, true, null], c: { d: { e: 2.5 } } } };
    expect(withoutArgumentValues(request)).toEqual({
      action: 'invoke',
      arguments: { a: 'string', b: ['number', 'boolean', 'null'], c: { d: { e: 'number' } } },
    });
    expect(withoutArgumentValues({ action: 'load' })).toEqual({ action: 'load' });
  });

  it('with values kept, still replace those under the redacted names, at any depth and in any case', () => {
    const request = { arguments: { user: 'u', Password: 'p', nested: [{ token: { a: 1 } }] } };
    expect(withRedactedArguments(request, ['password', 'TOKEN'])).toEqual({
      arguments: { user: 'u', Password: 'string', nested: [{ token: { a: 'number' } }] },
    });
  });
});
