"""What the Amazon States Language allows: field sets, operators, limits.

Kept as plain tables so the validator reads as rules, and so the tables can be
compared line by line with the spec (https://states-language.net/) and the
Step Functions developer guide.
"""

from __future__ import annotations

import re

STATE_TYPES = ("Pass", "Task", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map")
QUERY_LANGUAGES = ("JSONPath", "JSONata")

TOP_LEVEL_FIELDS = {"Comment", "StartAt", "States", "Version", "TimeoutSeconds", "QueryLanguage"}
# A Parallel branch or Map processor is a nested state machine with fewer fields.
BRANCH_FIELDS = {"Comment", "StartAt", "States"}
ITERATOR_FIELDS = {"Comment", "StartAt", "States", "ProcessorConfig"}

_COMMON = {"Type", "Comment", "QueryLanguage"}
_FLOW = {"Next", "End"}

# Fields allowed per state type when the state uses JSONPath.
JSONPATH_FIELDS = {
    "Pass": _COMMON | _FLOW | {"InputPath", "OutputPath", "ResultPath", "Parameters", "Result", "Assign"},
    "Task": _COMMON | _FLOW | {
        "InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "Retry", "Catch",
        "Resource", "TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds", "HeartbeatSecondsPath",
        "Credentials", "Assign",
    },
    "Choice": _COMMON | {"InputPath", "OutputPath", "Choices", "Default", "Assign"},
    "Wait": _COMMON | _FLOW | {"InputPath", "OutputPath", "Seconds", "Timestamp", "SecondsPath", "TimestampPath", "Assign"},
    "Succeed": _COMMON | {"InputPath", "OutputPath"},
    "Fail": _COMMON | {"Error", "Cause", "ErrorPath", "CausePath"},
    "Parallel": _COMMON | _FLOW | {
        "InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "Retry", "Catch", "Branches", "Assign",
    },
    "Map": _COMMON | _FLOW | {
        "InputPath", "OutputPath", "ResultPath", "Parameters", "ItemSelector", "ResultSelector", "Retry", "Catch",
        "ItemsPath", "ItemProcessor", "Iterator", "ItemReader", "ItemBatcher", "ResultWriter",
        "MaxConcurrency", "MaxConcurrencyPath", "ToleratedFailurePercentage", "ToleratedFailurePercentagePath",
        "ToleratedFailureCount", "ToleratedFailureCountPath", "Label", "Assign",
    },
}

# Fields allowed per state type when the state uses JSONata.
JSONATA_FIELDS = {
    "Pass": _COMMON | _FLOW | {"Output", "Assign"},
    "Task": _COMMON | _FLOW | {
        "Arguments", "Output", "Assign", "Retry", "Catch", "Resource", "TimeoutSeconds", "HeartbeatSeconds", "Credentials",
    },
    "Choice": _COMMON | {"Choices", "Default", "Output", "Assign"},
    "Wait": _COMMON | _FLOW | {"Seconds", "Timestamp", "Output", "Assign"},
    "Succeed": _COMMON | {"Output"},
    "Fail": _COMMON | {"Error", "Cause"},
    "Parallel": _COMMON | _FLOW | {"Arguments", "Output", "Assign", "Retry", "Catch", "Branches"},
    "Map": _COMMON | _FLOW | {
        "Items", "ItemSelector", "ItemProcessor", "ItemReader", "ItemBatcher", "ResultWriter", "MaxConcurrency",
        "ToleratedFailurePercentage", "ToleratedFailureCount", "Label", "Output", "Assign", "Retry", "Catch",
    },
}

# Fields that exist only in one language; used to explain a misplaced field.
JSONPATH_ONLY = {
    "InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "Result", "ItemsPath", "Iterator",
    "TimeoutSecondsPath", "HeartbeatSecondsPath", "SecondsPath", "TimestampPath", "ErrorPath", "CausePath",
    "MaxConcurrencyPath", "ToleratedFailurePercentagePath", "ToleratedFailureCountPath",
}
JSONATA_ONLY = {"Arguments", "Output", "Items", "Condition"}

# Map fields that only make sense for a Distributed Map (ProcessorConfig.Mode = DISTRIBUTED).
DISTRIBUTED_ONLY = (
    "ItemReader", "ItemBatcher", "ResultWriter", "ToleratedFailurePercentage", "ToleratedFailurePercentagePath",
    "ToleratedFailureCount", "ToleratedFailureCountPath", "Label",
)

RETRIER_FIELDS = {"ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds", "JitterStrategy", "Comment"}
CATCHER_FIELDS_JSONPATH = {"ErrorEquals", "Next", "ResultPath", "Assign", "Comment"}
CATCHER_FIELDS_JSONATA = {"ErrorEquals", "Next", "Output", "Assign", "Comment"}

# Error names Step Functions defines; any other "States." name is reserved and refused.
PREDEFINED_ERRORS = {
    "States.ALL", "States.DataLimitExceeded", "States.ExceedToleratedFailureThreshold", "States.HeartbeatTimeout",
    "States.Http.Socket", "States.IntrinsicFailure", "States.ItemReaderFailed", "States.NoChoiceMatched",
    "States.ParameterPathFailure", "States.Permissions", "States.ResultPathMatchFailure", "States.ResultWriterFailed",
    "States.Runtime", "States.TaskFailed", "States.Timeout", "States.BranchFailed", "States.QueryEvaluationError",
}

# Choice rule comparison operators and the JSON type of their operand.
COMPARISONS: dict[str, str] = {}
for _op in ("StringEquals", "StringLessThan", "StringGreaterThan", "StringLessThanEquals", "StringGreaterThanEquals"):
    COMPARISONS[_op] = "string"
    COMPARISONS[_op + "Path"] = "path"
COMPARISONS["StringMatches"] = "string"
for _op in ("NumericEquals", "NumericLessThan", "NumericGreaterThan", "NumericLessThanEquals", "NumericGreaterThanEquals"):
    COMPARISONS[_op] = "number"
    COMPARISONS[_op + "Path"] = "path"
COMPARISONS["BooleanEquals"] = "boolean"
COMPARISONS["BooleanEqualsPath"] = "path"
for _op in ("TimestampEquals", "TimestampLessThan", "TimestampGreaterThan", "TimestampLessThanEquals",
            "TimestampGreaterThanEquals"):
    COMPARISONS[_op] = "timestamp"
    COMPARISONS[_op + "Path"] = "path"
for _op in ("IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp"):
    COMPARISONS[_op] = "boolean"
del _op

# Limits from the Step Functions quotas page and the ASL spec.
MAX_STATE_NAME = 80
MAX_LABEL = 40
MAX_VARIABLE_NAME = 80
MAX_SECONDS = 99999999  # TimeoutSeconds, HeartbeatSeconds, Wait Seconds, IntervalSeconds, MaxAttempts
MAX_DELAY_SECONDS = 31622400  # Retry MaxDelaySeconds must be < 31622401

# Control characters are not allowed in state names (U+0000-U+001F, U+007F-U+009F).
CONTROL_CHARS = re.compile("[\x00-\x1f\x7f-\x9f]")
# Map Label: no whitespace, no control characters, none of these.
LABEL_FORBIDDEN = re.compile(r"[\s\x00-\x1f\x7f-\x9f?*<>{}\[\]:;,\\|^~$#%&`\"']")

# RFC 3339 timestamp as Step Functions accepts it (upper-case T and Z).
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")

# A `${Name}` placeholder replaced by SAM/CloudFormation DefinitionSubstitutions.
PLACEHOLDER = re.compile(r"\$\{[^}]+\}")

# Task Resource ARNs (https://docs.aws.amazon.com/step-functions/latest/dg/state-task.html).
_PARTITION = r"aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b|aws-iso-e|aws-iso-f"
_REGION = r"[a-z]{2}(-[a-z]+)+-\d"
PARTITION = re.compile(_PARTITION)
REGION = re.compile(_REGION)
ACCOUNT = re.compile(r"\d{12}")
LAMBDA_ARN = re.compile(
    rf"arn:({_PARTITION}):lambda:{_REGION}:\d{{12}}:function:[A-Za-z0-9_-]{{1,64}}(:(\$LATEST|[A-Za-z0-9_-]{{1,128}}))?"
)
ACTIVITY_ARN = re.compile(rf"arn:({_PARTITION}):states:{_REGION}:\d{{12}}:activity:[^\s:]{{1,80}}")
# Service integrations: arn:aws:states:::service:action[.sync|.sync:2|.waitForTaskToken]
# (aws-sdk integrations have one more segment: arn:aws:states:::aws-sdk:s3:getObject).
INTEGRATION_ARN = re.compile(
    rf"arn:({_PARTITION}):states:::[a-z0-9-]+(:[A-Za-z0-9-]+)?:[A-Za-z][A-Za-z0-9]*(\.sync(:2)?|\.waitForTaskToken)?"
)
