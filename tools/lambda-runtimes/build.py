"""Build the libraries the local cloud's Lambda runtimes provide (`make lambda-runtimes`).

For every `python/requirements-3.X.txt` whose Python is installed here (found
as the local cloud finds it: `workshop.localcloud.services.awslambda.runtimes.find_python`),
install exactly those pinned wheels from PyPI into `python/3.X/` and compile
them with that interpreter, so a python3.X function imports boto3 as Lambda's
python3.X runtime ships it, and nothing else. A folder is rebuilt only when
its requirements change (`.complete` holds their digest).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess  # nosec B404: pip and compileall as argument lists, no shell
import sys
from pathlib import Path

from workshop.localcloud.services.awslambda.runtimes import find_python

HERE = Path(__file__).resolve().parent


def build(requirements: Path) -> str:
    version = requirements.stem.split("-", 1)[1]
    interpreter = find_python(version)
    if interpreter is None:
        return f"python{version}: not installed here, skipped (python{version} functions are refused)"
    target = HERE / "python" / version
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    stamp = target / ".complete"
    if stamp.is_file() and stamp.read_text().strip() == digest:
        return f"python{version}: up to date ({target})"
    shutil.rmtree(target, ignore_errors=True)
    staging = target.with_name(version + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
           "--only-binary=:all:", "--python-version", version, "--target", str(staging), "-r", str(requirements)]
    subprocess.run(pip, check=True)  # nosec B603: this pip, pinned requirements, no shell
    subprocess.run([interpreter, "-m", "compileall", "-q", str(staging)], check=True)  # nosec B603: that interpreter compiling the folder it gets, no shell
    staging.rename(target)
    stamp.write_text(digest + "\n")
    return f"python{version}: built with {interpreter} ({target})"


def main() -> int:
    for requirements in sorted((HERE / "python").glob("requirements-3.*.txt")):
        print(build(requirements))
    return 0


if __name__ == "__main__":
    sys.exit(main())
