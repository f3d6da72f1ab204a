/**
 * The official MCP conformance suite through `mcp-policy proxy`
 * (`npm run conformance`, dist/scripts/conformance.js): every server scenario
 * against the conformance target directly and three times in a row through one
 * proxy, scenario by scenario the same; the client scenarios that apply to a
 * proxy, with the proxy as the client, as the SDK client alone passes them.
 */
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { ROOT, tempFile } from './helpers.js';

const SCRIPT = join(ROOT, 'dist', 'scripts', 'conformance.js');

function conformance(args: string[]) {
  return execa(process.execPath, [SCRIPT, ...args], { cwd: ROOT, reject: false, timeout: 280_000 });
}

describe('conformance', () => {
  it(
    'passes through the proxy exactly as directly, three runs in a row, and with the proxy as the client',
    { timeout: 300_000 },
    async () => {
      const run = await conformance([]);
      const report = `${run.stdout}\n${run.stderr}`;
      expect(run.exitCode, report).toBe(0);
      expect(run.stdout).toContain('conformance: the proxy behaves as the server does directly');
      const direct = /server scenarios: (\d+); direct (\d+) checks passed, (\d+) failed/.exec(run.stdout);
      expect(direct, report).not.toBeNull();
      const [, scenarios, passed, failed] = direct!.map(Number);
      // The suite's whole server list (the active scenarios and the pending ones), every check passing directly.
      expect(scenarios).toBeGreaterThanOrEqual(30);
      expect(passed).toBeGreaterThanOrEqual(scenarios!);
      expect(failed).toBe(0);
      for (const k of [1, 2, 3]) {
        expect(run.stdout).toMatch(new RegExp(`through the proxy, run ${k}: ${passed} passed, 0 failed`));
      }
      for (const scenario of ['initialize', 'tools_call', 'elicitation-sep1034-client-defaults', 'sse-retry']) {
        expect(run.stdout).toMatch(new RegExp(`^${scenario} +\\d+ passed, 0 failed +same$`, 'm'));
      }
    },
  );

  it('reports each scenario a policy changes, and only those', async () => {
    const policy = tempFile(
      'conformance-deny.json',
      JSON.stringify({
        version: 2,
        default: 'allow',
        rules: [
          { action: 'invoke', tools: ['test_image_content'], allow: false, reason: 'no images' },
          { action: 'prompt', tools: ['test_simple_prompt'], allow: false, reason: 'not this prompt' },
        ],
      }),
    );
    const run = await conformance(['--runs', '1', '--server-only', '--policy', policy]);
    const report = `${run.stdout}\n${run.stderr}`;
    expect(run.exitCode, report).toBe(1);
    const problems = run.stdout
      .split('\n')
      .filter((line) => line.startsWith('- '))
      .map((line) => /^- server, proxy run 1: ([^:]+):/.exec(line)?.[1]);
    expect(problems.sort(), report).toEqual(['prompts-get-simple', 'tools-call-image']);
  });
});
