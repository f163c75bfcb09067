// Does the new policy grant a restricted action? Reads the CloudTrail event EventBridge delivers.
const restricted = (process.env.restrictedActions || '').split(',').map((a) => a.trim().toLowerCase());

export const handler = async (event) => {
  const document = JSON.parse(event.detail.requestParameters.policyDocument);
  const statements = [].concat(document.Statement || []);
  const actions = statements.filter((s) => s.Effect === 'Allow').flatMap((s) => [].concat(s.Action || []));
  const found = actions.filter((action) => restricted.includes(String(action).toLowerCase()));
  const policy = event.detail.responseElements.policy;
  return {
    action: found.length ? 'remedy' : 'allow',
    restricted: found,
    policyArn: policy.arn,
    message: found.length
      ? `Policy ${policy.policyName} grants restricted actions: ${found.join(', ')}`
      : `Policy ${policy.policyName} was created and grants no restricted action`,
  };
};
