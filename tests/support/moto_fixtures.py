"""Fixtures for tests that run moto in-process (a pytest plugin: tests/conftest.py loads it).

* `aws_env`: dummy credentials and us-east-1, no endpoint URL, profile or session token: boto3
  answers from moto, and never looks for real credentials (nor for an instance's, over the network).
* `restore_moto`: every attribute a seam of the local cloud replaces or adds (workshop.localcloud.seams)
  put back after the test, moto's config and MOTO_PORT too, the Lambda workers stopped: the next test
  sees plain moto. The local cloud's tests use it for every test (their conftest.py).

moto gives every test a new boto3 session, and each new session would read and parse botocore's
service models again (a tenth of a second and more per test that makes clients): the sessions of a
test process share one loader instead (`share_service_models`, done when this plugin loads), as the
clients of one long-lived session always do.
"""

from __future__ import annotations

import importlib
import os

import botocore.session
import pytest

_ABSENT = object()


class _SearchPaths(list):
    """A loader's search paths, where a path already there is not added again (every boto3 session adds
    its own data folder to the loader it gets)."""

    def append(self, path):
        if path not in self:
            super().append(path)


def share_service_models() -> None:
    """Every botocore session of this process gets the same data loader for the same search path, so
    each service model is parsed once per process (the loader caches what it read)."""
    if getattr(botocore.session.create_loader, "shared", False):
        return
    create = botocore.session.create_loader
    loaders = {}

    def shared_loader(search_path_string=None):
        if search_path_string not in loaders:
            loader = create(search_path_string)
            loader._search_paths = _SearchPaths(loader.search_paths)
            loaders[search_path_string] = loader
        return loaders[search_path_string]

    shared_loader.shared = True
    botocore.session.create_loader = shared_loader


share_service_models()


@pytest.fixture
def aws_env(monkeypatch):
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    yield os.environ


@pytest.fixture
def restore_moto():
    from moto.core.config import default_user_config

    from workshop.localcloud import seams
    from workshop.localcloud.services.awslambda import workers

    saved = []
    for module_name, class_name, attribute in seams.restorable_targets():
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
    seams.forget()
    if workers._runtime is not None:
        workers._runtime.shutdown()
        workers._runtime = None
