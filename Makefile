# Self-documenting Makefile: `make help` lists every target with its description.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
MANAGE := $(PY) manage.py
HOST ?= 127.0.0.1
PORT ?= 8000

# Services the integration tests and the production-like benchmarks use.
PG_URL ?= postgres://postgres@127.0.0.1:5432/recoplatform
REDIS_URL_DEFAULT ?= redis://127.0.0.1:6379/0
BROKER_URL_DEFAULT ?= redis://127.0.0.1:6379/1
INTEGRATION_ENV := DATABASE_URL=$(PG_URL) REDIS_URL=$(REDIS_URL_DEFAULT) CELERY_BROKER_URL=$(BROKER_URL_DEFAULT)

.DEFAULT_GOAL := help
.PHONY: help install run run-services serve migrate seed worker test test-unit test-integration check format bench bench-deps bench-quality bench-ingest bench-serve bench-e2e bench-scale bench-precompute bench-load clean

help: ## List every target
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed ## Create .venv and install runtime + dev dependencies

migrate: install ## Apply database migrations (SQLite by default, DATABASE_URL otherwise)
	$(MANAGE) migrate --noinput

seed: migrate ## Load the deterministic demo store
	$(MANAGE) seed_demo

run: migrate ## Seed and train the demo store for every scenario, then serve the API, the admin and /demo/ on http://$(HOST):$(PORT) (embedded default)
	$(MANAGE) demo_setup --host $(HOST) --port $(PORT)
	$(MANAGE) runserver $(HOST):$(PORT)

# The same on PostgreSQL, Redis and a Celery worker with beat, as services on 127.0.0.1 (the
# integration tests' ones); docker/compose.yaml runs the same roles as containers.
run-services: install ## `make run` on PostgreSQL + Redis + a Celery worker and beat; gunicorn serves
	psql "$(dir $(PG_URL))postgres" -Atc "SELECT 1 FROM pg_database WHERE datname = '$(notdir $(PG_URL))'" \
	  | grep -q 1 || psql "$(dir $(PG_URL))postgres" -qc 'CREATE DATABASE "$(notdir $(PG_URL))"'
	export $(INTEGRATION_ENV) STOREFRONT_DEMO=1; \
	$(MANAGE) migrate --noinput && $(MANAGE) collectstatic --noinput -v0 || exit 1; \
	(cd platform && exec ../$(VENV)/bin/celery -A config worker -B -l warning \
	  --scheduler django_celery_beat.schedulers:DatabaseScheduler) & worker=$$!; \
	trap 'kill $$worker; wait $$worker' EXIT; \
	$(MANAGE) demo_setup --host $(HOST) --port $(PORT) && \
	$(VENV)/bin/gunicorn config.wsgi --chdir platform --config gunicorn.conf.py --bind $(HOST):$(PORT)

serve: migrate ## Serve the API as in production: gunicorn with gunicorn.conf.py on $(HOST):$(PORT)
	$(VENV)/bin/gunicorn config.wsgi --chdir platform --config gunicorn.conf.py --bind $(HOST):$(PORT)

worker: install ## Run a Celery worker for every declared queue (needs CELERY_BROKER_URL)
	cd platform && ../$(VENV)/bin/celery -A config worker -l info

test: install ## Run the whole suite: embedded default, then integration against PostgreSQL, Redis and a Celery worker
	$(MAKE) test-unit
	$(MAKE) test-integration

test-unit: install ## Run the suite on the embedded default (SQLite, eager Celery, local-memory cache)
	$(PY) -m pytest -m "not integration" -q

test-integration: install ## Run the integration tests against PostgreSQL, Redis and a real Celery worker
	$(INTEGRATION_ENV) $(PY) -m pytest -m integration -q

check: install ## Lint and format check (ruff)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install ## Apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: bench-quality bench-ingest bench-serve bench-e2e ## Run every benchmark

bench-deps: install ## Build the LightFM peer for bench-quality (its sdist needs a manual build)
	$(PY) -c "import lightfm" 2>/dev/null || bash bench/install_lightfm.sh

bench-quality: bench-deps ## Model quality on real data (MovieLens-100k and the other families) vs. peers
	$(PY) bench/quality.py

bench-ingest: install ## Events/s through POST /api/v1/events into PostgreSQL behind gunicorn
	$(INTEGRATION_ENV) $(PY) bench/ingest.py

bench-serve: install ## Latency and throughput of the recommendation endpoints under gunicorn
	$(PY) bench/serve.py

bench-e2e: install ## A new store's path (import, train with model search, REST answers) scored against offline models
	$(PY) bench/e2e.py

bench-scale: install ## Cost against store size (generate_store at 1% and 10%, COPY import, training, serving) on PostgreSQL
	$(PY) bench/scale.py

bench-precompute: install ## Every active user's products list precomputed on N = 1 and 2 Celery workers (issue 19's store at 1% and 10%), on PostgreSQL + Redis
	$(PY) bench/precompute.py

bench-load: install ## Ten minutes of every scenario's traffic at once (open loop, 10 requests/s per endpoint) on gunicorn + PostgreSQL + Redis + Celery: 5xx, p99, memory, nothing lost or charged twice
	$(PY) bench/load.py --minutes 10 --rate 10

clean: ## Remove the venv, the local database and artifacts
	rm -rf $(VENV) var
