# The README's commands. `make test` is what CI runs (.ci/run).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The virtualenv is stale when pyproject.toml or constraints.txt change: the stamp is keyed on both.
HASH   := $(shell cat pyproject.toml constraints.txt | $(PYTHON) -c "import hashlib,sys;print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest()[:16])")
STAMP  := $(VENV)/.installed-$(HASH)

.PHONY: install test lint typecheck pytest selfplay bench clean

install: $(STAMP)

$(STAMP):
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	@rm -f $(VENV)/.installed-*
	@touch $@

lint: $(STAMP)
	$(BIN)/ruff check exphil supervisors tests scripts

# supervisors whole; the newer exphil modules strictly (imports they follow are not reported)
STRICT := exphil/rl exphil/agent.py exphil/players.py exphil/eval.py exphil/errors.py \
          exphil/envs/_protocol.py exphil/envs/scripted.py exphil/envs/_items.py exphil/envs/_kernel \
          exphil/envs/_rules \
          exphil/game/controls.py \
          exphil/train/_core.py exphil/train/_run.py exphil/cli/eval.py exphil/cli/train_ppo.py \
          exphil/selfplay exphil/wire.py exphil/cli/selfplay.py \
          exphil/tui exphil/cli/dashboard.py \
          exphil/settings.py exphil/setup_checks exphil/cli/setup.py \
          exphil/envs/dolphin exphil/cli/play.py

typecheck: $(STAMP)
	$(BIN)/mypy --strict supervisors
	$(BIN)/mypy --strict --follow-imports=silent $(STRICT)

pytest: $(STAMP)
	$(BIN)/python -m pytest

test: lint typecheck pytest

# self-play on the mock: a learner and 2 local worker processes, with a live view (Ctrl-C saves)
selfplay: $(STAMP)
	$(BIN)/exphil selfplay --preset demo

bench: $(STAMP)
	$(BIN)/python scripts/bench_supervisors.py
	$(BIN)/python scripts/bench_remote.py
	$(BIN)/python scripts/bench_replays.py
	$(BIN)/python scripts/bench_mockenv.py
	$(BIN)/python scripts/bench_inference.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
