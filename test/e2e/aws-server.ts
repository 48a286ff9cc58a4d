import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Instance, InstanceStateName, NetworkInterface, Tag } from '@aws-sdk/client-ec2';
import { Ec2HostModel, Ec2ModelError } from './ec2-host-model';

/**
 * A small AWS on 127.0.0.1 that speaks the wire protocols the SDK v3 clients of this product use:
 * EC2 and CloudFormation query/XML, SQS AWS JSON 1.0 (with the query-compatible error header; the
 * message calls and the dead-letter redrive too), CloudWatch Logs AWS JSON 1.1 (FilterLogEvents),
 * EFS REST-JSON. It keeps an in-memory fleet and a queue's counts, checks the access key id, and
 * injects faults per action, so the CLI and the scaler run unmodified against it through
 * AWS_ENDPOINT_URL. The shapes were checked against what @aws-sdk/client-* 3.1169 send and parse.
 */

export interface FakeInstance {
  readonly instanceId: string;
  readonly instanceType: string;
  state: InstanceStateName;
  launchTime: Date;
  stateReasonCode?: string;
  stateTransitionReason?: string;
  readonly privateIp: string;
  publicIp?: string;
  readonly lifecycle: 'spot' | 'on-demand';
  readonly spotInstanceRequestId?: string;
  readonly tags: Record<string, string>;
}

export interface FakeQueue {
  waiting: number;
  inFlight: number;
  delayed: number;
  /** Attribute names GetQueueAttributes leaves out of its answer, as a broken proxy might. */
  omit: string[];
  /** Messages sent to it (SendMessage, addMessage); counted on top of `waiting`. */
  messages: FakeMessage[];
}

export interface FakeMessage {
  readonly messageId: string;
  readonly body: string;
  readonly sentAt: number;
  receiveCount: number;
  firstReceiveAt?: number;
}

/** SQS's message move task of the dead-letter queue; each ListMessageMoveTasks moves two messages. */
export interface FakeMoveTask {
  status: 'RUNNING' | 'COMPLETED' | 'FAILED';
  moved: number;
  readonly toMove: number;
  readonly startedAt: number;
  readonly maxPerSecond?: number;
}

/** One line of a fake CloudWatch Logs group. */
export interface FakeLogEvent {
  readonly stream: string;
  readonly timestamp: number;
  readonly message: string;
}

/** The log groups the Compute and Scaler stacks' outputs name. */
export const LOG_GROUPS = {
  gpu: 'GpuFleet-Compute-LogsGpu',
  app: 'GpuFleet-Compute-LogsApp',
  scaler: 'GpuFleet-Scaler-ScalerLogs',
} as const;

/** The actions the server answers, named as IAM names them. */
export type AwsAction =
  | 'ec2:DescribeInstances'
  | 'ec2:StartInstances'
  | 'ec2:StopInstances'
  | 'ec2:CreateTags'
  | 'ec2:DescribeSpotInstanceRequests'
  | HostLifecycleAction
  | 'cloudformation:DescribeStacks'
  | 'sqs:GetQueueAttributes'
  | 'elasticfilesystem:DescribeFileSystems'
  | AccountAction
  | 'sqs:SendMessage'
  | 'sqs:ReceiveMessage'
  | 'sqs:PurgeQueue'
  | 'sqs:StartMessageMoveTask'
  | 'sqs:ListMessageMoveTasks'
  | 'logs:FilterLogEvents';

/** What a failing call answers with. */
export type Fault =
  /** An error in the service's own protocol (XML for EC2/CloudFormation, JSON for SQS/EFS). */
  | { readonly kind: 'error'; readonly code: string; readonly status?: number; readonly message?: string }
  /** An HTML page, as a load balancer in front of AWS sends on a 502. */
  | { readonly kind: 'html'; readonly status: number }
  /** The connection closes without an answer. */
  | { readonly kind: 'drop' };

/** An error in the service's own protocol, the fault `fail` injects most often. */
export function awsError(code: string, status: number): Fault {
  return { kind: 'error', code, status };
}

export interface RecordedCall {
  readonly action: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly accessKeyId?: string;
  readonly host?: string;
}

export const ACCOUNT = '123456789012';
export const ACCESS_KEY_ID = 'AKIDE2ETESTKEY000001';
export const SECRET_ACCESS_KEY = 'e2e-secret-access-key';
const FILE_SYSTEM_ID = 'fs-0e2e';
const STATE_CODES: Record<InstanceStateName, number> = {
  pending: 0,
  running: 16,
  'shutting-down': 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
};

class ProtocolError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export class AwsServer {
  readonly instances = new Map<string, FakeInstance>();
  readonly queues = new Map<string, FakeQueue>();
  readonly calls: RecordedCall[] = [];
  /** Queue URLs that were asked for but are not this server's: a real URL that leaked. */
  readonly foreignQueueUrls: string[] = [];
  /** CloudWatch Logs groups by name, each line with its stream and time. */
  readonly logGroups = new Map<string, FakeLogEvent[]>();
  /** The dead-letter queue's move tasks, newest last. */
  readonly moveTasks: FakeMoveTask[] = [];
  /** Called before every answered call: a test changes the world between two calls. */
  onAction: ((action: string) => void) | undefined;
  /** Called after every SendMessage: a fake worker or scaler reacts to a job. */
  onSend: ((queueUrl: string, message: FakeMessage) => void) | undefined;
  private messageCount = 0;
  /**
   * Set by `useHostModel`: every EC2 call goes to this model of launches, spot requests and
   * interfaces (the host lifecycle provider's world) instead of the fixed fleet above.
   */
  hostModel?: Ec2HostModel;
  /** What `gpu-manage doctor` reads: identity, bootstrap, quotas, zones, spot prices, the alarm topic. */
  account: FakeAccount = freshAccount();
  private readonly faults = new Map<string, { fault: Fault; remaining: number }>();
  private readonly sockets = new Set<import('node:net').Socket>();

  private constructor(
    private readonly server: http.Server,
    readonly endpoint: string,
  ) {}

  static async start(): Promise<AwsServer> {
    // Longer than any retry back-off of the SDK: a socket the client reuses after a throttled
    // answer must not be closed by the server in that moment (a reset is a network fault).
    const server = http.createServer();
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const aws = new AwsServer(server, `http://127.0.0.1:${port}`);
    server.on('connection', (socket) => {
      aws.sockets.add(socket);
      socket.on('close', () => aws.sockets.delete(socket));
    });
    server.on('request', (req, res) => aws.handle(req, res));
    aws.reset();
    return aws;
  }

