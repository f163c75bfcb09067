"""boto3 clients for a local cloud started by a test."""

import boto3


def cloud_client(cloud, service):
    """A client of `service` at the `LocalCloud` `cloud`, with the dummy credentials it accepts."""
    return boto3.client(service, endpoint_url=cloud.endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")
