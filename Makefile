# hwbp: two commands set up everything on a fresh Debian 12 machine (as root):
#   make demo   install dependencies, build, run the bundled example
#   make test   install dependencies, build, run every test (plain, then ASan+UBSan)
JOBS  ?= $(shell nproc)
BUILD ?= build
ASAN  ?= build-asan
PREFIX ?= /usr/local

.PHONY: all deps build build-asan demo test test-plain test-asan test-vm test-multi-watch fuzz soak bench install clean

all: build

# The test VM's image (QEMU 10, a kernel: Debian packages, unpacked into ~/.cache/hwbp/test-vm)
# and its packages on this machine. Not fatal: without it the VM's tests skip with the reason.
deps:
	@scripts/install-deps.sh
	@scripts/test-vm/prepare.sh --install-packages >/dev/null || \
	  echo "hwbp: the test VM is unavailable (reason above); the tests that need it will skip"

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	cmake -S . -B $(ASAN) -DCMAKE_BUILD_TYPE=Debug -DHWBP_SANITIZE=ON -DHWBP_BUILD_BENCH=OFF >/dev/null
	cmake --build $(ASAN) -j $(JOBS)

# The main job on bundled examples: the library inside a program, then the CLI catching a stray
# write in a program it launches (culprit thread, function, line, instruction, old -> new).
demo: build
	$(BUILD)/examples/watch_threads
	@echo
	@# stray_write exits 1 when it finds its variable corrupted (hwbp run passes that status on):
	@# that is the bug being demonstrated, not a failure of the demo.
	$(BUILD)/tools/hwbp/hwbp run --watch max_retries -- $(BUILD)/examples/stray_write; \
	  status=$$?; [ $$status -eq 0 ] || [ $$status -eq 1 ]
	@echo
	@# The same question inside a VM: hwbp vm on the example kernel (scripts/demo-vm.sh).
	@scripts/demo-vm.sh $(BUILD)

test: test-plain test-asan

test-plain: build
	cd $(BUILD) && ctest --output-on-failure -j 1

# Only what runs in the test VM (the KVM tests, and the hardware tests on silent machines).
test-vm: build
	cd $(BUILD) && ctest --output-on-failure -j 1 -L '^vm$$'

# The tests that arm several watchpoints at once (tests/vm/multi-watch.txt), on this machine's
# own debug registers: their authority (QEMU miscounts them, so the VM only gives evidence).
test-multi-watch: build
	cd $(BUILD) && ctest --output-on-failure -j 1 -LE '^vm$$' -R "$$(cat test-vm/multi-watch.regex)"

test-asan: build-asan
	cd $(ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j 1 -LE install

# Each libFuzzer target (fuzz/) for FUZZ_SECONDS on its seeds plus what earlier runs found
# ($(BUILD)/fuzz/work/NAME/corpus); a crashing input is left as $(BUILD)/fuzz/work/NAME/crash-*.
# ctest runs them for a few seconds each (label fuzz).
FUZZ_SECONDS ?= 60
fuzz: build
	@test -d $(BUILD)/fuzz/targets || { echo "hwbp: fuzz targets not built (see 'cmake' output: clang with libFuzzer is needed)"; exit 1; }
	@for t in $$(cd fuzz/corpus && ls); do \
	  echo "== fuzz $$t ($(FUZZ_SECONDS) s)"; log=$(BUILD)/fuzz/work/$$t.log; mkdir -p $(BUILD)/fuzz/work; \
	  if fuzz/run.sh $(BUILD)/fuzz/targets/$${t}_fuzzer fuzz/corpus/$$t $(BUILD)/fuzz/work/$$t $(FUZZ_SECONDS) > $$log 2>&1; \
	  then grep -E '^stat::number_of_executed_units|^Done' $$log; else tail -40 $$log; exit 1; fi; \
	done

# Minutes of mixed load with faults injected (kill -9 of hwbp, closed output, thread and fork
# storms, writers blocking SIGTRAP), every hit checked against the program's own count; prints a
# table (scripts/soak.sh: HWBP_SOAK_SECONDS, HWBP_SOAK_MODES). Not in CI.
soak: build
	scripts/soak.sh $(BUILD)

# Every ratio compares two benchmarks of the same run; medians of 5 repetitions damp noise.
bench: build
	$(BUILD)/bench/hwbp_bench --benchmark_min_time=0.1 --benchmark_repetitions=5 \
	  --benchmark_report_aggregates_only=true

# Raw KVM exit costs, and hwbp::kvm against the raw KVM calls (bench/kvm_bench.cpp, ratio lines),
# on this machine's /dev/kvm if usable and in the test VM. Each benchmark alternates the library
# and the raw calls in one loop (paired: both see the same machine load) and reports the ratio of
# their medians; repetitions are also interleaved at random.
KVM_BENCH_ARGS = --benchmark_filter=Kvm --benchmark_min_time=0.2 --benchmark_repetitions=10 \
  --benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=true
.PHONY: bench-kvm
bench-kvm: build
	@if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then echo "== native /dev/kvm"; $(BUILD)/tests/kvm/hwbp_kvm_exit_costs; \
	  $(BUILD)/bench/hwbp_bench $(KVM_BENCH_ARGS); else echo "== native: no usable /dev/kvm"; fi
	@echo "== test VM"; scripts/test-vm/vm.sh once --state $(BUILD)/test-vm --kvm -- sh -c \
	  '$(BUILD)/tests/kvm/hwbp_kvm_exit_costs && $(BUILD)/bench/hwbp_bench $(KVM_BENCH_ARGS)'

# Per-hit cost of `hwbp run` against perf stat (counted hits) and GDB (and bpftrace if installed),
# then `hwbp vm` against its peers (bench-vm-peers).
.PHONY: bench-peers
bench-peers: build
	bench/peers/run.sh $(BUILD)/tools/hwbp/hwbp
	@$(MAKE) --no-print-directory bench-vm-peers

# `hwbp vm` (issue 10): GDB's stepi round trip through `hwbp vm --gdb` vs QEMU's gdbstub, and
# `hwbp vm --count` per hit vs the raw exit rate of the mechanism serving the watch
# (bench/peers/vm_vs_qemu.sh), natively where /dev/kvm is usable and in the test VM.
VM_PEERS = bench/peers/vm_vs_qemu.sh $(BUILD)/tools/hwbp/hwbp $(BUILD)/bench/hwbp_vm_raw_watch \
  $(BUILD)/examples/guest_kernel/guest_kernel.elf
.PHONY: bench-vm-peers
bench-vm-peers: build
	@if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then echo "== native /dev/kvm"; $(VM_PEERS); \
	  else echo "== native: no usable /dev/kvm"; fi
	@echo "== test VM"; scripts/test-vm/vm.sh once --state $(BUILD)/test-vm --kvm --timeout 1800 -- $(VM_PEERS)

# Per-store cost of the page engine (ptrace transport) against GDB's software watchpoint on a
# 16 KiB buffer (issue 15: at least 100x faster).
.PHONY: bench-page-peers
bench-page-peers: build
	bench/peers/page_vs_gdb.sh $(BUILD)/bench/hwbp_page_watch

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN)
