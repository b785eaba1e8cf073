"""doctor's rules: pure functions from the state of an environment to findings.

``DoctorState`` is plain data: the Machine (probe), the light verify report
(what the target's torch says about itself, its distributions), the conda
records of the environment, a few environment variables and host facts, and
the install commands ``torchup plan`` would give.  ``diagnose(state, catalog)``
runs every rule and returns ``Diagnosis`` objects (a Finding plus a severity),
errors first.  Each finding's id, family, title and cause come from the
problem catalog (``torchup.doctor.problems``); a rule adds this case's evidence
and, where it knows them, the exact fix commands.

Nothing here reads the host: ``torchup.doctor.state`` gathers the state, and
recorded states (tests/fixtures/doctor/) replay it.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torchup.catalog import hardware
from torchup.findings import Finding
from torchup.machine import Machine, machine_from_dict, machine_to_dict
from torchup.plan import DEFAULT_INDEX_BASE
from torchup.probe.nvidia import visible_devices_hide_all
from torchup.record import replace
from torchup.verify.report import VerifyReport, arch_support, build_report

__all__ = [
    "RULES",
    "STATE_FORMAT",
    "CondaRecord",
    "Diagnosis",
    "DoctorState",
    "diagnose",
    "expected_companion",
    "state_from_dict",
    "state_to_dict",
    "torch_build",
]

STATE_FORMAT = 1
PYTORCH_INDEX = DEFAULT_INDEX_BASE

# CUDA libraries a torch wheel brings itself (in torch/lib or the nvidia-* wheels).
# A copy found first on LD_LIBRARY_PATH replaces them.  The driver (libcuda,
# libnvidia-*) is rightly the system's and is not in this list.
BUNDLED_CUDA_LIBS = (
    "libcudart",
    "libcudnn",
    "libcublas",
    "libnccl",
    "libnvjitlink",
    "libcusparse",
    "libcufft",
    "libcurand",
    "libnvrtc",
    "libcusolver",
    "libcupti",
    "libnvtoolsext",
)


@dataclass(frozen=True, kw_only=True)
class CondaRecord:
    """One package record of ``<prefix>/conda-meta/*.json``."""

    name: str
    version: str
    build: str = ""
    channel: str = ""  # the channel URL or name as conda wrote it


@dataclass(frozen=True, kw_only=True)
class DoctorState:
    python: str  # the target interpreter
    machine: Machine | None = None
    verify: VerifyReport | None = None  # the light verify; None when it could not run
    verify_run: Mapping[str, Any] = field(default_factory=dict)  # its raw events, to record and replay
    conda: tuple[CondaRecord, ...] = ()  # empty: not a conda env
    conda_pinned: tuple[str, ...] = ()  # lines of conda-meta/pinned
    env: Mapping[str, str] = field(default_factory=dict)  # CUDA_VISIBLE_DEVICES, LD_LIBRARY_PATH...
    ld_path_libs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # LD_LIBRARY_PATH dir -> CUDA libs in it
    dev_nvidia: tuple[str, ...] | None = None  # /dev/nvidia* nodes; None when not looked at (not Linux)
    wsl_libcuda: bool | None = None  # /usr/lib/wsl/lib/libcuda.so* present (WSL only)
    install_commands: tuple[str, ...] = ()  # what `torchup plan` gives for this machine
    plan_summary: str | None = None  # "torch 2.14.1 (cu130)"
    notes: tuple[str, ...] = ()  # what could not be gathered, and why
    # the stack torchup pinned after its last install (<prefix>/.torchup/constraints.txt): name -> version
    guard: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Diagnosis:
    finding: Finding
    severity: str  # "error" | "warning"

    def to_json(self) -> dict:
        return dict(self.finding.to_json(), severity=self.severity)


# --- facts derived from the state (pure helpers) ------------------------------


def _vt(text: str | None) -> tuple[int, ...]:
    if not text:
        return ()
    out = []
    for part in re.split(r"[.+]", str(text)):
        if not part.isdigit():
            break
        out.append(int(part))
    return tuple(out)


def _label(version: str | None) -> str | None:
    """The local label of a version: ``2.8.0+cu126`` -> ``cu126``."""
    if version and "+" in version:
        return version.split("+", 1)[1]
    return None


def _dists(state: DoctorState, name: str) -> list[Mapping[str, Any]]:
    if state.verify is None:
        return []
    return [d for d in state.verify.distributions if d.get("name") == name]


def _installed_version(state: DoctorState, name: str) -> str | None:
    """The version an import would see: what the target reported, else the first copy on sys.path."""
    if state.verify is not None:
        if name == "torch" and state.verify.torch:
            return state.verify.torch.get("version")
        comp = state.verify.companions.get(name)
        if comp and comp.get("version"):
            return comp["version"]
    copies = _dists(state, name)
    return copies[0].get("version") if copies else None


def torch_build(state: DoctorState) -> tuple[str | None, str | None]:
    """``(kind, toolkit)`` of the installed torch: ("cuda", "12.8"), ("rocm", "6.4"), ("cpu", None)...

    From the build itself when it imported, else from its version label or its
    ``nvidia-*`` requirements.  ``(None, None)`` when torch is not installed.
    """
    t = state.verify.torch if state.verify else None
    if t:
        if t.get("hip"):
            return "rocm", ".".join(str(t["hip"]).split(".")[:2])
        if t.get("cuda"):
            return "cuda", str(t["cuda"])
        if t.get("xpu_compiled"):
            return "xpu", None
        if t.get("mps_built"):
            return "mps", None
        return "cpu", None
    version = _installed_version(state, "torch")
    if version is None:
        return None, None
    label = _label(version)
    if label:
        m = re.fullmatch(r"cu(\d+)(\d)", label)
        if m:
            return "cuda", f"{m.group(1)}.{m.group(2)}"
        if label.startswith("rocm"):
            return "rocm", label[4:]
        if label in ("cpu", "xpu"):
            return label, None
    for req in (_dists(state, "torch")[0].get("requires") or []) if _dists(state, "torch") else []:
        m = re.match(r"nvidia-cuda-runtime(?:-cu\d+)?\s*==\s*(\d+)\.(\d+)", req)
        if m:
            return "cuda", f"{m.group(1)}.{m.group(2)}"
    return None, None


def _nvidia_gpus(state: DoctorState):
    m = state.machine
    return [g for g in (m.gpus if m else ()) if g.vendor == "nvidia"]


def _amd_gpus(state: DoctorState):
    m = state.machine
    return [g for g in (m.gpus if m else ()) if g.vendor == "amd"]


def _warnings(state: DoctorState) -> list[str]:
    v = state.verify
    if v is None:
        return []
    out = list(v.device_facts.get("warnings") or [])
    imp = v.check("import-torch")
    if imp is not None:
        out += list(imp.data.get("warnings") or [])
    return out


def _pip(state: DoctorState) -> str:
    return f"{shlex.quote(state.python)} -m pip"


def _install_fix(state: DoctorState) -> tuple[str, ...]:
    if state.install_commands:
        return tuple(state.install_commands)
    return (
        f"torchup plan --python {shlex.quote(state.python)}",
        f"torchup install --python {shlex.quote(state.python)}",
    )


def _index_for(label: str | None) -> str:
    return f" --index-url {PYTORCH_INDEX}/{label}" if label else ""


def _f(problem_id: str, evidence, fix=None) -> Finding:
    from torchup.doctor.problems import finding

    f = finding(problem_id, evidence=tuple(e for e in evidence if e))
    return replace(f, fix=tuple(fix)) if fix else f


def _err(problem_id, evidence, fix=None) -> Diagnosis:
    return Diagnosis(finding=_f(problem_id, evidence, fix), severity="error")


def _warn(problem_id, evidence, fix=None) -> Diagnosis:
    return Diagnosis(finding=_f(problem_id, evidence, fix), severity="warning")


# --- the rules ----------------------------------------------------------------


def rule_cpu_build(state: DoctorState, catalog) -> list[Diagnosis]:
    """A CPU build of torch on a machine whose GPU torch could use."""
    kind, _ = torch_build(state)
    m = state.machine
    if kind != "cpu" or m is None:
        return []
    evidence = [f"torch {_installed_version(state, 'torch')} is a CPU build (torch.version.cuda is None)"]
    nv = [g for g in _nvidia_gpus(state) if g.driver_loaded is not False]
    if nv and m.nvidia_driver:
        evidence += [
            f"GPU: {g.name or 'NVIDIA GPU'}"
            + (f" (compute capability {g.compute_capability})" if g.compute_capability else "")
            for g in nv
        ]
        evidence.append(
            f"NVIDIA driver {m.nvidia_driver}"
            + (f", supports CUDA up to {m.cuda_driver_max}" if m.cuda_driver_max else "")
        )
    elif _amd_gpus(state) and m.os == "linux" and m.rocm_version:
        evidence += [f"GPU: {g.name or 'AMD GPU'}" + (f" ({g.gfx})" if g.gfx else "") for g in _amd_gpus(state)]
        evidence.append(f"ROCm {m.rocm_version}")
    else:
        return []
    pytorch = next((r for r in state.conda if r.name == "pytorch"), None)
    if pytorch is not None and "conda-forge" in pytorch.channel:
        evidence.append(f"conda-forge pytorch {pytorch.version} build {pytorch.build}")
        fix: tuple[str, ...] = (
            'conda install -c conda-forge "pytorch=*=cuda*"   # the CUDA variant of the conda-forge package',
        )
    else:
        fix = _install_fix(state)
    return [_err("cpu-build-installed", evidence, fix)]


def _arch_flags(state: DoctorState, catalog) -> list[str]:
    """The build's compiled architectures: from torch itself, else from the catalog."""
    if state.verify is not None and state.verify.build.get("arch_flags"):
        return list(state.verify.build["arch_flags"])
    kind, _toolkit = torch_build(state)
    version = _installed_version(state, "torch")
    m = state.machine
    if catalog is None or version is None or m is None or kind not in ("cuda", "rocm"):
        return []
    label = _label(version)
    for build in catalog.builds(os=m.os, arch=m.arch, torch=version):
        if (label and build.variant == label) or (not label and build.pypi_default):
            if kind == "rocm":
                return list(build.gfx)
            return [f"sm_{cc.replace('.', '')}" for cc in build.sass] + [
                f"compute_{cc.replace('.', '')}" for cc in build.ptx
            ]
    return []


def rule_gpu_arch(state: DoctorState, catalog) -> list[Diagnosis]:
    """An NVIDIA GPU whose architecture the CUDA build has no kernels for."""
    kind, _ = torch_build(state)
    if kind != "cuda":
        return []
    flags = _arch_flags(state, catalog)
    out = []
    seen = set()
    gpus = [(g.name, g.compute_capability) for g in _nvidia_gpus(state) if g.compute_capability]
    if state.verify is not None:
        gpus += [
            (d.name, d.capability) for d in state.verify.devices if d.type == "cuda" and d.capability and not d.gfx
        ]
    for name, cc in gpus:
        if (name, cc) in seen:
            continue
        seen.add((name, cc))
        ok, why = arch_support(cc, None, flags)
        if ok is False:
            evidence = [
                f"{name or 'GPU'}: compute capability {cc} (sm_{cc.replace('.', '')})",
                f"torch {_installed_version(state, 'torch')} is compiled for: {' '.join(flags)}",
                why,
            ]
            evidence += [w for w in _warnings(state) if "not compatible" in w or "no longer supports" in w][:2]
            listed = [_vt(f.split("_", 1)[1][:-1] + "." + f[-1]) for f in flags if re.fullmatch(r"(sm|compute)_\d+", f)]
            older = bool(listed) and _vt(cc) < min(listed)
            out.append(
                _err("gpu-too-old-for-build" if older else "gpu-arch-not-in-build", evidence, _install_fix(state))
            )
    return out


def rule_rocm_gfx(state: DoctorState, catalog) -> list[Diagnosis]:
    """An AMD GPU whose gfx target the ROCm build does not include."""
    kind, _ = torch_build(state)
    if kind != "rocm":
        return []
    flags = [f for f in _arch_flags(state, catalog) if f.startswith("gfx")]
    gpus = [(g.name, g.gfx) for g in _amd_gpus(state) if g.gfx]
    if state.verify is not None:
        gpus += [(d.name, d.gfx) for d in state.verify.devices if d.gfx]
    out = []
    seen = set()
    for name, gfx in gpus:
        target = gfx.split(":")[0]
        if target in seen:
            continue
        seen.add(target)
        ok, why = arch_support(None, target, flags)
        if ok is False:
            evidence = [f"{name or 'AMD GPU'}: {target}", why]
            override = state.env.get("HSA_OVERRIDE_GFX_VERSION")
            if override:
                evidence.append(f"HSA_OVERRIDE_GFX_VERSION={override} is set")
            out.append(_err("rocm-gfx-unsupported", evidence))
    return out


def rule_driver(state: DoctorState, catalog) -> list[Diagnosis]:
    """The NVIDIA driver is older than the CUDA build needs."""
    kind, toolkit = torch_build(state)
    m = state.machine
    if kind != "cuda" or not toolkit or m is None:
        return []
    need = _vt(toolkit)
    if not need:
        return []
    evidence = []
    too_old = False
    driver_max = m.cuda_driver_max or (state.verify.device_facts.get("driver_cuda") if state.verify else None)
    if driver_max and _vt(driver_max)[:1] < need[:1]:
        too_old = True
        evidence.append(
            f"the driver supports CUDA up to {driver_max}; torch {_installed_version(state, 'torch')} is built with CUDA {toolkit}"
        )
    # the one driver table (catalog/hardware.py); under WSL the driver is the Windows host's
    floor = hardware.driver_floor(toolkit, "windows" if m.wsl else m.os)
    if m.nvidia_driver and floor:
        minimum = floor.compat
        if minimum and _vt(m.nvidia_driver) < _vt(minimum):
            too_old = True
            evidence.append(f"driver {m.nvidia_driver} is below {minimum}, the minimum for CUDA {need[0]}.x")
    warned = [w for w in _warnings(state) if "driver on your system is too old" in w]
    if warned:
        too_old = True
        evidence += warned[:1]
    if not too_old:
        return []
    return [
        _err(
            "driver-too-old",
            evidence,
            (
                "nvidia-smi   # 'CUDA Version' is the newest CUDA this driver runs",
                *_install_fix(state),
                "# or update the NVIDIA driver",
            ),
        )
    ]


def rule_cuda_unavailable(state: DoctorState, catalog) -> list[Diagnosis]:
    """A CUDA build that sees no GPU: hidden, not passed into a container or WSL, or no driver."""
    kind, _ = torch_build(state)
    v = state.verify
    m = state.machine
    if kind != "cuda" or v is None or v.torch is None or v.device_facts.get("cuda_available") is not False:
        return []
    nv = _nvidia_gpus(state)
    cvd = state.env.get("CUDA_VISIBLE_DEVICES")
    if cvd is not None:
        why = visible_devices_hide_all(cvd, len(nv) if nv else None)
        if why:
            return [_err("cuda-visible-devices-hides-gpu", [why] + [f"GPU: {g.name}" for g in nv])]
    if m is not None and m.wsl and state.wsl_libcuda is False:
        return [
            _err(
                "no-nvidia-driver",
                [f"WSL {m.wsl}: /usr/lib/wsl/lib/libcuda.so is missing (the Windows NVIDIA driver is not exposed)"],
                (
                    "ls -l /usr/lib/wsl/lib/libcuda.so*",
                    "# install or update the NVIDIA driver on Windows (not inside WSL), then in Windows: wsl --shutdown",
                ),
            )
        ]
    if m is not None and m.container and not nv and not state.dev_nvidia:
        return [
            _err(
                "container-without-gpu",
                [f"running in a {m.container} container", "no /dev/nvidia* device nodes", "no NVIDIA GPU visible"],
            )
        ]
    if not nv or (m is not None and not m.nvidia_driver):
        unloaded = [g for g in nv if g.driver_loaded is False]
        if unloaded:
            return [
                _err(
                    "driver-not-loaded",
                    [
                        f"{g.name or g.pci_id or 'NVIDIA GPU'} is on the PCI bus but no driver is loaded"
                        for g in unloaded
                    ],
                )
            ]
        if not nv:
            return [
                _warn(
                    "no-nvidia-driver",
                    [
                        "no NVIDIA GPU found on this machine",
                        f"torch {_installed_version(state, 'torch')} is a CUDA build: it works, on the CPU only",
                    ],
                    (
                        f"{_pip(state)} install --force-reinstall torch --index-url {PYTORCH_INDEX}/cpu   # a much smaller CPU build",
                    ),
                )
            ]
    return []


def expected_companion(torch_version: str, name: str, catalog=None) -> tuple[str | None, str]:
    """The ``name`` release that goes with ``torch_version``: ``(version or None, where from)``.

    The catalog's companion table when it knows the release, else the pairing
    scheme of compat-facts.md 2 (torchvision 0.(N+15) for torch 2.N; torchaudio
    2.N up to 2.11, then 2.11 for every newer torch), which gives a minor
    version only (``"0.28"``).
    """
    if catalog is not None:
        rel = catalog.release(torch_version)
        comp = rel.companion(name) if rel is not None else None
        if comp is not None:
            return comp.version, "catalog"
    t = _vt(torch_version)
    if len(t) < 2:
        return None, "unknown"
    major, minor = t[0], t[1]
    if name == "torchvision":
        if major == 2:
            return f"0.{minor + 15}", "pairing scheme"
        if major == 1:
            return f"0.{minor + 1}", "pairing scheme"
    if name == "torchaudio":
        if major == 2:
            return ("2.11" if minor >= 12 else f"2.{minor}"), "pairing scheme"
        if major == 1:
            return f"0.{minor}", "pairing scheme"
    return None, "unknown"


# import errors of torchvision / torchaudio that mean "built against another torch"
_MISMATCH_ERRORS = (
    "does not exist",
    "undefined symbol",
    "libtorch",
    "libc10",
    "different cuda major versions",
    "compiled with different cuda",
)


def _is_binary_mismatch(error: str) -> bool:
    low = error.lower()
    return any(m in low for m in _MISMATCH_ERRORS)


def _pypi_is_cuda(state: DoctorState) -> bool:
    """The unlabelled torch / torchvision wheels of the package index are CUDA builds here.

    True on Linux x86_64 (compat-facts.md 8: PyPI carries the +<stable CUDA> build, label stripped).
    """
    py = state.verify.python if state.verify else {}
    return str(py.get("platform", "")).startswith("linux") and py.get("machine") == "x86_64"


def rule_companions(state: DoctorState, catalog) -> list[Diagnosis]:
    """torchvision / torchaudio built for another torch (version or variant)."""
    torch_version = _installed_version(state, "torch")
    if torch_version is None:
        return []
    out = []
    for name in ("torchvision", "torchaudio"):
        version = _installed_version(state, name)
        if version is None:
            continue
        evidence = []
        expected, origin = expected_companion(torch_version, name, catalog)
        mismatch = False
        problem = f"{name}-torch-mismatch"
        if expected and _vt(version)[:2] != _vt(expected)[:2]:
            mismatch = True
            evidence.append(
                f"{name} {version} is installed; torch {torch_version} goes with {name} {expected} ({origin})"
            )
        t_label, c_label = _label(torch_version), _label(version)
        if t_label and c_label and t_label != c_label:
            if not mismatch:
                problem = "companion-variant-mismatch"
            mismatch = True
            evidence.append(f"torch is the {t_label} build, {name} the {c_label} build")
        comp = state.verify.companions.get(name) if state.verify else None
        error = comp.get("error") if comp else None
        if error and _is_binary_mismatch(error):
            if not mismatch and t_label and not c_label and _pypi_is_cuda(state):
                # same release, but the unlabelled wheel from the package index is its CUDA build
                problem = "companion-variant-mismatch"
                evidence.append(
                    f"{name} {version} has no local label: on Linux x86_64 the package index serves "
                    f"its CUDA build, while torch is the {t_label} build"
                )
            mismatch = True
            evidence.append(f"import {name}: {error}")
        if not mismatch:
            continue
        pin = expected if expected and expected.count(".") >= 2 else (f"{expected}.*" if expected else None)
        spec = f"{name}=={pin}" if pin else name
        fix = (
            f'{_pip(state)} install --force-reinstall --no-deps "{spec}"{_index_for(t_label)}',
            f'{shlex.quote(state.python)} -c "import torch, {name}; print(torch.__version__, {name}.__version__)"',
        )
        out.append(_err(problem, evidence, fix))
    return out


def rule_stack_changed(state: DoctorState, catalog) -> list[Diagnosis]:
    """torch, its companions or a package chosen with it (``--with``) differ from what torchup
    pinned after its last install."""
    if not state.guard or state.verify is None:
        return []
    evidence = []
    for name, pinned in state.guard.items():
        now = _installed_version(state, name)
        if now != pinned:
            evidence.append(
                f"{name} {now} is installed; torchup installed and pinned {name} {pinned}"
                if now
                else f"{name} is not installed any more; torchup installed and pinned {name} {pinned}"
            )
    if not evidence:
        return []
    return [_warn("torch-replaced-by-install", evidence, _restore_stack(state))]


def _restore_stack(state: DoctorState) -> tuple[str, ...]:
    """The command that puts back what torchup pinned.  The torch family alone comes from
    torch's index in one pip line; packages built against torch (``--with``) come from their own
    sources (PyPI, a links page, a release asset), which torchup's own install knows again."""
    family = ("torch", "torchvision", "torchaudio")
    extras = {name: v for name, v in state.guard.items() if name not in family}
    python = shlex.quote(state.python)
    torch = state.guard.get("torch")
    if not extras or not torch:
        pins = " ".join(f'"{name}=={version}"' for name, version in state.guard.items())
        first = f"{_pip(state)} install {pins}{_index_for(_label(torch))}"
    else:
        # the version without its local label: that names the release; torchup picks the file for torch's build
        withs = " ".join(shlex.quote(f"--with={name}=={v.split('+', 1)[0]}") for name, v in extras.items())
        variant = _label(torch) or "pypi"  # no label: PyPI's own build of torch
        first = f"torchup install --python {python} --torch =={torch.split('+', 1)[0]} --variant {variant} {withs}"
    return first, f"torchup verify --python {python}"


def rule_two_copies(state: DoctorState, catalog) -> list[Diagnosis]:
    """torch installed twice: two sys.path entries, pip over conda, or the user site shadowing the env."""
    v = state.verify
    if v is None:
        return []
    copies = _dists(state, "torch")
    out = []
    user_site = v.site.get("user_site")
    in_user = [c for c in copies if user_site and c.get("location") == user_site]
    if in_user and v.site.get("user_site_enabled") and (v.python.get("prefix") != user_site):
        evidence = [f"torch {c.get('version')} in the user site {c.get('location')}" for c in in_user]
        evidence += [f"torch {c.get('version')} in {c.get('location')}" for c in copies if c not in in_user]
        if v.torch and user_site and str(v.torch.get("file", "")).startswith(user_site):
            evidence.append(f"import torch loads {v.torch.get('file')}")
        fix: tuple[str, ...] = (
            f'PYTHONNOUSERSITE=1 {shlex.quote(state.python)} -c "import torch; print(torch.__file__)"',
            f"python{'.'.join(str(v.python.get('version') or '3').split('.')[:2])} -m pip uninstall torch"
            "   # run OUTSIDE the environment: removes the user-site copy",
            "# or keep the environment away from it: conda env config vars set PYTHONNOUSERSITE=1",
        )
        out.append(_err("user-site-shadows-env", evidence, fix))
    locations = {c.get("location") for c in copies}
    if len(locations) > 1 and not in_user:
        evidence = [
            f"torch {c.get('version')} in {c.get('location')} (installed by {c.get('installer') or 'unknown'})"
            for c in copies
        ]
        if v.torch:
            evidence.append(f"import torch loads {v.torch.get('file')}")
        out.append(_err("torch-two-copies-mixed", evidence))
    conda_torch = next((r for r in state.conda if r.name in ("pytorch", "torch")), None)
    pip_copies = [c for c in copies if (c.get("installer") or "").lower() in ("pip", "uv")]
    if conda_torch is not None and pip_copies:
        evidence = [
            f"conda package {conda_torch.name} {conda_torch.version} ({conda_torch.build}) from {conda_torch.channel or 'unknown channel'}"
        ]
        evidence += [
            f"torch {c.get('version')} in {c.get('location')} installed by {c.get('installer')}" for c in pip_copies
        ]
        fix = (
            f"{_pip(state)} uninstall -y torch torchvision torchaudio   # repeat until pip says not installed",
            "conda remove --force pytorch torchvision torchaudio",
            *_install_fix(state),
        )
        out.append(_err("torch-two-copies-mixed", evidence, fix))
    return out


def _own_lib_dirs(state: DoctorState) -> tuple[str, ...]:
    """Where this torch rightly loads its CUDA libraries from, besides site-packages.

    A conda-built torch (conda-forge) links the environment's ``<prefix>/lib``; a pip
    torch brings its own (torch/lib, nvidia-* wheels), so there ``<prefix>/lib`` is as
    foreign as any other directory (the Kaggle /opt/conda/lib case).
    """
    prefix = str(state.verify.python.get("prefix") or "") if state.verify else ""
    conda_torch = any(r.name in ("pytorch", "torch", "libtorch") for r in state.conda)
    pip_torch = any((c.get("installer") or "").lower() in ("pip", "uv") for c in _dists(state, "torch"))
    if prefix and conda_torch and not pip_torch:
        return (prefix.rstrip("/") + "/lib",)
    return ()


def _outside_bundle(path: str, own: tuple[str, ...]) -> bool:
    """A CUDA library loaded from somewhere other than torch/lib, an nvidia-* wheel or ``own``."""
    p = path.replace("\\", "/")
    if "/site-packages/" in p or "/dist-packages/" in p:
        return False
    return not any(p.startswith(d.rstrip("/") + "/") for d in own)


def rule_ld_library_path(state: DoctorState, catalog) -> list[Diagnosis]:
    """LD_LIBRARY_PATH (or a system CUDA) puts other CUDA libraries before the ones torch brings."""
    kind, _ = torch_build(state)
    if kind != "cuda":
        return []
    own = _own_lib_dirs(state)
    evidence = []
    loaded_outside = []
    if state.verify is not None and state.verify.libraries:
        for path in state.verify.libraries:
            base = path.rsplit("/", 1)[-1].lower()
            if base.startswith(BUNDLED_CUDA_LIBS) and _outside_bundle(path, own):
                loaded_outside.append(path)
    for d, libs in state.ld_path_libs.items():
        if libs and d.rstrip("/") not in own:
            evidence.append(f"LD_LIBRARY_PATH has {d} with {', '.join(libs[:5])}")
    evidence += [f"torch loaded {p}" for p in loaded_outside]
    if not evidence:
        return []
    fix = (
        "echo $LD_LIBRARY_PATH",
        f'env -u LD_LIBRARY_PATH {shlex.quote(state.python)} -c "import torch; print(torch.cuda.is_available())"',
        "# remove CUDA / cuDNN directories from LD_LIBRARY_PATH (module unload cuda cudnn), or unset it",
    )
    diag = _err if loaded_outside else _warn
    return [diag("cuda-libs-shadowed", evidence, fix)]


def _marker_env(state: DoctorState) -> dict[str, str]:
    py = state.verify.python if state.verify else {}
    plat = str(py.get("platform") or "linux")
    system = (
        "Linux"
        if plat.startswith("linux")
        else "Windows"
        if plat.startswith("win")
        else "Darwin"
        if plat == "darwin"
        else plat
    )
    version = str(py.get("version") or "3.12.0")
    return {
        "sys_platform": plat,
        "platform_system": system,
        "platform_machine": str(py.get("machine") or ""),
        "python_version": ".".join(version.split(".")[:2]),
        "python_full_version": version,
        "implementation_name": str(py.get("implementation") or "cpython"),
        "platform_python_implementation": {"cpython": "CPython", "pypy": "PyPy"}.get(
            str(py.get("implementation")), "CPython"
        ),
        "os_name": "nt" if system == "Windows" else "posix",
        "extra": "",
    }


def rule_nvidia_packages(state: DoctorState, catalog) -> list[Diagnosis]:
    """The nvidia-* wheels installed are not the versions this torch pins."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name
    from packaging.version import InvalidVersion, Version

    copies = _dists(state, "torch")
    if not copies:
        return []
    env = _marker_env(state)
    installed: dict[str, str | None] = {}
    for d in state.verify.distributions if state.verify else ():
        version = d.get("version")
        installed.setdefault(canonicalize_name(str(d.get("name"))), version if isinstance(version, str) else None)
    evidence = []
    names = []
    for text in copies[0].get("requires") or []:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        name = canonicalize_name(req.name)
        if not name.startswith("nvidia-") or not req.specifier:
            continue
        try:
            if req.marker is not None and not req.marker.evaluate(env):
                continue
        except ValueError:  # an unknown marker variable (packaging's UndefinedEnvironmentName): do not guess
            continue
        have = installed.get(name)
        if have is None:
            evidence.append(f"{req.name}: missing (torch requires {req.specifier})")
            names.append(f'"{req.name}{req.specifier}"')
            continue
        try:
            ok = req.specifier.contains(Version(have), prereleases=True)
        except InvalidVersion:
            ok = False
        if not ok:
            evidence.append(f"{req.name} {have} installed; torch {copies[0].get('version')} requires {req.specifier}")
            names.append(f'"{req.name}{req.specifier}"')
    if not evidence:
        return []
    fix = (
        f"{_pip(state)} install --force-reinstall --no-deps {' '.join(names)}",
        f"# or reinstall torch with its dependencies: {_pip(state)} install --force-reinstall torch=={copies[0].get('version')}",
    )
    return [_err("cuda-libs-missing", evidence, fix)]


def rule_numpy(state: DoctorState, catalog) -> list[Diagnosis]:
    """NumPy 2 with a torch built against NumPy 1 (torch < 2.3)."""
    numpy = _installed_version(state, "numpy")
    torch_version = _installed_version(state, "torch")
    if not numpy or not torch_version:
        return []
    if _vt(numpy)[:1] >= (2,) and _vt(torch_version)[:2] < (2, 3):
        evidence = [f"numpy {numpy} with torch {torch_version}; torch supports NumPy 2 from 2.3.0"]
        comp = state.verify.companions.get("numpy") if state.verify else None
        if comp and comp.get("error"):
            evidence.append(comp["error"])
        fix = (
            f'{_pip(state)} install "numpy<2"   # keeps this torch',
            "# or move to torch >= 2.3 (with its matching torchvision / torchaudio): torchup install",
        )
        return [_err("numpy2-abi", evidence, fix)]
    return []


def rule_conda(state: DoctorState, catalog) -> list[Diagnosis]:
    """The deprecated ``pytorch`` conda channel, or ``cpuonly`` holding the environment on CPU builds."""
    out = []
    for r in state.conda:
        channel = r.channel.rstrip("/")
        parts = channel.split("/")
        from_pytorch = "pytorch" in parts or "pytorch-nightly" in parts or channel in ("pytorch", "pytorch-nightly")
        if r.name in ("pytorch", "torchvision", "torchaudio") and from_pytorch:
            out.append(
                _warn(
                    "conda-pytorch-channel-ended",
                    [
                        f"{r.name} {r.version} ({r.build}) comes from {r.channel}",
                        "the pytorch channel stopped at torch 2.5",
                    ],
                )
            )
            break
    cpuonly = next((r for r in state.conda if r.name == "cpuonly"), None)
    pinned = [p for p in state.conda_pinned if "cpuonly" in p]
    if cpuonly is not None or pinned:
        evidence = []
        if cpuonly is not None:
            evidence.append(f"cpuonly {cpuonly.version} is installed (it forces CPU builds of pytorch)")
        evidence += [f"conda-meta/pinned: {p}" for p in pinned]
        gpu = [g for g in _nvidia_gpus(state) if g.driver_loaded is not False]
        if gpu:
            evidence.append(f"this machine has {gpu[0].name or 'an NVIDIA GPU'}")
        fix = ("conda remove cpuonly", *_install_fix(state))
        out.append((_err if gpu else _warn)("conda-cpuonly-pinned", evidence, fix))
    return out


def rule_rosetta(state: DoctorState, catalog) -> list[Diagnosis]:
    """An x86_64 Python under Rosetta on Apple silicon: no MPS, torch stops at 2.2.2."""
    m = state.machine
    py_machine = (state.verify.python.get("machine") if state.verify else None) or ""
    if m is None or m.os != "macos":
        return []
    if m.rosetta or (m.apple_silicon and py_machine == "x86_64"):
        evidence = ["the target Python runs as x86_64 under Rosetta on Apple silicon"]
        if py_machine:
            evidence.append(f"platform.machine() = {py_machine}")
        fix = (
            f'{shlex.quote(state.python)} -c "import platform; print(platform.machine())"   # must print arm64',
            "# install an arm64 Python (python.org universal2, Homebrew, Miniforge arm64), recreate the environment, then:",
            "torchup install",
        )
        return [_err("rosetta-x86-python", evidence, fix)]
    return []


def rule_apple_mps(state: DoctorState, catalog) -> list[Diagnosis]:
    """Apple silicon with a native Python whose torch cannot use MPS."""
    m = state.machine
    v = state.verify
    if m is None or v is None or v.torch is None or m.os != "macos" or m.arch != "aarch64" or m.rosetta:
        return []
    version = v.torch.get("version")
    if not v.torch.get("mps_built"):
        return [_err("mps-not-built", [f"torch {version} was built without MPS"])]
    if v.device_facts.get("mps_available") is False:
        mac = m.macos_version
        evidence = [f"torch {version} has MPS, but torch.backends.mps.is_available() is False"]
        if mac:
            evidence.append(f"macOS {mac}")
        pid = "mps-macos-too-old" if mac and _vt(mac) < (12, 3) else "mps-unavailable"
        return [_err(pid, evidence)]
    return []


def rule_intel_xpu(state: DoctorState, catalog) -> list[Diagnosis]:
    """An XPU build that cannot reach the Intel GPU, or a CPU build beside an Intel Arc / Data Center GPU."""
    kind, _ = torch_build(state)
    v = state.verify
    if kind == "xpu" and v is not None and v.device_facts.get("xpu_available") is False:
        return [
            _err(
                "xpu-driver-missing",
                [f"torch {_installed_version(state, 'torch')} is an XPU build, but torch.xpu.is_available() is False"],
            )
        ]
    if kind == "cpu":
        arc = [
            g
            for g in (state.machine.gpus if state.machine else ())
            if g.vendor == "intel" and g.name and re.search(r"\bArc\b|Data Center GPU", g.name)
        ]
        if arc:
            return [
                _warn(
                    "xpu-build-missing",
                    [f"torch {_installed_version(state, 'torch')} is a CPU build", f"GPU: {arc[0].name}"],
                    (f"{_pip(state)} install --force-reinstall torch --index-url {PYTORCH_INDEX}/xpu",),
                )
            ]
    return []


def rule_no_wheel(state: DoctorState, catalog) -> list[Diagnosis]:
    """A Python that PyPI's and PyTorch's wheels do not cover: too old or new, 32-bit, musl, not CPython."""
    m = state.machine
    if m is None:
        return []
    if m.python_bits == 32:
        return [_err("no-wheel-32bit-python", [f"Python {m.python} is 32-bit; torch publishes 64-bit wheels only"])]
    if m.libc_name == "musl":
        return [_err("musl-no-wheels", [f"{m.libc}: torch publishes manylinux (glibc) wheels only"])]
    if m.python_implementation and m.python_implementation != "cpython":
        return [
            _err(
                "no-wheel-for-python",
                [f"{m.python_implementation} Python: torch publishes CPython wheels only"],
                ("# install CPython, recreate the environment, then:", "torchup install"),
            )
        ]
    if catalog is None:
        return []
    tag = m.python_tag
    builds = catalog.builds(os=m.os, arch=m.arch, python=tag)
    if not builds:
        return [
            _err(
                "no-wheel-for-python",
                [f"no torch release in the catalog has a {m.os} {m.arch} wheel for {tag} (Python {m.python})"],
            )
        ]
    newest = catalog.newest().version
    best = builds[0].torch
    if _vt(best) < _vt(newest) and m.os == "macos" and m.arch == "x86_64" and not m.apple_silicon:
        return [
            _warn(
                "no-wheel-macos-x86",
                [f"macOS on an Intel CPU: the newest torch with a wheel is {best}; torch {newest} has none"],
            )
        ]
    if _vt(best) < _vt(newest):
        return [
            _warn(
                "no-wheel-for-python",
                [f"the newest torch with a {m.os} {m.arch} wheel for {tag} is {best}; torch {newest} has none"],
                ("# use a Python that current torch supports (see torchup plan), or stay on torch " + best,),
            )
        ]
    return []


# Probe notes: every Machine.notes id is a problem id of the catalog (a test scans
# torchup.probe for them).  They are errors, except where the probe cannot tell
# that the problem matters here:
# - nvidia-smi-failed: an error text torchup does not know, on a GPU that may still work;
# - no-nvidia-driver: under WSL without the Windows NVIDIA driver the PC may have no
#   NVIDIA GPU at all; it is an error only when the installed torch is a CUDA build.
NOTE_WARNINGS = frozenset({"nvidia-smi-failed"})


def _note_severity(state: DoctorState, problem_id: str) -> str:
    if problem_id in NOTE_WARNINGS:
        return "warning"
    if problem_id == "no-nvidia-driver" and torch_build(state)[0] != "cuda":
        return "warning"
    return "error"


def rule_probe_notes(state: DoctorState, catalog) -> list[Diagnosis]:
    """What the probe noticed, one finding per note id (its messages are the evidence)."""
    m = state.machine
    messages: dict[str, list[str]] = {}
    for note in m.notes if m else ():
        messages.setdefault(note.id, []).append(note.message)
    return [Diagnosis(finding=_f(pid, msgs), severity=_note_severity(state, pid)) for pid, msgs in messages.items()]


def rule_import_failure(state: DoctorState, catalog) -> list[Diagnosis]:
    """torch is installed but does not import, or CUDA start-up warned: explain the text."""
    v = state.verify
    if v is None:
        return []
    texts = []
    imp = v.check("import-torch")
    if v.torch is None and imp is not None and imp.status == "fail" and _dists(state, "torch"):
        texts.append(str(imp.data.get("traceback") or imp.detail))
    for name in ("torchvision", "torchaudio"):
        c = v.check(f"import-{name}")
        if c is not None and c.status == "fail" and not _is_binary_mismatch(c.detail):
            texts.append(str(c.data.get("traceback") or c.detail))  # the mismatch rule has the others
    texts += [w for w in _warnings(state) if "CUDA initialization" in w or "HIP" in w or "XPU" in w]
    if v.crashed:
        texts.append(v.stderr_tail)
    if not texts:
        return []
    from torchup.doctor.explain import Facts, explain

    facts = Facts.from_machine(state.machine) if state.machine else None
    return [Diagnosis(finding=f, severity="error") for f in explain("\n".join(texts), facts=facts)]


RULES: tuple[Callable[[DoctorState, Any], list[Diagnosis]], ...] = (
    rule_no_wheel,
    rule_rosetta,
    rule_cpu_build,
    rule_gpu_arch,
    rule_rocm_gfx,
    rule_driver,
    rule_cuda_unavailable,
    rule_companions,
    rule_stack_changed,
    rule_two_copies,
    rule_ld_library_path,
    rule_nvidia_packages,
    rule_numpy,
    rule_conda,
    rule_apple_mps,
    rule_intel_xpu,
    rule_probe_notes,
    rule_import_failure,
)


def diagnose(state: DoctorState, catalog=None) -> list[Diagnosis]:
    """Every rule's findings, errors first; one finding per id (the first rule's evidence wins,
    except that a probe note's message joins the evidence of the finding it repeats)."""
    out: list[Diagnosis] = []
    seen: dict[str, int] = {}
    for rule in RULES:
        for diag in rule(state, catalog):
            at = seen.get(diag.finding.id)
            if at is None:
                seen[diag.finding.id] = len(out)
                out.append(diag)
            elif rule is rule_probe_notes:
                first = out[at]
                extra = tuple(e for e in diag.finding.evidence if e not in first.finding.evidence)
                severity = "error" if "error" in (first.severity, diag.severity) else first.severity
                out[at] = Diagnosis(
                    finding=replace(first.finding, evidence=first.finding.evidence + extra), severity=severity
                )
    return sorted(out, key=lambda d: 0 if d.severity == "error" else 1)


# --- recording and replaying a state -------------------------------------------


def state_to_dict(state: DoctorState) -> dict:
    """The JSON form of a state (``torchup doctor --save-state``); the verify part is its raw run."""
    return {
        "torchup_doctor_state": STATE_FORMAT,
        "python": state.python,
        "machine": machine_to_dict(state.machine) if state.machine else None,
        "verify_run": dict(state.verify_run) if state.verify_run else None,
        "conda": [{"name": r.name, "version": r.version, "build": r.build, "channel": r.channel} for r in state.conda],
        "conda_pinned": list(state.conda_pinned),
        "env": dict(state.env),
        "ld_path_libs": {k: list(v) for k, v in state.ld_path_libs.items()},
        "dev_nvidia": None if state.dev_nvidia is None else list(state.dev_nvidia),
        "wsl_libcuda": state.wsl_libcuda,
        "install_commands": list(state.install_commands),
        "plan_summary": state.plan_summary,
        "notes": list(state.notes),
        "guard": dict(state.guard),
    }


def verify_from_run(run: Mapping[str, Any] | None, python: str) -> VerifyReport | None:
    if not run:
        return None
    return build_report(
        list(run.get("events") or []),
        python_executable=python,
        returncode=run.get("returncode"),
        timed_out=bool(run.get("timed_out")),
        start_error=run.get("start_error"),
        stderr=str(run.get("stderr") or ""),
    )


def state_from_dict(data: Mapping[str, Any], *, origin: str = "state file") -> DoctorState:
    """A recorded state; ``ValueError`` naming the bad part when it is not one."""
    if not isinstance(data, Mapping) or data.get("torchup_doctor_state") != STATE_FORMAT:
        raise ValueError(f"{origin}: not a torchup doctor state (format {STATE_FORMAT})")
    python = data.get("python")
    if not isinstance(python, str):
        raise ValueError(f"{origin}: python: required, a string")
    machine = None
    if data.get("machine") is not None:
        machine, _ = machine_from_dict(data["machine"], origin=f"{origin}: machine")
        from torchup.doctor.problems import PROBLEMS

        unknown = sorted({n.id for n in machine.notes} - set(PROBLEMS))
        if unknown:
            raise ValueError(
                f"{origin}: machine: notes: {', '.join(map(repr, unknown))} is not a problem id of docs/problems.md"
            )
    try:
        conda = tuple(
            CondaRecord(
                name=str(r["name"]),
                version=str(r["version"]),
                build=str(r.get("build") or ""),
                channel=str(r.get("channel") or ""),
            )
            for r in data.get("conda") or []
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{origin}: conda: bad record ({exc})") from None
    run = data.get("verify_run")
    dev = data.get("dev_nvidia")
    return DoctorState(
        python=python,
        machine=machine,
        verify=verify_from_run(run, python),
        verify_run=run or {},
        conda=conda,
        conda_pinned=tuple(str(p) for p in data.get("conda_pinned") or []),
        env={str(k): str(v) for k, v in (data.get("env") or {}).items()},
        ld_path_libs={str(k): tuple(v) for k, v in (data.get("ld_path_libs") or {}).items()},
        dev_nvidia=None if dev is None else tuple(dev),
        wsl_libcuda=data.get("wsl_libcuda"),
        install_commands=tuple(data.get("install_commands") or []),
        plan_summary=data.get("plan_summary"),
        notes=tuple(data.get("notes") or []),
        guard={str(k): str(v) for k, v in (data.get("guard") or {}).items()},
    )
