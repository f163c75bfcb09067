"""`workshop asl validate`, in-process (tests/functional/asl/test_asl_cli.py runs it as a user does, as a command)."""

from workshop.asl.cli import main


def test_directory_and_binary_files_are_fails(tmp_path):
    binary = tmp_path / "bin.asl.json"
    binary.write_bytes(b"\x89PNG\xff\xfe")
    assert main(["validate", "--json", str(tmp_path), str(binary)]) == 1
