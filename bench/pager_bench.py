#!/usr/bin/env python3
"""pager_bench.py: poolvm against an all-local guest and against Linux kernel swap.

Boots the standard guest image (BUILD/images/{vmlinux,initramfs.cpio.gz})
and runs one pvm-memtest workload per boot, three ways:

  all-local  plain qemu-system-x86_64 with exactly the QEMU arguments poolvm
             uses (guest RAM on memory-backend-memfd share=on) and no pager;
             all guest RAM stays resident. Once per workload.
  poolvm     `poolvm run --mem MEM --local FRAC% --tier disk:TIERDIR/...`:
             at most FRAC % of guest RAM resident, the rest paged to a disk
             tier by poolvm's userfaultfd pager.
  remote     (with --remote) the same poolvm run with `--tier remote` over
             memory pods: scripts/podnet.sh starts --pods pods, each in its
             own network namespace, and poolvm runs in a fifth, all joined
             by veth pairs on a bridge (tcp; nothing leaves the namespaces);
             --replicas copies of every page (default 2).
  kswap      the same plain QEMU inside a memory cgroup with a swap file in
             TIERDIR (bench/kswap.sh): Linux kernel swap is the pager. The
             cgroup limit is calibrated (see below) so that the guest RAM
             resident under kernel swap is about the same FRAC % of guest RAM.

Times are the guest-reported elapsed_ms of the workload (boot excluded);
wall-clock times are kept in --json. Every run must end with
verdict=PASS mismatches=0 and a clean QEMU/poolvm exit; otherwise its cell
reads FAIL and the bench exits 1 after printing the table. Marks: `*` on a
kswap guest-resident median >= 8 MiB away from the local size, `!` on a kswap
time whose QEMU the cgroup's OOM killer killed after the workload passed.

Calibration of the kernel-swap limit: QEMU's own memory (TCG buffers, ~145
MiB) shares the cgroup and is swapped out first, so a limit of local+145M
leaves far more guest RAM resident than `local`. Per fraction, the bench runs
the seq workload under kernel swap, samples /proc/<qemu>/status RssShmem
(guest RAM is the shared memfd) every 0.2 s between the guest's
`pvm-memtest: start` line and its verdict, takes the median, and moves the
limit by (local - median) until |median - local| < 8 MiB (start at
local + 64 MiB, at most 4 runs). The limit is cached in --limit-cache; a
cached limit is re-checked by its first seq run, which also counts as the
seq measurement.

Progress (one line per run) goes to stderr, the table to stdout. Needs root
for kernel swap (swapon, cgroups); without root, without a cgroup memory
controller, or with TIERDIR on a filesystem that cannot hold a swap file,
kernel swap is skipped and the reason printed. Run only one bench at a time:
it starts one QEMU at a time and uses fixed file names in TIERDIR.
"""

import argparse
import atexit
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

MiB = 1 << 20
WORKLOADS = ("seq", "random", "hotcold")
CAL_TOLERANCE_MIB = 8.0
CAL_MAX_RUNS = 4
CAL_START_EXTRA_MIB = 64
SAMPLE_PERIOD_S = 0.2
STATUS_FIELDS = ("RssShmem", "RssAnon", "RssFile")
HERE = os.path.dirname(os.path.abspath(__file__))


class Interrupted(Exception):
    """SIGTERM (or SIGHUP) arrived: stop like on Ctrl-C."""


def _raise_interrupted(signum, frame):
    raise Interrupted("signal %d" % signum)


def log(msg, end="\n"):
    sys.stderr.write(msg + end)
    sys.stderr.flush()


def parse_size(text):
    """'512M', '2G', '131072K', '536870912' -> bytes."""
    m = re.fullmatch(r"\s*(\d+)\s*([KMGT]?)(i?B)?\s*", text, re.I)
    if not m:
        raise argparse.ArgumentTypeError("bad size %r (e.g. 512M, 2G)" % text)
    mult = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    return int(m.group(1)) * mult[m.group(2).upper()]


def parse_list(text, allowed=None, conv=str):
    out = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            v = conv(item)
        except ValueError:
            raise argparse.ArgumentTypeError("bad list item %r" % item)
        if allowed is not None and v not in allowed:
            raise argparse.ArgumentTypeError(
                "%r is not one of %s" % (item, ", ".join(allowed)))
        out.append(v)
    if not out:
        raise argparse.ArgumentTypeError("empty list")
    return out


def parse_fraction(text):
    v = float(text.rstrip("%"))
    if not 0 < v <= 100:
        raise ValueError(text)
    return int(v) if v == int(v) else v


# --------------------------------------------------------------------------
# processes


def read_status_kib(pid, fields):
    """{field: KiB} for the given /proc/PID/status fields that exist."""
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                name, _, rest = line.partition(":")
                if name in fields:
                    out[name] = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return out


def read_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            raw = f.read()
    except OSError:
        return None
    return [a.decode(errors="replace") for a in raw.split(b"\0")[:-1]]


def find_qemu(root_pid):
    """The qemu-system-* process that is root_pid or one of its descendants."""
    children = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return None
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        try:
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        except (ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(name))
    todo = [root_pid]
    while todo:
        pid = todo.pop()
        argv = read_cmdline(pid)
        if argv and os.path.basename(argv[0]).startswith("qemu-system"):
            return pid
        todo.extend(children.get(pid, []))
    return None


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie counts as gone
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
        return stat[stat.rindex(")") + 2] != "Z"
    except (OSError, ValueError, IndexError):
        return False


