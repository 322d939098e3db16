# zpsi - the top-level commands.  Meson does the building; these targets
# install what is missing first, so they work on a fresh Debian 12 machine.
.PHONY: all build check demo bench clean

all: build

build:
	@scripts/build.sh

check:
	@scripts/check.sh

demo: build
	@scripts/demo.sh

bench: build
	@bench/run.sh

clean:
	rm -rf build build-san build-fuzz
