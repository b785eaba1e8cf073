"""``torchup catalog``: what torchup knows about PyTorch's builds.

    torchup catalog [--torch 2.5.1] [--gpu NAME] [--json]
    torchup catalog refresh [--index-base URL] [--pypi-index URL] [--variant NAME] [--json]

The first form shows one release (default: the newest): its builds per platform
with Python tags, CUDA / ROCm, arch lists, which build PyPI serves, the
companions, and how old the data is.  With ``--gpu`` it says for every build of
that release whether it runs on the GPU, and why not (the verdicts of
``torchup matrix``), and names the newest build of any release that runs it.
"""

from __future__ import annotations

import sys
from typing import Any

from torchup.commands._args import check_index_url, check_number_lengths, index_base
from torchup.errors import EXIT_OK, UsageError
from torchup.plan import DEFAULT_INDEX_BASE

TYPE_CHECKING = False  # argparse is imported only when argparse parses (torchup.fastargs)
if TYPE_CHECKING:
    import argparse

__all__ = ["add_arguments", "gpu_view", "release_view", "render_release", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action",
        nargs="?",
        choices=["show", "refresh"],
        default="show",
        help="show (default) or refresh the catalog from the indexes",
    )
    parser.add_argument("--torch", metavar="VERSION", help="the release to show (default: the newest)")
    parser.add_argument("--gpu", metavar="NAME", help="which builds of the release run on this GPU (a model name)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--index-base",
        metavar="URL",
        help=f"PyTorch's index base for refresh (default: $TORCHUP_INDEX_BASE or {DEFAULT_INDEX_BASE})",
    )
    parser.add_argument(
        "--pypi-index",
        metavar="URL",
        help="the PyPI simple-API URL for refresh (default: the installer's configured index)",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME",
        help="also read this variant's page on refresh (e.g. cu134); repeatable",
    )


def run(args: argparse.Namespace, system) -> int:
    if args.action == "refresh":
        return _refresh(args, system)
    from torchup.catalog.load import load_catalog

    if args.torch:
        check_number_lengths("--torch", args.torch)
    catalog = load_catalog(system.env)
    rel = catalog.newest() if not args.torch else catalog.release(args.torch)
    if rel is None:
        raise UsageError(
            f"torch {args.torch} is not in the catalog",
            hint=f"known releases: {catalog.versions()[0]} ... {catalog.versions()[-1]}; "
            "`torchup catalog refresh` learns newer ones",
        )
    data = release_view(catalog, rel)
    if args.gpu:
        data["gpu"] = gpu_view(catalog, rel, args.gpu)
    if args.json:
        from torchup.output import emit_json

        emit_json("catalog", data)
    else:
        sys.stdout.write(render_release(data))
    return EXIT_OK


def _age(catalog) -> dict[str, Any]:
    from torchup.catalog.load import STALE_DAYS

    age = catalog.age_days()
    return {
        "data_date": catalog.data_date,
        "age_days": age,
        "origin": catalog.origin,
        "stale": age > STALE_DAYS,
        "warnings": list(catalog.warnings),
    }


def _build_view(b) -> dict[str, Any]:
    return {
        "variant": b.variant,
        "os": b.os,
        "arch": b.arch,
        "version": b.version_on_index,
        "pypi_default": b.pypi_default,
        "index_suffix": b.index_suffix,
        "pythons": list(b.pythons),
        "platform_tags": sorted({w.platform for w in b.wheels}),
        "glibc_min": b.glibc_min,
        "macos_min": b.macos_min,
        "cuda": b.cuda,
        "rocm": b.rocm,
        "cudnn": b.cudnn,
        "sass": list(b.sass),
        "ptx": list(b.ptx),
        "gfx": list(b.gfx),
        "notes": list(b.notes),
        "provenance": {k: {"source": v.source, "confidence": v.confidence} for k, v in sorted(b.provenance.items())},
        "unconfirmed": list(b.unconfirmed()),
    }


