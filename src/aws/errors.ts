import type { MiddlewareStack } from '@smithy/types';
import type { Ec2ErrorCode } from '../core/model.js';

/** What is known about a failed call besides its code. */
export interface FleetErrorDetails {
  readonly cause?: unknown;
  /** The IAM action that was attempted, e.g. `ec2:StartInstances`. */
  readonly action?: string;
  /** The host (and port, when not the default) a call that never got an answer was sent to. */
  readonly endpoint?: string;
  /** The HTTP status of AWS's answer, when there was one. */
  readonly httpStatus?: number;
}

/**
 * A small vocabulary of failures that the decision, the handler and the CLI speak about.
 * Adapters turn SDK exceptions into a FleetError; nothing above them looks at SDK error names.
 * Callers branch on `code` and `retryable`; the message is one line a person can act on.
 */
export class FleetError extends Error {
  readonly action?: string;
  readonly endpoint?: string;
  readonly httpStatus?: number;

  constructor(
    readonly code: Ec2ErrorCode,
    message: string,
    /** True when the same call may succeed later: capacity, spot state, throttling, 5xx, network. */
    readonly retryable: boolean,
    /** The IAM action that was denied, when the error is AccessDenied and it is known. */
    readonly missingPermission?: string,
    details: FleetErrorDetails = {},
  ) {
    super(message, { cause: details.cause });
    this.name = 'FleetError';
    this.action = details.action;
    this.endpoint = details.endpoint;
    this.httpStatus = details.httpStatus;
  }
}

export function isFleetError(error: unknown): error is FleetError {
  return error instanceof FleetError;
}

/** How each AWS error code maps onto the vocabulary, and whether a retry may help. */
const BY_NAME: Readonly<Record<string, readonly [Ec2ErrorCode, boolean]>> = {
  InsufficientInstanceCapacity: ['InsufficientCapacity', true],
  InsufficientCapacity: ['InsufficientCapacity', true],
  SpotMaxPriceTooLow: ['InsufficientCapacity', true],
  IncorrectSpotRequestState: ['IncorrectSpotRequestState', true],
  IncorrectInstanceState: ['IncorrectInstanceState', true],
  IncorrectState: ['IncorrectInstanceState', true],
  // EC2 answers a start of a spot instance that it interrupted and stopped itself this way.
  UnsupportedOperation: ['SpotInterrupted', true],
  RequestLimitExceeded: ['Throttled', true],
  Throttling: ['Throttled', true],
  ThrottlingException: ['Throttled', true],
  RequestThrottled: ['Throttled', true],
  // Auto Scaling: another update of the group is still pending, or a scaling activity is running.
  ResourceContention: ['Throttled', true],
  ScalingActivityInProgress: ['IncorrectInstanceState', true],
  TooManyRequestsException: ['Throttled', true],
  InternalError: ['ServerError', true],
  InternalFailure: ['ServerError', true],
  InternalServerError: ['ServerError', true],
  ServiceUnavailable: ['ServerError', true],
  ServiceUnavailableException: ['ServerError', true],
  Unavailable: ['ServerError', true],
  UnauthorizedOperation: ['AccessDenied', false],
  AccessDenied: ['AccessDenied', false],
  AccessDeniedException: ['AccessDenied', false],
  'InvalidInstanceID.NotFound': ['NotFound', false],
  'InvalidInstanceID.Malformed': ['NotFound', false],
  QueueDoesNotExist: ['NotFound', false],
  FileSystemNotFound: ['NotFound', false],
  'AWS.SimpleQueueService.NonExistentQueue': ['NotFound', false],
  CredentialsProviderError: ['NoCredentials', false],
  ExpiredToken: ['ExpiredCredentials', false],
  ExpiredTokenException: ['ExpiredCredentials', false],
  RequestExpired: ['ExpiredCredentials', false],
  AuthFailure: ['InvalidCredentials', false],
  InvalidClientTokenId: ['InvalidCredentials', false],
  UnrecognizedClientException: ['InvalidCredentials', false],
  SignatureDoesNotMatch: ['InvalidCredentials', false],
  IncompleteSignature: ['InvalidCredentials', false],
  MissingAuthenticationToken: ['InvalidCredentials', false],
};

/** What each authentication failure says is wrong (EC2's AuthFailure covers both key and signature). */
const CREDENTIAL_PROBLEMS: Readonly<Record<string, string>> = {
  AuthFailure: 'the access key or its signature is not valid',
  InvalidClientTokenId: 'AWS does not know this access key id (deleted, deactivated or mistyped)',
  UnrecognizedClientException: 'AWS does not know this access key id or session token',
  SignatureDoesNotMatch: 'the secret access key does not belong to this access key id',
  IncompleteSignature: 'the request signature is incomplete',
  MissingAuthenticationToken: 'the request carried no credentials',
};

/** Node's socket error codes, in the words an operator reads. */
const NETWORK_CAUSES: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found',
  ETIMEDOUT: 'timed out',
  ECONNRESET: 'connection closed',
  ECONNABORTED: 'connection closed',
  EPIPE: 'connection closed',
  EHOSTUNREACH: 'network unreachable',
  ENETUNREACH: 'network unreachable',
};

interface SdkErrorFields {
  readonly name?: unknown;
  readonly message?: unknown;
  readonly code?: unknown;
  readonly hostname?: unknown;
  readonly address?: unknown;
  readonly port?: unknown;
  readonly $fault?: unknown;
  readonly $metadata?: { readonly httpStatusCode?: unknown };
}

