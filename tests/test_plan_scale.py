"""Many machines: a fleet of 1,000 machine files is planned in bounded time and memory
(issue 15: 8 s and 335 MiB before identical machines were planned once and `considered`
left out without --explain).  The time bound here only catches a regression in kind (a
quadratic step): bench/bench_main.py measures it side by side, on a machine shared with others."""

import json
import os
import subprocess
import sys
import time

from tests.test_json_output import RTX4090

KINDS = [
    RTX4090,
    {
        "os": "linux",
        "arch": "x86_64",
        "python": "3.11",
        "libc": "glibc 2.31",
        "nvidia_driver": "535.104.05",
        "gpus": [{"vendor": "nvidia", "name": "NVIDIA A100-SXM4-80GB", "compute_capability": "8.0"}],
    },
    {
        "os": "linux",
        "arch": "x86_64",
        "python": "3.12",
        "libc": "glibc 2.35",
        "rocm_version": "6.4.1",
        "gpus": [{"vendor": "amd", "name": "Radeon RX 7900 XTX", "gfx": "gfx1100"}],
    },
    {"os": "macos", "arch": "arm64", "python": "3.12", "macos_version": "14.5"},
    {
        "os": "windows",
        "arch": "AMD64",
        "python": "3.12",
        "nvidia_driver": "581.57",
        "gpus": [{"vendor": "nvidia", "name": "NVIDIA GeForce RTX 3060", "compute_capability": "8.6"}],
    },
    {"os": "linux", "arch": "aarch64", "python": "3.12", "libc": "glibc 2.35"},
]

# run torchup in this process and print its own peak memory (VmHWM, see tests/test_machine.py) on stderr
_RUN = """
import sys
from torchup.cli import main
code = main(sys.argv[1:])
with open("/proc/self/status") as fh:
    print(next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) // 1024, file=sys.stderr)
raise SystemExit(code)
"""


def test_a_thousand_machine_files(tmp_path):
    args = []
    for i in range(1000):
        path = tmp_path / f"m{i:04d}.json"
        path.write_text(json.dumps(KINDS[i % len(KINDS)]))
        args += ["--machine", str(path)]
    env = {**os.environ, "NO_COLOR": "1", "TORCHUP_CACHE_DIR": str(tmp_path / "cache")}
    start = time.monotonic()
    r = subprocess.run(
        [sys.executable, "-c", _RUN, "plan", "--json", *args], capture_output=True, text=True, env=env, timeout=120
    )
    took = time.monotonic() - start
    assert r.returncode == 0, r.stderr[-2000:]
    data = json.loads(r.stdout)
    plans = data["plans"]
    assert len(plans) == 1000 and all("considered" not in p for p in plans)
    assert [p["os"] for p in plans[: len(KINDS)]] == ["linux", "linux", "linux", "macos", "windows", "linux"]
    assert all(plans[i] == plans[i % len(KINDS)] for i in range(1000))
    peak_mib = int(r.stderr.strip().splitlines()[-1])
    assert peak_mib <= 80, f"peak {peak_mib} MiB"
    assert took < 15, f"{took:.1f} s"
