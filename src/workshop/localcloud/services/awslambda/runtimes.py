"""Which Lambda runtimes the local cloud runs on this machine, and with what.

A function's `Runtime` decides how its worker starts (`launch_for`):

* `python3.X` - that Python (`python3.X` on PATH, or pyenv's), started with
  `-I -S` so nothing of the kit's environment is importable; besides the
  function's own package it sees what Lambda's Python runtimes add to the
  standard library: boto3, botocore and their dependencies, built for THAT
  interpreter from the pinned `tools/lambda-runtimes/python/requirements-3.X.txt`
  (`make lambda-runtimes`). Without that folder the kit's own boto3 is linked
  in when it supports the interpreter (a `pip install` of the kit), else the
  runtime is refused. When that Python is not installed at all, the function
  runs on the local cloud's own Python instead (a *stand-in*), and its logs
  and the server's say so: Binder and many laptops have no python3.13, and
  the workshop's functions run on any Python 3.11+. `LOCALCLOUD_STRICT_RUNTIMES=1`
  refuses such a function instead, naming what to install.
* `nodejs18.x` ... `nodejs24.x` - `node` (18 or later) running
  `worker.js`; `@aws-sdk/*` clients resolve to the AWS SDK for
  JavaScript v3 installed from `tools/lambda-runtimes/nodejs/package-lock.json`
  (`make lambda-runtimes`), after the function's own `node_modules`, as on
  Lambda.

Everything else is refused when the function is created or its runtime
changed (`check`, wired to CreateFunction / UpdateFunctionConfiguration and
so to CloudFormation and `sam deploy`) with a message naming the runtime and
what to install, never with an import error at the first invoke: runtimes AWS
itself no longer accepts (nodejs16.x and older, python3.8 and older, ...),
languages the local cloud has no worker for (java, dotnet, ruby, go,
provided.*), container images, and a Node.js this machine lacks (a Python it lacks too, with
`LOCALCLOUD_STRICT_RUNTIMES=1`).
"""

from __future__ import annotations

import functools
import glob
import importlib.metadata
import logging
import os
import re
import shutil
import subprocess  # nosec B404: probes interpreters as argument lists, never through a shell
import sys
from dataclasses import dataclass, field

log = logging.getLogger("workshop.localcloud.lambda")

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_WORKER = os.path.join(HERE, "worker.py")
NODE_WORKER = os.path.join(HERE, "worker.js")
NODE_HOOKS = os.path.join(HERE, "worker_hooks.mjs")

NODE_RUNTIMES = tuple(f"nodejs{major}.x" for major in range(18, 25))
PYTHON_MINORS = range(9, 15)  # python3.9 ... python3.14
MIN_NODE = 18
# What Lambda's Python runtimes ship besides the standard library.
PYTHON_DISTRIBUTIONS = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3")
# Runtimes AWS Lambda no longer lets anyone create functions with (its answer, word for word, below).
_DEPRECATED = re.compile(r"^(nodejs|nodejs(4\.3|4\.3-edge|6\.10|8\.10|10\.x|12\.x|14\.x|16\.x)|python2\.7|"
                         r"python3\.[678]|dotnetcore\d\.\d|dotnet[567]|ruby2\.[57]|ruby3\.2|java8|go1\.x)$")
_NEWEST = {"nodejs": "nodejs22.x", "python": "python3.13", "dotnet": "dotnet8", "ruby": "ruby3.4",
           "java": "java21", "go": "provided.al2023"}
_LANGUAGES = {"java": "Java", "dotnet": ".NET", "ruby": "Ruby", "go": "Go",
              "provided": "custom runtimes (provided.*, a bootstrap of your own)"}
INSTALL_LIBRARIES = "run `make lambda-runtimes` in the kit's folder"


class UnsupportedRuntime(Exception):
    """The local cloud cannot run this runtime here; the message says what to do."""


@dataclass(frozen=True)
class Launch:
    """How to start a worker for a runtime."""

    language: str  # "python" | "nodejs"
    command: tuple[str, ...]
    executable: str
    read_only: tuple[str, ...]  # what a sandbox must bind for the command to run
    environment: dict = field(default_factory=dict, hash=False, compare=False)
    libraries: str = ""  # the runtime-provided library folder ("" when none)
    note: str = ""  # said in the function's INIT log lines (e.g. a stand-in interpreter)


