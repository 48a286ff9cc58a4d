import { FleetError, toFleetError } from '../aws/errors.js';
import { CliFailure, UsageError } from './io.js';

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
  switch (fleetError.code) {
    case 'NoCredentials':
      return new CliFailure(
        'No AWS credentials found: run `aws configure` (or `aws sso login`), set AWS_PROFILE, or pass --profile.',
      );
    case 'ExpiredCredentials':
      return new CliFailure(
        'Your AWS credentials have expired: refresh them (e.g. `aws sso login`) and try again.',
      );
    case 'AccessDenied':
      return new CliFailure(
        `Access denied${fleetError.missingPermission && fleetError.missingPermission !== 'unknown' ? `: your credentials lack ${fleetError.missingPermission}` : ''}. The README lists the IAM permissions gpu-manage needs.`,
      );
    case 'InsufficientCapacity':
      return new CliFailure(
        'EC2 has no spot capacity for the GPU instance right now. The persistent spot request stays open; try again in a few minutes (the scaler retries by itself while jobs wait).',
      );
    case 'SpotInterrupted':
      return new CliFailure(
        'EC2 interrupted and stopped the spot GPU; only EC2 can start it again, which it does when capacity returns. Check again later with `gpu-manage status`.',
      );
    case 'IncorrectSpotRequestState':
      return new CliFailure(
        'The GPU’s spot request is not ready for a start yet (this happens right after a stop): try again in a minute.',
      );
    case 'IncorrectInstanceState':
      return new CliFailure(
        'The instance is between states (pending or stopping): try again in a minute, or add --wait next time.',
      );
    case 'Throttled':
      return new CliFailure('AWS is throttling requests right now: try again in a few seconds.');
    case 'NotFound':
      return new CliFailure(
        `${capitalise(fleetError.message)}. Are the stacks deployed in this region (npx cdk deploy --all), and is --stack right?`,
      );
    case 'WorkerNeverReady':
      return new CliFailure(
        'The GPU worker never became ready after its last start; read its provisioning and containers with gpu-manage logs provision and gpu-manage logs gpu.',
      );
    case 'InvalidCredentials':
      return new CliFailure(
        `${capitalise(fleetError.message)}. Check which credentials are in use (aws configure list, AWS_PROFILE or --profile).`,
      );
    case 'ServerError':
      return new CliFailure(
        `${capitalise(fleetError.message)}; this is usually brief: try again in a minute.`,
      );
    case 'Unreachable':
      return new CliFailure(
        `${capitalise(fleetError.message)}. Check the network connection (and AWS_ENDPOINT_URL or a proxy, if set), then try again.`,
      );
    case 'BadResponse':
      return new CliFailure(`AWS sent an answer gpu-manage cannot use: ${fleetError.message}.`);
    case 'WorkerStalled':
      return new CliFailure(
        'The GPU worker stopped taking jobs while jobs waited; the scaler restarts it. Read its containers with gpu-manage logs gpu.',
      );
    case 'StartNotTaken':
      return new CliFailure(
        'EC2 accepted the start but the GPU stayed stopped; the scaler retries with back-off. Check the spot request with `gpu-manage status`.',
      );
    case 'SpotPriceTooLow':
      return new CliFailure(
        'The spot price of the GPU type is above your cap (gpuFleet.spotMaxPriceUsd); its spot request waits as price-too-low. Raise the cap or set it to null (no cap), then deploy (the GPU rotates).',
      );
    case 'StuckInTransition':
      return new CliFailure(
        'The GPU has been pending or stopping far longer than EC2 normally takes; look at it in the EC2 console.',
      );
    case 'Unknown':
      return undefined;
  }
}

function isRegionMissing(error: unknown): boolean {
  return error instanceof Error && /region is missing/i.test(error.message);
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
