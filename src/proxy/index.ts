/**
 * mcp-policy/proxy: an MCP proxy that governs one server by a policy, and its
 * parts other hosts can reuse.
 */

/** Starts a proxy in front of one MCP server (stdio or streamable HTTP towards the client). */
export { type ProxyOptions, type RunningProxy, startProxy } from './proxy.js';

/** The enforcement: load, tool and prompt checks shaped like Docker's gateway requests, and listing filters. */
export { type Listed, PolicyGate, type Verdict } from './enforce.js';

/** The request facts of a governed server, given or derived from its command line or URL. */
export { type ServerFacts, serverFacts, serverNameFromCommand, type ServerTarget } from './facts.js';

/** Tool pinning: the digest of a tool definition and the lock file. */
export { type LockFile, readLockFile, toolDigest } from './pins.js';

/** The MCP methods the proxy governs, and those it passes by design; anything else is refused. */
export { GOVERNED_REQUESTS, PASSED_NOTIFICATIONS, PASSED_REQUESTS } from './methods.js';
