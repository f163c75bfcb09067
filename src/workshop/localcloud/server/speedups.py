"""moto's request dispatch without a directory listing per request.

moto's server finds the service of each request in
`DomainDispatcherApplication.get_backend_for_host`, which asks
`moto.backends.list_of_moto_modules()` twice per request; that function lists
moto's package folder and stats each of its ~180 entries every time, under
the dispatcher's global lock. Profiled, it was 40% of the server's own time
for a plain IAM call, and every request queued behind it. The installed
package does not change while the server runs, so the list is made once.

Patch point: `moto.backends.list_of_moto_modules` (the dispatcher looks it up
on the module at each call). Registered in seams.py as
`server-dispatch-module-listing`; upstream issue text: docs/upstream.md.

Two more per-request costs, found by profiling a burst of incidents (the
server's CPU, sampled with py-spy --gil; docs/performance.md):

* `BaseResponse.call_action` asks `method_names_from_class(self.__class__)`,
  an `inspect.getmembers` over the whole response class (hundreds of
  attributes) to learn whether one action name is a method: 6% of the
  server's time. `install_method_names` answers the same question for the one
  name asked (`server-dispatch-method-names`). It looks the name up at each
  call, never from a cache, so a method a fix adds later is found.
* The Step Functions engine parses each state's JSONPath (`ResultPath`,
  `InputPath`, `OutputPath`, `$.x` parameters) with jsonpath_ng at every
  evaluation, and jsonpath_ng builds a new lexer, reading its tables, per
  parse: 14% of the server's time. `install_jsonpath_cache` keeps the parsed
  expression per path text (`sfn-jsonpath-reparse`): jsonpath_ng's parsed
  expressions are set only in their constructors, so one is shared safely
  between executions and threads.
* moto writes every XML answer (IAM, SNS, ...) with xmltodict, which checks
  each element name character by character at every element of every answer:
  about a tenth of an IAM call's server time. An answer's names come from a
  few hundred shape members, so `install_xml_name_check` remembers the names
  already found valid (`server-xml-name-check`); any other name, or an
  invalid one, is checked (and refused) by xmltodict as before.

Three more, found by timing each request thread's CPU in a burst (the
server's DynamoDB UpdateItem took 3-5 ms, an IAM read about 1.5):

* moto's response serializer looks up every member of every answer by trying
  six alias rules (explicit alias, shape name, the key, shape prefix, class
  prefix, model name) against the object, rebuilding that list of candidate
  names at each member: a fifth of an UpdateItem. The candidates depend only
  on the picker's rules, the object's class and the member's shape (and its
  parent), so `install_serializer_key_cache` keeps what `get_possible_keys` gives per that
  (`server-serializer-key-lookup`); an object with a `Meta` of its own (the
  explicit alias rule reads it) is never cached.
* DynamoDB parses an UpdateExpression twice per UpdateItem (the response
  layer to check names, the backend to run it), a tenth of the call.
  `install_update_expression_cache` keeps the parsed tree per expression text
  (`ddb-update-expression-reparse`): both callers only read it, and the
  validator works on its own deep copy.
* The Step Functions engine deep-copies the whole state input for every
  JSONPath it reads and every value it extracts (`copy.deepcopy`, ~80 times
  an incident). Its data is JSON: `install_json_copy` gives those engine
  modules a copy for JSON values (dicts, lists, scalars; anything else still
  goes to `copy.deepcopy`), three times faster on a CloudTrail event (`sfn-state-input-copy`).

One cost is paid per IAM backend, not per request: with AWS's managed
policies loaded (the local cloud loads them; so do the functions' unit tests
that need them), moto parses its ~1,600-policy file for each of the six
partitions of each account, again at each reset: about 0.1 s a backend.
`install_managed_policies_cache` parses it once per process and builds each
backend's own policy objects from that (`iam-managed-policies-reparse`).

Creating a KMS key costs moto a 2048-bit RSA key pair (60 ms of CPU)
whatever its spec, though only an asymmetric key ever signs, verifies or
gives its public key; the orchestrator's seal key is HMAC, and every test of
the functions makes one. `install_private_key_on_use` makes the pair of a
symmetric or HMAC key the first time moto reads it (`kms-unused-rsa-key`).

Every lookup of a service's backend for an account
(`iam_backends[account]`, several per request, more in the authorizer)
takes moto's global backend lock, lists the dict's keys and walks the list
of every service's backend dict comparing each: `install_backend_lookup`
answers an account already made from the dict itself
(`moto-backend-lookup`).

With the module list made once, `get_backend_for_host` still matched the
request's host against each of moto's ~180 URL patterns in turn, under the
dispatcher's global lock, at every request: 20-50 us a request (Step
Functions, SNS and STS sit far down the list), with every other request
waiting. A host names the same backend for as long as the server runs, so
`install_host_backend_cache` keeps the backend found per host, per dispatcher
(`server-dispatch-host-backend`); a host no pattern matches is asked again
each time, and the kept hosts are bounded.

moto runs its Flask apps with `debug = True`, and Flask, in debug mode, makes
a new class for every request that reads a form body (every query-protocol
call: IAM, SNS, STS, CloudFormation), only so that a later `request.files[k]`
on a non-multipart form raises a friendlier KeyError
(`flask.debughelpers.attach_enctype_error_multidict`). moto never reads
`files` so; the class (made, assigned, and left to the cyclic collector) was
about 1% of the server's time in a burst. `install_form_request` gives moto's
request class werkzeug's own form loading (`server-form-request-class`): the
same form, the same files, no class per request.

One cost is not moto's but an import's (`without_iri_syntax_checker`, at
start): the first API Gateway request imports moto's apigateway, which
imports openapi-spec-validator, then jsonschema, whose format checkers import
rfc3987-syntax (installed by the `format-nongpl` extra Jupyter asks for). That
package builds about 35 Earley parsers when imported: a third of the server's
CPU during a deploy, 2-4 s. The local cloud checks no IRI format (only the
`iri` and `iri-reference` formats use it; jsonschema leaves a format unchecked
when its checker's package is missing), so the server imports jsonschema
without it. Upstream: python-jsonschema/jsonschema#1428 (import it lazily),
#1521 (the lazily loading fork rfc3987-syntax2).
"""

