"""Probing: learn the Machine without importing torch.

``probe_machine(system)`` reads files first (kernel module versions, the PCI
bus, KFD topology, WSL and container hints: no process), then runs the
commands that are needed, each in its own thread and each through
``system.runner`` with a timeout: the target-Python script, ``nvidia-smi``
(query and ``-q``), ``rocminfo`` / ``amd-smi``, ``sycl-ls`` / ``xpu-smi``,
``sysctl`` / ``sw_vers`` on macOS.  A missing tool is "unknown"; a failing or
hung one becomes a ``Note``, never an exception.  Every value records its
origin in ``Machine.sources``.  Order, timeouts and overrides:
``docs/probing.md``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from torchup.errors import EnvironmentProblem, InputError
from torchup.lazyre import lazy
from torchup.machine import MANAGERS, Gpu, Machine, Note, normalise_arch, normalise_os
from torchup.probe import amd, host, intel, nvidia, pci
from torchup.probe.python import TargetFacts, target_facts
from torchup.record import record
from torchup.system import System
from torchup.target import PYTHON_TIMEOUT, find_target_python, start_target_probe

TYPE_CHECKING = False  # typing is not imported at run time: start-up cost (issue 15)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["DEFAULT_TIMEOUT", "FileFacts", "probe_machine", "read_file_facts"]

DEFAULT_TIMEOUT = 10.0  # per command; busy nodes need more than 2-3 s (research/probing.md 1.8)
_DRIVER_OVERRIDES = ("TORCHUP_CUDA_DRIVER", "UV_CUDA_DRIVER_VERSION")
_DRIVER_RE = lazy(r"(?a)^\d+\.\d+(\.\d+)?$")


# --- phase 1: files only ----------------------------------------------------------


@record
class FileFacts:
    """Everything learned from files alone (no process started)."""

    sys_module: tuple[str, str] | None = None  # (version, raw)
    proc_driver: nvidia.ProcDriver | None = None
    pci_gpus: tuple[pci.PciDevice, ...] = ()
    kfd_agents: tuple[amd.AmdAgent, ...] = ()
    rocm_version: tuple[str, str] | None = None  # (version, path)
    wsl: tuple[int, str] | None = None  # (1|2, origin)
    container: tuple[str, str] | None = None  # (kind, origin)
    wsl_smi: bool = False


def read_file_facts(system: System) -> FileFacts:
    """Phase 1 of ``probe_machine``: cheap file reads, no subprocess."""
    return FileFacts(
        sys_module=nvidia.read_sys_module_version(system),
        proc_driver=nvidia.read_proc_driver_version(system),
        pci_gpus=tuple(pci.read_pci_gpus(system)),
        kfd_agents=tuple(amd.read_kfd_agents(system)),
        rocm_version=amd.read_rocm_version(system),
        wsl=host.read_wsl(system),
        container=host.container_hint(system),
        wsl_smi=system.exists(nvidia.WSL_NVIDIA_SMI),
    )


# --- phase 2: commands, concurrently ----------------------------------------------


class _Jobs:
    """Each job in a daemon thread; a result that is not back by its deadline is
    ``None`` (the runner's own timeout should make that impossible, this is the
    belt to its braces: torchup must return even if a thread is stuck)."""

    def __init__(self) -> None:
        self._threads: dict[str, tuple[Any, list]] = {}  # name -> (thread, its result box)

    def start(self, name: str, fn: Callable[[], Any]) -> None:
        import threading  # only when a tool is there to run

        box: list = []

        def target() -> None:
            box.append(fn())

        t = threading.Thread(target=target, name=f"torchup-probe-{name}", daemon=True)
        t.start()
        self._threads[name] = (t, box)

    def get(self, name: str, deadline: float) -> Any:
        if name not in self._threads:
            return None
        t, box = self._threads[name]
        t.join(deadline)
        return box[0] if box else None


class _Acc:
    """The Machine under construction: fields, their sources, notes."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.sources: dict[str, str] = {}
        self.notes: list[Note] = []

    def set(self, key: str, value: Any, source: str) -> None:
        if value is None:
            return
        self.values[key] = value
        self.sources[key] = source

    def note(self, note_id: str, message: str) -> None:
        """``note_id``: a problem id of torchup/doctor/problems.json, as a literal (tests/test_probe_notes.py)."""
        self.notes.append(Note(id=note_id, message=message))


