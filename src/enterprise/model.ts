/**
 * Enterprise directives (Stacklok Enterprise Manager): the validated model.
 * Each directive is `{value, enforcement}`; `degraded_mode` has no wrapper.
 * The semantics are written up in docs/semantics.md.
 */

/** Directive keys this version knows; other keys are kept and passed through. */
export const KNOWN_DIRECTIVES = [
  'registry',
  'non_registry_servers',
  'telemetry',
  'ca_certificate',
  'build_env',
  'playground',
  'help_menu',
  'assistant',
] as const;
export type KnownDirective = (typeof KNOWN_DIRECTIVES)[number];

export const ENFORCEMENTS = ['enforced', 'default'] as const;
export type Enforcement = (typeof ENFORCEMENTS)[number];

/** One directive as pushed to clients. `value` is JSON (validated per key for known keys). */
export interface Directive {
  readonly value: unknown;
  readonly enforcement: Enforcement;
}

/** What clients do while the Enterprise Manager is unreachable. */
export interface DegradedMode {
  readonly policy: 'warn' | 'block_new';
  /** The Go duration as written, e.g. `24h`. */
  readonly gracePeriod?: string;
  /** The same in seconds (time arithmetic happens on the host, never in Rego). */
  readonly gracePeriodSeconds?: number;
  readonly message?: string;
}

/** A validated enterprise configuration. */
export interface EnterpriseConfig {
  /** Directives by key, in the order written. */
  readonly directives: Readonly<Record<string, Directive>>;
  readonly degradedMode?: DegradedMode;
}

/** Values clients use when no directive and no local setting gives one. */
export const BUILTIN_VALUES: Readonly<Record<string, unknown>> = {
  registry: null,
  non_registry_servers: true,
  telemetry: null,
  ca_certificate: null,
  build_env: {},
  playground: true,
  help_menu: true,
  assistant: true,
};

/** Where an effective value came from. */
export type ValueSource = 'enforced' | 'default' | 'local' | 'builtin';

/** The configuration in force on one client, and why. */
export interface EffectiveConfig {
  readonly directives: Readonly<Record<string, { readonly value: unknown; readonly source: ValueSource }>>;
  /** Local values that an enforced directive overrode. */
  readonly rejected: readonly { readonly key: string; readonly local: unknown; readonly value: unknown }[];
  readonly degraded_mode: {
    readonly policy: 'warn' | 'block_new';
    readonly grace_period: string | null;
    readonly grace_period_seconds: number | null;
    readonly message: string | null;
  };
}
