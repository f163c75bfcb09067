"""moto's request dispatch without a directory listing per request.

moto's server finds the service of each request in
`DomainDispatcherApplication.get_backend_for_host`, which asks
`moto.backends.list_of_moto_modules()` twice per request; that function lists
moto's package folder and stats each of its ~180 entries every time, under
the dispatcher's global lock. Profiled, it was 40% of the server's own time
for a plain IAM call, and every request queued behind it. The installed
package does not change while the server runs, so the list is made once.

Patch point: `moto.backends.list_of_moto_modules` (the dispatcher looks it up
on the module at each call). Registered in moto_fixes.py as
`server-dispatch-module-listing`; upstream issue text: docs/upstream.md.

Two more per-request costs, found by profiling a burst of incidents (the
server's CPU, sampled with py-spy --gil; README "Fast"):

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
"""

from __future__ import annotations


import functools
import inspect


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

    list_of_moto_modules._localcloud = True
    list_of_moto_modules.__wrapped__ = original
    setattr(module, name, list_of_moto_modules)


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

    method_names_from_class._localcloud = True
    method_names_from_class.__wrapped__ = original
    setattr(module, name, method_names_from_class)


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

        parse._localcloud = True
        parse.__wrapped__ = original
        setattr(module, name, parse)


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

    _validate_name._localcloud = True
    _validate_name.__wrapped__ = original
    setattr(module, name, _validate_name)
