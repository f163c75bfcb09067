"""Every endpoint a learner types is checked before anything is sent: the message names the value and the fix."""

import pytest

from workshop.aws.session import checked_endpoint, connect, local_env_command
from workshop.failures import LocalCloudNotAnswering, WrongEndpoint


@pytest.mark.parametrize("typed, says", [
    ("127.0.0.1:4566", 'has no scheme: write "http://127.0.0.1:4566"'),
    ("https://127.0.0.1:4566", 'uses https://, but the local cloud speaks plain HTTP'),
    ("http://127.0.0.1", 'names no port'),
    ("http://127.0.0.1:abc", 'names no port'),
    ("http://example.org:4566", "names the host example.org, but the local cloud listens on this machine only"),
    ("http://127.0.0.1:4566/api", 'has a path after the port: write "http://127.0.0.1:4566"'),
    ("", "is not a URL"),
])
def test_an_endpoint_that_cannot_be_the_local_cloud_is_refused_with_the_fix(typed, says):
    with pytest.raises(WrongEndpoint) as refused:
        checked_endpoint(typed)
    assert says in str(refused.value) and repr(typed) in str(refused.value)
    screen = refused.value._render_traceback_()
    assert len(screen) == 1 and "WrongEndpoint" in screen[0]  # one line, no frames


def test_https_is_answered_with_the_http_spelling():
    with pytest.raises(WrongEndpoint, match='write "http://127.0.0.1:4566"'):
        checked_endpoint("https://127.0.0.1:4566")


@pytest.mark.parametrize("typed, used", [("http://127.0.0.1:4566", "http://127.0.0.1:4566"),
                                         (" http://localhost:4567/ ", "http://localhost:4567"),
                                         ("http://[::1]:4566", "http://[::1]:4566")])
def test_a_right_endpoint_is_used_as_the_kit_spells_it(typed, used):
    assert checked_endpoint(typed) == used


def test_connect_checks_the_endpoint_before_anything_else(monkeypatch, tmp_path):
    monkeypatch.setenv("WORKSHOP_STATE_DIR", str(tmp_path))
    with pytest.raises(WrongEndpoint, match="has no scheme"):
        connect("local", "127.0.0.1:4566")


def test_a_port_where_nothing_answers_names_the_local_cloud_that_does():
    error = LocalCloudNotAnswering("http://127.0.0.1:4567", elsewhere="http://127.0.0.1:4566")
    text = str(error)
    assert text.startswith("Nothing answers on port 4567 (http://127.0.0.1:4567); your local cloud is on 4566")
    assert 'endpoint = "http://127.0.0.1:4566"' in text and "make local" not in text


def test_how_to_start_it_is_said_once():
    text = str(LocalCloudNotAnswering("http://127.0.0.1:4566"))
    assert "To start it: `make local` in a terminal" in text and "start it with" not in text


def test_the_cli_line_brings_the_local_clouds_key_first(monkeypatch):
    monkeypatch.delenv("WORKSHOP_STATE_DIR", raising=False)
    line = local_env_command("http://127.0.0.1:4570")
    assert line.startswith('eval "$(') and line.endswith('workshop local env --port 4570)"')
    monkeypatch.setenv("WORKSHOP_STATE_DIR", "/tmp/state dir")
    assert "WORKSHOP_STATE_DIR='/tmp/state dir' " in local_env_command("http://127.0.0.1:4570")
