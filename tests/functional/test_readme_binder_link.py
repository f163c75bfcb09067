"""The README's Binder link names this repository's GitHub remote, or the README says there is none yet
(git is asked for the remote; the rest of what the README says is checked in tests/unit/test_readme.py)."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _remote() -> str | None:
    done = subprocess.run(["git", "remote", "get-url", "origin"], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def test_the_binder_link_is_real_or_the_readme_says_there_is_none():
    badge = re.search(r"mybinder\.org/v2/gh/([^/\s]+/[^/\s]+)/HEAD", README)
    remote = _remote()
    github = re.search(r"github\.com[:/]([^/]+/[^/]+?)(?:\.git)?$", remote or "")
    if github:
        assert badge and badge.group(1) == github.group(1), "the Binder link must name " + github.group(1)
    else:
        assert "There is no Binder link yet" in README
        assert "[![Launch on Binder]" not in README  # no badge pointing at a placeholder
