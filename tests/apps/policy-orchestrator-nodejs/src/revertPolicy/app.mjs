// Take the restricted actions out at once: a new default version without them.
import { IAMClient, GetPolicyCommand, GetPolicyVersionCommand, CreatePolicyVersionCommand } from '@aws-sdk/client-iam';

const iam = new IAMClient({});
const restricted = (process.env.restrictedActions || '').split(',').map((a) => a.trim().toLowerCase());

export const handler = async (event) => {
  const policyArn = event.validation.policyArn;
  const { Policy } = await iam.send(new GetPolicyCommand({ PolicyArn: policyArn }));
  const { PolicyVersion } = await iam.send(new GetPolicyVersionCommand({
    PolicyArn: policyArn, VersionId: Policy.DefaultVersionId }));
  const document = JSON.parse(decodeURIComponent(PolicyVersion.Document));
  const statements = [].concat(document.Statement).map((statement) => ({
    ...statement,
    Action: [].concat(statement.Action).filter((a) => !restricted.includes(String(a).toLowerCase())),
  })).filter((statement) => statement.Action.length);
  const safe = { ...document, Statement: statements.length ? statements
    : [{ Effect: 'Deny', Action: '*', Resource: '*' }] };
  const created = await iam.send(new CreatePolicyVersionCommand({
    PolicyArn: policyArn, PolicyDocument: JSON.stringify(safe), SetAsDefault: true }));
  console.log('reverted', policyArn, 'to', created.PolicyVersion.VersionId);
  return { policyArn, originalVersion: Policy.DefaultVersionId, revertedVersion: created.PolicyVersion.VersionId };
};
