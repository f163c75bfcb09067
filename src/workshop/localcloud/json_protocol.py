"""Bad requests on AWS's JSON protocol get AWS's answer, not a crash page.

moto parses the body of an `X-Amz-Target` request without checking it: a
body that is not JSON, or a member of the wrong type, ends in a 500 HTML
page, which boto3 reports as an unparseable response. AWS answers 400
`SerializationException`. Requests are checked here against botocore's own
model of the operation before moto sees them; a valid request passes
untouched.
"""

from __future__ import annotations

import functools
import json

# credential-scope service name -> botocore's service name, where they differ
_SERVICES = {"states": "stepfunctions", "monitoring": "cloudwatch", "email": "ses"}


@functools.lru_cache(maxsize=32)
def _operations(service: str) -> dict:
    import botocore.session

    model = botocore.session.get_session().get_service_model(_SERVICES.get(service, service))
    if model.protocol not in ("json",):
        return {}
    return {name: model.operation_model(name) for name in model.operation_names}


def problem(target: str, body: bytes, service: str) -> str | None:
    """Why the request is malformed, or None if moto may have it."""
    try:
        document = json.loads(body.decode("utf-8")) if body else {}
    except (UnicodeDecodeError, ValueError) as exc:
        return f"the request body is not valid JSON: {exc}"
    if not isinstance(document, dict):
        return "the request body must be a JSON object"
    operation = target.rsplit(".", 1)[-1]
    try:
        model = _operations(service).get(operation)
    except Exception:  # an unknown service: leave it to moto
        return None
    if model is None or model.input_shape is None:
        return None
    from botocore.validate import ParamValidator

    report = ParamValidator().validate(document, model.input_shape)
    if report.has_errors():
        return report.generate_report().replace("\n", " ")
    return None


def error_body(message: str) -> bytes:
    return json.dumps({"__type": "SerializationException", "message": message}).encode("utf-8")
