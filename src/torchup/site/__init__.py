"""``torchup site``: one self-contained HTML page, the install selector and the matrix drawn.

Pure: ``build_page(catalog, today) -> Page`` (the HTML text and what it cost);
``torchup site DIR`` writes it.  The page's script never judges a build: every answer
it can show is computed here, by ``resolve`` and ``render`` (what ``torchup plan``
runs), over the whole selector space, and the script only looks one up:

- platform: Linux x86_64, Linux aarch64, Windows x86_64, macOS on Apple silicon;
- GPU: none, or a model of the GPU database (pci.ids' names the database knows, and
  ``EXTRA_GPUS``); models the resolver cannot tell apart (same vendor, compute
  capability / gfx target / XPU support, and Jetson or integrated or not) share one
  answer, computed with one of their names, which the page swaps for the chosen name;
- NVIDIA driver (NVIDIA GPUs off macOS): unknown, none loaded, or one of the floors of
  the driver table (``catalog.hardware``): between two floors every answer is the
  lower one's, since the resolver compares the driver with those floors only;
- Python ``PYTHONS``; torchvision and torchaudio each with or without.

Each point is one machine file (``machine_data``): the answer is what
``torchup plan --machine FILE`` prints for it (tests/test_site_browser.py checks it).
"""

from __future__ import annotations

import html
import json
import re
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from torchup.catalog import hardware
from torchup.catalog.model import Catalog, version_tuple

__all__ = [
    "EXTRA_GPUS",
    "MANAGERS",
    "PLATFORMS",
    "PYTHONS",
    "Page",
    "build_page",
    "driver_choices",
    "gpu_choices",
    "machine_data",
]

# key -> (os, arch, label)
PLATFORMS = {
    "linux-x86_64": ("linux", "x86_64", "Linux x86_64"),
    "linux-aarch64": ("linux", "aarch64", "Linux arm64 (aarch64)"),
    "windows-x86_64": ("windows", "x86_64", "Windows x86_64"),
    "macos-aarch64": ("macos", "aarch64", "macOS, Apple silicon"),
}
PYTHONS = ("3.10", "3.11", "3.12", "3.13", "3.14")
MANAGERS = ("pip", "uv", "conda", "poetry")  # the managers whose answer is a command (plan's `commands`)
PACKAGES = ("torchvision", "torchaudio")
# Models the database knows that pci.ids (the 2023 snapshot torchup ships) predates or names otherwise.
EXTRA_GPUS = (
    "GeForce RTX 5090",
    "GeForce RTX 5080",
    "GeForce RTX 5070 Ti",
    "GeForce RTX 5060",
    "RTX PRO 6000 Blackwell",
    "B200",
    "GB200",
    "B300",
    "H200",
    "H100 80GB HBM3",
    "GH200",
    "L40S",
    "L4",
    "A100-SXM4-80GB",
    "DGX Spark",
    "Jetson AGX Thor",
    "Jetson AGX Orin",
    "Jetson Xavier NX",
    "Jetson TX2",
    "Jetson Nano",
    "Radeon RX 9070 XT",
    "Radeon RX 7900 XTX",
    "Radeon RX 7800 XT",
    "Instinct MI355X",
    "Instinct MI300X",
    "Instinct MI250X",
    "Arc B580",
    "Data Center GPU Max 1550",
)
APPLE = "Apple silicon GPU (M1 or later)"
UNKNOWN, NONE = "unknown", "none"
_TOKEN = "{gpu}"  # stands for the chosen GPU's name in a shared answer


@dataclass(frozen=True, kw_only=True)
class Page:
    html: str
    answers: int  # distinct answers stored
    points: int  # points of the selector space (each one resolve)
    gpus: int  # GPU models offered
    classes: int  # GPU classes the resolver tells apart
    seconds: float  # to compute every answer and write the page


def _gpu_class(vendor: str, model: hardware.GpuModel | None) -> tuple:
    if model is None:
        return (vendor,)
    seg = model.segment if model.segment in ("embedded", "integrated") else "discrete"
    return (vendor, model.compute_capability, model.gfx, model.xpu, seg)


