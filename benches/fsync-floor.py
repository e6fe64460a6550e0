#!/usr/bin/env python3
"""The storage's own floor for a batch's latency: the latency of a small write made durable.

    benches/fsync-floor.py DIR [SECONDS] [BYTES]
    benches/fsync-floor.py /var/tmp 30

Writes BYTES (default 20,000: a batch of ~100 transfers' records) at a time into a preallocated
64 MiB file in DIR, overwriting in place (no size or block change, so no file-system metadata to
commit), and `fdatasync`s after each write, for SECONDS (default 30). Prints the latencies' p50,
p99, p99.9 and max, and how many took over 50 ms. Nothing else should run meanwhile. A ledger
that acknowledges a batch only once it is durable cannot have a batch p100 below what this
prints as max over a run as long (docs/PERFORMANCE.md, "The disk's own fsync stalls").
"""
import os
import sys
import time

if len(sys.argv) not in (2, 3, 4):
    sys.exit(__doc__)
directory = sys.argv[1]
try:
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 30.0
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 20_000
except ValueError:
    sys.exit(__doc__)
span = 64 << 20
if not 0 < size <= span // 2 or seconds <= 0:
    sys.exit("BYTES must be 1..33554432 and SECONDS above 0")
path = os.path.join(directory, f"fsync-floor-{os.getpid()}.tmp")
try:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
except OSError as err:
    sys.exit(f"cannot create a file in {directory}: {err.strerror}")
try:
    os.write(fd, b"\0" * span)
    os.fsync(fd)
    time.sleep(1)
    data = os.urandom(size)
    latencies, offset, start = [], 0, time.monotonic()
    while time.monotonic() - start < seconds:
        began = time.perf_counter()
        os.pwrite(fd, data, offset)
        os.fdatasync(fd)
        latencies.append(time.perf_counter() - began)
        offset = (offset + size) % (span - size)
except OSError as err:
    sys.exit(f"writing {path}: {err.strerror}")
finally:
    os.close(fd)
    os.unlink(path)
latencies.sort()
n = len(latencies)
ms = lambda q: latencies[min(n - 1, int(n * q))] * 1e3
slow = sum(1 for x in latencies if x > 0.05)
print(f"{n} fdatasyncs of {size} bytes over {seconds:.0f} s in {directory}: p50 {ms(0.5):.2f} ms, "
      f"p99 {ms(0.99):.2f} ms, p99.9 {ms(0.999):.2f} ms, max {latencies[-1] * 1e3:.1f} ms; over 50 ms: {slow}")
