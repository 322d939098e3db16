#!/bin/sh
# demo.sh - what `make demo` runs (after scripts/build.sh demo): the seed's
# scenario, then the whole stack on real parts with every result checked
# (scripts/demo.py); the report goes to demo-report/index.html.
set -eu
cd "$(dirname "$0")/.."
exec python3 scripts/demo.py build --report demo-report
