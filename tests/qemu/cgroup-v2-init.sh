#!/bin/sh
# /init of the cgroup v2 guest (test_cgroup_v2.py): cgroup2 with cpu and
# memory, a subtree delegated as systemd delegates one (zpsi.slice, zpsid in
# its own leaf zpsid.service, the VMs under vms/), zpsid enforcing there on
# two simulated VMs that burn a CPU each, one at 50 % PSI (tier 2: half its
# vCPU, half its memory) and one at 0 %.  Results as "RESULT key=value".
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup
res() { echo "RESULT $*"; }
end() { res "done=$1"; poweroff -f; }
CG=/sys/fs/cgroup
res "controllers=$(tr ' ' , <$CG/cgroup.controllers)"
echo "+cpu +memory" >$CG/cgroup.subtree_control || end fail-root-subtree
mkdir $CG/zpsi.slice
echo "+cpu +memory" >$CG/zpsi.slice/cgroup.subtree_control || end fail-slice-subtree
mkdir $CG/zpsi.slice/zpsid.service $CG/zpsi.slice/vms
echo $$ >$CG/zpsi.slice/zpsid.service/cgroup.procs || end fail-move
zpsid -s /tmp/z.sock -d /tmp/state -m off -o cgroup_mode=v2 -o cgroup_root=$CG -p /zpsi.slice/vms \
	-o sample_hz=20 -o log_level=info 2>/tmp/zpsid.log &
i=0
until [ -S /tmp/z.sock ]; do i=$((i + 1)); [ $i -lt 500 ] || end fail-zpsid; sleep 0.02; done
zpsi-test-vmm --socket /tmp/z.sock --name half --burn 1 --psi 5000 --vcpus 1 --memory 268435456 >/tmp/half.out &
half=$!
zpsi-test-vmm --socket /tmp/z.sock --name full --burn 1 --psi 0 --vcpus 1 --memory 268435456 >/tmp/full.out &
full=$!
V=$CG/zpsi.slice/vms
i=0
until [ "$(cat $V/half/cpu.max 2>/dev/null)" = "50000 100000" ] && [ -n "$(cat $V/full/cpu.max 2>/dev/null)" ]; do
	i=$((i + 1)); [ $i -lt 1500 ] || { cat /tmp/zpsid.log; end fail-enforce; }; sleep 0.02
done
for vm in half full; do
	res "$vm.cpu.max=$(cat $V/$vm/cpu.max | tr ' ' /)"
	res "$vm.memory.high=$(cat $V/$vm/memory.high)"
done
res "half.cgroup=$(grep '^0::' /proc/$half/cgroup | cut -d: -f3)"
res "full.cgroup=$(grep '^0::' /proc/$full/cgroup | cut -d: -f3)"
# CPU time each burner got over a measured window (usage_usec from cpu.stat)
u() { awk '/^usage_usec/ { print $2 }' $V/$1/cpu.stat; }
thr() { awk '/^nr_throttled/ { print $2 }' $V/$1/cpu.stat; }
h0=$(u half); f0=$(u full); n0=$(thr half); t0=$(awk '{ print int($1 * 1000000) }' /proc/uptime)
sleep 3	# the measurement window itself
h1=$(u half); f1=$(u full); n1=$(thr half); t1=$(awk '{ print int($1 * 1000000) }' /proc/uptime)
res "window_usec=$((t1 - t0))"
res "half.usage_usec=$((h1 - h0))"
res "full.usage_usec=$((f1 - f0))"
res "half.nr_throttled=$((n1 - n0))"
res "full.nr_throttled=$(thr full)"
kill $half $full
wait $half $full 2>/dev/null
zpsictl -s /tmp/z.sock status >/tmp/status.txt 2>&1
kill -TERM %1 2>/dev/null
grep -c . /tmp/zpsid.log >/dev/null && res "zpsid_warnings=$(grep -c '^<[0-4]>' /tmp/zpsid.log)"
grep '^<[0-4]>' /tmp/zpsid.log | head -5 | sed 's/^/zpsid: /'
end ok
