/** `mcp-policy serve`: argument parsing and messages; the service itself is src/server/. */
import { Command, Option } from 'commander';
import { McpPolicyError } from '../core/errors.js';
import { OpaDecisionLogUploader } from '../fleet/opa-upload.js';
import { addVerificationOptions, verificationFrom } from './fleet-options.js';
import { addSourceOptions, type SourceFlags, sourcesFrom } from './io.js';
import { JWT_ALGORITHMS } from '../host/auth.js';
import { requireAuthOffLoopback, ServeAuthentication, type ServeAuthOptions } from '../server/authentication.js';
import { desktopVmSocketNote, dockerDesktopSocketPath, parseAddress } from '../server/listen.js';
import { startServe } from '../server/service.js';
import { clusterMetrics, isWorker, runPrimary } from '../server/workers.js';

interface ServeCliOptions extends SourceFlags {
  engine: 'wasm' | 'native';
  socket?: string;
  dockerDesktop?: boolean;
  addr?: string;
  decisionLog?: string;
  logMaxBytes?: number;
  logArguments?: boolean;
  watch?: boolean;
  bundleUrl?: string;
  pollInterval: number;
  shadow?: string;
  workers: number;
  maxBody?: number;
  maxBatch?: number;
  maxWork?: number;
  idleTimeout?: number;
  decisionLogUrl?: string;
  authTokenFile?: string;
  authIssuer?: string;
  authAudience?: string;
  authJwks?: string;
}

