"""Turning the check script's output into a ``VerifyReport``: pure functions over text.

The check script (``check.py``) prints marked JSON events.  ``parse_events``
picks them out of whatever else the target printed; ``build_report`` folds them
into frozen data, judges each GPU's architecture against the build's compiled
list, compares benchmark numbers with ``peaks``, and turns a crash or a hang
into a failed check naming the step that was running.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from torchup.record import field, record
from torchup.verify import peaks

TYPE_CHECKING = False  # typing is not imported at run time: start-up cost (issue 15)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "MARK",
    "BenchResult",
    "Check",
    "Device",
    "VerifyReport",
    "arch_support",
    "build_label",
    "build_report",
    "parse_events",
]

MARK = "@@torchup-verify@@ "
STDERR_TAIL = 4000

_SIGNALS = {4: "SIGILL", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL", 11: "SIGSEGV", 15: "SIGTERM"}


@record
class Check:
    step: str
    device: str | None = None
    status: str  # "pass" | "fail" | "skip"
    detail: str = ""
    seconds: float | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict:
        out: dict[str, Any] = {
            "step": self.step,
            "device": self.device,
            "status": self.status,
            "detail": self.detail,
            "seconds": self.seconds,
        }
        extra = {k: v for k, v in self.data.items() if k in ("warnings", "traceback", "max_rel_error", "keep")}
        if extra:
            out["data"] = extra
        return out


@record
class Device:
    device: str  # "cpu", "cuda:0", "mps", "xpu:0"
    type: str
    name: str | None = None
    capability: str | None = None  # CUDA compute capability "8.9"
    gfx: str | None = None  # ROCm target "gfx90a"
    memory_mib: int | None = None
    arch_ok: bool | None = None  # None: not a GPU, or nothing to judge by
    arch_note: str = ""

    def to_json(self) -> dict:
        return {
            k: getattr(self, k)
            for k in ("device", "type", "name", "capability", "gfx", "memory_mib", "arch_ok", "arch_note")
        }


@record
class BenchResult:
    device: str
    what: str  # "matmul" | "h2d" | "d2h"
    dtype: str | None
    value: float  # GFLOP/s (matmul) or GB/s (copies)
    unit: str
    expected: float | None = None
    expected_source: str | None = None
    low: bool = False  # below peaks.LOW_FRACTION of the expected figure

    @property
    def ratio(self) -> float | None:
        return self.value / self.expected if self.expected else None

    def to_json(self) -> dict:
        return {
            "device": self.device,
            "what": self.what,
            "dtype": self.dtype,
            "value": round(self.value, 3),
            "unit": self.unit,
            "expected": self.expected,
            "expected_source": self.expected_source,
            "ratio": None if self.ratio is None else round(self.ratio, 3),
            "low": self.low,
        }


@record
class VerifyReport:
    python_executable: str
    light: bool = False
    python: Mapping[str, Any] = field(default_factory=dict)
    torch: Mapping[str, Any] | None = None  # None: torch did not import
    build: Mapping[str, Any] = field(default_factory=dict)
    build_label: str | None = None  # "CUDA 12.8", "ROCm 6.4", "XPU", "MPS", "CPU"
    companions: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # torchvision, torchaudio, numpy
    devices: tuple[Device, ...] = ()
    device_facts: Mapping[str, Any] = field(default_factory=dict)  # cuda_available, warnings...
    libraries: tuple[str, ...] | None = None
    distributions: tuple[Mapping[str, Any], ...] = ()  # every copy of torch, nvidia-*, numpy... on sys.path
    site: Mapping[str, Any] = field(default_factory=dict)  # site_packages, user_site, user_site_enabled
    checks: tuple[Check, ...] = ()
    bench: tuple[BenchResult, ...] = ()
    crashed: str | None = None  # how the check process ended abnormally
    stderr_tail: str = ""

    @property
    def failures(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.status == "fail")

    @property
    def ok(self) -> bool:
        arch_bad = any(d.arch_ok is False for d in self.devices)
        return self.torch is not None and not self.failures and self.crashed is None and not arch_bad

    def check(self, step: str, device: str | None = None) -> Check | None:
        for c in self.checks:
            if c.step == step and (device is None or c.device == device):
                return c
        return None

    def to_json(self) -> dict:
        return {
            "ok": self.ok,
            "light": self.light,
            "python_executable": self.python_executable,
            "python": dict(self.python),
            "torch": None if self.torch is None else dict(self.torch),
            "build": dict(self.build, label=self.build_label),
            "companions": {k: dict(v) for k, v in self.companions.items()},
            "devices": [d.to_json() for d in self.devices],
            "device_facts": dict(self.device_facts),
            "libraries": None if self.libraries is None else list(self.libraries),
            "distributions": [dict(d) for d in self.distributions],
            "site": dict(self.site),
            "checks": [c.to_json() for c in self.checks],
            "bench": [b.to_json() for b in self.bench],
            "crashed": self.crashed,
            "stderr_tail": self.stderr_tail,
        }


# --- parsing -----------------------------------------------------------------


def parse_events(stdout: str) -> list[dict]:
    """The marked JSON events in ``stdout``, in order; other lines and garbage are skipped."""
    events = []
    for line in stdout.splitlines():
        idx = line.find(MARK)
        if idx == -1:
            continue
        try:
            obj = json.loads(line[idx + len(MARK) :])
        except ValueError:
            continue
        if isinstance(obj, dict) and isinstance(obj.get("event"), str):
            events.append(obj)
    return events


def build_label(torch_facts: Mapping[str, Any] | None) -> str | None:
    """``CUDA 12.8`` / ``ROCm 6.4`` / ``XPU`` / ``MPS`` / ``CPU`` from the build's own version data."""
    if not torch_facts:
        return None
    if torch_facts.get("hip"):
        m = re.match(r"(\d+\.\d+)", str(torch_facts["hip"]))
        return f"ROCm {m.group(1) if m else torch_facts['hip']}"
    if torch_facts.get("cuda"):
        return f"CUDA {torch_facts['cuda']}"
    if torch_facts.get("xpu_compiled"):
        return "XPU"
    if torch_facts.get("mps_built"):
        return "MPS"
    return "CPU"


