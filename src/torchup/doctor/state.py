"""Gathering what doctor's rules look at: the effects side of ``torchup doctor``.

``gather_state(system, python)`` probes the machine, runs the check script in
its light mode (imports, versions, CUDA availability, every installed copy of
torch / nvidia-* / numpy; no computation), reads the conda records of the
environment, the environment variables that matter and a few host files, and
asks ``torchup plan``'s logic for the right install command.  Everything goes
through ``System`` (files under its root, processes through its runner).  A
part that cannot be gathered leaves a note, never an exception: doctor
diagnoses what it can.
"""

from __future__ import annotations

import re
from typing import Any

from torchup import boundedjson
from torchup.doctor.rules import BUNDLED_CUDA_LIBS, CondaRecord, DoctorState, state_from_dict
from torchup.errors import InputError, TorchupError
from torchup.machine import Machine, normalise_arch, normalise_os
from torchup.system import System

__all__ = ["CONDA_NAMES", "ENV_KEYS", "gather_state", "load_catalog_or_none", "load_state_file", "parse_conda_record"]

ENV_KEYS = (
    "CUDA_VISIBLE_DEVICES",
    "NVIDIA_VISIBLE_DEVICES",
    "LD_LIBRARY_PATH",
    "HSA_OVERRIDE_GFX_VERSION",
    "PYTHONNOUSERSITE",
    "PYTHONPATH",
    "CONDA_PREFIX",
    "VIRTUAL_ENV",
    "CONDA_OVERRIDE_CUDA",
)
CONDA_NAMES = (
    "pytorch",
    "torch",
    "torchvision",
    "torchaudio",
    "cpuonly",
    "pytorch-cuda",
    "pytorch-gpu",
    "pytorch-cpu",
    "pytorch-mutex",
    "libtorch",
    "numpy",
    "cudatoolkit",
    "cuda-version",
)
_CONDA_META_LIMIT = 64 << 20  # a pytorch record lists every file: several MB
# Limits on a state file (--state): a recorded one is tens of KB and nests under 10 deep; these are far above.
STATE_MAX_BYTES = 16 << 20
STATE_MAX_DEPTH = 32
STATE_MAX_DIGITS = 20  # in an integer: a 64-bit one has 20 at most


def gather_state(system: System, python: str, *, timeout: float | None = None, plan: bool = True) -> DoctorState:
    """Everything doctor's rules need about ``python``'s environment and this machine."""
    from torchup.verify import start_check

    notes: list[str] = []
    run = start_check(system, python, light=True, timeout=timeout).wait()
    report = run.report(python)
    if run.timed_out and not run.events:
        # the interpreter never started the script: probing it again would only wait as long once more
        notes.append(f"{python} printed nothing within {run.timeout:g} s: not probed")
        return DoctorState(python=python, machine=None, verify=report, verify_run=run.to_json(), notes=tuple(notes))
    machine = _probe(system, python, report, notes)
    prefix = report.python.get("prefix") if report.python else None
    conda, pinned = _conda_records(system, prefix) if prefix else ((), ())
    env = {k: system.env[k] for k in ENV_KEYS if k in system.env}
    os_name = machine.os if machine else None
    ld_libs = _ld_path_libs(system, env.get("LD_LIBRARY_PATH")) if os_name in ("linux", None) else {}
    dev_nvidia = tuple(n for n in system.listdir("/dev") if n.startswith("nvidia")) if os_name == "linux" else None
    wsl_libcuda = None
    if machine is not None and machine.wsl:
        wsl_libcuda = any(n.startswith("libcuda.so") for n in system.listdir("/usr/lib/wsl/lib"))
    commands, summary = _plan(system, machine, python, notes) if plan and machine is not None else ((), None)
    guard = _guard_pins(system, prefix) if prefix else {}
    return DoctorState(
        python=python,
        machine=machine,
        verify=report,
        verify_run=run.to_json(),
        conda=conda,
        conda_pinned=pinned,
        env=env,
        ld_path_libs=ld_libs,
        dev_nvidia=dev_nvidia,
        wsl_libcuda=wsl_libcuda,
        install_commands=commands,
        plan_summary=summary,
        notes=tuple(notes),
        guard=guard,
    )


def _guard_pins(system: System, prefix: str) -> dict[str, str]:
    """What torchup pinned after its last install into ``prefix`` (install/guard.py); empty: no guard."""
    from torchup.install.guard import constraints_path, parse_constraints

    text = system.read_text(constraints_path(prefix))
    return parse_constraints(text) if text else {}


