# zpsi - the top-level commands.  Meson does the building; these targets
# install what is missing first, so they work on a fresh Debian 12 machine.
.PHONY: all build check check-fresh demo bench soak fuzz-long clean

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

# the chaos soak for SOAK_SECONDS (600); make check runs 60 s of it
soak:
	@scripts/build.sh test
	@ZPSI_BUILD=build python3 tests/soak/soak.py --seconds $${SOAK_SECONDS:-600}

# every fuzzer for FUZZ_LONG_SECONDS (120) each, new corpus entries merged in; not in CI
fuzz-long:
	@scripts/fuzz-long.sh

clean:
	rm -rf build build-san build-fuzz
