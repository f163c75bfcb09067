"""CloudFormation templates as the local cloud deploys them: the SAM transform, local API URLs, Rules.

Pure functions on parsed templates (stacks.py applies them where moto parses
and creates stacks):

* `Transform: AWS::Serverless-2016-10-31` - templates are translated with
  aws-sam-translator (`sam_transform`).
* API URLs - `https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/...`
  (or `.amazonaws.com/...`, SAM hello-world's form; or the same spelled as a
  `Fn::Join` of `Ref`s) in the stack's outputs or a function's environment becomes
  `http://127.0.0.1:PORT/_localcloud/execute-api/${Api}/...`, which the local
  cloud serves (services/apigateway.py). This is the only change to the
  template (`localize_api_urls`).
* `Rules` - assertions evaluated as CloudFormation does when a stack or
  change set is created (`check_rules`).
* `Fn::Transform` with `AWS::Include` - the snippet at `Location` (YAML or
  JSON; `sam deploy` uploads a local file and names its S3 URI) takes the
  place of the function, before the SAM transform (`apply_includes`).
"""

from __future__ import annotations

import json
import re

from ...server.address import DEFAULT_PORT, EXECUTE_API_PREFIX, endpoint_for

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
# `${AWS::URLSuffix}` or SAM hello-world's literal `amazonaws.com`, as a Fn::Sub writes it
_EXECUTE_API = re.compile(
    r"https://\$\{([A-Za-z0-9]+)\}\.execute-api\.\$\{AWS::Region\}\.(?:\$\{AWS::URLSuffix\}|amazonaws\.com)"
)


# --- SAM transform -----------------------------------------------------------------


class _NoManagedPolicies:
    """Managed policy names resolve to AWS's ARN pattern (moto has no list of them to load)."""

    def load(self) -> dict:
        return _ManagedPolicyMap()


class _ManagedPolicyMap(dict):
    def get(self, name, default=None):
        return f"arn:aws:iam::aws:policy/{name}"

    def __contains__(self, name):
        return True

    def __getitem__(self, name):
        return self.get(name)


def uses_sam(template: dict) -> bool:
    transform = template.get("Transform") if isinstance(template, dict) else None
    names = transform if isinstance(transform, list) else [transform]
    return SAM_TRANSFORM in names


def sam_transform(template: dict, parameters: dict | None = None) -> dict:
    """The plain CloudFormation template aws-sam-translator makes of a SAM template."""
    from samtranslator.translator.transform import transform

    translated = transform(template, dict(parameters or {}), _NoManagedPolicies())
    return json.loads(json.dumps(translated))  # plain dicts / lists only


def _localize_join(parts: list, endpoint: str):
    """["https://", {"Ref": Api}, ".execute-api.", {"Ref": "AWS::Region"}, ".amazonaws.com/Prod"] -> local."""
    out, i = [], 0
    while i < len(parts):
        window = parts[i:i + 5]
        if (len(window) == 5 and window[0] == "https://" and isinstance(window[1], dict) and "Ref" in window[1]
                and window[2] == ".execute-api." and window[3] == {"Ref": "AWS::Region"}
                and isinstance(window[4], str) and window[4].startswith(".amazonaws.com")):
            out += [endpoint.rstrip("/") + EXECUTE_API_PREFIX, window[1],
                    window[4][len(".amazonaws.com"):]]
            i += 5
        else:
            out.append(localize_api_urls(parts[i], endpoint))
            i += 1
    return out


def localize_api_urls(node, endpoint: str | None = None):
    """Point execute-api URLs in `Fn::Sub` strings (and the plain `Fn::Join` form) at the local API route."""
    endpoint = endpoint or endpoint_for(DEFAULT_PORT)
    base = endpoint.rstrip("/") + EXECUTE_API_PREFIX + "${\\1}"
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if (key == "Fn::Join" and isinstance(value, list) and len(value) == 2 and value[0] == ""
                    and isinstance(value[1], list)):
                out[key] = ["", _localize_join(value[1], endpoint)]
            elif key == "Fn::Sub" and isinstance(value, str):
                out[key] = _EXECUTE_API.sub(base, value)
            elif key == "Fn::Sub" and isinstance(value, list) and value and isinstance(value[0], str):
                out[key] = [_EXECUTE_API.sub(base, value[0])] + [localize_api_urls(v, endpoint) for v in value[1:]]
            else:
                out[key] = localize_api_urls(value, endpoint)
        return out
    if isinstance(node, list):
        return [localize_api_urls(v, endpoint) for v in node]
    return node