# --- where the libraries live -------------------------------------------------------


def library_root() -> str:
    """tools/lambda-runtimes of the kit's checkout (LOCALCLOUD_LAMBDA_LIBRARIES overrides)."""
    configured = os.environ.get("LOCALCLOUD_LAMBDA_LIBRARIES")
    if configured:
        return configured
    import workshop

    checkout = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(workshop.__file__))))  # src/workshop/
    return os.path.join(checkout, "tools", "lambda-runtimes")


def python_library_dir(version: str) -> str | None:
    """The built boto3 folder for Python `version` ("3.9"), or None when it is not built."""
    folder = os.path.join(library_root(), "python", version)
    return folder if os.path.isfile(os.path.join(folder, ".complete")) else None


def node_sdk_dir() -> str | None:
    """The folder holding @aws-sdk/* for Node.js workers, or None when it is not installed."""
    folder = os.path.join(library_root(), "nodejs", "node_modules")
    return folder if os.path.isdir(os.path.join(folder, "@aws-sdk")) else None


# --- interpreters -----------------------------------------------------------------------


def _base_interpreter() -> str:
    """This Python without its virtual environment (whose site-packages are the kit's)."""
    return getattr(sys, "_base_executable", None) or sys.executable


@functools.lru_cache(maxsize=32)
def _answers(command: tuple[str, ...]) -> str | None:
    """What a probe command prints, or None when it does not run."""
    try:
        done = subprocess.run(list(command), capture_output=True, text=True, timeout=10)  # nosec B603: a version probe of an interpreter found by name, no shell
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def find_python(version: str) -> str | None:
    """An interpreter of Python `version` ("3.13"): this one, python3.13 on PATH, or pyenv's; None if none runs."""
    if "%d.%d" % sys.version_info[:2] == version:
        return _base_interpreter()
    candidates = [shutil.which(f"python{version}")]
    for versions in _pyenv_versions_folders():
        candidates += sorted(glob.glob(os.path.join(versions, f"{version}.*", "bin", f"python{version}")),
                             reverse=True)
    for candidate in candidates:
        if not candidate or not os.access(candidate, os.X_OK):
            continue
        # pyenv's shims exist for versions that are not selected: ask what actually runs
        if _answers((candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])")) == version:
            return candidate
    return None


def _pyenv_versions_folders() -> list[str]:
    """pyenv's versions folders: $PYENV_ROOT's, ~/.pyenv's, and the one this Python lives in (HOME may differ)."""
    folders = [os.path.join(os.environ["PYENV_ROOT"], "versions")] if os.environ.get("PYENV_ROOT") else []
    folders.append(os.path.expanduser(os.path.join("~", ".pyenv", "versions")))
    own = os.path.realpath(_base_interpreter())  # .../versions/3.11.7/bin/python3.11
    if os.path.basename(os.path.dirname(os.path.dirname(os.path.dirname(own)))) == "versions":
        folders.append(os.path.dirname(os.path.dirname(os.path.dirname(own))))
    return list(dict.fromkeys(folders))


@functools.lru_cache(maxsize=16)
def prefix_of(interpreter: str) -> str:
    """The installation folder of an interpreter (what a sandbox must see to run it)."""
    found = _answers((interpreter, "-I", "-S", "-c", "import sys; print(sys.base_prefix)"))
    return found or os.path.dirname(os.path.dirname(os.path.realpath(interpreter)))


def find_node() -> tuple[str, int] | None:
    """(`node` on PATH, its major version) when it is 18 or later, else None."""
    node = shutil.which("node")
    if node is None:
        return None
    version = _answers((node, "--version")) or ""
    match = re.match(r"v(\d+)\.", version)
    if not match or int(match.group(1)) < MIN_NODE:
        return None
    return node, int(match.group(1))


# --- the kit's own boto3, for a kit installed without `make lambda-runtimes` ----------------


def _kit_boto3_supports(version: str) -> bool:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    for name in ("boto3", "botocore"):
        try:
            requires = importlib.metadata.metadata(name).get("Requires-Python") or ""
        except importlib.metadata.PackageNotFoundError:
            return False
        try:
            if requires and f"{version}.0" not in SpecifierSet(requires):
                return False
        except InvalidSpecifier:
            return False
    return True


