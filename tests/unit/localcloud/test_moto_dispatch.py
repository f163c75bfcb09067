"""moto's dispatch lists its service folders once, not at every request; the seam pin."""

import moto.backends
import pytest

from workshop.localcloud.server import speedups


def test_the_seam_is_what_the_dispatcher_asks_per_request():
    """Fails loudly if moto's dispatcher stops asking `backends.list_of_moto_modules` per request."""
    import inspect

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    module, name = speedups.seam()
    assert module is moto.backends and name == "list_of_moto_modules"
    assert "backends.list_of_moto_modules()" in inspect.getsource(DomainDispatcherApplication.get_backend_for_host)


def test_the_list_is_made_once_and_says_the_same(monkeypatch):
    original = moto.backends.list_of_moto_modules
    monkeypatch.setattr(moto.backends, "list_of_moto_modules", original)
    expected = list(original())
    speedups.install()
    patched = moto.backends.list_of_moto_modules
    assert patched is not original and list(patched()) == expected
    assert patched() is patched()  # no folder listing per call
    assert "iam" in patched() and "stepfunctions" in patched()
    speedups.install()  # idempotent
    assert moto.backends.list_of_moto_modules is patched


def test_the_method_name_seam_is_what_call_action_asks():
    """Fails loudly if moto's call_action stops asking `method_names_from_class` per request."""
    import inspect

    import moto.core.responses
    from moto.core.responses import BaseResponse

    module, name = speedups.method_names_seam()
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
    speedups.install_method_names()
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
    speedups.install_method_names()
    names = moto.core.responses.method_names_from_class(IamResponse)
    assert "brand_new_action" not in names
    monkeypatch.setattr(IamResponse, "brand_new_action", lambda self: "ok", raising=False)
    assert "brand_new_action" in names


def test_the_jsonpath_seams_parse_at_each_evaluation():
    """Fails loudly if the engine stops calling its module's `parse` at evaluation time."""
    import inspect

    from moto.stepfunctions.parser.asl.component.common.path.result_path import ResultPath
    from moto.stepfunctions.parser.asl.utils import json_path

    seams = speedups.jsonpath_seams()
    assert [module.__name__ for module, _ in seams] == list(speedups._JSONPATH_MODULES)
    assert "parse(self.result_path_src)" in inspect.getsource(ResultPath._eval_body)
    assert "parse(path)" in inspect.getsource(json_path.extract_json)


def test_a_path_is_parsed_once_and_finds_what_a_fresh_parse_finds(monkeypatch):
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    for module, name in speedups.jsonpath_seams():
        original = getattr(module, name)
        monkeypatch.setattr(module, name, getattr(original, "__wrapped__", original))
    data = {"detail": {"items": [{"n": 1}, {"n": 2}], "name": "x"}}
    paths = ["$.detail.name", "$.detail.items[1].n", "$.detail.items[*].n", "$.detail.items[0]", "$"]
    uncached = [json_path.extract_json(path, data) for path in paths]
    speedups.install_jsonpath_cache()
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

    module, name = speedups.xml_name_seam()
    assert module is xmltodict and name == "_validate_name"
    assert '_validate_name(key, "element")' in inspect.getsource(xmltodict)


def test_a_remembered_name_is_still_refused_when_invalid(monkeypatch):
    import xmltodict

    found = xmltodict._validate_name
    monkeypatch.setattr(xmltodict, "_validate_name", getattr(found, "__wrapped__", found))
    speedups.install_xml_name_check(size=2)
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


# --- server-serializer-key-lookup ----------------------------------------------------------------


def test_the_serializer_seam_rebuilds_the_candidate_names_per_value():
    """Fails loudly if moto's picker stops asking `get_possible_keys` per value (then drop the mend)."""
    import inspect

    from moto.core.serialize import AttributePicker

    picker_class, name = speedups.serializer_key_seam()
    assert picker_class is AttributePicker and name == "get_possible_keys"
    assert "self.get_possible_keys(context)" in inspect.getsource(AttributePicker.__call__)