def release_view(catalog, rel) -> dict[str, Any]:
    """Everything about one release, as plain data (the ``--json`` form)."""
    return {
        "catalog": _age(catalog),
        "torch": rel.version,
        "released": rel.released,
        "requires_python": rel.requires_python,
        "notes": list(rel.notes),
        "companions": [
            {
                "name": c.name,
                "version": c.version,
                "matched": c.matched,
                "pythons": list(c.pythons),
                "requires_torch": c.requires_torch,
                "note": c.note,
                "source": c.provenance.source,
                "confidence": c.provenance.confidence,
            }
            for c in rel.companions
        ],
        "builds": [_build_view(b) for b in rel.builds],
        "sources": {
            k: catalog.describe_source(k)
            for k in sorted(
                {p.source for b in rel.builds for p in b.provenance.values()}
                | {c.provenance.source for c in rel.companions}
            )
        },
    }


def gpu_view(catalog, rel, name: str) -> dict[str, Any]:
    """For each build of ``rel``: does it run the GPU named ``name``, and why not (the resolver's
    verdict, as ``torchup matrix`` shows it); ``newest``: the newest build of any release that runs it."""
    from torchup.matrix import find_gpu, gpu_verdict, matrix_view

    model = find_gpu(name)
    verdicts = []
    for b in rel.builds:
        facts = ["arches"] if b.kind == "cuda" else ["gfx"] if b.kind == "rocm" else []
        verdicts.append(
            {
                "variant": b.variant,
                "os": b.os,
                "arch": b.arch,
                **gpu_verdict(b, model, name),
                "unconfirmed": list(b.unconfirmed(["exists", *facts])),
            }
        )
    return {
        "name": name,
        "vendor": model.vendor,
        "model": model.name,
        "family": model.family,
        "compute_capability": model.compute_capability,
        "gfx": model.gfx,
        "xpu": model.xpu,
        "source": model.source,
        "builds": verdicts,
        "newest": matrix_view(catalog, name)["newest"],
    }


def _arch_text(b: dict) -> str:
    if b["sass"] or b["ptx"]:
        sass = " ".join("sm_" + s.replace(".", "") for s in b["sass"])
        ptx = " ".join("compute_" + p.replace(".", "") for p in b["ptx"])
        return (sass + (" +PTX " + ptx if ptx else " (no PTX)")).strip()
    if b["gfx"]:
        return " ".join(b["gfx"])
    return ""


def _py_text(tags: list[str]) -> str:
    out = []
    for t in tags:
        digits = t[2:].rstrip("t").rstrip("m")
        out.append(f"{digits[0]}.{digits[1:]}{'t' if t.endswith('t') else ''}")
    return " ".join(out)


