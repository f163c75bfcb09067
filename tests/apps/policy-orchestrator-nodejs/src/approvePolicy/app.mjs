// Approved: the version the author created becomes the default again.
import { IAMClient, SetDefaultPolicyVersionCommand } from '@aws-sdk/client-iam';

const iam = new IAMClient({});

export const handler = async (event) => {
  await iam.send(new SetDefaultPolicyVersionCommand({ PolicyArn: event.policyArn, VersionId: event.originalVersion }));
  return { approved: event.policyArn, defaultVersion: event.originalVersion };
};