def _answers(calls):
    """What boto3 gets back from in-process moto for each call (request ids and dates dropped)."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        answers = []
        for call in calls:
            answer = call(iam, dynamodb)
            if isinstance(answer, dict):
                answer.pop("ResponseMetadata", None)
            answers.append(answer)
        return answers


def _serializer_calls():
    document = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}'

    def create_table(iam, dynamodb):
        return dynamodb.create_table(
            TableName="t", KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST")["TableDescription"]["KeySchema"]

    def update(iam, dynamodb):
        return dynamodb.update_item(
            TableName="t", Key={"k": {"S": "a"}}, UpdateExpression="SET #s = :s, n = :n, l = :l, m = :m",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": "x"}, ":n": {"N": "3"}, ":l": {"L": [{"S": "y"}, {"BOOL": True}]},
                                       ":m": {"M": {"inner": {"NULL": True}}}},
            ReturnValues="ALL_NEW")

    def policy(iam, dynamodb):
        made = iam.create_policy(PolicyName="p", PolicyDocument=document)["Policy"]
        got = iam.get_policy(PolicyArn=made["Arn"])["Policy"]
        versions = iam.list_policy_versions(PolicyArn=made["Arn"])["Versions"]
        return {"names": sorted(got), "versions": [sorted(v) for v in versions], "id": got["PolicyId"] == made["PolicyId"]}

    return [create_table, update, update, policy]


def test_answers_are_the_same_with_the_candidate_names_kept(monkeypatch):
    from moto.core.serialize import AttributePicker

    original = AttributePicker.get_possible_keys
    monkeypatch.setattr(AttributePicker, "get_possible_keys", getattr(original, "__wrapped__", original))
    uncached = _answers(_serializer_calls())
    speedups.install_serializer_key_cache()
    assert AttributePicker.get_possible_keys._localcloud
    assert _answers(_serializer_calls()) == uncached
    assert _answers(_serializer_calls()) == uncached  # now from the kept names
    assert uncached[1]["Attributes"]["l"] == {"L": [{"S": "y"}, {"BOOL": True}]}


def test_an_object_with_its_own_alias_table_is_asked_every_time(monkeypatch):
    from botocore.model import Shape
    from moto.core.serialize import AttributePicker, AttributePickerContext

    original = AttributePicker.get_possible_keys
    monkeypatch.setattr(AttributePicker, "get_possible_keys", getattr(original, "__wrapped__", original))
    speedups.install_serializer_key_cache()

    class Thing:
        def __init__(self, alias):
            class Meta:
                serialization_aliases = {"Name": alias}
            self.Meta = Meta
            self.first, self.second = "one", "two"

    class Plain:
        def __init__(self, name):
            self.Name = name

    picker = AttributePicker()
    shape = Shape("Name", {"type": "string"})
    ask = lambda obj: picker(AttributePickerContext(obj=obj, key="Name", shape=shape))  # noqa: E731
    assert [ask(Thing("first")), ask(Thing("second")), ask(Thing("first"))] == ["one", "two", "one"]
    assert [ask(Plain("a")), ask(Plain("b")), ask({"Name": "c"})] == ["a", "b", "c"]  # kept per class
    assert ask({"name": "snake"}) is None and ask({"Name": "d"}) == "d"


# --- ddb-update-expression-reparse ---------------------------------------------------------------


def test_the_update_expression_seam_is_what_update_item_parses_with():
    """Fails loudly if moto's UpdateItem stops parsing through `UpdateExpressionParser.make`."""
    import inspect

    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser
    from moto.dynamodb.responses import DynamoHandler

    parser_class, name = speedups.update_expression_seam()
    assert parser_class is UpdateExpressionParser and name == "make"
    assert "UpdateExpressionParser.make(update_expression)" in inspect.getsource(DynamoDBBackend.update_item)
    assert "UpdateExpressionParser.make(update_expression)" in inspect.getsource(DynamoHandler.update_item)


def test_an_expression_is_parsed_once_and_runs_the_same(monkeypatch):
    from moto.dynamodb.exceptions import MockValidationException
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    original = UpdateExpressionParser.__dict__["make"]
    monkeypatch.setattr(UpdateExpressionParser, "make", classmethod(getattr(original.__func__, "__wrapped__",
                                                                            original.__func__)))
    calls = _serializer_calls()
    uncached = _answers(calls)
    speedups.install_update_expression_cache()
    text = "SET #s = :s, n = :n REMOVE old"
    assert UpdateExpressionParser.make(text) is UpdateExpressionParser.make(text)
    assert _answers(calls) == uncached  # the same tree ran twice (two UpdateItems) and changed nothing
    for _ in range(2):  # an invalid expression is refused every time, never kept
        with pytest.raises(MockValidationException):
            UpdateExpressionParser.make("SET = :v")


