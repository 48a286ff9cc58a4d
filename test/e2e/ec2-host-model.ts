import type {
  CreateNetworkInterfaceCommandInput,
  CreateNetworkInterfaceCommandOutput,
  DescribeInstancesCommandInput,
  DescribeInstancesCommandOutput,
  DescribeNetworkInterfacesCommandInput,
  DescribeNetworkInterfacesCommandOutput,
  DescribeSpotInstanceRequestsCommandInput,
  DescribeSpotInstanceRequestsCommandOutput,
  Filter,
  Instance,
  InstanceStateName,
  RunInstancesCommandInput,
  RunInstancesCommandOutput,
  Tag,
  TagSpecification,
} from '@aws-sdk/client-ec2';

/**
 * EC2 as the host lifecycle sees it, in memory and in the SDK's own shapes: launches from launch
 * templates (with idempotency tokens, tag specifications, persistent spot requests and fixed
 * private addresses), terminations, spot requests that relaunch what is terminated behind their
 * back, network interfaces, and EC2's eventual consistency (a new instance is NotFound for a
 * while). The unit tests drive it through aws-sdk-client-mock, the local AWS server over HTTP.
 */

export interface ModelInstance {
  readonly instanceId: string;
  state: InstanceStateName;
  readonly launchTime: Date;
  readonly privateIp: string;
  readonly spotInstanceRequestId?: string;
  readonly volumeId: string;
  readonly interfaceId: string;
  readonly tags: Record<string, string>;
  readonly templateId: string;
  readonly templateVersion: string;
  /** Until this time (model clock) DescribeInstances does not know the instance. */
  visibleAt: number;
  stateReason?: string;
  /** Set for a launch that ends while starting: the reason it ends with. */
  failsWith?: string;
}

/** A persistent spot request; it keeps its launch's template for the relaunches. */
export interface ModelRequest extends Pick<ModelInstance, 'templateId' | 'templateVersion'> {
  readonly id: string;
  state: 'open' | 'active' | 'disabled' | 'cancelled' | 'closed';
  instanceId?: string;
  readonly tags: Record<string, string>;
}

export interface ModelInterface {
  readonly id: string;
  readonly subnetId: string;
  readonly privateIp: string;
  readonly groups: string[];
  attachedTo?: string;
  readonly deleteOnTermination: boolean;
  readonly tags: Record<string, string>;
}

/** How a launch template places its instances. */
export interface ModelTemplate {
  readonly spot: boolean;
  /** The fixed private IP the template's own interface takes; absent when the caller brings one. */
  readonly privateIp?: string;
  readonly subnetId: string;
}

export class Ec2ModelError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = code;
  }
}

export class Ec2HostModel {
  readonly instances = new Map<string, ModelInstance>();
  readonly requests = new Map<string, ModelRequest>();
  readonly interfaces = new Map<string, ModelInterface>();
  readonly volumes = new Map<string, Record<string, string>>();
  readonly templates = new Map<string, ModelTemplate>();
  /** How long a new instance stays unknown to DescribeInstances (EC2's eventual consistency). */
  notFoundForMs = 0;
  /** The reason the next launch ends with while starting (spot capacity, a bad image). */
  failNextLaunch?: string;
  /** The model's clock; tests move it. */
  now: () => number = () => Date.now();
  private readonly tokens = new Map<string, string>();
  private sequence = 0;

  private nextId(prefix: string): string {
    this.sequence += 1;
    return `${prefix}-${this.sequence.toString(16).padStart(17, '0')}`;
  }