def _parse_flag(flag: str) -> tuple[str, int, int, str] | None:
    """``sm_86`` -> ("sm", 8, 6, ""), ``compute_90`` -> ("compute", 9, 0, ""), ``sm_90a`` -> (..., "a")."""
    m = re.fullmatch(r"(sm|compute)_(\d+)(\d)([a-z]?)", flag.strip())
    if not m:
        return None
    return m.group(1), int(m.group(2)), int(m.group(3)), m.group(4)


def arch_support(
    capability: str | None, gfx: str | None, arch_flags: list[str] | tuple[str, ...]
) -> tuple[bool | None, str]:
    """Can this build run kernels on this GPU?  ``(verdict, why)``; None when it cannot tell.

    CUDA: SASS for the exact arch, or for a lower minor of the same major (a cubin
    for X.y runs on X.z, z >= y; not for the arch-specific ``sm_XYa``), or PTX
    for an arch at or below the GPU's, which the driver compiles at first use.
    ROCm: the gfx target must be in the list.
    """
    flags = [f for f in arch_flags if f]
    if gfx:
        target = gfx.split(":")[0]
        gfx_flags = [f.split(":")[0] for f in flags if f.startswith("gfx")]
        if not gfx_flags:
            return None, "the build lists no gfx targets"
        if target in gfx_flags:
            return True, f"{target} is in the build's targets"
        return False, f"{target} is not among the build's targets ({' '.join(gfx_flags)})"
    if not capability:
        return None, ""
    try:
        major, minor = (int(x) for x in capability.split("."))
    except ValueError:
        return None, f"unreadable compute capability {capability!r}"
    parsed = [p for p in (_parse_flag(f) for f in flags) if p]
    if not parsed:
        return None, "the build lists no CUDA architectures"
    sm = f"sm_{major}{minor}"
    if ("sm", major, minor, "") in parsed:
        return True, f"{sm} kernels are in the build"
    same_major = sorted(
        (mi for kind, ma, mi, suf in parsed if kind == "sm" and ma == major and mi <= minor and not suf)
    )
    if same_major:
        return True, f"runs the sm_{major}{same_major[-1]} kernels (same major architecture, binary compatible)"
    ptx = sorted(
        ((ma, mi) for kind, ma, mi, suf in parsed if kind == "compute" and (ma, mi) <= (major, minor) and not suf)
    )
    if ptx:
        ma, mi = ptx[-1]
        return True, f"only through PTX compute_{ma}{mi}, compiled by the driver at first use (slow start)"
    listed = " ".join(f for f in flags)
    return False, f"{sm} is not in the build ({listed})"


