"""Lambda layers: a function's layers in the local cloud, its own and AWS's public ones.

On Lambda a function's layers are extracted to /opt, in order, and the
runtime puts `/opt/python` (and `/opt/python/lib/python3.X/site-packages`)
on a Python function's path, `/opt/nodejs/node_modules` on a Node.js one's,
after the function's own package and before the runtime's SDK. moto records
layers but nothing ran them. Here a worker gets, in the layers' order:

* a layer of this account (PublishLayerVersion, `AWS::Lambda::LayerVersion`,
  SAM's `AWS::Serverless::LayerVersion`): its zip, unpacked once per version;
* a public layer AWS publishes (`PUBLIC_LAYERS`): the same content made from
  the package registry at the pinned version, installed on first use into a
  cache under the project (`.cache/lambda-layers/`, or `LOCALCLOUD_LAYER_CACHE`),
  never at import time;
* any other layer is refused at CreateFunction / UpdateFunctionConfiguration
  (so at `sam deploy`) with a message naming it.

Patch point: `LambdaFunction._get_layers_data` (where moto resolves a
function's layer ARNs), registered in seams.py as `lambda-layers`.
"""

from __future__ import annotations

import io
import logging
import os
import re
import shutil
import subprocess  # nosec B404: pip as an argument list, never through a shell
import sys
import tempfile
import threading
import zipfile
from dataclasses import dataclass

log = logging.getLogger("workshop.localcloud.lambda")

_REGION = r"[a-z]{2}(?:-[a-z]+)+-\d"


@dataclass(frozen=True)
class PublicLayer:
    """A layer AWS publishes, and the registry packages that reproduce its content."""

    name: str  # what the refusal and the docs call it
    arn: re.Pattern  # matches the layer version ARNs it covers
    folder: str  # the top folder of its content: "python" or "nodejs"
    packages: tuple[str, ...]  # exact pins, installed together with their dependencies
    why: str  # why these pins reproduce the layer

    @property
    def key(self) -> str:
        return re.sub(r"[^A-Za-z0-9.=-]+", "_", "+".join(self.packages))


# Powertools for AWS Lambda publishes its layers from its PyPI releases (account 017000801446):
# the V3 line (one layer per Python version and architecture) from aws-lambda-powertools 3.x, the
# V2 line (AWSLambdaPowertoolsPythonV2, -Arm64) from 2.x, whose last release is 2.43.1. Each layer
# version holds one release of its line; the local cloud pins the newest release of the line, the
# version a new layer version holds (see docs/local-cloud.md, "Lambda layers").
PUBLIC_LAYERS: tuple[PublicLayer, ...] = (
    PublicLayer(
        "Powertools for AWS Lambda (Python) V3",
        re.compile(rf"^arn:aws:lambda:{_REGION}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python3\d+-"
                   r"(?:x86_64|arm64):\d+$"),
        "python", ("aws-lambda-powertools==3.37.0",),
        "the V3 layers are built from aws-lambda-powertools 3.x on PyPI; 3.37.0 is the newest 3.x release"),
    PublicLayer(
        "Powertools for AWS Lambda (Python) V2",
        re.compile(rf"^arn:aws:lambda:{_REGION}:017000801446:layer:AWSLambdaPowertoolsPythonV2(?:-Arm64)?:\d+$"),
        "python", ("aws-lambda-powertools==2.43.1",),
        "the V2 layers are built from aws-lambda-powertools 2.x on PyPI; 2.43.1 is the last 2.x release"),
)


class UnknownLayer(Exception):
    """A layer the local cloud can neither find in this account nor make from a registry."""


def public_layer(arn: str) -> PublicLayer | None:
    return next((layer for layer in PUBLIC_LAYERS if layer.arn.match(arn)), None)


