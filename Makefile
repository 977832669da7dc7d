# Two entry points for a new user: `make demo` and `make test`. Both create .venv first.
# `make test-fast` skips the tests marked slow (under a minute); `make docs` builds the API reference.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python

.PHONY: venv demo test test-fast docs clean

$(VENV)/.installed: pyproject.toml setup.py constraints.txt pde_kan/nn/_pwkernel.c
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip >/dev/null
	$(PY) -m pip install -c constraints.txt -e ".[test]"
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(VENV)/bin/pde-kan demo --out runs/demo --overwrite

# pytest exits 5 when it collects no test; that is a failure of the set-up, not a pass.
test: venv
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m pytest -q

test-fast: venv
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m pytest -q -m "not slow"

# The API reference from the docstrings, every warning an error (tests/test_docs.py builds it the same way).
docs: venv
	MPLBACKEND=Agg $(PY) -m sphinx -W --keep-going -q -b html docs/api build/api
	@echo "open build/api/index.html"

clean:
	rm -rf $(VENV) runs .pytest_cache build/api
