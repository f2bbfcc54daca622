"""tests/gpu/gpulib.py — helpers the GPU suite's Python tests share (they
import it from their own directory)."""
import time


def read(path):
    """The file's text, or "" when it cannot be read (yet)."""
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def drained(stats, timeout=10):
    """Wait until the pod's stats file at @stats says it holds nothing for
    any client; return (whether it did, the last text read)."""
    end = time.time() + timeout
    text = ""
    while time.time() < end:
        text = read(stats).strip()
        if text == "contexts=0 allocations=0 bytes=0 reserved=0":
            return True, text
        time.sleep(0.05)
    return False, text
