# cgfw-runc: build, demo, tests, benchmarks. Run as root (containers, cgroups, BPF).
SHELL := /bin/bash
CARGO ?= cargo
BIN := target/release/cgfw-runc
PREFIX ?= /usr/local

.PHONY: all deps build demo test test-unit test-integration test-fuzz test-long test-conformance bench-lifecycle bench-datapath bench-dns bench-density install clean

all: build

deps:
	bash hack/install-deps.sh

build:
	$(CARGO) build --release --locked -p cgfw-runc

# One command on a fresh machine: installs dependencies, builds, runs a container through cgfw-runc.
demo: deps build
	bash hack/demo.sh

# One command on a fresh machine: installs dependencies, builds, runs every test suite, the
# long load/soak/leak tests included (what CI runs; ~30 min on 2 cores, 7 of them long tests).
test: deps build
	$(MAKE) test-unit
	$(MAKE) test-integration
	$(MAKE) test-fuzz
	$(MAKE) test-long

# Debug profile: the release profile's panic=abort and LTO would make cargo rebuild every
# dependency for the test harnesses anyway (unwinding), and slower (~2 min more on 2 cores).
test-unit:
	$(CARGO) test --locked --workspace

test-integration: build
	bash integration/run.sh

# Bounded fuzzing (cargo-fuzz on nightly, installed if missing): the annotation parser, and
# the DNS proxy's query and answer handling. One target dir, so shared crates build once.
test-fuzz:
	CARGO_FUZZ_TARGET_DIR=$(CURDIR)/target/fuzz bash policy/fuzz/run.sh $${FUZZ_SECONDS:-60}
	CARGO_FUZZ_TARGET_DIR=$(CURDIR)/target/fuzz bash runtime/fuzz/run.sh $${DNS_FUZZ_SECONDS:-30}

# The long tests alone: 200 firewalled containers at once, 1000 create/start/delete cycles with
# a policy, leak cycles in both cgroup views, firewall cycles in the pure-v2 view.
test-long: deps build
	bash integration/run.sh --long-only

# runc 1.1.5's own integration tests (from Debian's runc source package, cached outside the repo
# in /var/cache/cgfw-test) against our runtime; tests expected to fail, each with its reason, are
# in integration/conformance/expected-failures.txt. CONFORMANCE_ARGS passes e.g.
# --filter REGEX, --files 'tty.bats exec.bats', --runtime /usr/sbin/runc (see hack/conformance/run.sh).
test-conformance: deps build
	bash hack/conformance/install-deps.sh
	bash hack/conformance/run.sh --runtime $(BIN) $(CONFORMANCE_ARGS)

bench-lifecycle: deps build
	bash hack/bench/lifecycle.sh

bench-datapath: deps build
	bash hack/bench/datapath.sh

bench-dns: deps build
	bash hack/bench/dns.sh

# N = 50 and 200 idle firewalled containers against as many plain ones (issue 13); ~10 min.
bench-density: deps build
	bash hack/bench/density.sh

install: build
	install -D -m 0755 $(BIN) $(PREFIX)/bin/cgfw-runc

clean:
	$(CARGO) clean
