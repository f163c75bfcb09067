# Security Orchestrator Workshop. `make test` sets everything up itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.setup-done
SCAN_VENV  := .venv-scan
SCAN_STAMP := $(SCAN_VENV)/.setup-done
# JupyterHub's proxy for `make class`, from npm (class/package-lock.json)
CLASS_PROXY_STAMP := class/node_modules/.package-lock.json
export SAM_CLI_TELEMETRY := 0

.PHONY: setup class chromium bubblewrap lambda-runtimes asl-reference asl-calibration test unit functional e2e browser local workshop lab lab-like-aws approvals bench lint scan scan-tools clean

setup: $(STAMP) bubblewrap

# Re-run only when the dependencies change; pip installs exact versions from
# constraints.txt (the lock: regenerate with `make lock`).
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test,class]'
	# papermill and JupyterLab run notebooks with this venv's kernel.
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (workshop)" >/dev/null
	touch $(STAMP)

lock:
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

# Debian's Chromium for the browser tests (Playwright drives it; nothing downloads a browser).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# Debian's bubblewrap: the local cloud runs Lambda workers in a sandbox with it (docs/local-cloud.md).
# Installed where it can be (root, or sudo without a password, and apt-get); elsewhere this says
# so and goes on: the local cloud then fences functions with Landlock, or warns at every start.
bubblewrap:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; \
	  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO=sudo; \
	  else SUDO=none; fi; \
	  if [ "$$SUDO" = none ] || ! command -v apt-get >/dev/null 2>&1; then \
	    echo "bubblewrap is not installed, and installing it needs root (or sudo) and apt-get: Lambda functions will run without its sandbox (apt-get install bubblewrap adds it)." >&2; \
	  else \
	    echo "Installing Debian's bubblewrap for the Lambda sandbox"; \
	    { $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq bubblewrap >/dev/null; } \
	      || echo "could not install bubblewrap: Lambda functions will run without its sandbox (apt-get install bubblewrap adds it)." >&2; \
	  fi; }

# What the local cloud's Lambda runtimes provide besides a function's package, as Lambda
# ships it (tools/lambda-runtimes/README.md): boto3 per installed python3.X from the pinned
# requirements, and the AWS SDK for JavaScript v3 from the npm lock (when npm is here).
LAMBDA_RUNTIMES := tools/lambda-runtimes
LAMBDA_NODE_STAMP := $(LAMBDA_RUNTIMES)/nodejs/node_modules/.package-lock.json

lambda-runtimes: setup $(LAMBDA_NODE_STAMP)
	@$(BIN)/python $(LAMBDA_RUNTIMES)/build.py

$(LAMBDA_NODE_STAMP): $(LAMBDA_RUNTIMES)/nodejs/package-lock.json $(LAMBDA_RUNTIMES)/nodejs/package.json
	@command -v npm >/dev/null 2>&1 || { echo "npm not found: nodejs functions get no AWS SDK (install Node.js 18+ and npm)"; exit 0; }
	cd $(LAMBDA_RUNTIMES)/nodejs && npm ci --no-audit --no-fund --loglevel=error
	touch $(LAMBDA_NODE_STAMP)

# The two outside ASL validators the kit's validator is calibrated against
# (tools/asl-reference/README.md): installed from the lock, re-run when it changes.
ASL_REFERENCE := tools/asl-reference
ASL_REFERENCE_STAMP := $(ASL_REFERENCE)/node_modules/.package-lock.json

asl-reference: $(ASL_REFERENCE_STAMP)

$(ASL_REFERENCE_STAMP): $(ASL_REFERENCE)/package-lock.json $(ASL_REFERENCE)/package.json
	@command -v npm >/dev/null 2>&1 || { echo "The ASL calibration needs Node.js 18+ and npm on PATH." >&2; exit 1; }
	cd $(ASL_REFERENCE) && npm ci --no-audit --no-fund --loglevel=error
	touch $(ASL_REFERENCE_STAMP)

# build/asl-calibration.md: where the kit's validator and the references disagree, and why.
asl-calibration: setup asl-reference
	$(BIN)/python $(ASL_REFERENCE)/calibrate.py

# The scanners in a venv of their own: checkov pins boto3, networkx and pydantic
# far from the kit's lock. Exact versions in tools/scan-constraints.txt.
scan-tools: $(SCAN_STAMP)

