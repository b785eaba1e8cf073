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
- Python ``PYTHONS``; torchvision and torchaudio each with or without;
- an optional package built against torch (``plan --with PKG``), one at a time, each of the
  stack catalog's packages (``torchup.catalog.stack``), with torchvision and torchaudio.

The answers are computed in a pool of processes, one task per platform and Python; the
parent numbers the texts and answers in task order, so the page is the same for any number of
workers.

Each point is one machine file (``machine_data``): the answer is what
``torchup plan --machine FILE`` prints for it (tests/test_site_browser.py checks it).
"""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torchup.catalog import hardware
from torchup.catalog.model import Catalog, version_tuple

if TYPE_CHECKING:
    from torchup.catalog.stack import StackCatalog

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
    packages: int  # optional packages offered
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

    def __call__(self, text: str | None) -> int:
        if text is None:
            return -1
        if text not in self._index:
            self._index[text] = len(self.items)
            self.items.append(text)
        return self._index[text]


def _answer(result, name: str | None) -> list:
    """``[ok, title, [reasons], [warnings], [pip, uv, conda, poetry], [alternatives], [errors]]`` with the
    chosen GPU's name as ``{gpu}``; where a manager cannot express the plan its command is None and its
    error says why."""
    from torchup import render
    from torchup.errors import UsageError
    from torchup.plan import Plan, describe_variant

    def s(text: str) -> str:
        return text.replace(name, _TOKEN) if name else text

    if not isinstance(result, Plan):
        title = result.message[0].upper() + result.message[1:] + "."
        return [False, s(title), [s(r) for r in result.reasons], [], [], [], []]
    what = describe_variant(result.variant, cuda=result.cuda, rocm=result.rocm, os=result.os)
    companions = ", ".join(
        f"{n} {v}" for n, v in (("torchvision", result.torchvision), ("torchaudio", result.torchaudio)) if v
    )
    pins = ", ".join(f"{pin.name} {pin.version}" for pin in result.stack)
    withs = "; ".join(x for x in (companions, pins) if x)
    title = f"torch {result.base_version}, {what}" + (f" (with {withs})" if withs else "")
    commands: list[str | None] = []
    errors: list[str | None] = []
    for manager in MANAGERS:  # as plan's `commands` has them (render.render_commands), with the reason for a None
        try:
            commands.append(s(render.render(result, manager, python="python")))
            errors.append(None)
        except (render.RenderError, UsageError) as err:
            commands.append(None)
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


def _numbered(answer: list, strings: _Strings) -> list:
    """An answer with its texts as indices into ``strings`` (-1 for a None)."""
    ok, title, reasons, warnings, commands, alternatives, errors = answer
    return [
        ok,
        strings(title),
        [strings(r) for r in reasons],
        [strings(w) for w in warnings],
        [strings(c) for c in commands],
        [strings(a) for a in alternatives],
        [strings(e) for e in errors],
    ]


@dataclass(frozen=True, kw_only=True)
class _Task:
    """One platform and Python: every GPU class, driver and request of it (one process's job).

    Split by Python, not by GPU: ``co_resolve``'s answer depends on the Python, and many GPU
    classes share it (the task's stack catalog keeps co_resolve's answers: ``StackCatalog.answers``)."""

    platform: str
    python: str
    gpus: tuple[tuple[dict[str, Any] | None, tuple[str, ...]], ...]  # (a class's representative, its drivers)
    packages: tuple[str, ...]
    catalog: Catalog
    stack: StackCatalog
    today: date


def _requests(packages: Sequence[str]) -> list:
    """Index 0 both companions, 1 torchvision only, 2 torchaudio only, 3 neither; then 4 + j: with
    ``packages[j]`` (and both companions, as ``plan --with PKG`` has them)."""
    from torchup.plan import Request

    plain = [Request(with_torchvision=tv, with_torchaudio=ta) for tv in (True, False) for ta in (True, False)]
    return plain + [Request(with_packages=(name,)) for name in packages]


def _solve(task: _Task) -> list[list[list[list]]]:
    """``[gpu class][driver][request]`` -> the answer (texts, not yet numbered) for one task."""
    from torchup.machine import machine_from_dict
    from torchup.resolve import resolve

    requests = _requests(task.packages)
    out = []  # co_resolve answers a repeated question from the task's stack catalog (StackCatalog.answers)
    for gpu, drivers in task.gpus:
        name = gpu["name"] if gpu else None
        per_driver = []
        for driver in drivers:
            machine, _ = machine_from_dict(machine_data(task.platform, gpu, driver, task.python))
            per_driver.append(
                [
                    _answer(resolve(machine, request, task.catalog, today=task.today, stack=task.stack), name)
                    for request in requests
                ]
            )
        out.append(per_driver)
    return out


def _answers(
    catalog: Catalog,
    gpus: list[dict[str, Any]],
    today: date,
    *,
    stack: StackCatalog,
    packages: tuple[str, ...],
    workers: int,
) -> tuple[dict[str, Any], int]:
    """``table[platform][class][driver][python][request]`` -> answer index, the answers, the strings."""
    reps: dict[int, dict[str, Any] | None] = {-1: None}
    for g in gpus:  # the longest name of a class stands for it: least likely to occur in other words
        if g["class"] not in reps or len(g["name"]) > len(reps[g["class"]]["name"]):  # type: ignore[index]
            reps[g["class"]] = g
    tasks: list[_Task] = []
    classes: dict[str, list[int]] = {}
    for platform in PLATFORMS:
        drivers = tuple(driver_choices(catalog, platform))
        offered = [(cls, rep) for cls, rep in reps.items() if rep is None or _offered(platform, rep)]
        classes[platform] = [cls for cls, _ in offered]
        per_gpu = tuple(
            (rep, drivers if rep is not None and rep["vendor"] == "nvidia" else (UNKNOWN,)) for _, rep in offered
        )
        for python in PYTHONS:
            tasks.append(
                _Task(
                    platform=platform,
                    python=python,
                    gpus=per_gpu,
                    packages=packages,
                    catalog=catalog,
                    stack=stack,
                    today=today,
                )
            )
    strings = _Strings()
    answers: list[list] = []
    seen: dict[str, int] = {}
    points = 0
    table: dict[str, Any] = {p: {str(cls): [] for cls in classes[p]} for p in PLATFORMS}
    # numbered in task order, whatever the number of workers: the page does not depend on it
    for task, solved in zip(tasks, _map(_solve, tasks, workers), strict=True):
        for cls, per_driver in zip(classes[task.platform], solved, strict=True):
            per_python = table[task.platform][str(cls)]
            for d, row in enumerate(per_driver):
                indices = []
                for answer in row:
                    points += 1
                    numbered = _numbered(answer, strings)
                    key = json.dumps(numbered)
                    if key not in seen:
                        seen[key] = len(answers)
                        answers.append(numbered)
                    indices.append(seen[key])
                if len(per_python) <= d:
                    per_python.append([])
                per_python[d].append(indices)
    return {"table": table, "answers": answers, "strings": strings.items}, points


def _map(function, items: list, workers: int) -> Iterator:
    """``map`` in ``workers`` processes (in this one for 1), results in the order of ``items``."""
    if workers <= 1 or len(items) <= 1:
        return map(function, items)
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers) as pool:
        return iter(list(pool.map(function, items)))


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


def build_page(
    catalog: Catalog,
    today: date,
    *,
    pci: dict[str, str] | None = None,
    stack: StackCatalog | None = None,
    packages: Sequence[str] | None = None,
    workers: int = 1,
) -> Page:
    """The page: every answer of the selector space computed with ``resolve`` and ``render``, inline.

    ``stack``: the stack catalog ``plan --with`` uses (None: the embedded one); ``packages``: the
    optional packages offered (None: every package of ``stack``); ``workers``: processes to compute in."""
    start = time.perf_counter()
    if stack is None:  # once here, not in each resolve
        from torchup.catalog.stack import load_stack

        stack = load_stack()
    if packages is None:
        packages = tuple(stack.packages)
    gpus = gpu_choices(pci)
    answers, points = _answers(catalog, gpus, today, stack=stack, packages=tuple(packages), workers=workers)
    data = {
        "platforms": {k: label for k, (_, _, label) in PLATFORMS.items()},
        "drivers": {p: driver_choices(catalog, p) for p in PLATFORMS},
        "pythons": list(PYTHONS),
        "managers": list(MANAGERS),
        "packages": list(packages),
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
        packages=len(packages),
        seconds=time.perf_counter() - start,
    )
