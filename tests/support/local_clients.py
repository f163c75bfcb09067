"""boto3 clients for a local cloud started by a test."""


def cloud_client(cloud, service, **kwargs):
    """A client of `service` at the `LocalCloud` `cloud`, signed with the key it made at start."""
    return cloud.client(service, **kwargs)
