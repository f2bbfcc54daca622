#!/usr/bin/env python3
"""tests/gpu/test_shim.py - poolvm's libcuda.so.1 against a real GPU pod
(`pvm-pod --gpu all`) on a machine without a GPU driver.

  test_shim.py PVM_POD CUDA_CLIENT SHIM_DIR FAKE_DRIVER [GPU_WORK KERNELS_PTX]

Starts real pods on 127.0.0.1 and runs an unmodified driver-API program
(cuda_client, linked -lcuda, resolved to the shim by LD_LIBRARY_PATH):
no device, wrong secret, no pod, the pod killed in the middle of a call.
Then speaks the protocol itself (an encoder written here from
docs/gpu.md, independent of pods/gpu/proto.c): every call answered
CUDA_ERROR_NO_DEVICE, batches and their deferred error, and hostile bytes
before and after authentication, while another client keeps being served.
Last, a pod on FAKE_DRIVER (tests/gpu/fakecuda.c, a host-memory test
double of the driver, since no GPU is here) runs the whole forwarding
path: kernels, batches, deferred errors, handle and pointer checks, the
quota, and that a client killed mid-call leaves no memory or context.
Prints TAP. The pods are told to load a driver that does not exist
(--cuda-driver), so this runs the same on hosts with a GPU; the GPU
checks are tests/gpu/e2e/gpu_e2e.sh.
"""
import hashlib
import shutil
import hmac
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

import gpulib

POD, CLIENT, SHIM, FAKE = sys.argv[1:5]
GPU_WORK, PTX = (sys.argv[5:7] + [None, None])[:2]     # when nvcc built them
MAGIC = 0x43475650
NO_DEVICE, NOT_PERMITTED, UNAVAILABLE = 100, 800, 46
# The pods here load no driver, also on a host with a GPU: what a host
# without one answers is what this test checks.
NO_DRIVER = "/nonexistent/poolvm-test/libcuda.so.1"

# Call ids and request signatures (docs/gpu.md, "Calls").
CALLS = [
    ("SET_CONTEXT", "q", 1), ("INIT", "i", 0), ("DRIVER_GET_VERSION", "", 0),
    ("DEVICE_GET_COUNT", "", 0), ("DEVICE_GET", "i", 0), ("DEVICE_GET_NAME", "ii", 0),
    ("DEVICE_TOTAL_MEM", "i", 0), ("DEVICE_GET_ATTRIBUTE", "ii", 0),
    ("DEVICE_GET_UUID", "i", 0), ("PRIMARY_CTX_RETAIN", "i", 0),
    ("PRIMARY_CTX_RELEASE", "i", 0), ("PRIMARY_CTX_RESET", "i", 0),
    ("PRIMARY_CTX_GET_STATE", "i", 0), ("PRIMARY_CTX_SET_FLAGS", "ii", 0),
    ("CTX_CREATE", "ii", 0), ("CTX_DESTROY", "q", 0), ("CTX_SYNCHRONIZE", "", 0),
    ("CTX_GET_DEVICE", "", 0), ("MODULE_LOAD_DATA", "b", 0), ("MODULE_UNLOAD", "q", 0),
    ("MODULE_GET_FUNCTION", "qb", 0), ("MODULE_GET_GLOBAL", "qb", 0),
    ("MEM_ALLOC", "q", 0), ("MEM_FREE", "q", 0), ("MEM_GET_INFO", "", 0),
    ("MEMCPY_HTOD", "qb", 0), ("MEMCPY_DTOH", "qq", 0), ("MEMCPY_DTOD", "qqq", 0),
    ("MEMCPY_HTOD_ASYNC", "qbq", 1), ("MEMCPY_DTOH_ASYNC", "qqq", 0),
    ("MEMCPY_DTOD_ASYNC", "qqqq", 1), ("MEMSET_D8", "qiq", 0), ("MEMSET_D32", "qiq", 0),
    ("MEMSET_D8_ASYNC", "qiqq", 1), ("MEMSET_D32_ASYNC", "qiqq", 1),
    ("LAUNCH_KERNEL", "qiiiiiiiqb", 1), ("STREAM_CREATE", "ii", 0),
    ("STREAM_DESTROY", "q", 0), ("STREAM_SYNCHRONIZE", "q", 0), ("STREAM_QUERY", "q", 0),
    ("STREAM_WAIT_EVENT", "qqi", 1), ("EVENT_CREATE", "i", 0), ("EVENT_DESTROY", "q", 0),
    ("EVENT_RECORD", "qq", 1), ("EVENT_SYNCHRONIZE", "q", 0), ("EVENT_QUERY", "q", 0),
    ("EVENT_ELAPSED_TIME", "qq", 0), ("FUNC_GET_ATTRIBUTE", "iq", 0),
    ("FUNC_SET_ATTRIBUTE", "qii", 0),
]
ID = {name: i + 1 for i, (name, _, _) in enumerate(CALLS)}

