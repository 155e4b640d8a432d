# Two entry points for a fresh machine: `make demo` and `make test`.
# Each bootstraps uv (from PyPI, into .tools/) and the locked environment when missing.

UV ?= $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
export UV_PYTHON_DOWNLOADS := never

.PHONY: demo test lint env browser

.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet uv

env: | $(UV)
	$(UV) sync --frozen --quiet

demo: env
	$(UV) run telecampaign demo

lint: env
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy

# the browser tests (tests/e2e) drive Debian's Chromium; Playwright never downloads one
browser:
	@command -v chromium >/dev/null || { \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo="sudo"; \
	  $$sudo apt-get update -q && $$sudo apt-get install -y -q chromium chromium-driver; } \
	  || echo "chromium could not be installed: the browser tests will be skipped"

test: env browser
	$(UV) run pytest
