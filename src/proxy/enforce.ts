/**
 * Where policy meets MCP traffic: which tools, prompts and resources a client
 * may see and use. Every answer comes from the engine at the moment it is
 * asked (no caching), and any failure to decide denies. Under a version 2
 * policy the requests also say who asks (`principal`), with which
 * `arguments`, on which `resource`, and what the server declared about the
 * tool (`annotations`).
 */
import { setImmediate as yieldToOthers } from 'node:timers/promises';
import { type Engine, VERSION_PROBE, versionFromProbe } from '../engines/engine.js';
import {
  type Action,
  ANNOTATION_HINTS,
  type AnnotationHint,
  type Decision,
  failedDecision,
  type PolicyRequest,
  type Principal,
} from '../policy/model.js';
import { decisionRecord, type DecisionLogSink, NULL_SINK, type ProxyStage } from '../host/decision-log.js';
import { decidingPaths, type PolicyProfile, workOn } from '../host/policy-profile.js';
import { type ServerFacts } from './facts.js';
import { type ToolPins } from './pins.js';

/** An MCP tool or prompt definition as listed; the policy reads `name` and, of a tool, `annotations`. */
export type Listed = Readonly<Record<string, unknown>> & { readonly name: string };

/**
 * The outcome of a check: allowed, or a denial. `reason` is the message shown
 * to the client; `policyReason` and `rule` are what decided (the policy's own
 * reason and the 0-based rule index, `null` for the default, a pin or a failure).
 */
export type Verdict =
  | { readonly allowed: true }
  | {
      readonly allowed: false;
      readonly reason: string;
      readonly policyReason?: string;
      readonly rule?: number | null;
      /** Set when the proxy refused to decide: the request asked for more work than `maxWork` allows. */
      readonly code?: typeof WORK_TOO_LARGE;
    };

/**
 * The `error` of a decision the proxy made without asking the engine, because
 * the request would cost more than {@link GateOptions.maxWork}; also the
 * `code` of the denial the client gets.
 */
export const WORK_TOO_LARGE = 'work_too_large';

/**
 * Most rule checks one policy request may ask for by default: about a tenth
 * of a second of deciding, which one decision holds the event loop for at
 * most (a WebAssembly call cannot be cut), as `serve` bounds one request of a
 * batch.
 */
export const DEFAULT_MAX_WORK = 50_000;

/**
 * Listings are decided in slices of this many requests, each through the
 * engine's batch path, yielding between slices so one large listing cannot
 * hold up other sessions.
 */
export const DECISION_SLICE = 256;

/** The version 2 fields a host adds to a request; ignored under a version 1 policy. */
export interface Asking {
  /** Who asks; the gate's fixed principal when absent. */
  readonly principal?: Principal | undefined;
  /** The arguments of a tool call or prompt, as the client sent them. */
  readonly arguments?: unknown;
  /** The tool's annotations as the server's listing declared them (see {@link annotationsOf}). */
  readonly annotations?: Partial<Record<AnnotationHint, boolean>> | undefined;
}

/** Options of a {@link PolicyGate}. */
export interface GateOptions {
  /** The principal of every request that names none (a single-user proxy's fixed identity). */
  readonly principal?: Principal;
  /** Keep argument values in decision records (by default only their JSON types). */
  readonly logArguments?: boolean;
  /** With `logArguments`: argument members whose values are still replaced by their types (passwords, tokens). */
  readonly redactArguments?: readonly string[];
  /** The policy's version, when the host knows it; otherwise the engine is asked once. */
  readonly version?: 1 | 2;
  /**
   * Told each decision as the client meets it (for metrics): every entry of
   * a listing as the policy decided it, and one per other check (a tool
   * call's load, invoke and pin together). Not told the version probe.
   */
  readonly onDecision?: (stage: ProxyStage, decision: Decision) => void;
  /**
   * The policy's costs and argument paths (`policyProfile` of its data):
   * with it, every request is priced before it is decided and records name
   * the argument paths that decided. Without it nothing is priced.
   */
  readonly profile?: PolicyProfile;
  /**
   * Most rule checks one policy request may ask for (default
   * {@link DEFAULT_MAX_WORK}); a request past it is refused before it is
   * decided. A request with short fields is always decided.
   */
  readonly maxWork?: number;
}