from __future__ import annotations


import functools
import inspect
import threading


def without_iri_syntax_checker() -> None:
    """Make `import rfc3987_syntax` fail in this process, before jsonschema is first imported.

    A `None` in `sys.modules` stops an import with ImportError, which jsonschema's
    format module expects from a missing optional checker. Once jsonschema is
    imported its checkers are chosen, so it is too late then (and left alone).
    """
    import sys

    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)


def _patch(owner, name: str, replacement, original) -> None:
    """Put `replacement` at `owner.name`, marked as the kit's and pointing at what it replaced."""
    replacement._localcloud = True
    replacement.__wrapped__ = original
    setattr(owner, name, replacement)


def seam():
    import moto.backends

    return moto.backends, "list_of_moto_modules"


def install() -> None:
    module, name = seam()
    original = getattr(module, name)
    if getattr(original, "_localcloud", False):
        return
    modules = tuple(original())

    def list_of_moto_modules():
        return modules

    _patch(module, name, list_of_moto_modules, original)


# --- server-dispatch-method-names ----------------------------------------------------------------


def method_names_seam():
    import moto.core.responses

    return moto.core.responses, "method_names_from_class"


class FunctionNames:
    """What `method_names_from_class(clazz)` lists, asked one name at a time.

    `name in FunctionNames(clazz)` is `name in [n for n, _ in
    inspect.getmembers(clazz, inspect.isfunction)]` without listing the class:
    getmembers keeps the names whose `getattr(clazz, name)` is a function.
    """

    __slots__ = ("clazz",)

    def __init__(self, clazz):
        self.clazz = clazz

    def __contains__(self, name) -> bool:
        return isinstance(name, str) and inspect.isfunction(getattr(self.clazz, name, None))

    def __iter__(self):
        return iter([name for name, _ in inspect.getmembers(self.clazz, inspect.isfunction)])


def install_method_names() -> None:
    module, name = method_names_seam()
    original = getattr(module, name)
    if getattr(original, "_localcloud", False):
        return

    def method_names_from_class(clazz):
        return FunctionNames(clazz)

    _patch(module, name, method_names_from_class, original)


# --- sfn-jsonpath-reparse ------------------------------------------------------------------------

_JSONPATH_MODULES = ("moto.stepfunctions.parser.asl.component.common.path.result_path",
                     "moto.stepfunctions.parser.asl.utils.json_path")


def jsonpath_seams():
    """(module, "parse") for each engine module that parses a path at each evaluation."""
    import importlib

    return [(importlib.import_module(name), "parse") for name in _JSONPATH_MODULES]


def install_jsonpath_cache(size: int = 4096) -> None:
    for module, name in jsonpath_seams():
        original = getattr(module, name)
        if getattr(original, "_localcloud", False):
            continue
        cached = functools.lru_cache(maxsize=size)(original)  # a definition has a few dozen paths

        def parse(path, _cached=cached, _original=original):
            return _cached(path) if isinstance(path, str) else _original(path)

        _patch(module, name, parse, original)


