# The two commands: `make run` and `make test`. Everything else is a helper of theirs.
BUILD      ?= build
SAN_BUILD  ?= build-san
TSAN_BUILD ?= build-tsan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
DATASETS   ?= $(abspath ../shared/datasets)

.PHONY: format-check all deps cluster-deps browser-deps build install run cluster-up cluster-down demo test test-unit test-sanitize test-tsan chart-test image fuzz bench format clean

all: build

deps:
	@bash scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS_RELEASE="-O3 -g -DNDEBUG" >/dev/null
	@cmake --build $(BUILD)

# libcohort (static and shared), cohort.h, cohort.pc and the binary under PREFIX.
PREFIX ?= /usr/local
install: build
	@cmake --install $(BUILD) --prefix $(PREFIX)

# The server with the demo datasets loaded; prints the URL and the admin password.
run: build
	@bash scripts/run-server.sh $(BUILD)/cohort $(DATASETS)

# Cluster mode on this machine: PostgreSQL, an S3 server and `cohort serve` on them, in the
# background under out/cluster; prints the URL and the admin password. cluster-down stops them.
cluster-up: build cluster-deps
	@bash scripts/cluster-up.sh $(BUILD)/cohort $(DATASETS)

cluster-down:
	@bash scripts/cluster-down.sh

# The engine alone on local files (no server): train, predict, synthesize, evaluate on adult.
demo: build
	@bash scripts/demo.sh $(BUILD)/cohort $(DATASETS)

test: test-unit test-sanitize test-tsan

# The servers the cluster tests start on loopback (S3: Swift + memcached; tests/test_blobs_s3).
cluster-deps:
	@bash scripts/install-deps.sh --cluster

# playwright-core for the browser test, from the npm registry (pinned by package-lock.json).
browser-deps: deps
	@[ -d tests/browser/node_modules/playwright-core ] || (cd tests/browser && npm ci --no-audit --no-fund --silent)

test-unit: build browser-deps cluster-deps
	@ctest --test-dir $(BUILD) --output-on-failure -j2

# clang + ASan/UBSan: also proves the tree builds clean with the second compiler. The suites
# repeated on PostgreSQL + S3 (label cluster) run once, in test-unit: the backends' own tests
# (test_store_postgres, test_blobs_s3, test_bus) run here.
test-sanitize: deps browser-deps cluster-deps
	@CC=clang cmake -S . -B $(SAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCOHORT_SANITIZE=ON >/dev/null
	@cmake --build $(SAN_BUILD)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir $(SAN_BUILD) --output-on-failure -j2 -LE 'quality|cluster'

# ThreadSanitizer over the threaded parts: the store under concurrent claims, the buses (requests
# answered from other threads, libnats callback threads), and the server
# (HTTP threads, job threads, shared trainees) through its API and client tests.
test-tsan: deps
	@CC=clang cmake -S . -B $(TSAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCOHORT_TSAN=ON >/dev/null
	@cmake --build $(TSAN_BUILD) --target cohort test_store test_bus test_pool test_budget test_authcache
	@TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	  ctest --test-dir $(TSAN_BUILD) --output-on-failure -R '^(test_store|test_bus|test_pool|test_budget|test_authcache|server|python_client)$$'

# The Helm chart alone (deploy/helm/cohort): helm lint + pytest over `helm template`; also in test-unit.
chart-test: build
	@ctest --test-dir $(BUILD) --output-on-failure -L chart

# The container image (deploy/image/Containerfile) with podman or buildah; not part of `make test`.
image:
	@bash scripts/image-build.sh

fuzz: deps
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCOHORT_FUZZ=ON >/dev/null
	@cmake --build $(FUZZ_BUILD)
	@bash fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

bench: build
	@bash scripts/install-deps.sh --bench
	@bash bench/run.sh $(BUILD)/cohort $(DATASETS)
	@/usr/bin/python3 bench/server_bench.py $(BUILD)/cohort $(DATASETS) bench/SERVER.md
	@bash scripts/install-deps.sh --cluster
	@/usr/bin/python3 bench/roles_bench.py $(BUILD)/cohort bench/CLUSTER.md

# Layout is clang-format's (.clang-format); CI fails on a file that differs from it.
FORMAT_FILES = include/cohort/*.h src/*/*.[ch] tests/*.c fuzz/*.c bench/*.c examples/*.c

format:
	@clang-format -i $(FORMAT_FILES)

format-check: deps
	@clang-format --dry-run -Werror $(FORMAT_FILES)

clean:
	rm -rf $(BUILD) $(SAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD)