def probe_machine(
    system: System, *, python: str | None = None, timeout: float = DEFAULT_TIMEOUT, cache: bool = False
) -> Machine:
    """Probe the host and the target Python (``python``, default: the active
    venv / conda env, else ``python3`` on PATH).  ``timeout`` bounds each
    command (the target Python gets at least 15 s).  With ``cache`` the
    target's facts may come from the cache and the probe started early
    (``system.target_probe``) is used when it is for the same interpreter
    (torchup.target).  Raises ``UsageError`` for a bad ``--python``,
    ``EnvironmentProblem`` when the target Python cannot answer,
    ``InputError`` for a malformed override."""
    acc = _Acc()
    py_path, how = find_target_python(system, python)
    py_timeout = max(timeout, PYTHON_TIMEOUT)
    early = system.target_probe
    if cache and early is not None and early.python == py_path:
        target_probe = early
    else:
        target_probe = start_target_probe(system, py_path, timeout=py_timeout, cache=cache)
    jobs = _Jobs()

    files = read_file_facts(system)

    smi = nvidia.find_nvidia_smi(system)
    if smi:
        jobs.start("smi-query", lambda: nvidia.run_query_gpu(system, smi, timeout=timeout))
        jobs.start("smi-q", lambda: nvidia.run_smi_q(system, smi, timeout=timeout))
    amd_tool = _amd_tool(system, files)
    if amd_tool:
        jobs.start("amd", lambda: _run_amd_tool(system, amd_tool, timeout))
    if any(d.vendor == "intel" for d in files.pci_gpus):
        for tool in ("sycl-ls", "xpu-smi"):
            path = system.runner.which(tool)
            if path:
                argv = [path] if tool == "sycl-ls" else [path, "discovery"]
                jobs.start(tool, functools.partial(system.runner.run, argv, timeout=timeout))
    managers = tuple(m for m in MANAGERS if system.runner.which(m) or (m == "pip" and system.runner.which("pip3")))

    grace = 2.0  # the runner's kill grace, plus slack
    target, error = target_facts(target_probe)  # the runner's timeout bounds the wait
    if target is None:
        raise EnvironmentProblem(
            f"cannot learn about the target Python: {error}",
            hint="name a working interpreter with --python PATH",
            code="target-python-failed",
        )
    _apply_target(acc, target, py_path, how)
    if acc.values["os"] == "macos":
        _probe_macos(acc, system, target, timeout)
    _apply_host(acc, files)
    acc.set("managers", managers, "PATH")

    found: list[tuple[Gpu, str]] = []
    found += _nvidia(acc, files, smi, jobs.get("smi-query", timeout + grace), jobs.get("smi-q", timeout + grace))
    found += _amd(acc, system, files, jobs.get("amd", timeout + grace) if amd_tool else None)
    found += _intel(acc, files, jobs.get("sycl-ls", timeout + grace), jobs.get("xpu-smi", timeout + grace))
    if acc.values.get("apple_silicon"):
        found.append(
            (Gpu(vendor="apple", name="Apple silicon GPU (MPS)", driver_loaded=True), "sysctl -n hw.optional.arm64")
        )
    for i, (_gpu, origin) in enumerate(found):
        acc.sources[f"gpus[{i}]"] = origin
    _visible_devices(acc, system, [g for g, _ in found if g.vendor == "nvidia"])
    _override_driver(acc, system)
    return Machine(**acc.values, gpus=tuple(g for g, _ in found), notes=tuple(acc.notes), sources=dict(acc.sources))


