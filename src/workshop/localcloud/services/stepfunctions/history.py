"""GetExecutionHistory as AWS answers it: pages, order, execution data (`sfn-history-paging`).

moto answered every event at once, oldest first, whatever was asked, with no
nextToken (so boto3's paginator made one page). A mend registered in seams.py
(group "stepfunctions"); the issue text is in docs/upstream.md.
"""

from __future__ import annotations

import base64
import json

HISTORY_PAGE = 100  # AWS's default page; 1000 at most
_DATA_FIELDS = ("input", "output", "inputDetails", "outputDetails")


def history_page(events: list[dict], execution_arn: str, max_results: int = 0, reverse: bool = False,
                 next_token: str | None = None, include_data: bool = True) -> dict:
    """One GetExecutionHistory answer: {"events": [...], "nextToken"?}.

    The token names the execution, the order and the id of the last event
    handed out, so events added while the execution runs are neither skipped
    nor repeated on the next page.
    """
    from moto.stepfunctions.parser.api import InvalidToken

    if max_results < 0 or max_results > 1000:
        from moto.stepfunctions.exceptions import ValidationException

        raise ValidationException(
            f"1 validation error detected: Value '{max_results}' at 'maxResults' failed to satisfy "
            "constraint: Member must have value less than or equal to 1000")
    size = max_results or HISTORY_PAGE
    ordered = sorted(events, key=lambda e: e["id"], reverse=reverse)
    if next_token:
        try:
            token = json.loads(base64.urlsafe_b64decode(next_token.encode()))
            after = int(token["after"]) if token["arn"] == execution_arn and token["reverse"] == reverse else None
        except (ValueError, TypeError, KeyError):
            after = None
        if after is None:  # garbage, or the token of another execution or order
            raise InvalidToken()  # AWS: "Invalid Token: 'Invalid token'"
        ordered = [e for e in ordered if (e["id"] < after if reverse else e["id"] > after)]
    page = ordered[:size]
    if not include_data:
        page = [_without_data(event) for event in page]
    answer = {"events": page}
    if len(ordered) > size:
        answer["nextToken"] = base64.urlsafe_b64encode(json.dumps(
            {"arn": execution_arn, "reverse": reverse, "after": page[-1]["id"]}).encode()).decode()
    return answer


def _without_data(event: dict) -> dict:
    return {key: ({k: v for k, v in value.items() if k not in _DATA_FIELDS}
                  if key.endswith("EventDetails") and isinstance(value, dict) else value)
            for key, value in event.items()}


def history_seam():
    from moto.stepfunctions.responses import StepFunctionResponse

    return StepFunctionResponse, "get_execution_history"


def install_history_pages() -> None:
    """GetExecutionHistory honours maxResults, nextToken, reverseOrder and includeExecutionData.

    moto answered every event at once, oldest first, whatever was asked, with
    no nextToken (so boto3's paginator made one page).
    """
    from moto.core.responses import ActionResult

    cls, name = history_seam()
    if getattr(getattr(cls, name), "_localcloud", False):
        return

    def get_execution_history(self):
        arn = self._get_param("executionArn")
        events = self.stepfunction_backend.get_execution_history(arn)["events"]
        include = self._get_param("includeExecutionData")
        return ActionResult(history_page(
            events, arn, max_results=self._get_int_param("maxResults") or 0,
            reverse=bool(self._get_param("reverseOrder")), next_token=self._get_param("nextToken"),
            include_data=include is None or bool(include)))

    get_execution_history._localcloud = True
    setattr(cls, name, get_execution_history)