  get jobQueueUrl(): string {
    return `${this.endpoint}/${ACCOUNT}/GpuFleet-Data-JobQueue`;
  }

  get deadLetterQueueUrl(): string {
    return `${this.endpoint}/${ACCOUNT}/GpuFleet-Data-DeadLetterQueue`;
  }

  get app(): FakeInstance {
    return this.knownInstance('i-0app');
  }

  get gpu(): FakeInstance {
    return this.knownInstance('i-0gpu');
  }

  get jobQueue(): FakeQueue {
    return this.knownQueue(this.jobQueueUrl);
  }

  /** A fleet as deployed: app host running, spot GPU stopped, both queues empty. */
  reset(): void {
    const now = new Date();
    this.instances.clear();
    this.queues.clear();
    this.faults.clear();
    this.calls.length = 0;
    this.foreignQueueUrls.length = 0;
    this.hostModel = undefined;
    this.account = freshAccount();
    this.instances.set('i-0app', {
      instanceId: 'i-0app',
      instanceType: 't3.large',
      state: 'running',
      launchTime: new Date(now.getTime() - 3_600_000),
      privateIp: '10.0.1.10',
      publicIp: '203.0.113.10',
      lifecycle: 'on-demand',
      tags: { 'gpu-fleet:fleet': 'GpuFleet', 'gpu-fleet:role': 'app', Name: 'GpuFleet/app' },
    });
    this.instances.set('i-0gpu', {
      instanceId: 'i-0gpu',
      instanceType: 'g4dn.xlarge',
      state: 'stopped',
      launchTime: new Date(now.getTime() - 7_200_000),
      stateTransitionReason: `User initiated (${gmt(new Date(now.getTime() - 3_600_000))})`,
      privateIp: '10.0.1.20',
      lifecycle: 'spot',
      spotInstanceRequestId: 'sir-0gpu',
      tags: { 'gpu-fleet:fleet': 'GpuFleet', 'gpu-fleet:role': 'gpu', Name: 'GpuFleet/gpu' },
    });
    for (const url of [this.jobQueueUrl, this.deadLetterQueueUrl])
      this.queues.set(url, { waiting: 0, inFlight: 0, delayed: 0, omit: [], messages: [] });
    this.logGroups.clear();
    for (const name of Object.values(LOG_GROUPS)) this.logGroups.set(name, []);
    this.moveTasks.length = 0;
    this.onSend = undefined;
    this.onAction = undefined;
  }

  get deadLetterQueue(): FakeQueue {
    return this.knownQueue(this.deadLetterQueueUrl);
  }

  /** Puts a message in a queue, as SendMessage would, `ageMs` ago. */
  addMessage(queueUrl: string, body: string, ageMs = 0): FakeMessage {
    const queue = this.queues.get(queueUrl);
    if (!queue) throw new Error(`no queue ${queueUrl}`);
    this.messageCount += 1;
    const message: FakeMessage = {
      messageId: `m-${String(this.messageCount).padStart(4, '0')}`,
      body,
      sentAt: Date.now() - ageMs,
      receiveCount: 0,
    };
    queue.messages.push(message);
    return message;
  }

  /** Appends a line to a log group (a host's driver or the scaler writing). */
  writeLog(group: string, stream: string, message: string, timestamp = Date.now()): void {
    const events = this.logGroups.get(group);
    if (!events) throw new Error(`no log group ${group}`);
    events.push({ stream, timestamp, message });
  }

  /** The next `times` calls of `action` fail with `fault` (every call when times is omitted). */
  fail(action: AwsAction, fault: Fault, times = Number.POSITIVE_INFINITY): void {
    this.faults.set(action, { fault, remaining: times });
  }

  clearFaults(): void {
    this.faults.clear();
  }