  runInstances(input: RunInstancesCommandInput): RunInstancesCommandOutput {
    const token = input.ClientToken;
    const known = token ? this.tokens.get(token) : undefined;
    if (known) return this.reservation([this.instance(known)]);
    const templateId = input.LaunchTemplate?.LaunchTemplateId ?? '';
    const template = this.templates.get(templateId);
    if (!template) throw new Ec2ModelError('InvalidLaunchTemplateId.NotFound', `${templateId} not found`);
    const source = { templateId, templateVersion: input.LaunchTemplate?.Version ?? '1' };
    const tagsFor = (type: string) => tagMap(input.TagSpecifications, type);
    const existing = input.NetworkInterfaces?.find((n) => n.DeviceIndex === 0)?.NetworkInterfaceId;
    let eni: ModelInterface;
    if (existing) {
      const found = this.interfaces.get(existing);
      if (!found) throw new Ec2ModelError('InvalidNetworkInterfaceID.NotFound', `${existing} not found`);
      if (found.attachedTo) throw new Ec2ModelError('InvalidNetworkInterface.InUse', `${existing} in use`);
      eni = found;
    } else {
      const ip = template.privateIp ?? `10.0.1.${100 + this.sequence}`;
      this.assertAddressFree(template.subnetId, ip);
      eni = this.addInterface(template.subnetId, ip, tagsFor('network-interface'));
    }
    const instance = this.launch(source, eni, tagsFor('instance'), tagsFor('volume'));
    if (template.spot) {
      const request: ModelRequest = {
        id: this.nextId('sir'),
        state: 'active',
        instanceId: instance.instanceId,
        tags: tagsFor('spot-instances-request'),
        ...source,
      };
      this.requests.set(request.id, request);
      Object.assign(instance, { spotInstanceRequestId: request.id });
    }
    if (token) this.tokens.set(token, instance.instanceId);
    return this.reservation([instance]);
  }

  /** A new instance from a launch template (the launch's, or the one its spot request keeps). */
  private launch(
    { templateId, templateVersion }: Pick<ModelInstance, 'templateId' | 'templateVersion'>,
    eni: ModelInterface,
    tags: Record<string, string>,
    volumeTags: Record<string, string>,
    spotInstanceRequestId?: string,
  ): ModelInstance {
    const volumeId = this.nextId('vol');
    this.volumes.set(volumeId, volumeTags);
    const instance: ModelInstance = {
      instanceId: this.nextId('i'),
      state: 'pending',
      launchTime: new Date(this.now()),
      privateIp: eni.privateIp,
      volumeId,
      interfaceId: eni.id,
      tags,
      templateId,
      templateVersion,
      visibleAt: this.now() + this.notFoundForMs,
      ...(spotInstanceRequestId && { spotInstanceRequestId }),
    };
    eni.attachedTo = instance.instanceId;
    if (this.failNextLaunch) {
      instance.failsWith = this.failNextLaunch;
      this.failNextLaunch = undefined;
    }
    this.instances.set(instance.instanceId, instance);
    return instance;
  }

  /** One step of time for every instance: pending runs, shutting-down is terminated (and lets go). */
  settle(): void {
    for (const instance of this.instances.values()) {
      if (instance.state === 'pending' && instance.failsWith) {
        instance.state = 'shutting-down';
        instance.stateReason = instance.failsWith;
      } else if (instance.state === 'pending') instance.state = 'running';
      else if (instance.state === 'stopping') instance.state = 'stopped';
      else if (instance.state === 'shutting-down') this.finishTermination(instance);
    }
  }

  describeInstances(input: DescribeInstancesCommandInput): DescribeInstancesCommandOutput {
    const visible = [...this.instances.values()].filter((i) => i.visibleAt <= this.now());
    return this.reservation(
      input.InstanceIds?.length
        ? input.InstanceIds.map((id) => visible.find((i) => i.instanceId === id) ?? instanceNotFound(id))
        : visible.filter((i) => matches(input.Filters, i.tags, { 'instance-state-name': i.state })),
    );
  }

  terminateInstances(ids: readonly string[]): void {
    for (const instance of ids.map((id) => this.instance(id)))
      if (instance.state !== 'terminated') instance.state = 'shutting-down';
  }

