# Census: the two commands are `make demo` and `make test`; the rest are their parts.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK := deploy/local/stack.sh
PYTEST_ARGS ?=

.PHONY: help prereqs install lock kafka up down status test test-unit lint demo env psql bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

prereqs: ## install missing Debian packages (JDK, Maven, PostgreSQL, promtool, curl)
	@deploy/local/prereqs.sh

install: prereqs $(VENV)/.installed ## create .venv: every dependency from requirements.lock, then Census itself

# Exact versions with hashes from the lock, nothing resolved on the day: `--no-deps` because the
# lock already lists every package, `--no-build-isolation` so building Census's own editable
# install uses the locked setuptools instead of fetching the newest one.
$(VENV)/.installed: requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --require-hashes --no-deps -r requirements.lock
	$(VENV)/bin/pip install -q --no-deps --no-build-isolation -e .
	@touch $@

# Refreshing the lock is a deliberate act: it re-resolves every dependency (runtime, test, dev
# and the build backend) to the newest versions pyproject.toml allows, with their hashes, then
# the image's runtime-only lock as a subset of it (same versions, by constraint).
PIP_TOOLS := pip-tools==7.6.2
lock: ## re-resolve requirements.lock on purpose (newest versions pyproject.toml allows, with hashes)
	@test -x .lock-venv/bin/pip-compile || { $(PYTHON) -m venv .lock-venv && .lock-venv/bin/pip install -q '$(PIP_TOOLS)'; }
	.lock-venv/bin/pip-compile --quiet --upgrade --generate-hashes --allow-unsafe --strip-extras \
	  --no-emit-find-links --all-build-deps --extra test --extra dev \
	  --output-file requirements.lock pyproject.toml
	.lock-venv/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	  --no-emit-find-links --all-build-deps --constraint requirements.lock \
	  --output-file requirements-runtime.lock pyproject.toml
	@echo "requirements.lock refreshed: review 'git diff requirements.lock', then run 'make test'"

kafka: prereqs ## resolve Apache Kafka's jars from Maven Central (once per machine)
	@deploy/local/kafka.sh install

up: install kafka ## start PostgreSQL, Kafka and the services; apply migrations
	@$(STACK) up

down: ## stop everything `make up` started
	@$(STACK) down

status: ## what is running
	@$(STACK) status

env: ## print the local stack's connection settings: eval "$$(make -s env)"
	@$(STACK) env

psql: ## psql on the local database as the analyst role
	@eval "$$($(STACK) env)"; psql "$$CENSUS_PG_ANALYST_DSN"

lint: install ## ruff and mypy --strict
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# pytest exits 5 when it collected nothing: that is a failure here, never a pass.
test: install kafka ## the whole suite; starts (and stops) its own Kafka and PostgreSQL
	@$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "make test: no tests were collected" >&2; exit 1; fi; exit $$rc

test-unit: install ## unit tests only (no servers)
	@$(PY) -m pytest tests/unit $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "make test-unit: no tests were collected" >&2; exit 1; fi; exit $$rc

demo: up ## the whole stack with a simulated fleet, then what an analyst sees
	@deploy/local/demo.sh

bench: up ## benchmarks on the local stack: figures as ratios against a baseline of the same run
	@command -v wrk >/dev/null || { echo "installing wrk (Debian package) for bench/ingest.py"; \
	  apt-get install -y -q wrk >/dev/null || { echo "make bench: install wrk first" >&2; exit 1; }; }
	@eval "$$($(STACK) env)"; \
	  export CENSUS_BENCH_KAFKA=$$CENSUS_KAFKA_BOOTSTRAP CENSUS_BENCH_KAFKA_BOOTSTRAP=$$CENSUS_KAFKA_BOOTSTRAP \
	         CENSUS_BENCH_PG_DSN=$$CENSUS_PG_DSN; \
	  for b in bench/ingest.py bench/aggregate.py bench/retention.py; do \
	    echo "== $$b"; $(PY) "$$b" || exit 1; done; \
	  echo "== bench/capacity.py"; $(PY) bench/capacity.py

clean: down ## stop the stack and delete its data (.local)
	rm -rf .local