  /** The calls made of one action. */
  callsOf(action: AwsAction): RecordedCall[] {
    return this.calls.filter((call) => call.action === action);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const scope = /Credential=([^/]+)\/\d{8}\/[^/]+\/([^/]+)\/aws4_request/.exec(
        req.headers.authorization ?? '',
      );
      const service = scope?.[2] ?? 'unknown';
      const protocol = PROTOCOLS[service];
      if (!protocol) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end(`unsigned or unknown service ${service}`);
        return;
      }
      try {
        const { action, params } = protocol.parse(req, body);
        this.calls.push({ action, params, accessKeyId: scope?.[1], host: req.headers.host });
        if (scope?.[1] !== ACCESS_KEY_ID) {
          throw new ProtocolError(
            protocol.authErrorCode,
            'The security token included in the request is invalid.',
            403,
          );
        }
        const injected = this.faults.get(action);
        if (injected && injected.remaining > 0) {
          injected.remaining -= 1;
          this.answerFault(res, protocol, injected.fault);
          return;
        }
        this.onAction?.(action);
        protocol.ok(res, action, this.act(action, params));
      } catch (error) {
        if (error instanceof ProtocolError) protocol.error(res, error.code, error.message, error.status);
        else if (error instanceof Ec2ModelError) protocol.error(res, error.code, error.message, 400);
        else protocol.error(res, 'InternalError', String(error), 500);
      }
    });
  }

  private answerFault(res: http.ServerResponse, protocol: Protocol, fault: Fault): void {
    switch (fault.kind) {
      case 'drop':
        res.socket?.destroy();
        return;
      case 'html':
        res
          .writeHead(fault.status, { 'content-type': 'text/html' })
          .end(
            `<html>\r\n<head><title>${fault.status} Bad Gateway</title></head>\r\n<body>\r\n<center><h1>${fault.status} Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n`,
          );
        return;
      case 'error':
        protocol.error(res, fault.code, fault.message ?? `${fault.code} (injected)`, fault.status ?? 400);
    }
  }

  /** Routes EC2 to a fresh model of launches (see `hostModel`); returns it for the test to shape. */
  useHostModel(): Ec2HostModel {
    this.hostModel = new Ec2HostModel();
    return this.hostModel;
  }

  /**
   * What each action does to the fleet. EC2's answer is the XML inside its response element (EC2
   * speaks nothing else); the other services' a value their protocol writes.
   */
  private act(action: string, params: Record<string, unknown>): unknown {
    if (this.hostModel && action.startsWith('ec2:')) return actOnHostModel(this.hostModel, action, params);
    switch (action) {
      case 'ec2:DescribeInstances':
        return reservationXml(this.describeInstances(params).map(instanceXml).join(''));
      case 'ec2:StartInstances':
        return this.transition(listParam(params, 'InstanceId'), 'start');
      case 'ec2:StopInstances':
        return this.transition(listParam(params, 'InstanceId'), 'stop');
      case 'ec2:CreateTags': {
        const ids = listParam(params, 'ResourceId');
        const keys = listParam(params, 'Tag', 'Key');
        const values = listParam(params, 'Tag', 'Value');
        for (const id of ids) {
          const instance = this.knownInstance(id);
          keys.forEach((key, i) => (instance.tags[key] = values[i] ?? ''));
        }
        return TRUE_XML;
      }
      case 'ec2:DescribeSpotInstanceRequests':
        return `<spotInstanceRequestSet>${listParam(params, 'SpotInstanceRequestId')
          .map((id) => {
            const instance = [...this.instances.values()].find((i) => i.spotInstanceRequestId === id);
            if (!instance)
              throw new ProtocolError('InvalidSpotInstanceRequestID.NotFound', `${id} does not exist`);
            const running = instance.state === 'running';
            return `<item><spotInstanceRequestId>${id}</spotInstanceRequestId><state>${running ? 'active' : 'disabled'}</state><status><code>${running ? 'fulfilled' : 'instance-stopped-by-user'}</code></status><type>persistent</type><validUntil>2027-12-31T00:00:00.000Z</validUntil><instanceInterruptionBehavior>stop</instanceInterruptionBehavior><instanceId>${instance.instanceId}</instanceId></item>`;
          })
          .join('')}</spotInstanceRequestSet>`;
      case 'cloudformation:DescribeStacks': {
        const name = String(params.StackName ?? '');
        return { name, outputs: this.stackOutputs(name) };
      }
      case 'sqs:GetQueueAttributes': {
        const url = String(params.QueueUrl ?? '');
        const queue = this.knownQueue(url);
        const all: Record<string, string> = {
          QueueArn: queueArn(url),
          ApproximateNumberOfMessages: String(queue.waiting + queue.messages.length),
          ApproximateNumberOfMessagesNotVisible: String(queue.inFlight),
          ApproximateNumberOfMessagesDelayed: String(queue.delayed),
        };
        const asked = (params.AttributeNames as string[] | undefined) ?? [];
        return {
          Attributes: Object.fromEntries(
            Object.entries(all).filter(([name]) => asked.includes(name) && !queue.omit.includes(name)),
          ),
        };
      }
      case 'elasticfilesystem:DescribeFileSystems': {
        const id = String(params.FileSystemId ?? '');
        if (id !== FILE_SYSTEM_ID)
          throw new ProtocolError('FileSystemNotFound', `File system '${id}' does not exist.`, 404);
        return {
          FileSystems: [
            {
              OwnerId: ACCOUNT,
              CreationToken: 'e2e',
              FileSystemId: FILE_SYSTEM_ID,
              CreationTime: 1_790_000_000,
              LifeCycleState: 'available',
              NumberOfMountTargets: 1,
              SizeInBytes: { Value: 3 * 1024 ** 3 },
              PerformanceMode: 'generalPurpose',
              Tags: [],
            },
          ],
        };
      }
      case 'logs:FilterLogEvents':
        return this.filterLogEvents(params);
      case 'sqs:SendMessage':
      case 'sqs:ReceiveMessage':
      case 'sqs:PurgeQueue':
      case 'sqs:StartMessageMoveTask':
      case 'sqs:ListMessageMoveTasks':
        return this.queueMessages(action, params);
      default:
        return accountAction(this.account, action, params);
    }
  }

  /** The outputs of the stacks gpu-manage reads; the scaler stack is deployed while its topic is. */
  private stackOutputs(name: string): Record<string, string> {
    const stacks: Record<string, Record<string, string> | undefined> = {
      'GpuFleet-Data': {
        JobQueueUrl: this.jobQueueUrl,
        DeadLetterQueueUrl: this.deadLetterQueueUrl,
        FileSystemId: FILE_SYSTEM_ID,
      },
      'GpuFleet-Compute': { GpuLogGroup: LOG_GROUPS.gpu, AppLogGroup: LOG_GROUPS.app },
      'GpuFleet-Scaler': this.account.subscriptions && {
        AlarmTopicArn: ALARM_TOPIC_ARN,
        ScalerLogGroup: LOG_GROUPS.scaler,
      },
    };
    const outputs = stacks[name];
    if (!outputs) throw new ProtocolError('ValidationError', `Stack with id ${name} does not exist`);
    return outputs;
  }

  /**
   * FilterLogEvents over the in-memory groups: the time window, a stream prefix, and the two
   * pattern forms gpu-manage sends (`{ $.field = "value" }` on JSON lines, or no pattern). Pages
   * of three lines, so callers must follow nextToken.
   */
  private filterLogEvents(params: Record<string, unknown>): unknown {
    const name = String(params.logGroupName ?? '');
    const events = this.logGroups.get(name);
    if (!events)
      throw new ProtocolError('ResourceNotFoundException', 'The specified log group does not exist.');
    const start = typeof params.startTime === 'number' ? params.startTime : 0;
    const end = typeof params.endTime === 'number' ? params.endTime : Number.POSITIVE_INFINITY;
    const prefix = typeof params.logStreamNamePrefix === 'string' ? params.logStreamNamePrefix : '';
    const pattern = typeof params.filterPattern === 'string' ? params.filterPattern : '';
    const field = /^\{ \$\.(\w+) = "([^"]*)" \}$/.exec(pattern);
    if (pattern !== '' && !field) throw new ProtocolError('InvalidParameterException', `pattern ${pattern}`);
    const matches = (message: string): boolean => {
      if (!field) return true;
      try {
        return (JSON.parse(message) as Record<string, unknown>)[field[1] ?? ''] === field[2];
      } catch {
        return false;
      }
    };
    const found = events
      .map((e, i) => ({ ...e, eventId: `${name}-${i}` }))
      .filter(
        (e) =>
          e.timestamp >= start && e.timestamp <= end && e.stream.startsWith(prefix) && matches(e.message),
      )
      .sort((a, b) => a.timestamp - b.timestamp);
    const offset = Number(params.nextToken ?? 0);
    const page = found.slice(offset, offset + 3);
    return {
      events: page.map((e) => ({
        logStreamName: e.stream,
        timestamp: e.timestamp,
        message: e.message,
        ingestionTime: e.timestamp,
        eventId: e.eventId,
      })),
      searchedLogStreams: [],
      ...(offset + 3 < found.length && { nextToken: String(offset + 3) }),
    };
  }

  /** The message-level SQS calls: send, receive, purge, and the dead-letter queue's redrive. */
  private queueMessages(action: string, params: Record<string, unknown>): unknown {
    if (action === 'sqs:StartMessageMoveTask' || action === 'sqs:ListMessageMoveTasks') {
      if (params.SourceArn !== queueArn(this.deadLetterQueueUrl))
        throw new ProtocolError('ResourceNotFoundException', `no queue ${String(params.SourceArn)}`);
      const dead = this.deadLetterQueue;
      const running = this.moveTasks.find((t) => t.status === 'RUNNING');
      if (action === 'sqs:StartMessageMoveTask') {
        if (running)
          throw new ProtocolError(
            'UnsupportedOperation',
            'There is already a task running. Only one active task is allowed for each source queue arn at a given time.',
          );
        const maxPerSecond = params.MaxNumberOfMessagesPerSecond;
        this.moveTasks.push({
          status: 'RUNNING',
          moved: 0,
          toMove: dead.messages.length,
          startedAt: Date.now(),
          ...(typeof maxPerSecond === 'number' && { maxPerSecond }),
        });
        return { TaskHandle: `task-${this.moveTasks.length}` };
      }
      if (running) {
        for (const message of dead.messages.splice(0, 2)) {
          this.jobQueue.messages.push(message);
          running.moved += 1;
        }
        if (dead.messages.length === 0) running.status = 'COMPLETED';
      }
      return {
        Results: this.moveTasks
          .slice(-Number(params.MaxResults ?? 10))
          .reverse()
          .map((t) => ({
            Status: t.status,
            SourceArn: params.SourceArn,
            ApproximateNumberOfMessagesMoved: t.moved,
            ApproximateNumberOfMessagesToMove: t.toMove,
            StartedTimestamp: t.startedAt,
            ...(t.maxPerSecond !== undefined && { MaxNumberOfMessagesPerSecond: t.maxPerSecond }),
          })),
      };
    }
    const url = String(params.QueueUrl ?? '');
    const queue = this.knownQueue(url);
    if (action === 'sqs:SendMessage') {
      const message = this.addMessage(url, String(params.MessageBody ?? ''));
      this.onSend?.(url, message);
      return { MessageId: message.messageId, MD5OfMessageBody: md5(message.body) };
    }
    if (action === 'sqs:PurgeQueue') {
      queue.messages.length = 0;
      queue.waiting = 0;
      return {};
    }
    // ReceiveMessage with visibility 0: every receive counts, nothing is hidden.
    const max = Number(params.MaxNumberOfMessages ?? 1);
    const now = Date.now();
    const asked = (params.MessageSystemAttributeNames as string[] | undefined) ?? [];
    return {
      Messages: queue.messages.slice(0, max).map((m) => {
        m.receiveCount += 1;
        m.firstReceiveAt ??= now;
        const all: Record<string, string> = {
          SentTimestamp: String(m.sentAt),
          ApproximateFirstReceiveTimestamp: String(m.firstReceiveAt),
          ApproximateReceiveCount: String(m.receiveCount),
        };
        return {
          MessageId: m.messageId,
          ReceiptHandle: `rh-${m.messageId}-${m.receiveCount}`,
          MD5OfBody: md5(m.body),
          Body: m.body,
          Attributes: Object.fromEntries(Object.entries(all).filter(([k]) => asked.includes(k))),
        };
      }),
    };
  }

  private describeInstances(params: Record<string, unknown>): FakeInstance[] {
    for (const instance of this.instances.values()) {
      if (instance.state === 'pending') instance.state = 'running';
      if (instance.state === 'stopping') instance.state = 'stopped';
    }
    const ids = listParam(params, 'InstanceId');
    let found = ids.length > 0 ? ids.map((id) => this.knownInstance(id)) : [...this.instances.values()];
    for (const { Name: name, Values: values } of readFilters(params)) {
      if (name === 'instance-state-name') found = found.filter((i) => values.includes(i.state));
      else if (name.startsWith('tag:'))
        found = found.filter((i) => values.includes(i.tags[name.slice(4)] ?? ''));
      else throw new ProtocolError('InvalidParameterValue', `The filter '${name}' is invalid`);
    }
    return found;
  }

  /** Starts or stops instances; EC2's `instancesSet` of their current and previous states. */
  private transition(ids: string[], to: 'start' | 'stop'): string {
    const instances = ids.map((id) => this.knownInstance(id));
    for (const instance of instances) {
      const bad =
        to === 'start'
          ? ['stopping', 'shutting-down', 'terminated']
          : ['pending', 'shutting-down', 'terminated'];
      if (bad.includes(instance.state)) {
        throw new ProtocolError(
          'IncorrectInstanceState',
          `The instance '${instance.instanceId}' is not in a state from which it can be ${to === 'start' ? 'started' : 'stopped'}.`,
        );
      }
    }
    const now = new Date();
    const items = instances.map((instance) => {
      const previous = instance.state;
      if (to === 'start' && previous === 'stopped') {
        instance.state = 'pending';
        instance.launchTime = now;
        instance.stateReasonCode = undefined;
        instance.stateTransitionReason = undefined;
      }
      if (to === 'stop' && previous === 'running') {
        instance.state = 'stopping';
        instance.stateReasonCode = 'Client.UserInitiatedShutdown';
        instance.stateTransitionReason = `User initiated (${gmt(now)})`;
      }
      return `<item><instanceId>${instance.instanceId}</instanceId>${stateXml('currentState', instance.state)}${stateXml('previousState', previous)}</item>`;
    });
    return `<instancesSet>${items.join('')}</instancesSet>`;
  }

  private knownQueue(url: string): FakeQueue {
    const queue = this.queues.get(url);
    if (queue) return queue;
    if (!url.startsWith(this.endpoint)) this.foreignQueueUrls.push(url);
    throw new ProtocolError('AWS.SimpleQueueService.NonExistentQueue', 'The specified queue does not exist.');
  }

  private knownInstance(id: string): FakeInstance {
    const instance = this.instances.get(id);
    if (!instance)
      throw new ProtocolError('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`);
    return instance;
  }
}

