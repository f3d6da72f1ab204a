/**
 * The request boundary: what a request is, decided once before any engine
 * sees it. Hosts hand engines JavaScript values, and each engine used to read
 * them its own way (the native one by property access, the bundle engines
 * through JSON.stringify), so `undefined`, getters, `toJSON`, inherited
 * properties, boxed strings, BigInt, cycles and array holes were decided
 * differently. Here every request is either copied into plain JSON data that
 * all engines read alike, or turned into one invalid-request decision. The
 * rule is written up in docs/semantics.md ("The request boundary").
 */
import { describeThrown, McpPolicyError, toPointer } from '../core/errors.js';
import { INVALID_REQUEST_REASON } from '../core/contracts.js';
import { type Decision, failedDecision } from '../policy/model.js';

/** Deepest nesting of objects and arrays in a request; the request object itself is level 1. */
export const MAX_REQUEST_DEPTH = 32;

/**
 * Largest request: every string and key counts its length in UTF-16 code
 * units, every other value (object, array, number, boolean, null) counts 1.
 */
export const MAX_REQUEST_SIZE = 4 * 1024 * 1024;

/** Error text of a request that is not an object (matches lib.rego's). */
export const NOT_AN_OBJECT = 'request must be a JSON object';

/** A request as every engine sees it: plain JSON data, or why it is not one. */
export type BoundaryResult = { readonly request: Record<string, unknown> } | { readonly error: string };

/** The invalid-request decision for an error found at the boundary. */
export function invalidRequest(error: string): Decision {
  return { allowed: false, reason: INVALID_REQUEST_REASON, rule: null, error };
}

class NotPlain extends Error {}

/**
 * The prototype of the copy's objects: empty, frozen, with a null prototype.
 * Nothing is inherited, so a polluted Object.prototype cannot add fields and a
 * "__proto__" key stays an ordinary one, as with Object.create(null); but V8
 * keeps objects with a prototype in fast mode, where prototype-less objects
 * are dictionaries, several times slower to fill and to read.
 */
const NOTHING_INHERITED: object = Object.freeze(Object.create(null) as object);

/** The JSON pointer of `path`, quoted: keys come from the host and may hold any character. */
function pointerOf(path: readonly (string | number)[]): string {
  return JSON.stringify(toPointer(path));
}

/**
 * Objects whose prototype is Object.prototype (of any realm) or null. Class
 * instances, boxed primitives, dates, maps and proxies of them are not
 * plain: JSON.stringify would reshape them (toJSON, unboxing, dropping
 * entries) in ways the native engine never saw.
 */
function isPlainObject(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === null || proto === Object.prototype || Object.getPrototypeOf(proto) === null;
}

function kindOf(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'bigint') return 'a bigint';
  if (typeof value === 'symbol') return 'a symbol';
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'number') return `the number ${String(value)}`;
  const tag = Object.prototype.toString.call(value).slice(8, -1);
  return `a ${tag} object, not a plain object`;
}

/**
 * Copies a JSON value out of whatever the host passed. The copy's objects
 * inherit nothing (so a polluted Object.prototype cannot add fields), well-formed
 * strings (as Go's JSON decoder makes them) and only data the walk read once,
 * so a getter or proxy cannot answer one engine differently from another.
 */
class Copier {
  private size = 0;
  private readonly ancestors: object[] = [];

  /** `noun` names what is read in messages: `request`, or the local settings of `config`. */
  constructor(
    private readonly path: (string | number)[],
    private readonly noun = 'request',
  ) {}

  private fail(what: string): never {
    throw new NotPlain(`${this.noun} is not plain JSON: the value at ${pointerOf(this.path)} is ${what}`);
  }

  private count(n: number): void {
    this.size += n;
    if (this.size > MAX_REQUEST_SIZE) {
      throw new NotPlain(
        `${this.noun} is larger than ${MAX_REQUEST_SIZE} (strings and keys by length, other values 1 each)`,
      );
    }
  }

