# GPT-2 Marginalia: the two commands are `make site` and `make test` (see README).
# Every target sets up what it needs first: a project-local virtual environment from
# hashed, pinned requirements, then the sources, then the build or the tests.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
SUDO   := $(shell [ "$$(id -u)" -ne 0 ] && command -v sudo)

# Builds are reproducible: MkDocs stamps pages and the sitemap with this time.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
export SOURCE_DATE_EPOCH
export NO_MKDOCS_2_WARNING := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

ifneq ($(ALLOW_MISSING),)
export MARGINALIA_ALLOW_MISSING := 1
endif

.PHONY: help site site-zensical serve extract check test bench screenshots lock clean distclean chromium java browser-deps \
        trace trace-venv cite-env cff-check new export

help:
	@echo "make site      set up, fetch the pinned sources, check the notes, build site/ (strict)"
	@echo "make serve     set up, fetch, then live preview on http://127.0.0.1:8000/"
	@echo "make site-zensical  the same build with Zensical instead of MkDocs, into site-zensical/"
	@echo "make test      set up (including Chromium and axe-core), then run every test"
	@echo "make check     check every note (file:line: message)"
	@echo "make extract   fetch and verify the pinned sources into .marginalia/cache"
	@echo "make bench     run the build benchmark (not part of make test)"
	@echo "make trace     run the pinned code on a tiny random model; write the counts to traces/"
	@echo "make new CODEBASE=gpt-2 FILE=src/model.py LINES=25-26   scaffold a note (prints its path)"
	@echo "make export    write every note as W3C Web Annotations (site/annotations.jsonld)"
	@echo "make cff-check validate CITATION.cff with cffconvert (its own venv)"
	@echo "ALLOW_MISSING=1 builds without unreachable upstreams; their pages say 'not extracted'."

# ------------------------------------------------------------------ environments --

$(VENV)/.site-stamp: requirements/site.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes --no-deps -r requirements/site.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

$(VENV)/.test-stamp: requirements/test.txt $(VENV)/.site-stamp
	$(PY) -m pip install --quiet --require-hashes --no-deps -r requirements/test.txt
	@touch $@

# The citation renderer: pandoc 3.9 (inside pypandoc-binary) and the CSL styles, in their own
# hashed environment; the site build runs the binary, no Python code of it is imported.
CITE_VENV := .marginalia/cite-venv
$(CITE_VENV)/.stamp: requirements/cite.txt
	@test -x $(CITE_VENV)/bin/pip || $(PYTHON) -m venv $(CITE_VENV)
	$(CITE_VENV)/bin/pip install --quiet --require-hashes --no-deps -r requirements/cite.txt
	@touch $@

cite-env: $(CITE_VENV)/.stamp

# cffconvert validates CITATION.cff; it pins jsonschema < 4, so it never shares an environment.
CFF_VENV := .marginalia/cff-venv
$(CFF_VENV)/.stamp: requirements/cff.txt
	@test -x $(CFF_VENV)/bin/pip || $(PYTHON) -m venv $(CFF_VENV)
	$(CFF_VENV)/bin/pip install --quiet --require-hashes --no-deps -r requirements/cff.txt
	@touch $@

cff-check: $(CFF_VENV)/.stamp
	$(CFF_VENV)/bin/cffconvert --validate --infile CITATION.cff

chromium:
	@if [ -z "$$MARGINALIA_CHROMIUM" ] && [ ! -x /usr/bin/chromium ]; then \
	  echo "installing Debian's chromium (for the browser tests)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; \
	fi

# Java runs the Nu HTML Checker (vnu-jar, from npm) over the built site in the tests.
java:
	@if ! command -v java >/dev/null 2>&1; then \
	  echo "installing Debian's default-jre-headless (for the HTML validator)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq default-jre-headless >/dev/null; \
	fi

tests/browser/node_modules/.stamp: tests/browser/package.json tests/browser/package-lock.json
	npm ci --prefix tests/browser --no-audit --no-fund --silent
	@touch $@

browser-deps: chromium java tests/browser/node_modules/.stamp

# The trace environment (make trace): Python 3.11, TensorFlow 2.21 (CPU), transformers 5.24.0
# and what the traced scripts import, from a hashed lock; never shared with the site build.
# PyTorch is installed only from a local CPU-only wheel (requirements/trace-torch.txt):
# `--no-index` means pip looks only in its configured find-links folders, or in the folder of
# MARGINALIA_TORCH_WHEEL, and never downloads PyPI's CUDA build. Without one, the PyTorch runs
# are skipped, and say so.
TRACE_PYTHON ?= python3.11
TRACE_VENV   := .marginalia/trace-venv
TRACE_PY     := $(TRACE_VENV)/bin/python
TORCH_LINKS  := $(if $(MARGINALIA_TORCH_WHEEL),--find-links $(dir $(abspath $(MARGINALIA_TORCH_WHEEL))))

