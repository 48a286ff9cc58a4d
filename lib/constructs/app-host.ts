import { Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import type { FleetConfig } from '../../src/config.js';
import { APP_AMI_PARAMETER, FleetHost, type FleetHostProps } from './fleet-host.js';

/** The app host's own settings: its instance, its images, and the GPU worker's address. */
export interface AppHostProps
  extends
    FleetHostProps,
    Pick<
      FleetConfig,
      'appInstanceType' | 'appPrivateIp' | 'appRootVolumeGb' | 'appImages' | 'gpuPrivateIp' | 'hostRevision'
    > {}

/**
 * The app host: Amazon Linux 2023 at a fixed private IP with an Elastic IP, running VOICEVOX
 * and the team's frontend and backend from docker/app/compose.yaml. `appImages` reach it through
 * its settings parameter: set them later, deploy, and the next boot (or
 * `systemctl restart gpu-fleet-provision gpu-fleet-app`) runs them.
 */
export class AppHost extends Construct {
  readonly host: FleetHost;
  readonly elasticIp: ec2.CfnEIP;

  constructor(scope: Construct, id: string, props: AppHostProps) {
    super(scope, id);
    this.host = new FleetHost(this, 'Host', {
      ...props,
      host: {
        role: 'app',
        purpose: 'app host',
        instanceType: props.appInstanceType,
        amiParameter: APP_AMI_PARAMETER,
        privateIp: props.appPrivateIp,
        rootVolumeGb: props.appRootVolumeGb,
        revision: props.hostRevision.app,
        hostFilesDir: 'app',
        composeUnit: 'gpu-fleet-app.service',
        composeEnvFile: 'app-host.env',
        ownInterface: true,
        settings: {
          GPU_PRIVATE_IP: props.gpuPrivateIp,
          FRONTEND_IMAGE: props.appImages.frontend ?? '',
          BACKEND_IMAGE: props.appImages.backend ?? '',
          VOICEVOX_IMAGE: props.appImages.voicevox,
        },
      },
    });
    props.jobQueue.grantSendMessages(this.host.role);
    this.grantEcrPulls(props.appImages);

    // Associated with the slot's own interface, which every launch attaches: a rotation (or its
    // rollback) moves neither the address nor the association.
    this.elasticIp = new ec2.CfnEIP(this, 'ElasticIp', { domain: 'vpc' });
    new ec2.CfnEIPAssociation(this, 'ElasticIpAssociation', {
      allocationId: this.elasticIp.attrAllocationId,
      networkInterfaceId: this.host.networkInterfaceId,
    });
  }

  /**
   * Lets the host pull the app images that live in private ECR, from exactly their repositories
   * (docker/app/start.sh logs in to each registry). Images elsewhere need no permission.
   */
  private grantEcrPulls(images: AppHostProps['appImages']): void {
    const repositories = [images.voicevox, images.backend, images.frontend]
      .map((image) => (image === undefined ? undefined : ecrRepositoryOf(image)))
      .filter((repository): repository is EcrRepository => repository !== undefined);
    if (repositories.length === 0) return;
    const role = this.host.role;
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['ecr:GetAuthorizationToken'], resources: ['*'] }),
    );
    const partition = Stack.of(this).partition;
    const arns = [
      ...new Set(
        repositories.map((r) => `arn:${partition}:ecr:${r.region}:${r.account}:repository/${r.repository}`),
      ),
    ];
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'],
        resources: arns,
      }),
    );
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'ecr:GetAuthorizationToken has no resource-level permissions; pulls are granted on the repositories appImages names only.',
    });
  }
}

/** Where a private ECR image lives. */
export interface EcrRepository {
  /** `<account>.dkr.ecr.<region>.amazonaws.com`, what `docker login` takes. */
  readonly registry: string;
  readonly account: string;
  readonly region: string;
  /** The repository's name, which may contain slashes. */
  readonly repository: string;
}

/** The private ECR repository of an image reference; undefined for any other registry (ECR Public too). */
export function ecrRepositoryOf(image: string): EcrRepository | undefined {
  const match = /^((\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?)\/([^:@]+)/.exec(image);
  if (!match) return undefined;
  const [, registry = '', account = '', region = '', repository = ''] = match;
  return { registry, account, region, repository };
}