/** How one service reads requests and writes answers and errors. */
interface Protocol {
  readonly authErrorCode: string;
  parse(req: http.IncomingMessage, body: string): { action: string; params: Record<string, unknown> };
  ok(res: http.ServerResponse, action: string, answer: unknown): void;
  error(res: http.ServerResponse, code: string, message: string, status: number): void;
}

const EC2_NS = 'http://ec2.amazonaws.com/doc/2016-11-15/';
const CFN_NS = 'http://cloudformation.amazonaws.com/doc/2010-05-15/';

const ec2: Protocol = {
  authErrorCode: 'AuthFailure',
  parse: (_req, body) => parseQuery('ec2', body),
  ok(res, action, answer) {
    const name = action.slice('ec2:'.length);
    xml(
      res,
      200,
      `<${name}Response xmlns="${EC2_NS}"><requestId>e2e-request</requestId>${answer as string}</${name}Response>`,
    );
  },
  error(res, code, message, status) {
    xml(
      res,
      status,
      `<Response><Errors><Error><Code>${escape(code)}</Code><Message>${escape(message)}</Message></Error></Errors><RequestID>e2e-request</RequestID></Response>`,
    );
  },
};

const cloudFormation = queryXml('cloudformation', CFN_NS, (_action, answer) => {
  const { name, outputs } = answer as { name: string; outputs: Record<string, string> };
  const members = Object.entries(outputs)
    .map(
      ([key, value]) =>
        `<member><OutputKey>${key}</OutputKey><OutputValue>${escape(value)}</OutputValue></member>`,
    )
    .join('');
  return `<Stacks><member><StackName>${name}</StackName><StackId>arn:aws:cloudformation:ap-northeast-1:${ACCOUNT}:stack/${name}/e2e</StackId><CreationTime>2026-11-01T00:00:00.000Z</CreationTime><StackStatus>CREATE_COMPLETE</StackStatus><Outputs>${members}</Outputs></member></Stacks>`;
});