def other_qemus(exclude=()):
    """Pids of qemu-system-* processes not started by this bench: another
    guest on this machine competes for its CPUs and makes timings noisy."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) not in exclude:
            argv = read_cmdline(int(name))
            if argv and os.path.basename(argv[0]).startswith("qemu-system"):
                out.append(int(name))
    return out


def verdict_fields(line):
    return dict(re.findall(r"(\w+)=(\S+)", line))


class GuestRun:
    """One boot: launches argv, follows the serial console on stdout, samples
    the QEMU process's RssShmem during the workload phase, stops everything on
    timeout or interrupt."""

    def __init__(self, argv, label, timeout, logdir, term_first="qemu",
                 sample=True):
        self.argv = argv
        self.label = label
        self.timeout = timeout
        self.logdir = logdir
        # how to stop it: "qemu" = SIGTERM QEMU first (its parent then ends
        # on its own and cleans up); "root" = SIGTERM the launched process
        self.term_first = term_first
        self.sample = sample
        self.lines = []
        self.t_start_line = None
        self.t_verdict = None
        self.t_first_line = None
        self.t_last_line = None
        self.verdict_line = None
        self.qemu_pid = None
        self.qemu_cmdline = None
        self.shmem_kib = []
        self.other_kib = {}     # RssAnon, RssFile samples: QEMU's own memory
        self.rc = None
        self.timed_out = False
        self.wall_s = None
        self.root_pid = -1
        self.stderr_path = os.path.join(
            logdir, re.sub(r"[^\w.-]+", "_", label) + ".stderr")

    def _reader(self, stream):
        for raw in iter(stream.readline, b""):
            line = raw.decode(errors="replace").rstrip("\r\n")
            now = time.monotonic()
            if self.t_first_line is None:
                self.t_first_line = now
            self.t_last_line = now
            self.lines.append(line)
            if "pvm-memtest: start" in line and self.t_start_line is None:
                self.t_start_line = now
            elif "pvm-memtest: mode=" in line and "verdict=" in line:
                self.verdict_line = line
                self.t_verdict = now
        stream.close()

    def _stop(self, proc):
        """Stop the run: gently first, so wrappers clean up, then SIGKILL."""
        if proc.poll() is not None:
            return
        qpid = self.qemu_pid or find_qemu(proc.pid)
        try:
            if self.term_first == "qemu" and qpid:
                os.kill(qpid, signal.SIGTERM)
            else:
                os.kill(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=20)
            return
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if qpid and pid_alive(qpid):
            try:
                os.kill(qpid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def run(self):
        errf = open(self.stderr_path, "wb")
        t0 = time.monotonic()
        proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=errf,
                                start_new_session=True)
        errf.close()
        self.root_pid = proc.pid
        reader = threading.Thread(target=self._reader, args=(proc.stdout,),
                                  daemon=True)
        reader.start()
        try:
            next_sample = time.monotonic()
            while proc.poll() is None:
                now = time.monotonic()
                if now - t0 > self.timeout:
                    self.timed_out = True
                    break
                if self.qemu_pid is None:
                    self.qemu_pid = find_qemu(proc.pid)
                    if self.qemu_pid:
                        self.qemu_cmdline = read_cmdline(self.qemu_pid)
                if (self.sample and self.qemu_pid and self.t_start_line
                        and self.t_verdict is None and now >= next_sample):
                    st = read_status_kib(self.qemu_pid, STATUS_FIELDS)
                    # recheck: the verdict may have arrived while reading
                    if "RssShmem" in st and self.t_verdict is None:
                        self.shmem_kib.append(st["RssShmem"])
                        for k in ("RssAnon", "RssFile"):
                            if k in st:
                                self.other_kib.setdefault(k, []).append(st[k])
                    next_sample += SAMPLE_PERIOD_S
                    if next_sample < now:
                        next_sample = now + SAMPLE_PERIOD_S
                time.sleep(0.05 if self.t_start_line is None else 0.02)
        finally:
            # Ctrl-C or timeout: never leave a QEMU behind
            old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
            old_term = signal.signal(signal.SIGTERM, signal.SIG_IGN)
            try:
                self._stop(proc)
            finally:
                signal.signal(signal.SIGINT, old_int)
                signal.signal(signal.SIGTERM, old_term)
        self.wall_s = time.monotonic() - t0
        reader.join(timeout=5)
        self.rc = proc.returncode
        return self

    def stderr_tail(self, n=8):
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read().splitlines()[-n:]
        except OSError:
            return []

    def result(self):
        """Everything measured, as a JSON-able dict with ok/reason."""
        r = {
            "rc": self.rc,
            "timed_out": self.timed_out,
            "wall_s": round(self.wall_s, 3) if self.wall_s is not None else None,
            "guest_console_s": (round(self.t_last_line - self.t_first_line, 3)
                                if self.t_first_line else None),
            "workload_host_s": (round(self.t_verdict - self.t_start_line, 3)
                                if self.t_verdict and self.t_start_line else None),
            "qemu_pid": self.qemu_pid,
        }
        reason = None
        if self.verdict_line:
            f = verdict_fields(self.verdict_line)
            for k in ("elapsed_ms", "fill_ms", "ops_ms", "verify_ms",
                      "mismatches", "pages", "ops", "size_mib"):
                if k in f:
                    try:
                        r[k] = int(f[k])
                    except ValueError:
                        r[k] = f[k]
            r["verdict"] = f.get("verdict")
            r["checksum"] = f.get("checksum")
            r["verdict_line"] = self.verdict_line
            if r["verdict"] != "PASS":
                reason = "verdict=%s" % r["verdict"]
            elif r.get("mismatches") != 0:
                reason = "mismatches=%s" % r.get("mismatches")
        else:
            r["verdict"] = None
            reason = "no verdict line"
        if self.timed_out:
            reason = "timed out after %d s" % self.timeout
        elif reason is None and self.rc != 0:
            reason = "exit status %s" % self.rc
        exits = [l for l in self.lines if l.startswith("poolvm-guest: exit=")]
        if reason is None and exits and exits[-1] != "poolvm-guest: exit=0":
            reason = exits[-1]
        if self.shmem_kib:
            s = sorted(self.shmem_kib)
            r["guest_resident_mib"] = {
                "median": round(statistics.median(s) / 1024, 1),
                "min": round(s[0] / 1024, 1),
                "max": round(s[-1] / 1024, 1),
                "p90": round(s[min(len(s) - 1, int(len(s) * 0.9))] / 1024, 1),
                "samples": len(s),
            }
        for k, v in sorted(self.other_kib.items()):
            r["qemu_%s_median_mib" % k] = round(statistics.median(v) / 1024, 1)
        r["ok"] = reason is None
        r["reason"] = reason
        if reason:
            r["stderr_tail"] = self.stderr_tail()
            r["console_tail"] = self.lines[-8:]
        return r


# --------------------------------------------------------------------------
# environment checks


def find_build(arg):
    cands = [arg] if arg else [os.path.join(os.getcwd(), "build"),
                               os.path.join(os.path.dirname(HERE), "build"),
                               "/tmp/b1"]
    for d in cands:
        if os.access(os.path.join(d, "vmm", "poolvm"), os.X_OK):
            return os.path.abspath(d)
    return None


def resolve_accel(want):
    if want != "auto":
        return want
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((l for l in f if l.startswith("flags")), "")
        if not re.search(r"\b(vmx|svm)\b", flags):
            return "tcg"
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
        os.close(fd)
        return "kvm"
    except OSError:
        return "tcg"


def fs_type(path):
    path = os.path.realpath(path)
    best, best_type = "", None
    try:
        with open("/proc/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) < 3:
                    continue
                mnt = parts[1].replace("\\040", " ")
                if (path == mnt or path.startswith(mnt.rstrip("/") + "/")
                        or mnt == "/") and len(mnt) >= len(best):
                    best, best_type = mnt, parts[2]
    except OSError:
        pass
    return best_type


def kswap_unavailable(tier_dir, kswap_sh):
    """None when kernel swap can be measured here, else why not."""
    if os.geteuid() != 0:
        return "not root (swapon and cgroups need root)"
    if not os.access(kswap_sh, os.R_OK):
        return "%s is missing" % kswap_sh
    for tool in ("bash", "swapon", "swapoff", "mkswap", "fallocate"):
        if not shutil.which(tool):
            return "%s is not installed" % tool
    if os.path.exists("/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        pass  # cgroup v1 memory controller, as kswap.sh prefers
    else:
        try:
            with open("/sys/fs/cgroup/cgroup.subtree_control") as f:
                ctl = f.read().split()
        except OSError:
            ctl = []
        if "memory" not in ctl:
            return ("no cgroup memory controller (neither "
                    "/sys/fs/cgroup/memory nor memory in "
                    "/sys/fs/cgroup/cgroup.subtree_control)")
    t = fs_type(tier_dir)
    if t in ("tmpfs", "ramfs", "overlay", "nfs", "nfs4", "9p", "virtiofs",
             "fuse"):
        return "%s is on %s, which cannot hold a swap file" % (tier_dir, t)
    return None


def kswap_leftovers_cleanup(swapfile, wrapper_pid):
    """kswap.sh undoes its work on exit; this is the net for a SIGKILLed one."""
    for cg in ("/sys/fs/cgroup/memory/poolvm-kswap.%d" % wrapper_pid,
               "/sys/fs/cgroup/poolvm-kswap.%d" % wrapper_pid):
        if os.path.isdir(cg):
            try:
                with open(os.path.join(cg, "cgroup.procs")) as f:
                    pids = [int(p) for p in f.read().split()]
            except OSError:
                pids = []
            for p in pids:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            for _ in range(50):
                try:
                    os.rmdir(cg)
                    break
                except OSError:
                    time.sleep(0.1)
            else:
                log("pager_bench: warning: could not remove cgroup %s" % cg)
    try:
        with open("/proc/swaps") as f:
            active = [l.split()[0] for l in f.readlines()[1:]]
    except OSError:
        active = []
    if os.path.realpath(swapfile) in active:
        subprocess.call(["swapoff", swapfile], stderr=subprocess.DEVNULL)
    try:
        os.unlink(swapfile)
    except FileNotFoundError:
        pass


def memcg_oom_killed(wrapper_pid, qemu_pid):
    """True when the kernel log says the memory cgroup OOM killer of
    kswap.sh's cgroup (poolvm-kswap.WRAPPER) killed QEMU."""
    if not qemu_pid or wrapper_pid < 0:
        return False
    try:
        log_text = subprocess.run(["dmesg"], stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, timeout=10,
                                  check=False).stdout.decode(errors="replace")
    except (OSError, subprocess.SubprocessError):
        return False
    pat = re.compile(r"oom_memcg=/poolvm-kswap\.%d,.*\bpid=%d\b"
                     % (wrapper_pid, qemu_pid))
    return any(pat.search(l) for l in log_text.splitlines())


