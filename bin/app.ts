#!/usr/bin/env node
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { CONFIG_CONTEXT_KEY, ConfigError, resolveConfig } from '../src/config.js';
import { buildFleet } from '../lib/fleet.js';

const app = new App();
let config;
try {
  // The one place that reads the wall clock: ValidUntil must lie 30 days after today.
  config = resolveConfig(app.node.tryGetContext(CONFIG_CONTEXT_KEY), new Date());
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(1);
}
buildFleet(app, config);
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
