# zpsi - the top-level commands.  Meson does the building; these targets
# install what is missing first, so they work on a fresh Debian 12 machine.
.PHONY: all build check check-fresh demo bench fuzz-long clean

all: build

build:
	@scripts/build.sh

check:
	@scripts/check.sh

# the README's commands in a fresh Debian 12 root (debootstrap); also part of make check
check-fresh:
	@scripts/fresh-machine.sh

demo:
	@scripts/build.sh demo
	@scripts/demo.sh

bench: build
	@bench/run.sh

# every fuzzer for FUZZ_LONG_SECONDS (120) each, new corpus entries merged in; not in CI
fuzz-long:
	@scripts/fuzz-long.sh

clean:
	rm -rf build build-san build-fuzz
