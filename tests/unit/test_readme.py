"""The README says true things about the workshop: its Binder link, its reading times, its commands."""

import re
import subprocess
from pathlib import Path

from workshop.teaching.reading_time import reading_times, total_minutes

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


def test_the_reading_times_in_the_readme_are_the_tests_figures():
    times = reading_times()
    for name, reading in times.items():
        row = re.search(rf"\| `{name}` \|[^\n]*\| ([\d.]+) min \|", README)
        assert row, f"{name} has no row in the README's workshop table"
        assert row.group(1) == f"{reading.minutes:.1f}", f"{name}: README {row.group(1)}, measured {reading.minutes:.1f}"
    assert f"today's total is {total_minutes(times):.1f} minutes" in README


def test_every_make_target_the_readme_names_exists():
    makefile = (ROOT / "Makefile").read_text()
    for target in set(re.findall(r"`make ([a-z-]+)[`;\s]", README)):
        assert re.search(rf"^{re.escape(target)}:", makefile, re.M), f"make {target} is not in the Makefile"