  copy(value: unknown): unknown {
    switch (typeof value) {
      case 'string':
        this.count(value.length);
        return value.isWellFormed() ? value : value.toWellFormed();
      case 'boolean':
        this.count(1);
        return value;
      case 'number':
        if (!Number.isFinite(value)) this.fail(kindOf(value));
        this.count(1);
        return value;
      case 'object':
        if (value === null) {
          this.count(1);
          return null;
        }
        return this.container(value);
      default:
        return this.fail(kindOf(value));
    }
  }

  private container(value: object): unknown {
    if (this.ancestors.includes(value)) this.fail('a cycle back to an object that contains it');
    if (this.ancestors.length >= MAX_REQUEST_DEPTH) {
      throw new NotPlain(`${this.noun} nests deeper than ${MAX_REQUEST_DEPTH} levels at ${pointerOf(this.path)}`);
    }
    this.count(1);
    this.ancestors.push(value);
    const out = Array.isArray(value) ? this.array(value) : this.object(value);
    this.ancestors.pop();
    return out;
  }

  /** The value of an own data property; a getter or setter is never called. */
  private dataValue(value: object, key: string | number): unknown {
    const d = Object.getOwnPropertyDescriptor(value, key);
    if (d === undefined) return this.fail('a hole in the array');
    if (!('value' in d)) return this.fail('a getter');
    return d.value;
  }

  private array(value: readonly unknown[]): unknown[] {
    if (Object.getPrototypeOf(value) !== Array.prototype && !Array.isArray(Object.getPrototypeOf(value))) {
      this.fail(kindOf(value));
    }
    const length = value.length;
    const out: unknown[] = [];
    for (let k = 0; k < length; k++) {
      this.path.push(k);
      out.push(this.copy(this.dataValue(value, k)));
      this.path.pop();
    }
    const keys = Object.keys(value);
    if (keys.length !== length) {
      const named = keys.find((key) => !(String(Number(key)) === key && Number(key) < length));
      if (named !== undefined) {
        this.path.push(named);
        this.fail('a named property of an array');
      }
    }
    return out;
  }

  private object(value: object): Record<string, unknown> {
    if (!isPlainObject(value)) this.fail(kindOf(value));
    const out = Object.create(NOTHING_INHERITED) as Record<string, unknown>;
    // Own enumerable string keys, in JavaScript's property order; symbol keys
    // and non-enumerable properties are not data, as in JSON.
    for (const key of Object.keys(value)) {
      this.path.push(key);
      const v = this.dataValue(value, key);
      this.count(key.length);
      // Keys that only differ in lone surrogates collapse to one; the last
      // wins, as in Go's decoder.
      out[key.isWellFormed() ? key : key.toWellFormed()] = this.copy(v);
      this.path.pop();
    }
    return out;
  }
}

/**
 * Reads a request at the boundary: a plain JSON object (own enumerable data
 * properties, JSON values only, within {@link MAX_REQUEST_DEPTH} and
 * {@link MAX_REQUEST_SIZE}) comes back as a fresh copy; anything else as the
 * error of its invalid-request decision. Never throws.
 */
export function readRequestValue(value: unknown): BoundaryResult {
  return readPlainObject(value, 'request', NOT_AN_OBJECT);
}

/**
 * Reads any host-supplied JSON object (an audit event, say) by the request
 * rule, with `noun` naming it in the error. Never throws.
 */
export function readObjectValue(value: unknown, noun: string): BoundaryResult {
  return readPlainObject(value, noun, `${noun} must be a JSON object`);
}

function readPlainObject(value: unknown, noun: string, notAnObject: string): BoundaryResult {
  try {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return { error: notAnObject };
    if (!isPlainObject(value)) return { error: notAnObject };
    return { request: new Copier([], noun).copy(value) as Record<string, unknown> };
  } catch (e) {
    if (e instanceof NotPlain) return { error: e.message };
    // A proxy trap or a stack overflow: the value cannot be read safely.
    return { error: `${noun} cannot be read: ${describeThrown(e)}` };
  }
}

