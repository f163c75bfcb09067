# Security Orchestrator Workshop. `make test` sets everything up itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.setup-done
export SAM_CLI_TELEMETRY := 0

.PHONY: setup test unit e2e local workshop lab bench lint clean

setup: $(STAMP)

# Re-run only when the dependencies change; pip installs exact versions from
# constraints.txt (the lock: regenerate with `make lock`).
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	# papermill and JupyterLab run notebooks with this venv's kernel.
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (workshop)" >/dev/null
	touch $(STAMP)

lock:
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

test: setup
	$(BIN)/pytest

unit: setup
	$(BIN)/pytest tests/unit

e2e: setup
	$(BIN)/pytest tests/e2e

lint: setup
	$(BIN)/sam validate --lint --template template.yaml
	$(BIN)/cfn-lint template.yaml

# The local cloud in the foreground (Ctrl-C stops it).
local: setup
	$(BIN)/workshop local up

workshop: setup
	$(BIN)/python scripts/run_workshop.py

lab: setup
	$(BIN)/python scripts/run_lab.py

bench: setup
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf build .aws-sam .pytest_cache .hypothesis