INCLUDE = "AWS::Include"


class IncludeFailed(Exception):
    pass


def apply_includes(node, read):
    """`node` with every `{"Fn::Transform": {"Name": "AWS::Include", "Parameters": {"Location": ...}}}`
    replaced by the snippet `read(location)` gives (text in YAML or JSON)."""
    if isinstance(node, dict):
        transform = node.get("Fn::Transform") if len(node) == 1 else None
        if isinstance(transform, dict) and transform.get("Name") == INCLUDE:
            location = (transform.get("Parameters") or {}).get("Location")
            if not isinstance(location, str):
                raise IncludeFailed("AWS::Include needs Parameters.Location: the S3 URI of the snippet")
            return apply_includes(_snippet(read(location), location), read)
        return {key: apply_includes(value, read) for key, value in node.items()}
    if isinstance(node, list):
        return [apply_includes(value, read) for value in node]
    return node


def _snippet(text: str, location: str):
    import yaml

    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise IncludeFailed(f"the AWS::Include snippet at {location} is neither JSON nor YAML: {exc}") from None


def process(template, endpoint: str | None = None, read=None):
    """What the local cloud at `endpoint` deploys for a parsed template (`read(location)`: an included snippet)."""
    if isinstance(template, dict) and read is not None and INCLUDE in json.dumps(template):
        template = apply_includes(template, read)
    if isinstance(template, dict) and uses_sam(template):
        template = sam_transform(template)
    if isinstance(template, dict):
        template = localize_api_urls(template, endpoint)
    return template


# --- Rules --------------------------------------------------------------------------------


class RuleFailed(Exception):
    pass


def _rule_value(node, context: dict):
    if isinstance(node, dict) and len(node) == 1:
        (key, value), = node.items()
        if key == "Ref":
            return context.get(value)
        if key == "Fn::Equals":
            a, b = (_rule_value(v, context) for v in value)
            return str(a) == str(b)
        if key == "Fn::Not":
            return not _rule_value(value[0], context)
        if key == "Fn::And":
            return all(_rule_value(v, context) for v in value)
        if key == "Fn::Or":
            return any(_rule_value(v, context) for v in value)
        if key == "Fn::Contains":
            haystack, needle = (_rule_value(v, context) for v in value)
            return needle in (haystack or [])
        if key == "Fn::EachMemberEquals":
            items, wanted = (_rule_value(v, context) for v in value)
            return all(str(i) == str(wanted) for i in items or [])
        if key == "Fn::EachMemberIn":
            items, allowed = (_rule_value(v, context) for v in value)
            return all(i in (allowed or []) for i in items or [])
        if key == "Fn::Split":
            return str(_rule_value(value[1], context)).split(value[0])
        return {key: _rule_value(value, context)}
    if isinstance(node, list):
        return [_rule_value(v, context) for v in node]
    return node


def check_rules(template: dict, parameters: dict, region: str, account_id: str) -> None:
    """Raise RuleFailed with the AssertDescription of the first failing assertion."""
    rules = template.get("Rules") if isinstance(template, dict) else None
    if not isinstance(rules, dict):
        return
    context = {"AWS::Region": region, "AWS::AccountId": account_id, "AWS::Partition": "aws",
               "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": "", "AWS::NoValue": None}
    for name, spec in (template.get("Parameters") or {}).items():
        if isinstance(spec, dict) and "Default" in spec:
            context[name] = spec["Default"]
    context.update(parameters or {})
    for name, rule in rules.items():
        if "RuleCondition" in rule and not _rule_value(rule["RuleCondition"], context):
            continue
        for assertion in rule.get("Assertions", []):
            if not _rule_value(assertion.get("Assert"), context):
                raise RuleFailed(assertion.get("AssertDescription")
                                 or f"Template error: rule {name} failed")
