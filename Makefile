# The commands the README gives. Each sets up what it needs on a fresh machine first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: install run test test-postgres lint format migrations-check bench clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

var:
	mkdir -p var

# `make run STORAGE=s3`: videos in a bucket on a local SeaweedFS, started beside Redis.
run: install var
	$(BIN)/python manage.py migrate --noinput
	STORAGE=$(STORAGE) $(BIN)/python -m kling_studio.localservices studio

test: install
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The same suite (less the emulator's own tests, which use no database) on a throwaway
# PostgreSQL cluster started from the installed server programs.
test-postgres: install
	$(BIN)/python -m kling_studio.localservices with-postgres $(BIN)/python -m pytest --ignore=tests/emulator $(PYTEST_ARGS)

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format:
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

migrations-check:
	$(BIN)/python manage.py makemigrations --check --dry-run

bench: install
	$(BIN)/python bench/bench_emulator.py
	$(BIN)/python bench/bench_gallery.py
	$(BIN)/python bench/bench_live.py
	$(BIN)/python bench/chaos.py

clean:
	rm -rf var
