# The two commands: `make run` and `make test`. Both build .venv from nothing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: run test lint tools models bench clean

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# CPU machines here take these two from local disk; other versions download gigabytes.
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	# facenet-pytorch pins old torch releases: take it without its dependencies.
	$(PY) -m pip install -q --no-deps facenet-pytorch==2.5.3
	$(PY) -m pip install -q -e '.[test]'
	# supervision (ByteTrack, a measured tracker candidate) asks for opencv-python, which would shadow the
	# headless OpenCV: take it without its dependencies (the test extra brings the ones it imports).
	$(PY) -m pip install -q --no-deps supervision==0.25.1
	touch $@

run: $(VENV)/.installed
	$(PY) -m edge serve --host $(HOST) --port $(PORT)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	# The Jetson image runs Python 3.8: fail on anything newer under edge/.
	$(VENV)/bin/vermin --no-tips --violations -t=3.8- --eval-annotations --backport typing --backport dataclasses edge/

# Debian's docker-compose validates compose.yaml without a Docker engine; Debian's chromium runs the browser
# tests (Playwright cannot download browsers here). Root installs them; others are told what the tests need.
tools:
	@command -v docker-compose >/dev/null && command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends docker-compose chromium >/dev/null; } || \
		echo "docker-compose or chromium not installed (needs root or: apt-get install docker-compose chromium): the compose and browser tests will fail"

test: $(VENV)/.installed lint tools
	$(PY) -m pytest -q

models: $(VENV)/.installed
	$(PY) -m edge fetch-models
	$(PY) -m edge build-engines

clean:
	rm -rf $(VENV) .pytest_cache

# Our pipeline against the per-frame loop on the same frames (see README "Benchmarks").
bench: $(VENV)/.installed
	$(PY) -m bench pipeline --frames 30 --out runs/bench.json
	$(PY) -m bench stream --viewers 20 --out runs/bench_stream.json
	$(PY) -m bench stream --cameras 1 --offline --out runs/bench_cameras1.json
	$(PY) -m bench stream --cameras 2 --out runs/bench_cameras2.json
	$(PY) -m bench tracking --out runs/bench_tracking.json
	$(PY) -m bench tracking --realtime --out runs/bench_tracking_realtime.json
	$(PY) -m bench detection --out runs/bench_detection.json
	$(PY) -m bench emotion --out runs/bench_emotion.json
	$(PY) -m bench visitors --out runs/bench_visitors.json
	$(PY) -m bench store --out runs/bench_store.json