$(SCAN_STAMP): tools/scan-constraints.txt
	rm -rf $(SCAN_VENV)
	$(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/pip install --quiet -c tools/scan-constraints.txt checkov bandit
	touch $(SCAN_STAMP)

# checkov on template.yaml, bandit on src/; each finding fixed or suppressed
# where it stands with a reason (tools/security_scan.py says how).
scan: scan-tools
	$(SCAN_VENV)/bin/python tools/security_scan.py

# Two pytest-xdist workers per core (at most 8): the suite waits on processes it starts (late events,
# time limits, deploys), so one per core leaves cores idle; docs/performance.md has the runs. The unit
# tests only compute: one worker per core. `--dist loadgroup` keeps together the tests that share a
# session's processes (tests/conftest.py names the groups: the session's local cloud and its stack, the
# timeout stack, the AWS-like cloud, the class's hub); tests/functional/test_worker_groups.py checks that
# the pinned pytest and pytest-xdist still honour it. `make test WORKERS=1` runs in one process.
# The scan is one of the tests (tests/functional/test_security_scan.py).
CORES := $(shell nproc 2>/dev/null || echo 2)
WORKERS ?= $(shell w=$$(( $(CORES) * 2 )); [ $$w -gt 8 ] && w=8; echo $$w)
parallel = $(if $(filter-out 1,$(1)),-n $(1) --dist loadgroup --no-loadscope-reorder)
PARALLEL = $(call parallel,$(WORKERS))
UNIT_WORKERS ?= $(CORES)
# The tests start many Python processes that import the same modules: let them keep their bytecode
# (__pycache__, ignored by git) even where the environment asks Python not to write it.
unexport PYTHONDONTWRITEBYTECODE

test: setup chromium bubblewrap lambda-runtimes asl-reference $(CLASS_PROXY_STAMP) scan-tools
	$(BIN)/pytest $(PARALLEL)

# No process, no socket: the unit tests need nothing but the venv.
unit: setup
	$(BIN)/pytest tests/unit $(call parallel,$(UNIT_WORKERS))

functional: setup bubblewrap lambda-runtimes asl-reference scan-tools
	$(BIN)/pytest tests/functional $(PARALLEL)

e2e: setup bubblewrap lambda-runtimes $(CLASS_PROXY_STAMP)
	$(BIN)/pytest tests/e2e $(PARALLEL)

browser: setup chromium bubblewrap lambda-runtimes $(CLASS_PROXY_STAMP)
	$(BIN)/pytest tests/browser $(PARALLEL)

lint: setup
	$(BIN)/sam validate --lint --template template.yaml
	$(BIN)/cfn-lint template.yaml

# The local cloud in the foreground (Ctrl-C stops it).
local: setup lambda-runtimes
	$(BIN)/workshop local up

workshop: setup lambda-runtimes
	$(BIN)/python scripts/run_workshop.py

lab: setup lambda-runtimes
	$(BIN)/python scripts/run_lab.py

# A JupyterHub for a class on this machine: a local cloud per learner, the facilitator's view
# (scripts/run_class.py, class/jupyterhub_config.py, docs/facilitator.md). JupyterHub's proxy
# comes from npm, pinned by class/package-lock.json.
$(CLASS_PROXY_STAMP): class/package-lock.json class/package.json
	@command -v npm >/dev/null 2>&1 || { echo "make class needs Node.js 18+ and npm on PATH (JupyterHub's proxy)." >&2; exit 1; }
	cd class && npm ci --no-audit --no-fund --loglevel=error
	touch $(CLASS_PROXY_STAMP)

class: setup bubblewrap lambda-runtimes $(CLASS_PROXY_STAMP)
	$(BIN)/python scripts/run_class.py

# Rehearse the AWS path without an account: the AWS-like local cloud, the notebooks on the AWS target.
lab-like-aws: setup lambda-runtimes
	$(BIN)/python scripts/run_lab.py --like-aws

# The approval panel on its own page (Voila), for a workshop leader's screen.
approvals: setup
	$(BIN)/python scripts/run_approvals.py

bench: setup lambda-runtimes $(CLASS_PROXY_STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf build .aws-sam .pytest_cache .hypothesis $(ASL_REFERENCE)/node_modules \
	  $(LAMBDA_RUNTIMES)/nodejs/node_modules $(LAMBDA_RUNTIMES)/python/3.*/ class/node_modules