/** The endpoint each failed request went to, recorded by the middleware below. */
const endpoints = new WeakMap<object, string>();

/** Sends one AWS call, turning any SDK failure into a FleetError that names the action. */
export async function callAws<T>(action: string, send: () => Promise<T>): Promise<T> {
  try {
    return await send();
  } catch (error) {
    throw toFleetError(error, action);
  }
}

/**
 * Turns whatever the SDK threw into a FleetError with a code the rest of the product speaks
 * about. `action` is the IAM action that was attempted, named when access is denied.
 */
export function toFleetError(error: unknown, action?: string): FleetError {
  if (error instanceof FleetError) return error;
  const fields: SdkErrorFields = typeof error === 'object' && error !== null ? error : {};
  const name = typeof fields.name === 'string' ? fields.name : 'Error';
  const text = firstLine(error instanceof Error ? error.message : String(error));
  const status =
    typeof fields.$metadata?.httpStatusCode === 'number' ? fields.$metadata.httpStatusCode : undefined;
  const details = { cause: error, action, httpStatus: status };
  const known = BY_NAME[name];
  if (known) {
    const [code, retryable] = known;
    return new FleetError(
      code,
      describeKnown(code, name, text, action, status),
      retryable,
      code === 'AccessDenied' ? action : undefined,
      details,
    );
  }
  // A code BY_NAME does not list: told apart by the socket error or the HTTP status, if at all.
  const unlisted = (code: Ec2ErrorCode, message: string, retryable: boolean, endpoint?: string): FleetError =>
    new FleetError(code, message, retryable, undefined, { ...details, endpoint });
  const networkCause = networkCauseOf(fields, name);
  if (networkCause) {
    const endpoint = endpointOf(error, fields);
    return unlisted(
      'Unreachable',
      `cannot reach ${endpoint ?? 'the AWS endpoint'}: ${networkCause}`,
      true,
      endpoint,
    );
  }
  // A 429 or 5xx whose code is new to us, or whose body was an HTML page the SDK could not read.
  if (status === 429)
    return unlisted('Throttled', `AWS throttled ${action ?? 'the request'} (HTTP 429)`, true);
  if ((status !== undefined && status >= 500) || fields.$fault === 'server')
    return unlisted('ServerError', serverErrorText(action, status, undefined), true);
  const unreadable = name === 'Unknown' && status !== undefined;
  return unlisted(
    'Unknown',
    unreadable
      ? `AWS answered ${action ?? 'a request'} with HTTP ${status} and no error code`
      : `${name}: ${text}`,
    false,
  );
}

function describeKnown(
  code: Ec2ErrorCode,
  name: string,
  text: string,
  action: string | undefined,
  status: number | undefined,
): string {
  switch (code) {
    case 'InvalidCredentials':
      return `AWS rejected the credentials: ${CREDENTIAL_PROBLEMS[name] ?? text} (${name})`;
    case 'ExpiredCredentials':
      return `the credentials have expired (${name}): ${text}`;
    case 'ServerError':
      return serverErrorText(action, status, name);
    default:
      return `${name}: ${text}`;
  }
}

function serverErrorText(
  action: string | undefined,
  status: number | undefined,
  name: string | undefined,
): string {
  const what = [status === undefined ? undefined : `HTTP ${status}`, name].filter(Boolean).join(', ');
  return `AWS answered ${action ?? 'a request'} with a server error${what ? ` (${what})` : ''}`;
}

function networkCauseOf(fields: SdkErrorFields, name: string): string | undefined {
  const code = typeof fields.code === 'string' ? fields.code : undefined;
  if (code && NETWORK_CAUSES[code]) return NETWORK_CAUSES[code];
  // The SDK's own connection and request timeouts carry no socket code.
  return name === 'TimeoutError' ? 'timed out' : undefined;
}

function endpointOf(error: unknown, fields: SdkErrorFields): string | undefined {
  const recorded = typeof error === 'object' && error !== null ? endpoints.get(error) : undefined;
  if (recorded) return recorded;
  if (typeof fields.hostname === 'string') return fields.hostname;
  if (typeof fields.address === 'string')
    return typeof fields.port === 'number' ? `${fields.address}:${fields.port}` : fields.address;
  return undefined;
}

export function firstLine(text: string): string {
  return text.split('\n')[0]?.trim() ?? '';
}

/**
 * Makes a client remember where each failed request was sent, so a network failure can name the
 * host it could not reach. SQS sends to the queue URL's host rather than to its endpoint, which is
 * why the request (after endpoint resolution) is read, not the client's configuration.
 * Adding it twice replaces it, so every adapter may call this on the client it is given.
 */
export function recordEndpointOnFailure<Input extends object, Output extends object>(client: {
  readonly middlewareStack: MiddlewareStack<Input, Output>;
}): void {
  client.middlewareStack.add(
    (next) => async (args) => {
      try {
        return await next(args);
      } catch (error) {
        const request = args.request as { hostname?: unknown; port?: unknown } | undefined;
        if (typeof error === 'object' && error !== null && typeof request?.hostname === 'string') {
          const port = typeof request.port === 'number' ? `:${request.port}` : '';
          endpoints.set(error, `${request.hostname}${port}`);
        }
        throw error;
      }
    },
    { step: 'deserialize', name: 'gpuFleetRecordEndpointOnFailure', override: true },
  );
}
