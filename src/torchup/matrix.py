"""The compatibility matrix: which releases and variants run a GPU, on which driver and Python.

Pure: ``(Catalog, GPU name or None) -> plain data``.  Whether a build runs a GPU is the
resolver's own verdict (``resolve.judge_build``), asked for a machine made of the build's
platform, one Python it has a wheel for, and the GPU with its driver left unknown; the
driver minimums come from the one driver table (``catalog.hardware.driver_floor``).
``torchup matrix`` prints it, ``torchup catalog --gpu`` shows the same verdicts for one
release, and ``torchup site`` draws it.
"""

from __future__ import annotations

from typing import Any

from torchup.catalog import hardware, rules
from torchup.catalog.model import Build, Catalog, version_tuple
from torchup.errors import UsageError
from torchup.machine import Gpu, Machine
from torchup.output import printable
from torchup.resolve import judge_build

__all__ = [
    "driver_floors",
    "find_gpu",
    "gpu_verdict",
    "matrix_view",
    "newest_sentence",
    "python_words",
    "render_matrix",
]


def find_gpu(name: str) -> hardware.GpuModel:
    """The GPU model ``name`` denotes (Apple silicon by its name), or a ``UsageError`` that says how to name one."""
    model = hardware.gpu_by_name(name)
    if model is None and name.strip().lower().startswith("apple"):
        model = hardware.GpuModel(
            vendor="apple", name=name, family="Apple silicon", segment="integrated", source="name"
        )
    if model is None:
        raise UsageError(
            f"unknown GPU model {name!r}",
            hint='give a model name as nvidia-smi / rocminfo print it, e.g. "NVIDIA GeForce RTX 4090"',
        )
    return model


def python_words(tags: tuple[str, ...] | list[str]) -> list[str]:
    """``cp312`` -> ``3.12``, ``cp313t`` -> ``3.13t``."""
    return [f"{t[2]}.{t[3:]}" for t in tags if t.startswith("cp") and len(t) > 3]


def _machine_for(build: Build, gpu: Gpu) -> Machine:
    # a Python the build has a wheel for (a GIL one where there is one): the question is the GPU
    tags = [t for t in build.pythons if not t.endswith("t")] or list(build.pythons) or ["cp312"]
    tag = tags[-1]
    return Machine(
        os=build.os,
        arch=build.arch,
        python=f"{tag[2]}.{tag[3:].rstrip('t')}",
        free_threaded=tag.endswith("t"),
        gpus=(gpu,),
    )


def gpu_verdict(build: Build, model: hardware.GpuModel, name: str) -> dict[str, Any]:
    """Does ``build`` run the GPU ``name`` (its ``model``): ``runs``, ``why_not``, ``via`` (the kernels)."""
    gpu = Gpu(vendor=model.vendor, name=name, compute_capability=model.compute_capability, gfx=model.gfx)
    reason, used = judge_build(_machine_for(build, gpu), build)
    if reason is None and not used:
        # kept by the resolver (a CPU build always is), but it leaves the GPU idle
        reason = rules.why_not_gpu(build, gpu) or f"torch {build.version_on_index} does not use {name}"
    how = None
    if reason is None and build.kind == "cuda" and model.compute_capability:
        how = rules.kernel_match(build, model.compute_capability)
    return {"runs": reason is None, "why_not": reason, "via": f"{how[0]} {how[1]}" if how else None}


def driver_floors(cuda: str | None) -> dict[str, dict[str, str | None] | None]:
    """The NVIDIA driver a CUDA toolkit needs on Linux and Windows: ``min`` (minor-version
    compatibility) and ``full`` (full support), from the one driver table."""
    out: dict[str, dict[str, str | None] | None] = {}
    for os in ("linux", "windows"):
        floor = hardware.driver_floor(cuda, os) if cuda else None
        out[os] = {"min": floor.compat, "full": floor.full} if floor else None
    return out


def _row(builds: list[Build], via: str | None = None) -> dict[str, Any]:
    first = builds[0]
    pythons = sorted({t for b in builds for t in b.pythons}, key=lambda t: (version_tuple(t[3:].rstrip("t")), t))
    row: dict[str, Any] = {
        "torch": first.torch,
        "variant": first.variant,
        "cuda": first.cuda,
        "rocm": first.rocm,
        "platforms": [f"{b.os} {b.arch}" for b in builds],
        "pythons": python_words(pythons),
        "driver": driver_floors(first.cuda) if first.kind == "cuda" else {"linux": None, "windows": None},
        "sass": sorted({s for b in builds for s in b.sass}, key=version_tuple),
        "ptx": sorted({s for b in builds for s in b.ptx}, key=version_tuple),
        "gfx": sorted({g for b in builds for g in b.gfx}),
    }
    if via is not None:
        row["via"] = via
    return row