def build_report(
    events: list[dict],
    *,
    python_executable: str,
    returncode: int | None,
    timed_out: bool = False,
    start_error: str | None = None,
    stderr: str = "",
    timeout: float | None = None,
) -> VerifyReport:
    """Fold the events of one check run into a report."""
    results: dict[str, dict[str, Any]] = {}
    checks: list[Check] = []
    light = False
    started: dict | None = None
    done = False
    for ev in events:
        kind = ev.get("event")
        if kind == "hello":
            light = bool(ev.get("light"))
        elif kind == "start":
            started = ev
        elif kind == "result":
            started = None
            step = str(ev.get("step"))
            raw_data = ev.get("data")
            data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
            raw_status = ev.get("status")
            status = raw_status if isinstance(raw_status, str) and raw_status in ("pass", "fail", "skip") else "fail"
            check = Check(
                step=step,
                device=ev.get("device"),
                status=status,
                detail=str(ev.get("detail") or ""),
                seconds=ev.get("seconds") if isinstance(ev.get("seconds"), (int, float)) else None,
                data=data,
            )
            checks.append(check)
            results.setdefault(step, {"status": status, "detail": check.detail, "data": data})
        elif kind == "done":
            done = True

    tail = stderr[-STDERR_TAIL:] if stderr else ""
    crashed = _crash_reason(returncode, timed_out, start_error, done, timeout)
    if crashed is not None:
        where = started.get("step") if started else None
        if where and started is not None:
            dev = started.get("device")
            crashed = f"{crashed} during step {where}" + (f" on {dev}" if dev else "")
            checks.append(
                Check(step=str(where), device=dev, status="fail", detail=crashed, data={"stderr_tail": tail[-1500:]})
            )
        elif not checks or not any(c.status == "fail" for c in checks):
            checks.append(
                Check(step="check-process", status="fail", detail=crashed, data={"stderr_tail": tail[-1500:]})
            )

    python = results.get("python", {}).get("data", {})
    imp = results.get("import-torch")
    torch_facts = dict(imp["data"]) if imp and imp["status"] == "pass" else None
    if torch_facts is not None:
        torch_facts.pop("warnings", None)
    if imp is None and crashed is None and done:
        checks.append(Check(step="import-torch", status="fail", detail="the check script did not report on torch"))
    build = dict(results.get("build", {}).get("data", {}))
    companions = {}
    for step, name in (("import-torchvision", "torchvision"), ("import-torchaudio", "torchaudio"), ("numpy", "numpy")):
        r = results.get(step)
        if r is not None:
            companions[name] = {
                "status": r["status"],
                "version": r["data"].get("version"),
                "file": r["data"].get("file"),
                "error": r["detail"] if r["status"] == "fail" else None,
            }
    dev_data = results.get("devices", {}).get("data", {})
    arch_flags = build.get("arch_flags") or []
    devices = tuple(_device(d, arch_flags) for d in dev_data.get("devices", []) if isinstance(d, dict))
    device_facts = {k: v for k, v in dev_data.items() if k != "devices"}
    lib_data = results.get("libraries", {}).get("data", {})
    libraries = tuple(lib_data["loaded"]) if isinstance(lib_data.get("loaded"), list) else None
    bench = tuple(_bench(checks, devices, build))
    dist_data = dict(results.get("distributions", {}).get("data", {}))
    dists = tuple(d for d in dist_data.pop("dists", []) or [] if isinstance(d, dict) and isinstance(d.get("name"), str))
    dist_data.pop("warnings", None)
    return VerifyReport(
        python_executable=python_executable,
        light=light,
        python=python,
        torch=torch_facts,
        build=build,
        build_label=build_label(torch_facts),
        companions=companions,
        devices=devices,
        device_facts=device_facts,
        libraries=libraries,
        distributions=dists,
        site=dist_data,
        checks=tuple(checks),
        bench=bench,
        crashed=crashed,
        stderr_tail=tail,
    )


