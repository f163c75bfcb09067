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
"""

from __future__ import annotations


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
