import { DEFAULT_CONFIG, type FleetConfig } from '../../src/config';
import { ecrRepositoryOf } from '../../lib/constructs/app-host';
import { buildTestFleet, templateOf } from '../support/fleet';
import { nagFindings, statementsOf } from './support';

const BACKEND = '123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/team/backend:1.4';
const FRONTEND = '210987654321.dkr.ecr.us-west-2.amazonaws.com/frontend@sha256:' + 'a'.repeat(64);

/** Every statement of the app host role's policies. */
const appRoleStatements = (overrides: Partial<FleetConfig>) =>
  statementsOf(templateOf(buildTestFleet(overrides).fleet.compute), 'AppHostRole');

const ecrStatements = (statements: Array<Record<string, any>>) =>
  statements.filter((s) => [s.Action].flat().some((action: string) => action.startsWith('ecr:')));

describe('the app host pulls the team’s ECR images', () => {
  it.each([
    [
      BACKEND,
      {
        registry: '123456789012.dkr.ecr.ap-northeast-1.amazonaws.com',
        account: '123456789012',
        region: 'ap-northeast-1',
        repository: 'team/backend',
      },
    ],
    [
      FRONTEND,
      {
        registry: '210987654321.dkr.ecr.us-west-2.amazonaws.com',
        account: '210987654321',
        region: 'us-west-2',
        repository: 'frontend',
      },
    ],
    ['voicevox/voicevox_engine:cpu-ubuntu20.04-0.14.6', undefined],
    ['public.ecr.aws/example/app:1', undefined],
  ])('%s is read as %j', (image, repository) => {
    expect(ecrRepositoryOf(image)).toEqual(repository);
  });

  it('may pull exactly the repositories appImages names, and log in to ECR', () => {
    const statements = ecrStatements(
      appRoleStatements({ appImages: { ...DEFAULT_CONFIG.appImages, backend: BACKEND, frontend: FRONTEND } }),
    );
    expect(statements).toEqual([
      { Effect: 'Allow', Action: 'ecr:GetAuthorizationToken', Resource: '*' },
      {
        Effect: 'Allow',
        Action: ['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'],
        Resource: [
          {
            'Fn::Join': [
              '',
              ['arn:', { Ref: 'AWS::Partition' }, ':ecr:ap-northeast-1:123456789012:repository/team/backend'],
            ],
          },
          {
            'Fn::Join': [
              '',
              ['arn:', { Ref: 'AWS::Partition' }, ':ecr:us-west-2:210987654321:repository/frontend'],
            ],
          },
        ],
      },
    ]);
  });

  it('gets no ECR permission when no app image lives in ECR', () => {
    expect(ecrStatements(appRoleStatements({}))).toEqual([]);
    expect(
      ecrStatements(
        appRoleStatements({ appImages: { ...DEFAULT_CONFIG.appImages, backend: 'example/backend:2' } }),
      ),
    ).toEqual([]);
  });

  it('passes cdk-nag: the one wildcard (GetAuthorizationToken has no resource) is acknowledged with its reason', () => {
    expect(nagFindings({ appImages: { ...DEFAULT_CONFIG.appImages, backend: BACKEND } })).toEqual([
      'Annotation::gpu-fleet:app-ports-closed',
    ]);
  });
});