# --- server-xml-name-check -----------------------------------------------------------------------


def xml_name_seam():
    import xmltodict

    return xmltodict, "_validate_name"


def install_xml_name_check(size: int = 4096) -> None:
    module, name = xml_name_seam()
    original = getattr(module, name)
    if getattr(original, "_localcloud", False):
        return
    valid: set = set()  # (name, kind) pairs xmltodict accepted; only added to, never trusted unchecked

    def _validate_name(value, kind):
        if isinstance(value, str) and (value, kind) in valid:
            return
        original(value, kind)  # raises for an invalid name: nothing is remembered then
        if isinstance(value, str) and len(valid) < size:
            valid.add((value, kind))

    _patch(module, name, _validate_name, original)


# --- server-serializer-key-lookup -------------------------------------------------------------------


def serializer_key_seam():
    import moto.core.serialize

    return moto.core.serialize.AttributePicker, "get_possible_keys"


def install_serializer_key_cache(size: int = 65536) -> None:
    picker_class, name = serializer_key_seam()
    original = picker_class.__dict__[name]
    if getattr(original, "_localcloud", False):
        return
    keys: dict = {}  # (the picker's rules, object class, key, shape, shape's parent) -> candidate names

    def get_possible_keys(self, context):
        obj = context.obj
        if "Meta" in getattr(obj, "__dict__", ()):  # an instance's own alias table: asked every time
            return original(self, context)
        shape = context.shape
        cache_key = (tuple(self.alias_providers), type(obj), context.key, shape, getattr(shape, "parent", None))
        candidates = keys.get(cache_key)
        if candidates is None:
            candidates = tuple(original(self, context))
            if len(keys) < size:  # shapes come from loaded models: a bounded set in practice
                keys[cache_key] = candidates
        return candidates

    _patch(picker_class, name, get_possible_keys, original)


# --- ddb-update-expression-reparse ------------------------------------------------------------------


def update_expression_seam():
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    return UpdateExpressionParser, "make"


def install_update_expression_cache(size: int = 1024) -> None:
    parser_class, name = update_expression_seam()
    original = parser_class.__dict__[name]
    if getattr(original.__func__, "_localcloud", False):
        return
    parse = original.__func__
    cached = functools.lru_cache(maxsize=size)(parse)

    def make(cls, expression_str):
        return cached(cls, expression_str) if isinstance(expression_str, str) else parse(cls, expression_str)

    _patch(parser_class, name, make, parse)
    setattr(parser_class, name, classmethod(make))  # marked above, bound as moto's was


# --- sfn-state-input-copy ---------------------------------------------------------------------------

_COPYING_MODULES = ("moto.stepfunctions.parser.asl.eval.states",
                    "moto.stepfunctions.parser.asl.component.common.string.string_expression")
_SCALARS = (str, int, float, bool, type(None))


def json_copy(value, memo=None, _nil=None):
    """`copy.deepcopy` for JSON values: a new dict or list at each level, scalars shared (they
    cannot change); anything else is handed to `copy.deepcopy`."""
    kind = type(value)
    if kind is dict:
        return {key: json_copy(item) for key, item in value.items()}
    if kind is list:
        return [json_copy(item) for item in value]
    if kind in _SCALARS:
        return value
    import copy

    return copy.deepcopy(value, memo)


class _JsonCopyModule:
    """Stands in for the `copy` module in the engine modules: `deepcopy` is `json_copy`."""

    deepcopy = staticmethod(json_copy)
    _localcloud = True

    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        return getattr(self._module, name)


def json_copy_seams():
    """(module, "copy") for each engine module that deep-copies state data."""
    import importlib

    return [(importlib.import_module(name), "copy") for name in _COPYING_MODULES]


def install_json_copy() -> None:
    for module, name in json_copy_seams():
        original = getattr(module, name)
        if getattr(original, "_localcloud", False):
            continue
        setattr(module, name, _JsonCopyModule(original))


# --- iam-managed-policies-reparse -------------------------------------------------------------------


def managed_policies_seam():
    from moto.iam.models import IAMBackend

    return IAMBackend, "_init_aws_policies"


@functools.lru_cache(maxsize=1)
def _managed_policy_rows() -> tuple:
    """AWS's managed policies as moto ships them, read once: (name, default version, path, document
    text, created, updated). Every field is a str or a datetime, which nothing can change in place."""
    import json
    from datetime import datetime

    from moto.iam.models import aws_managed_policies_data

    return tuple((name, data.get("DefaultVersionId"), data.get("Path"), json.dumps(data.get("Document")),
                  datetime.fromisoformat(data["CreateDate"]), datetime.fromisoformat(data["UpdateDate"]))
                 for name, data in json.loads(aws_managed_policies_data).items())


