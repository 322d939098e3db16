#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""live_vs_systemd.py ZPSI_DETECT - on this machine, zpsi-detect and
`systemd-detect-virt --vm` must agree: the same word and exit status.

systemd names two clouds where zpsi-detect names the hypervisor and the
cloud separately; those count as agreement:
    amazon -> (kvm or xen, cloud aws)      google -> (kvm, cloud gcp)
Exits 77 (SKIP) when systemd-detect-virt is not installed.
"""
import json
import shutil
import subprocess
import sys

CLOUD_NAMES = {"amazon": ("aws", {"kvm", "xen"}), "google": ("gcp", {"kvm"})}


def main():
    sdv = shutil.which("systemd-detect-virt")
    if not sdv:
        print("SKIP: systemd-detect-virt is not installed")
        return 77
    s = subprocess.run([sdv, "--vm"], capture_output=True, text=True, timeout=60)
    z = subprocess.run([sys.argv[1], "--json"], capture_output=True, text=True, timeout=60)
    if z.returncode not in (0, 1):
        print("zpsi-detect failed (%d): %s" % (z.returncode, z.stderr))
        return 1
    got = json.loads(z.stdout)
    word = s.stdout.strip()
    print("systemd-detect-virt --vm: %s (exit %d)" % (word, s.returncode))
    print("zpsi-detect: %s, cloud %s (exit %d): %s" % (got["hypervisor"], got["cloud"], z.returncode,
                                                       got["reason"]))
    if word in CLOUD_NAMES:
        cloud, hvs = CLOUD_NAMES[word]
        same = got["cloud"] == cloud and got["hypervisor"] in hvs
    else:
        same = word == got["hypervisor"]
    if not same or s.returncode != z.returncode:
        print("DISAGREE")
        return 1
    print("agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