def link_kit_libraries(folder: str) -> tuple[str, list[str]]:
    """A folder of links to the kit's own boto3 and its dependencies (nothing else of the kit).

    Returns (the folder, the real paths the links point to): a sandboxed
    worker needs those bound too.
    """
    os.makedirs(folder, exist_ok=True)
    targets = []
    for name in PYTHON_DISTRIBUTIONS:
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        tops = {str(f).split("/", 1)[0] for f in dist.files or []
                if not str(f).startswith(("..", "__pycache__")) and ".dist-info" not in str(f).split("/", 1)[0]}
        for top in sorted(tops):
            source = os.path.join(str(dist.locate_file("")), top)
            link = os.path.join(folder, top)
            if os.path.exists(source) and not os.path.lexists(link):
                try:
                    os.symlink(source, link)
                except FileExistsError:  # made by a concurrent first call
                    pass
            if os.path.exists(source):
                targets.append(os.path.realpath(source))
    return folder, targets


# --- the decision -------------------------------------------------------------------------


def _family(runtime: str) -> str:
    for family in ("nodejs", "python", "dotnet", "ruby", "java", "go", "provided"):
        if runtime.startswith(family):
            return family
    return ""


def _installed_runtimes() -> str:
    found = [f"python3.{minor}" for minor in PYTHON_MINORS if find_python(f"3.{minor}")]
    if find_node():
        found.append("nodejs18.x-nodejs24.x")
    return ", ".join(found) or "none"


def check(runtime: str | None, package_type: str | None = "Zip") -> None:
    """Raise UnsupportedRuntime unless a worker for `runtime` can start on this machine."""
    launch_for(runtime, package_type, kit_links=None)


def launch_for(runtime: str | None, package_type: str | None = "Zip", kit_links: str | None = None) -> Launch:
    """How to start a worker for `runtime`; UnsupportedRuntime says why it cannot.

    `kit_links`: where to link the kit's boto3 when no built folder exists
    (None: only decide, link nothing).
    """
    if (package_type or "Zip") == "Image":
        raise UnsupportedRuntime(
            "container-image functions (PackageType: Image) are not run by the local cloud: it runs .zip "
            "functions without Docker. Deploy this application to AWS, or package the function as a .zip "
            f"with a runtime the local cloud runs here ({_installed_runtimes()}).")
    if not runtime:
        raise UnsupportedRuntime("a .zip function needs a Runtime (for example python3.13 or nodejs22.x)")
    family = _family(runtime)
    if _DEPRECATED.match(runtime):
        newest = _NEWEST.get(family, "a supported runtime")
        raise UnsupportedRuntime(
            f"The runtime parameter of {runtime} is no longer supported for creating or updating AWS Lambda "
            f"functions. We recommend you use the new runtime ({newest}) while creating or updating functions. "
            f"(AWS answers the same; the local cloud runs {_installed_runtimes()} here.)")
    python = re.fullmatch(r"python(3\.\d+)", runtime)
    if python:
        return _python_launch(runtime, python.group(1), kit_links)
    if runtime in NODE_RUNTIMES:
        return _node_launch(runtime)
    if family in _LANGUAGES:
        raise UnsupportedRuntime(
            f"runtime {runtime} is not run by the local cloud: it has workers for Python (python3.X, with that "
            f"Python installed) and Node.js (nodejs18.x-nodejs24.x, with Node.js 18+ on PATH) only, and nothing "
            f"you can install adds {_LANGUAGES[family]}. Deploy this application to AWS (`workshop deploy --target aws`), "
            f"or choose one of the runtimes that run here: {_installed_runtimes()}.")
    raise UnsupportedRuntime(f"{runtime} is not a Lambda runtime the local cloud knows "
                             f"(it runs {_installed_runtimes()} here)")


