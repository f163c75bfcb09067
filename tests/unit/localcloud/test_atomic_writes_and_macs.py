"""The local cloud's mends of moto's data services: conditional writes are atomic, MACs are checked as KMS does.

Each mend (seams.py, group "data"; docs/upstream.md) is shown on moto in
process: first that moto still has the gap, then that the mend closes it.
"""

import base64
import inspect
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from workshop.localcloud import seams

TABLE = "race"


def _table(dynamodb):
    dynamodb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                          KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])


@contextmanager
def mended_table():
    """moto with the mend, a table, and two more clients to race with: (dynamodb, [client, client])."""
    with mock_aws():
        seams.install(seams.DATA)
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        _table(dynamodb)
        yield dynamodb, [boto3.client("dynamodb", region_name="us-east-1") for _ in range(2)]


@pytest.fixture
def widened_check(monkeypatch):
    """moto's condition check made slow (20 ms between check and write), so that two writes at once both
    reach the write unless something serialises them: the race, made certain. A millisecond was not: on a
    busy machine one thread's request could be checked and written before the other's was even parsed."""
    import time

    from moto.dynamodb import models

    parse = models.create_condition_expression_parser

    def slow_parser(*args, **kwargs):
        parser = parse(*args, **kwargs)
        real_parse = parser.parse

        def parse_slowly():
            op = real_parse()
            real_expr = op.expr

            def expr(item):
                outcome = real_expr(item)
                time.sleep(0.02)
                return outcome

            op.expr = expr
            return op

        parser.parse = parse_slowly
        return parser

    monkeypatch.setattr(models, "create_condition_expression_parser", slow_parser)


def _decide_twice(clients, key) -> int:
    """Two conditional updates of one item at the same moment: how many succeeded."""
    barrier = threading.Barrier(2)

    def decide(index):
        barrier.wait(timeout=10)
        try:
            clients[index].update_item(
                TableName=TABLE, Key=key, UpdateExpression="SET decision = :d",
                ConditionExpression="attribute_not_exists(decision)",
                ExpressionAttributeValues={":d": {"S": f"decider-{index}"}})
            return 1
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "ConditionalCheckFailedException"
            return 0

    with ThreadPoolExecutor(2) as pool:
        return sum(pool.map(decide, range(2)))


def test_moto_still_checks_a_condition_and_writes_without_a_lock():
    """If moto makes conditional writes atomic itself, drop `ddb-conditional-write-lock` and its note."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler

    backend = inspect.getsource(DynamoDBBackend.update_item)
    handler = inspect.getsource(getattr(DynamoHandler.call_action, "__wrapped__", DynamoHandler.call_action))
    assert "condition_op.expr(item)" in backend and "lock" not in (backend + handler).lower()


def test_of_two_conditional_writes_at_once_exactly_one_succeeds(widened_check):
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        _table(dynamodb)
        clients = [boto3.client("dynamodb", region_name="us-east-1") for _ in range(2)]
        dynamodb.put_item(TableName=TABLE, Item={"id": {"S": "plain"}})
        assert _decide_twice(clients, {"id": {"S": "plain"}}) == 2  # moto as shipped: both "won"

        seams.install(seams.DATA)
        for round_ in range(20):
            key = {"id": {"S": f"mended-{round_}"}}
            dynamodb.put_item(TableName=TABLE, Item=key)
            assert _decide_twice(clients, key) == 1
            stood = dynamodb.get_item(TableName=TABLE, Key=key, ConsistentRead=True)["Item"]["decision"]["S"]
            assert stood in ("decider-0", "decider-1")


def test_a_conditional_put_and_a_transaction_are_atomic_too(widened_check):
    with mended_table() as (_, clients):
        barrier = threading.Barrier(2)

        def claim(index):
            barrier.wait(timeout=10)
            try:
                if index == 0:
                    clients[0].put_item(TableName=TABLE, Item={"id": {"S": "k"}, "by": {"S": "put"}},
                                        ConditionExpression="attribute_not_exists(id)")
                else:
                    clients[1].transact_write_items(TransactItems=[{"Put": {
                        "TableName": TABLE, "Item": {"id": {"S": "k"}, "by": {"S": "transaction"}},
                        "ConditionExpression": "attribute_not_exists(id)"}}])
                return 1
            except ClientError as exc:
                assert exc.response["Error"]["Code"] in ("ConditionalCheckFailedException",
                                                         "TransactionCanceledException")
                return 0

        with ThreadPoolExecutor(2) as pool:
            assert sum(pool.map(claim, range(2))) == 1


def test_a_read_during_a_write_sees_it_whole_or_not_at_all(widened_check):
    """moto's UpdateItem handler copies the item for ReturnValues while another request changes it."""
    with mended_table() as (dynamodb, clients):
        for round_ in range(20):
            key = {"id": {"S": f"whole-{round_}"}}
            dynamodb.put_item(TableName=TABLE, Item=key)
            barrier = threading.Barrier(2)

            def write(index):
                barrier.wait(timeout=10)
                return clients[index].update_item(
                    TableName=TABLE, Key=key, ReturnValues="ALL_OLD",
                    UpdateExpression="SET a = :v, b = :v", ExpressionAttributeValues={":v": {"S": str(index)}})

            with ThreadPoolExecutor(2) as pool:
                olds = [r.get("Attributes", {}) for r in pool.map(write, range(2))]
            assert sorted(len(old) for old in olds) == [1, 3]  # one saw nothing set, the other the first whole
            whole = next(old for old in olds if len(old) == 3)
            assert whole["a"] == whole["b"]


