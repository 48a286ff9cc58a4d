import { endScheduledRetries, startTags, stopTags } from '../../src/core/operator';
import { OPERATOR_TAG_KEYS, TAGS } from '../../src/core/tags';
import { read } from './repo-files';

/**
 * The operator's IAM policy as docs/operations.md prints it: the user copies it, so the document
 * is what gets deployed. A leaked operator key must not rewrite the fleet's tags (remove the fleet
 * tag from the GPU, and `cdk destroy` can no longer retire it) nor tag anything but the GPU.
 */

type Statement = { Effect: string; Action: string | string[]; Resource: string | string[]; Condition?: any };

function operatorPolicy(): Statement[] {
  const doc = read('docs/operations.md');
  const section = doc.slice(doc.indexOf("## The operator's IAM policy"));
  const json = /```json\n([\s\S]*?)\n```/.exec(section)?.[1];
  if (!json) throw new Error("no JSON block in the operator's IAM policy section");
  return (JSON.parse(json) as { Statement: Statement[] }).Statement;
}

const actions = (s: Statement): string[] => [s.Action].flat();

describe("the operator's IAM policy (docs/operations.md)", () => {
  const statements = operatorPolicy();

  it('tags only the GPU and the app host of this fleet, and only with the operator’s own keys', () => {
    const tagging = statements.filter((s) => actions(s).some((a) => a === 'ec2:CreateTags' || a === 'ec2:*'));
    expect(tagging).toHaveLength(2);
    const [gpu, app] = tagging as [Statement, Statement];
    for (const createTags of tagging) expect(actions(createTags)).toEqual(['ec2:CreateTags']);
    expect(gpu.Condition).toEqual({
      StringEquals: {
        [`aws:ResourceTag/${TAGS.fleet}`]: 'GpuFleet',
        [`aws:ResourceTag/${TAGS.role}`]: 'gpu',
      },
      'ForAllValues:StringEquals': { 'aws:TagKeys': [...OPERATOR_TAG_KEYS] },
    });
    // On the app host only the end of a failed scheduled action's retries.
    expect(app.Condition).toEqual({
      StringEquals: {
        [`aws:ResourceTag/${TAGS.fleet}`]: 'GpuFleet',
        [`aws:ResourceTag/${TAGS.role}`]: 'app',
      },
      'ForAllValues:StringEquals': {
        'aws:TagKeys': Object.keys(endScheduledRetries({ [TAGS.scheduledAction]: 'x' })),
      },
    });
    expect(statements.some((s) => actions(s).includes('ec2:DeleteTags'))).toBe(false);
  });

  it('lists every key the operator’s commands write', () => {
    const written = new Set([...Object.keys(startTags(new Date(), 2)), ...Object.keys(stopTags(new Date()))]);
    expect([...written].sort()).toEqual([...OPERATOR_TAG_KEYS].sort());
  });

  it('starts and stops only instances of this fleet', () => {
    const startStop = statements.filter((s) => actions(s).includes('ec2:StartInstances'));
    expect(startStop).toHaveLength(1);
    expect(startStop[0]?.Condition).toEqual({
      StringEquals: { [`aws:ResourceTag/${TAGS.fleet}`]: 'GpuFleet' },
    });
  });
});
