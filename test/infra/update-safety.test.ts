import { buildTestFleet, templateOf } from '../support/fleet';

describe('cross-stack references', () => {
  const { fleet } = buildTestFleet();
  const templates = [fleet.network, fleet.data, fleet.compute, fleet.scaler].map((stack) => ({
    name: stack.stackName,
    json: JSON.stringify(templateOf(stack).toJSON()),
  }));

  // An export in use cannot change: a security group's replacement or an instance's rotation
  // would fail with "export in use". Weak references (Fn::GetStackOutput) read the producer's
  // outputs at deploy time instead.
  it.each(templates)('$name neither exports nor imports a value', ({ json }) => {
    expect(json).not.toContain('"Export"');
    expect(json).not.toContain('Fn::ImportValue');
  });

  it('the consumers read the producers through Fn::GetStackOutput', () => {
    const compute = templates.find((t) => t.name === fleet.compute.stackName)?.json ?? '';
    expect(compute).toContain('"Fn::GetStackOutput"');
    expect(compute).toContain(`"StackName":"${fleet.network.stackName}"`);
  });
});
