/**
 * mcp-policy/fleet: distributing bundles to OPA servers and hosts, and
 * collecting their decisions in OPA's format.
 */

/** The bundle service OPA servers and hosts poll, with the revision as ETag. */
export { type BundleService, type BundleServiceOptions, startBundleService } from './bundle-service.js';

/** The OPA configuration that pulls a bundle from a bundle service and verifies it. */
export { opaConfig, type OpaConfigOptions } from './opa-config.js';

/** A decision-log sink that uploads records in OPA's format (gzip batches to `<service>/logs`). */
export {
  type OpaDecisionEvent,
  OpaDecisionLogUploader,
  type UploaderOptions,
  type UploaderStats,
} from './opa-upload.js';
