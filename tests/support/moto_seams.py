"""The local cloud's mends of moto, in a unit test's in-process moto, and taken away after it.

The functions' unit tests run against moto in process. What the local cloud
mends in moto's own data services (atomic conditional writes, KMS MAC checks:
group "data" of `workshop.localcloud.seams`) must hold there too, or a test
of "decided once" passes or fails by luck. `seams_installed` applies a group
and puts every attribute it replaced back afterwards, so other tests see moto
as shipped.
"""

from __future__ import annotations

from contextlib import contextmanager

from workshop.localcloud import seams

_ABSENT = object()


@contextmanager
def seams_installed(group: str = seams.DATA):
    targets = {target.spelled(): target for seam in seams.SEAMS if seam.group == group
               for target in seam.targets if target.change != seams.READ}
    saved = []
    for target in targets.values():
        owner = target.owner_object()
        saved.append((owner, target.attribute, owner.__dict__.get(target.attribute, _ABSENT)))
    seams.install(group)
    try:
        yield
    finally:
        for owner, attribute, value in saved:
            if value is not _ABSENT:
                setattr(owner, attribute, value)
            elif attribute in owner.__dict__:
                delattr(owner, attribute)
        seams.forget(group)