results = []
procs = []
tmpdirs = []


def ok(cond, what):
    results.append((bool(cond), what))
    print(("ok" if cond else "not ok") + " %d - %s" % (len(results), what), flush=True)


def frame(kind, payload, magic=MAGIC, version=1):
    return struct.pack("<IHHII", magic, version, kind, len(payload), 0) + payload


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        part = s.recv(n - len(buf))
        if not part:
            raise ConnectionError("closed")
        buf += part
    return buf


def recv_frame(s):
    hdr = recv_exact(s, 16)
    magic, ver, kind, length, _ = struct.unpack("<IHHII", hdr)
    return kind, recv_exact(s, length)


def args(sig, vals):
    out = b""
    for c, v in zip(sig, vals):
        if c == "i":
            out += struct.pack("<I", v)
        elif c == "q":
            out += struct.pack("<Q", v)
        else:
            out += struct.pack("<I", len(v)) + v
    return out


def record(name, vals=None):
    _, sig, _ = CALLS[ID[name] - 1]
    vals = vals if vals is not None else [b"" if c == "b" else 0 for c in sig]
    a = args(sig, vals)
    return struct.pack("<HHI", ID[name], 0, len(a)) + a


def calls(*records):
    return frame(6, struct.pack("<I", len(records)) + b"".join(records))


def authed(addr, secret, cid=b"tap-client"):
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    cn = os.urandom(32)
    s.sendall(frame(1, cn + struct.pack("<I", len(cid)) + cid))
    kind, pn = recv_frame(s)
    assert kind == 2 and len(pn) == 32
    mac = hmac.new(secret, b"poolvm-auth-v1" + cn + pn + cid, hashlib.sha256).digest()
    s.sendall(frame(3, mac))
    kind, body = recv_frame(s)
    assert kind == 4, "not AUTH_OK: %d" % kind
    (n,) = struct.unpack("<I", body[32:36])
    pod_id = body[36:36 + n]
    want = hmac.new(secret, b"poolvm-pod-v1" + cn + pn + pod_id, hashlib.sha256).digest()
    assert hmac.compare_digest(body[:32], want), "pod MAC wrong"
    return s


def start_pod(secret_file, extra=(), driver=NO_DRIVER, env=None):
    p = subprocess.Popen([POD, "--gpu", "all", "--listen", "127.0.0.1:0",
                          "--secret-file", secret_file, "--quiet",
                          "--cuda-driver", driver] + list(extra),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=env)
    procs.append(p)
    line = p.stdout.readline()
    if "serving" not in line:
        raise RuntimeError("pod did not start: %r %s" % (line, p.stderr.read()))
    if driver == NO_DRIVER and not line.startswith("poolvm pod: serving 0 GPUs"):
        print("1..0 # SKIP a CUDA driver with a GPU is here; tests/gpu/gpu_e2e.sh covers it")
        cleanup()
        sys.exit(77)
    return p, line.split(" on ")[1].split(" ")[0]


def client(mode, addr, secret_file, timeout=20):
    env = dict(os.environ, LD_LIBRARY_PATH=SHIM, POOLVM_GPU_POD=addr,
               POOLVM_GPU_SECRET_FILE=secret_file)
    return subprocess.run([CLIENT, mode], env=env, capture_output=True, text=True,
                          timeout=timeout)


