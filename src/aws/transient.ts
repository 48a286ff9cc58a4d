/**
 * Retries for the custom resources' AWS calls: throttling and 5xx are "try again", a few named
 * errors may mean "already done" or "not yet" for one call.
 */

/** Throttling and 5xx are retried this many times with back-off (the SDK's own retries come first). */
export const TRANSIENT_ATTEMPTS = 6;

export function errorName(error: unknown): string {
  return (error as { name?: string; Code?: string } | undefined)?.name ?? '';
}

const TRANSIENT_NAMES = new Set([
  'RequestLimitExceeded',
  'Throttling',
  'ThrottlingException',
  'InternalError',
  'InternalFailure',
  'ServiceUnavailable',
  'Unavailable',
]);

function isTransient(error: unknown): boolean {
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode ?? 0;
  return TRANSIENT_NAMES.has(errorName(error)) || status >= 500;
}

/**
 * Runs an AWS call, retrying throttling and 5xx with exponential back-off; `ignore` names errors
 * that mean "already done" (the call then yields undefined), `retry` further errors that mean
 * "not yet" for this call.
 */
export async function transient<T>(
  deps: { readonly sleep: (ms: number) => Promise<void> },
  call: () => Promise<T>,
  options: { ignore?: readonly string[]; retry?: readonly string[] } = {},
): Promise<T | undefined> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (options.ignore?.includes(errorName(error))) return undefined;
      const retryable = isTransient(error) || (options.retry?.includes(errorName(error)) ?? false);
      if (!retryable || attempt >= TRANSIENT_ATTEMPTS) throw error;
      await deps.sleep(Math.min(2 ** attempt * 1000, 30_000));
    }
  }
}