def _visible_devices(acc: _Acc, system: System, nvidia_gpus: list[Gpu]) -> None:
    """CUDA_VISIBLE_DEVICES in torchup's environment (the shell the user will run torch from)
    that hides every NVIDIA GPU.  The plan still counts the GPUs: the install is for the
    machine, the variable only for this shell."""
    value = system.env.get("CUDA_VISIBLE_DEVICES")
    if value is None or not nvidia_gpus:
        return
    why = nvidia.visible_devices_hide_all(value, len(nvidia_gpus))
    if why:
        acc.note("cuda-visible-devices-hides-gpu", f"{why}: torch started from this shell will see no GPU")


# --- the target Python -------------------------------------------------------------


def _apply_target(acc: _Acc, t: TargetFacts, path: str, how: str) -> None:
    src = "target python"
    os_name = normalise_os(t.platform) or normalise_os(t.platform.rstrip("0123456789"))
    arch = normalise_arch(t.machine)
    if os_name is None or arch is None:
        raise EnvironmentProblem(
            f"the target Python runs on {t.platform} / {t.machine}, which no PyTorch wheel supports",
            hint="torchup knows linux, windows and macos on x86_64 and aarch64",
            code="unsupported-platform",
        )
    acc.set("os", os_name, f"{src}: sys.platform")
    acc.set("arch", arch, f"{src}: platform.machine()")
    acc.set("python", ".".join(str(n) for n in t.version[:3]), f"{src}: sys.version_info")
    acc.set("python_bits", t.bits, f"{src}: sys.maxsize")
    acc.set("free_threaded", t.free_threaded, f"{src}: Py_GIL_DISABLED")
    acc.set("python_implementation", t.implementation, f"{src}: sys.implementation")
    acc.set("python_executable", t.executable, f"{how}: {path}")
    acc.set("env_prefix", t.prefix, f"{src}: sys.prefix")
    acc.set(
        "python_env",
        t.env_kind,
        f"{src}: "
        + (
            "pyvenv.cfg"
            if t.env_kind in ("venv", "uv")
            else "conda-meta"
            if t.env_kind in ("conda", "pixi")
            else "sys.prefix == sys.base_prefix"
        ),
    )
    acc.set(
        "externally_managed",
        bool(t.externally_managed),
        t.externally_managed or f"{src}: no EXTERNALLY-MANAGED marker applies",
    )
    acc.set("pip_usable", t.pip, f"{src}: a pip package on sys.path")
    acc.set("uv_usable", bool(t.uv), t.uv or f"{src}: no uv on PATH or in the environment")
    if t.libc:
        acc.set(
            "libc",
            f"{t.libc[0]} {'.'.join(t.libc[1].split('.')[:3])}",
            f"{src}: " + ("os.confstr('CS_GNU_LIBC_VERSION')" if t.libc[0] == "glibc" else "musl loader"),
        )
    acc.set("installed", dict(t.installed), f"{src}: distribution metadata on sys.path")


