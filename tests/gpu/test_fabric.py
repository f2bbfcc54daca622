#!/usr/bin/env python3
"""tests/gpu/test_fabric.py - the GPU pod's libfabric transport between two
"hosts": the pod in one network namespace, the program in another.

  test_fabric.py PVM_POD CUDA_CLIENT SHIM_DIR FAKE_DRIVER FABRIC_HOSTILE PODNET_SH PVM_GPU_POD

Namespaces and their bridge come from scripts/podnet.sh (pod host
10.250.1.11, client host 10.250.1.100). The pod runs on the host-memory
test double of the driver (tests/gpu/fakecuda.c) with --gpu-fabric tcp;
the unmodified driver-API program (cuda_client, on the shim) reaches it
with POOLVM_GPU_POD=fabric://10.250.1.11:7401: the forwarding path,
threads, frames of several MiB, TCP and fabric clients at once, the
configuration file, a wrong secret, a program killed while holding memory
(freed after the idle timeout), hostile messages to the fabric endpoint,
the lean pvm-gpu-pod, usage errors. Prints TAP; exits 77 without root,
network namespaces or libfabric's tcp provider.
"""
import os
import signal
import subprocess
import sys
import tempfile
import time

import gpulib

POD, CLIENT, SHIM, FAKE, HOSTILE, PODNET, LEAN = sys.argv[1:8]
ID = "pvm-gf-%d" % os.getpid()
POD_NS, CL_NS = ID + "-pod1", ID + "-vmm"
POD_IP = "10.250.1.11"
TCP_ADDR, FAB_ADDR = POD_IP + ":7400", "fabric://" + POD_IP + ":7401"
QUOTA = 8 << 20
IDLE = 3            # --gpu-fabric-timeout for the pod under test

results = []
procs = []
net_up = False


def ok(cond, what):
    results.append((bool(cond), what))
    print(("ok" if cond else "not ok") + " %d - %s" % (len(results), what), flush=True)


def podnet(*args):
    return subprocess.run(["bash", "-c", '. "$1"; shift; "$@"', "podnet", PODNET] + list(args),
                          capture_output=True, text=True)


def cleanup():
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    if net_up:
        podnet("podnet_net_down", ID)


def skip(why):
    print("1..0 # SKIP " + why)
    cleanup()
    sys.exit(77)


def in_ns(ns, argv):
    return ["ip", "netns", "exec", ns] + argv


def client_env(secret, addr=FAB_ADDR, **extra):
    env = dict(os.environ, LD_LIBRARY_PATH=SHIM, POOLVM_GPU_SECRET_FILE=secret,
               POOLVM_GPU_FABRIC_PROVIDER="tcp")
    if addr:
        env["POOLVM_GPU_POD"] = addr
    env.update(extra)
    return env


def client(mode_args, env, timeout=60):
    return subprocess.run(in_ns(CL_NS, [CLIENT] + mode_args), env=env, capture_output=True,
                          text=True, timeout=timeout)


def start_pod(exe, secret, log, extra=(), stats=None, listen=TCP_ADDR):
    env = dict(os.environ)
    if stats:
        env["FAKECUDA_STATS"] = stats
    p = subprocess.Popen(in_ns(POD_NS, [exe, "--gpu", "all", "--listen", listen,
                                        "--secret-file", secret, "--cuda-driver", FAKE,
                                        "--gpu-quota", str(QUOTA), "--gpu-fabric", "tcp"]
                               + list(extra)),
                         stdout=subprocess.PIPE, stderr=open(log, "w"), text=True, env=env)
    procs.append(p)
    line = p.stdout.readline()
    return p, line


read = gpulib.read
drained = gpulib.drained


