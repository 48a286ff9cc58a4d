import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import { LAMBDA_BUNDLE } from '../../src/names.js';

/**
 * The fleet's bundle options as NodejsFunction takes them. Bundled by the local esbuild: there is
 * no Docker to fall back to.
 */
export function lambdaBundling(extra: Partial<nodejs.BundlingOptions> = {}): nodejs.BundlingOptions {
  return { ...LAMBDA_BUNDLE, format: nodejs.OutputFormat.ESM, ...extra, forceDockerBundling: false };
}