def _python_launch(runtime: str, version: str, kit_links: str | None) -> Launch:
    interpreter = find_python(version)
    own = "%d.%d" % sys.version_info[:2]
    if interpreter is None and not os.environ.get("LOCALCLOUD_STRICT_RUNTIMES"):
        launch = _python_launch(runtime, own, kit_links)
        note = (f"Python {version} is not installed here: {runtime} runs on the local cloud's Python {own} "
                f"instead (install python{version} for an exact match; LOCALCLOUD_STRICT_RUNTIMES=1 refuses)")
        return Launch(launch.language, launch.command, launch.executable, launch.read_only,
                      launch.environment, launch.libraries, note)
    if interpreter is None:
        raise UnsupportedRuntime(
            f"runtime {runtime}: Python {version} is not installed on this machine. Install it so that "
            f"`python{version}` is on PATH (for example `pyenv install {version}`, or your system's "
            f"python{version} package), then {INSTALL_LIBRARIES} to give it boto3; or change the function's "
            f"Runtime to one installed here ({_installed_runtimes()}).")
    built = python_library_dir(version)
    targets: list[str] = []
    if built is None:
        if not _kit_boto3_supports(version):
            raise UnsupportedRuntime(
                f"runtime {runtime}: boto3 for Python {version} (what Lambda's {runtime} runtime ships) is not "
                f"installed: {INSTALL_LIBRARIES}; it builds it with python{version} from PyPI.")
        if kit_links is not None:
            built, targets = link_kit_libraries(kit_links)
        else:
            built = ""
    command = (interpreter, "-I", "-S", "-B", "-u", PYTHON_WORKER)
    read_only = (prefix_of(interpreter), interpreter, PYTHON_WORKER, *([built] if built else []), *targets)
    return Launch("python", command, interpreter, tuple(read_only),
                  {"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}, built or "")


def _node_launch(runtime: str) -> Launch:
    found = find_node()
    if found is None:
        raise UnsupportedRuntime(
            f"runtime {runtime}: Node.js 18 or later is not installed on this machine (`node` on PATH). "
            f"Install it (for example `apt-get install nodejs`, or from nodejs.org), then "
            f"{INSTALL_LIBRARIES} for the AWS SDK for JavaScript v3 that Lambda's Node.js runtimes ship.")
    node, major = found
    wanted = int(runtime[len("nodejs"):-len(".x")])
    if wanted != major:
        log.info("%s function runs on this machine's Node.js %d", runtime, major)
    sdk = node_sdk_dir() or ""
    read_only = [prefix_of_node(node), node, NODE_WORKER, NODE_HOOKS, *([sdk] if sdk else [])]
    environment = {"NODE_PATH": os.pathsep.join(filter(None, [sdk])), "AWS_NODEJS_CONNECTION_REUSE_ENABLED": "1",
                   "_LOCALCLOUD_NODE_SDK": sdk, "_LOCALCLOUD_NODE_HOOKS": NODE_HOOKS}
    return Launch("nodejs", (node, NODE_WORKER), node, tuple(read_only), environment, sdk)


def prefix_of_node(node: str) -> str:
    """Node's installation folder (/usr for Debian's; nvm's own folder elsewhere)."""
    return os.path.dirname(os.path.dirname(os.path.realpath(node)))


# --- the checks at CreateFunction / UpdateFunctionConfiguration ------------------------------


def seams():
    """moto's create / update seams the check wraps; a test pins them."""
    from moto.awslambda.models import LambdaBackend, LambdaFunction

    return [(LambdaBackend, "create_function"), (LambdaFunction, "update_configuration")]


def install() -> None:
    """Refuse an unsupported runtime when a function is created or its runtime changed."""
    from moto.awslambda.exceptions import InvalidParameterValueException

    (backend_cls, create_name), (function_cls, update_name) = seams()
    original_create = getattr(backend_cls, create_name)
    if getattr(original_create, "_localcloud", False):
        return
    original_update = getattr(function_cls, update_name)

    def create_function(self, spec):
        try:
            check(spec.get("Runtime"), spec.get("PackageType"))
        except UnsupportedRuntime as exc:
            raise InvalidParameterValueException(str(exc)) from None
        return original_create(self, spec)

    def update_configuration(self, config_updates):
        if config_updates.get("Runtime") and config_updates.get("Runtime") != self.run_time:
            try:
                check(config_updates["Runtime"], getattr(self, "package_type", "Zip"))
            except UnsupportedRuntime as exc:
                raise InvalidParameterValueException(str(exc)) from None
        return original_update(self, config_updates)

    create_function._localcloud = True
    create_function.__wrapped__ = original_create
    update_configuration.__wrapped__ = original_update
    setattr(backend_cls, create_name, create_function)
    setattr(function_cls, update_name, update_configuration)