def main():
    global net_up
    if os.geteuid() != 0:
        skip("needs root to create network namespaces")
    if subprocess.run(["ip", "netns", "add", ID + "-probe"], capture_output=True).returncode:
        skip("'ip netns add' fails here (no network namespaces?)")
    subprocess.run(["ip", "netns", "del", ID + "-probe"], capture_output=True)
    net_up = True
    r = podnet("podnet_net_up", ID, "1")
    if r.returncode == 2:
        skip("cannot create a bridge here")
    if r.returncode:
        raise RuntimeError("podnet_net_up failed: " + r.stderr)

    tmp = tempfile.mkdtemp(prefix="pvm-gf-")
    good, other = os.path.join(tmp, "good.secret"), os.path.join(tmp, "other.secret")
    for path in (good, other):
        with open(path, "wb") as f:
            f.write(os.urandom(32))
        os.chmod(path, 0o600)
    stats, log = os.path.join(tmp, "fake.stats"), os.path.join(tmp, "pod.log")

    pod, line = start_pod(POD, good, log, ["--gpu-fabric-timeout", str(IDLE)], stats=stats)
    if "serving" not in line:
        if "no libfabric provider" in read(log) or "cannot load" in read(log):
            skip("libfabric's tcp provider is not usable here: " + read(log).strip())
        raise RuntimeError("pod did not start: %r %s" % (line, read(log)))
    ok(("on %s (tcp) and %s (tcp;ofi_rxm)" % (TCP_ADDR, FAB_ADDR)) in line,
       "the serving line names both transports: " + line.strip())

    env = client_env(good)
    r = client(["fake", str(QUOTA)], env)
    ok(r.returncode == 0, "over fabric from another host: kernels, a batch on a stream, events, "
       "deferred errors, handle and pointer checks, the quota"
       + ("" if r.returncode == 0 else ": " + r.stdout[-2000:] + r.stderr[-2000:]))
    done, text = drained(stats, 5)
    ok(done, "the program exits: the pod holds nothing at once (CLOSE, not the timeout): " + text)

    # TCP and fabric clients at the same time, 4 threads each.
    pt = subprocess.Popen(in_ns(CL_NS, [CLIENT, "threads"]), env=client_env(good, TCP_ADDR),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    pf = subprocess.Popen(in_ns(CL_NS, [CLIENT, "threads"]), env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    procs.extend([pt, pf])
    out_t, out_f = pt.communicate(timeout=90)[0], pf.communicate(timeout=90)[0]
    ok(pt.returncode == 0 and pf.returncode == 0,
       "a TCP and a fabric program at once, 4 threads each (800 batches each), all right"
       + ("" if pt.returncode == 0 and pf.returncode == 0 else ": " + out_t[-1000:] + out_f[-1000:]))

    r = client(["bigcopy", "6"], env)
    ok(r.returncode == 0, "frames of 6 MiB over fabric (96 messages each) and a batch of six "
       "1 MiB async copies: every byte right (%s)" % r.stdout.strip().replace("\n", " ")
       + ("" if r.returncode == 0 else r.stderr[-1000:]))

    # Figures only (not checked): the round trip over the veth pair.
    for name, e in (("tcp", client_env(good, TCP_ADDR)), ("fabric", env)):
        r = client(["overhead", "2000"], e)
        r2 = client(["bigcopy", "6"], e)
        print("# %s across namespaces: %s %s" % (name, r.stdout.strip().replace("\n", " "),
                                                 r2.stdout.strip().replace("\n", " ")))

    r = client(["refused"], client_env(other))
    ok(r.returncode == 0 and "secret" in r.stderr,
       "wrong secret over fabric: CUDA_ERROR_NOT_PERMITTED (%s)" % r.stderr.strip()[:200])

    conf = os.path.join(tmp, "gpu.conf")
    with open(conf, "w") as f:
        f.write("[gpu]\npod = %s\nsecret-file = %s\nfabric-provider = tcp\n" % (FAB_ADDR, good))
    r = client(["fake", str(QUOTA)], dict(os.environ, LD_LIBRARY_PATH=SHIM,
                                          POOLVM_GPU_CONFIG=conf))
    ok(r.returncode == 0, "the pod named in the configuration file (pod = fabric://..., "
       "fabric-provider = tcp)" + ("" if r.returncode == 0 else ": " + r.stderr[-500:]))
    with open(conf, "w") as f:
        f.write("[gpu]\npod = %s\nfabric-provider = pigeon\nsecret-file = %s\n" % (FAB_ADDR, good))
    r = client(["nopod"], dict(os.environ, LD_LIBRARY_PATH=SHIM, POOLVM_GPU_CONFIG=conf))
    ok(r.returncode == 0 and conf + ":3" in r.stderr and "fabric-provider" in r.stderr,
       "a bad fabric-provider line: CUDA_ERROR_NO_DEVICE naming file, line and key (%s)"
       % r.stderr.strip()[:200])

    t0 = time.time()
    r = client(["nopod"], client_env(good, "fabric://%s:7499" % POD_IP), timeout=30)
    ok(r.returncode == 0, "no pod at a fabric address: CUDA_ERROR_NO_DEVICE after %.1fs (%s)"
       % (time.time() - t0, r.stderr.strip()[:200]))
    r = client(["nopod"], client_env(good, "ofi+tcp://%s:7401" % POD_IP))
    ok(r.returncode == 0 and "unknown scheme" in r.stderr,
       "an unknown address scheme is named (%s)" % r.stderr.strip()[:200])

    # A program killed while holding 2 MiB: no CLOSE, so the idle timeout.
    hold = subprocess.Popen(in_ns(CL_NS, [CLIENT, "hold"]), env=env, stdout=subprocess.PIPE,
                            text=True)
    procs.append(hold)
    ready = hold.stdout.readline().strip()
    before = read(stats).strip()
    hold.kill()
    hold.wait()
    t0 = time.time()
    done, text = drained(stats, IDLE + 5)
    ok(ready == "READY" and "bytes=2097152" in before and done and
       "fabric idle timeout" in read(log),
       "a fabric program killed while holding 2 MiB: freed %.1fs later (timeout %d s; %s -> %s)"
       % (time.time() - t0, IDLE, before, text))

    # Hostile messages to the fabric endpoint.
    r = subprocess.run(in_ns(CL_NS, [HOSTILE, FAB_ADDR[len("fabric://"):]]), capture_output=True,
                       text=True, timeout=60)
    ok(r.returncode == 0, "fabric_hostile sent its messages: %s"
       % (r.stdout.strip().splitlines()[-1:] if r.returncode == 0 else r.stderr.strip()))
    ok(pod.poll() is None, "the pod lives after the hostile messages")
    r = client(["fake", str(QUOTA)], env)
    ok(r.returncode == 0, "and serves a program over fabric as before"
       + ("" if r.returncode == 0 else ": " + r.stdout[-1000:] + r.stderr[-1000:]))
    done, text = drained(stats, IDLE + 5)
    time.sleep(IDLE + 1.5)      # the links that vanished after CONNECT
    lines = read(log).splitlines()
    forged = [l for l in lines if "out of sequence" in l or "repeated" in l]
    silent = [l for l in lines if "handshake" in l and "fabric idle timeout" in l]
    ok(done and forged and len(silent) >= 3,
       "links with forged sequence numbers dropped (%s), 3 that went silent after CONNECT "
       "ended by the idle timeout (%d)" % (forged[0].split("failed: ")[-1] if forged else "none",
                                           len(silent)))

    pod.send_signal(signal.SIGTERM)
    try:
        rc = pod.wait(timeout=20)
    except subprocess.TimeoutExpired:
        rc = "hung"
    text = read(log)
    dropped = [l for l in text.splitlines() if "messages dropped" in l]
    n = int(dropped[0].split(" dropped by the idle timeout, ")[1].split()[0]) if dropped else 0
    ok(rc == 0 and n >= 6, "SIGTERM: exit %s; the pod counted %d malformed messages (%s)"
       % (rc, n, dropped[0].split("fabric: ")[-1] if dropped else "no stats line"))
    bad = [l for l in text.splitlines() if "Sanitizer" in l or "runtime error" in l]
    ok(not bad, "no sanitizer report from the pod (ASan builds): %s" % "; ".join(bad[:3]))

    # The lean pvm-gpu-pod loads libfabric at run time too.
    llog = os.path.join(tmp, "lean.log")
    lean, line = start_pod(LEAN, good, llog, ["--fabric-listen", POD_IP + ":7411"],
                           listen=POD_IP + ":7410")
    ok("fabric://%s:7411 (tcp;ofi_rxm)" % POD_IP in line, "pvm-gpu-pod --gpu-fabric tcp: "
       + (line.strip() or read(llog)[-300:]))
    r = client(["fake", str(QUOTA)], client_env(good, "fabric://%s:7411" % POD_IP))
    ok(r.returncode == 0, "a program over fabric through the lean pod"
       + ("" if r.returncode == 0 else ": " + r.stderr[-500:]))
    lean.send_signal(signal.SIGTERM)
    try:
        lrc = lean.wait(timeout=20)
    except subprocess.TimeoutExpired:
        lrc = "hung"
    ok(lrc == 0, "the lean pod exits 0 on SIGTERM (%s)" % lrc)

    # shm: a pod and a program on the same host (here, the root namespace).
    slog = os.path.join(tmp, "shm.log")
    sp = subprocess.Popen([POD, "--gpu", "all", "--listen", "127.0.0.1:0", "--secret-file", good,
                           "--cuda-driver", FAKE, "--gpu-quota", str(QUOTA), "--gpu-fabric", "shm"],
                          stdout=subprocess.PIPE, stderr=open(slog, "w"), text=True)
    procs.append(sp)
    line = sp.stdout.readline()
    if " and fabric://" in line:
        saddr = line.split(" and ")[1].split(" ")[0]
        r = subprocess.run([CLIENT, "fake", str(QUOTA)], capture_output=True, text=True,
                           timeout=60, env=client_env(good, saddr,
                                                      POOLVM_GPU_FABRIC_PROVIDER="shm"))
        ok(r.returncode == 0, "--gpu-fabric shm on one host: the program over %s" % saddr
           + ("" if r.returncode == 0 else ": " + r.stdout[-500:] + r.stderr[-500:]))
    else:
        print("ok %d - # SKIP no shm provider here: %s" % (len(results) + 1, read(slog).strip()))
        results.append((True, "shm skipped"))
    sp.send_signal(signal.SIGTERM)
    sp.wait(timeout=20)

    # Usage errors name the option.
    base = [POD, "--gpu", "all", "--listen", "127.0.0.1:0", "--secret-file", good]
    for extra, opt in ((["--gpu-fabric", "pigeon"], "--gpu-fabric"),
                       (["--fabric-listen", "127.0.0.1:0"], "--fabric-listen"),
                       (["--gpu-fabric", "tcp", "--gpu-fabric-timeout", "1"],
                        "--gpu-fabric-timeout"),
                       (["--gpu-fabric", "tcp", "--fabric-listen", "nonsense"],
                        "--fabric-listen")):
        r = subprocess.run(base + extra, capture_output=True, text=True, timeout=20)
        ok(r.returncode in (1, 2) and opt in r.stderr,
           "%s: exit %d naming %s" % (" ".join(extra), r.returncode, opt))

    cleanup()
    print("1..%d" % len(results))
    return 0 if all(c for c, _ in results) else 1


def on_term(sig, frame):
    # meson's timeout: take the namespaces and processes down with us.
    print("not ok - stopped by signal %d" % sig)
    cleanup()
    sys.exit(1)


signal.signal(signal.SIGTERM, on_term)
try:
    rc = main()
except Exception as e:  # report, clean up, fail
    print("not ok - exception: %r" % (e,))
    cleanup()
    rc = 1
sys.exit(rc)
