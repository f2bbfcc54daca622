#!/usr/bin/env python3
"""bench/guest_policy_bench.py — eviction policies in a real guest: the ML
workloads of the trace corpus (numpy and PyTorch MLP training, and
linear-sgd: logistic regression over a 256 MiB dataset read in order,
epoch after epoch; unmodified Debian packages) run for a fixed time at a fraction of their guest's RAM
local, once per policy, in one run; more training steps is better.

Needs the corpus guest (sim/corpus/make_corpus.sh --image-only builds it in
its work directory) and a poolvm build; root. For each workload and policy
it boots `poolvm run --mem MEM --local FRAC --policy P --prefetch PF
--tier disk:...` with PVM_BUDGET seconds of training, reads the workload's
`steps=N` line, and prints steps per policy and the learned policy's steps
over the best classical policy's (> 1: learned trains faster).

Usage: bench/guest_policy_bench.py [--build DIR] [--work DIR]
         [--workloads numpy-mlp,torch-mlp,linear-sgd] [--policies LIST] [--mem 512M]
         [--local 25%] [--budget 30] [--repeat 1] [--json FILE]
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

CLASSICAL = ["clock", "s3fifo", "sieve", "arc", "lru", "lecar"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="/tmp/b1")
    ap.add_argument("--work", default="/var/tmp/pvm-corpus")
    ap.add_argument("--workloads", default="numpy-mlp,torch-mlp,linear-sgd")
    ap.add_argument("--policies", default=",".join(CLASSICAL + ["learned"]))
    ap.add_argument("--prefetch", default="stride")
    ap.add_argument("--mem", default="512M")
    ap.add_argument("--local", default="25%")
    ap.add_argument("--budget", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--tier-dir", default="/var/tmp")
    ap.add_argument("--json")
    a = ap.parse_args()
    poolvm = os.path.join(a.build, "vmm", "poolvm")
    img = os.path.join(a.work, "root.img")
    kernel = os.path.join(a.work, "guest", "vmlinux")
    initrd = os.path.join(a.work, "guest", "initramfs.cpio.gz")
    for p in (poolvm, img, kernel, initrd):
        if not os.path.exists(p):
            sys.exit("guest_policy_bench: %s is missing (build poolvm; "
                     "sim/corpus/make_corpus.sh --image-only)" % p)
    mem_mib = int(a.mem.rstrip("MG")) * (1024 if a.mem.endswith("G") else 1)
    local_mib = int(mem_mib * float(a.local.rstrip("%")) / 100) \
        if a.local.endswith("%") else int(a.local.rstrip("M"))
    workloads = a.workloads.split(",")
    policies = a.policies.split(",")
    res = {}
    for rep in range(a.repeat):
        for w in workloads:
            for p in policies:
                tier = os.path.join(a.tier_dir, "pvm-gpb.pages")
                argv = [poolvm, "run", "--mem", "%dM" % mem_mib,
                        "--local", "%dM" % local_mib, "--policy", p,
                        "--prefetch", a.prefetch, "--tier", "disk:" + tier,
                        "--disk", img, "--kernel", kernel, "--initrd", initrd,
                        "--append", "console=ttyS0 quiet pvm_work=%s PVM_BUDGET=%d"
                        % (w, a.budget)]
                t0 = time.time()
                r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, timeout=1800)
                m = re.search(r"steps=(\d+)", r.stdout)
                steps = int(m.group(1)) if m and "pvm-corpus: %s done" % w in r.stdout else None
                res.setdefault((w, p), []).append(steps)
                sys.stderr.write("[%s %s rep %d] steps=%s (%.0f s)\n"
                                 % (w, p, rep, steps, time.time() - t0))
                if steps is None:
                    sys.stderr.write(r.stdout[-2000:] + "\n")
    print("%-10s " % "workload" + " ".join("%8s" % p for p in policies) +
          "   learned/best-classical")
    out = []
    for w in workloads:
        med = {}
        for p in policies:
            v = [s for s in res[(w, p)] if s is not None]
            med[p] = statistics.median(v) if v else None
        classical = [med[p] for p in policies if not p.startswith("learned") and med[p]]
        ratio = (med.get("learned") / max(classical)) if med.get("learned") and classical else None
        print("%-10s " % w + " ".join("%8s" % ("%d" % med[p] if med[p] else "FAIL")
                                      for p in policies) +
              "   %s" % ("%.2f" % ratio if ratio else "-"))
        out.append({"workload": w, "steps": med, "learned_over_best_classical": ratio})
    print("training steps in %d s of guest time (median of %d), %s guest, %d MiB "
          "local, prefetch %s" % (a.budget, a.repeat, a.mem, local_mib, a.prefetch))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
