"""What a fresh interpreter imports for the ASL tools: the validator and TestState stay light.

Each check starts a new Python, because the test run itself has long since
imported moto, boto3 and JSONata.
"""

import subprocess
import sys


def _fresh(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


def test_jsonpath_definitions_do_not_import_jsonata():
    # The CLI budget depends on this: jsonata-python costs tens of ms to import.
    code = (
        "import sys\n"
        "from workshop.asl import validate\n"
        "r = validate({'StartAt': 'A', 'States': {'A': {'Type': 'Pass', 'End': True}}})\n"
        "assert r['result'] == 'OK'\n"
        "print('jsonata' in sys.modules)\n"
    )
    assert _fresh(code).strip() == "False"


def test_the_test_state_import_is_light():
    code = ("import sys, workshop.asl.test_state as t; "
            "print(any(m.startswith(('moto', 'boto3', 'jsonata', 'jsonpath_ng')) for m in sys.modules))")
    assert _fresh(code).strip() == "False"
