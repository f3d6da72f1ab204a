/**
 * mcp-policy/server: the decision service behind `mcp-policy serve`, and the
 * host layer every front end shares: the decision record and its sinks, and
 * bearer/JWT authentication.
 */

/** Starts the decision service (Docker's gateway protocol, OPA's data API, health, metrics). */
export { type ServeHandle, type ServeOptions, startServe } from './service.js';
/** How `serve`'s TCP listeners authenticate: a watched token file and/or JWTs. */
export { type ServeAuthOptions } from './authentication.js';

/**
 * Decision logs: one record shape, one sink interface whose `write` never
 * blocks or throws (drops are counted by reason), files opened owner-only and
 * never through a link, and a fan-out whose stats cover every sink.
 */
export {
  type AuditRecord,
  combineSinks,
  type DecisionLogSink,
  type DecisionRecord,
  decisionRecord,
  type DropReason,
  type FileSinkOptions,
  type LogRecord,
  openDecisionLog,
  type SinkStats,
} from '../host/decision-log.js';

/**
 * Bearer and JWT authentication for HTTP hosts: a principal, or a coded
 * failure with the RFC 6750 / RFC 9728 challenge to answer with.
 */
export {
  type AuthOptions,
  type AuthResult,
  type Authenticator,
  createAuthenticator,
  type Principal,
} from '../host/auth.js';