def gpu_choices(pci: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The GPU models offered, ``{"name", "vendor", "class", "jetson"}`` sorted by vendor then name;
    ``class`` is the same for models the resolver cannot tell apart."""
    names: set[str] = set(EXTRA_GPUS)
    for text in (pci if pci is not None else hardware.pci_table()).values():
        for bracket in re.findall(r"\[([^\]]+)\]", text):
            names.update(part.strip() for part in bracket.split("/") if part.strip())
    out: list[dict[str, Any]] = []
    for name in names:
        model = hardware.gpu_by_name(name)
        if model is not None:
            out.append({"name": name, "vendor": model.vendor, "key": _gpu_class(model.vendor, model)})
    out.append({"name": APPLE, "vendor": "apple", "key": ("apple",)})
    order = {"nvidia": 0, "amd": 1, "intel": 2, "apple": 3}
    out.sort(key=lambda g: (order[g["vendor"]], g["name"].lower()))
    keys: dict[tuple, int] = {}
    for g in out:
        g["class"] = keys.setdefault(g["key"], len(keys))
        g["jetson"] = g["key"][-1] == "embedded"
    return out


def driver_choices(catalog: Catalog, platform: str) -> list[str]:
    """``unknown``, ``none``, then the driver table's floors (full support and minor-version
    compatibility) of every CUDA toolkit a build for ``platform`` uses, oldest first.  The
    resolver compares a driver with those floors only, so a driver between two of them gets
    the lower one's verdicts."""
    os, arch, _ = PLATFORMS[platform]
    cudas = {b.cuda for rel in catalog.releases for b in rel.builds if b.os == os and b.arch == arch and b.cuda}
    floors: set[str] = set()
    for cuda in cudas:
        floor = hardware.driver_floor(cuda, os)
        if floor is not None:
            floors |= {f for f in (floor.full, floor.compat) if f}
    return [UNKNOWN, NONE, *sorted(floors, key=version_tuple)]


def machine_data(platform: str, gpu: dict[str, Any] | None, driver: str, python: str) -> dict[str, Any]:
    """The machine file of one point of the selector space (docs/machine-file.md)."""
    os, arch, _ = PLATFORMS[platform]
    data: dict[str, Any] = {"os": os, "arch": arch, "python": python}
    if gpu is not None:
        entry: dict[str, Any] = {"vendor": gpu["vendor"], "name": gpu["name"]}
        if gpu["vendor"] == "nvidia" and driver == NONE:
            entry["driver_loaded"] = False
        elif gpu["vendor"] == "nvidia" and driver != UNKNOWN:
            data["nvidia_driver"] = driver
        data["gpus"] = [entry]
    return data


def _offered(platform: str, gpu: dict[str, Any]) -> bool:
    os, arch, _ = PLATFORMS[platform]
    if os == "macos":
        return gpu["vendor"] == "apple"
    if gpu["vendor"] == "apple":
        return False
    return not gpu["jetson"] or arch == "aarch64"


