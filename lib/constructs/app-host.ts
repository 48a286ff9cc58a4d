import * as ec2 from 'aws-cdk-lib/aws-ec2';
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

    // Associated with the slot's own interface, which every launch attaches: a rotation (or its
    // rollback) moves neither the address nor the association.
    this.elasticIp = new ec2.CfnEIP(this, 'ElasticIp', { domain: 'vpc' });
    new ec2.CfnEIPAssociation(this, 'ElasticIpAssociation', {
      allocationId: this.elasticIp.attrAllocationId,
      networkInterfaceId: this.host.networkInterfaceId,
    });
  }
}