def hostile_pod(secret, answers, pod_secret=None):
    """A fake pod: the real handshake, then each of @answers (bytes) as the
    reply to one CALLS. Returns its address; serves one connection per answer."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)

    def serve():
        for answer in answers:
            try:
                c, _ = srv.accept()
                c.settimeout(10)
                kind, hello = recv_frame(c)
                cn, (n,) = hello[:32], struct.unpack("<I", hello[32:36])
                cid = hello[36:36 + n]
                pn = os.urandom(32)
                c.sendall(frame(2, pn))
                recv_frame(c)
                pid = b"evil-pod"
                mac = hmac.new(pod_secret or secret, b"poolvm-pod-v1" + cn + pn + pid,
                               hashlib.sha256).digest()
                c.sendall(frame(4, mac + struct.pack("<I", len(pid)) + pid))
                recv_frame(c)
                c.sendall(answer)
                time.sleep(0.2)
                c.close()
            except OSError:
                pass
        srv.close()

    import threading
    threading.Thread(target=serve, daemon=True).start()
    return "127.0.0.1:%d" % srv.getsockname()[1]


def cleanup():
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    for d in tmpdirs:
        shutil.rmtree(d, ignore_errors=True)


def main():
    tmp = tempfile.mkdtemp(prefix="pvm-gpu-test-")
    tmpdirs.append(tmp)
    good, bad = os.path.join(tmp, "secret"), os.path.join(tmp, "wrong")
    secret = os.urandom(24).hex().encode()
    for path, data in ((good, secret), (bad, os.urandom(24).hex().encode())):
        with open(path, "wb") as f:
            f.write(data + b"\n")
        os.chmod(path, 0o600)

    pod, addr = start_pod(good)

    # The shim resolves instead of NVIDIA's library.
    ldd = subprocess.run(["ldd", CLIENT], env=dict(os.environ, LD_LIBRARY_PATH=SHIM),
                         capture_output=True, text=True).stdout
    ok(os.path.realpath(SHIM) in ldd or SHIM in ldd, "cuda_client loads poolvm's libcuda.so.1")

    r = client("nodevice", addr, good)
    ok(r.returncode == 0, "no GPU: cuInit gives CUDA_ERROR_NO_DEVICE, the rest clean errors"
       + ("" if r.returncode == 0 else ": " + r.stdout + r.stderr))
    r = client("refused", addr, bad)
    ok(r.returncode == 0 and "shared secret" in r.stderr,
       "wrong secret: CUDA_ERROR_NOT_PERMITTED and a message saying why"
       + ("" if r.returncode == 0 else ": " + r.stdout + r.stderr))
    r = client("nopod", "127.0.0.1:1", good)
    ok(r.returncode == 0 and "cannot connect" in r.stderr,
       "no pod listening: CUDA_ERROR_NO_DEVICE" + ("" if r.returncode == 0 else ": " + r.stdout))
    env = dict(os.environ, LD_LIBRARY_PATH=SHIM)
    env.pop("POOLVM_GPU_POD", None)
    r = subprocess.run([CLIENT, "nopod"], env=env, capture_output=True, text=True, timeout=20)
    ok(r.returncode == 0 and "POOLVM_GPU_POD" in r.stderr,
       "POOLVM_GPU_POD unset: CUDA_ERROR_NO_DEVICE, message names the variable")

    # The same from a configuration file instead of the environment.
    conf = os.path.join(tmp, "gpu.conf")
    with open(conf, "w") as f:
        f.write("# poolvm GPU pod\n[gpu]\npod = %s   ; the pod\nsecret-file = %s\n" % (addr, good))
    env = dict(os.environ, LD_LIBRARY_PATH=SHIM, POOLVM_GPU_CONFIG=conf)
    env.pop("POOLVM_GPU_POD", None)
    env.pop("POOLVM_GPU_SECRET_FILE", None)
    r = subprocess.run([CLIENT, "nodevice"], env=env, capture_output=True, text=True, timeout=20)
    ok(r.returncode == 0, "POOLVM_GPU_CONFIG names the pod and the secret file"
       + ("" if r.returncode == 0 else ": " + r.stdout + r.stderr))
    with open(conf, "a") as f:
        f.write("colour = blue\n")
    r = subprocess.run([CLIENT, "nopod"], env=env, capture_output=True, text=True, timeout=20)
    ok(r.returncode == 0 and "gpu.conf:5: unknown key 'colour'" in r.stderr,
       "a bad configuration file: CUDA_ERROR_NO_DEVICE, the message names file, line, key (%s)"
       % r.stderr.strip())

    # Every call is answered CUDA_ERROR_NO_DEVICE; async ones come back deferred.
    s = authed(addr, secret)
    wrong = []
    for name, sig, is_async in CALLS:
        if is_async:
            continue
        s.sendall(calls(record(name)))
        kind, body = recv_frame(s)
        deferred, result = struct.unpack("<II", body[:8])
        if kind != 7 or result != NO_DEVICE or deferred != 0:
            wrong.append("%s: kind %d result %d deferred %d" % (name, kind, result, deferred))
    ok(not wrong, "driverless pod answers every synchronous call CUDA_ERROR_NO_DEVICE "
       + "; ".join(wrong))
    s.sendall(calls(*[record(n) for n, _, a in CALLS if a] + [record("CTX_SYNCHRONIZE")]))
    kind, body = recv_frame(s)
    ok(kind == 7 and struct.unpack("<II", body[:8]) == (NO_DEVICE, NO_DEVICE),
       "a batch of async calls: their error comes back deferred with the sync call")
    s.sendall(calls(record("EVENT_RECORD")))             # async only: no reply
    s.sendall(calls(record("DRIVER_GET_VERSION")))
    kind, body = recv_frame(s)
    ok(kind == 7 and struct.unpack("<II", body[:8]) == (NO_DEVICE, NO_DEVICE),
       "an async-only CALLS gets no reply; its error comes with the next sync call")
    keeper = s

    # Hostile bytes: each on a fresh connection; the pod drops that one only.
    hostile = {
        "bad magic": frame(1, b"x" * 40, magic=0x12345678),
        "bad version": frame(1, b"x" * 40, version=9),
        "huge length": struct.pack("<IHHII", MAGIC, 1, 1, 0xFFFFFFF0, 0),
        "half a frame then gone": frame(1, b"y" * 40)[:10],
        "HELLO with a 5000-byte id": frame(1, os.urandom(32) + struct.pack("<I", 5000) + b"a" * 60),
        "CALLS before the handshake": calls(record("INIT")),
        "random bytes": os.urandom(300),
    }
    post = {
        "unknown call id": frame(6, struct.pack("<IHHI", 1, 999, 0, 0)),
        "count of zero": frame(6, struct.pack("<I", 0)),
        "arguments cut short": frame(6, struct.pack("<IHHI", 1, ID["MEM_ALLOC"], 0, 4) + b"abcd"),
        "bytes field longer than the record": frame(6, struct.pack("<IHHII", 1, ID["MEMCPY_HTOD"], 0, 12, 0) + struct.pack("<QI", 0, 1000)[:4] + b"\xff\xff\x00\x00"),
        "sync call before the last": calls(record("MEM_ALLOC"), record("CTX_SYNCHRONIZE")),
        "trailing bytes": frame(6, struct.pack("<I", 1) + record("CTX_SYNCHRONIZE") + b"zz"),
        "reserved field set": frame(6, struct.pack("<IHHI", 1, ID["CTX_SYNCHRONIZE"], 7, 0)),
        "REPLY sent to the pod": frame(7, b"\0" * 8),
    }
    host, port = addr.rsplit(":", 1)
    dropped = []
    for what, data in hostile.items():
        c = socket.create_connection((host, int(port)), timeout=10)
        c.sendall(data)
        if what == "half a frame then gone":
            c.close()
            continue
        try:
            c.shutdown(socket.SHUT_WR)
            while c.recv(4096):
                pass
            dropped.append(what)
        except socket.timeout:
            print("# %s: the pod kept the connection open" % what)
        except OSError:
            dropped.append(what)
        c.close()
    ok(len(dropped) == len(hostile) - 1, "pre-auth hostile bytes: connection closed (%d cases)"
       % len(hostile))
    closed = []
    for what, data in post.items():
        c = authed(addr, secret, b"hostile")
        c.sendall(data)
        try:
            kind, _ = recv_frame(c)
            closed.append(False)
            print("# %s: answered kind %d instead of being dropped" % (what, kind))
        except socket.timeout:
            closed.append(False)
            print("# %s: the pod kept the connection open" % what)
        except (ConnectionError, OSError):
            closed.append(True)
        c.close()
    ok(all(closed), "authenticated malformed CALLS: connection dropped (%d cases)" % len(post))
    ok(pod.poll() is None, "the pod survived every hostile input")
    keeper.sendall(calls(record("DRIVER_GET_VERSION")))
    kind, body = recv_frame(keeper)
    ok(kind == 7 and struct.unpack("<II", body[:8])[1] == NO_DEVICE,
       "a client connected before the hostile ones is still served")
    r = client("nodevice", addr, good)
    ok(r.returncode == 0, "a new client is served after the hostile ones")
    keeper.close()

    # A hostile pod: the program gets CUDA_ERROR_DEVICE_UNAVAILABLE, never a crash.
    answers = {
        "garbage": os.urandom(64),
        "a REPLY too short": frame(7, b"\0\0"),
        "a REPLY with bytes left over": frame(7, b"\0" * 12),
        "a CALLS instead of a REPLY": frame(6, b"\0" * 8),
        "a huge frame length": struct.pack("<IHHII", MAGIC, 1, 7, 0x7FFFFFFF, 0),
        "half a REPLY, then gone": frame(7, b"\0" * 8)[:20],
    }
    baddr = hostile_pod(secret, list(answers.values()))
    crashed = []
    for what in answers:
        r = client("badpod", baddr, good)
        if r.returncode != 0:
            crashed.append("%s: rc %d %s" % (what, r.returncode, r.stdout.strip()))
    ok(not crashed, "a pod answering nonsense (%d kinds): CUDA_ERROR_DEVICE_UNAVAILABLE, "
       "no crash %s" % (len(answers), "; ".join(crashed)))

    # A "pod" that does not know the secret but claims success: refused.
    iaddr = hostile_pod(secret, [b""], pod_secret=b"x" * 32)
    r = client("refused", iaddr, good)
    ok(r.returncode == 0 and "does not know the shared secret" in r.stderr,
       "a pod whose MAC is wrong is refused by the program: CUDA_ERROR_NOT_PERMITTED (%s)"
       % r.stderr.strip())

    # The pod killed in the middle of a call: the program gets an error.
    env = dict(os.environ, LD_LIBRARY_PATH=SHIM, POOLVM_GPU_POD=addr,
               POOLVM_GPU_SECRET_FILE=good, POOLVM_GPU_QUIET="1")
    prog = subprocess.Popen([CLIENT, "loop"], env=env, stdout=subprocess.PIPE, text=True)
    procs.append(prog)
    ready = prog.stdout.readline()
    os.kill(pod.pid, signal.SIGSTOP)     # the program now waits inside a call
    time.sleep(0.3)
    os.kill(pod.pid, signal.SIGKILL)
    pod.wait()
    t0 = time.time()
    try:
        out, _ = prog.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        prog.kill()
        out = "hung"
    ok(ready.strip() == "READY" and prog.returncode == 0,
       "pod killed mid-call: CUDA_ERROR_DEVICE_UNAVAILABLE after %.2fs, no hang or crash (%s)"
       % (time.time() - t0, out.strip().replace("\n", "; ")))

    # SIGTERM: clean exit 0 with a client connected.
    pod2, addr2 = start_pod(good)
    c = authed(addr2, secret)
    pod2.send_signal(signal.SIGTERM)
    try:
        rc = pod2.wait(timeout=15)
    except subprocess.TimeoutExpired:
        rc = "hung"
    ok(rc == 0, "SIGTERM with a client connected: the pod exits 0 (%s)" % rc)
    c.close()
    sanitizer_reports = [pod2.stderr.read()]

    # Usage errors name the option.
    r = subprocess.run([POD, "--gpu", "zero", "--listen", "127.0.0.1:0", "--secret-file", good],
                       capture_output=True, text=True)
    ok(r.returncode == 2 and "--gpu" in r.stderr, "--gpu zero: exit 2 naming the option")
    r = subprocess.run([POD, "--gpu", "all", "--listen", "127.0.0.1:0", "--secret-file", good,
                        "--gpu-quota", "lots"], capture_output=True, text=True)
    ok(r.returncode == 2 and "--gpu-quota" in r.stderr, "--gpu-quota lots: exit 2")
    r = subprocess.run([POD, "--gpu", "all", "--help"], capture_output=True, text=True)
    ok(r.returncode == 0 and "--gpu-quota" in r.stdout, "--gpu all --help describes the GPU pod")

    # The forwarding path on the host-memory test double of the driver.
    stats = os.path.join(tmp, "fake.stats")
    quota = 8 << 20
    fpod, faddr = start_pod(good, ["--gpu-quota", str(quota)], driver=FAKE,
                            env=dict(os.environ, FAKECUDA_STATS=stats))
    ok(fpod.poll() is None, "a pod on the test double serves")
    r = subprocess.run(
        [CLIENT, "fake", str(quota)], capture_output=True, text=True, timeout=30,
        env=dict(os.environ, LD_LIBRARY_PATH=SHIM, POOLVM_GPU_POD=faddr,
                 POOLVM_GPU_SECRET_FILE=good))
    ok(r.returncode == 0, "through the pod: kernels with kernelParams, a batch on a stream, "
       "events, deferred launch errors, handle and pointer checks, the quota"
       + ("" if r.returncode == 0 else ": " + r.stdout + r.stderr))

    r = subprocess.run([CLIENT, "threads"], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, LD_LIBRARY_PATH=SHIM, POOLVM_GPU_POD=faddr,
                                POOLVM_GPU_SECRET_FILE=good))
    ok(r.returncode == 0, "4 threads share one connection, each its own stream: 800 "
       "batches, every result right" + ("" if r.returncode == 0 else ": " + r.stdout + r.stderr))

    done, text = gpulib.drained(stats)
    ok(done, "after the program exits the pod holds no context or memory (%s)" % text)
    env = dict(os.environ, LD_LIBRARY_PATH=SHIM, POOLVM_GPU_POD=faddr,
               POOLVM_GPU_SECRET_FILE=good)
    hold = subprocess.Popen([CLIENT, "hold"], env=env, stdout=subprocess.PIPE, text=True)
    procs.append(hold)
    ready = hold.stdout.readline().strip()
    with open(stats) as f:
        before = f.read().strip()
    hold.kill()
    hold.wait()
    done, text = gpulib.drained(stats)
    ok(ready == "READY" and "bytes=2097152" in before and done,
       "a program killed while holding 2 MiB: the pod frees it (%s -> %s)" % (before, text))
    # Vanishing in the middle of a message, with memory allocated.
    c = authed(faddr, secret, b"vanisher")
    c.sendall(calls(record("PRIMARY_CTX_RETAIN", [0])))
    kind, body = recv_frame(c)
    (ctx,) = struct.unpack("<Q", body[8:16])
    c.sendall(calls(record("SET_CONTEXT", [ctx]), record("MEM_ALLOC", [4096])))
    kind, body = recv_frame(c)
    alloc_ok = kind == 7 and struct.unpack("<II", body[:8]) == (0, 0)
    whole = calls(record("MEMCPY_HTOD", [struct.unpack("<Q", body[8:16])[0], b"x" * 1000]))
    c.sendall(whole[:len(whole) // 2])
    c.close()
    done, text = gpulib.drained(stats)
    ok(alloc_ok and done, "a client gone in the middle of a message: its memory and "
       "context are freed (%s)" % text)
    if GPU_WORK:
        # The GPU checks' own program, nvcc's PTX and all, through the pod:
        # the double knows vecadd, so this runs the e2e path short of a GPU.
        r = subprocess.run([GPU_WORK, PTX, "vecadd", "100000"], capture_output=True, text=True,
                           timeout=30, env=env)
        ok(r.returncode == 0 and "checksum=" in r.stdout,
           "tests/gpu/e2e/gpu_work vecadd (nvcc's PTX, 4 params) runs through the pod "
           "on the double" + ("" if r.returncode == 0 else ": " + r.stderr))
    ok(fpod.poll() is None, "the pod on the test double still serves")
    fpod.send_signal(signal.SIGTERM)
    try:
        frc = fpod.wait(timeout=15)
    except subprocess.TimeoutExpired:
        frc = "hung"
    sanitizer_reports.append(fpod.stderr.read())
    ok(frc == 0, "the pod on the test double exits 0 on SIGTERM (%s)" % frc)
    bad = [l for e in sanitizer_reports for l in e.splitlines()
           if "Sanitizer" in l or "runtime error" in l]
    ok(not bad, "no sanitizer report from the pods that exited (ASan builds): %s"
       % "; ".join(bad[:3]))

    cleanup()
    print("1..%d" % len(results))
    return 0 if all(c for c, _ in results) else 1


try:
    rc = main()
except Exception as e:  # report, clean up, fail
    print("not ok - exception: %r" % (e,))
    cleanup()
    rc = 1
sys.exit(rc)