class _Strings:
    """Every text once: answers hold indices (the same reason recurs thousands of times)."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self._index: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        if text not in self._index:
            self._index[text] = len(self.items)
            self.items.append(text)
        return self._index[text]


def _answer(result, name: str | None, strings: _Strings) -> list:
    """``[ok, title, [reasons], [warnings], [pip, uv, conda, poetry], [alternatives], [errors]]``, texts as
    indices; where a manager cannot express the plan its command is -1 and its error says why."""
    from torchup import render
    from torchup.errors import UsageError
    from torchup.plan import Plan, describe_variant

    def s(text: str) -> int:
        return strings(text.replace(name, _TOKEN) if name else text)

    if not isinstance(result, Plan):
        title = result.message[0].upper() + result.message[1:] + "."
        return [False, s(title), [s(r) for r in result.reasons], [], [], [], []]
    what = describe_variant(result.variant, cuda=result.cuda, rocm=result.rocm, os=result.os)
    companions = ", ".join(
        f"{n} {v}" for n, v in (("torchvision", result.torchvision), ("torchaudio", result.torchaudio)) if v
    )
    title = f"torch {result.base_version}, {what}" + (f" (with {companions})" if companions else "")
    commands, errors = [], []
    for manager in MANAGERS:  # as plan's `commands` has them (render.render_commands), with the reason for a None
        try:
            commands.append(s(render.render(result, manager, python="python")))
            errors.append(-1)
        except (render.RenderError, UsageError) as err:
            commands.append(-1)
            errors.append(s(err.message))
    alternatives = []
    for alt in result.alternatives:
        alt_what = "PyPI's default build" if alt.variant == "pypi" else describe_variant(alt.variant)
        alternatives.append(s(f"torch {alt.torch.split('+')[0]}, {alt_what}" + (f" ({alt.note})" if alt.note else "")))
    return [
        True,
        s(title),
        [s(r) for r in result.reasons],
        [s(w) for w in result.warnings],
        commands,
        alternatives,
        errors,
    ]


def _answers(catalog: Catalog, gpus: list[dict[str, Any]], today: date) -> tuple[dict[str, Any], int]:
    """``table[platform][class][driver][python][packages]`` -> answer index, the answers, the strings."""
    from torchup.machine import machine_from_dict
    from torchup.plan import Request
    from torchup.resolve import resolve

    strings = _Strings()
    answers: list[list] = []
    seen: dict[str, int] = {}
    reps: dict[int, dict[str, Any] | None] = {-1: None}
    for g in gpus:  # the longest name of a class stands for it: least likely to occur in other words
        if g["class"] not in reps or len(g["name"]) > len(reps[g["class"]]["name"]):  # type: ignore[index]
            reps[g["class"]] = g
    requests = [
        Request(with_torchvision=tv, with_torchaudio=ta) for tv in (True, False) for ta in (True, False)
    ]  # packages index: 0 both, 1 torchvision only, 2 torchaudio only, 3 neither
    points = 0
    table: dict[str, Any] = {}
    for platform in PLATFORMS:
        drivers = driver_choices(catalog, platform)
        per_class: dict[str, Any] = {}
        for cls, rep in reps.items():
            if rep is not None and not _offered(platform, rep):
                continue
            nvidia = rep is not None and rep["vendor"] == "nvidia"
            per_driver = []
            for driver in drivers if nvidia else [UNKNOWN]:
                per_python = []
                for python in PYTHONS:
                    machine, _ = machine_from_dict(machine_data(platform, rep, driver, python))
                    row = []
                    for request in requests:
                        points += 1
                        result = resolve(machine, request, catalog, today=today)
                        answer = _answer(result, rep["name"] if rep else None, strings)
                        key = json.dumps(answer)
                        if key not in seen:
                            seen[key] = len(answers)
                            answers.append(answer)
                        row.append(seen[key])
                    per_python.append(row)
                per_driver.append(per_python)
            per_class[str(cls)] = per_driver
        table[platform] = per_class
    return {"table": table, "answers": answers, "strings": strings.items}, points


def _variant_colour(variant: str) -> str:
    """Light backgrounds (dark text on all of them meets WCAG AA): CUDA in greens and blues by
    version, ROCm in reds, the rest grey."""
    palette = {
        "cu116": "#e8f5e9", "cu117": "#dcedc8", "cu118": "#c5e1a5", "cu121": "#b2dfdb",
        "cu124": "#80cbc4", "cu126": "#b3e5fc", "cu128": "#81d4fa", "cu129": "#90caf9",
        "cu130": "#c5cae9", "cu132": "#b39ddb",
    }  # fmt: skip
    if variant in palette:
        return palette[variant]
    if variant.startswith("rocm"):
        return "#ffcdd2" if version_tuple(variant[4:]) < (6,) else "#f8bbd0"
    return "#eeeeee"


_KEYS = {
    "nvidia": "126 stands for cu126 (CUDA 12.6), newest first; a cell has the colour of its newest variant, "
    "as in the driver table below.",
    "amd": "7.2 stands for rocm7.2, newest first; pink: ROCm 6 and later, red: ROCm 5.",
}


def _picture(catalog: Catalog, gpus: list[dict[str, Any]]) -> str:
    """The matrix drawn: compute capability (NVIDIA) and gfx target (AMD) x release, each cell the
    variants that run it, coloured by the newest; then the driver floors of every CUDA variant."""
    from torchup.matrix import driver_floors, matrix_view

    releases = list(catalog.versions())[::-1]
    parts = []
    for vendor, what, field in (("nvidia", "NVIDIA compute capability", 1), ("amd", "AMD gfx target", 2)):
        reps: dict[str, dict[str, Any]] = {}
        for g in gpus:
            if g["vendor"] == vendor and not g["jetson"] and g["key"][field]:
                reps.setdefault(g["key"][field], g)
        if vendor == "nvidia":
            order = sorted(reps, key=version_tuple, reverse=True)
        else:
            order = sorted(reps, key=lambda k: (len(k), k), reverse=True)
        rows = []
        for key in order:
            data = matrix_view(catalog, reps[key]["name"])
            cells = []
            for rel in releases:
                variants = [r["variant"] for r in data["rows"] if r["torch"] == rel]
                if variants:
                    label = " ".join(v.removeprefix("cu").removeprefix("rocm") for v in variants)
                    title = f"torch {rel} runs {key}: {', '.join(variants)}"
                    cells.append(
                        f'<td style="background:{_variant_colour(variants[0])}" title="{html.escape(title)}">'
                        f"{html.escape(label)}</td>"
                    )
                else:
                    cells.append('<td class="no"><span class="sr">no build</span></td>')
            head = f"sm_{key.replace('.', '')}" if vendor == "nvidia" else key
            example = html.escape(reps[key]["name"])
            rows.append(
                f'<tr><th scope="row">{html.escape(head)}<br><small>{example}</small></th>{"".join(cells)}</tr>'
            )
        cols = "".join(f'<th scope="col">{html.escape(r)}</th>' for r in releases)
        parts.append(
            f'<h3 id="grid-{vendor}">{what} × torch release</h3>'
            f'<p class="hint">{_KEYS[vendor]}</p>'
            f'<div class="scroll" role="region" aria-labelledby="grid-{vendor}" tabindex="0">'
            f'<table class="grid"><thead><tr><th scope="col">{what}</th>{cols}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>"
        )
    cuda = sorted(
        {(b.variant, b.cuda) for rel in catalog.releases for b in rel.builds if b.kind == "cuda" and b.cuda},
        key=lambda vc: version_tuple(vc[1]),
        reverse=True,
    )
    seen: set[str] = set()
    floor_rows = []
    for variant, cuda_version in cuda:
        if variant in seen:
            continue
        seen.add(variant)
        floors = driver_floors(cuda_version)
        cells = []
        for os in ("linux", "windows"):
            f = floors[os]
            cells.append(
                f"<td>&ge; {html.escape(f['min'] or '?')}"
                + (f"<br><small>full: {html.escape(f['full'])}</small>" if f and f["full"] else "")
                + "</td>"
                if f
                else "<td>-</td>"
            )
        floor_rows.append(
            f'<tr><th scope="row" style="background:{_variant_colour(variant)}">{html.escape(variant)}</th>'
            f"<td>{html.escape('.'.join(cuda_version.split('.')[:2]))}</td>{''.join(cells)}</tr>"
        )
    parts.append(
        '<h3 id="floors">NVIDIA driver floors of each CUDA variant</h3>'
        '<div class="scroll" role="region" aria-labelledby="floors" tabindex="0"><table class="floors">'
        '<thead><tr><th scope="col">variant</th><th scope="col">CUDA</th><th scope="col">Linux driver</th>'
        f'<th scope="col">Windows driver</th></tr></thead><tbody>{"".join(floor_rows)}</tbody></table></div>'
    )
    return "\n".join(parts)


def _template() -> str:
    return (Path(__file__).resolve().parent / "page.html").read_text(encoding="utf-8")


def build_page(catalog: Catalog, today: date, *, pci: dict[str, str] | None = None) -> Page:
    """The page: every answer of the selector space computed with ``resolve`` and ``render``, inline."""
    start = time.perf_counter()
    gpus = gpu_choices(pci)
    answers, points = _answers(catalog, gpus, today)
    data = {
        "platforms": {k: label for k, (_, _, label) in PLATFORMS.items()},
        "drivers": {p: driver_choices(catalog, p) for p in PLATFORMS},
        "pythons": list(PYTHONS),
        "managers": list(MANAGERS),
        "gpus": [[g["name"], g["vendor"], g["class"], g["jetson"]] for g in gpus],
        **answers,
    }
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False).replace("</", "<\\/")
    page = (
        _template()
        .replace("{{PICTURE}}", _picture(catalog, gpus))
        .replace("{{DATE}}", html.escape(catalog.data_date))
        .replace("{{GENERATED}}", html.escape(today.isoformat()))
        .replace("{{DATA}}", text)
    )
    return Page(
        html=page,
        answers=len(answers["answers"]),
        points=points,
        gpus=len(gpus),
        classes=len({g["class"] for g in gpus}),
        seconds=time.perf_counter() - start,
    )
