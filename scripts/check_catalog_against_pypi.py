#!/usr/bin/env python3
"""Compare the catalog snapshot with live PyPI metadata; print every disagreement.

    python scripts/check_catalog_against_pypi.py [--catalog FILE] [--cache DIR] [--fresh]

PyPI is read from the index pip is configured with (scripts/pypi_metadata.py).
Checked, per torch release from 1.13 on:
- the release list (missing or extra versions), release date, Requires-Python;
- the default builds' wheels (every Python / ABI / platform tag) and the platform
  floors they imply (glibc for manylinux, macOS for macosx tags);
- for Linux x86_64 / aarch64, the CUDA and cuDNN the Requires-Dist pins reveal
  (marker-evaluated for that platform) against the build marked pypi_default;
- each companion (torchvision, torchaudio): the release PyPI's metadata gives by the
  rule the snapshot and the refresh share (torchup.catalog.companions: a torch== pin,
  else released the same day, else the newest whose torch requirement admits it),
  whether it is matched, its torch requirement and its Python tags;
- the hand tables of scripts/catalog_facts.py that PyPI can judge (cuDNN of the
  default variant) and the claims of the research notes listed in CLAIMS.
Exit status 1 when the catalog disagrees with PyPI (refuted research claims
are printed but do not fail: the catalog already follows PyPI there).
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path


HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

import build_catalog as B  # noqa: E402
import catalog_facts as F  # noqa: E402
import pypi_metadata  # noqa: E402

from torchup.catalog.companions import CompanionRelease, pick_companion  # noqa: E402
from torchup.catalog.load import embedded_path, read_catalog_file  # noqa: E402
from torchup.catalog.model import platform_floor  # noqa: E402

# Claims of docs/research/compat-facts.md that PyPI can judge:
# (what, torch version, check name, expected value)
CLAIMS = [
    ("compat-facts 1a: Python 3.10-3.14 for 2.14", "2.14.1", "pythons-x86", "cp310 cp311 cp312 cp313 cp314 cp314t"),
    ("compat-facts 1a: 2.15 main still builds 3.10-3.14, 3.14t, 3.15, 3.15t (?)", "2.15.0", "pythons-x86",
     "cp310 cp311 cp312 cp313 cp314 cp314t cp315 cp315t"),
    ("compat-facts 8: Python 3.15 wheels are excluded from PyPI staging", "2.15.0", "no-cp315", ""),
    ("compat-facts 1a: PyPI default for 2.14 is cu130 (or cu132 planned)", "2.14.1", "cuda-x86", "13.0"),
    ("compat-facts 1a: 2.15 PyPI default 13.2 per the RFC (?)", "2.15.0", "cuda-x86", "13.2"),
    ("compat-facts 1b: PyPI aarch64 wheel is CPU through 2.10", "2.10.0", "cuda-arm", "None"),
    ("compat-facts 1b: PyPI aarch64 wheel is cu130 from 2.11", "2.11.0", "cuda-arm", "13.0"),
    ("compat-facts 1c: cuDNN 9.17.1.4 for 2.11 cu130", "2.11.0", "cudnn-x86", "9.17.1.4"),
    ("compat-facts 1c: cuDNN 9.24.0.43 for 2.14 cu130", "2.14.1", "cudnn-x86", "9.24.0.43"),
    ("compat-facts 2: torchvision 0.29 for 2.14 (?)", "2.14.1", "torchvision-minor", "0.29"),
    ("compat-facts 2: torchvision 0.30 for 2.15 (?)", "2.15.0", "torchvision-minor", "0.30"),
    ("compat-facts 6: 2.6+ Linux x86_64 PyPI tag is manylinux_2_28", "2.6.0", "platform-x86", "manylinux_2_28_x86_64"),
    ("compat-facts 1b: macOS x86_64 last in 2.2.2", "2.3.0", "has-macos-x86", "False"),
    ("compat-facts 1b: macOS tag macosx_14_0_arm64 from 2.12 (?)", "2.12.0", "macos-floor", "14.0"),
    ("compat-facts 1b: 2.11 macOS tag (?) macosx_11_0 (py3.10-3.12) / macosx_12_0 (py3.13+)", "2.11.0", "macos-floor", "11.0 12.0"),
    ("compat-facts 1a: 2.12.0 still shipped cp313t, 2.12.1 dropped it (?)", "2.12.1", "has-cp313t", "False"),
    ("compat-facts 1a: 2.12.0 still shipped cp313t (?)", "2.12.0", "has-cp313t", "True"),
    ("compat-facts 3: 2.8 cu128 is 7.0;7.5;8.0;8.6;9.0;10.0;12.0 without PTX", "2.8.0", "arch-x86",
     "sm_70 sm_75 sm_80 sm_86 sm_90 sm_100 sm_120"),
    ("compat-facts 3: 2.7 cu126 (PyPI) is 5.0...9.0 (?)", "2.7.1", "arch-x86", "sm_50 sm_60 sm_70 sm_75 sm_80 sm_86 sm_90"),
    ("compat-facts 3: 2.11 cu130 has no PTX per PR #175567 (?)", "2.11.0", "arch-x86", "sm_75 sm_80 sm_86 sm_90 sm_100 sm_120"),
    ("compat-facts 3: 2.12-2.14 cu130 is 7.5...12.0+PTX (REL)", "2.13.0", "arch-x86",
     "sm_75 sm_80 sm_86 sm_90 sm_100 sm_120 compute_120"),
    ("compat-facts 3: 2.12-2.14 aarch64 cu130 is 8.0;9.0;10.0;11.0;12.0+PTX (REL)", "2.14.1", "arch-arm",
     "sm_80 sm_90 sm_100 sm_110 sm_120 compute_120"),
    ("compat-facts 3: 2.11 aarch64 cu130 is 8.0;9.0;10.0;11.0;12.0+PTX (RFC #172663)", "2.11.0", "arch-arm",
     "sm_80 sm_90 sm_100 sm_110 sm_120 compute_120"),
]


class Report:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.claims: list[str] = []
        self.notes: list[str] = []

    def bad(self, text: str) -> None:
        self.problems.append(text)

    def note(self, text: str) -> None:
        self.notes.append(text)


def observe(view: B.PyPIView) -> dict[str, dict]:
    """Per release: what PyPI says (dates, Requires-Python, wheels per platform, pins)."""
    out: dict[str, dict] = {}
    for version, files in sorted(view.files("torch").items()):
        if version < B.FIRST or version.is_prerelease:
            continue
        obs: dict = {"released": min(f["upload-time"][:10] for f in files),
                     "requires_python": sorted({str(f.get("requires-python")) for f in files}),
                     "wheels": collections.defaultdict(set), "pins": {}}
        meta_file = {}
        for f in files:
            for t in f["_tags"]:
                os_, arch, _ = platform_floor(t.platform)
                py = t.interpreter + ("t" if t.abi.endswith("t") else "")
                obs["wheels"][(os_, arch)].add((py, t.abi, t.platform))
                meta_file.setdefault((os_, arch), f)
        for (os_, arch), f in meta_file.items():
            if os_ == "linux":
                key = B.PLATFORM_KEYS[(os_, arch)]
                py0 = sorted(obs["wheels"][(os_, arch)], key=lambda w: B.py_sort(w[0]))[0][0]
                obs["pins"][(os_, arch)] = B.cuda_pins(view.metadata(f), key, f"{py0[2]}.{py0[3:].rstrip('t')}")
                if obs["pins"][(os_, arch)][0]:
                    obs.setdefault("arch", {})[(os_, arch)] = view.fetcher.wheel_arch_flags(f)
        out[str(version)] = obs
    return out


def check(catalog, view: B.PyPIView, rep: Report) -> dict:
    obs = observe(view)
    known = {r.version: r for r in catalog.releases}
    for v in obs:
        if v not in known:
            rep.bad(f"{v}: on PyPI, missing from the catalog")
    for v in known:
        if v not in obs:
            rep.bad(f"{v}: in the catalog, not on PyPI")
    vision = B.companion_releases(view.files("torchvision"), view)
    audio = B.companion_releases(view.files("torchaudio"), view)
    for v, o in obs.items():
        rel = known.get(v)
        if rel is None:
            continue
        if rel.released != o["released"]:
            rep.bad(f"{v}: released {rel.released} in the catalog, first upload {o['released']} on PyPI")
        if [str(rel.requires_python)] != o["requires_python"]:
            rep.bad(f"{v}: Requires-Python {rel.requires_python!r} in the catalog, {o['requires_python']} on PyPI")
        for (os_, arch), wheels in o["wheels"].items():
            defaults = [b for b in rel.builds if b.os == os_ and b.arch == arch and b.pypi_default]
            if len(defaults) != 1:
                rep.bad(f"{v} {os_} {arch}: {len(defaults)} builds marked pypi_default (want 1)")
                continue
            b = defaults[0]
            have = {(w.python, w.abi, w.platform) for w in b.wheels}
            for w in sorted(wheels - have):
                rep.bad(f"{v} {os_} {arch}: PyPI wheel {'-'.join(w)} missing from build {b.variant}")
            for w in sorted(have - wheels):
                rep.bad(f"{v} {os_} {arch}: catalog wheel {'-'.join(w)} not on PyPI")
            if os_ == "macos":
                lo = min(platform_floor(p)[2] for _, _, p in wheels)
                if b.macos_min != f"{lo[0]}.{lo[1]}":
                    rep.bad(f"{v} macOS {arch}: macos_min {b.macos_min} in the catalog, lowest tag floor {lo} on PyPI")
            if os_ == "linux":
                floors = {platform_floor(p)[2] for _, _, p in wheels}
                if any(f and f >= (2, 28) for f in floors) and b.glibc_min != "2.28":
                    rep.bad(f"{v} linux {arch}: glibc_min {b.glibc_min}, PyPI tags say {floors}")
                cuda, cudnn = o["pins"].get((os_, arch), (None, None))
                if (b.cuda or None) != cuda:
                    rep.bad(f"{v} linux {arch}: default build {b.variant} has CUDA {b.cuda}, PyPI pins say {cuda}")
                if cuda and b.cudnn != cudnn:
                    rep.bad(f"{v} linux {arch}: default build cuDNN {b.cudnn}, PyPI pins say {cudnn}")
                flags = o.get("arch", {}).get((os_, arch))
                if flags is not None:
                    sass, ptx = B.parse_arch_list(flags[0]) if len(flags) == 1 else ((), ())
                    if len(flags) != 1 or (tuple(b.sass), tuple(b.ptx)) != (sass, ptx):
                        rep.bad(f"{v} linux {arch}: default build {b.variant} arches {b.sass}+PTX{b.ptx}, "
                                f"libtorch_python.so of the PyPI wheel says {flags}")
                hand = F.CUDNN.get((B.minor_of(v), b.variant))
                if cudnn and hand and hand != cudnn:
                    rep.note(f"{v} linux {arch}: catalog_facts.CUDNN (REL) says {b.variant} cuDNN {hand}; PyPI pins {cudnn} "
                             f"(the PyPI value is used for this build)")
        for name, releases in (("torchvision", vision), ("torchaudio", audio)):
            check_companion(v, o["released"], name, rel.companion(name), releases, rep)
    return obs


def check_companion(v: str, day: str, name: str, comp, releases: list[CompanionRelease], rep: Report) -> None:
    """The catalog's companion against the one PyPI's metadata gives by the shared rule
    (torchup.catalog.companions): version, matched, torch requirement, Python tags."""
    want = pick_companion(name, v, day, releases, source="PYPI-METADATA")
    if comp is None:
        rep.bad(f"{v}: no {name} entry in the catalog; PyPI gives {want.version if want else None}")
        return
    if want is None:
        if comp.version is not None:
            rep.bad(f"{v}: companion {name} {comp.version} in the catalog; no {name} release on PyPI admits this torch")
        else:
            rep.note(f"{v}: no {name} ({comp.note})")
        return
    got = (comp.version, comp.matched, comp.requires_torch, tuple(comp.pythons))
    expected = (want.version, want.matched, want.requires_torch, tuple(want.pythons))
    if got != expected:
        rep.bad(f"{v}: companion {name} (version, matched, requires torch, Pythons) is {got} in the catalog, "
                f"{expected} from PyPI's metadata")
    elif not comp.matched:
        rep.note(f"{v}: {name} {comp.version} is not built for this release ({comp.note})")


def claims(obs: dict, catalog, rep: Report) -> None:
    for what, v, kind, expected in CLAIMS:
        o = obs.get(v)
        rel = catalog.release(v)
        if o is None or rel is None:
            rep.bad(f"claim '{what}': release {v} unknown")
            continue
        x86 = o["wheels"].get(("linux", "x86_64"), set())
        if kind == "pythons-x86":
            got = " ".join(sorted({w[0] for w in x86}, key=B.py_sort))
        elif kind == "no-cp315":
            got = "" if not any(w[0].startswith("cp315") for ws in o["wheels"].values() for w in ws) else "cp315 present"
        elif kind == "cuda-x86":
            got = str(o["pins"].get(("linux", "x86_64"), (None, None))[0])
        elif kind == "cuda-arm":
            got = str(o["pins"].get(("linux", "aarch64"), (None, None))[0])
        elif kind == "cudnn-x86":
            got = str(o["pins"].get(("linux", "x86_64"), (None, None))[1])
        elif kind == "torchvision-minor":
            comp = rel.companion("torchvision")
            got = ".".join(comp.version.split(".")[:2]) if comp and comp.version else "None"
        elif kind == "platform-x86":
            got = " ".join(sorted({w[2] for w in x86}))
        elif kind == "has-macos-x86":
            got = str(("macos", "x86_64") in o["wheels"])
        elif kind == "macos-floor":
            floors = sorted({platform_floor(w[2])[2] for w in o["wheels"].get(("macos", "aarch64"), set())})
            got = " ".join(f"{a}.{b}" for a, b in floors)
        elif kind in ("arch-x86", "arch-arm"):
            key = ("linux", "x86_64" if kind == "arch-x86" else "aarch64")
            flags = o.get("arch", {}).get(key)
            got = " ".join(flags) if flags else "None"
        elif kind == "has-cp313t":
            got = str(any(w[0] == "cp313t" for ws in o["wheels"].values() for w in ws))
        else:
            raise ValueError(kind)
        if got != expected:
            rep.claims.append(f"{what}: expected {expected!r}, PyPI shows {got!r}")
        else:
            rep.note(f"research claim confirmed by PyPI: {what}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Compare the catalog snapshot with live PyPI metadata.")
    ap.add_argument("--catalog", type=Path, default=embedded_path())
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "torchup-maintainer" / "pypi")
    ap.add_argument("--fresh", action="store_true", help="re-read the project pages (wheel metadata stays cached)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    catalog = read_catalog_file(args.catalog)
    fetcher = pypi_metadata.Fetcher(args.cache)
    base = pypi_metadata.index_url()
    view = B.PyPIView.__new__(B.PyPIView)
    view.fetcher, view.base = fetcher, base
    view.pages = {p: fetcher.project(base, p, fresh=args.fresh) for p in ("torch", "torchvision", "torchaudio")}
    rep = Report()
    obs = check(catalog, view, rep)
    claims(obs, catalog, rep)
    if args.json:
        print(json.dumps({"disagreements": rep.problems, "research_claims_refuted": rep.claims, "notes": rep.notes}, indent=2))
    else:
        print(f"catalog {args.catalog} (data {catalog.data_date}, {len(catalog.releases)} releases) vs PyPI: "
              f"{len(obs)} releases >= {B.FIRST}")
        for line in rep.notes:
            print(f"  note: {line}")
        for line in rep.claims:
            print(f"  RESEARCH CLAIM REFUTED: {line}")
        for line in rep.problems:
            print(f"  DISAGREES: {line}")
        print(f"{len(rep.problems)} disagreement(s) between the catalog and PyPI; "
              f"{len(rep.claims)} research claim(s) refuted by PyPI")
    return 1 if rep.problems else 0


if __name__ == "__main__":
    sys.exit(main())
