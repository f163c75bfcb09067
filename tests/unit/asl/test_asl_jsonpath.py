"""The JSONPath dialect checks (Path and Reference Path)."""

import pytest

from workshop.asl.jsonpath import check_path, looks_like_path

PATHS = [
    "$", "$$", "$.a", "$.a.b.c", "$['a b']", '$["a"]', "$.a[0]", "$.a[-1]", "$.a[*]", "$.a[*].b", "$..b", "$..[0]",
    "$.a[0:2]", "$.a[:3]", "$.a[1:]", "$.a[::2]", "$.a[0,1]", "$['a','b']", "$.a[?(@.b > 1)]",
    "$.a[?(@.name == 'x)y')]", "$.a.length()", "$.a[(@.length-1)]", "$$.Execution.Id", "$$.Map.Item.Value",
    "$myVar", "$my_var.field[0]", "$.a-b", "$.ünïcode", "$.*",
]


@pytest.mark.parametrize("path", PATHS)
def test_valid_paths(path):
    assert check_path(path) is None


REFERENCE_PATHS = ["$", "$.a", "$.a.b", "$['a b'].c", "$.a[0]", "$.a[12].b"]


@pytest.mark.parametrize("path", REFERENCE_PATHS)
def test_valid_reference_paths(path):
    assert check_path(path, reference=True) is None


@pytest.mark.parametrize(
    "path, fragment",
    [
        ("a.b", "must start with '$'"),
        ("", "must start with '$'"),
        ("$.", "ends with '.'"),
        ("$.a.", "ends with '.'"),
        ("$.a[0", "never closed"),
        ("$.a[]", "empty brackets"),
        ("$.a['b]", "unterminated"),
        ("$.a[?@.b]", "filter"),
        ("$.a[x]", "not an index"),
        ("$.a b", "unexpected ' '"),
        (" $.a", "leading or trailing spaces"),
        ("$.a.length().b", "must come last"),
        ("$.a[(1]", "unbalanced"),
    ],
)
def test_invalid_paths(path, fragment):
    reason = check_path(path)
    assert reason is not None and fragment in reason, reason


@pytest.mark.parametrize(
    "path, fragment",
    [
        ("$.a[*]", "more than one"),
        ("$..a", "deep scan"),
        ("$.*", "wildcard"),
        ("$.a[0:1]", "more than one"),
        ("$.a[?(@.x)]", "more than one"),
        ("$.a.length()", "function"),
        ("$['a','b']", "only one field"),
        ("$.a[-1]", "negative"),
    ],
)
def test_reference_paths_select_one_node(path, fragment):
    assert check_path(path) is None  # fine as an ordinary path...
    reason = check_path(path, reference=True)  # ...but not as a reference path
    assert reason is not None and fragment in reason, reason


def test_context_and_variables_can_be_refused():
    assert "context object" in check_path("$$.Execution", allow_context=False)
    assert "variable" in check_path("$v", allow_variables=False)


def test_looks_like_path():
    assert looks_like_path("$.a") and looks_like_path("$") and looks_like_path("$$.Task.Token")
    assert not looks_like_path("price in $") and not looks_like_path("$5") and not looks_like_path(3)