  private finishTermination(instance: ModelInstance): void {
    instance.state = 'terminated';
    this.volumes.delete(instance.volumeId);
    const eni = this.interfaces.get(instance.interfaceId);
    if (eni?.attachedTo === instance.instanceId) {
      if (eni.deleteOnTermination) this.interfaces.delete(eni.id);
      else eni.attachedTo = undefined;
    }
    // A persistent request that is still active replaces what it lost, without the launch's tags.
    const request = instance.spotInstanceRequestId
      ? this.requests.get(instance.spotInstanceRequestId)
      : undefined;
    if (request && (request.state === 'active' || request.state === 'disabled')) {
      const subnetId = this.templates.get(request.templateId)?.subnetId ?? '';
      const replacement = this.addInterface(subnetId, instance.privateIp, {});
      const relaunched = this.launch(request, replacement, {}, {}, request.id);
      relaunched.visibleAt = this.now();
      request.instanceId = relaunched.instanceId;
      request.state = 'active';
    }
  }

  cancelSpotInstanceRequests(ids: readonly string[]): void {
    for (const id of ids) this.request(id).state = 'cancelled';
  }

  describeSpotInstanceRequests(
    input: DescribeSpotInstanceRequestsCommandInput,
  ): DescribeSpotInstanceRequestsCommandOutput {
    const found = input.SpotInstanceRequestIds?.length
      ? input.SpotInstanceRequestIds.map((id) => this.request(id))
      : [...this.requests.values()].filter((r) => matches(input.Filters, r.tags, { state: r.state }));
    return {
      $metadata: {},
      SpotInstanceRequests: found.map((r) => ({
        SpotInstanceRequestId: r.id,
        State: r.state,
        InstanceId: r.instanceId,
        Type: 'persistent',
        Tags: toTags(r.tags),
      })),
    };
  }

  createTags(resources: readonly string[], tags: readonly Tag[]): void {
    for (const id of resources) {
      const target = this.tagsOf(id);
      for (const tag of tags) target[tag.Key ?? ''] = tag.Value ?? '';
    }
  }

  deleteTags(resources: readonly string[], tags: readonly Tag[]): void {
    for (const id of resources) {
      const target = this.tagsOf(id);
      for (const tag of tags) Reflect.deleteProperty(target, tag.Key ?? '');
    }
  }

  createNetworkInterface(input: CreateNetworkInterfaceCommandInput): CreateNetworkInterfaceCommandOutput {
    const ip = input.PrivateIpAddress ?? `10.0.1.${200 + this.sequence}`;
    this.assertAddressFree(input.SubnetId ?? '', ip);
    const tags = tagMap(input.TagSpecifications, 'network-interface');
    const eni = this.addInterface(input.SubnetId ?? '', ip, tags, false, [...(input.Groups ?? [])]);
    return { $metadata: {}, NetworkInterface: interfaceShape(eni) };
  }

  describeNetworkInterfaces(
    input: DescribeNetworkInterfacesCommandInput,
  ): DescribeNetworkInterfacesCommandOutput {
    const found = [...this.interfaces.values()].filter(
      (n) =>
        (!input.NetworkInterfaceIds?.length || input.NetworkInterfaceIds.includes(n.id)) &&
        matches(input.Filters, n.tags),
    );
    return { $metadata: {}, NetworkInterfaces: found.map(interfaceShape) };
  }

  deleteNetworkInterface(id: string): void {
    const eni = this.interfaces.get(id);
    if (!eni) throw new Ec2ModelError('InvalidNetworkInterfaceID.NotFound', `${id} does not exist`);
    if (eni.attachedTo)
      throw new Ec2ModelError('InvalidParameterValue', `Network interface '${id}' is currently in use.`);
    this.interfaces.delete(id);
  }

  /** EC2 stops describing terminated instances after about an hour. */
  forgetTerminated(): void {
    for (const [id, instance] of this.instances)
      if (instance.state === 'terminated') this.instances.delete(id);
  }

  /** What is still alive: instances not terminated, requests not cancelled or closed, interfaces. */
  leftovers(): { instances: string[]; requests: string[]; interfaces: string[] } {
    return {
      instances: [...this.instances.values()]
        .filter((i) => i.state !== 'terminated')
        .map((i) => i.instanceId),
      requests: [...this.requests.values()]
        .filter((r) => r.state !== 'cancelled' && r.state !== 'closed')
        .map((r) => r.id),
      interfaces: [...this.interfaces.keys()],
    };
  }

