# Warden. `make demo` and `make test` are the two entry points; both run `make setup` first.
SWIFT ?= swift
BUILD_FLAGS ?=
.DEFAULT_GOAL := help

.PHONY: help setup build release demo test bench clean

help:
	@echo "make setup    install Debian packages, model files and test fixtures (idempotent)"
	@echo "make demo     run the Warden demo on embedded defaults"
	@echo "make test     run the whole test suite"
	@echo "make bench    run benchmarks against the reference pipeline"

setup:
	@bash scripts/setup.sh

build: setup
	$(SWIFT) build $(BUILD_FLAGS)

release: setup
	$(SWIFT) build -c release $(BUILD_FLAGS)

demo: setup
	$(SWIFT) build -c release $(BUILD_FLAGS)
	.build/release/warden demo

test: setup
	$(SWIFT) build --build-tests $(BUILD_FLAGS)
	$(SWIFT) test --skip-build $(BUILD_FLAGS)

bench: setup
	bash bench/run.sh

clean:
	rm -rf .build
