# Two commands: `make lab` (set up and open JupyterLab) and `make test` (set up and run every test).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Tests run offline: random weights instead of downloads, shortened steps, an empty torch cache.
TEST_ENV := LECTURELIB_QUICK=1 LECTURELIB_ALLOW_UNTRAINED=1 MPLBACKEND=Agg

.PHONY: lab lint test test-claims test-gpu course course-one-core book slides test-browser bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python 3.10 or newer is needed; found " + sys.version.split()[0] + ". Run: make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -e ".[dev,lab]"
	touch $(STAMP)

# Jupyter refuses to start as root (containers, CI) unless told --allow-root: say it only then.
# LAB_ARGS passes more options, e.g. make lab LAB_ARGS="--no-browser --port=8899" (tests/test_lab.py).
ALLOW_ROOT := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root)
LAB_ARGS ?=

lab: $(STAMP)
	$(VENV)/bin/jupyter lab $(ALLOW_ROOT) $(LAB_ARGS) notebooks/

# ruff (settings in pyproject.toml) over the package, tests, tools and notebooks; `make test` runs it first.
lint: $(STAMP)
	$(PY) -m ruff check .

# Every notebook runs once, top to bottom then its exercises' solutions (tests/test_notebooks.py).
# The claims at a notebook's full student settings on trained ImageNet networks (marked `student`,
# minutes each) are left to `make test-claims`, so that `make test` answers within 10 minutes.
test: lint
	$(TEST_ENV) $(PY) -m pytest -q tests -m "not student"

test-claims: $(STAMP)
	$(TEST_ENV) $(PY) -m pytest -q tests -m student

# The Colab-GPU path: the same notebooks on CUDA (run on any machine with a GPU).
test-gpu: $(STAMP)
	$(TEST_ENV) LECTURELIB_DEVICE=cuda $(PY) -m pytest -q tests

# Every notebook at its student settings, offline: time and peak memory against the course's budgets.
course: $(STAMP)
	$(PY) tools/course.py

# The same on one CPU, as Binder gives a student: times for the README's one-core column (not budgets).
course-one-core: $(STAMP)
	$(PY) tools/course.py --one-core

# The executed course (make course first) as a static site and as reveal.js decks; nothing runs again.
# MathJax and reveal.js come from the npm registry once (kept in build/.cache), then from the build.
$(VENV)/.book: $(STAMP)
	$(PY) -m pip install --disable-pip-version-check -q -e ".[book]"
	touch $@

book: $(VENV)/.book
	$(PY) tools/publish.py book

slides: $(VENV)/.book
	$(PY) tools/publish.py slides

# A real client: JupyterLab in headless Chromium runs each notebook and moves every widget; the book
# and the slides open with every figure and nothing from another host (after make book and make slides).
$(VENV)/.browser: $(STAMP)
	$(PY) -m pip install --disable-pip-version-check -q -e ".[browser]"
	touch $@

test-browser: $(VENV)/.browser
	$(TEST_ENV) $(PY) -m pytest -q -p no:cacheprovider browser_tests

bench: $(STAMP)
	LECTURELIB_ALLOW_UNTRAINED=1 $(PY) -m lecturelib bench

clean:
	rm -rf $(VENV) .pytest_cache build
