"""How long `explain` takes on big logs: median of several runs, 5 MB and 50 MB.

The logs are pip-style noise (download lines, progress bars with CR, ANSI
colour) with one real error near the end; explain must find it.
Run: .venv/bin/python bench/bench_explain.py
"""

from __future__ import annotations

import statistics
import time

from torchup.doctor.explain import decode_log, explain

NOISE = (
    "Collecting nvidia-cublas-cu12==12.6.4.1 (from torch)\n"
    "  Downloading https://download.pytorch.org/whl/cu126/nvidia_cublas_cu12-12.6.4.1-py3-none-manylinux2014_x86_64.whl (393.1 MB)\n"
    "\x1b[38;5;197m     \u2501\u2501\u2501\u2501\u2501\u2501\u2501\u2501\u2501\u2501\x1b[0m 120.3/393.1 MB 55.1 MB/s eta 0:00:05\r"
    "Requirement already satisfied: typing-extensions>=4.10.0 in ./venv/lib/python3.12/site-packages (from torch) (4.12.2)\n"
    "2026-11-28 07:00:01,123 INFO training step 1200 loss=0.4312 lr=3.0e-4 throughput=812.5 samples/s\n"
)
ERROR = (
    "Traceback (most recent call last):\n"
    '  File "train.py", line 3, in <module>\n'
    "    import torch\n"
    "UserWarning: CUDA initialization: The NVIDIA driver on your system is too old (found version 11040).\n"
)


def make_log(size: int) -> bytes:
    body = NOISE * (size // len(NOISE))
    return (body + ERROR + NOISE * 20).encode("utf-8")


def bench(size: int, runs: int = 5) -> float:
    data = make_log(size)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        findings = explain(decode_log(data))
        times.append(time.perf_counter() - start)
        assert findings and findings[0].id == "driver-too-old", [f.id for f in findings[:3]]
    return statistics.median(times)


if __name__ == "__main__":
    for mb in (5, 50):
        print(f"explain, {mb:>2} MB log (decode + match): median {bench(mb * 1024 * 1024) * 1000:7.1f} ms")
