"""How the kit starts the SAM CLI: the installed `aws-sam-cli`, without jsonschema's IRI checker.

Every `sam` command imports jsonschema, and jsonschema's format checkers import
rfc3987-syntax when it is installed (Jupyter's `format-nongpl` extra installs it
into the same venv). That package builds about 35 Earley parsers when it is
imported: 1.5 s of CPU in every `sam build`, `sam deploy` and `sam validate`
(a third of `sam validate --lint`), paid again at each command. sam checks no
`iri` format, and jsonschema leaves a format unchecked when its checker's
package cannot be imported, so the kit starts the very same CLI (its entry
point, `samcli.cli.main:cli`, in this Python) with that import made to fail,
as the local cloud does for itself (localcloud/server/speedups.py says more).
A `sam` installed elsewhere (no samcli importable here) runs as it is.
"""

from __future__ import annotations

import importlib.util
import sys

# Run as `python -c`: `python -m` would import the kit's packages first, for nothing.
ENTRY = ("import sys; sys.modules.setdefault('rfc3987_syntax', None); "
         "from samcli.cli.main import cli; sys.exit(cli(prog_name='sam'))")


def invocation(found_sam: str | None) -> list[str]:
    """The argv that starts `sam`: this Python running samcli's entry point when samcli is installed here,
    else the `sam` command found on PATH (`found_sam`); [] when there is neither."""
    if importlib.util.find_spec("samcli") is not None:
        return [sys.executable, "-c", ENTRY]
    return [found_sam] if found_sam else []
