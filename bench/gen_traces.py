#!/usr/bin/env python3
"""bench/gen_traces.py — families of synthetic page traces, for checking
eviction policies on patterns other than the corpus.

Each family draws its parameters from the seed, so different seeds give
different traces of the same kinds (use one seed to develop, others to
check that nothing was tuned to it). Output: text traces (one page per
line), which is how unseen traces reach `poolvm sim`.

Families:
  zipf      independent draws, Zipf(alpha) over N pages
  loop      passes over L pages, a little noise
  scanhot   a Zipf hot set cut by long one-time scans
  phases    working sets in turn, each Zipf, some overlap
  stack     LRU-friendly: reuse at a geometric stack depth, or a new page
  seqrand   sequential streams interleaved with Zipf accesses
  tiles     a blocked matrix traversal (tiles reused, rows streamed)
  shift     Zipf whose popularity order is reshuffled every phase
  loops     two loops of different lengths interleaved
  burst     pages hot for a short while, then never again, over a hot core

Usage: bench/gen_traces.py OUTDIR [--seed N] [--accesses N]
"""
import argparse
import os
import random
import sys


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "sim", "traces"))
from make_traces import zipf_sampler as zipf  # noqa: E402  (one Zipf sampler)


def fam_zipf(rng, n_acc):
    n = rng.randint(5000, 40000)
    z = zipf(rng, n, rng.uniform(0.6, 1.3))
    perm = list(range(n))
    rng.shuffle(perm)
    return [perm[z()] for _ in range(n_acc)]


def fam_loop(rng, n_acc):
    l = rng.randint(2000, 20000)
    out = []
    while len(out) < n_acc:
        for p in range(l):
            out.append(p if rng.random() > 0.02 else l + rng.randrange(l))
    return out[:n_acc]


def fam_scanhot(rng, n_acc):
    hot = rng.randint(1000, 8000)
    z = zipf(rng, hot, rng.uniform(0.7, 1.1))
    out, nxt = [], 10 ** 6
    while len(out) < n_acc:
        for _ in range(rng.randint(hot, hot * 4)):
            out.append(z())
        for _ in range(rng.randint(hot // 2, hot * 3)):
            out.append(nxt)
            nxt += 1
    return out[:n_acc]


def fam_phases(rng, n_acc):
    out, base = [], 0
    while len(out) < n_acc:
        ws = rng.randint(2000, 12000)
        z = zipf(rng, ws, rng.uniform(0.5, 1.0))
        for _ in range(rng.randint(ws * 3, ws * 8)):
            out.append(base + z())
        base += int(ws * rng.uniform(0.3, 1.0))
    return out[:n_acc]


def fam_stack(rng, n_acc):
    stack, out, nxt = [], [], 0
    p_new = rng.uniform(0.02, 0.1)
    mean_depth = rng.randint(200, 4000)
    for _ in range(n_acc):
        # A depth beyond the stack is a new page: clamping it to the
        # bottom (as this did until 2026-11-24) made the least recently
        # used page the hottest one, 14-18 % of all accesses: a hidden
        # loop through the stack's bottom, not an LRU-friendly trace.
        d = int(rng.expovariate(1.0 / mean_depth))
        if not stack or rng.random() < p_new or d >= len(stack):
            page = nxt
            nxt += 1
        else:
            page = stack.pop(len(stack) - 1 - d)
        stack.append(page)
        if len(stack) > 60000:
            del stack[:10000]
        out.append(page)
    return out


def fam_seqrand(rng, n_acc):
    n = rng.randint(4000, 20000)
    z = zipf(rng, n, rng.uniform(0.7, 1.1))
    out, cur = [], 10 ** 6
    frac = rng.uniform(0.2, 0.6)
    while len(out) < n_acc:
        if rng.random() < frac:
            run = rng.randint(50, 2000)
            out.extend(range(cur, cur + run))
            cur += run
        else:
            out.extend(z() for _ in range(rng.randint(20, 300)))
    return out[:n_acc]


def fam_tiles(rng, n_acc):
    rows = rng.randint(40, 120)
    tile = rng.randint(32, 128)
    ntiles = rng.randint(8, 40)
    out = []
    while len(out) < n_acc:
        for r in range(rows):
            for t in range(ntiles):
                out.extend(range(t * tile, (t + 1) * tile, 4))
                out.append(10 ** 6 + r * ntiles + t)
    return out[:n_acc]


def fam_shift(rng, n_acc):
    n = rng.randint(5000, 20000)
    z = zipf(rng, n, rng.uniform(0.8, 1.2))
    out = []
    while len(out) < n_acc:
        perm = list(range(n))
        rng.shuffle(perm)
        for _ in range(rng.randint(n * 2, n * 6)):
            out.append(perm[z()])
    return out[:n_acc]


def fam_loops(rng, n_acc):
    a, b = rng.randint(1000, 5000), rng.randint(5000, 30000)
    out, i, j = [], 0, 0
    mix = rng.uniform(0.3, 0.7)
    while len(out) < n_acc:
        if rng.random() < mix:
            out.append(i)
            i = (i + 1) % a
        else:
            out.append(10 ** 6 + j)
            j = (j + 1) % b
    return out


def fam_burst(rng, n_acc):
    core = rng.randint(500, 3000)
    z = zipf(rng, core, 0.9)
    out, nxt, live = [], 10 ** 6, []
    while len(out) < n_acc:
        r = rng.random()
        if r < 0.4:
            out.append(z())
        else:
            if not live or rng.random() < 0.1:
                live.append([nxt, rng.randint(5, 60)])
                nxt += 1
            k = rng.randrange(len(live))
            out.append(live[k][0])
            live[k][1] -= 1
            if live[k][1] <= 0:
                live.pop(k)
    return out[:n_acc]


FAMILIES = [("zipf", fam_zipf), ("loop", fam_loop), ("scanhot", fam_scanhot),
            ("phases", fam_phases), ("stack", fam_stack), ("seqrand", fam_seqrand),
            ("tiles", fam_tiles), ("shift", fam_shift), ("loops", fam_loops),
            ("burst", fam_burst)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--accesses", type=int, default=200000)
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    for name, fn in FAMILIES:
        rng = random.Random("%s-%d" % (name, a.seed))
        acc = fn(rng, a.accesses)
        path = os.path.join(a.outdir, "%s-s%d.txt" % (name, a.seed))
        with open(path, "w") as f:
            f.write("# bench/gen_traces.py family %s seed %d\n" % (name, a.seed))
            f.write("\n".join(str(p) for p in acc))
            f.write("\n")
        print(path)


if __name__ == "__main__":
    main()
