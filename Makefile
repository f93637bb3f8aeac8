# pixguard: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.9
export PIXGUARD_PROJECT_ROOT := $(CURDIR)

.PHONY: install system-deps browser-deps test test-unit test-integration demo up down status lint lock bench-realtime-stateful clean

# Everything a fresh machine needs, from the project's own files: Java for Spark and Kafka
# (Debian package if missing), then the locked Python set into .venv (uv, from PyPI).
system-deps:
	@command -v javac >/dev/null 2>&1 || { echo "installing the Java 17 JDK (Spark and Kafka run on it; the feature jar is compiled with it)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jdk-headless; }
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'

# Headless Chromium for the Airflow UI test (driven over the DevTools protocol, no driver needed).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { echo "installing Chromium (the Airflow UI test drives it headless)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

# Bytecode is compiled at install: every Spark Python worker, Airflow task and job is a new Python
# process, and without .pyc files (PYTHONDONTWRITEBYTECODE is common) each one compiles pyspark,
# pandas and pyarrow again, 1.6 s instead of 0.45 s idle, long enough under load for Spark to give up
# on a worker that must connect back within 10 s ("Python worker failed to connect back").
$(VENV)/.installed: requirements.lock pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q uv==$(UV_VERSION)
	$(VENV)/bin/uv pip sync -q --compile-bytecode --python $(PY) requirements.lock
	$(VENV)/bin/uv pip install -q --compile-bytecode --python $(PY) --no-deps -e .
	touch $@

# The feature operators run in the JVM (src/jvm, Scala): compiled with the Scala compiler that ships
# inside pyspark's own jars, so the jar always matches the Spark it runs in.
FEATURES_JAR := build/pixguard-features.jar
# $(1): the interpreter whose pyspark compiles the jar.
define compile-features-jar
	@mkdir -p $(@D)
	jars=$$($(1) -c 'import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), "jars"))') && \
	  java -cp "$$jars/*" scala.tools.nsc.Main -usejavacp -release 17 -deprecation -Werror -d $@.tmp.jar \
	  $$(find src/jvm -name '*.scala') && mv $@.tmp.jar $@
endef
$(FEATURES_JAR): $(VENV)/.installed $(shell find src/jvm -name '*.scala')
	$(call compile-features-jar,$(PY))

install: system-deps $(VENV)/.installed $(FEATURES_JAR)
	@$(VENV)/bin/pixguard bundle jars >/dev/null

# pytest exits 5 when it collects no test: that fails, and says so (make itself reports only 'Error 5').
test: install browser-deps
	$(PY) -m pytest --durations=15 || { status=$$?; [ $$status -ne 5 ] || echo "make test: pytest collected no tests - failing on purpose" >&2; exit $$status; }

# The pure unit tests: no SparkSession (tests/conftest.py marks those that need one `spark`).
test-unit: install
	$(PY) -m pytest tests/unit -m "not spark"

test-integration: install browser-deps
	$(PY) -m pytest -m integration

demo: install
	$(PY) -m pixguard.cli.demo

up: install
	$(VENV)/bin/pixguard up

down:
	$(VENV)/bin/pixguard down

status:
	$(VENV)/bin/pixguard status

lint: install
	$(VENV)/bin/ruff check src tests jobs dags bench

# The stateful decision path in Spark 4.3's real-time mode (bench/realtime_stateful.py): its own
# environment, as the project stays on Spark 4.2. Starts the broker if needed. RATE tx/s for DURATION_S seconds.
SPARK43 := .pixguard/spark43
RATE ?= 1000
DURATION_S ?= 600
CHECKPOINT_INTERVAL ?= 5 minutes
$(SPARK43)/.installed: bench/spark43.lock
	$(PYTHON) -m venv $(SPARK43)
	$(SPARK43)/bin/pip install -q uv==$(UV_VERSION)
	$(SPARK43)/bin/uv pip sync -q --compile-bytecode --python $(SPARK43)/bin/python bench/spark43.lock
	touch $@
$(SPARK43)/pixguard-features.jar: $(SPARK43)/.installed $(shell find src/jvm -name '*.scala')
	$(call compile-features-jar,$(SPARK43)/bin/python)
bench-realtime-stateful: install $(SPARK43)/pixguard-features.jar
	$(VENV)/bin/pixguard up --only kafka,mlflow
	$(PY) bench/champion_text.py $(SPARK43)/champion.txt
	PYTHONPATH=src $(SPARK43)/bin/python bench/realtime_stateful.py --rate $(RATE) --seconds $(DURATION_S) \
	  --checkpoint-interval "$(CHECKPOINT_INTERVAL)" --features-jar $(SPARK43)/pixguard-features.jar \
	  --model-text $(SPARK43)/champion.txt

# Regenerate the lock after changing pyproject.toml dependencies.
lock:
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock
	@mkdir -p $(dir $(SPARK43))
	grep -v '^pyspark==' requirements.lock > $(SPARK43).constraints
	$(VENV)/bin/uv pip compile bench/spark43.in -c $(SPARK43).constraints --python-version 3.11 -o bench/spark43.lock

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