def _probe_macos(acc: _Acc, system: System, t: TargetFacts, timeout: float) -> None:
    version = t.mac_ver
    acc.set("macos_version", version, "target python: platform.mac_ver()")
    if version and version.startswith("10.16"):
        # An interpreter built against an old SDK sees 10.16 on macOS 11+;
        # sw_vers with SYSTEM_VERSION_COMPAT=0 tells the truth (packaging tags.py).
        env = {**system.env, "SYSTEM_VERSION_COMPAT": "0"}
        r = system.runner.run(["sw_vers", "-productVersion"], timeout=timeout, env=env)
        real = host.parse_sw_vers(r.stdout) if r.ok else None
        acc.set("macos_version", real, "sw_vers -productVersion (SYSTEM_VERSION_COMPAT=0)")
    r = system.runner.run(["sysctl", "-n", "hw.optional.arm64"], timeout=timeout)
    flag = host.parse_sysctl_flag(r.stdout) if r.ok else None
    if flag is None and r.returncode not in (None, 0):
        flag = False  # the key does not exist on Intel Macs
    acc.set("apple_silicon", flag, "sysctl -n hw.optional.arm64")
    if flag is not None:
        rosetta = flag and acc.values["arch"] == "x86_64"
        acc.set("rosetta", rosetta, "sysctl hw.optional.arm64 vs the target's platform.machine()")
        if rosetta:
            acc.note(
                "rosetta-x86-python",
                f"{t.executable} is an x86_64 Python running under Rosetta on Apple silicon: "
                "it cannot use the GPU (MPS) and gets no current PyTorch wheels; use an arm64 Python",
            )


# --- host ------------------------------------------------------------------------------


def _apply_host(acc: _Acc, files: FileFacts) -> None:
    if acc.values["os"] != "linux":
        return
    if files.wsl:
        acc.set("wsl", files.wsl[0], files.wsl[1])
    else:
        acc.set("wsl", False, "no sign in /proc/sys/kernel/osrelease, /proc/version, /dev/dxg")
    if files.container:
        acc.set("container", files.container[0], files.container[1])


# --- NVIDIA ----------------------------------------------------------------------------