def load_state_file(path: str) -> DoctorState:
    """A recorded state (``doctor --save-state``); ``InputError`` when it is not one, or is beyond
    the limits (``STATE_MAX_*``): any file is refused or read in bounded time and memory."""
    hint = "torchup doctor --save-state FILE writes one"
    try:
        with open(path, "rb") as fh:
            raw = fh.read(STATE_MAX_BYTES + 1)  # never the whole of a runaway file
    except OSError as exc:
        raise InputError(f"cannot read state file {path}: {exc.strerror or exc}") from None
    if len(raw) > STATE_MAX_BYTES:
        raise InputError(f"state file {path} is over {STATE_MAX_BYTES >> 20} MB: not a doctor state", hint=hint)
    try:
        data = boundedjson.loads(raw.decode("utf-8"), max_depth=STATE_MAX_DEPTH, max_digits=STATE_MAX_DIGITS)
    except boundedjson.TooBig as exc:
        raise InputError(f"state file {path}: {exc}", hint=hint) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"state file {path} is not JSON: {exc}", hint=hint) from None
    try:
        return state_from_dict(data, origin=path)
    except ValueError as exc:
        raise InputError(str(exc), hint=hint) from None
    except (TypeError, AttributeError, KeyError) as exc:  # a field of the wrong type deep inside
        raise InputError(
            f"state file {path} has a field of the wrong type ({type(exc).__name__}: {exc})", hint=hint
        ) from None


def load_catalog_or_none(system: System, notes: list[str] | None = None):
    try:
        from torchup.catalog.load import load_catalog
    except ImportError:
        return None
    try:
        return load_catalog(system.env)
    except (TorchupError, OSError, ValueError) as exc:
        if notes is not None:
            notes.append(f"catalog unavailable: {exc}")
        return None


# --- parts ---------------------------------------------------------------------


def _probe(system: System, python: str, report, notes: list[str]) -> Machine | None:
    from torchup.probe import probe_machine

    try:
        return probe_machine(system, python=python)
    except TorchupError as exc:
        notes.append(f"probe failed: {exc.message}")
    return _machine_from_report(report, notes)


def _machine_from_report(report, notes: list[str]) -> Machine | None:
    """The little the check script knows about the machine, when the probe cannot run."""
    py = report.python or {}
    os_name = normalise_os(str(py.get("platform") or ""))
    arch = normalise_arch(str(py.get("machine") or ""))
    version = py.get("version")
    if not (os_name and arch and isinstance(version, str)):
        notes.append("machine unknown: the probe and the target Python both failed")
        return None
    notes.append("machine facts come from the target Python only (no GPU probe)")
    return Machine(
        os=os_name,
        arch=arch,
        python=".".join(version.split(".")[:2]),
        python_bits=py.get("bits") if py.get("bits") in (32, 64) else None,
        python_implementation=py.get("implementation"),
        python_executable=py.get("executable"),
    )


_CHANNEL_RE = re.compile(r'"channel"\s*:\s*"([^"]*)"')


def parse_conda_record(filename: str, text: str | None) -> CondaRecord | None:
    """One ``conda-meta/<name>-<version>-<build>.json`` record; None when it is not one."""
    if not filename.endswith(".json"):
        return None
    parts = filename[: -len(".json")].rsplit("-", 2)
    if len(parts) != 3:
        return None
    name, version, build = parts
    channel = ""
    if text:
        m = _CHANNEL_RE.search(text)
        if m:
            channel = m.group(1)
    return CondaRecord(name=name, version=version, build=build, channel=channel)


def _conda_records(system: System, prefix: str) -> tuple[tuple[CondaRecord, ...], tuple[str, ...]]:
    meta = f"{prefix.rstrip('/')}/conda-meta"
    names = system.listdir(meta)
    records = []
    for fn in names:
        if not fn.endswith(".json") or fn.rsplit("-", 2)[0] not in CONDA_NAMES:
            continue
        rec = parse_conda_record(fn, system.read_text(f"{meta}/{fn}", limit=_CONDA_META_LIMIT))
        if rec is not None:
            records.append(rec)
    pinned_text = system.read_text(f"{meta}/pinned") or ""
    pinned = tuple(ln.strip() for ln in pinned_text.splitlines() if ln.strip() and not ln.lstrip().startswith("#"))
    return tuple(records), pinned


def _ld_path_libs(system: System, value: str | None) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for d in (value or "").split(":"):
        if not d or d in out:
            continue
        libs = tuple(n for n in system.listdir(d) if n.lower().startswith(BUNDLED_CUDA_LIBS) and ".so" in n)
        if libs:
            out[d] = libs
    return out


def _plan(system: System, machine: Machine, python: str, notes: list[str]) -> tuple[tuple[str, ...], str | None]:
    """The install command ``torchup plan`` gives for this machine (empty when it cannot say)."""
    try:
        from torchup.plan import Plan, Request
        from torchup.render import render
        from torchup.resolve import resolve
    except ImportError:
        return (), None
    catalog = load_catalog_or_none(system, notes)
    if catalog is None:
        return (), None
    try:
        plan: Any = resolve(machine, Request(), catalog)
        if not isinstance(plan, Plan):
            notes.append("torchup plan finds no build for this machine")
            return (), None
        text = render(plan, "pip", python=python)
    except TorchupError as exc:
        notes.append(f"plan failed: {exc.message}")
        return (), None
    summary = f"torch {plan.torch} ({plan.variant})"
    return tuple(ln for ln in text.splitlines() if ln.strip()), summary