/** The `--auth-*` flags as service options: a token file, JWT verification (all three flags), or both. */
function authFrom(opts: ServeCliOptions): ServeAuthOptions | undefined {
  const jwtFlags = {
    '--auth-issuer': opts.authIssuer,
    '--auth-audience': opts.authAudience,
    '--auth-jwks': opts.authJwks,
  };
  const given = Object.entries(jwtFlags).filter(([, v]) => v !== undefined);
  if (given.length > 0 && given.length < 3) {
    const missing = Object.keys(jwtFlags).filter((k) => jwtFlags[k as keyof typeof jwtFlags] === undefined);
    throw new McpPolicyError('usage', `jwt verification also needs ${missing.join(' and ')}`);
  }
  if (given.length === 0 && opts.authTokenFile === undefined) return undefined;
  const jwks = opts.authJwks;
  return {
    ...(opts.authTokenFile !== undefined && { tokenFile: opts.authTokenFile }),
    ...(jwks !== undefined && {
      jwt: {
        issuer: opts.authIssuer!,
        audience: opts.authAudience!,
        algorithms: [...JWT_ALGORITHMS],
        ...(/^https?:\/\//i.test(jwks) ? { jwksUrl: jwks } : { jwksFile: jwks }),
      },
    }),
  };
}

function count(flag: string, min = 1): (v: string) => number {
  return (v) => {
    if (!/^\d+$/.test(v) || Number(v) < min) {
      throw new McpPolicyError('usage', `${flag} must be a whole number of at least ${min}, not "${v}"`);
    }
    return Number(v);
  };
}

function waitForSignal(): Promise<string> {
  return new Promise((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
}

/** The `serve` command, for registration in the CLI program. */
export function serveCommand(stderr: (text: string) => void): Command {
  return addSourceOptions(addVerificationOptions(new Command('serve')))
    .option(
      '--decision-log-url <url>',
      "also upload decisions to an OPA decision-log collector (OPA's batched gzip shape)",
    )
    .description("serve decisions over HTTP: Docker's MCP gateway protocol and OPA's data API (unix socket or TCP)")
    .argument('[policy-or-bundle]', 'policy (JSON or YAML), admin-settings.json, bundle.tar.gz or policy.wasm')
    .addOption(
      new Option('-e, --engine <engine>', 'evaluator for a policy file (native needs no opa; a bundle runs on wasm)')
        .choices(['wasm', 'native'])
        .default('wasm'),
    )
    .option('--socket <path>', 'listen on this unix socket (created owner-only)')
    .option('--docker-desktop', "listen where Docker's MCP gateway dials (Linux: ~/.docker/desktop/backend.sock)")
    .option('--addr <host:port>', 'listen on TCP (host defaults to 127.0.0.1)')
    .option('--decision-log <path>', 'JSON Lines decision and audit log ("-" for standard output)')
    .option('--log-max-bytes <n>', 'rotate the decision log at this size', count('--log-max-bytes'))
    .option('--log-arguments', "keep argument values in decision records (by default only each value's JSON type)")
    .option('--watch', 'reload when the policy or bundle file changes')
    .option('--bundle-url <url>', 'poll this URL for bundles (ETag / If-None-Match)')
    .option('--poll-interval <ms>', 'bundle URL poll interval', count('--poll-interval', 100), 10_000)
    .option('--shadow <policy-or-bundle>', 'also decide with this candidate; log and count differences')
    .option('--workers <n>', 'worker processes', count('--workers'), 1)
    .option('--max-body <bytes>', 'largest request body (413 beyond)', count('--max-body'))
    .option('--max-batch <n>', 'most requests in one batch (413 beyond)', count('--max-batch'))
    .option(
      '--max-work <n>',
      'most rule checks one request may ask for (413 beyond; 4 times it in flight, 429 beyond)',
      count('--max-work'),
    )
    .option('--idle-timeout <ms>', 'close connections idle this long', count('--idle-timeout', 100))
    .option('--auth-token-file <file>', 'TCP requests need one of these bearer tokens (one a line; re-read on change)')
    .option('--auth-issuer <url>', 'TCP requests may carry a JWT from this issuer (with --auth-audience, --auth-jwks)')
    .option('--auth-audience <aud>', 'the audience a JWT must name')
    .option('--auth-jwks <url-or-file>', "the issuer's keys: a JWKS URL or file")
    .action(async (file: string | undefined, opts: ServeCliOptions) => {
      const notify = (line: string) => stderr(`mcp-policy serve: ${line}\n`);
      if (opts.socket !== undefined && opts.dockerDesktop) {
        throw new McpPolicyError('usage', 'give --socket or --docker-desktop, not both');
      }
      const socket = opts.dockerDesktop ? dockerDesktopSocketPath() : opts.socket;
      const tcp = opts.addr === undefined ? undefined : parseAddress(opts.addr);
      if (socket === undefined && tcp === undefined) {
        throw new McpPolicyError('usage', 'give --socket, --docker-desktop or --addr');
      }
      const auth = authFrom(opts);
      requireAuthOffLoopback(tcp, auth);
      if (auth !== undefined && tcp === undefined) {
        notify('note: --auth-* applies to TCP only; the owner-only socket is not authenticated');
      }
      if (opts.dockerDesktop) {
        const note = desktopVmSocketNote();
        if (note) notify(note);
      }
      if (opts.workers > 1 && !isWorker()) {
        // Checked here too, so a bad token file is its own error, not a worker that failed to start.
        if (auth !== undefined && tcp !== undefined) (await ServeAuthentication.open(auth)).stop();
        await runPrimary(opts.workers, socket, notify);
        return;
      }
      const worker = isWorker();
      const decisionLog =
        worker && opts.decisionLog !== undefined && opts.decisionLog !== '-'
          ? `${opts.decisionLog}.${process.pid}`
          : opts.decisionLog;
      const verification = verificationFrom(opts);
      // The key checks every bundle the service loads (the file and --bundle-url alike), so it is passed on its own.
      const { verificationKey: _key, verificationKeyId: _keyId, ...sourceFlags } = opts;
      const handle = await startServe({
        ...(verification !== undefined && { verification }),
        ...(opts.decisionLogUrl !== undefined && { sink: new OpaDecisionLogUploader({ url: opts.decisionLogUrl }) }),
        ...((file ?? opts.enterprise ?? opts.adminConsole ?? opts.userPolicy) !== undefined && {
          sources: sourcesFrom(file, sourceFlags),
        }),
        ...(socket !== undefined && { socket }),
        ...(tcp !== undefined && { tcp }),
        ...(auth !== undefined && { auth }),
        ...(opts.watch && { watch: true }),
        ...(opts.bundleUrl !== undefined && { bundleUrl: opts.bundleUrl }),
        pollIntervalMs: opts.pollInterval,
        ...(opts.shadow !== undefined && { shadow: { file: opts.shadow } }),
        ...(decisionLog !== undefined && { decisionLog }),
        ...(opts.logMaxBytes !== undefined && { logMaxBytes: opts.logMaxBytes }),
        ...(opts.logArguments === true && { logArguments: true }),
        limits: {
          ...(opts.maxBody !== undefined && { maxBodyBytes: opts.maxBody }),
          ...(opts.maxBatch !== undefined && { maxBatch: opts.maxBatch }),
          ...(opts.maxWork !== undefined && { maxWork: opts.maxWork, maxPendingWork: 4 * opts.maxWork }),
        },
        ...(opts.idleTimeout !== undefined && { idleTimeoutMs: opts.idleTimeout }),
        prepareSocket: !worker,
        ...(worker && { metricsSource: clusterMetrics }),
        notify,
      });
      if (!worker) {
        const where = [
          ...(socket !== undefined ? [`unix:${socket}`] : []),
          ...(tcp !== undefined ? [`http://${tcp.host}:${handle.port}`] : []),
        ];
        notify(`listening on ${where.join(' and ')}`);
      }
      const signal = await waitForSignal();
      notify(`${signal}: finishing in-flight requests`);
      await handle.close();
      // A worker's IPC channel to the primary would keep it alive.
      if (worker) process.disconnect?.();
    });
}
