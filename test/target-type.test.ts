/**
 * A request's `target`: `serve`, `eval` and every engine decide the same
 * requests the same way. Docker's gateway sends `target.type` `catalog`,
 * `workingSet`, `server` or `tool` (a prompt is asked about as `tool`); any
 * other type (`prompt`, `resource`) asks something no policy answers and
 * denies with an error everywhere.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Decision } from '../src/policy/model.js';
import { type ServeHandle, startServe } from '../src/server/service.js';
import { cli, decideEverywhere, EXAMPLES, mustParse } from './helpers.js';
import { call } from './serve-helpers.js';

const PRODUCTION = join(EXAMPLES, 'production.json');
const LOAD = { action: 'load', server: 'fetch', serverType: 'registry', serverSource: 'docker.io/mcp/fetch' };

/** The same request with each kind of target, known and unknown, well-formed and not. */
const REQUESTS: unknown[] = [
  LOAD,
  { ...LOAD, target: { type: 'server', name: 'fetch' } },
  { ...LOAD, target: { type: 'catalog' } },
  { ...LOAD, target: { type: 'workingSet', name: 'default' } },
  { ...LOAD, action: 'prompt', tool: 'summarise', target: { type: 'tool', name: 'summarise' } },
  { ...LOAD, target: null },
  { ...LOAD, action: 'prompt', tool: 'summarise', target: { type: 'prompt', name: 'summarise' } },
  { ...LOAD, target: { type: 'resource', name: 'file:///etc/passwd' } },
  { ...LOAD, target: { type: 'Tool' } },
  { ...LOAD, target: { name: 'fetch' } },
  { ...LOAD, target: { type: 7 } },
  { ...LOAD, target: 'tool' },
  { ...LOAD, target: [] },
  { ...LOAD, action: 'delete', target: { type: 'resource' } },
];

const EXPECTED_ERRORS = [
  undefined,
  undefined,
  undefined,
  undefined,
  undefined,
  undefined,
  'unknown target type "prompt"',
  'unknown target type "resource"',
  'unknown target type "Tool"',
  'field "target.type" must be a string',
  'field "target.type" must be a string',
  'field "target" must be an object',
  'field "target" must be an object',
  'unknown action "delete"',
];

function summary(d: Decision): Pick<Decision, 'allowed' | 'reason' | 'error'> {
  return { allowed: d.allowed, reason: d.reason, ...(d.error !== undefined && { error: d.error }) };
}

describe('target types', () => {
  let handle: ServeHandle | undefined;
  let evalDecisions: Decision[];

  beforeAll(async () => {
    const input = REQUESTS.map((r) => JSON.stringify(r)).join('\n');
    const run = await cli(['eval', PRODUCTION], input);
    expect(run.code, run.stderr).toBe(0);
    evalDecisions = run.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Decision);
    handle = await startServe({ sources: { file: PRODUCTION }, tcp: { host: '127.0.0.1', port: 0 } });
  }, 60_000);
  afterAll(() => handle?.close());

  it('are decided by eval as the semantics say', () => {
    expect(evalDecisions.map((d) => d.error)).toEqual(EXPECTED_ERRORS);
    for (const d of evalDecisions) if (d.error !== undefined) expect(d.allowed).toBe(false);
    expect(evalDecisions[0]!.allowed).toBe(true);
  });

  it('are decided by serve as by eval, on the gateway and OPA endpoints, in batches and alone', async () => {
    const target = { port: handle!.port! };
    const gateway = await call(target, 'POST', '/mcp/policy/evaluate/batch', { requests: REQUESTS });
    const opa = await call(target, 'POST', '/v1/data/mcp_policy/decisions', { input: { requests: REQUESTS } });
    expect((opa.json() as { result: Decision[] }).result).toEqual(evalDecisions);
    const expected = evalDecisions.map((d) =>
      d.error === undefined
        ? { allowed: d.allowed, reason: d.reason }
        : { allowed: false, reason: d.reason, error: d.error },
    );
    expect((gateway.json() as { decisions: unknown[] }).decisions).toEqual(expected);
    for (const [k, request] of REQUESTS.entries()) {
      const one = await call(target, 'POST', '/mcp/policy/evaluate', request);
      expect(one.json(), `request ${k}`).toEqual(expected[k]);
    }
  });

  it('are decided alike by every engine', async () => {
    const policy = mustParse(readFileSync(PRODUCTION, 'utf8'));
    const all = await decideEverywhere(policy, REQUESTS);
    for (const [name, decisions] of Object.entries(all)) {
      expect(decisions.map(summary), name).toEqual(evalDecisions.map(summary));
    }
  }, 120_000);
});