const sqs = awsJson('1.0', 'AmazonSQS', 'sqs', 'InvalidClientTokenId', (code, status) => ({
  // SQS's JSON protocol names the shape in __type and the legacy query code in x-amzn-query-error.
  type: `com.amazonaws.sqs#${code.startsWith('AWS.SimpleQueueService.') ? 'QueueDoesNotExist' : code}`,
  headers: { 'x-amzn-query-error': `${code};${status >= 500 ? 'Receiver' : 'Sender'}` },
}));

const efs: Protocol = {
  authErrorCode: 'UnrecognizedClientException',
  parse(req) {
    const url = new URL(req.url ?? '/', 'http://local');
    if (req.method !== 'GET' || url.pathname !== '/2015-02-01/file-systems') {
      throw new ProtocolError('InvalidAction', `${req.method} ${url.pathname} is not supported here`);
    }
    return {
      action: 'elasticfilesystem:DescribeFileSystems',
      params: Object.fromEntries(url.searchParams.entries()),
    };
  },
  ok(res, _action, answer) {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
  },
  error(res, code, message, status) {
    res
      .writeHead(status, { 'content-type': 'application/json', 'x-amzn-errortype': code })
      .end(JSON.stringify({ ErrorCode: code, Message: message }));
  },
};

const cloudWatchLogs = awsJson('1.1', 'Logs_20140328', 'logs', 'UnrecognizedClientException');

function parseQuery(service: string, body: string): { action: string; params: Record<string, unknown> } {
  const params = Object.fromEntries(new URLSearchParams(body).entries());
  return { action: `${service}:${params.Action ?? 'unknown'}`, params };
}

/** Reads a query-protocol list: `InstanceId.1, InstanceId.2…`, or `Tag.1.Key, Tag.2.Key…` with a member. */
function listParam(params: Record<string, unknown>, prefix: string, member?: string): string[] {
  const values: string[] = [];
  for (let n = 1; ; n += 1) {
    const value = params[member ? `${prefix}.${n}.${member}` : `${prefix}.${n}`];
    if (value === undefined) return values;
    values.push(String(value));
  }
}

/** `<tag>value</tag>`, or nothing when there is no value. */
function optional(tag: string, value: string | undefined): string {
  return value === undefined ? '' : `<${tag}>${escape(value)}</${tag}>`;
}

function instanceXml(i: FakeInstance): string {
  return [
    '<item>',
    `<instanceId>${i.instanceId}</instanceId>`,
    '<imageId>ami-0e2e</imageId>',
    stateXml('instanceState', i.state),
    optional('privateIpAddress', i.privateIp),
    optional('ipAddress', i.publicIp),
    `<reason>${escape(i.stateTransitionReason ?? '')}</reason>`,
    `<instanceType>${i.instanceType}</instanceType>`,
    `<launchTime>${i.launchTime.toISOString()}</launchTime>`,
    i.lifecycle === 'spot' ? '<instanceLifecycle>spot</instanceLifecycle>' : '',
    optional('spotInstanceRequestId', i.spotInstanceRequestId),
    i.stateReasonCode
      ? `<stateReason><code>${escape(i.stateReasonCode)}</code><message>${escape(i.stateReasonCode)}</message></stateReason>`
      : '',
    tagSetXml(Object.entries(i.tags).map(([Key, Value]) => ({ Key, Value }))),
    '</item>',
  ].join('');
}

function stateXml(tag: string, state: InstanceStateName): string {
  return `<${tag}><code>${STATE_CODES[state]}</code><name>${state}</name></${tag}>`;
}