$(TRACE_VENV)/.stamp: requirements/trace.txt requirements/trace-torch.txt
	@test -x $(TRACE_PY) || $(TRACE_PYTHON) -m venv $(TRACE_VENV)
	$(TRACE_PY) -m pip install --quiet --require-hashes --no-deps -r requirements/trace.txt
	@if $(TRACE_PY) -m pip install --quiet --no-deps --no-index --require-hashes $(TORCH_LINKS) \
	    -r requirements/trace-torch.txt >/dev/null 2>&1; then \
	  echo "trace: torch 2.13.0+cpu installed from a local wheel"; \
	else echo "trace: no local CPU-only torch 2.13.0 wheel found: the PyTorch runs will be skipped"; fi
	@touch $@

trace-venv: $(TRACE_VENV)/.stamp

# ---------------------------------------------------------------------- the site --

extract: $(VENV)/.site-stamp
	$(PY) -m marginalia extract

check: $(VENV)/.site-stamp
	$(PY) -m marginalia extract --allow-missing
	$(PY) -m marginalia check

site: $(VENV)/.site-stamp cite-env
	$(PY) -m marginalia build

# The same site built by Zensical (Material's successor) into site-zensical/, link-checked alike.
site-zensical: $(VENV)/.site-stamp cite-env
	$(PY) -m marginalia build --generator zensical

serve: $(VENV)/.site-stamp cite-env
	$(PY) -m marginalia serve

# Run the pinned files (verified by sha256) on a tiny random model made on the spot, and
# write what ran, statement by statement and op by op, to traces/ (README, "What runs").
trace: $(VENV)/.site-stamp $(TRACE_VENV)/.stamp
	$(PY) -m marginalia extract --allow-missing
	$(TRACE_PY) scripts/trace/run.py --out traces $(TRACE_ARGS)

# A new note from the lines it is about: make new CODEBASE=gpt-2 FILE=src/model.py LINES=25-26
new: $(VENV)/.site-stamp
	@test -n "$(CODEBASE)" -a -n "$(FILE)" -a -n "$(LINES)" || \
	  { echo "usage: make new CODEBASE=gpt-2 FILE=src/model.py LINES=25-26"; exit 2; }
	@$(PY) -m marginalia extract --allow-missing --codebase "$(CODEBASE)" >/dev/null
	$(PY) -m marginalia new "$(CODEBASE)" "$(FILE)" "$(LINES)"

# Every note as a W3C Web Annotation, in one AnnotationCollection (JSON-LD).
export: $(VENV)/.site-stamp
	$(PY) -m marginalia extract --allow-missing
	$(PY) -m marginalia export $(if $(OUT),--output "$(OUT)")

# ------------------------------------------------------------------------- tests --

# MARGINALIA_REQUIRE_TRACE: tests/test_traces.py fails, rather than skips, without the trace venv.
test: $(VENV)/.test-stamp browser-deps $(TRACE_VENV)/.stamp cite-env cff-check
	$(PY) -m marginalia schema --check
	MARGINALIA_REQUIRE_TRACE=1 $(PY) -m pytest $(PYTEST_ARGS)

screenshots: site $(VENV)/.test-stamp browser-deps
	$(PY) scripts/screenshots.py site

.marginalia/bench-venv/.stamp: requirements/bench.txt
	$(PYTHON) -m venv .marginalia/bench-venv
	.marginalia/bench-venv/bin/pip install --quiet --require-hashes --no-deps -r requirements/bench.txt
	@touch $@

scripts/lighthouse/node_modules/.stamp: scripts/lighthouse/package.json scripts/lighthouse/package-lock.json
	npm ci --prefix scripts/lighthouse --no-audit --no-fund --silent
	@touch $@

bench: $(VENV)/.test-stamp browser-deps .marginalia/bench-venv/.stamp scripts/lighthouse/node_modules/.stamp
	$(PY) -m marginalia extract --allow-missing
	$(PY) scripts/bench.py $(BENCH_ARGS)

# Regenerate the hashed lock files after editing requirements/*.in.
lock:
	$(PYTHON) -m venv .marginalia/piptools && .marginalia/piptools/bin/pip install --quiet pip-tools==7.6.2
	cd requirements && for name in site test bench trace cite cff; do \
	  PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS= ../.marginalia/piptools/bin/pip-compile --quiet --generate-hashes --allow-unsafe \
	    --strip-extras --index-url https://pypi.org/simple --no-emit-index-url -o $$name.txt $$name.in; done

clean:
	rm -rf site site-zensical docs/code docs/lineage

distclean: clean
	rm -rf $(VENV) .marginalia .cache tests/browser/node_modules scripts/lighthouse/node_modules