def render_release(data: dict[str, Any]) -> str:
    cat = data["catalog"]
    lines = [f"torch {data['torch']}  released {data['released']}  Requires-Python {data['requires_python']}"]
    for c in data["companions"]:
        extra = "" if c["matched"] else "  (not built for this release)"
        lines.append(f"  {c['name']}: {c['version'] or 'none'}{extra}")
    lines.append("")
    platforms: dict[tuple[str, str], list[dict]] = {}
    for b in data["builds"]:
        platforms.setdefault((b["os"], b["arch"]), []).append(b)
    for (os_, arch), builds in platforms.items():
        lines.append(f"{os_} {arch}:")
        for b in builds:
            tag = " [PyPI default]" if b["pypi_default"] else ""
            tool = f"CUDA {b['cuda']}" if b["cuda"] else f"ROCm {b['rocm']}" if b["rocm"] else ""
            if b["cudnn"]:
                tool += f", cuDNN {b['cudnn']}"
            floor = (
                f"glibc>={b['glibc_min']}" if b["glibc_min"] else f"macOS>={b['macos_min']}" if b["macos_min"] else ""
            )
            lines.append(f"  {b['variant']:<9}{tag} {tool}  {floor}".rstrip())
            lines.append(f"      Python {_py_text(b['pythons'])}")
            if _arch_text(b):
                lines.append(f"      {_arch_text(b)}")
            if b["unconfirmed"]:
                lines.append(f"      unconfirmed: {', '.join(b['unconfirmed'])}")
    if "gpu" in data:
        g = data["gpu"]
        ident = (
            (g["compute_capability"] and f"compute capability {g['compute_capability']}")
            or g["gfx"]
            or ("XPU" if g["xpu"] else "MPS" if g["vendor"] == "apple" else "")
        )
        from torchup.matrix import newest_sentence

        lines += ["", newest_sentence({"gpu": g, "newest": g["newest"]}), f"On {g['name']} ({g['family']}, {ident}):"]
        for v in g["builds"]:
            mark = "runs" if v["runs"] else "no  "
            why = f" via {v['via']}" if v["via"] else (f": {v['why_not']}" if v["why_not"] else "")
            unc = f"  [unconfirmed: {', '.join(v['unconfirmed'])}]" if v["runs"] and v["unconfirmed"] else ""
            lines.append(f"  {mark} {v['variant']:<9} {v['os']} {v['arch']}{why}{unc}")
    lines += ["", f"data from {cat['data_date']} ({cat['age_days']} days old, {cat['origin']})"]
    if cat["stale"]:
        lines.append("the data is old: `torchup catalog refresh` reads the indexes for newer releases")
    lines += [f"warning: {w}" for w in cat["warnings"]]
    return "\n".join(lines) + "\n"


def _refresh(args: argparse.Namespace, system) -> int:
    from torchup.catalog.refresh import RefreshOptions, refresh_catalog

    base = index_base(args.index_base, system.env)
    if args.pypi_index:
        check_index_url("--pypi-index", args.pypi_index)
    import time

    from torchup.output import redact_url
    from torchup.progress import Heartbeat, describe_rate

    # on a terminal (not with --json): which page is coming in, its bytes and rate, every second
    beat = Heartbeat(sys.stdout, "catalog refresh", enabled=sys.stdout.isatty() and not args.json)
    started: dict[str, float] = {}

    def on_bytes(url: str, received: int, total: int | None) -> None:
        start = started.setdefault(url, time.monotonic())
        beat.note(f"{redact_url(url)} {describe_rate(received, total, time.monotonic() - start)}")

    options = RefreshOptions(
        index_base=base, pypi_index=args.pypi_index, variants=tuple(args.variant), on_bytes=on_bytes
    )

    def run_cmd(argv: list[str]) -> str | None:
        result = system.runner.run(argv, timeout=60)
        return result.stdout if result.ok else None

    with beat:
        result = refresh_catalog(system.env, options, run_cmd)
    if args.json:
        from torchup.output import emit_json

        emit_json(
            "catalog-refresh",
            {
                "path": result.path,
                "data_date": result.catalog.data_date,
                "changes": list(result.changes),
                "notes": list(result.notes),
                "unconfirmed": list(result.unconfirmed),
                "releases": len(result.catalog.releases),
                "newest": result.catalog.newest().version,
            },
        )
        return EXIT_OK
    out = [
        f"catalog refreshed: {result.path} (data {result.catalog.data_date}, newest torch {result.catalog.newest().version})"
    ]
    if result.changes:
        out.append(f"{len(result.changes)} change(s):")
        out += [f"  {c}" for c in result.changes]
    else:
        read = "what could be read of the indexes shows" if result.unconfirmed else "the indexes show"
        out.append(f"no changes: {read} nothing the catalog did not know")
    out += [f"note: {n}" for n in result.notes]
    out += [f"not confirmed: {u}" for u in result.unconfirmed]
    sys.stdout.write("\n".join(out) + "\n")
    return EXIT_OK