def _nvidia(
    acc: _Acc, files: FileFacts, smi: str | None, query: nvidia.SmiQuery | None, header
) -> list[tuple[Gpu, str]]:
    kernel: tuple[str, str] | None = None  # (version, origin)
    if files.sys_module:
        kernel = (files.sys_module[0], nvidia.SYS_MODULE_VERSION)
    if files.proc_driver:
        if files.proc_driver.jetson:
            acc.set("jetson_l4t", files.proc_driver.version, nvidia.PROC_DRIVER_VERSION)
            kernel = None
        elif kernel is None:
            kernel = (files.proc_driver.version, nvidia.PROC_DRIVER_VERSION)
    if kernel:
        acc.set("nvidia_driver", kernel[0], kernel[1])

    pci_nv = [d for d in files.pci_gpus if d.vendor == "nvidia"]
    by_bus = {d.address: d for d in pci_nv}
    gpus: list[tuple[Gpu, str]] = []
    wsl = files.wsl[0] if files.wsl else None

    if smi and query is None:
        query = nvidia.SmiQuery(command="nvidia-smi --query-gpu", timed_out=True, error="no answer")
    if query is not None and query.gpus:
        smi_drivers = {g.driver_version for g in query.gpus if g.driver_version}
        smi_driver = sorted(smi_drivers)[0] if smi_drivers else None
        if smi_driver and (kernel is None or wsl):
            acc.set("nvidia_driver", smi_driver, query.command)
        elif smi_driver and kernel and smi_driver != kernel[0]:
            acc.set("nvidia_driver_userspace", smi_driver, query.command)
            acc.note(
                "driver-library-mismatch",
                f"the loaded NVIDIA kernel module is {kernel[0]} but the user-space driver is {smi_driver}: "
                "a driver update is installed but not loaded; reboot",
            )
        header_h = header[0] if header else None
        mig = dict(header_h.mig_by_bus) if header_h else {}
        for g in sorted(query.gpus, key=lambda g: (g.index is None, g.index)):
            dev = by_bus.pop(g.bus_id, None) if g.bus_id else None
            cc, cc_origin = g.compute_capability, ""
            if cc is None and (found := _cc_by_name(g.name)):
                cc, cc_origin = found[0], f" + compute capability from {found[1]}"
            gpu = Gpu(
                vendor="nvidia",
                name=g.name,
                compute_capability=cc,
                memory_mib=g.memory_mib,
                pci_id=dev.pci_id if dev else None,
                uuid=g.uuid,
                driver_loaded=True,
                mig=mig.get(g.bus_id) if g.bus_id else None,
            )
            gpus.append((gpu, query.command + (" + sysfs PCI ids" if dev else "") + cc_origin))
    elif query is not None:
        if query.timed_out:
            acc.note(
                "driver-unresponsive",
                f"nvidia-smi did not answer within {_secs(query.error)}: the NVIDIA driver may be wedged "
                "(check 'dmesg' for Xid / 'fallen off the bus'); a reboot usually clears it",
            )
        elif query.mismatch:
            acc.set("nvidia_driver_userspace", query.mismatch_userspace, "nvidia-smi (NVML library version)")
            acc.note(
                "driver-library-mismatch",
                "nvidia-smi: 'Driver/library version mismatch': the loaded kernel module "
                f"({kernel[0] if kernel else 'unknown'}) differs from the user-space driver "
                f"({query.mismatch_userspace or 'unknown'}); reboot to load the updated driver",
            )
        elif query.no_driver and wsl:
            acc.note(
                "no-nvidia-driver",
                "WSL: nvidia-smi cannot reach the NVIDIA driver. Install or update the NVIDIA driver on "
                "Windows (not inside WSL), then run 'wsl --shutdown'",
            )
        elif query.no_driver and not kernel and pci_nv:
            pass  # said below, per GPU, as driver-not-loaded
        elif query.error and query.error != "not found" and (kernel or pci_nv):
            acc.note("nvidia-smi-failed", f"nvidia-smi failed: {query.error}")
    if header and header[0] and header[0].cuda_raw:
        h, origin = header
        if h.cuda_version:
            acc.set("cuda_driver_max", h.cuda_version, f"{origin}: CUDA Version")
        elif gpus:
            acc.note(
                "driver-cuda-unusable",
                f"nvidia-smi reports 'CUDA Version: {h.cuda_raw}': the driver's CUDA library (libcuda) is not usable here",
            )
        if h.driver_version and "nvidia_driver" not in acc.values:
            acc.set("nvidia_driver", h.driver_version, origin)

    # NVIDIA GPUs seen on the bus but not by nvidia-smi
    driver_loaded = bool(kernel) or bool(files.proc_driver)
    for dev in by_bus.values():
        bound = dev.driver == "nvidia" if dev.driver else driver_loaded
        gpus.append(_pci_gpu(dev, driver_loaded=bound))
        if not bound:
            acc.note(
                "driver-not-loaded",
                f"NVIDIA GPU {dev.pci_id} at {dev.address} has no NVIDIA driver loaded"
                + (f" (bound to {dev.driver})" if dev.driver else "")
                + ": install the NVIDIA driver to use CUDA builds of PyTorch",
            )
    if wsl and not gpus and not smi and not files.wsl_smi:
        acc.note(
            "no-nvidia-driver",
            "WSL: no NVIDIA driver is visible (no /usr/lib/wsl/lib/nvidia-smi). If this PC has an NVIDIA GPU, "
            "install the NVIDIA driver on Windows (not inside WSL)",
        )
    return gpus


def _secs(error: str | None) -> str:
    m = re.search(r"within (\S+ s)", error or "")
    return m.group(1) if m else "its timeout"


_CATALOG_PCI = "catalog pci.ids table"


def _pci_gpu(dev: pci.PciDevice, *, driver_loaded: bool) -> tuple[Gpu, str]:
    facts = _hardware_lookup(dev.pci_id)
    gpu = Gpu(
        vendor=dev.vendor,
        name=facts.get("name"),
        compute_capability=facts.get("compute_capability"),
        gfx=facts.get("gfx"),
        pci_id=dev.pci_id,
        driver_loaded=driver_loaded,
    )
    return gpu, f"{pci.PCI_DEVICES}/{dev.address}" + (f" + {_CATALOG_PCI}" if facts else "")