/**
 * Reads the local settings given to an engine's `config` by the same rule as
 * a request, so every engine computes the configuration from the same data.
 * Throws `invalid_local_settings`.
 */
export function readLocalSettings(local: unknown): Record<string, unknown> {
  const read = readPlainObject(local, 'the local settings object', 'the local settings must be a JSON object');
  if ('error' in read) throw new McpPolicyError('invalid_local_settings', read.error);
  // Local values come back in the configuration: as ordinary objects, not the copy's, which inherit nothing.
  return JSON.parse(JSON.stringify(read.request)) as Record<string, unknown>;
}

/** The items of a batch as the boundary reads them: holes and unreadable entries become `undefined` (not an object). */
function batchItems(requests: unknown): unknown[] | undefined {
  try {
    if (!Array.isArray(requests)) return undefined;
    const length = requests.length;
    const out: unknown[] = [];
    for (let k = 0; k < length; k++) {
      const d = Object.getOwnPropertyDescriptor(requests, k);
      out.push(d !== undefined && 'value' in d ? d.value : undefined);
    }
    return out;
  } catch {
    return undefined;
  }
}

/** The error of a batch that is not an array: one failed decision stands for it. */
export const NOT_A_BATCH = 'requests must be an array';

/**
 * Decides one request through the boundary: `decide` sees only plain JSON
 * objects. Whatever `decide` throws becomes a failed decision.
 */
export function decideAtBoundary(request: unknown, decide: (plain: Record<string, unknown>) => Decision): Decision {
  const read = readRequestValue(request);
  if ('error' in read) return invalidRequest(read.error);
  try {
    return decide(read.request);
  } catch (e) {
    return failedDecision(`evaluation failed: ${describeThrown(e)}`);
  }
}

/** A batch read at the boundary: the plain requests an engine must decide, and how to put the answers back. */
export interface BoundaryBatch {
  readonly plain: Record<string, unknown>[];
  /** One decision per element of the original batch, from the decisions of `plain` in order. */
  join(decided: readonly Decision[]): Decision[];
}

/** Reads a batch at the boundary; never throws. */
export function readBatch(requests: unknown): BoundaryBatch {
  const items = batchItems(requests);
  const plain: Record<string, unknown>[] = [];
  const slots: (Decision | number)[] =
    items === undefined
      ? [failedDecision(NOT_A_BATCH)]
      : items.map((item) => {
          const read = readRequestValue(item);
          if ('error' in read) return invalidRequest(read.error);
          plain.push(read.request);
          return plain.length - 1;
        });
  return {
    plain,
    join: (decided) =>
      slots.map((s) => (typeof s === 'number' ? (decided[s] ?? failedDecision('policy returned no decision')) : s)),
  };
}

/**
 * Decides a batch through the boundary, one decision per element in order
 * (holes included). Only the plain requests reach `decideMany`; a throw
 * fails each of them.
 */
export function decideBatchAtBoundary(
  requests: readonly unknown[],
  decideMany: (plain: Record<string, unknown>[]) => Decision[],
): Decision[] {
  const { plain, join } = readBatch(requests);
  let decided: Decision[];
  try {
    decided = plain.length === 0 ? [] : decideMany(plain);
  } catch (e) {
    const failed = failedDecision(`evaluation failed: ${describeThrown(e)}`);
    decided = plain.map(() => failed);
  }
  return join(decided);
}

/** {@link decideBatchAtBoundary} for engines that answer asynchronously; never rejects. */
export async function decideBatchAtBoundaryAsync(
  requests: readonly unknown[],
  decideMany: (plain: Record<string, unknown>[]) => Promise<Decision[]>,
): Promise<Decision[]> {
  const { plain, join } = readBatch(requests);
  let decided: Decision[];
  try {
    decided = plain.length === 0 ? [] : await decideMany(plain);
  } catch (e) {
    const failed = failedDecision(`evaluation failed: ${describeThrown(e)}`);
    decided = plain.map(() => failed);
  }
  return join(decided);
}
