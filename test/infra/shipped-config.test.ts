import { NO_PROGRESS_MINUTES } from '../../src/core/decide';
import type { Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import {
  CONFIG_CONTEXT_KEY,
  ConfigError,
  DEFAULT_CONFIG,
  type FleetConfig,
  resolveConfig,
} from '../../src/config';
import { unpinnedModels } from '../../lib/model-pins';
import { buildTestFleet } from '../support/fleet';
import { read } from './repo-files';
import { hostSettings } from './support';

/**
 * A fresh account deploys what the repository ships: cdk.json's configuration, or the README's
 * deploy command, synthesises with nothing left for the user to fill in, and the GPU host learns
 * how models are trusted from the configuration.
 */
const NOW = new Date('2026-12-01T00:00:00Z');
const cdkJson = JSON.parse(read('cdk.json')) as { context: Record<string, unknown> };
const PINS = JSON.parse(read('docker/openvoice/app/model_pins.json')) as unknown;
const README = read('README.md');

/** The gpuFleet JSON of the README's `cdk deploy` command. */
function readmeDeployConfig(): string {
  const match = /npx cdk deploy --all -c gpuFleet='([^']+)'/.exec(README);
  if (!match?.[1]) throw new Error('README has no `npx cdk deploy --all -c gpuFleet=…` command');
  return match[1];
}

interface Synth {
  readonly stacks: Stack[];
  readonly errors: string[];
  readonly compute: Template;
}

function synth(config: FleetConfig): Synth {
  const { fleet } = buildTestFleet(config);
  const stacks = [fleet.network, fleet.data, fleet.compute, fleet.scaler];
  const errors = stacks.flatMap((stack) =>
    Annotations.fromStack(stack)
      .findError('*', Match.anyValue())
      .map((entry) => JSON.stringify(entry.entry.data)),
  );
  return { stacks, errors, compute: Template.fromStack(fleet.compute) };
}

/** Text a user would have to replace: placeholders, and any setting written empty. */
const FILL_IN = /\b(REPLACE_?ME|CHANGE_?ME|TODO|FIXME|XXX)\b|<your|your-[a-z]+-here/i;

describe('the shipped configuration', () => {
  const shipped = resolveConfig(cdkJson.context[CONFIG_CONTEXT_KEY], NOW);
  let built: Synth;
  beforeAll(() => {
    built = synth(shipped);
  });

  it('synthesises without errors and with nothing to fill in', () => {
    expect(built.errors).toEqual([]);
    for (const stack of built.stacks)
      expect(JSON.stringify(Template.fromStack(stack).toJSON())).not.toMatch(FILL_IN);
  });

  it('trusts unpinned models on first use, so the null pins the repository ships need no hand edit', () => {
    expect(shipped.modelTrust).toBe('first-use');
    expect(unpinnedModels(PINS).length).toBeGreaterThan(0);
    expect(hostSettings(built.compute, 'gpu')).toContain('MODEL_TRUST=first-use');
  });

  it('gives every host setting a value but the optional team images', () => {
    const empty = (role: 'app' | 'gpu'): string[] =>
      [...hostSettings(built.compute, role).matchAll(/(?:^"|\\n)([A-Z_]+)=(?=\\n|")/g)].map(
        (m) => m[1] ?? '',
      );
    expect(empty('gpu')).toEqual([]);
    expect(empty('app').sort()).toEqual(['BACKEND_IMAGE', 'FRONTEND_IMAGE']);
  });

  it('the README’s deploy steps set the region the CDK CLI reads and run the doctor before the deploy', () => {
    const steps = README.slice(README.indexOf('## Deploying'), README.indexOf('## Everyday commands'));
    // The CDK CLI overwrites CDK_DEFAULT_REGION: only AWS_REGION, AWS_DEFAULT_REGION or the profile count.
    expect(steps).not.toMatch(/export CDK_DEFAULT_REGION/);
    expect(steps).toMatch(/export AWS_REGION=/);
    const doctor = steps.indexOf('npx gpu-manage doctor');
    expect(doctor).toBeGreaterThan(steps.indexOf('export AWS_REGION='));
    expect(doctor).toBeLessThan(steps.indexOf('npx cdk bootstrap'));
    expect(doctor).toBeLessThan(steps.indexOf('npx cdk deploy'));
  });

  it('the README’s deploy command is a valid configuration that synthesises too', () => {
    const config = resolveConfig(readmeDeployConfig(), NOW);
    expect(config.alarmEmail).toBeDefined();
    expect(synth(config).errors).toEqual([]);
  });
});

describe('jobTimeoutMinutes', () => {
  it('reaches the worker as OPENVOICE_TIMEOUT_SECONDS, 15 minutes by default', () => {
    expect(DEFAULT_CONFIG.jobTimeoutMinutes).toBe(15);
    expect(hostSettings(synth({ ...DEFAULT_CONFIG, jobTimeoutMinutes: 20 }).compute, 'gpu')).toContain(
      'OPENVOICE_TIMEOUT_SECONDS=1200',
    );
  });

  it('must stay under the scaler stall limit, so a hung job ends before the GPU is taken for stalled', () => {
    expect(resolveConfig({ jobTimeoutMinutes: NO_PROGRESS_MINUTES - 1 }, NOW).jobTimeoutMinutes).toBe(29);
    expect(() => resolveConfig({ jobTimeoutMinutes: NO_PROGRESS_MINUTES }, NOW)).toThrow(
      /jobTimeoutMinutes = 30; allowed: a whole number of minutes from 1 to 29 \(under the scaler's 30-minute stall limit\)/,
    );
    expect(() => resolveConfig({ jobTimeoutMinutes: 0 }, NOW)).toThrow(ConfigError);
  });
});

describe('modelTrust', () => {
  it('is first-use by default and accepts strict; anything else names the key', () => {
    expect(DEFAULT_CONFIG.modelTrust).toBe('first-use');
    expect(resolveConfig({ modelTrust: 'strict' }, NOW).modelTrust).toBe('strict');
    expect(() => resolveConfig({ modelTrust: 'none' }, NOW)).toThrow(ConfigError);
    expect(() => resolveConfig({ modelTrust: 'none' }, NOW)).toThrow(
      /modelTrust = "none"; allowed: "first-use"/,
    );
  });

  it('strict with unpinned models fails synth and names every missing pin', () => {
    // An error annotation fails synth (annotationsInValidationReport), as `cdk synth` does.
    expect(() => synth({ ...DEFAULT_CONFIG, modelTrust: 'strict' })).toThrow(
      /modelTrust "strict" needs every model pinned in docker\/openvoice\/app\/model_pins.json; null: checkpoint.sha256, myshell-ai\/MeloTTS-English-v3 revision, /,
    );
  });

  it('reads every null of the pins file as unpinned, and a fully pinned file as none', () => {
    const pinned = {
      _comment: 'x',
      checkpoint: { url: 'https://example.com/c.zip', sha256: 'a'.repeat(64) },
      huggingface: { 'org/model': { revision: 'b'.repeat(40), files: { 'config.json': 'c'.repeat(64) } } },
    };
    expect(unpinnedModels(pinned)).toEqual([]);
    const open = {
      ...pinned,
      huggingface: {
        'org/model': { revision: null, files: { 'config.json': null, 'a.bin': 'c'.repeat(64) } },
      },
    };
    expect(unpinnedModels(open)).toEqual(['org/model revision', 'org/model config.json']);
  });
});