/**
 * The annotations a request carries for a listed tool: its declared hints
 * that are booleans (a hint of another type is left out, so MCP's default
 * applies, as for a hint never declared); undefined when none is declared.
 */
export function annotationsOf(tool: Listed | undefined): Partial<Record<AnnotationHint, boolean>> | undefined {
  const declared = tool?.annotations;
  if (typeof declared !== 'object' || declared === null || Array.isArray(declared)) return undefined;
  const out: Partial<Record<AnnotationHint, boolean>> = {};
  let any = false;
  for (const hint of ANNOTATION_HINTS) {
    const value = (declared as Record<string, unknown>)[hint];
    if (Object.hasOwn(declared, hint) && typeof value === 'boolean') {
      out[hint] = value;
      any = true;
    }
  }
  return any ? out : undefined;
}

/** The reason recorded for a server-to-client request, which the proxy passes without asking the policy. */
export const SERVER_REQUEST_REASON = 'passed: server-to-client requests are not governed by the policy';

/** Which listing entry key names a resource: a resource's `uri`, a template's `uriTemplate`. */
export type ResourceKey = 'uri' | 'uriTemplate';

/** Enforces one policy for one MCP server. */
export class PolicyGate {
  private versionAsked: Promise<1 | 2> | undefined;

  constructor(
    private readonly engine: Engine,
    readonly facts: ServerFacts,
    private readonly log: DecisionLogSink = NULL_SINK,
    readonly pins?: ToolPins,
    private readonly options: GateOptions = {},
  ) {
    if (options.version !== undefined) this.versionAsked = Promise.resolve(options.version);
  }

  /** The policy request for an action, shaped as Docker's gateway sends it. */
  request(action: Action, name?: string): PolicyRequest {
    const { server, serverType, serverSource, transport } = this.facts;
    return {
      action,
      server,
      ...(serverType !== undefined && { serverType }),
      ...(serverSource !== undefined && { serverSource }),
      transport,
      ...(name !== undefined && { tool: name }),
      target: name !== undefined ? { type: 'tool', name } : { type: 'server', name: server },
    };
  }

  /** The policy's version, asked of the engine once ({@link VERSION_PROBE}); a failure counts as version 2. */
  version(): Promise<1 | 2> {
    this.versionAsked ??= this.engine
      .decide({ ...this.request('resource'), ...VERSION_PROBE })
      .then(versionFromProbe, () => 2 as const);
    return this.versionAsked;
  }

  /** A request with the version 2 fields when the policy reads them. */
  private async ask(
    action: Action,
    name: string | undefined,
    asking: Asking,
    resource?: string,
  ): Promise<PolicyRequest> {
    const request = this.request(action, name);
    if ((await this.version()) === 1) return request;
    const principal = asking.principal ?? this.options.principal;
    return {
      ...request,
      ...(principal !== undefined && { principal }),
      ...(asking.arguments !== undefined && { arguments: asking.arguments as Record<string, unknown> }),
      ...(asking.annotations !== undefined && { annotations: asking.annotations }),
      ...(resource !== undefined && { resource }),
    };
  }

  /**
   * Why a request is refused before deciding, when it is: it asks for more
   * rule checks than `maxWork` (or, when that is lower, than one short request
   * costs) on this policy.
   */
  private overBudget(request: PolicyRequest): Decision | undefined {
    const profile = this.options.profile;
    if (profile === undefined) return undefined;
    const limit = Math.max(this.options.maxWork ?? DEFAULT_MAX_WORK, profile.requestCost);
    const work = workOn(profile, request);
    if (work <= limit) return undefined;
    return {
      allowed: false,
      reason: `the request needs about ${work} rule checks on this policy (its fields, groups or arguments are long or many); the limit is ${limit}`,
      rule: null,
      error: WORK_TOO_LARGE,
    };
  }

