"""The class's generated accounts: names usable as OS users, passwords checked, the file private."""

from pathlib import Path

import pytest

from workshop.classroom.accounts import FACILITATOR, Accounts, AccountsError, check_name
from workshop.classroom.hub import shared_to_everyone


def test_accounts_are_made_saved_privately_and_checked(tmp_path):
    accounts = Accounts.create("demo", ["ana", "ben"])
    assert set(accounts.passwords()) == {"ana", "ben", FACILITATOR}
    assert len(set(accounts.passwords().values())) == 3
    path = accounts.save(tmp_path / "class" / "accounts.json")
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    again = Accounts.load(path)
    assert again.check("ana", accounts.learners["ana"])
    assert not again.check("ana", accounts.learners["ben"]) and not again.check("ana", "")
    assert not again.check("nobody", accounts.learners["ana"])


@pytest.mark.parametrize("name", ["Ana", "1ana", "ana/../x", "a" * 40, "", "root user"])
def test_a_name_that_cannot_be_an_os_user_is_refused(name):
    with pytest.raises(AccountsError, match="not usable as a hub and OS user name"):
        check_name(name)


def test_the_facilitators_name_and_unknown_modes_are_refused():
    with pytest.raises(AccountsError, match="facilitator's account"):
        Accounts.create("demo", ["facilitator"])
    with pytest.raises(AccountsError, match="class mode 'laptop'"):
        Accounts.create("laptop", ["ana"])


def test_a_missing_or_broken_accounts_file_says_what_to_do(tmp_path):
    with pytest.raises(AccountsError, match="start the class with `make class`"):
        Accounts.load(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(AccountsError, match="delete it and start the class again"):
        Accounts.load(tmp_path / "bad.json")


def test_a_folder_closed_to_other_users_is_named(tmp_path):
    closed = tmp_path / "closed"
    (closed / "inside").mkdir(parents=True)
    (closed / "inside" / "file").write_text("x")
    closed.chmod(0o700)
    problem = shared_to_everyone(closed / "inside" / "file")
    assert problem and "is not open to other users (mode drwx------)" in problem
    assert shared_to_everyone(Path("/usr/bin/env")) is None


def test_the_demo_spawner_gives_each_learner_a_private_home_of_their_own(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from workshop.classroom.accounts import demo_spawner_class

    spawner = demo_spawner_class()(user=SimpleNamespace(name="ana", url="/user/ana/", server=None,
                                                        escaped_name="ana"), home_root=str(tmp_path))
    assert spawner.user_env({}) == {"USER": "ana", "HOME": str(tmp_path / "ana"), "SHELL": "/bin/bash"}
    monkeypatch.chdir(tmp_path)
    spawner.make_preexec_fn("ana")()  # what runs in the server's process before it starts
    import os

    assert os.getcwd() == str(tmp_path / "ana") and (tmp_path / "ana").stat().st_mode & 0o777 == 0o700
    evil = demo_spawner_class()(user=SimpleNamespace(name="../x", url="/", server=None, escaped_name="x"),
                                home_root=str(tmp_path))
    with pytest.raises(AccountsError):
        evil.user_env({})
