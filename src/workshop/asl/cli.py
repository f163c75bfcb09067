"""`workshop asl ...`: validate and draw state machine definitions.

    workshop asl validate FILE... [--json]
    workshop asl graph FILE [--format mermaid|svg]

`validate` exits 0 when every file is OK, 1 when any FAILs, 2 on a usage
error. A file that cannot be read is reported as a FAIL with a diagnostic,
never as a crash. It is called on hundreds of files in one batch, so only the
validator is imported (no renderer, no JSONata unless a file uses it).
"""

from __future__ import annotations

import argparse
import json
import sys


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workshop asl", description="Amazon States Language tools.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = commands.add_parser("validate", help="check definitions the way ValidateStateMachineDefinition does")
    check.add_argument("files", nargs="+", metavar="FILE", help="ASL definition files (.asl.json)")
    check.add_argument("--json", action="store_true", help="one JSON object per file per line")
    draw = commands.add_parser("graph", help="draw a definition as Mermaid text or SVG")
    draw.add_argument("file", metavar="FILE")
    draw.add_argument("--format", choices=("mermaid", "svg"), default="mermaid")
    return parser


def _read(path: str) -> tuple[str | None, str | None]:
    """Return (text, None) or (None, reason the file cannot be read)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        return None, exc.strerror or str(exc)
    try:
        return data.decode("utf-8-sig"), None  # tolerate a BOM, as editors on Windows write one
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 text ({exc.reason} at byte {exc.start})"


def validate_file(path: str) -> dict:
    from workshop.asl.validator import validate

    text, problem = _read(path)
    if problem:
        return {
            "result": "FAIL",
            "diagnostics": [{
                "severity": "ERROR",
                "code": "UNREADABLE_FILE",
                "message": f"Cannot read {path}: {problem}. Check the path and the file's permissions.",
                "location": "/",
            }],
        }
    return validate(text)


def _print_readable(path: str, outcome: dict, out):
    diagnostics = outcome["diagnostics"]
    out.write(f"{path}: {outcome['result']}" + (f" ({len(diagnostics)} diagnostic(s))" if diagnostics else "") + "\n")
    for item in diagnostics:
        out.write(f"  {item['severity']:<7} {item['code']} at {item['location']}\n")
        out.write(f"          {item['message']}\n")


def _validate(args) -> int:
    out = sys.stdout
    failed = 0
    for path in args.files:
        outcome = validate_file(path)
        if outcome["result"] == "FAIL":
            failed += 1
        if args.json:
            out.write(json.dumps({"file": path, **outcome}) + "\n")
        else:
            _print_readable(path, outcome, out)
    if not args.json and len(args.files) > 1:
        out.write(f"{len(args.files) - failed} OK, {failed} FAIL\n")
    return 1 if failed else 0


def _graph(args) -> int:
    from workshop.asl.graph import to_mermaid, to_svg

    text, problem = _read(args.file)
    if problem:
        print(f"workshop asl graph: cannot read {args.file}: {problem}", file=sys.stderr)
        return 1
    try:
        definition = json.loads(text)
    except ValueError as exc:
        print(f"workshop asl graph: {args.file} is not valid JSON ({exc}); run `workshop asl validate` on it.",
              file=sys.stderr)
        return 1
    sys.stdout.write(to_svg(definition) if args.format == "svg" else to_mermaid(definition))
    sys.stdout.write("\n")
    return 0


def main(argv=None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    if args.command == "validate":
        return _validate(args)
    return _graph(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