def _cc_by_name(name: str | None) -> tuple[str, str] | None:
    """Compute capability of a named NVIDIA model from the catalog, for drivers
    whose nvidia-smi cannot report it (``compute_cap`` arrived after R470)."""
    if not name:
        return None
    try:
        from torchup.catalog.hardware import gpu_by_name
    except ImportError:
        return None
    try:
        model = gpu_by_name(name)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if model is None or model.vendor != "nvidia" or not model.compute_capability:
        return None
    return model.compute_capability, f"catalog GPU model table ({model.source})"


def _hardware_lookup(pci_id: str) -> dict:
    """Name / compute capability / gfx of a PCI id from the catalog's pci.ids
    table (``torchup.catalog.hardware.lookup_pci``); ``{}`` when unknown.

    The name is the model in brackets of the pci.ids entry ("GA102 [GeForce
    RTX 3090]" -> "GeForce RTX 3090"), which is what the catalog matches on."""
    try:
        from torchup.catalog.hardware import lookup_pci
    except ImportError:
        return {}
    try:
        found = lookup_pci(pci_id)
    except (OSError, ValueError, KeyError, TypeError):  # no table shipped, or an unreadable one
        return {}
    if found is None:
        return {}
    bracket = re.findall(r"\[([^\]]+)\]", found.name)
    return {
        "name": bracket[-1] if bracket else found.name,
        "compute_capability": found.compute_capability,
        "gfx": found.gfx,
    }


def _override_driver(acc: _Acc, system: System) -> None:
    for var in _DRIVER_OVERRIDES:
        value = (system.env.get(var) or "").strip()
        if not value:
            continue
        if not _DRIVER_RE.match(value):
            raise InputError(
                f"{var}={value!r} is not an NVIDIA driver version like 550.54.14", hint=f"unset {var} or fix it"
            )
        acc.set("nvidia_driver", value, f"override:{var}")
        # what nvidia-smi said describes the real driver, not the one asked for
        for key in ("cuda_driver_max", "nvidia_driver_userspace"):
            acc.values.pop(key, None)
            acc.sources.pop(key, None)
        return


# --- AMD -----------------------------------------------------------------------------


def _amd_tool(system: System, files: FileFacts) -> str | None:
    """rocminfo / amd-smi only when an AMD GPU lacks a gfx target from KFD."""
    amd_pci = [d for d in files.pci_gpus if d.vendor == "amd"]
    if not amd_pci or (files.kfd_agents and len(files.kfd_agents) >= len(amd_pci)):
        return None
    for name in ("rocminfo", "amd-smi"):
        path = system.runner.which(name)
        if path:
            return path
    for path in ("/opt/rocm/bin/rocminfo", "/opt/rocm/bin/amd-smi"):
        if system.exists(path):
            return system.path(path)
    return None


def _run_amd_tool(system: System, tool: str, timeout: float):
    argv = [tool, "static"] if tool.endswith("amd-smi") else [tool]
    return tool, system.runner.run(argv, timeout=timeout)