def test_a_transaction_over_two_tables_and_writes_to_each_do_not_wait_forever():
    with mock_aws():
        seams.install(seams.DATA)
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        _table(dynamodb)
        arn = dynamodb.create_table(TableName="other", BillingMode="PAY_PER_REQUEST",
                                    KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                                    AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}]
                                    )["TableDescription"]["TableArn"]

        def transaction(index):
            first, second = (TABLE, arn) if index % 2 else (arn, TABLE)  # by name and by ARN, both orders
            boto3.client("dynamodb", region_name="us-east-1").transact_write_items(TransactItems=[
                {"Put": {"TableName": first, "Item": {"id": {"S": f"a{index}"}}}},
                {"Put": {"TableName": second, "Item": {"id": {"S": f"b{index}"}}}}])

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(transaction, range(40)))
        assert dynamodb.scan(TableName=TABLE)["Count"] + dynamodb.scan(TableName="other")["Count"] == 80


# --- KMS: HMAC keys ---------------------------------------------------------------------------------


def test_moto_still_macs_with_any_algorithm_and_a_disabled_key():
    """If moto checks these itself, drop `kms-mac-checks` and its note."""
    with mock_aws():
        kms = boto3.client("kms", region_name="us-east-1")
        key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
        assert kms.generate_mac(KeyId=key, Message=b"m", MacAlgorithm="HMAC_SHA_512")["Mac"]
        kms.disable_key(KeyId=key)
        assert kms.generate_mac(KeyId=key, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]


def _code(call) -> str:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["Error"]["Code"]


def test_a_mac_is_made_and_verified_only_with_its_keys_algorithm_on_an_enabled_key():
    with mock_aws():
        seams.install(seams.DATA)
        kms = boto3.client("kms", region_name="us-east-1")
        key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
        other = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
        mac = kms.generate_mac(KeyId=key, Message=b"sealed", MacAlgorithm="HMAC_SHA_256")["Mac"]
        assert kms.verify_mac(KeyId=key, Message=b"sealed", Mac=mac, MacAlgorithm="HMAC_SHA_256")["MacValid"]

        def verify(**changed):
            arguments = {"KeyId": key, "Message": b"sealed", "Mac": mac, "MacAlgorithm": "HMAC_SHA_256", **changed}
            return lambda: kms.verify_mac(**arguments)

        assert _code(verify(Message=b"sealeD")) == "KMSInvalidMacException"
        assert _code(verify(KeyId=other)) == "KMSInvalidMacException"
        assert _code(verify(Mac=bytes(32))) == "KMSInvalidMacException"
        assert _code(verify(Mac=mac[:-1])) == "KMSInvalidMacException"
        assert _code(verify(MacAlgorithm="HMAC_SHA_512")) == "InvalidKeyUsageException"
        assert _code(lambda: kms.generate_mac(KeyId=key, Message=b"m", MacAlgorithm="HMAC_SHA_384")) \
            == "InvalidKeyUsageException"
        symmetric = kms.create_key()["KeyMetadata"]["KeyId"]
        assert _code(lambda: kms.generate_mac(KeyId=symmetric, Message=b"m", MacAlgorithm="HMAC_SHA_256")) \
            == "InvalidKeyUsageException"

        kms.disable_key(KeyId=key)
        assert _code(lambda: kms.generate_mac(KeyId=key, Message=b"m", MacAlgorithm="HMAC_SHA_256")) \
            == "DisabledException"
        assert _code(verify()) == "DisabledException"
        kms.enable_key(KeyId=key)
        assert kms.verify_mac(KeyId=key, Message=b"sealed", Mac=mac, MacAlgorithm="HMAC_SHA_256")["MacValid"]
        kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
        assert _code(verify()) == "KMSInvalidStateException"


