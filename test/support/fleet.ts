import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, type Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { DEFAULT_CONFIG, type FleetConfig } from '../../src/config.js';
import { type Fleet, buildFleet } from '../../lib/fleet.js';

/** The context of cdk.json (feature flags), so tests synth what `cdk synth` synths. */
function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = fs.readFileSync(path.join(__dirname, '..', '..', 'cdk.json'), 'utf8');
  return (JSON.parse(cdkJson) as { context: Record<string, unknown> }).context;
}

/**
 * Builds the whole fleet in a fresh App without Lambda bundling (the context key skips it), in a
 * temporary output directory. Synth is slow on two cores: build once per test file.
 */
export function buildTestFleet(overrides: Partial<FleetConfig> = {}): { app: App; fleet: Fleet } {
  const app = new App({
    outdir: fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-fleet-test-')),
    context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] },
  });
  return { app, fleet: buildFleet(app, { ...DEFAULT_CONFIG, ...overrides }) };
}

export function templateOf(stack: Stack): Template {
  return Template.fromStack(stack);
}
