#!/usr/bin/env python3
"""tests/gpu/test_spill_double.py - a spilling GPU pod (`pvm-pod --gpu all
--gpu-spill`) on the host-memory TEST DOUBLE of the CUDA driver
(tests/gpu/fakecuda.c). No CUDA and no GPU run here: the double imitates
the driver's virtual memory API with mmap and memfd chunks, so the pod's
real spill manager and its real CUDA backend (pods/gpu/spill/spill_cuda.c)
move chunks between "device" mappings, host DRAM and a disk tier, and a
"kernel" or copy touching a chunk that is not mapped would crash the pod.

  test_spill_double.py PVM_POD CUDA_CLIENT SHIM_DIR FAKE_DRIVER [GPU_WORK KERNELS_PTX]

An unmodified driver-API program (cuda_client spill, linked -lcuda,
resolved to poolvm's libcuda.so.1) allocates 4.4x its --gpu-quota:
 - without --gpu-spill the allocation beyond the quota gets
   CUDA_ERROR_OUT_OF_MEMORY;
 - with --gpu-spill (host DRAM of 4 chunks, then a disk tier) it runs 128
   launches, copies and memsets, and every byte is checked; the pod's
   stats (logged when the client goes) show evictions, refills and the
   disk tier used;
 - killed mid-run, the pod frees every chunk, reservation and context;
 - bad --gpu-spill options are refused with exit 2 and a message.
Prints TAP. What the real driver does is checked on a GPU only
(tests/gpu/e2e/gpu_e2e.sh).
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import gpulib

POD, CLIENT, SHIM, FAKE = sys.argv[1:5]
GPU_WORK, PTX = (sys.argv[5:7] + [None, None])[:2]     # when nvcc built them
QUOTA = 8 << 20
results = []
procs = []
tmp = tempfile.mkdtemp(prefix="pvm-gpu-spill-test-")


def ok(cond, what):
    results.append(bool(cond))
    print(("ok" if cond else "not ok") + " %d - %s" % (len(results), what), flush=True)


def start_pod(name, extra, stats):
    err = open(os.path.join(tmp, name + ".err"), "w")
    p = subprocess.Popen([POD, "--gpu", "all", "--listen", "127.0.0.1:0",
                          "--secret-file", SECRET, "--cuda-driver", FAKE,
                          "--gpu-quota", str(QUOTA)] + extra,
                         stdout=subprocess.PIPE, stderr=err, text=True,
                         env=dict(os.environ, FAKECUDA_STATS=stats))
    procs.append(p)
    line = p.stdout.readline()
    if "serving 1 GPU" not in line:
        raise RuntimeError("pod did not start: %r %s" % (line, read(name + ".err")))
    return p, line.split(" on ")[1].split(" ")[0]


def read(name):
    return gpulib.read(os.path.join(tmp, name))


def client_env(addr):
    return dict(os.environ, LD_LIBRARY_PATH=SHIM, POOLVM_GPU_POD=addr,
                POOLVM_GPU_SECRET_FILE=SECRET)


drained = gpulib.drained


def spill_stats(name):
    """The spill stats lines the pod logged, as dicts."""
    return [json.loads(m) for m in re.findall(r"spill stats: (\{.*\})", read(name))]


def stop(p, name):
    p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(timeout=15)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = "hung"
    ok(rc == 0, "%s exits 0 on SIGTERM (%s)" % (name, rc))


def main():
    global SECRET
    SECRET = os.path.join(tmp, "secret")
    with open(SECRET, "w") as f:
        f.write(os.urandom(24).hex() + "\n")
    os.chmod(SECRET, 0o600)
    disk = os.path.join(tmp, "disk")
    os.mkdir(disk)

    # Usage errors.
    base = [POD, "--gpu", "all", "--listen", "127.0.0.1:0", "--secret-file", SECRET,
            "--cuda-driver", FAKE]
    bad = {
        "--gpu-spill without --gpu-quota": (base + ["--gpu-spill"], "--gpu-quota"),
        "--gpu-spill-tier without --gpu-spill": (base + ["--gpu-quota", "8M",
                                                         "--gpu-spill-tier", "disk:" + disk],
                                                 "need --gpu-spill"),
        "a disk tier that is no directory": (base + ["--gpu-quota", "8M", "--gpu-spill",
                                                     "--gpu-spill-tier", "disk:/nonexistent/x"],
                                             "/nonexistent/x"),
        "a tier spec of an unknown kind": (base + ["--gpu-quota", "8M", "--gpu-spill",
                                                   "--gpu-spill-tier", "tape:/dev/st0"],
                                           "tape:/dev/st0"),
        "--gpu-spill-host lots": (base + ["--gpu-quota", "8M", "--gpu-spill",
                                          "--gpu-spill-host", "lots"], "--gpu-spill-host"),
        "--gpu-spill-limit below the quota": (base + ["--gpu-quota", "8M", "--gpu-spill",
                                                      "--gpu-spill-limit", "4M"],
                                              "--gpu-spill-limit"),
    }
    wrong = []
    for what, (argv, needle) in bad.items():
        r = subprocess.run(argv, capture_output=True, text=True, timeout=20)
        if r.returncode != 2 or needle not in r.stderr:
            wrong.append("%s: rc %d, %r" % (what, r.returncode, r.stderr.strip()))
    ok(not wrong, "bad --gpu-spill options: exit 2 with a message naming them (%d cases) %s"
       % (len(bad), "; ".join(wrong)))
    r = subprocess.run([POD, "--gpu", "all", "--help"], capture_output=True, text=True)
    ok(r.returncode == 0 and "--gpu-spill-tier SPEC" in r.stdout,
       "--help describes --gpu-spill and its options")

    # Without --gpu-spill the quota refuses the footprint.
    stats = os.path.join(tmp, "direct.stats")
    p, addr = start_pod("direct", ["--quiet"], stats)
    r = subprocess.run([CLIENT, "spill", str(QUOTA)], capture_output=True, text=True,
                       timeout=60, env=client_env(addr))
    ok(r.returncode == 3 and "CUDA_ERROR_OUT_OF_MEMORY" in r.stdout,
       "test double, no --gpu-spill: 4.4x the quota gets CUDA_ERROR_OUT_OF_MEMORY (rc %d: %s)"
       % (r.returncode, r.stdout.strip().splitlines()[-1:] or r.stderr.strip()))
    done, text = drained(stats)
    ok(done, "... and the pod holds nothing after it (%s)" % text)
    stop(p, "the pod without spill")

    # With --gpu-spill: host DRAM for 4 chunks, then the disk tier.
    stats = os.path.join(tmp, "spill.stats")
    p, addr = start_pod("spill", ["--gpu-spill", "--gpu-spill-host", "8M",
                                  "--gpu-spill-tier", "disk:" + disk], stats)
    t0 = time.time()
    r = subprocess.run([CLIENT, "spill", str(QUOTA)], capture_output=True, text=True,
                       timeout=120, env=client_env(addr))
    took = time.time() - t0
    ok(r.returncode == 0 and "every byte" in r.stdout,
       "test double, --gpu-spill: 4.4x the quota allocated, 128 launches, copies and "
       "memsets, every byte right (%.1fs)%s" % (took, "" if r.returncode == 0 else
                                               ": " + r.stdout + r.stderr))
    done, text = drained(stats)
    ok(done, "after the program the pod holds no chunk, reservation or context (%s)" % text)
    st = spill_stats("spill.err")
    s = st[-1] if st else {}
    ok(s.get("evictions", 0) > 50 and s.get("refills", 0) > 50 and
       s.get("bytes_to_tier", 0) > 0 and s.get("bytes_from_tier", 0) > 0 and
       s.get("tier_errors", 1) == 0 and s.get("quota_bytes") == QUOTA,
       "the pod's spill stats show evictions, refills and the disk tier used: "
       "evictions=%s refills=%s demotions=%s to_tier=%s from_tier=%s period=%s"
       % tuple(s.get(k) for k in ("evictions", "refills", "demotions", "bytes_to_tier",
                                  "bytes_from_tier", "period")))
    ok(s.get("period") == 16 and s.get("mispredicted", 1) == 0,
       "the manager learned the program's launch period through the pod (16 launches a "
       "round; period=%s, predicted=%s)" % (s.get("period"), s.get("predicted")))

    # The 4-thread program of gpu_shim_nogpu (shared connection, a stream
    # each, async copies and launches) through the spilling backend.
    r = subprocess.run([CLIENT, "threads"], capture_output=True, text=True, timeout=60,
                       env=client_env(addr))
    ok(r.returncode == 0, "4 threads, a stream each, 800 batches through the spilling "
       "backend: every result right" + ("" if r.returncode == 0 else ": " + r.stdout + r.stderr))

    if GPU_WORK:
        r = subprocess.run([GPU_WORK, PTX, "vecadd", "100000"], capture_output=True,
                           text=True, timeout=30, env=client_env(addr))
        ok(r.returncode == 0 and "checksum=" in r.stdout,
           "tests/gpu/e2e/gpu_work vecadd (nvcc's PTX) through the spilling pod on the "
           "double" + ("" if r.returncode == 0 else ": " + r.stderr))

    # Killed mid-run, with chunks on the device, in host DRAM and on disk.
    hold = subprocess.Popen([CLIENT, "spill", str(QUOTA), "hold"], env=client_env(addr),
                            stdout=subprocess.PIPE, text=True)
    procs.append(hold)
    ready = ""
    for line in hold.stdout:
        if line.startswith("READY"):
            ready = "READY"
            break
    before = read("spill.stats").strip()
    hold.kill()
    hold.wait()
    done, text = drained(stats)
    st = spill_stats("spill.err")
    s = st[-1] if len(st) > (3 if GPU_WORK else 2) else {}
    ok(ready == "READY" and "allocations=0" not in before and done and
       s.get("evictions", 0) > 0 and s.get("bytes_to_tier", 0) > 0,
       "a program killed mid-run (%d evictions, %s bytes to disk): the pod frees every "
       "chunk, reservation and context (%s -> %s)" % (s.get("evictions", 0),
                                                       s.get("bytes_to_tier"), before, text))
    ok(p.poll() is None, "the spilling pod still serves")
    stop(p, "the spilling pod")

    if GPU_WORK:
        mlp_on_double()
    san = [l for l in read("spill.err").splitlines() + read("direct.err").splitlines()
           if "Sanitizer" in l or "runtime error" in l]
    ok(not san, "no sanitizer report from the pods (ASan builds): %s" % "; ".join(san[:3]))
    print("1..%d" % len(results))
    return 0 if all(results) else 1


def mlp_on_double():
    """gpu_e2e.sh's 4x case, on the double: the MLP of tests/gpu/e2e (8
    hidden layers, the double computing its kernels on the CPU) through a
    pod without spill and through a spilling pod with a quota of a quarter
    of its footprint (64 KiB chunks, so that a small network has enough of
    them): the same checksum."""
    deep = ["mlp", "5", "32", "256", "8"]
    stats = os.path.join(tmp, "mlp.stats")
    p, addr = start_pod("mlp-direct", ["--quiet"], stats)
    r = subprocess.run([GPU_WORK, PTX] + deep, capture_output=True, text=True, timeout=60,
                       env=client_env(addr))
    stop(p, "the pod without spill (MLP)")
    out = dict(l.split("=", 1) for l in r.stdout.splitlines() if "=" in l)
    foot = int(out.get("footprint_bytes", "0"))
    ok(r.returncode == 0 and foot > 0, "gpu_work mlp (8 hidden layers) through a pod on the "
       "double: %s" % (r.stdout.replace("\n", " ") + r.stderr))
    os.environ["FAKECUDA_GRANULARITY"] = "65536"
    try:
        p, addr = start_pod("mlp-spill", ["--gpu-spill", "--gpu-spill-host", "1M",
                                          "--gpu-spill-tier", "disk:" + os.path.join(tmp, "disk"),
                                          "--gpu-quota", str(foot // 4)], stats)
    finally:
        del os.environ["FAKECUDA_GRANULARITY"]
    r4 = subprocess.run([GPU_WORK, PTX] + deep, capture_output=True, text=True, timeout=60,
                        env=client_env(addr))
    out4 = dict(l.split("=", 1) for l in r4.stdout.splitlines() if "=" in l)
    # A 3-layer MLP whose middle layer alone (W1 + dW1, 2 MiB) is more than
    # the quota: its launch is refused, cleanly.
    r3 = subprocess.run([GPU_WORK, PTX, "mlp", "2", "32", "512"], capture_output=True,
                        text=True, timeout=60, env=client_env(addr))
    stop(p, "the spilling pod (MLP)")
    st = spill_stats("mlp-spill.err")
    s = st[0] if st else {}
    ok(r4.returncode == 0 and out4.get("checksum") == out.get("checksum") and
       s.get("evictions", 0) > 0 and s.get("bytes_to_tier", 0) > 0,
       "the same MLP at 4x oversubscription (quota %d of %d bytes) through the spilling pod: "
       "checksum %s equal to the pod without spill (%s); %s evictions, %s refills, %s "
       "prefetches%s" % (foot // 4, foot, out4.get("checksum"), out.get("checksum"),
                         s.get("evictions"), s.get("refills"), s.get("prefetches"),
                         "" if r4.returncode == 0 else ": " + r4.stderr))
    ok(r3.returncode == 1 and "CUDA_ERROR_OUT_OF_MEMORY" in r3.stderr,
       "a kernel whose buffers together exceed the quota: CUDA_ERROR_OUT_OF_MEMORY (%s)"
       % r3.stderr.strip())


def cleanup():
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    shutil.rmtree(tmp, ignore_errors=True)


try:
    rc = main()
except Exception as e:  # report, clean up, fail
    print("not ok - exception: %r" % (e,))
    rc = 1
cleanup()
sys.exit(rc)
