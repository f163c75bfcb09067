"""moto's dispatch lists its service folders once, not at every request; the seam pin."""

import moto.backends
import pytest

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


def test_the_method_name_seam_is_what_call_action_asks():
    """Fails loudly if moto's call_action stops asking `method_names_from_class` per request."""
    import inspect

    import moto.core.responses
    from moto.core.responses import BaseResponse

    module, name = moto_dispatch.method_names_seam()
    assert module is moto.core.responses and name == "method_names_from_class"
    assert "method_names_from_class(self.__class__)" in inspect.getsource(BaseResponse.call_action)


def test_function_names_answer_as_moto_lists_them(monkeypatch):
    import inspect

    import moto.core.responses
    from moto.dynamodb.responses import DynamoHandler
    from moto.iam.responses import IamResponse

    found = moto.core.responses.method_names_from_class
    original = getattr(found, "__wrapped__", found)  # moto's own, even if the server's fixes are in
    monkeypatch.setattr(moto.core.responses, "method_names_from_class", original)
    moto_dispatch.install_method_names()
    patched = moto.core.responses.method_names_from_class
    assert patched is not original
    for clazz in (IamResponse, DynamoHandler):
        listed = original(clazz)
        names = patched(clazz)
        assert sorted(names) == sorted(listed)
        for candidate in listed + ["dispatch", "region", "uri", "not_an_action", "__init__", "", None, 3]:
            assert (candidate in names) == (candidate in listed), candidate
    assert "list_policies" in patched(IamResponse) and "method_names" not in patched(IamResponse)


def test_a_method_added_later_is_found(monkeypatch):
    """Nothing is cached: a fix that teaches moto a new action after the first request is seen."""
    import moto.core.responses
    from moto.iam.responses import IamResponse

    found = moto.core.responses.method_names_from_class
    monkeypatch.setattr(moto.core.responses, "method_names_from_class", getattr(found, "__wrapped__", found))
    moto_dispatch.install_method_names()
    names = moto.core.responses.method_names_from_class(IamResponse)
    assert "brand_new_action" not in names
    monkeypatch.setattr(IamResponse, "brand_new_action", lambda self: "ok", raising=False)
    assert "brand_new_action" in names


def test_the_jsonpath_seams_parse_at_each_evaluation():
    """Fails loudly if the engine stops calling its module's `parse` at evaluation time."""
    import inspect

    from moto.stepfunctions.parser.asl.component.common.path.result_path import ResultPath
    from moto.stepfunctions.parser.asl.utils import json_path

    seams = moto_dispatch.jsonpath_seams()
    assert [module.__name__ for module, _ in seams] == list(moto_dispatch._JSONPATH_MODULES)
    assert "parse(self.result_path_src)" in inspect.getsource(ResultPath._eval_body)
    assert "parse(path)" in inspect.getsource(json_path.extract_json)


def test_a_path_is_parsed_once_and_finds_what_a_fresh_parse_finds(monkeypatch):
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    for module, name in moto_dispatch.jsonpath_seams():
        original = getattr(module, name)
        monkeypatch.setattr(module, name, getattr(original, "__wrapped__", original))
    data = {"detail": {"items": [{"n": 1}, {"n": 2}], "name": "x"}}
    paths = ["$.detail.name", "$.detail.items[1].n", "$.detail.items[*].n", "$.detail.items[0]", "$"]
    uncached = [json_path.extract_json(path, data) for path in paths]
    moto_dispatch.install_jsonpath_cache()
    assert [json_path.extract_json(path, data) for path in paths] == uncached
    assert [json_path.extract_json(path, data) for path in paths] == uncached  # the second time from the cache
    for module in (result_path, json_path):
        parse = module.parse
        assert parse._localcloud
        first = parse("$.detail.items[*].n")
        assert parse("$.detail.items[*].n") is first  # parsed once
        fresh = parse.__wrapped__("$.detail.items[*].n")
        assert [m.value for m in first.find(data)] == [m.value for m in fresh.find(data)] == [1, 2]
    updated = result_path.parse("$.result.code").update_or_create({"a": 1}, 7)
    assert updated == {"a": 1, "result": {"code": 7}}
    assert result_path.parse("$.result.code").update_or_create({}, 8) == {"result": {"code": 8}}


def test_the_xml_name_seam_is_what_unparse_calls():
    """Fails loudly if xmltodict stops checking names through `_validate_name` (then drop the mend)."""
    import inspect

    import xmltodict

    module, name = moto_dispatch.xml_name_seam()
    assert module is xmltodict and name == "_validate_name"
    assert '_validate_name(key, "element")' in inspect.getsource(xmltodict)


def test_a_remembered_name_is_still_refused_when_invalid(monkeypatch):
    import xmltodict

    found = xmltodict._validate_name
    monkeypatch.setattr(xmltodict, "_validate_name", getattr(found, "__wrapped__", found))
    moto_dispatch.install_xml_name_check(size=2)
    assert xmltodict._validate_name._localcloud
    document = {"GetPolicyResponse": {"GetPolicyResult": {"Policy": {"PolicyName": "p"}}}}
    first = xmltodict.unparse(document)
    assert xmltodict.unparse(document) == first  # the second time from remembered names
    for bad in ("bad name", "a<b", "?pi", "x/y", 'q"', "k=v"):
        with pytest.raises(ValueError):
            xmltodict.unparse({"Root": {bad: "v"}})
        with pytest.raises(ValueError):  # refused every time, never remembered
            xmltodict._validate_name(bad, "element")
    with pytest.raises(ValueError):
        xmltodict._validate_name(3, "element")
    for many in ("A", "B", "C", "D"):  # past the bound, names are still checked
        xmltodict._validate_name(many, "element")
    with pytest.raises(ValueError):
        xmltodict._validate_name("over the bound", "element")