def matrix_view(catalog: Catalog, gpu_name: str | None = None) -> dict[str, Any]:
    """Every (release, variant) with its platforms, Pythons and driver minimums, newest first;
    with ``gpu_name``, only those that run that GPU, and ``newest``: the newest of them."""
    groups: dict[tuple[str, str], list[Build]] = {}
    via: dict[tuple[str, str], str | None] = {}
    model = find_gpu(gpu_name) if gpu_name else None
    for rel in catalog.releases:
        for b in rel.builds:
            if model is not None and gpu_name is not None:
                verdict = gpu_verdict(b, model, gpu_name)
                if not verdict["runs"]:
                    continue
                via.setdefault((b.torch, b.variant), verdict["via"])
            groups.setdefault((b.torch, b.variant), []).append(b)

    def order(key: tuple[str, str]) -> tuple:
        first = groups[key][0]
        return version_tuple(first.torch), first.kind, version_tuple(first.cuda or first.rocm or "0")

    keys = sorted(groups, key=order, reverse=True)
    rows = [_row(groups[k], via.get(k)) for k in keys]
    out: dict[str, Any] = {"data_date": catalog.data_date, "gpu": None, "newest": None, "rows": rows}
    if model is not None:
        out["gpu"] = {
            "name": gpu_name,
            "vendor": model.vendor,
            "model": model.name,
            "family": model.family,
            "compute_capability": model.compute_capability,
            "gfx": model.gfx,
            "xpu": model.xpu,
        }
        if rows:
            top = rows[0]["torch"]
            same = [r for r in rows if r["torch"] == top]
            out["newest"] = {
                "torch": top,
                "builds": [{"variant": r["variant"], "platforms": r["platforms"]} for r in same],
            }
    return out


def _driver_text(floor: dict[str, str | None] | None) -> str:
    if not floor:
        return "-"
    text = f">={floor['min']}"
    if floor["full"] and floor["full"] != floor["min"]:
        text += f" (full {floor['full']})"
    return text


def _py_span(words: list[str]) -> str:
    plain = [w for w in words if not w.endswith("t")]
    threaded = [w for w in words if w.endswith("t")]
    text = f"{plain[0]}-{plain[-1]}" if len(plain) > 1 else (plain[0] if plain else "")
    return text + (f" +{','.join(threaded)}" if threaded else "")


def newest_sentence(data: dict[str, Any]) -> str:
    """``The newest build that runs GeForce GTX 1080 Ti: torch 2.14.1 (cu126 on linux x86_64, windows x86_64).``"""
    gpu, newest = data["gpu"], data["newest"]
    name = printable(gpu["name"])  # as typed on the command line: escapes are shown, not obeyed
    if newest is None:
        return f"No build in the catalog runs {name}."
    where = "; ".join(f"{b['variant']} on {', '.join(b['platforms'])}" for b in newest["builds"])
    return f"The newest build that runs {name}: torch {newest['torch']} ({where})."


def render_matrix(data: dict[str, Any]) -> str:
    """The matrix as an aligned text table, newest first."""
    lines = []
    gpu = data["gpu"]
    if gpu is not None:
        ident = gpu["compute_capability"] and f"compute capability {gpu['compute_capability']}"
        ident = ident or gpu["gfx"] or ("XPU" if gpu["xpu"] else "MPS" if gpu["vendor"] == "apple" else "")
        lines.append(f"{printable(gpu['name'])} ({gpu['family']}{', ' + ident if ident else ''})")
        lines.append(newest_sentence(data))
        lines.append("")
    header = ("torch", "variant", "platforms", "Python", "driver Linux", "driver Windows")
    table = [header]
    for r in data["rows"]:
        table.append(
            (
                r["torch"],
                r["variant"] + (f" [{r['via']}]" if r.get("via") else ""),
                ", ".join(r["platforms"]),
                _py_span(r["pythons"]),
                _driver_text(r["driver"]["linux"]),
                _driver_text(r["driver"]["windows"]),
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    lines.append("")
    lines.append(
        "driver: the minimum NVIDIA driver (minor-version compatibility), and in brackets the one for full support"
    )
    lines.append(f"catalog data from {data['data_date']}")
    return "\n".join(lines) + "\n"
