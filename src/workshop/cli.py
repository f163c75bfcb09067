"""The `workshop` command.

Each sub-command lives in its own module and is imported only when it is
used: `workshop asl validate` is called on hundreds of files in a batch, so
this dispatcher must stay import-light (no boto3, no moto here).
"""

import importlib
import sys

# name -> (module with a `main(argv) -> int`, one-line help)
COMMANDS = {
    "asl": ("workshop.asl.cli", "validate and draw Amazon States Language definitions"),
    "local": ("workshop.localcloud.server.cli", "run the local cloud (moto-based AWS on 127.0.0.1)"),
    "deploy": ("workshop.aws.deploy", "sam build + sam deploy to the local cloud or to AWS"),
    "trail": ("workshop.aws.trail", "a CloudTrail trail with its bucket and bucket policy, as AWS accepts it"),
}


def _usage() -> str:
    lines = ["usage: workshop COMMAND [ARGS...]", "", "commands:"]
    for name, (_, text) in COMMANDS.items():
        lines.append(f"  {name:<8} {text}")
    lines.append("")
    lines.append("Run `workshop COMMAND --help` for a command's options.")
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    if argv[0] == "--version":
        from workshop import __version__

        print(__version__)
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"workshop: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