def test_a_mac_is_rfc_2104_hmac_of_the_message_under_the_key():
    """What the seal's verifiers rely on: the MAC is the standard HMAC, not moto's own construction."""
    import hashlib
    import hmac

    from moto.kms.models import kms_backends

    with mock_aws():
        seams.install(seams.DATA)
        kms = boto3.client("kms", region_name="us-east-1")
        key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
        mac = kms.generate_mac(KeyId=key, Message=b"sealed", MacAlgorithm="HMAC_SHA_256")["Mac"]
        material = kms_backends["123456789012"]["us-east-1"].keys[key].key_material
        assert mac == hmac.new(material, b"sealed", hashlib.sha256).digest() and len(base64.b64encode(mac)) == 44


def test_a_kms_key_in_a_template_is_made_with_its_spec_usage_policy_and_tags():
    from moto.kms.models import kms_backends

    policy = {"Version": "2012-10-17", "Statement": [{"Sid": "Admins", "Effect": "Allow", "Action": "kms:*",
                                                       "Resource": "*",
                                                       "Principal": {"AWS": "arn:aws:iam::123456789012:root"}}]}
    template = {"Resources": {"Seal": {"Type": "AWS::KMS::Key", "Properties": {
        "KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC", "KeyPolicy": policy,
        "Tags": [{"Key": "purpose", "Value": "seal"}]}}},
        "Outputs": {"Key": {"Value": {"Ref": "Seal"}}, "Arn": {"Value": {"Fn::GetAtt": ["Seal", "Arn"]}}}}
    with mock_aws():
        cfn, kms = boto3.client("cloudformation", region_name="us-east-1"), boto3.client("kms", region_name="us-east-1")
        untagged = json.loads(json.dumps(template))
        del untagged["Resources"]["Seal"]["Properties"]["Tags"]  # moto as shipped fails on CloudFormation's tags
        cfn.create_stack(StackName="plain", TemplateBody=json.dumps(untagged))
        plain = cfn.describe_stacks(StackName="plain")["Stacks"][0]["Outputs"]
        key = kms_backends["123456789012"]["us-east-1"].keys[next(o["OutputValue"] for o in plain
                                                                  if o["OutputKey"] == "Key")]
        # moto as shipped: not an HMAC key, and a policy DescribeKey cannot read (json.loads of a dict)
        assert (key.key_spec, key.key_usage, isinstance(key.policy, dict)) == \
            ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", True)

        seams.install(seams.DATA)
        seams.install(seams.CLOUDFORMATION)
        cfn.create_stack(StackName="mended", TemplateBody=json.dumps(template))
        outputs = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName="mended")["Stacks"][0]
                   ["Outputs"]}
        metadata = kms.describe_key(KeyId=outputs["Key"])["KeyMetadata"]
        assert (metadata["KeySpec"], metadata["KeyUsage"], metadata["Arn"]) == \
            ("HMAC_256", "GENERATE_VERIFY_MAC", outputs["Arn"])
        assert json.loads(kms.get_key_policy(KeyId=outputs["Key"], PolicyName="default")["Policy"]) == policy
        stack = cfn.describe_stacks(StackName="mended")["Stacks"][0]["StackId"]
        assert kms.list_resource_tags(KeyId=outputs["Key"])["Tags"] == [
            {"TagKey": "purpose", "TagValue": "seal"}, {"TagKey": "aws:cloudformation:stack-name", "TagValue": "mended"},
            {"TagKey": "aws:cloudformation:stack-id", "TagValue": stack},
            {"TagKey": "aws:cloudformation:logical-id", "TagValue": "Seal"}]
        assert kms.generate_mac(KeyId=outputs["Key"], Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