function xml(res: http.ServerResponse, status: number, body: string): void {
  res
    .writeHead(status, { 'content-type': 'text/xml;charset=UTF-8' })
    .end(`<?xml version="1.0" encoding="UTF-8"?>\n${body}`);
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** EC2's time format inside StateTransitionReason: "2026-11-24 03:00:00 GMT". */
function gmt(date: Date): string {
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} GMT`;
}

/** The EC2 actions of the host lifecycle provider, answered from `AwsServer.hostModel`. */
export type HostLifecycleAction =
  | 'ec2:RunInstances'
  | 'ec2:TerminateInstances'
  | 'ec2:CancelSpotInstanceRequests'
  | 'ec2:DeleteTags'
  | 'ec2:CreateNetworkInterface'
  | 'ec2:DescribeNetworkInterfaces'
  | 'ec2:DeleteNetworkInterface';

/** EC2's query protocol read into the SDK's input shapes the model takes; the answer's XML. */
function actOnHostModel(model: Ec2HostModel, action: string, params: Record<string, unknown>): string {
  const filters = readFilters(params);
  const tagSpecs = readTagSpecifications(params);
  switch (action) {
    case 'ec2:RunInstances': {
      const interfaceId = params['NetworkInterface.1.NetworkInterfaceId'];
      const deviceIndex = Number(params['NetworkInterface.1.DeviceIndex']);
      const out = model.runInstances({
        LaunchTemplate: {
          LaunchTemplateId: String(params['LaunchTemplate.LaunchTemplateId'] ?? ''),
          Version: String(params['LaunchTemplate.Version'] ?? ''),
        },
        MinCount: Number(params.MinCount),
        MaxCount: Number(params.MaxCount),
        ClientToken: params.ClientToken === undefined ? undefined : String(params.ClientToken),
        NetworkInterfaces: interfaceId
          ? [{ DeviceIndex: deviceIndex, NetworkInterfaceId: String(interfaceId) }]
          : undefined,
        TagSpecifications: tagSpecs,
      });
      return reservationXml((out.Instances ?? []).map(modelInstanceXml).join(''));
    }
    case 'ec2:DescribeInstances': {
      const out = model.describeInstances({
        InstanceIds: listParam(params, 'InstanceId'),
        Filters: filters,
      });
      const instances = out.Reservations?.flatMap((r) => r.Instances ?? []) ?? [];
      return reservationXml(instances.map(modelInstanceXml).join(''));
    }
    case 'ec2:TerminateInstances':
      model.terminateInstances(listParam(params, 'InstanceId'));
      return TRUE_XML;
    case 'ec2:DescribeSpotInstanceRequests': {
      const out = model.describeSpotInstanceRequests({
        SpotInstanceRequestIds: listParam(params, 'SpotInstanceRequestId'),
        Filters: filters,
      });
      return `<spotInstanceRequestSet>${(out.SpotInstanceRequests ?? [])
        .map(
          (r) =>
            `<item><spotInstanceRequestId>${r.SpotInstanceRequestId}</spotInstanceRequestId><state>${r.State}</state><type>${r.Type}</type>${r.InstanceId ? `<instanceId>${r.InstanceId}</instanceId>` : ''}${tagSetXml(r.Tags)}</item>`,
        )
        .join('')}</spotInstanceRequestSet>`;
    }
    case 'ec2:CancelSpotInstanceRequests':
      model.cancelSpotInstanceRequests(listParam(params, 'SpotInstanceRequestId'));
      return TRUE_XML;
    case 'ec2:CreateTags':
    case 'ec2:DeleteTags': {
      const keys = listParam(params, 'Tag', 'Key');
      const values = listParam(params, 'Tag', 'Value');
      const tags: Tag[] = keys.map((Key, i) => ({ Key, Value: values[i] }));
      if (action === 'ec2:CreateTags') model.createTags(listParam(params, 'ResourceId'), tags);
      else model.deleteTags(listParam(params, 'ResourceId'), tags);
      return TRUE_XML;
    }
    case 'ec2:CreateNetworkInterface': {
      const out = model.createNetworkInterface({
        SubnetId: String(params.SubnetId ?? ''),
        PrivateIpAddress: params.PrivateIpAddress === undefined ? undefined : String(params.PrivateIpAddress),
        Groups: listParam(params, 'SecurityGroupId'),
        TagSpecifications: tagSpecs,
      });
      return `<networkInterface>${modelInterfaceXml(out.NetworkInterface ?? {})}</networkInterface>`;
    }
    case 'ec2:DescribeNetworkInterfaces': {
      const out = model.describeNetworkInterfaces({
        NetworkInterfaceIds: listParam(params, 'NetworkInterfaceId'),
        Filters: filters,
      });
      const items = (out.NetworkInterfaces ?? []).map((n) => `<item>${modelInterfaceXml(n)}</item>`);
      return `<networkInterfaceSet>${items.join('')}</networkInterfaceSet>`;
    }
    case 'ec2:DeleteNetworkInterface':
      model.deleteNetworkInterface(String(params.NetworkInterfaceId ?? ''));
      return TRUE_XML;
    default:
      throw new ProtocolError('InvalidAction', `The action ${action} is not valid for this web service.`);
  }
}

function readFilters(params: Record<string, unknown>): Array<{ Name: string; Values: string[] }> {
  return listParam(params, 'Filter', 'Name').map((Name, n) => ({
    Name,
    Values: listParam(params, `Filter.${n + 1}.Value`),
  }));
}

function readTagSpecifications(
  params: Record<string, unknown>,
): Array<{ ResourceType: 'instance'; Tags: Tag[] }> {
  return listParam(params, 'TagSpecification', 'ResourceType').map((type, n) => ({
    ResourceType: type as 'instance',
    Tags: listParam(params, `TagSpecification.${n + 1}.Tag`, 'Key').map((Key, m) => ({
      Key,
      Value: String(params[`TagSpecification.${n + 1}.Tag.${m + 1}.Value`] ?? ''),
    })),
  }));
}

function tagSetXml(tags: readonly Tag[] | undefined): string {
  const items = (tags ?? [])
    .map((t) => `<item><key>${escape(t.Key ?? '')}</key><value>${escape(t.Value ?? '')}</value></item>`)
    .join('');
  return `<tagSet>${items}</tagSet>`;
}

function modelInstanceXml(i: Instance): string {
  const state = i.State?.Name ?? 'pending';
  return [
    '<item>',
    `<instanceId>${i.InstanceId}</instanceId>`,
    stateXml('instanceState', state),
    optional('privateIpAddress', i.PrivateIpAddress),
    i.LaunchTime ? `<launchTime>${i.LaunchTime.toISOString()}</launchTime>` : '',
    i.InstanceLifecycle ? `<instanceLifecycle>${i.InstanceLifecycle}</instanceLifecycle>` : '',
    optional('spotInstanceRequestId', i.SpotInstanceRequestId),
    i.StateReason
      ? `<stateReason><code>${escape(i.StateReason.Code ?? '')}</code><message>${escape(i.StateReason.Message ?? '')}</message></stateReason>`
      : '',
    `<blockDeviceMapping>${(i.BlockDeviceMappings ?? [])
      .map(
        (b) =>
          `<item><deviceName>${b.DeviceName}</deviceName><ebs><volumeId>${b.Ebs?.VolumeId}</volumeId></ebs></item>`,
      )
      .join('')}</blockDeviceMapping>`,
    `<networkInterfaceSet>${(i.NetworkInterfaces ?? [])
      .map(
        (n) =>
          `<item><networkInterfaceId>${n.NetworkInterfaceId}</networkInterfaceId><attachment><deviceIndex>0</deviceIndex></attachment></item>`,
      )
      .join('')}</networkInterfaceSet>`,
    tagSetXml(i.Tags),
    '</item>',
  ].join('');
}

function modelInterfaceXml(n: NetworkInterface): string {
  return [
    `<networkInterfaceId>${n.NetworkInterfaceId}</networkInterfaceId>`,
    `<subnetId>${n.SubnetId}</subnetId>`,
    `<privateIpAddress>${n.PrivateIpAddress}</privateIpAddress>`,
    `<groupSet>${(n.Groups ?? []).map((g) => `<item><groupId>${g.GroupId}</groupId></item>`).join('')}</groupSet>`,
    `<status>${n.Status}</status>`,
    n.Attachment
      ? `<attachment><instanceId>${n.Attachment.InstanceId}</instanceId><deviceIndex>0</deviceIndex></attachment>`
      : '',
    tagSetXml(n.TagSet),
  ].join('');
}

/**
 * The instances of RunInstances (at the top) and of DescribeInstances (in one reservation): each
 * call's parser reads its own elements and passes over the other's.
 */
function reservationXml(items: string): string {
  const reservation = `<reservationId>r-0e2e</reservationId><ownerId>${ACCOUNT}</ownerId>`;
  return `${reservation}<instancesSet>${items}</instancesSet><reservationSet>${items && `<item>${reservation}<groupSet/><instancesSet>${items}</instancesSet></item>`}</reservationSet>`;
}

const TRUE_XML = '<return>true</return>';

// ---- The account behind `gpu-manage doctor`: STS, SSM, Service Quotas, SNS and EC2's capacity calls.

/** The actions `gpu-manage doctor` makes, named as IAM names them. */
export type AccountAction =
  | 'sts:GetCallerIdentity'
  | 'ssm:GetParameter'
  | 'servicequotas:GetServiceQuota'
  | 'servicequotas:GetAWSDefaultServiceQuota'
  | 'ec2:DescribeAvailabilityZones'
  | 'ec2:DescribeInstanceTypeOfferings'
  | 'ec2:DescribeSpotPriceHistory'
  | 'sns:ListSubscriptionsByTopic';

export interface FakeSubscription {
  readonly protocol: string;
  readonly endpoint: string;
  confirmed: boolean;
}

export interface FakeAccount {
  /** The CDK bootstrap version parameter's value; undefined when the region is not bootstrapped. */
  bootstrapVersion?: number;
  /** Applied quota values by quota code; a code missing here answers NoSuchResourceException. */
  readonly appliedQuotas: Record<string, number>;
  /** AWS's default values by quota code. */
  readonly defaultQuotas: Record<string, number>;
  /** The region's available zones. */
  zones: string[];
  /** Zones offering each instance type. */
  readonly offerings: Record<string, string[]>;
  /** The current spot price by `type@zone`, USD per hour. */
  readonly spotPrices: Record<string, number>;
  /** The alarm topic's subscriptions; undefined when the scaler stack is not deployed. */
  subscriptions?: FakeSubscription[];
}

export const REGION_ZONES = ['ap-northeast-1a', 'ap-northeast-1c', 'ap-northeast-1d'];
export const ALARM_TOPIC_ARN = `arn:aws:sns:ap-northeast-1:${ACCOUNT}:GpuFleet-Scaler-AlarmsTopic-e2e`;

/** A ready account: bootstrapped, the G/VT quotas raised to 8 vCPUs, g4dn/g5/g6 in every zone. */
function freshAccount(): FakeAccount {
  const everywhere = [...REGION_ZONES];
  return {
    bootstrapVersion: 28,
    appliedQuotas: { 'L-3819A6DF': 8, 'L-DB2E81BA': 8 },
    defaultQuotas: { 'L-3819A6DF': 0, 'L-DB2E81BA': 0 },
    zones: [...REGION_ZONES],
    offerings: { 'g4dn.xlarge': everywhere, 'g5.xlarge': everywhere, 'g6.xlarge': everywhere },
    spotPrices: Object.fromEntries(REGION_ZONES.map((zone) => [`g4dn.xlarge@${zone}`, 0.2104])),
  };
}

function accountAction(account: FakeAccount, action: string, params: Record<string, unknown>): unknown {
  switch (action) {
    case 'sts:GetCallerIdentity':
      return {};
    case 'ssm:GetParameter': {
      const name = String(params.Name ?? '');
      if (name !== '/cdk-bootstrap/hnb659fds/version' || account.bootstrapVersion === undefined)
        throw new ProtocolError('ParameterNotFound', `Parameter ${name} not found.`);
      return {
        Parameter: { Name: name, Type: 'String', Value: String(account.bootstrapVersion), Version: 1 },
      };
    }
    case 'servicequotas:GetServiceQuota':
    case 'servicequotas:GetAWSDefaultServiceQuota': {
      const code = String(params.QuotaCode ?? '');
      const values = action.endsWith('GetServiceQuota') ? account.appliedQuotas : account.defaultQuotas;
      const value = values[code];
      if (params.ServiceCode !== 'ec2' || value === undefined)
        throw new ProtocolError(
          'NoSuchResourceException',
          `The request failed because the specified quota ${code} does not exist.`,
        );
      return { Quota: { ServiceCode: 'ec2', QuotaCode: code, Value: value, Unit: 'None' } };
    }
    case 'ec2:DescribeAvailabilityZones':
      return `<availabilityZoneInfo>${account.zones
        .map(
          (zone) =>
            `<item><zoneName>${zone}</zoneName><zoneState>available</zoneState><regionName>ap-northeast-1</regionName><zoneType>availability-zone</zoneType><optInStatus>opt-in-not-required</optInStatus></item>`,
        )
        .join('')}</availabilityZoneInfo>`;
    case 'ec2:DescribeInstanceTypeOfferings': {
      if (params.LocationType !== 'availability-zone')
        throw new ProtocolError('InvalidParameterValue', `LocationType ${String(params.LocationType)}`);
      return `<instanceTypeOfferingSet>${listParam(params, 'Filter.1.Value')
        .flatMap((type) =>
          (account.offerings[type] ?? []).map(
            (zone) =>
              `<item><instanceType>${type}</instanceType><locationType>availability-zone</locationType><location>${zone}</location></item>`,
          ),
        )
        .join('')}</instanceTypeOfferingSet>`;
    }
    case 'ec2:DescribeSpotPriceHistory': {
      const type = listParam(params, 'InstanceType')[0] ?? '';
      const zone = String(params.AvailabilityZone ?? '');
      const price = account.spotPrices[`${type}@${zone}`];
      const item =
        price === undefined
          ? ''
          : `<item><instanceType>${type}</instanceType><productDescription>Linux/UNIX</productDescription><spotPrice>${price.toFixed(6)}</spotPrice><timestamp>${new Date().toISOString()}</timestamp><availabilityZone>${zone}</availabilityZone></item>`;
      return `<spotPriceHistorySet>${item}</spotPriceHistorySet>`;
    }
    case 'sns:ListSubscriptionsByTopic': {
      if (params.TopicArn !== ALARM_TOPIC_ARN || account.subscriptions === undefined)
        throw new ProtocolError('NotFound', 'Topic does not exist', 404);
      return account.subscriptions;
    }
    default:
      throw new ProtocolError('InvalidAction', `The action ${action} is not valid for this web service.`);
  }
}

/** AWS JSON 1.0 (SQS) or 1.1 (CloudWatch Logs, SSM, Service Quotas): the action in X-Amz-Target. */
function awsJson(
  version: '1.0' | '1.1',
  targetPrefix: string,
  service: string,
  authErrorCode: string,
  errorShape: (code: string, status: number) => { type: string; headers: Record<string, string> } = (
    code,
  ) => ({ type: code, headers: { 'x-amzn-errortype': code } }),
): Protocol {
  const contentType = `application/x-amz-json-${version}`;
  return {
    authErrorCode,
    parse(req, body) {
      const target = String(req.headers['x-amz-target'] ?? '');
      if (req.headers['content-type'] !== contentType || !target.startsWith(`${targetPrefix}.`))
        throw new ProtocolError('InvalidAction', `not an AWS JSON ${version} ${service} request: ${target}`);
      return {
        action: `${service}:${target.slice(targetPrefix.length + 1)}`,
        params: JSON.parse(body || '{}') as Record<string, unknown>,
      };
    },
    ok(res, _action, answer) {
      res.writeHead(200, { 'content-type': contentType }).end(JSON.stringify(answer));
    },
    error(res, code, message, status) {
      const { type, headers } = errorShape(code, status);
      res
        .writeHead(status, { 'content-type': contentType, ...headers })
        .end(JSON.stringify({ __type: type, message }));
    },
  };
}

/** AWS query protocol with XML answers (STS, SNS): `<Action>Response><Action>Result>…`. */
function queryXml(
  service: string,
  namespace: string,
  result: (action: string, answer: unknown) => string,
): Protocol {
  return {
    authErrorCode: 'InvalidClientTokenId',
    parse: (_req, body) => parseQuery(service, body),
    ok(res, action, answer) {
      const name = action.slice(service.length + 1);
      xml(
        res,
        200,
        `<${name}Response xmlns="${namespace}"><${name}Result>${result(action, answer)}</${name}Result><ResponseMetadata><RequestId>e2e-request</RequestId></ResponseMetadata></${name}Response>`,
      );
    },
    error(res, code, message, status) {
      xml(
        res,
        status,
        `<ErrorResponse xmlns="${namespace}"><Error><Type>${status >= 500 ? 'Receiver' : 'Sender'}</Type><Code>${escape(code)}</Code><Message>${escape(message)}</Message></Error><RequestId>e2e-request</RequestId></ErrorResponse>`,
      );
    },
  };
}

/** By the service name in the request's SigV4 credential scope. */
const PROTOCOLS: Readonly<Record<string, Protocol>> = {
  logs: cloudWatchLogs,
  ec2,
  cloudformation: cloudFormation,
  sqs,
  elasticfilesystem: efs,
  sts: queryXml(
    'sts',
    'https://sts.amazonaws.com/doc/2011-06-15/',
    () => `<Arn>arn:aws:iam::${ACCOUNT}:user/e2e</Arn><UserId>AIDAE2E</UserId><Account>${ACCOUNT}</Account>`,
  ),
  sns: queryXml(
    'sns',
    'http://sns.amazonaws.com/doc/2010-03-31/',
    (_action, answer) =>
      `<Subscriptions>${(answer as FakeSubscription[])
        .map(
          (s, n) =>
            `<member><TopicArn>${ALARM_TOPIC_ARN}</TopicArn><Protocol>${s.protocol}</Protocol><SubscriptionArn>${s.confirmed ? `${ALARM_TOPIC_ARN}:sub-${n}` : 'PendingConfirmation'}</SubscriptionArn><Owner>${ACCOUNT}</Owner><Endpoint>${escape(s.endpoint)}</Endpoint></member>`,
        )
        .join('')}</Subscriptions>`,
  ),
  ssm: awsJson('1.1', 'AmazonSSM', 'ssm', 'UnrecognizedClientException'),
  servicequotas: awsJson('1.1', 'ServiceQuotasV20190624', 'servicequotas', 'UnrecognizedClientException'),
};

function queueArn(url: string): string {
  return `arn:aws:sqs:ap-northeast-1:${ACCOUNT}:${url.split('/').pop() ?? ''}`;
}

/** SQS's checksum of a body, which the SDK verifies on send and receive. */
function md5(text: string): string {
  return createHash('md5').update(text).digest('hex');
}
