# Warden. `make demo` and `make test` are the two entry points; both run `make setup` first.
SWIFT ?= swift
BUILD_FLAGS ?=
.DEFAULT_GOAL := help

.PHONY: help setup build release demo demo-fleet test bench hil fuzz sanitize clean

help:
	@echo "make setup    install Debian packages, model files and test fixtures (idempotent)"
	@echo "make demo     run the Warden demo on embedded defaults"
	@echo "make demo-fleet  a fleet server on PostgreSQL with three controllers: enroll once, link cut and restored"
	@echo "make test     run the whole test suite"
	@echo "make bench    run benchmarks against the reference pipeline"
	@echo "make hil      hardware-in-the-loop: warden run against gpio-sim and vivid in a qemu VM"
	@echo "make fuzz     libFuzzer on every input parser, FUZZ_SECONDS each (default 60)"
	@echo "make sanitize the test suite under AddressSanitizer and ThreadSanitizer"

setup:
	@bash scripts/setup.sh

build: setup
	$(SWIFT) build $(BUILD_FLAGS)

release: setup
	$(SWIFT) build -c release --product warden $(BUILD_FLAGS)
	$(SWIFT) build -c release --product warden-server $(BUILD_FLAGS)
	$(SWIFT) build -c release --product warden-lab $(BUILD_FLAGS)

demo: setup
	$(SWIFT) build -c release --product warden $(BUILD_FLAGS)
	.build/release/warden demo

demo-fleet: setup
	$(SWIFT) build -c release --product warden $(BUILD_FLAGS)
	$(SWIFT) build -c release --product warden-server $(BUILD_FLAGS)
	bash scripts/demo-fleet.sh

test: setup
	$(SWIFT) build --build-tests $(BUILD_FLAGS)
	SWIFT="$(SWIFT)" TEST_ARGS="$(BUILD_FLAGS)" bash scripts/test.sh

bench: setup
	bash bench/run.sh

hil: setup
	bash hardware/hil/run.sh

fuzz: setup
	bash scripts/fuzz.sh

sanitize: setup
	bash scripts/sanitize.sh

clean:
	rm -rf .build