def _amd(acc: _Acc, system: System, files: FileFacts, tool_result) -> list[tuple[Gpu, str]]:
    override = system.env.get("HSA_OVERRIDE_GFX_VERSION")
    if override:
        parsed = amd.parse_hsa_override(override)
        if parsed:
            acc.set("hsa_override_gfx", parsed, "env:HSA_OVERRIDE_GFX_VERSION")
        else:
            acc.note(
                "hsa-override-invalid",
                f"HSA_OVERRIDE_GFX_VERSION={override!r} is not M.m.s; ROCm ignores it (reports gfx000)",
            )
    if files.rocm_version:
        acc.set("rocm_version", files.rocm_version[0], files.rocm_version[1])
    amd_pci = [d for d in files.pci_gpus if d.vendor == "amd"]
    agents = list(files.kfd_agents)
    origin = "/sys/class/kfd/kfd/topology"
    if tool_result:
        path, r = tool_result
        name = "amd-smi static" if path.endswith("amd-smi") else "rocminfo"
        if r.timed_out:
            acc.note("amd-driver-unresponsive", f"{name} did not answer in time; the amdgpu driver may be stuck")
        elif r.ok:
            agents = amd.parse_amd_smi_static(r.stdout) if name.startswith("amd-smi") else amd.parse_rocminfo(r.stdout)
            origin = name
    if not amd_pci and not agents:
        return []
    gpus: list[tuple[Gpu, str]] = []
    unmatched = list(agents)
    for dev in amd_pci:
        match = next((a for a in unmatched if a.bus_id == dev.address), None) or next(
            (a for a in unmatched if a.device_id and int(a.device_id, 16) == dev.device_id), None
        )
        if match:
            unmatched.remove(match)
        elif len({a.gfx for a in unmatched}) == 1 and unmatched[0].gfx:
            match = unmatched[0]  # one target for all: unambiguous without ids
        facts = _hardware_lookup(dev.pci_id)
        loaded = dev.driver == "amdgpu" if dev.driver else bool(agents)
        gpu = Gpu(
            vendor="amd",
            name=(match.name if match and match.name else facts.get("name")),
            gfx=(match.gfx if match and match.gfx else facts.get("gfx")),
            pci_id=dev.pci_id,
            driver_loaded=loaded,
        )
        via = [origin] if match else []
        if facts and not (match and match.name and match.gfx):
            via.append(_CATALOG_PCI)
        gpus.append((gpu, " + ".join([f"{pci.PCI_DEVICES}/{dev.address}", *via])))
        if not loaded:
            acc.note(
                "amdgpu-driver-not-loaded",
                f"AMD GPU {dev.pci_id} at {dev.address} has no amdgpu driver loaded: ROCm cannot use it",
            )
    if not amd_pci:  # no PCI view (some containers): the agents themselves
        for a in unmatched:
            gpus.append((Gpu(vendor="amd", name=a.name, gfx=a.gfx, driver_loaded=True), origin))
    return gpus


# --- Intel ---------------------------------------------------------------------------


def _intel(acc: _Acc, files: FileFacts, sycl, xpu) -> list[tuple[Gpu, str]]:
    devs = [d for d in files.pci_gpus if d.vendor == "intel"]
    if not devs:
        return []
    l0_names: list[str] = []
    if sycl is not None and sycl.ok:
        found = intel.parse_sycl_ls(sycl.stdout)
        l0_names = [d.name for d in found if d.backend == "level_zero" and d.kind == "gpu"]
        if not l0_names:
            acc.note(
                "xpu-driver-missing",
                "sycl-ls lists no Level Zero GPU: PyTorch XPU builds need the Intel GPU Level Zero runtime "
                "(packages libze1 and libze-intel-gpu1)",
            )
    xpu_by_bus = {}
    if xpu is not None and xpu.ok:
        xpu_by_bus = {d.bus_id: d for d in intel.parse_xpu_smi_discovery(xpu.stdout) if d.bus_id}
    gpus: list[tuple[Gpu, str]] = []
    for dev in devs:
        facts = _hardware_lookup(dev.pci_id)
        name, via = facts.get("name"), [_CATALOG_PCI] if facts.get("name") else []
        if dev.address in xpu_by_bus and xpu_by_bus[dev.address].name:
            name, via = xpu_by_bus[dev.address].name, ["xpu-smi discovery"]
        elif len(devs) == 1 and len(l0_names) == 1:
            name, via = l0_names[0], ["sycl-ls"]  # one Intel GPU, one Level Zero GPU: the same device
        loaded = dev.driver in ("i915", "xe") if dev.driver else None
        origin = " + ".join([f"{pci.PCI_DEVICES}/{dev.address}", *via])
        gpus.append((Gpu(vendor="intel", name=name, pci_id=dev.pci_id, driver_loaded=loaded), origin))
    return gpus
