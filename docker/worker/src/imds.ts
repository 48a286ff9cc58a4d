/**
 * The instance metadata service, IMDSv2 only (the stacks require tokens): the instance's id and
 * region for the ready tag, the spot interruption notice and, on a burst worker, the state its
 * Auto Scaling group is taking it to.
 */
export class InstanceMetadata {
  private token: { value: string; expires: number } | undefined;

  constructor(
    private readonly endpoint = 'http://169.254.169.254',
    private readonly clock: () => number = Date.now,
  ) {}

  private async sessionToken(): Promise<string> {
    if (this.token && this.token.expires > this.clock() + 60_000) return this.token.value;
    const response = await fetch(`${this.endpoint}/latest/api/token`, {
      method: 'PUT',
      headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '21600' },
      signal: AbortSignal.timeout(2000),
    });
    if (!response.ok) throw new Error(`IMDSv2 token request answered ${response.status}`);
    this.token = { value: await response.text(), expires: this.clock() + 21_600_000 };
    return this.token.value;
  }

  /** A metadata value, or undefined when the path does not exist (404). */
  async get(pathname: string): Promise<string | undefined> {
    const response = await fetch(`${this.endpoint}/latest/meta-data/${pathname}`, {
      headers: { 'X-aws-ec2-metadata-token': await this.sessionToken() },
      signal: AbortSignal.timeout(2000),
    });
    if (response.status === 404) return undefined;
    if (response.status === 401) this.token = undefined;
    if (!response.ok) throw new Error(`IMDS ${pathname} answered ${response.status}`);
    return response.text();
  }

  async instanceId(): Promise<string> {
    const id = await this.get('instance-id');
    if (!id) throw new Error('IMDS has no instance-id');
    return id;
  }

  async region(): Promise<string> {
    const region = await this.get('placement/region');
    if (!region) throw new Error('IMDS has no placement/region');
    return region;
  }

  /** The pending spot interruption ({action, time}) or undefined when none is scheduled. */
  async spotInterruption(): Promise<{ action: string; time: Date } | undefined> {
    const body = await this.get('spot/instance-action');
    if (!body) return undefined;
    const parsed = JSON.parse(body) as { action?: string; time?: string };
    return { action: parsed.action ?? 'unknown', time: new Date(parsed.time ?? this.clock()) };
  }

  /**
   * Where the Auto Scaling group is taking this instance: `InService`, or `Terminated` once the
   * group has begun to terminate it (the drain hook holds it in Terminating:Wait meanwhile).
   * Undefined outside a group (the primary GPU).
   */
  async targetLifecycleState(): Promise<string | undefined> {
    return (await this.get('autoscaling/target-lifecycle-state'))?.trim() || undefined;
  }
}
