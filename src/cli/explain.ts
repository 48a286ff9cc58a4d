import type { Ec2ErrorCode } from '../core/model.js';
import { FleetError, toFleetError } from '../aws/errors.js';
import { CliFailure, UsageError } from './io.js';

/** What each expected failure means to an operator; a function where the words need the error's own. */
const ADVICE: Readonly<Record<Exclude<Ec2ErrorCode, 'Unknown'>, string | ((error: FleetError) => string)>> = {
  NoCredentials:
    'No AWS credentials found: run `aws configure` (or `aws sso login`), set AWS_PROFILE, or pass --profile.',
  ExpiredCredentials: 'Your AWS credentials have expired: refresh them (e.g. `aws sso login`) and try again.',
  AccessDenied: (error) =>
    `Access denied${error.missingPermission && error.missingPermission !== 'unknown' ? `: your credentials lack ${error.missingPermission}` : ''}. docs/operations.md ("The operator's IAM policy") lists the permissions gpu-manage needs.`,
  InsufficientCapacity:
    'EC2 has no spot capacity for the GPU instance right now. The persistent spot request stays open; try again in a few minutes (the scaler retries by itself while jobs wait).',
  SpotInterrupted:
    'EC2 interrupted and stopped the spot GPU; only EC2 can start it again, which it does when capacity returns. Check again later with `gpu-manage status`.',
  IncorrectSpotRequestState:
    'The GPU’s spot request is not ready for a start yet (this happens right after a stop): try again in a minute.',
  IncorrectInstanceState:
    'The instance is between states (pending or stopping): try again in a minute, or add --wait next time.',
  Throttled: 'AWS is throttling requests right now: try again in a few seconds.',
  NotFound: (error) =>
    `${capitalise(error.message)}. Are the stacks deployed in this region (npx cdk deploy --all), and is --stack right?`,
  WorkerNeverReady:
    'The GPU worker never became ready after its last start; read its provisioning and containers with gpu-manage logs provision and gpu-manage logs gpu.',
  InvalidCredentials: (error) =>
    `${capitalise(error.message)}. Check which credentials are in use (aws configure list, AWS_PROFILE or --profile).`,
  ServerError: (error) => `${capitalise(error.message)}; this is usually brief: try again in a minute.`,
  Unreachable: (error) =>
    `${capitalise(error.message)}. Check the network connection (and AWS_ENDPOINT_URL or a proxy, if set), then try again.`,
  BadResponse: (error) => `AWS sent an answer gpu-manage cannot use: ${error.message}.`,
  WorkerStalled:
    'The GPU worker stopped taking jobs while jobs waited; the scaler restarts it. Read its containers with gpu-manage logs gpu.',
  StartNotTaken:
    'EC2 accepted the start but the GPU stayed stopped; the scaler retries with back-off. Check the spot request with `gpu-manage status`.',
  SpotPriceTooLow:
    'The spot price of the GPU type is above your cap (gpuFleet.spotMaxPriceUsd); its spot request waits as price-too-low. Raise the cap or set it to null (no cap), then deploy (the GPU rotates).',
  StuckInTransition:
    'The GPU has been pending or stopping far longer than EC2 normally takes; look at it in the EC2 console.',
};

/**
 * Turns an expected failure into the one line an operator reads: what happened and what to do.
 * Anything not recognised is unexpected and left to the caller (one line, stack with --debug).
 */
export function explain(error: unknown): CliFailure | UsageError | undefined {
  if (error instanceof CliFailure || error instanceof UsageError) return error;
  if (isRegionMissing(error)) {
    return new CliFailure(
      'No AWS region configured: pass --region, set AWS_REGION, or set a region in your profile.',
    );
  }
  const fleetError = error instanceof FleetError ? error : toFleetError(error);
  if (fleetError.code === 'Unknown') return undefined;
  const advice = ADVICE[fleetError.code];
  return new CliFailure(typeof advice === 'string' ? advice : advice(fleetError));
}

function isRegionMissing(error: unknown): boolean {
  return error instanceof Error && /region is missing/i.test(error.message);
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
