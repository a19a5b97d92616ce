# Two commands do all the set-up: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8501

.PHONY: run serve check test lint typecheck imports bench bench-review install browser clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Debian's Chromium for the browser tests (Playwright drives it; no browser download).
browser:
	@command -v chromium >/dev/null 2>&1 || test -x /usr/bin/chromium || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# Served through page_frame:secure_app (Streamlit's ASGI app under uvicorn), which adds
# X-Frame-Options: DENY and frame-ancestors 'none': no other site can frame the console.
run: install
	mkdir -p models artifacts
	TASKCLF_HOME=$(CURDIR) STREAMLIT_BROWSER_GATHER_USAGE_STATS=false STREAMLIT_SERVER_HEADLESS=true \
	  $(BIN)/uvicorn --factory page_frame:secure_app --host 127.0.0.1 --port $(PORT)

# The console for a team (README "Serving the console to a team"): sign-in required. Refuses
# with one line unless .streamlit/secrets.toml (SECRETS=...) configures it; binds ADDRESS.
ADDRESS ?= 0.0.0.0
SECRETS ?= .streamlit/secrets.toml
HOME_DIR ?= $(CURDIR)
# The launcher creates $(HOME_DIR)/models and artifacts itself, after its checks: a refused
# start creates nothing.
serve: install
	@TASKCLF_HOME=$(HOME_DIR) $(BIN)/python -m taskclf_core.console.serve --address $(ADDRESS) --port $(PORT) \
	  --secrets $(SECRETS)

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy taskclf_core

# The layer contracts of pyproject.toml ([tool.importlinter]).
imports: install
	$(BIN)/lint-imports --no-cache

# The inner loop (under 90 s on 2 cores once installed): lint, types, import contracts and
# every test not marked slow or e2e, on both cores, in a random order (the seed is printed).
check: install lint typecheck imports
	STREAMLIT_BROWSER_GATHER_USAGE_STATS=false $(BIN)/python -m pytest -q -p no:cacheprovider \
	  -m "not slow and not e2e" -n 2 -p randomly

# Everything, in file order: the browser tests and the slow ones too (.ci/run calls this).
test: install browser lint typecheck imports
	STREAMLIT_BROWSER_GATHER_USAGE_STATS=false $(BIN)/python -m pytest -q -p no:cacheprovider -p no:randomly

bench: install
	$(BIN)/python -m bench.run

# Ten readers open one run's Review at once against a real server: the server's CPU per
# render (cold, warm) and one browser's time to the headline and the last chart (issue 20).
bench-review: install browser
	$(BIN)/python -m bench.review_load

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
