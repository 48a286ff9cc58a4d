import type { Ec2ErrorCode } from '../core/model.js';

/**
 * A small vocabulary of failures that the decision, the handler and the CLI speak about.
 * Adapters turn SDK exceptions into a FleetError; nothing above them looks at SDK error names.
 */
export class FleetError extends Error {
  constructor(
    readonly code: Ec2ErrorCode,
    message: string,
    /** True when the same call may succeed on a later tick (capacity, spot state, throttling). */
    readonly retryable: boolean,
    /** The IAM action that was denied, when the error is AccessDenied and it is known. */
    readonly missingPermission?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'FleetError';
  }
}

export function isFleetError(error: unknown): error is FleetError {
  return error instanceof FleetError;
}
