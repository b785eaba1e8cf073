"""Installing with conda, mamba or micromamba into a conda environment, from conda-forge.

What the tools accept (read from their sources; notes in the issue of this feature):
``install -y -p PREFIX --override-channels -c conda-forge SPEC...`` works for conda
23 to 26, mamba 1.x and 2.x and micromamba 1.x and 2.x (the short ``-O`` only from
conda 26.1, so it is not used).  The specs are those ``torchup plan --format conda``
prints (``render/conda.py``).

Why torchup does not trust the exit code alone: mamba 1.x can exit 0 after some
libmamba errors, and an interrupted micromamba exits 0; micromamba and mamba 2 before
2.7.0 leave a prefix half-linked when a link step fails.  So the result is read back
from ``conda-meta/*.json`` (one record per installed package, the file named
``<name>-<version>-<build>.json``), and the environment is snapshotted like a venv:
the whole prefix, by hard links (conda, too, unlinks a file and writes a new one), but
for ``conda-meta/history``, which the tools append to in place: that one is copied.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from torchup.errors import EnvironmentProblem, NoBuildError
from torchup.install.target import TargetEnv
from torchup.plan import Plan

__all__ = [
    "APPENDED",
    "CONDA_MANAGERS",
    "UNTOUCHED",
    "conda_argv",
    "conda_build",
    "conda_specs",
    "find_program",
    "parse_record",
    "read_records",
    "replacing",
    "result_problem",
]

CONDA_MANAGERS = ("conda", "mamba", "micromamba")
# top-level entries of a prefix that an install into it never changes and the snapshot
# leaves alone: the package cache and other envs (in a base prefix), torchup's own state
UNTOUCHED = (".torchup", "pkgs", "envs", "conda-bld")
# files the tools append to in place, which a hard link would not keep: conda's History
# writes conda-meta/history in append mode (conda/history.py), libmamba's History too
# (libmamba/src/core/history.cpp)
APPENDED = (os.path.join("conda-meta", "history"),)
# where the tools put their own path when activated (conda's shell function, micromamba's)
_EXE_VARS = {"conda": ("CONDA_EXE",), "mamba": ("MAMBA_EXE",), "micromamba": ("MAMBA_EXE",)}


def find_program(tool: str, target: TargetEnv, which, env: Mapping[str, str]) -> str:
    """The path of ``tool`` for an install into ``target``; refuses a target that is not a
    conda environment, and a tool that cannot be found."""
    if not target.conda:
        raise EnvironmentProblem(
            f"--manager {tool}: {target.prefix} is not a conda environment (it has no conda-meta/)",
            hint=f"{tool} installs into conda environments: name one with --python <env>/bin/python, "
            "or install into this one with --manager uv / pip",
            code="not-conda-env",
        )
    found = which(tool)
    if not found:
        for var in _EXE_VARS[tool]:
            path = env.get(var)
            if path and os.path.basename(path).startswith(tool) and os.access(path, os.X_OK):
                found = path
                break
    if not found:
        raise EnvironmentProblem(
            f"--manager {tool}: {tool} is not on PATH",
            code="no-manager",
            hint="activate the environment's conda, or use --manager uv / pip",
        )
    return found


def conda_build(plan: Plan):
    """conda-forge's build for the plan (``render/conda.py``); ``NoBuildError`` when it has none."""
    from torchup.render import RenderError
    from torchup.render.conda import conda_forge_build

    try:
        return conda_forge_build(plan)
    except RenderError as exc:
        raise NoBuildError(
            exc.message, hint=exc.hint or "install the wheel with --manager uv / pip", code="no-conda-build"
        ) from None


def conda_specs(plan: Plan) -> list[str]:
    return list(conda_build(plan).specs)


def conda_argv(plan: Plan, program: str, prefix: str) -> list[str]:
    """``[program, install, -y, -p, PREFIX, --override-channels, -c, conda-forge, SPEC...]``."""
    return [program, "install", "-y", "-p", prefix, "--override-channels", "-c", "conda-forge", *conda_specs(plan)]


def parse_record(text: str) -> tuple[str, str, str] | None:
    """Pure: ``(name, version, build)`` from one ``conda-meta/*.json``; None when it is not one."""
    try:
        raw = json.loads(text)
    except ValueError:
        return None
    if not isinstance(raw, dict):
        return None
    fields = tuple(raw.get(k) for k in ("name", "version", "build"))
    if not all(isinstance(f, str) and f for f in fields):
        return None
    return fields  # type: ignore[return-value]


def read_records(prefix: str) -> dict[str, tuple[str, str]]:
    """``{name: (version, build)}`` of the packages installed in a conda prefix."""
    meta = os.path.join(prefix, "conda-meta")
    out: dict[str, tuple[str, str]] = {}
    try:
        names = os.listdir(meta)
    except OSError:
        return out
    for fn in names:
        if not fn.endswith(".json") or fn.startswith("._"):
            continue
        try:
            with open(os.path.join(meta, fn), encoding="utf-8") as fh:
                record = parse_record(fh.read())
        except (OSError, UnicodeDecodeError):
            continue
        if record is not None:
            out[record[0]] = (record[1], record[2])
    return out


def result_problem(plan: Plan, records: Mapping[str, tuple[str, str]]) -> str | None:
    """Pure: why the prefix does not hold what the plan asked for; None when it does.

    conda-forge's ``pytorch`` package is the one that carries the build: ``cuda<ver>_*``
    or ``cpu_*`` (``pytorch-gpu`` / ``pytorch-cpu`` are metapackages pinning it)."""
    have = records.get("pytorch")
    if have is None:
        return "pytorch is not installed in the environment"
    version, build = have
    if version != plan.base_version:
        return f"pytorch is {version}, not {plan.base_version}"
    want = "cuda" if plan.cuda else "cpu"
    if not build.startswith(want):
        return f"pytorch {version} is the build {build}, not a {want} build"
    for name, value in (("torchvision", plan.torchvision), ("torchaudio", plan.torchaudio)):
        if not value:
            continue
        expected = value.split("+", 1)[0]
        got = records.get(name)
        if got is None or got[0] != expected:
            return f"{name} is {got[0] if got else 'not installed'}, not {expected}"
    return None


def replacing(plan: Plan, records: Mapping[str, tuple[str, str]]) -> str | None:
    """Pure: 'replacing pytorch 2.9.1 (cpu_generic_...) with conda-forge's 2.14.1 (CUDA build)',
    or None when pytorch is absent or already what the plan asks for."""
    have = records.get("pytorch")
    if have is None or result_problem(plan, records) is None:
        return None
    kind = "CUDA build" if plan.cuda else "CPU build"
    return f"replacing pytorch {have[0]} ({have[1]}) with conda-forge's {plan.base_version} ({kind})"
