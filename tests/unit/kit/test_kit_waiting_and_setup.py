"""The waiting helper's timeout message and the set-up check's messages."""

import pytest

from workshop.teaching.setup_check import check_setup, check_tools
from workshop.waiting import WaitTimeout, wait_for


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_wait_returns_the_first_truthy_value():
    values = iter([None, "", "RUNNING-done"])
    clock = FakeClock()
    assert wait_for(lambda: next(values), what="x", timeout=5, progress=False,
                    clock=clock, sleep=clock.sleep) == "RUNNING-done"


def test_timeout_message_says_what_how_long_last_seen_and_what_to_do():
    clock = FakeClock()
    with pytest.raises(WaitTimeout) as caught:
        wait_for(lambda: None, what="the execution to reach AskUser", timeout=3, interval=0.5,
                 describe=lambda _: "at TempRemove", hint="Check the RevertPolicy logs.",
                 progress=False, clock=clock, sleep=clock.sleep)
    message = str(caught.value)
    assert message == ("Gave up after 3 s waiting for the execution to reach AskUser. "
                       "Last seen: at TempRemove. Check the RevertPolicy logs.")
    assert caught.value.last_seen == "at TempRemove"
    assert clock.now == pytest.approx(3.0)


def test_wait_with_a_progress_bar_still_times_out():
    clock = FakeClock()
    with pytest.raises(WaitTimeout, match="Gave up after 1 s"):
        wait_for(lambda: None, what="nothing", timeout=1, clock=clock, sleep=clock.sleep)


def test_missing_tool_says_how_to_install_it():
    [_, sam, _] = check_tools(tools=("no-such-tool-xyz",))
    assert not sam.ok and "`no-such-tool-xyz` is not installed" in sam.message and "make lab" in sam.fix


def test_aws_target_outside_us_east_1_and_without_credentials(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    report = check_setup(target="aws", tools=())
    text = report.text()
    assert not report.ok and text.startswith("AWS checklist:")
    assert "[warn] region: your AWS configuration says region eu-west-1" in text and "nothing to change" in text
    assert "[FAIL] AWS account: no AWS credentials found" in text and "aws configure" in text
    assert [c.name for c in report.problems()] == ["AWS account"]  # the region alone never stops the workshop
    assert "problem(s)" in report._repr_html_() and "⚠️" in report._repr_html_()


def test_the_bar_shows_progress_from_the_start_and_never_0_of_0():
    import io
    import time as real_time

    from tqdm import tqdm

    from workshop import waiting

    seen = []

    class Capture(tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, file=io.StringIO(), **kwargs)

        def refresh(self, *args, **kwargs):
            seen.append(str(self))
            return super().refresh(*args, **kwargs)

    original = waiting._Progress.__init__

    def patched(self, what, timeout, clock):
        import tqdm.auto

        saved = tqdm.auto.tqdm
        tqdm.auto.tqdm = Capture
        try:
            original(self, what, timeout, clock)
        finally:
            tqdm.auto.tqdm = saved

    waiting._Progress.__init__ = patched
    try:
        started = real_time.monotonic()
        value = waiting.wait_for(lambda: real_time.sleep(1.3) or "done", what="a slow check", timeout=10)
    finally:
        waiting._Progress.__init__ = original
    assert value == "done" and real_time.monotonic() - started >= 1.2
    first = next(line for line in seen if "of at most" in line)
    assert " 0 s of at most 10 s" in first  # shown at once, before the first check returns
    assert any("1 s of at most 10 s" in line for line in seen)  # it ticked while the check blocked
    assert "done in 1." in seen[-1]
    assert not any("0/0" in line for line in seen)