def install_managed_policies_cache() -> None:
    backend_class, name = managed_policies_seam()
    original = backend_class.__dict__[name]
    if getattr(original, "_localcloud", False):
        return

    def _init_aws_policies(self):
        import moto.iam.models as iam_models

        if not iam_models.load_iam_aws_managed_policies():
            return []
        # as moto's AWSManagedPolicy.from_data builds each, from the rows parsed once per process
        return [iam_models.AWSManagedPolicy(policy_name, account_id=self.account_id, region=self.region_name,
                                            default_version_id=version, path=path, document=document,
                                            create_date=created, update_date=updated)
                for policy_name, version, path, document, created, updated in _managed_policy_rows()]

    _patch(backend_class, name, _init_aws_policies, original)


# --- kms-unused-rsa-key -----------------------------------------------------------------------------

def private_key_seam():
    import moto.kms.models

    return moto.kms.models, "generate_private_key"


class PrivateKeyMadeWhenUsed:
    """moto's private key of one KMS key, generated the first time anything reads it."""

    def __init__(self, make, key_spec: str):
        self._make = make
        self._key_spec = key_spec
        self._key = None
        self._lock = threading.Lock()

    def made(self):
        with self._lock:
            if self._key is None:
                self._key = self._make(self._key_spec)
            return self._key

    def __getattr__(self, name):
        return getattr(self.made(), name)

    def __copy__(self):  # a replica key shares its primary's key pair, as moto's shallow copy does
        return self

    def __deepcopy__(self, memo):
        return self


def install_private_key_on_use() -> None:
    from moto.kms.utils import KeySpec

    module, name = private_key_seam()
    original = getattr(module, name)
    if getattr(original, "_localcloud", False):
        return
    # the specs whose keys never sign, verify or give a public key (KMS refuses those for them)
    no_key_pair = frozenset({KeySpec.SYMMETRIC_DEFAULT.value, *KeySpec.hmac_key_specs()})

    def generate_private_key(key_spec):
        if key_spec in no_key_pair:
            return PrivateKeyMadeWhenUsed(original, key_spec)
        return original(key_spec)

    _patch(module, name, generate_private_key, original)


# --- moto-backend-lookup ----------------------------------------------------------------------------


def backend_lookup_seam():
    from moto.core.base_backend import BackendDict

    return BackendDict, "__getitem__"


def install_backend_lookup() -> None:
    backend_dict_class, name = backend_lookup_seam()
    original = backend_dict_class.__dict__[name]
    if getattr(original, "_localcloud", False):
        return
    look_up = dict.get

    def __getitem__(self, account_id):
        # An account's backend is in the dict only once moto made it and listed the dict for its reset
        # (a reset empties both); any other lookup takes moto's own way.
        backend = look_up(self, account_id)
        return backend if backend is not None else original(self, account_id)

    _patch(backend_dict_class, name, __getitem__, original)


# --- server-dispatch-host-backend -------------------------------------------------------------------

HOST_BACKENDS_KEPT = 1024  # hosts come from signed requests' scopes: a few dozen in practice


def host_backend_seam():
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    return DomainDispatcherApplication, "get_backend_for_host"


def install_host_backend_cache() -> None:
    owner, name = host_backend_seam()
    original = owner.__dict__[name]
    if getattr(original, "_localcloud", False):
        return

    def get_backend_for_host(self, host):
        kept = self.__dict__.get("_localcloud_host_backends")
        if kept is None:  # per dispatcher: each holds its own URL patterns
            kept = self.__dict__.setdefault("_localcloud_host_backends", {})
        backend = kept.get(host)
        if backend is None:
            backend = original(self, host)
            if backend is not None:
                if len(kept) >= HOST_BACKENDS_KEPT:
                    kept.clear()
                kept[host] = backend
        return backend

    _patch(owner, name, get_backend_for_host, original)


# --- server-form-request-class ----------------------------------------------------------------------


def form_request_seam():
    from moto.moto_server.werkzeug_app import BackendRequest

    return BackendRequest, "_load_form_data"


def install_form_request() -> None:
    owner, name = form_request_seam()
    if getattr(owner.__dict__.get(name), "_localcloud", False):
        return
    from werkzeug.wrappers import Request as WerkzeugRequest

    original = getattr(owner, name)  # Flask's: werkzeug's, then a new class per request in debug mode
    load = WerkzeugRequest._load_form_data

    def _load_form_data(self):
        load(self)

    _patch(owner, name, _load_form_data, original)
