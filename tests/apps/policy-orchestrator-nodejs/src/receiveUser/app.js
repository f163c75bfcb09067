// The links in the e-mail: resume the waiting execution with the administrator's decision.
const { SFNClient, SendTaskSuccessCommand } = require('@aws-sdk/client-sfn');

const sfn = new SFNClient({});

exports.handler = async (event) => {
  const action = event.path.endsWith('/allow') ? 'allow' : 'deny';
  const token = (event.queryStringParameters || {}).token;
  if (!token) return { statusCode: 400, body: 'no token in the link' };
  await sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify({ action }) }));
  return { statusCode: 200, headers: { 'Content-Type': 'text/html' },
           body: `<p>Your decision (${action}) was recorded.</p>` };
};
