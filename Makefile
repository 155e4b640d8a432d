# Two entry points for a fresh machine: `make demo` and `make test`.
# Each bootstraps uv (from PyPI, into .tools/) and the locked environment when missing.

UV ?= $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
export UV_PYTHON_DOWNLOADS := never

.PHONY: demo test quick lint env browser voice-sdk

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

# everything: the quick part on two processes, then the slow scenarios (worker processes,
# the soak, the benchmarks run tiny, the browser) one at a time, as they measure timing
test: env browser
	$(UV) run pytest -m "not slow" -n 2
	$(UV) run pytest -m slow

# the everyday loop: everything but the slow scenarios (worker processes, the soak, the
# benchmarks run tiny, the browser); `make test` and CI run those too
quick: env
	$(UV) run pytest -m "not slow" -n 2

# the agent console's Twilio Voice JS SDK: one minified bundle, committed, with the licenses
# of what it holds; rebuilt from the exact version pinned in runner/web/voice_sdk/ (needs npm)
VOICE := runner/web/voice_sdk
voice-sdk:
	cd $(VOICE) && npm ci --no-audit --no-fund && npx esbuild entry.js --bundle --minify \
	  --format=iife --target=es2019 --legal-comments=none \
	  --banner:js="/*! @twilio/voice-sdk and its dependencies, bundled: licenses in twilio-voice.LICENSE.txt */" \
	  --metafile=node_modules/.voice-meta.json --outfile=../static/vendor/twilio-voice.min.js
	cd $(VOICE) && node licenses.mjs node_modules/.voice-meta.json ../static/vendor/twilio-voice.LICENSE.txt
