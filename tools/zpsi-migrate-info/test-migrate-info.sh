#!/bin/sh
# test-migrate-info.sh TOOL CORPUS - zpsi-migrate-info on the committed seed
# records: valid ones are shown (text and JSON), each damaged one is refused
# with exit 1 and its own message.
set -u
tool=$1 corpus=$2
failed=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

check() {	# check WANT_RC WANT_TEXT ARGS...
	want_rc=$1 want=$2
	shift 2
	"$tool" "$@" >"$out" 2>&1
	rc=$?
	if [ "$rc" -ne "$want_rc" ] || ! grep -q -- "$want" "$out"; then
		echo "FAIL: $* -> rc $rc (want $want_rc), output:"
		sed 's/^/    /' "$out"
		failed=1
	else
		echo "ok: $* -> $rc, \"$want\""
	fi
}

check 0 "usage: zpsi-migrate-info" --help
check 2 "usage:"
check 2 "usage:" a b
check 2 "at least 40 bytes" --max-size 12x "$corpus/valid-full"
check 0 "guest id        7" "$corpus/valid-full"
check 0 "power           C1" "$corpus/valid-full"
check 0 "guest ratio   25.00 %" "$corpus/valid-full"
check 0 "99     unknown    optional" "$corpus/valid-full"
check 0 "vcpu" "$corpus/valid-vmm-sections"
check 0 "region          none" "$corpus/valid-unregistered"
check 1 "truncated record (ENODATA)" "$corpus/truncated-half"
check 1 "truncated record (ENODATA)" "$corpus/header-only"
check 1 "not a zpsi migration record (EPROTO)" "$corpus/foreign-qemu"
check 1 "corrupt record.*(EBADMSG)" "$corpus/bitflip-body"
check 1 "trailing bytes" "$corpus/trailing-bytes"
check 1 "corrupt record.*(EBADMSG)" "$corpus/section-overrun"
check 1 "unsupported.*(EPROTONOSUPPORT)" "$corpus/future-version"
check 1 "unsupported.*(EPROTONOSUPPORT)" "$corpus/unknown-required"
check 1 "invalid PSI state (EINVAL)" "$corpus/psi-weight-zero"
check 1 "invalid PSI state (EINVAL)" "$corpus/psi-region-magic"
check 1 "no PSI section (ENOMSG)" "$corpus/valid-empty"
check 1 "larger than --max-size (EFBIG)" --max-size 100 "$corpus/valid-full"
check 0 "valid" --max-size 248 "$corpus/valid-full"
check 1 "cannot open (ENOENT)" "$corpus/does-not-exist"

# stdin
if "$tool" - <"$corpus/valid-full" >"$out" 2>&1 && grep -q "<stdin>" "$out"; then
	echo "ok: stdin"
else
	echo "FAIL: stdin"; cat "$out"; failed=1
fi

# JSON, checked by a real JSON parser
json_check() {	# json_check FILE PYTHON_EXPR
	"$tool" --json "$1" 2>/dev/null >"$out"
	if python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if ($2) else 1)" "$out"; then
		echo "ok: --json $1: $2"
	else
		echo "FAIL: --json $1: $2"; cat "$out"; failed=1
	fi
}
json_check "$corpus/valid-full" "d['valid'] and d['psi']['guest_id'] == 7 and d['psi']['region']['guest_ratio_bp'] == 2500 and [s['type'] for s in d['sections']] == [1, 99] and d['size'] == 248"
json_check "$corpus/valid-unregistered" "d['psi']['region'] is None and not d['psi']['registered']"
json_check "$corpus/bitflip-body" "not d['valid'] and d['code'] == 'EBADMSG'"
json_check "$corpus/future-version" "d['code'] == 'EPROTONOSUPPORT'"

exit $failed