# --------------------------------------------------------------------------
# memory pods in network namespaces (--remote)


class PodNet:
    """scripts/podnet.sh up/down: N pods, each in its own namespace, and a
    VMM namespace, bridged; pods serve on tcp with a fresh secret."""

    def __init__(self, build, npods, memory, logdir):
        self.script = os.path.join(os.path.dirname(HERE), "scripts", "podnet.sh")
        self.pod_exe = os.path.join(build, "pods", "pvm-pod")
        if not os.access(self.pod_exe, os.X_OK):
            self.pod_exe = os.path.join(build, "vmm", "poolvm")
        self.id = "pvm-bench-%d" % os.getpid()
        self.dir = os.path.join(logdir, "pods")
        self.npods = npods
        self.memory = memory
        self.secret = os.path.join(self.dir, "secret")
        self.addrs = []
        self.up = False

    def ns(self, host):
        return "%s-%s" % (self.id, host)

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        fd = os.open(self.secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, os.urandom(32).hex().encode())
        os.close(fd)
        exe = [self.pod_exe] if self.pod_exe.endswith("pvm-pod") else None
        if exe is None:
            # `poolvm pod` through a tiny wrapper: podnet.sh runs one file
            wrapper = os.path.join(self.dir, "pod.sh")
            with open(wrapper, "w") as f:
                f.write('#!/bin/sh\nexec "%s" pod "$@"\n' % self.pod_exe)
            os.chmod(wrapper, 0o755)
            exe = [wrapper]
        r = subprocess.run(["bash", self.script, "up", self.id, str(self.npods)] +
                           exe + [self.secret, "%dM" % (self.memory // MiB), self.dir],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.up = True
        if r.returncode != 0:
            raise RuntimeError("starting pods failed: %s" % r.stderr.strip())
        self.addrs = r.stdout.split()
        log("pager_bench: %d pods up in namespaces %s-pod1..%d (%s), poolvm runs "
            "in %s" % (self.npods, self.id, self.npods, ", ".join(self.addrs),
                       self.ns("vmm")))

    def stop(self):
        if self.up:
            subprocess.run(["bash", self.script, "down", self.id, self.dir],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.up = False

    def unavailable(self):
        if os.geteuid() != 0:
            return "not root (network namespaces need root)"
        if not shutil.which("ip"):
            return "no 'ip' command (apt-get install iproute2)"
        return None


def pm_qos_hold(us):
    """Hold a PM QoS CPU latency request (as tuned's latency-performance
    profile does): idle CPUs poll instead of halting. Returns the open file
    (keep it) or None with a note."""
    try:
        f = open("/dev/cpu_dma_latency", "wb", buffering=0)
        f.write(int(us).to_bytes(4, "little", signed=True))
        return f
    except OSError as e:
        log("pager_bench: note: cannot hold a PM QoS latency request (%s)" % e)
        return None


# --------------------------------------------------------------------------
# the bench


class Bench:
    def __init__(self, args, build, accel):
        self.a = args
        self.build = build
        self.poolvm = os.path.join(build, "vmm", "poolvm")
        self.kernel = os.path.join(build, "images", "vmlinux")
        self.initrd = os.path.join(build, "images", "initramfs.cpio.gz")
        self.accel = accel
        self.planned = 0
        self.others_before = []
        self.mem_mib = args.mem // MiB
        self.runs = []          # every run, in order
        self.run_no = 0
        self.failed = False
        self.logdir = tempfile.mkdtemp(prefix="pager-bench.")
        self.tier_file = os.path.join(args.tier_dir, "poolvm-bench.pages")
        self.swap_file = os.path.join(args.tier_dir, "poolvm-bench.swap")
        self.kswap_sh = os.path.join(HERE, "kswap.sh")
        self.limits = {}        # (calibration workload, fraction) -> record
        self.cache = self._load_cache()
        self.cmdline_mismatch = None
        self.pods = None        # PodNet with --remote

    # ---- sizes and commands

    def local_mib(self, frac):
        return int(self.mem_mib * frac / 100)

    def memtest_cmd(self, workload):
        cmd = "pvm-memtest %s --size %d" % (workload, self.a.size)
        if self.a.ops and workload != "seq":
            cmd += " --ops %d" % self.a.ops
        return cmd

    def append(self, workload):
        return 'console=ttyS0 quiet pvm_run="%s"' % self.memtest_cmd(workload)

    def qemu_argv(self, workload):
        """What vmm/launch.c:qemu_argv() builds for `poolvm run` (no disks,
        no QMP, no balloon), so the baselines run the very same QEMU."""
        m = self.mem_mib
        cpu = self.a.cpu or ("host" if self.accel == "kvm" else "max,-avx2")
        return [self.a.qemu,
                "-name", "guest=pvm-bench,debug-threads=on",
                "-machine", "pc,memory-backend=pvm-ram",
                "-accel", self.accel,
                "-cpu", cpu,
                "-object", "memory-backend-memfd,id=pvm-ram,size=%dM,share=on" % m,
                "-m", "%dM" % m,
                "-smp", "1",
                "-nodefaults", "-no-user-config",
                "-display", "none",
                "-serial", "stdio",
                "-kernel", self.kernel,
                "-initrd", self.initrd,
                "-append", self.append(workload)]

    def poolvm_argv(self, workload, frac, stats_path, remote=False):
        if remote:
            tier = []
            for addr in self.pods.addrs:
                tier += ["--pod", addr]
            tier += ["--secret-file", self.pods.secret, "--fabric", "tcp",
                     "--replicas", str(self.a.replicas), "--tier", "remote"]
            prefix = ["ip", "netns", "exec", self.pods.ns("vmm")]
        else:
            tier = ["--tier", "disk:%s" % self.tier_file]
            prefix = []
        argv = prefix + [self.poolvm, "run", "--name", "pvm-bench",
                "--mem", "%dM" % self.mem_mib,
                "--local", "%dM" % self.local_mib(frac)] + tier + [
                "--stats-json", stats_path,
                "--accel", self.accel,
                "--qemu", self.a.qemu,
                "--kernel", self.kernel,
                "--initrd", self.initrd,
                "--append", self.append(workload)]
        if self.a.cpu:
            argv += ["--cpu", self.a.cpu]
        if self.a.policy:
            argv += ["--policy", self.a.policy]
        if self.a.prefetch:
            argv += ["--prefetch", self.a.prefetch]
        argv += self.a.poolvm_arg
        return argv

    # ---- limit cache

    def cal_workload(self, workload):
        """Which workload's calibration sets the limit for this workload."""
        return workload if self.a.calibrate_per_workload else "seq"

    def limit_rec(self, workload, frac):
        return self.limits.get((self.cal_workload(workload), frac)) or {}

    def _cache_key(self, workload, frac):
        return ("workload=%s mem=%dM local=%dM size=%d ops=%s accel=%s cpu=%s "
                "kernel=%s" % (workload, self.mem_mib, self.local_mib(frac),
                               self.a.size, self.a.ops, self.accel,
                               self.a.cpu or "-", self.kernel_id()))

    def kernel_id(self):
        try:
            return "%d" % os.stat(self.kernel).st_size
        except OSError:
            return "?"

    def _load_cache(self):
        if self.a.recalibrate or not self.a.limit_cache:
            return {}
        try:
            with open(self.a.limit_cache) as f:
                c = json.load(f)
            return c if isinstance(c, dict) else {}
        except (OSError, ValueError):
            return {}

    def _save_cache(self):
        if not self.a.limit_cache:
            return
        try:
            tmp = self.a.limit_cache + ".tmp"
            with open(tmp, "w") as f:
                json.dump(self.cache, f, indent=1, sort_keys=True)
            os.replace(tmp, self.a.limit_cache)
        except OSError as e:
            log("pager_bench: warning: cannot write %s: %s"
                % (self.a.limit_cache, e))

    # ---- single runs

    def _progress_head(self, text):
        self.others_before = other_qemus()
        self.run_no += 1
        log("[%2d/%s] %-48s" % (self.run_no, self.total_runs_text(), text),
            end=" ")

    def total_runs_text(self):
        return "~%d" % self.planned if self.planned else "?"

    def _progress_tail(self, r):
        if r["ok"]:
            parts = ["elapsed %.2f s" % (r["elapsed_ms"] / 1000.0),
                     "(wall %.1f s)" % r["wall_s"]]
        else:
            parts = ["FAIL: %s" % r["reason"], "(wall %.1f s)" % r["wall_s"]]
        gr = r.get("guest_resident_mib")
        if gr and r["kind"] != "all-local":
            parts.append("guest-resident %.0f MiB" % gr["median"])
        st = r.get("stats")
        if st:
            parts.append("faults %s refaults %s evictions %s" % (
                st.get("faults"), st.get("refaults"), st.get("evictions")))
        if r["ok"]:
            parts.append("PASS")
        if r.get("memcg_oom_kill_after_verdict"):
            parts.append("(then QEMU was killed by the cgroup's OOM killer)")
        if r.get("other_qemu_pids"):
            parts.append("[another QEMU was running: %s]"
                         % ",".join(map(str, r["other_qemu_pids"])))
        log(" ".join(parts))
        if not r["ok"]:
            for line in r.get("stderr_tail", []) + r.get("console_tail", []):
                log("    | %s" % line)

    def _record(self, r):
        others = set(self.others_before) | set(other_qemus([r.get("qemu_pid")]))
        r["other_qemu_pids"] = sorted(others)
        self.runs.append(r)
        if not r["ok"]:
            self.failed = True
        self._progress_tail(r)
        return r

    def run_local(self, workload, rep):
        label = "all-local %s" % workload
        self._progress_head(label)
        g = GuestRun(self.qemu_argv(workload), "%d-%s" % (self.run_no, label),
                     self.a.timeout, self.logdir).run()
        r = g.result()
        r.update(kind="all-local", workload=workload, fraction=100, rep=rep,
                 argv=g.argv)
        return self._record(r)

    def run_poolvm(self, workload, frac, rep, remote=False):
        kind = "remote" if remote else "poolvm"
        label = "%s %s %s%%" % (kind, workload, frac)
        self._progress_head(label)
        stats_path = os.path.join(self.logdir, "stats-%d.json" % self.run_no)
        argv = self.poolvm_argv(workload, frac, stats_path, remote)
        try:
            g = GuestRun(argv, "%d-%s" % (self.run_no, label),
                         self.a.timeout, self.logdir, term_first="root").run()
        finally:
            for p in (self.tier_file,):
                try:
                    os.unlink(p)
                except FileNotFoundError:
                    pass
                except OSError as e:
                    log("pager_bench: warning: cannot remove %s: %s" % (p, e))
        r = g.result()
        r.update(kind=kind, workload=workload, fraction=frac, rep=rep,
                 local_mib=self.local_mib(frac), argv=argv,
                 qemu_cmdline=g.qemu_cmdline)
        try:
            with open(stats_path) as f:
                sj = json.load(f)
            pager = sj.get("pager", {})
            r["stats"] = {k: pager.get(k) for k in (
                "faults", "refaults", "evictions", "writebacks", "zero_fills",
                "prefetched", "wp_faults", "clean_drops", "zero_drops",
                "evict_aborts", "store_errors", "resident_peak_pages",
                "limit_pages", "fault_waits", "reclaim_batches",
                "overcommitted_pages", "policy", "prefetch")}
            r["stats"]["fault_latency"] = pager.get("fault_latency", {})
            if remote:
                r["stats"]["remote"] = next(
                    (t.get("remote") for t in sj.get("tiers", [])
                     if isinstance(t, dict) and t.get("remote")), None)
            r["stats_json"] = sj
            if pager.get("failed"):
                r["ok"], r["reason"] = False, "pager failed: %s" % pager["failed"]
            elif pager.get("store_errors"):
                r["ok"], r["reason"] = False, "store_errors=%s" % pager["store_errors"]
        except (OSError, ValueError) as e:
            r["stats"] = None
            if r["ok"]:
                r["ok"], r["reason"] = False, "no stats JSON (%s)" % e
        # poolvm must have started the QEMU the baselines run
        if g.qemu_cmdline and self.cmdline_mismatch is None:
            expect = self.qemu_argv(workload)
            got = g.qemu_cmdline
            if [os.path.basename(got[0])] + got[1:] != \
                    [os.path.basename(expect[0])] + expect[1:]:
                self.cmdline_mismatch = {"poolvm": got, "bench": expect}
                log("pager_bench: warning: poolvm's QEMU arguments differ "
                    "from the baseline's:\n  poolvm: %s\n  bench:  %s"
                    % (" ".join(got), " ".join(expect)))
            else:
                self.cmdline_mismatch = False
        return self._record(r)

    def run_kswap(self, workload, frac, limit_mib, rep, calibration=False):
        label = "kswap %s %s%% limit=%dM%s" % (
            workload, frac, limit_mib, " (calibrate)" if calibration else "")
        self._progress_head(label)
        argv = ["bash", self.kswap_sh, str(limit_mib * MiB), self.swap_file,
                "--"] + self.qemu_argv(workload)
        g = GuestRun(argv, "%d-%s" % (self.run_no, label), self.a.timeout,
                     self.logdir, term_first="qemu")
        try:
            g.run()
        finally:
            # kswap.sh's own trap normally did all of this already
            old = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                if g.rc is None or g.rc != 0 or g.timed_out:
                    time.sleep(0.2)
                kswap_leftovers_cleanup(self.swap_file, self._wrapper_pid(g))
            finally:
                signal.signal(signal.SIGINT, old)
        r = g.result()
        r.update(kind="kswap", workload=workload, fraction=frac, rep=rep,
                 local_mib=self.local_mib(frac), limit_mib=limit_mib,
                 calibration=calibration, argv=argv)
        # The memcg OOM killer may kill QEMU after the workload passed (seen
        # at 50 %: during pvm-memtest's teardown, when the kernel could not
        # reclaim fast enough). The workload's verdict and time stand; the
        # run is flagged, not failed.
        if (not r["ok"] and r.get("verdict") == "PASS"
                and r.get("mismatches") == 0 and not g.timed_out
                and g.rc == 137 and memcg_oom_killed(g.root_pid, g.qemu_pid)):
            r["ok"], r["reason"] = True, None
            r["memcg_oom_kill_after_verdict"] = True
            r.pop("stderr_tail", None)
            r.pop("console_tail", None)
        if r["ok"] and not r.get("guest_resident_mib"):
            r["ok"], r["reason"] = False, "no RssShmem samples"
        return self._record(r)

    @staticmethod
    def _wrapper_pid(g):
        # kswap.sh names its cgroup poolvm-kswap.<its pid>
        return g.root_pid

    # ---- calibration

    def calibrate(self, workload, frac, rep_sink):
        """Find the cgroup limit that leaves ~local MiB of guest RAM resident
        while WORKLOAD runs. Returns the calibration record; the chosen run
        is appended to rep_sink (it is a kswap measurement of WORKLOAD at
        the chosen limit)."""
        local = self.local_mib(frac)
        key = self._cache_key(workload, frac)
        cached = self.cache.get(key)
        seq_limit = ((self.limits.get(("seq", frac)) or {}).get("limit_mib")
                     or self.cache.get(self._cache_key("seq", frac)))
        if cached:
            limit = int(cached)
        elif seq_limit:
            limit = int(seq_limit)   # per-workload: seq's is close
        else:
            limit = local + CAL_START_EXTRA_MIB
        tried = []
        converged = False
        for i in range(CAL_MAX_RUNS):
            if i:
                self.planned += 1   # the plan counted one run per fraction
            r = self.run_kswap(workload, frac, limit, rep=0, calibration=True)
            tried.append(r)
            if not r["ok"]:
                break
            med = r["guest_resident_mib"]["median"]
            err = local - med
            if abs(err) < CAL_TOLERANCE_MIB:
                converged = True
                break
            limit = max(16, int(round(limit + err)))
        good = [t for t in tried if t["ok"]]
        rec = {"workload": workload, "fraction": frac, "local_mib": local,
               "cached_start": cached,
               "converged": converged,
               "runs": [{"limit_mib": t["limit_mib"],
                         "guest_resident_median_mib":
                             (t.get("guest_resident_mib") or {}).get("median"),
                         "ok": t["ok"]} for t in tried]}
        if good:
            best = min(good, key=lambda t: abs(
                local - t["guest_resident_mib"]["median"]))
            rec["limit_mib"] = best["limit_mib"]
            rec["guest_resident_median_mib"] = best["guest_resident_mib"]["median"]
            best["calibration_chosen"] = True
            rep_sink.append(best)
            if converged:
                self.cache[key] = best["limit_mib"]
                self._save_cache()
            else:
                log("pager_bench: warning: %s %s%%: no limit within %g MiB "
                    "after %d runs; using %d MiB (guest-resident %.0f MiB)"
                    % (workload, frac, CAL_TOLERANCE_MIB, len(tried), best["limit_mib"],
                       rec["guest_resident_median_mib"]))
        else:
            rec["limit_mib"] = None
            rep_sink.append(tried[-1])
        self.limits[(workload, frac)] = rec
        return rec

    # ---- the whole matrix

    def plan(self):
        a = self.a
        n = len(a.workloads) * a.repeat * (1 + len(a.fractions) *
                                           (2 if self.pods else 1))
        if self.kswap:
            n += len(a.workloads) * len(a.fractions) * a.repeat
            if "seq" not in a.workloads and not a.calibrate_per_workload:
                n += len(a.fractions)   # seq calibration boots
        self.planned = n

    def main(self):
        a = self.a
        cells = {}   # (kind, workload, frac) -> [runs]

        def cell(kind, w, f):
            return cells.setdefault((kind, w, f), [])

        self.plan()
        if self.kswap:
            # seq first: the shortest, and its limit starts the others'
            cal_ws = sorted(a.workloads, key=lambda w: w != "seq") \
                if a.calibrate_per_workload else ["seq"]
            if a.calibrate_per_workload:
                self.planned += len(cal_ws) * len(a.fractions) - \
                    len(a.workloads) * len(a.fractions)
            for cw in cal_ws:
                for f in a.fractions:
                    self.calibrate(cw, f, cell("kswap", cw, f))
                    if self.limits[(cw, f)]["limit_mib"] is None:
                        log("pager_bench: %s %s%%: calibration failed; kernel "
                            "swap cells that use it read FAIL" % (cw, f))
        for rep in range(a.repeat):
            for w in a.workloads:
                cell("all-local", w, 100).append(self.run_local(w, rep))
                for f in a.fractions:
                    cell("poolvm", w, f).append(self.run_poolvm(w, f, rep))
                    if self.pods:
                        cell("remote", w, f).append(
                            self.run_poolvm(w, f, rep, remote=True))
                    if not self.kswap:
                        continue
                    lst = cell("kswap", w, f)
                    if len(lst) > rep:
                        continue    # the calibration run counts
                    lim = self.limit_rec(w, f).get("limit_mib")
                    if lim is None:
                        continue
                    lst.append(self.run_kswap(w, f, lim, rep))
        return cells


def median_or_none(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(runs):
    """Median over repetitions; None when there is no run; 'FAIL' when any
    run failed."""
    if not runs:
        return None
    if any(not r["ok"] for r in runs):
        return "FAIL"
    out = {"elapsed_s": median_or_none([r["elapsed_ms"] / 1000.0 for r in runs]),
           "wall_s": median_or_none([r["wall_s"] for r in runs]),
           "n": len(runs),
           "oom_killed": sum(1 for r in runs
                             if r.get("memcg_oom_kill_after_verdict"))}
    gr = [r["guest_resident_mib"]["median"] for r in runs
          if r.get("guest_resident_mib")]
    out["guest_resident_mib"] = median_or_none(gr)
    if runs[0].get("stats"):
        for k in ("faults", "refaults", "evictions", "writebacks",
                  "prefetched", "zero_fills"):
            out[k] = median_or_none([r["stats"].get(k) for r in runs])
    return out


def fmt_num(v, nd=2):
    if v is None:
        return "-"
    if v == "FAIL":
        return "FAIL"
    if isinstance(v, float) and nd == 0:
        return "%d" % round(v)
    if isinstance(v, int):
        return str(v)
    return "%.*f" % (nd, v)


def build_table(bench, cells, interrupted=False):
    a = bench.a
    head = ["workload", "local", "all-local s", "poolvm s", "kswap s",
            "kswap guest-resident MiB", "poolvm/kswap", "poolvm/all-local",
            "faults", "refaults", "evictions", "writebacks"]
    if bench.pods:
        head[4:4] = ["remote s"]
        head[8:8] = ["remote/kswap"]
    rows, data = [], []
    for w in a.workloads:
        loc = summarize(cells.get(("all-local", w, 100), []))
        for f in a.fractions:
            pv = summarize(cells.get(("poolvm", w, f), []))
            ks = summarize(cells.get(("kswap", w, f), [])) if bench.kswap else None
            if bench.kswap and ks is None and not interrupted and \
                    bench.limit_rec(w, f).get("limit_mib") is None:
                ks = "FAIL"     # calibration failed: no run at all

            def get(s, k):
                if s == "FAIL":
                    return "FAIL"
                return s.get(k) if s else None

            def ratio(x, y):
                if isinstance(x, (int, float)) and isinstance(y, (int, float)) and y:
                    return x / y
                return None

            pv_s, ks_s, lc_s = (get(pv, "elapsed_s"), get(ks, "elapsed_s"),
                                get(loc, "elapsed_s"))
            rm = summarize(cells.get(("remote", w, f), [])) if bench.pods else None
            rm_s = get(rm, "elapsed_s")
            row = {
                "workload": w, "fraction": f,
                "local_mib": bench.local_mib(f),
                "all_local_s": lc_s, "poolvm_s": pv_s, "kswap_s": ks_s,
                "kswap_guest_resident_mib": get(ks, "guest_resident_mib"),
                "kswap_limit_mib": bench.limit_rec(w, f).get("limit_mib"),
                "poolvm_over_kswap": ratio(pv_s, ks_s),
                "poolvm_over_all_local": ratio(pv_s, lc_s),
                "faults": get(pv, "faults"), "refaults": get(pv, "refaults"),
                "evictions": get(pv, "evictions"),
                "writebacks": get(pv, "writebacks"),
                "all_local_wall_s": get(loc, "wall_s"),
                "poolvm_wall_s": get(pv, "wall_s"),
                "kswap_wall_s": get(ks, "wall_s"),
            }
            if bench.pods:
                row.update(remote_s=rm_s, remote_over_kswap=ratio(rm_s, ks_s),
                           remote_wall_s=get(rm, "wall_s"),
                           remote_refaults=get(rm, "refaults"),
                           remote_writebacks=get(rm, "writebacks"))
            data.append(row)
            res = row["kswap_guest_resident_mib"]
            res_txt = fmt_num(res, 0)
            if isinstance(res, (int, float)) and \
                    abs(res - row["local_mib"]) >= CAL_TOLERANCE_MIB:
                res_txt += "*"
                row["kswap_resident_off_target"] = True
            ks_txt = fmt_num(ks_s)
            if get(ks, "oom_killed"):
                ks_txt += "!"
                row["kswap_oom_killed_after_verdict"] = get(ks, "oom_killed")
            kswap_cells = ([ks_txt, res_txt]
                           if bench.kswap else ["skipped", "-"])
            cols = ([w, "%s%% (%dM)" % (f, bench.local_mib(f)),
                     fmt_num(lc_s), fmt_num(pv_s)] + kswap_cells +
                    [fmt_num(row["poolvm_over_kswap"]),
                     fmt_num(row["poolvm_over_all_local"]),
                     fmt_num(row["faults"], 0), fmt_num(row["refaults"], 0),
                     fmt_num(row["evictions"], 0),
                     fmt_num(row["writebacks"], 0)])
            if bench.pods:
                cols[4:4] = [fmt_num(rm_s)]
                cols[8:8] = [fmt_num(row["remote_over_kswap"])]
            rows.append(cols)
    widths = [max(len(head[i]), *(len(r[i]) for r in rows)) for i in range(len(head))]
    left = {0, 1}

    def line(cols):
        return "  ".join(c.ljust(widths[i]) if i in left else c.rjust(widths[i])
                         for i, c in enumerate(cols)).rstrip()

    out = [line(head), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in rows]
    return "\n".join(out), data


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="pager_bench.py",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Example (as root, from the repository):\n"
               "  bench/pager_bench.py --build /tmp/b1 --json /tmp/bench.json\n"
               "  meson compile -C BUILD pager-bench   # the same, via meson\n"
               "Build the guest image first: meson compile -C BUILD guest-image")
    p.add_argument("--build", metavar="DIR",
                   help="build directory: DIR/vmm/poolvm and DIR/images/"
                        "{vmlinux,initramfs.cpio.gz} (default: ./build, the "
                        "repository's build/, then /tmp/b1)")
    p.add_argument("--workloads", type=lambda s: parse_list(s, WORKLOADS),
                   default=list(WORKLOADS), metavar="LIST",
                   help="comma-separated pvm-memtest modes (default "
                        "seq,random,hotcold)")
    p.add_argument("--fractions", type=lambda s: parse_list(s, conv=parse_fraction),
                   default=[25, 50], metavar="LIST",
                   help="local sizes in %% of --mem (default 25,50)")
    p.add_argument("--mem", type=parse_size, default=512 * MiB, metavar="SIZE",
                   help="guest RAM (default 512M)")
    p.add_argument("--size", type=int, default=300, metavar="MIB",
                   help="pvm-memtest buffer in MiB (default 300)")
    p.add_argument("--ops", type=int, default=0, metavar="N",
                   help="pvm-memtest --ops for random/hotcold (default: "
                        "pvm-memtest's, 2 x pages)")
    p.add_argument("--repeat", type=int, default=1, metavar="N",
                   help="runs per cell; the table shows medians (default 1)")
    p.add_argument("--policy", help="poolvm --policy (default: poolvm's)")
    p.add_argument("--prefetch", help="poolvm --prefetch (default: poolvm's)")
    p.add_argument("--poolvm-arg", action="append", default=[], metavar="ARG",
                   help="extra argument for `poolvm run`; repeatable "
                        "(e.g. --poolvm-arg=--fault-threads=4)")
    p.add_argument("--accel", choices=("auto", "tcg", "kvm"), default="auto",
                   help="accelerator for every run; auto resolves as poolvm "
                        "does and passes the result to poolvm (default auto)")
    p.add_argument("--cpu", help="QEMU -cpu for every run (default: poolvm's: "
                                 "max,-avx2 with TCG, host with KVM)")
    p.add_argument("--qemu", default="qemu-system-x86_64", metavar="BINARY",
                   help="QEMU binary (default qemu-system-x86_64)")
    p.add_argument("--tier-dir", default="/var/tmp", metavar="DIR",
                   help="directory for poolvm's disk tier "
                        "(poolvm-bench.pages) and the kernel swap file "
                        "(poolvm-bench.swap), so both use the same disk "
                        "(default /var/tmp)")
    p.add_argument("--remote", action="store_true",
                   help="also run poolvm with --tier remote over memory pods "
                        "in network namespaces (a 'remote s' column; needs "
                        "root and iproute2); the fault microbenchmark then "
                        "also measures remote faults against one fi_read")
    p.add_argument("--pods", type=int, default=3, metavar="N",
                   help="pods for --remote (default 3)")
    p.add_argument("--replicas", type=int, default=2, metavar="N",
                   help="copies of each page for --remote (default 2)")
    p.add_argument("--pod-memory", type=parse_size, default=512 * MiB,
                   metavar="SIZE", help="memory each pod offers (default 512M)")
    p.add_argument("--pm-qos", default="0", metavar="US|off",
                   help="hold /dev/cpu_dma_latency at US microseconds for the "
                        "whole bench, every column alike (default 0: idle "
                        "CPUs poll, so waking a vCPU from a halt does not "
                        "dominate fault costs; 'off' leaves the machine as "
                        "it is)")
    p.add_argument("--no-faultbench", action="store_true",
                   help="skip the fault-service microbenchmark (pvm-faultbench) "
                        "printed after the workload table")
    p.add_argument("--no-kswap", action="store_true",
                   help="skip kernel swap (it is skipped anyway, with the "
                        "reason, when not root or no cgroup memory "
                        "controller)")
    p.add_argument("--limit-cache", metavar="FILE",
                   help="calibrated kernel-swap cgroup limits are cached here "
                        "(default TIERDIR/poolvm-bench-limits.json; '' = none)")
    p.add_argument("--calibrate-per-workload", action="store_true",
                   help="calibrate the kernel-swap limit for each workload "
                        "on that workload (default: once per fraction on "
                        "seq, used for all workloads)")
    p.add_argument("--recalibrate", action="store_true",
                   help="ignore cached limits and calibrate from local+64 MiB")
    p.add_argument("--timeout", type=int, default=300, metavar="S",
                   help="seconds one boot may take before it is killed and "
                        "counted FAIL (default 300)")
    p.add_argument("--json", metavar="FILE",
                   help="write every raw number (each run, calibration, the "
                        "table) as JSON")
    a = p.parse_args(argv)
    if a.pm_qos != "off" and not (a.pm_qos.isdigit() and int(a.pm_qos) <= 1000000):
        p.error("--pm-qos takes microseconds or off")
    if a.remote and not 1 <= a.replicas <= min(4, a.pods):
        p.error("--replicas must be 1..4 and at most --pods")
    if a.repeat < 1 or a.size < 1 or a.timeout < 1:
        p.error("--repeat, --size and --timeout must be positive")
    if a.size * MiB >= a.mem:
        p.error("--size must be smaller than --mem")
    a.tier_dir = os.path.abspath(a.tier_dir)
    if not os.path.isdir(a.tier_dir):
        p.error("--tier-dir %s is not a directory" % a.tier_dir)
    if a.limit_cache is None:
        a.limit_cache = os.path.join(a.tier_dir, "poolvm-bench-limits.json")

    build = find_build(a.build)
    if not build:
        p.error("no poolvm under %s: build first (ninja -C BUILD) or pass "
                "--build" % (a.build or "./build, build/ or /tmp/b1"))
    kernel = os.path.join(build, "images", "vmlinux")
    initrd = os.path.join(build, "images", "initramfs.cpio.gz")
    for fpath in (kernel, initrd):
        if not os.path.isfile(fpath):
            p.error("%s is missing: meson compile -C %s guest-image"
                    % (fpath, build))
    if not shutil.which(a.qemu):
        p.error("%s not found (apt-get install qemu-system-x86)" % a.qemu)

    # Ctrl-C raises KeyboardInterrupt even when started with SIGINT ignored
    # (a background job of a script)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_interrupted)
    signal.signal(signal.SIGHUP, _raise_interrupted)

    b = Bench(a, build, resolve_accel(a.accel))
    b.kswap_skip_reason = "--no-kswap given" if a.no_kswap else \
        kswap_unavailable(a.tier_dir, b.kswap_sh)
    b.kswap = b.kswap_skip_reason is None
    qos = pm_qos_hold(int(a.pm_qos)) if a.pm_qos != "off" else None
    b.pm_qos = "%s us" % a.pm_qos if qos else "not held"
    if a.remote:
        pn = PodNet(build, a.pods, a.pod_memory, b.logdir)
        why = pn.unavailable()
        if why:
            p.error("--remote: %s" % why)
        try:
            pn.start()
        except (RuntimeError, OSError) as e:
            pn.stop()
            p.error("--remote: %s" % e)
        b.pods = pn
        atexit.register(pn.stop)
    if os.geteuid() != 0:
        log("pager_bench: warning: not root; poolvm may be refused "
            "userfaultfd")
    if not b.kswap:
        log("pager_bench: kernel swap skipped: %s" % b.kswap_skip_reason)
    if b.kswap and os.path.exists(b.swap_file):
        log("pager_bench: %s exists (another bench running?); it will be "
            "replaced" % b.swap_file)
    log("pager_bench: build %s, accel %s, guest %d MiB, memtest %d MiB, "
        "workloads %s, local %s%%, repeat %d"
        % (build, b.accel, b.mem_mib, a.size, ",".join(a.workloads),
           ",".join(str(f) for f in a.fractions), a.repeat))

    t0 = time.time()
    interrupted = None
    cells = {}
    try:
        cells = b.main()
    except (KeyboardInterrupt, Interrupted) as e:
        interrupted = e
        log("\npager_bench: interrupted; cleaned up, printing what was measured")
        cells = {}
        for r in b.runs:
            if r["kind"] == "kswap" and r.get("calibration") and \
                    not r.get("calibration_chosen"):
                continue
            cells.setdefault((r["kind"], r["workload"], r["fraction"]), []).append(r)
    finally:
        for pth in (b.tier_file,):
            try:
                os.unlink(pth)
            except OSError:
                pass

    table, data = build_table(b, cells, interrupted is not None)
    print(table)
    print()
    if b.kswap:
        if any(r.get("kswap_oom_killed_after_verdict") for r in data):
            print("! the kernel's memory-cgroup OOM killer killed QEMU after "
                  "the workload had passed (its time stands; kernel swap "
                  "under a hard cgroup limit is fragile)")
        if any(r.get("kswap_resident_off_target") for r in data):
            print("* kernel swap kept a guest-resident median %g MiB or more "
                  "away from the local size in this cell%s" % (
                      CAL_TOLERANCE_MIB, "" if a.calibrate_per_workload else
                      " (the limit is calibrated on seq; "
                      "--calibrate-per-workload calibrates each workload)"))
        for (cw, f), rec in sorted(b.limits.items(),
                                   key=lambda kv: (str(kv[0][0]), kv[0][1])):
            if rec["limit_mib"] is None:
                print("kswap limit %s%% (local %d MiB): calibration on %s "
                      "FAILED" % (f, rec["local_mib"], cw))
                continue
            print("kswap cgroup limit %s%% (local %d MiB)%s: %d MiB "
                  "(calibrated on %s: guest-resident %.0f MiB after %d "
                  "run%s%s%s)" % (
                      f, rec["local_mib"],
                      " for %s" % cw if a.calibrate_per_workload else "",
                      rec["limit_mib"], cw,
                      rec["guest_resident_median_mib"], len(rec["runs"]),
                      "" if len(rec["runs"]) == 1 else "s",
                      ", from cache" if rec["cached_start"] else "",
                      "" if rec["converged"] else ", NOT within 8 MiB"))
    else:
        print("kernel swap skipped: %s" % b.kswap_skip_reason)
    if b.pods:
        print("remote: poolvm --tier remote over %d pods (tcp, each in its own "
              "network namespace), --replicas %d; poolvm s is the disk tier"
              % (a.pods, a.replicas))
    print("times: guest-reported workload elapsed_ms (boot excluded), median "
          "of %d; accel %s; PM QoS cpu latency %s; poolvm %s%s" % (
              a.repeat, b.accel, b.pm_qos,
              "--policy %s" % a.policy if a.policy else "default policy",
              ", --prefetch %s" % a.prefetch if a.prefetch else
              ", default prefetch"))
    overlapped = [r for r in b.runs if r.get("other_qemu_pids")]
    if overlapped:
        print("note: %d of %d runs overlapped another QEMU on this machine "
              "(timings noisier; see other_qemu_pids in --json)"
              % (len(overlapped), len(b.runs)))
    if b.cmdline_mismatch:
        print("WARNING: poolvm's QEMU arguments differ from the baselines' "
              "(see --json)")
    sys.stdout.flush()

    fault_table = None
    if not a.no_faultbench and not interrupted:
        fb = os.path.join(build, "bench", "pvm-faultbench")
        if os.access(fb, os.X_OK):
            log("pager_bench: fault-service microbenchmark: %s" % fb)
            fb_argv = [fb, "--dir", a.tier_dir, "--pm-qos", a.pm_qos]
            if b.pods:
                fb_argv = ["ip", "netns", "exec", b.pods.ns("vmm")] + fb_argv
                for addr in b.pods.addrs:
                    fb_argv += ["--pod", addr]
                fb_argv += ["--secret-file", b.pods.secret, "--fabric", "tcp",
                            "--replicas", "1"]
            r = subprocess.run(fb_argv, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
            print()
            print("fault service (pvm-faultbench, one run; p50/touch = p50 over "
                  "a plain first-touch fault on a shared memfd):")
            print(r.stdout.rstrip() if r.returncode == 0 else
                  "pvm-faultbench FAILED: %s" % r.stderr.strip())
            fault_table = r.stdout
            if r.returncode != 0:
                b.failed = True
        else:
            print("\nfault service: %s not built" % fb)

    if a.json:
        out = {
            "config": {k: v for k, v in vars(a).items()},
            "build": build, "kernel": kernel, "initrd": initrd,
            "accel": b.accel, "mem_mib": b.mem_mib,
            "host": {"kernel": platform.release(), "cpus": os.cpu_count()},
            "kswap": b.kswap, "kswap_skip_reason": b.kswap_skip_reason,
            "calibration": list(b.limits.values()),
            "qemu_cmdline_matches_baseline": (None if b.cmdline_mismatch is None
                                              else not b.cmdline_mismatch),
            "qemu_cmdline_mismatch": b.cmdline_mismatch or None,
            "table": data, "runs": b.runs,
            "started": t0, "duration_s": round(time.time() - t0, 1),
            "interrupted": bool(interrupted),
            "faultbench": fault_table,
        }
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1, default=str)
        log("pager_bench: raw numbers in %s" % a.json)
    if b.pods:
        b.pods.stop()       # before its directory (pid files) goes
    if not interrupted and not b.failed:
        shutil.rmtree(b.logdir, ignore_errors=True)
    else:
        log("pager_bench: run logs kept in %s" % b.logdir)
    if interrupted:
        return 130
    if b.failed or any(r.get(k) == "FAIL" for r in data
                       for k in ("poolvm_s", "kswap_s", "all_local_s",
                                 "remote_s")):
        log("pager_bench: FAIL: at least one run did not pass")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
