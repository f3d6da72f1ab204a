/**
 * Where the service listens. Unix sockets are created owner-only (0600),
 * checked against the 107-byte path limit of Linux, and a socket a live
 * server still answers on is never replaced; a stale one is. TCP listens on
 * loopback unless told otherwise.
 */
import { existsSync, lstatSync, mkdirSync } from 'node:fs';
import { chmod, unlink } from 'node:fs/promises';
import { type Server } from 'node:http';
import { connect } from 'node:net';
import { homedir, platform } from 'node:os';
import { dirname, join } from 'node:path';
import { McpPolicyError } from '../core/errors.js';

/** Longest unix socket path Linux accepts, in bytes (sun_path is 108 with its NUL). */
export const MAX_SOCKET_PATH_BYTES = 107;

/** The socket Docker Desktop's gateway dials from inside Desktop's VM; when it exists, HOME is ignored. */
export const DESKTOP_VM_SOCKET = '/run/host-services/backend.sock';

/** Where Docker's MCP gateway dials the policy service for this user (reference §1). */
export function dockerDesktopSocketPath(os: NodeJS.Platform = platform(), home: string = homedir()): string {
  switch (os) {
    case 'darwin':
      return join(home, 'Library', 'Containers', 'com.docker.docker', 'Data', 'backend.sock');
    case 'win32':
      return '\\\\.\\pipe\\dockerBackendApiServer';
    default:
      return join(home, '.docker', 'desktop', 'backend.sock');
  }
}

/** A TCP address from `HOST:PORT`, `:PORT` or `PORT`; the host defaults to loopback. */
export function parseAddress(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*))?:?(\d+)$/.exec(text.trim());
  const port = Number(m?.[3]);
  if (!m || !Number.isInteger(port) || port > 65535) {
    throw new McpPolicyError('usage', `--addr must be HOST:PORT, :PORT or PORT, not "${text}"`);
  }
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' ? '127.0.0.1' : host, port };
}

/** True when something accepts connections on the socket. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Makes `path` ready to bind: checks its length, creates its folder
 * (owner-only), and removes a stale socket. Throws `socket_path_too_long` or
 * `socket_in_use`.
 */
export async function prepareSocketPath(path: string): Promise<void> {
  if (platform() === 'win32') return;
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw new McpPolicyError(
      'socket_path_too_long',
      `socket path "${path}" is ${bytes} bytes; unix sockets allow ${MAX_SOCKET_PATH_BYTES}`,
    );
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  if (!existsSync(path)) return;
  if (!lstatSync(path).isSocket()) {
    throw new McpPolicyError('socket_in_use', `"${path}" exists and is not a socket; refusing to replace it`);
  }
  if (await answers(path)) {
    throw new McpPolicyError('socket_in_use', `a server is already answering on "${path}"`);
  }
  await unlink(path);
}

function listenError(e: NodeJS.ErrnoException, where: string): McpPolicyError {
  if (e.code === 'EADDRINUSE') return new McpPolicyError('address_in_use', `${where} is already in use`);
  if (e.code === 'EACCES' || e.code === 'EPERM') {
    return new McpPolicyError('listen_failed', `no permission to listen on ${where}`);
  }
  return new McpPolicyError('listen_failed', `cannot listen on ${where}: ${e.code ?? e.message}`);
}

function listenOnce(server: Server, args: Parameters<Server['listen']>[0], where: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => reject(listenError(e, where));
    server.once('error', onError);
    server.listen(args, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/**
 * Listens on a unix socket readable and writable by its owner only. The
 * umask covers the moment between bind and chmod; in a cluster worker the
 * primary binds, so the primary sets it (see workers.ts).
 */
export async function listenUnix(server: Server, path: string, options: { prepare?: boolean } = {}): Promise<void> {
  if (options.prepare ?? true) await prepareSocketPath(path);
  const old = process.umask(0o177);
  try {
    await listenOnce(server, { path }, `"${path}"`);
  } finally {
    process.umask(old);
  }
  if (platform() !== 'win32') await chmod(path, 0o600);
}

/** Listens on TCP; resolves with the bound address (port 0 picks a free one). */
export async function listenTcp(server: Server, host: string, port: number): Promise<{ host: string; port: number }> {
  await listenOnce(server, { host, port }, `${host}:${port}`);
  const address = server.address();
  return { host, port: typeof address === 'object' && address !== null ? address.port : port };
}

/** Warns about a Desktop VM socket that would take precedence over HOME (Linux). */
export function desktopVmSocketNote(): string | undefined {
  return platform() === 'linux' && existsSync(DESKTOP_VM_SOCKET)
    ? `note: ${DESKTOP_VM_SOCKET} exists; a gateway on this machine dials it instead of the HOME socket`
    : undefined;
}