  private async decide(stage: ProxyStage, requests: PolicyRequest[], observed = true): Promise<Decision[]> {
    if (requests.length === 0) return [];
    const refused = requests.map((r) => this.overBudget(r));
    const asked = requests.filter((_, k) => refused[k] === undefined);
    let answers: Decision[] = [];
    try {
      for (let start = 0; start < asked.length; start += DECISION_SLICE) {
        if (start > 0) await yieldToOthers();
        const slice = asked.slice(start, start + DECISION_SLICE);
        const decided = await this.engine.decideBatch(slice);
        if (decided.length !== slice.length) throw new Error('the engine returned the wrong number of decisions');
        answers = answers.concat(decided);
      }
    } catch (e) {
      answers = asked.map(() => failedDecision(`evaluation failed: ${(e as Error).message}`));
    }
    let next = 0;
    const decisions = refused.map((r) => r ?? (answers[next++] as Decision));
    const time = new Date().toISOString();
    const logArguments = this.options.logArguments === true;
    const redactArguments = this.options.redactArguments;
    return decisions.map((d, k) => {
      // Fail closed whatever the engine said: an error never allows.
      const decision = d.error !== undefined && d.allowed ? { ...d, allowed: false } : d;
      if (observed) this.options.onDecision?.(stage, decision);
      if (this.log !== NULL_SINK) {
        this.log.write(
          decisionRecord({
            time,
            stage,
            request: requests[k],
            decision,
            argumentPaths: decidingPaths(this.options.profile, decision),
            logArguments,
            ...(redactArguments !== undefined && { redactArguments }),
          }),
        );
      }
      return decision;
    });
  }

  private logPin(stage: ProxyStage, tool: string, reason: string): void {
    this.log.write(
      decisionRecord({
        stage,
        request: this.request('load', tool),
        decision: { allowed: false, reason, rule: null },
        pin: reason,
      }),
    );
  }

  /**
   * Records a request the server sent the client (sampling, elicitation,
   * roots): the policy format has nothing to say about them, so they pass,
   * and the record says so. Only the method is kept; the params carry content.
   */
  logServerRequest(method: string): void {
    if (this.log === NULL_SINK) return;
    this.log.write(
      decisionRecord({
        stage: 'server/request',
        request: { method, server: this.facts.server },
        decision: { allowed: true, reason: SERVER_REQUEST_REASON, rule: null },
      }),
    );
  }

  private denial(what: string, name: string, d: Decision): Verdict {
    if (d.error === WORK_TOO_LARGE) {
      return {
        allowed: false,
        reason: `refused ${what} "${name}" on server "${this.facts.server}": ${d.reason}`,
        policyReason: d.reason,
        rule: null,
        code: WORK_TOO_LARGE,
      };
    }
    return {
      allowed: false,
      reason: `policy denied ${what} "${name}" on server "${this.facts.server}": ${d.reason}`,
      policyReason: d.reason,
      rule: d.rule,
    };
  }

  /** `load` for the server itself: at start, per HTTP session, and (version 1) for each resource request. */
  async checkServer(stage: ProxyStage, principal?: Principal): Promise<Verdict> {
    const [d] = await this.decide(stage, [await this.ask('load', undefined, { principal })]);
    return d?.allowed === true
      ? { allowed: true }
      : {
          allowed: false,
          reason: `policy denied loading server "${this.facts.server}": ${d?.reason ?? 'no decision'}`,
          policyReason: d?.reason ?? 'no decision',
          rule: d?.rule ?? null,
          ...(d?.error === WORK_TOO_LARGE && { code: WORK_TOO_LARGE }),
        };
  }

  /**
   * A resource by its URI (or a template by its URI template). Version 2
   * decides action `resource` on it; version 1 has no per-resource rule, so
   * a resource is as available as its server (`load`).
   */
  async checkResource(stage: ProxyStage, uri: string, principal?: Principal): Promise<Verdict> {
    if ((await this.version()) === 1) return this.checkServer(stage, principal);
    const [d] = await this.decide(stage, [await this.ask('resource', undefined, { principal }, uri)]);
    return d?.allowed === true ? { allowed: true } : this.denial('resource', uri, d ?? failedDecision('no decision'));
  }

