"""A CPython bug the server meets under load, mended in the server process.

CPython 3.11 before 3.11.8 (and 3.12 before 3.12.2) keeps the depth counter
of its AST-to-object conversion in state shared by every thread. When one
thread's `ast.parse` lets another thread run in the middle (a garbage
collection that runs a finalizer is enough), the two conversions count in
the same counter and one of them fails with `SystemError: AST constructor
recursion depth mismatch` (python/cpython#106905, fixed by #113035).

The local cloud serves many requests at once, and two things in it parse
Python text: moto's Step Functions engine reads every string literal of a
definition with `ast.literal_eval`, and `traceback` parses each source line
it prints to place its carets. Under a burst, a Lambda task failed with that
SystemError; the state machine took it for ValidatePolicy failing, and,
failing closed, reverted a policy CloudFormation had just put on one of the
stack's own roles. `install_ast_parse_lock` lets one thread at a time into
`ast.parse` (which `literal_eval` and `traceback` call), so conversions never
overlap. Registered in seams.py as `server-ast-parse-race`.
"""

from __future__ import annotations

import threading


def seam():
    import ast

    return ast, "parse"


def install_ast_parse_lock() -> None:
    module, name = seam()
    original = getattr(module, name)
    if getattr(original, "_localcloud", False):
        return
    lock = threading.Lock()

    def parse(*args, **kwargs):
        with lock:
            return original(*args, **kwargs)

    parse._localcloud = True
    parse.__wrapped__ = original
    parse.__doc__ = original.__doc__
    setattr(module, name, parse)