# --- sfn-state-input-copy ------------------------------------------------------------------------


def test_the_engine_deep_copies_its_input_through_its_copy_module():
    """Fails loudly if the engine stops copying through `copy.deepcopy` in these modules."""
    import inspect

    from moto.stepfunctions.parser.asl.component.common.string.string_expression import StringJsonPath
    from moto.stepfunctions.parser.asl.eval.states import States

    seams = speedups.json_copy_seams()
    assert [name for _, name in seams] == ["copy", "copy"]
    assert "copy.deepcopy(result)" in inspect.getsource(States._extract)
    assert "copy.deepcopy(output_value)" in inspect.getsource(StringJsonPath._eval_body)


def test_a_json_copy_is_equal_and_independent():
    import datetime

    value = {"detail": {"items": [{"n": 1}, {"n": 2.5, "ok": True, "none": None}], "name": "x"},
             "when": datetime.datetime(2026, 1, 1), "pair": (1, [2])}
    copied = speedups.json_copy(value)
    assert copied == value
    copied["detail"]["items"][0]["n"] = 9
    copied["detail"]["items"].append({})
    copied["pair"][1].append(3)
    assert value["detail"]["items"] == [{"n": 1}, {"n": 2.5, "ok": True, "none": None}]
    assert value["pair"] == (1, [2])  # not JSON: copied by copy.deepcopy, still independent
    assert copied["when"] == value["when"]


def test_the_engine_modules_copy_json_after_install(monkeypatch):
    import copy

    for module, name in speedups.json_copy_seams():
        monkeypatch.setattr(module, name, copy)
    speedups.install_json_copy()
    from moto.stepfunctions.parser.asl.eval.states import States

    context = {"Execution": {"Input": {"a": [1, {"b": 2}]}}, "StateMachine": {}, "State": {}}
    states = States(context=context)
    got = states.get_input()
    got["a"][1]["b"] = 3
    assert states.get_input() == {"a": [1, {"b": 2}]}  # the state's input is untouched
    assert states.get_input("$.a[1]") == {"b": 2}
    speedups.install_json_copy()  # idempotent
    for module, name in speedups.json_copy_seams():
        assert getattr(module, name).deepcopy is speedups.json_copy



# --- iam-managed-policies-reparse -------------------------------------------------------------------


def _policy_fields(policy):
    version = policy.versions[0]
    return (policy.name, policy.arn, policy.path, policy.default_version_id, policy.next_version_num,
            policy.partition, policy.account_id, policy.attachment_count, policy.description, policy.tags,
            version.version_id, version.document, version.is_default, version.create_date,
            policy.create_date, policy.update_date, type(policy))


def test_the_managed_policies_read_once_are_the_ones_moto_builds(monkeypatch):
    from moto.iam.models import IAMBackend

    backend_class, name = speedups.managed_policies_seam()
    assert backend_class is IAMBackend and name == "_init_aws_policies"
    original = IAMBackend.__dict__[name]
    monkeypatch.setattr(IAMBackend, name, getattr(original, "__wrapped__", original))
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    shipped = IAMBackend("aws", "123456789012")
    speedups.install_managed_policies_cache()
    assert IAMBackend.__dict__[name] is not original
    cached = [IAMBackend("aws", "123456789012"), IAMBackend("aws", "123456789012")]
    expected = sorted(_policy_fields(p) for p in shipped.aws_managed_policies)
    assert len(expected) > 1000 and any(p[0] == "AdministratorAccess" for p in expected)
    for backend in cached:
        assert sorted(_policy_fields(p) for p in backend.aws_managed_policies) == expected
        assert backend.managed_policies.keys() == shipped.managed_policies.keys()
    # each backend owns its policies (moto counts attachments on them): shared are only the texts and dates
    first, second = (backend.managed_policies["arn:aws:iam::aws:policy/AdministratorAccess"] for backend in cached)
    assert first is not second and first.versions[0] is not second.versions[0]
    first.attachment_count += 1
    assert second.attachment_count == 0
    # and with the setting off, none, as moto does
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "false")
    assert IAMBackend("aws", "123456789012").aws_managed_policies == []


