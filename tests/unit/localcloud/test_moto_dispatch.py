"""moto's dispatch lists its service folders once, not at every request; the seam pin."""

import moto.backends

from workshop.localcloud import moto_dispatch


def test_the_seam_is_what_the_dispatcher_asks_per_request():
    """Fails loudly if moto's dispatcher stops asking `backends.list_of_moto_modules` per request."""
    import inspect

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    module, name = moto_dispatch.seam()
    assert module is moto.backends and name == "list_of_moto_modules"
    assert "backends.list_of_moto_modules()" in inspect.getsource(DomainDispatcherApplication.get_backend_for_host)


def test_the_list_is_made_once_and_says_the_same(monkeypatch):
    original = moto.backends.list_of_moto_modules
    monkeypatch.setattr(moto.backends, "list_of_moto_modules", original)
    expected = list(original())
    moto_dispatch.install()
    patched = moto.backends.list_of_moto_modules
    assert patched is not original and list(patched()) == expected
    assert patched() is patched()  # no folder listing per call
    assert "iam" in patched() and "stepfunctions" in patched()
    moto_dispatch.install()  # idempotent
    assert moto.backends.list_of_moto_modules is patched
