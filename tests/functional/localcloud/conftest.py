"""Tests of the local cloud with real processes: its server, its Lambda workers, sam.

The extensions patch moto classes; `restore_moto` puts every seam back after
each test so that other unit tests see plain moto.
"""

import os

import pytest

from workshop.localcloud import seams

# (module, class or None, attribute) of every attribute a seam replaces or adds (seams.py)
SEAMS = seams.restorable_targets()
_ABSENT = object()


@pytest.fixture(autouse=True)
def aws_env(monkeypatch):
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture(autouse=True)
def restore_moto():
    import importlib

    from moto.core.config import default_user_config

    saved = []
    for module_name, class_name, attribute in SEAMS:
        module = importlib.import_module(module_name)
        owner = getattr(module, class_name) if class_name else module
        saved.append((owner, attribute, owner.__dict__.get(attribute, _ABSENT)))
    config = {k: dict(v) if isinstance(v, dict) else v for k, v in default_user_config.items()}
    moto_port = os.environ.get("MOTO_PORT")
    yield
    for owner, attribute, value in saved:
        if value is not _ABSENT:
            setattr(owner, attribute, value)
        elif attribute in owner.__dict__:  # a seam added it
            delattr(owner, attribute)
    default_user_config.clear()
    default_user_config.update(config)
    if moto_port is None:
        os.environ.pop("MOTO_PORT", None)
    else:
        os.environ["MOTO_PORT"] = moto_port
    from workshop.localcloud.services.awslambda import workers

    seams.forget()
    if workers._runtime is not None:
        workers._runtime.shutdown()
        workers._runtime = None


@pytest.fixture(scope="module")
def cloud():
    """A real local cloud process for the module's tests, stopped after them."""
    from workshop.localcloud.server import process

    with process.LocalCloud() as running:
        yield running