# --- kms-unused-rsa-key -----------------------------------------------------------------------------


def test_a_symmetric_or_hmac_key_makes_its_key_pair_only_when_read(monkeypatch):
    import inspect

    import moto.kms.models
    from moto.kms.models import Key
    from moto.kms.utils import RSAPrivateKey

    module, name = speedups.private_key_seam()
    assert module is moto.kms.models and name == "generate_private_key"
    assert "generate_private_key(self.key_spec)" in inspect.getsource(Key.__init__)
    original = getattr(module.generate_private_key, "__wrapped__", module.generate_private_key)
    monkeypatch.setattr(module, name, original)
    made = []
    monkeypatch.setattr(RSAPrivateKey, "__init__", _counting(RSAPrivateKey.__init__, made))
    speedups.install_private_key_on_use()

    def key(spec, usage):
        return Key(None, usage, spec, "", "123456789012", "us-east-1")

    hmac_key, symmetric = key("HMAC_256", "GENERATE_VERIFY_MAC"), key("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
    assert made == []  # nothing generated for keys that never sign
    # read, it is moto's own key pair, made once, the same at each read
    public = symmetric.private_key.public_key()
    assert made == [2048] and symmetric.private_key.public_key() == public and made == [2048]
    assert isinstance(symmetric.private_key.made(), RSAPrivateKey)
    # an asymmetric key is made at once, as moto makes it
    rsa_key = key("RSA_3072", "SIGN_VERIFY")
    assert isinstance(rsa_key.private_key, RSAPrivateKey) and made == [2048, 3072]
    signature = rsa_key.private_key.sign(b"m", "RSASSA_PSS_SHA_256")
    assert rsa_key.private_key.verify(b"m", signature, "RSASSA_PSS_SHA_256")
    assert hmac_key.private_key is not symmetric.private_key and made == [2048, 3072]


def _counting(init, made):
    def __init__(self, key_size):
        made.append(key_size)
        init(self, key_size)

    return __init__


# --- moto-backend-lookup ----------------------------------------------------------------------------


def test_an_accounts_backend_is_found_without_the_lock_and_made_again_after_a_reset(monkeypatch):
    from moto.core import base_backend
    from moto.core.base_backend import BackendDict
    from moto.sqs.models import sqs_backends

    backend_dict_class, name = speedups.backend_lookup_seam()
    assert backend_dict_class is BackendDict and name == "__getitem__"
    original = BackendDict.__dict__[name]
    monkeypatch.setattr(BackendDict, name, getattr(original, "__wrapped__", original))
    speedups.install_backend_lookup()
    BackendDict.reset()
    made = sqs_backends["111122223333"]  # made the first time, by moto, and listed for the reset
    assert sqs_backends in BackendDict._instances
    made["us-east-1"].create_queue("q")

    class Held:  # the lock is not taken for an account already made
        def __enter__(self):
            raise AssertionError("the backend lock was taken")

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(base_backend, "backend_lock", Held())
    assert sqs_backends["111122223333"] is made
    monkeypatch.undo()
    speedups.install_backend_lookup()
    BackendDict.reset()  # a reset empties the dict and the list: the next lookup makes a new, empty backend
    again = sqs_backends["111122223333"]
    assert again is not made and sqs_backends in BackendDict._instances
    assert again["us-east-1"].queues == {}


# --- server-dispatch-host-backend -------------------------------------------------------------------


class _CountedPattern:
    def __init__(self, pattern, matched):
        self.pattern, self.matched = pattern, matched

    def match(self, text):
        self.matched.append(text)
        return self.pattern.match(text)


def test_each_host_gets_the_backend_moto_finds_and_is_matched_once(monkeypatch, capsys):
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    owner, name = speedups.host_backend_seam()
    assert owner is DomainDispatcherApplication and name == "get_backend_for_host"
    current = owner.__dict__[name]
    monkeypatch.setattr(owner, name, getattr(current, "__wrapped__", current))
    hosts = ["iam.amazonaws.com", "dynamodb.us-east-1.amazonaws.com", "states.eu-west-1.amazonaws.com",
             "sns.us-east-1.amazonaws.com", "sts.amazonaws.com", "kms.us-east-1.amazonaws.com",
             "lambda.us-east-1.amazonaws.com", "moto_api", "iam"]
    plain = DomainDispatcherApplication(create_backend_app)
    expected = {host: plain.get_backend_for_host(host) for host in hosts}
    assert expected["states.eu-west-1.amazonaws.com"] == "stepfunctions" and expected["iam"] == "iam"

    speedups.install_host_backend_cache()
    speedups.install_host_backend_cache()  # idempotent
    assert owner.__dict__[name].__wrapped__ is getattr(current, "__wrapped__", current)
    dispatcher = DomainDispatcherApplication(create_backend_app)
    matched = []
    dispatcher.backend_url_patterns = [(backend, _CountedPattern(pattern, matched))
                                       for backend, pattern in dispatcher.backend_url_patterns]
    assert {host: dispatcher.get_backend_for_host(host) for host in hosts} == expected
    assert matched, "the first time, moto's patterns decide"
    matched.clear()
    assert {host: dispatcher.get_backend_for_host(host) for host in hosts} == expected
    assert matched == [], "a host already found is not matched again"

    # a host no pattern matches is matched again each time (moto says so each time), never kept
    unknown = "nothing.us-east-1.amazonaws.com"
    assert dispatcher.get_backend_for_host(unknown) is None
    count = len(matched)
    assert count > 0 and dispatcher.get_backend_for_host(unknown) is None and len(matched) == 2 * count
    assert dispatcher.get_backend_for_host(None) is None

    # bounded: past the limit the kept hosts start again (from moto's answer)
    monkeypatch.setattr(speedups, "HOST_BACKENDS_KEPT", 2)
    bounded = DomainDispatcherApplication(create_backend_app)
    for host in hosts[:5]:
        assert bounded.get_backend_for_host(host) == expected[host]
    assert len(bounded.__dict__["_localcloud_host_backends"]) <= 2
    capsys.readouterr()


# --- server-form-request-class ----------------------------------------------------------------------


def _form_and_files(app, body: bytes, content_type: str):
    from flask import request

    with app.test_request_context("/", method="POST", data=body, content_type=content_type):
        return dict(request.form), {k: v.read() for k, v in request.files.items()}, type(request.files)


def test_a_form_request_reads_the_same_without_a_class_made_for_it(monkeypatch):
    from moto.moto_server.werkzeug_app import create_backend_app
    from werkzeug.datastructures import ImmutableMultiDict

    owner, name = speedups.form_request_seam()
    if name in owner.__dict__:
        monkeypatch.delattr(owner, name)
    app = create_backend_app("iam")
    assert app.debug, "moto runs its apps in debug mode: the per-request class is made"
    form = b"Action=CreatePolicy&PolicyName=p%201&PolicyDocument=%7B%7D"
    multipart = (b"--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n\r\nhello\r\n"
                 b"--b\r\nContent-Disposition: form-data; name=\"k\"\r\n\r\nv\r\n--b--\r\n")
    plain_form = _form_and_files(app, form, "application/x-www-form-urlencoded")
    plain_multipart = _form_and_files(app, multipart, "multipart/form-data; boundary=b")
    assert plain_form[2] is not ImmutableMultiDict, "Flask's debug helper makes a class for this request"

    speedups.install_form_request()
    speedups.install_form_request()  # idempotent
    assert owner.__dict__[name]._localcloud
    fast_form = _form_and_files(app, form, "application/x-www-form-urlencoded")
    assert fast_form[:2] == plain_form[:2] == ({"Action": "CreatePolicy", "PolicyName": "p 1", "PolicyDocument": "{}"}, {})
    assert fast_form[2] is ImmutableMultiDict, "no class is made per request"
    assert _form_and_files(app, multipart, "multipart/form-data; boundary=b")[:2] == plain_multipart[:2] \
        == ({"k": "v"}, {"f": b"hello"})
