"""The engine's service calls: shared clients per role, served in-process as the state machine's role."""

import pytest

from workshop.localcloud.server import inprocess
from workshop.localcloud.server.authentication import IN_PROCESS_CALLER, engine_caller

ROLE = "arn:aws:iam::123456789012:role/machine-role"


@pytest.fixture
def key():
    yield engine_caller(ROLE)
    inprocess.detach()
    inprocess.reset()


class Recorder:
    """A WSGI app that answers every call with an empty Lambda ListFunctions result."""

    def __init__(self):
        self.seen = []

    def __call__(self, environ, start_response):
        self.seen.append({k: v for k, v in environ.items() if isinstance(v, str) or k == IN_PROCESS_CALLER})
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"Functions": []}']


def test_the_attached_app_serves_the_call_without_a_socket(key):
    endpoint = "http://127.0.0.1:9"  # nothing listens there, and a unit test may open no socket anyway
    app = Recorder()
    inprocess.attach(app)
    client = inprocess.client("lambda", "eu-west-1", endpoint, key)
    assert client.list_functions()["Functions"] == []
    seen = app.seen[0]
    assert seen["HTTP_HOST"] == "127.0.0.1:9"  # the guard's own host name
    assert seen[IN_PROCESS_CALLER] is key  # the state machine's role, unsigned: no HTTP request can say so
    assert f"Credential={inprocess.PLACEHOLDER_KEY}/" in seen["HTTP_AUTHORIZATION"]  # a key no server accepts
    assert "/eu-west-1/lambda/aws4_request" in seen["HTTP_AUTHORIZATION"]
    assert seen["PATH_INFO"] == "/2015-03-31/functions" and seen["REQUEST_METHOD"] == "GET"
    assert seen["HTTP_USER_AGENT"].split()[0] == "states.amazonaws.com"  # the calling service, as AWS's own calls say
    # without an app the same client goes over HTTP: tests/functional/localcloud/test_inprocess.py


def test_a_percent_encoded_path_reaches_the_app_decoded_as_a_server_would(key):
    app = Recorder()
    inprocess.attach(app)
    s3 = inprocess.client("s3", "us-east-1", "http://127.0.0.1:9", key)
    try:
        s3.get_object(Bucket="items", Key="in put/a+b.json")
    except Exception:  # the recorder does not answer S3's shape
        pass
    seen = app.seen[-1]
    assert seen["PATH_INFO"] == "/items/in put/a+b.json"  # path-style: the Host stays the local cloud's
    assert seen["RAW_URI"].startswith("/items/in%20put/a%2Bb.json")
    assert seen["HTTP_HOST"] == "127.0.0.1:9"


def test_clients_are_made_once_per_service_region_and_role(key):
    endpoint = "http://127.0.0.1:9"
    first = inprocess.client("lambda", "us-east-1", endpoint, key)
    assert inprocess.client("lambda", "us-east-1", endpoint, engine_caller(ROLE)) is first
    assert inprocess.client("lambda", "eu-west-1", endpoint, key) is not first
    assert inprocess.client("lambda", "us-east-1", endpoint, engine_caller(ROLE + "-other")) is not first


def test_the_engine_factory_is_where_moto_builds_its_clients():
    """Fails loudly if moto moves the function every engine integration gets its client from."""
    import inspect

    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.utils import boto_client

    from workshop.localcloud.services.stepfunctions import engine

    module, name = engine.engine_client_seam()
    assert module is boto_client and name == "boto_client_for"
    assert list(inspect.signature(getattr(module, name)).parameters) == ["region", "service", "state_credentials"]
    assert "boto_client_for" in lambda_eval_utils.__dict__  # imported by name: replaced there too


def test_each_calling_service_sends_its_own_name_as_the_user_agent(key):
    from dataclasses import replace

    app = Recorder()
    inprocess.attach(app)
    gateway = replace(key, source="apigateway.amazonaws.com")
    inprocess.client("lambda", "us-east-1", "http://127.0.0.1:9", gateway).list_functions()
    inprocess.client("lambda", "us-east-1", "http://127.0.0.1:9", replace(key, source=None)).list_functions()
    assert [seen["HTTP_USER_AGENT"].split()[0] for seen in app.seen] == ["apigateway.amazonaws.com",
                                                                         "localcloud.amazonaws.com"]


def test_calls_carry_the_scope_and_no_signature_except_s3s(key):
    app = Recorder()
    inprocess.attach(app)
    inprocess.client("dynamodb", "eu-west-1", "http://127.0.0.1:9", key).list_tables()
    scope = app.seen[-1]["HTTP_AUTHORIZATION"]
    assert scope.startswith(f"AWS4-HMAC-SHA256 Credential={inprocess.PLACEHOLDER_KEY}/")
    assert "/eu-west-1/dynamodb/aws4_request," in scope and scope.endswith("Signature=" + "0" * 64)
    try:
        inprocess.client("s3", "eu-west-1", "http://127.0.0.1:9", key).list_objects_v2(Bucket="items")
    except Exception:  # the recorder does not answer S3's shape
        pass
    signed = app.seen[-1]["HTTP_AUTHORIZATION"]
    assert "/eu-west-1/s3/aws4_request," in signed and not signed.endswith("0" * 64)
