/**
 * Where policy meets MCP traffic: which tools and prompts a client may see
 * and use. Every answer comes from the engine at the moment it is asked (no
 * caching), and any failure to decide denies.
 */
import { setImmediate as yieldToOthers } from 'node:timers/promises';
import { type Engine } from '../engines/engine.js';
import { type Action, type Decision, failedDecision, type PolicyRequest } from '../policy/model.js';
import { decisionRecord, type DecisionLogSink, NULL_SINK, type ProxyStage } from '../host/decision-log.js';
import { type ServerFacts } from './facts.js';
import { type ToolPins } from './pins.js';

/** An MCP tool or prompt definition as listed; only `name` is read by the policy. */
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
    };

/**
 * Listings are decided in slices of this many requests, each through the
 * engine's batch path, yielding between slices so one large listing cannot
 * hold up other sessions.
 */
export const DECISION_SLICE = 256;

/** Enforces one policy for one MCP server. */
export class PolicyGate {
  constructor(
    private readonly engine: Engine,
    readonly facts: ServerFacts,
    private readonly log: DecisionLogSink = NULL_SINK,
    readonly pins?: ToolPins,
  ) {}

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

  private async decide(stage: ProxyStage, requests: PolicyRequest[]): Promise<Decision[]> {
    if (requests.length === 0) return [];
    let decisions: Decision[] = [];
    try {
      for (let start = 0; start < requests.length; start += DECISION_SLICE) {
        if (start > 0) await yieldToOthers();
        const slice = requests.slice(start, start + DECISION_SLICE);
        const decided = await this.engine.decideBatch(slice);
        if (decided.length !== slice.length) throw new Error('the engine returned the wrong number of decisions');
        decisions = decisions.concat(decided);
      }
    } catch (e) {
      decisions = requests.map(() => failedDecision(`evaluation failed: ${(e as Error).message}`));
    }
    const time = new Date().toISOString();
    return decisions.map((d, k) => {
      // Fail closed whatever the engine said: an error never allows.
      const decision = d.error !== undefined && d.allowed ? { ...d, allowed: false } : d;
      if (this.log !== NULL_SINK) this.log.write(decisionRecord({ time, stage, request: requests[k], decision }));
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

  private denial(what: string, name: string, d: Decision): Verdict {
    return {
      allowed: false,
      reason: `policy denied ${what} "${name}" on server "${this.facts.server}": ${d.reason}`,
      policyReason: d.reason,
      rule: d.rule,
    };
  }

  /**
   * `load` for the server itself: at start, per HTTP session, and for each
   * resource request (the policy format has no per-resource rule yet, so a
   * resource is as available as its server).
   */
  async checkServer(stage: ProxyStage): Promise<Verdict> {
    const [d] = await this.decide(stage, [this.request('load')]);
    return d?.allowed === true
      ? { allowed: true }
      : {
          allowed: false,
          reason: `policy denied loading server "${this.facts.server}": ${d?.reason ?? 'no decision'}`,
          policyReason: d?.reason ?? 'no decision',
          rule: d?.rule ?? null,
        };
  }

  /**
   * The tools of one listing page a client may see: `load` allowed and, under
   * pinning, unchanged. During the first listing the pins record what it
   * approves; `lastPage` (no next cursor) ends that listing.
   */
  async filterTools<T extends Listed>(tools: readonly T[], lastPage = true): Promise<T[]> {
    const decisions = await this.decide(
      'tools/list',
      tools.map((t) => this.request('load', t.name)),
    );
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
   * listing stays unusable), `invoke`, and its pin. `definition` is the
   * server's latest listing of the tool, when known.
   */
  async checkCall(name: string, definition: Listed | undefined): Promise<Verdict> {
    const [load, invoke] = await this.decide('tools/call', [this.request('load', name), this.request('invoke', name)]);
    if (load?.allowed !== true) return this.denial('tool', name, load ?? failedDecision('no decision'));
    if (invoke?.allowed !== true) return this.denial('tool', name, invoke ?? failedDecision('no decision'));
    if (this.pins) {
      const v = definition
        ? this.pins.check(definition)
        : { ok: false as const, reason: `tool "${name}" is not in the server's tool list` };
      if (!v.ok) {
        this.logPin('tools/call', name, v.reason);
        return { allowed: false, reason: v.reason, policyReason: v.reason, rule: null };
      }
    }
    return { allowed: true };
  }

  /** The prompts a client may see. */
  async filterPrompts<T extends Listed>(prompts: readonly T[]): Promise<T[]> {
    const decisions = await this.decide(
      'prompts/list',
      prompts.map((p) => this.request('prompt', p.name)),
    );
    return prompts.filter((_, k) => decisions[k]?.allowed === true);
  }

  /** `prompts/get`. */
  async checkPrompt(name: string): Promise<Verdict> {
    const [d] = await this.decide('prompts/get', [this.request('prompt', name)]);
    return d?.allowed === true ? { allowed: true } : this.denial('prompt', name, d ?? failedDecision('no decision'));
  }
}
