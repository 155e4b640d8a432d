# Two entry points for a fresh machine: `make demo` and `make test`.
# Each bootstraps uv and the locked environment when they are missing.

UV ?= $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
export UV_PYTHON_DOWNLOADS := never

.PHONY: demo test lint env

$(UV):
	python3 -m pip install --user --quiet uv

env: | $(UV)
	$(UV) sync --frozen --quiet

demo: env
	$(UV) run telecampaign demo

lint: env
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy

test: env
	$(UV) run pytest