  /**
   * The resources (or templates, by `uriTemplate`) of one listing a client
   * may see under a version 2 policy; an entry without a string key is left
   * out.
   */
  async filterResources<T extends Readonly<Record<string, unknown>>>(
    stage: ProxyStage,
    items: readonly T[],
    key: ResourceKey,
    principal?: Principal,
  ): Promise<T[]> {
    const named = items.filter((item) => typeof item[key] === 'string');
    const requests = await Promise.all(
      named.map((item) => this.ask('resource', undefined, { principal }, item[key] as string)),
    );
    const decisions = await this.decide(stage, requests);
    return named.filter((_, k) => decisions[k]?.allowed === true);
  }

  /**
   * The tools of one listing page a client may see: `load` allowed and, under
   * pinning, unchanged. During the first listing the pins record what it
   * approves; `lastPage` (no next cursor) ends that listing.
   */
  async filterTools<T extends Listed>(tools: readonly T[], lastPage = true, principal?: Principal): Promise<T[]> {
    const requests = await Promise.all(
      tools.map((t) => this.ask('load', t.name, { principal, annotations: annotationsOf(t) })),
    );
    const decisions = await this.decide('tools/list', requests);
    const approved = tools.filter((_, k) => decisions[k]?.allowed === true);
    if (!this.pins) return approved;
    const verdicts = await this.pins.observe(approved, lastPage);
    return approved.filter((t, k) => {
      const v = verdicts[k];
      if (v?.ok === true) return true;
      this.logPin('tools/list', t.name, v?.reason ?? 'no pin verdict');
      return false;
    });
  }

  /**
   * A tool call: the tool must pass `load` (so a tool filtered out of the
   * listing stays unusable), `invoke` with its arguments, and its pin.
   * `definition` is the server's latest listing of the tool, when known.
   */
  async checkCall(name: string, definition: Listed | undefined, asking: Asking = {}): Promise<Verdict> {
    const load = this.ask('load', name, { principal: asking.principal, annotations: asking.annotations });
    const asked = [await load, await this.ask('invoke', name, asking)];
    const [loaded, invoked] = await this.decide('tools/call', asked, false);
    // One call, one outcome: the load check when it denies, else the invoke check, else the pin.
    const deciding = (loaded?.allowed !== true ? loaded : invoked) ?? failedDecision('no decision');
    if (!deciding.allowed) {
      this.options.onDecision?.('tools/call', deciding);
      return this.denial('tool', name, deciding);
    }
    if (this.pins) {
      const v = definition
        ? this.pins.check(definition)
        : { ok: false as const, reason: `tool "${name}" is not in the server's tool list` };
      if (!v.ok) {
        this.logPin('tools/call', name, v.reason);
        this.options.onDecision?.('tools/call', { allowed: false, reason: v.reason, rule: null });
        return { allowed: false, reason: v.reason, policyReason: v.reason, rule: null };
      }
    }
    this.options.onDecision?.('tools/call', deciding);
    return { allowed: true };
  }

  /** The prompts a client may see. */
  async filterPrompts<T extends Listed>(prompts: readonly T[], principal?: Principal): Promise<T[]> {
    const requests = await Promise.all(prompts.map((p) => this.ask('prompt', p.name, { principal })));
    const decisions = await this.decide('prompts/list', requests);
    return prompts.filter((_, k) => decisions[k]?.allowed === true);
  }

  /** `prompts/get` (or a completion of the prompt's arguments, logged as `stage`), with the arguments given. */
  async checkPrompt(name: string, asking: Asking = {}, stage: ProxyStage = 'prompts/get'): Promise<Verdict> {
    const [d] = await this.decide(stage, [await this.ask('prompt', name, asking)]);
    return d?.allowed === true ? { allowed: true } : this.denial('prompt', name, d ?? failedDecision('no decision'));
  }
}