def _account_of(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 4 else ""


def refusal(arn: str) -> str:
    known = "; ".join(layer.name for layer in PUBLIC_LAYERS)
    return (f"Layer version {arn} is not available in the local cloud: it is neither a layer of this account "
            f"(publish it in the same stack, or with PublishLayerVersion) nor one of the public layers the local "
            f"cloud reproduces from a package registry ({known}; docs/local-cloud.md lists them). Package what "
            f"the layer provides with the function, or deploy this application to AWS.")


# --- where layer contents live --------------------------------------------------------------------


def cache_root() -> str:
    configured = os.environ.get("LOCALCLOUD_LAYER_CACHE")
    if configured:
        return configured
    from .runtimes import library_root

    checkout = os.path.dirname(os.path.dirname(library_root()))  # tools/lambda-runtimes -> the checkout
    if os.access(checkout, os.W_OK):
        return os.path.join(checkout, ".cache", "lambda-layers")
    return os.path.join(os.path.expanduser("~"), ".cache", "workshop", "lambda-layers")


_install_lock = threading.Lock()


def installed(layer: PublicLayer) -> str:
    """The folder holding the public layer's content (`python/...`), installed now if it is not yet."""
    root = os.path.join(cache_root(), layer.key)
    if os.path.isfile(os.path.join(root, ".complete")):
        return root
    with _install_lock:
        if os.path.isfile(os.path.join(root, ".complete")):
            return root
        os.makedirs(cache_root(), exist_ok=True)
        staging = tempfile.mkdtemp(dir=cache_root(), prefix=".installing-")
        target = os.path.join(staging, layer.folder)
        log.warning("installing the public layer %s (%s) into %s", layer.name, ", ".join(layer.packages), root)
        done = subprocess.run(  # nosec B603: pip with exact pins from the table above, no shell
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
             "--target", target, *layer.packages], capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise UnknownLayer(f"could not install {', '.join(layer.packages)} for the layer {layer.name}: "
                               f"{done.stderr.strip()[-500:]}")
        open(os.path.join(staging, ".complete"), "w").close()
        shutil.rmtree(root, ignore_errors=True)
        os.rename(staging, root)
    return root


def unpacked(layer_version, into: str) -> str:
    """The folder holding one of this account's layer versions, unzipped once."""
    root = os.path.join(into, "layer-" + re.sub(r"[^A-Za-z0-9]+", "_", layer_version.arn))
    if not os.path.isdir(root):
        staging = tempfile.mkdtemp(dir=into)
        with zipfile.ZipFile(io.BytesIO(layer_version.code_bytes)) as archive:
            archive.extractall(staging)
        try:
            os.rename(staging, root)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)  # another worker won the race
    return root


def contents(fn, into: str) -> list[str]:
    """The content folders of `fn`'s layers, in the function's order (each as /opt would hold it)."""
    from moto.awslambda.utils import get_backend

    folders = []
    for layer in getattr(fn, "layers", None) or []:
        arn = layer["Arn"] if isinstance(layer, dict) else str(layer)
        public = public_layer(arn)
        if public is not None:
            folders.append(installed(public))
            continue
        version = get_backend(fn.account_id, fn.region).layers_versions_by_arn(arn)
        if version is None:
            raise UnknownLayer(refusal(arn))
        folders.append(unpacked(version, into))
    return folders


def search_paths(folders: list[str], language: str, python_version: str = "") -> list[str]:
    """What each runtime puts on its path for layer folders extracted to /opt."""
    paths = []
    for folder in folders:
        if language == "python":
            paths += [os.path.join(folder, "python", "lib", f"python{python_version}", "site-packages"),
                      os.path.join(folder, "python")]
        else:
            paths += [os.path.join(folder, "nodejs", "node_modules")]
    return paths


# --- the patch point: which layers a function may name ---------------------------------------------


def seam():
    from moto.awslambda.models import LambdaFunction

    return LambdaFunction, "_get_layers_data"


def install() -> None:
    from moto.awslambda.exceptions import InvalidParameterValueException

    cls, name = seam()
    original = cls.__dict__[name]
    if getattr(original, "_localcloud", False):
        return

    def _get_layers_data(self, layers_versions_arns):
        own, resolved = [], {}
        for arn in layers_versions_arns or []:
            if public_layer(arn) is not None:
                resolved[arn] = {"Arn": arn, "CodeSize": 0}
            elif _account_of(arn) != self.account_id:
                raise InvalidParameterValueException(refusal(arn))
            else:
                own.append(arn)
        try:
            for item in original(self, own) if own else []:
                resolved[item["Arn"]] = item
        except Exception:  # moto's UnknownLayerVersionException: say which one and what to do
            missing = [arn for arn in own if not _known(self, arn)]
            raise InvalidParameterValueException(refusal(missing[0] if missing else own[0])) from None
        return [resolved[arn] for arn in layers_versions_arns or [] if arn in resolved]

    _get_layers_data._localcloud = True
    setattr(cls, name, _get_layers_data)


def _known(fn, arn: str) -> bool:
    from moto.awslambda.utils import get_backend

    return get_backend(fn.account_id, fn.region).layers_versions_by_arn(arn) is not None