  instance(id: string): ModelInstance {
    return this.instances.get(id) ?? instanceNotFound(id);
  }

  private request(id: string): ModelRequest {
    const request = this.requests.get(id);
    if (request) return request;
    throw new Ec2ModelError(
      'InvalidSpotInstanceRequestID.NotFound',
      `The spot request ID '${id}' does not exist`,
    );
  }

  private tagsOf(id: string): Record<string, string> {
    const target =
      this.instances.get(id)?.tags ??
      this.requests.get(id)?.tags ??
      this.interfaces.get(id)?.tags ??
      this.volumes.get(id);
    if (!target) throw new Ec2ModelError('InvalidID', `The ID '${id}' is not valid`);
    return target;
  }

  /** A new interface; one a launch creates goes with its instance, one created on its own stays. */
  private addInterface(
    subnetId: string,
    privateIp: string,
    tags: Record<string, string>,
    deleteOnTermination = true,
    groups: string[] = [],
  ): ModelInterface {
    const eni = { id: this.nextId('eni'), subnetId, privateIp, groups, deleteOnTermination, tags };
    this.interfaces.set(eni.id, eni);
    return eni;
  }

  private assertAddressFree(subnetId: string, ip: string): void {
    const taken = [...this.interfaces.values()].some((n) => n.subnetId === subnetId && n.privateIp === ip);
    if (taken) throw new Ec2ModelError('InvalidIPAddress.InUse', `Address ${ip} is in use.`);
  }

  private reservation(
    instances: ModelInstance[],
  ): DescribeInstancesCommandOutput & RunInstancesCommandOutput {
    return {
      $metadata: {},
      Instances: instances.map(instanceShape),
      Reservations: instances.length > 0 ? [{ Instances: instances.map(instanceShape) }] : [],
    };
  }
}

function instanceShape(i: ModelInstance): Instance {
  return {
    InstanceId: i.instanceId,
    State: { Name: i.state },
    LaunchTime: i.launchTime,
    PrivateIpAddress: i.privateIp,
    SpotInstanceRequestId: i.spotInstanceRequestId,
    InstanceLifecycle: i.spotInstanceRequestId ? 'spot' : undefined,
    StateReason: i.stateReason ? { Code: i.stateReason, Message: i.stateReason } : undefined,
    BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeId: i.volumeId } }],
    NetworkInterfaces: [{ NetworkInterfaceId: i.interfaceId, Attachment: { DeviceIndex: 0 } }],
    Tags: toTags(i.tags),
  };
}

function interfaceShape(n: ModelInterface) {
  return {
    NetworkInterfaceId: n.id,
    SubnetId: n.subnetId,
    PrivateIpAddress: n.privateIp,
    Groups: n.groups.map((GroupId) => ({ GroupId })),
    Status: n.attachedTo ? ('in-use' as const) : ('available' as const),
    Attachment: n.attachedTo ? { InstanceId: n.attachedTo, DeviceIndex: 0 } : undefined,
    TagSet: toTags(n.tags),
  };
}

function tagMap(specs: readonly TagSpecification[] | undefined, type: string): Record<string, string> {
  const spec = specs?.find((s) => s.ResourceType === type);
  return Object.fromEntries((spec?.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
}

function toTags(tags: Record<string, string>): Tag[] {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}

/** Whether every filter holds: `tag:<key>` on the tags, any other name on the values it names. */
function matches(
  filters: readonly Filter[] | undefined,
  tags: Record<string, string>,
  named: Record<string, string> = {},
): boolean {
  return (filters ?? []).every(({ Name = '', Values = [] }) => {
    const tag = Name.startsWith('tag:') ? Name.slice(4) : undefined;
    if (tag === undefined && !Object.hasOwn(named, Name))
      throw new Ec2ModelError('InvalidParameterValue', `The filter '${Name}' is invalid`);
    const value = tag === undefined ? named[Name] : tags[tag];
    return value !== undefined && Values.includes(value);
  });
}

function instanceNotFound(id: string): never {
  throw new Ec2ModelError('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`);
}
