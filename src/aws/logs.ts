import {
  type CloudWatchLogsClient,
  FilterLogEventsCommand,
  type FilterLogEventsCommandInput,
} from '@aws-sdk/client-cloudwatch-logs';
import { FleetError, recordEndpointOnFailure, toFleetError } from './errors.js';

/** One line of a log group. */
export interface LogEvent {
  readonly eventId: string;
  /** Milliseconds since the epoch, as the writer stamped the line. */
  readonly timestamp: number;
  readonly stream: string;
  readonly message: string;
}

export interface LogQuery {
  readonly groupName: string;
  /** Milliseconds since the epoch; lines from this time on. */
  readonly startTime: number;
  /** Milliseconds since the epoch; lines up to this time. @default now */
  readonly endTime?: number;
  /** A CloudWatch Logs filter pattern, e.g. `{ $.jobId = "msg-1" }`. @default every line */
  readonly pattern?: string;
  /** Only streams whose name starts so, e.g. `provision/`. @default every stream */
  readonly streamPrefix?: string;
  /** Keep the newest this many. @default 1000 */
  readonly limit?: number;
}

/** Reads a fleet's log groups: implemented over CloudWatch Logs, faked in tests. */
export interface LogsPort {
  /** The lines that match, oldest first (newest last), at most `limit` of the newest. */
  read(query: LogQuery): Promise<LogEvent[]>;
}

/** Pages are read until this many lines were seen: a runaway query must end. */
const MAX_SCANNED = 20_000;

export function createCloudWatchLogs(client: CloudWatchLogsClient): LogsPort {
  recordEndpointOnFailure(client);
  return {
    async read(query) {
      const limit = query.limit ?? 1000;
      const events: LogEvent[] = [];
      let nextToken: string | undefined;
      do {
        const input: FilterLogEventsCommandInput = {
          logGroupName: query.groupName,
          startTime: query.startTime,
          endTime: query.endTime,
          filterPattern: query.pattern,
          logStreamNamePrefix: query.streamPrefix,
          nextToken,
        };
        let output;
        try {
          output = await client.send(new FilterLogEventsCommand(input));
        } catch (error) {
          if ((error as { name?: unknown }).name === 'ResourceNotFoundException') {
            throw new FleetError('NotFound', `log group ${query.groupName} not found`, false, undefined, {
              cause: error,
              action: 'logs:FilterLogEvents',
            });
          }
          throw toFleetError(error, 'logs:FilterLogEvents');
        }
        for (const event of output.events ?? []) {
          events.push({
            eventId: event.eventId ?? `${event.logStreamName ?? ''}:${event.timestamp ?? 0}`,
            timestamp: event.timestamp ?? 0,
            stream: event.logStreamName ?? '',
            message: (event.message ?? '').replace(/\n+$/, ''),
          });
        }
        nextToken = output.nextToken;
      } while (nextToken && events.length < MAX_SCANNED);
      // Pages come per stream interleaved; the reader wants one timeline.
      events.sort((a, b) => a.timestamp - b.timestamp);
      return events.slice(-limit);
    },
  };
}