def _crash_reason(returncode, timed_out, start_error, done, timeout) -> str | None:
    if start_error:
        return f"the target Python could not be started ({start_error})"
    if timed_out:
        return "the check did not finish within its time limit" + (f" ({timeout:g} s)" if timeout else "")
    if returncode is not None and returncode < 0:
        sig = -returncode
        return f"the check process was killed by signal {sig} ({_SIGNALS.get(sig, 'unknown')})"
    if returncode not in (0, None) and not done:
        return f"the check process exited with code {returncode}"
    if not done:
        return "the check process ended without finishing"
    return None


def _device(raw: Mapping[str, Any], arch_flags) -> Device:
    dtype = str(raw.get("type") or "cpu")
    cap = raw.get("capability") if isinstance(raw.get("capability"), str) else None
    gfx = raw.get("gfx") if isinstance(raw.get("gfx"), str) else None
    verdict, note = (None, "")
    if dtype == "cuda":
        verdict, note = arch_support(None if gfx else cap, gfx, arch_flags)
    mem = raw.get("memory_mib")
    return Device(
        device=str(raw.get("device") or dtype),
        type=dtype,
        name=raw.get("name") if isinstance(raw.get("name"), str) else None,
        capability=cap,
        gfx=gfx,
        memory_mib=mem if isinstance(mem, int) else None,
        arch_ok=verdict,
        arch_note=note,
    )


def _bench(checks, devices, build):
    by_name = {d.device: d for d in devices}
    for c in checks:
        if not c.step.startswith("bench-") or c.status != "pass" or not c.device:
            continue
        dev = by_name.get(c.device)
        dtype_kind = dev.type if dev else c.device.split(":")[0]
        name = dev.name if dev else None
        if c.step.startswith("bench-matmul-"):
            dtype = c.step[len("bench-matmul-") :]
            value = c.data.get("gflops")
            if not isinstance(value, (int, float)):
                continue
            peak = peaks.expected_matmul(
                dtype_kind, name, dtype, threads=build.get("threads"), cpu_capability=build.get("cpu_capability")
            )
            yield _result(c.device, "matmul", dtype, float(value), "GFLOP/s", peak)
        elif c.step.startswith("bench-copy-"):
            value = c.data.get("gbps")
            if not isinstance(value, (int, float)):
                continue
            peak = peaks.expected_copy(dtype_kind, name)
            yield _result(c.device, c.step[len("bench-copy-") :], None, float(value), "GB/s", peak)


def _result(device, what, dtype, value, unit, peak):
    return BenchResult(
        device=device,
        what=what,
        dtype=dtype,
        value=value,
        unit=unit,
        expected=peak.value if peak else None,
        expected_source=peak.source if peak else None,
        low=bool(peak and value < peak.value * peaks.LOW_FRACTION),
    )
