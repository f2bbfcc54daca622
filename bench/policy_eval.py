#!/usr/bin/env python3
"""bench/policy_eval.py — the learned policy against the classical ones and
Belady's OPT, over a set of traces, in one run of `poolvm sim`.

For every trace and cache size (default 10 %, 25 %, 50 % of the trace's
footprint) it replays lru, clock, arc, s3fifo, sieve, lecar, learned and
opt, then reports:
  - per point: each policy's miss ratio, the best non-OPT policy, and
    whether the learned policy has the lowest miss ratio (ties count);
  - the share of points the learned policy wins, its mean gap to OPT and
    LRU's (in miss-ratio points), and their ratio;
  - the learned policy's cost per decision: one evict() call, timed call
    by call (`poolvm sim` ns_per_decision; target <= 1 us), mean and max
    over the points;
  - and per miss: the replay loop's time per access divided by the miss
    ratio, i.e. the decision plus the insert and every hit's learning,
    all charged to the misses (an upper bound, large where misses are
    rare).
Targets checked (issue 4): wins >= 60 % of points, mean gap < half LRU's.

Usage: bench/policy_eval.py [--build DIR] [--sizes 10%,25%,50%]
                            [--model FILE] [--json OUT] TRACE...
"""
import argparse
import json
import os
import subprocess
import sys

POLICIES = ["lru", "clock", "arc", "s3fifo", "sieve", "lecar", "learned"]


def find_poolvm(build):
    here = os.path.dirname(os.path.abspath(__file__))
    for d in ([build] if build else [os.path.join(os.path.dirname(here), "build"), "/tmp/b1"]):
        p = os.path.join(d, "vmm", "poolvm")
        if os.access(p, os.X_OK):
            return p
    sys.exit("policy_eval: no poolvm build (give --build DIR)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("traces", nargs="+")
    ap.add_argument("--build")
    ap.add_argument("--sizes", default="10%,25%,50%")
    ap.add_argument("--model")
    ap.add_argument("--json")
    ap.add_argument("--quiet", action="store_true", help="summary only")
    a = ap.parse_args()
    poolvm = find_poolvm(a.build)
    rows = {}
    cost, decision = [], []
    for t in a.traces:
        cmd = [poolvm, "sim", "--trace", t, "--cache", a.sizes, "--json",
               "--policy", ",".join(POLICIES + ["opt"])]
        if a.model:
            cmd += ["--model", a.model]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            sys.exit("policy_eval: %s failed: %s" % (" ".join(cmd), r.stderr.strip()))
        for line in r.stdout.splitlines():
            o = json.loads(line)
            key = (os.path.basename(t), o["cache_fraction"] if "cache_fraction" in o else o["cache_pages"])
            rows.setdefault(key, {})[o["policy"]] = o
            if o["policy"] == "learned" and o.get("ns_per_access") is not None \
                    and o["miss_ratio"] > 0:
                # per miss: an eviction decision, the insert and the
                # learning, all charged to the decision (an upper bound)
                cost.append(o["ns_per_access"] / o["miss_ratio"])
            if o["policy"] == "learned" and o.get("ns_per_decision") is not None:
                decision.append(o["ns_per_decision"])
    wins, gap_l, gap_lru, points = 0, [], [], []
    w = max(len(k[0]) for k in rows) + 2
    if not a.quiet:
        print("%-*s %6s " % (w, "trace", "size") +
              " ".join("%7s" % p for p in POLICIES + ["opt"]) + "  best      learned")
    for key in sorted(rows):
        r = rows[key]
        opt = r["opt"]["miss_ratio"]
        mr = {p: r[p]["miss_ratio"] for p in POLICIES}
        misses = {p: r[p]["misses"] for p in POLICIES}
        others = min(misses[p] for p in POLICIES if p != "learned")
        win = misses["learned"] <= others
        best = min((p for p in POLICIES), key=lambda p: (misses[p], p != "learned"))
        wins += win
        gap_l.append((mr["learned"] - opt) * 100)
        gap_lru.append((mr["lru"] - opt) * 100)
        points.append({"trace": key[0], "size": key[1], "miss_ratio": mr, "opt": opt,
                       "learned_wins": win, "best": best})
        if not a.quiet:
            size = "%.0f%%" % (key[1] * 100) if isinstance(key[1], float) else str(key[1])
            print("%-*s %6s " % (w, key[0], size) +
                  " ".join("%7.2f" % (mr[p] * 100) for p in POLICIES) +
                  " %7.2f  %-8s  %s" % (opt * 100, best, "WIN" if win else
                                        "+%.2f" % ((misses["learned"] - others) * 100.0 /
                                                   r["learned"]["accesses"])))
    n = len(points)
    mg_l, mg_lru = sum(gap_l) / n, sum(gap_lru) / n
    summary = {
        "points": n, "learned_wins": wins, "win_share": wins / n,
        "mean_gap_learned": mg_l, "mean_gap_lru": mg_lru,
        "gap_ratio": mg_l / mg_lru if mg_lru else None,
        "learned_ns_per_miss_max": max(cost) if cost else None,
        "learned_ns_per_miss_mean": sum(cost) / len(cost) if cost else None,
        "learned_ns_per_decision_max": max(decision) if decision else None,
        "learned_ns_per_decision_mean": sum(decision) / len(decision) if decision else None,
    }
    print()
    print("points %d; learned lowest on %d (%.0f %%, target >= 60 %%)" % (n, wins, 100.0 * wins / n))
    print("mean gap to OPT: learned %.2f points, lru %.2f points, ratio %.2f (target < 0.50)"
          % (mg_l, mg_lru, summary["gap_ratio"] or 0))
    if decision:
        print("learned cost per decision (evict(), timed call by call): "
              "%.0f ns mean, %.0f ns max (target <= 1000)"
              % (summary["learned_ns_per_decision_mean"], summary["learned_ns_per_decision_max"]))
    if cost:
        print("learned cost per miss, every hit's learning charged to the misses "
              "(upper bound): %.0f ns mean, %.0f ns max"
              % (summary["learned_ns_per_miss_mean"], summary["learned_ns_per_miss_max"]))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"summary": summary, "points": points}, f, indent=1)
    return 0 if wins / n >= 0.6 and mg_l < 0.5 * mg_lru else 1


if __name__ == "__main__":
    sys.exit(main())
