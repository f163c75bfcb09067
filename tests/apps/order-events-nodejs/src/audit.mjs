// Every matching event is written down, by the document client of the runtime's AWS SDK v3.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';

const documents = DynamoDBDocumentClient.from(new DynamoDBClient({}));

export const handler = async (event) => {
  await documents.send(new PutCommand({ TableName: process.env.TABLE, Item: {
    eventId: event.id, detailType: event['detail-type'], orderId: event.detail.orderId, account: event.account } }));
  console.log('audited', event.id);
};
