// E-mail the administrator two links carrying the task token: allow or deny.
import { SNSClient, PublishCommand } from '@aws-sdk/client-sns';

const sns = new SNSClient({});

export const handler = async (event) => {
  const token = encodeURIComponent(event.token);
  const message = `${event.message}\n\nAllow: ${process.env.APIAllowEndpoint}?token=${token}\n`
    + `Deny: ${process.env.APIDenyEndpoint}?token=${token}\n`;
  await sns.send(new PublishCommand({ TopicArn: process.env.Topic, Subject: 'Policy change: your decision',
    Message: message }));
  return { asked: true };
};
