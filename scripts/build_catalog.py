#!/usr/bin/env python3
"""Regenerate src/torchup/catalog/data/catalog.json from PyPI and scripts/catalog_facts.py.

    python scripts/build_catalog.py [--cache DIR] [--offline] [--date YYYY-MM-DD]

PyPI (the index pip is configured with here, see pypi_metadata.index_url) gives
every torch release from 1.13 on: its files' Python / ABI / platform tags, upload
dates and Requires-Python, the CUDA and cuDNN pins of the default Linux builds,
and the torch pins of torchvision / torchaudio.  catalog_facts.py gives what
only PyTorch's own index and build scripts know.  The script stops with an error
when the two disagree on something both know (a default build whose pins do not
match the variant the facts name).
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import re
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import parse_wheel_filename
from packaging.version import Version

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "src"))

import catalog_facts as F  # noqa: E402
import pypi_metadata  # noqa: E402

from torchup.catalog.companions import CompanionRelease, pick_companion, pythons_of_tags  # noqa: E402
from torchup.catalog.load import catalog_from_dict  # noqa: E402
from torchup.catalog.model import parse_arch_list, platform_floor  # noqa: E402

FIRST = Version("1.13")
OUT = ROOT / "src" / "torchup" / "catalog" / "data" / "catalog.json"
PLATFORM_KEYS = {("linux", "x86_64"): F.X86, ("linux", "aarch64"): F.ARM, ("windows", "x86_64"): F.WIN,
                 ("macos", "aarch64"): "macos-aarch64", ("macos", "x86_64"): "macos-x86_64"}
MARKER_ENV = {
    F.X86: {"platform_system": "Linux", "platform_machine": "x86_64", "sys_platform": "linux"},
    F.ARM: {"platform_system": "Linux", "platform_machine": "aarch64", "sys_platform": "linux"},
}


def minor_of(version: str) -> str:
    return ".".join(version.split(".")[:2])


def prov(source: str, confirmed: bool) -> str:
    return source if confirmed else "?" + source


def py_sort(tag: str) -> tuple:
    digits = tag[2:].rstrip("tm")
    return int(digits[0]), int(digits[1:] or 0), tag.endswith("t")


class PyPIView:
    """What the builder needs from PyPI, read through the maintainer fetcher."""

    def __init__(self, fetcher: pypi_metadata.Fetcher, base: str) -> None:
        self.fetcher = fetcher
        self.base = base
        self.pages = {p: fetcher.project(base, p) for p in ("torch", "torchvision", "torchaudio")}

    def files(self, project: str) -> dict[Version, list[dict]]:
        out: dict[Version, list[dict]] = collections.defaultdict(list)
        for f in self.pages[project]["files"]:
            if not f["filename"].endswith(".whl"):
                continue
            _, ver, build, tags = parse_wheel_filename(f["filename"])
            out[ver].append({**f, "_tags": tags, "_build": build})
        return out

    def metadata(self, file: dict) -> str:
        return self.fetcher.wheel_metadata(file)


def cuda_pins(metadata: str, platform_key: str, python: str) -> tuple[str | None, str | None]:
    """(CUDA major.minor, cuDNN) of the nvidia pins that apply on this platform."""
    env = dict(MARKER_ENV[platform_key])
    env.update({"python_version": python, "python_full_version": python + ".0", "implementation_name": "cpython",
                "platform_python_implementation": "CPython", "os_name": "posix", "extra": ""})
    cuda = cudnn = None
    for line in metadata.splitlines():
        if not line.startswith("Requires-Dist:"):
            continue
        req = Requirement(line.split(":", 1)[1].strip())
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        pins = [s.version for s in req.specifier if s.operator == "=="]
        if not pins:
            continue
        if req.name in ("nvidia-cuda-runtime-cu11", "nvidia-cuda-runtime-cu12", "nvidia-cuda-runtime", "cuda-toolkit"):
            cuda = ".".join(pins[0].split(".")[:2])
        elif req.name.startswith("nvidia-cudnn-cu"):
            cudnn = pins[0]
    return cuda, cudnn


def variant_cuda(variant: str) -> str | None:
    m = re.fullmatch(r"cu(\d+)(\d)", variant)
    return f"{m.group(1)}.{m.group(2)}" if m else None


def index_platform(version: Version, variant: str, os_: str, arch: str, pypi_platform: str) -> tuple[str, bool, str]:
    """Platform tag of a download.pytorch.org build: (tag, confirmed, source)."""
    if os_ != "linux" or variant == "cpu" and arch == "aarch64":
        return pypi_platform, False, "PATTERN"
    if version < Version("2.6") or (version < Version("2.7") and variant in ("cu118", "cu124", "cpu") or
                                    version < Version("2.7") and variant.startswith("rocm")):
        return f"linux_{arch}", False, "GLIBC-2.17"
    return f"manylinux_2_28_{arch}", False, "MANYLINUX-2.28"


def ti_validates(minor: str, variant: str, pkey: str, wheels: dict[str, list[str]]) -> bool:
    """Whether test-infra's release matrix lists this variant on this platform and validates every Python
    version of its wheels ({platform: ["cp312", "cp313t", ...]})."""
    row = F.TI_PYTHONS.get(minor)
    if row is None or variant not in F.TI_VARIANTS[minor].get(pkey, "").split():
        return False
    listed = set(row[1].split())
    tags = {t.split("/")[0] for tags in wheels.values() for t in tags}
    return bool(tags) and all(f"{t[2]}.{t[3:]}" in listed for t in tags)


def ti_glibc(minor: str, variant: str, pkey: str) -> str | None:
    """The glibc of the builder image test-infra's release matrix names for this build, or None."""
    if variant not in F.TI_VARIANTS.get(minor, {}).get(pkey, "").split():
        return None
    if variant in F.TI_GLIBC_2_17.get(minor, {}).get(pkey, "").split():
        return "2.17"
    return "2.28" if pkey == F.X86 or variant == "cpu" else None


def glibc_for(platform: str) -> tuple[str, bool, str]:
    os_, _, floor = platform_floor(platform)
    if floor and floor >= (2, 28):
        return f"{floor[0]}.{floor[1]}", True, "PYPI"
    return "2.17", False, "GLIBC-2.17"


def arches(minor: str, version: str, variant: str, pkey: str) -> tuple[dict, str | None, bool]:
    exact = F.ARCH_EXACT.get((version, variant, pkey))
    if exact:
        text, ok, src = exact
    else:
        row = F.ARCH.get((minor, variant))
        if row is None:
            return {}, None, False
        x86, arm, ok, src = row
        text = arm if pkey == F.ARM else x86
        if text is None:
            return {}, None, False
        if pkey == F.WIN and Version(minor + ".0") >= Version("2.12") and "+PTX" in text:
            # REL: "+PTX available on linux builds only"; a list without PTX is the same on Windows
            text = text.replace("+PTX", "")
            ok = False
    sass, ptx = parse_arch_list(text)
    out = {"sass": list(sass), "ptx": list(ptx)}
    return out, src, ok


def companion_releases(files: dict[Version, list[dict]], view: PyPIView) -> list[CompanionRelease]:
    """What PyPI shows of each torchvision / torchaudio release: first upload day, the torch
    requirement in its metadata, its wheels' Python tags."""
    out = []
    for ver, fs in sorted(files.items()):
        spec = None
        for line in view.metadata(fs[0]).splitlines():
            if line.startswith("Requires-Dist:"):
                req = Requirement(line.split(":", 1)[1].strip())
                if req.name == "torch":
                    spec = str(req.specifier) or None
        out.append(CompanionRelease(version=str(ver), released=min(f["upload-time"][:10] for f in fs),
                                    requires_torch=spec, pythons=pythons_of_tags(t for f in fs for t in f["_tags"])))
    return out


def companion(torch_v: Version, torch_day: str, project: str, releases: list[CompanionRelease]) -> dict:
    """The companion of ``torch_v`` as catalog JSON, by the rule shared with the refresh."""
    comp = pick_companion(project, str(torch_v), torch_day, releases, source="PYPI-METADATA")
    if comp is None:
        return {"name": project, "version": None, "note": f"no {project} release admits this torch",
                "prov": "PYPI-METADATA"}
    return {"name": project, "version": comp.version, "matched": comp.matched, "pythons": list(comp.pythons),
            "requires_torch": comp.requires_torch, "note": comp.note, "prov": "PYPI-METADATA"}


def build_release(version: Version, tfiles: list[dict], view: PyPIView, vision, audio) -> dict:
    v = str(version)
    minor = minor_of(v)
    day = min(f["upload-time"][:10] for f in tfiles)
    rps = {f.get("requires-python") for f in tfiles}
    rel: dict = {"version": v, "released": day, "prov": {"released": "PYPI", "requires_python": "PYPI"}}
    if len(rps) == 1 and None not in rps:
        rel["requires_python"] = rps.pop()
    notes = []
    if any(f["_build"] for f in tfiles):
        notes.append("PyPI also holds re-uploaded wheels with a build number for some tags (the newest build is chosen by pip)")
    if any(f.get("yanked") for f in tfiles):
        notes.append("some files of this release are yanked on PyPI")
    # PyPI wheels per platform
    per: dict[tuple[str, str], dict[tuple[str, str], str]] = collections.defaultdict(dict)
    meta_file: dict[tuple[str, str], dict] = {}
    for f in sorted(tfiles, key=lambda f: (f["_build"] or (0, "")), reverse=True):
        for t in f["_tags"]:
            os_, arch, _ = platform_floor(t.platform)
            if (os_, arch) not in PLATFORM_KEYS:
                continue
            py = t.interpreter + ("t" if t.abi.endswith("t") else "")
            per[(os_, arch)].setdefault((py, t.abi), t.platform)
            meta_file.setdefault((os_, arch), f)
    builds = []
    for (os_, arch), wheels in sorted(per.items()):
        pkey = PLATFORM_KEYS[(os_, arch)]
        default = F.PYPI_DEFAULT[minor][pkey]
        wlist = sorted(wheels.items(), key=lambda kv: py_sort(kv[0][0]))
        pypi_wheels: dict[str, list[str]] = {}
        for (py, abi), plat in wlist:
            pypi_wheels.setdefault(plat, []).append(py if py == abi else f"{py}/{abi}")
        pypi_cuda = pypi_cudnn = None
        if os_ == "linux":
            py0 = wlist[0][0][0]
            pyver = f"{py0[2]}.{py0[3:].rstrip('t')}"
            pypi_cuda, pypi_cudnn = cuda_pins(view.metadata(meta_file[(os_, arch)]), pkey, pyver)
            if pypi_cuda != variant_cuda(default):
                raise SystemExit(f"torch {v} {pkey}: PyPI pins say CUDA {pypi_cuda}, catalog_facts says {default}")
        variants = [(default, True, "PYPI-SCRIPT")]
        for name, ok, src in F.VARIANTS.get(minor, {}).get(pkey, []) + F.VARIANTS_PATCH.get(v, {}).get(pkey, []):
            if name != default:
                variants.append((name, ok, src))
        if default != "cpu" and os_ == "linux":
            variants.append(("cpu", True, "TI"))
        default_prov = None  # the evidence for which build PyPI serves here: it also says the others are not
        for name, ok, src in variants:
            is_default = name == default
            b: dict = {"variant": name, "os": os_, "arch": arch, "prov": {}}
            p = b["prov"]
            if is_default:
                b["wheels"] = pypi_wheels
                b["pypi_default"] = True
                p["exists"] = "PYPI"
                p["wheels"] = "PYPI"
                p["pypi_default"] = "PYPI-METADATA" if os_ == "linux" else "PYPI-SCRIPT"
                if name == "cpu" and os_ in ("linux", "windows"):
                    # a CPU build has no CUDA arch flags in its torch_python library: check it
                    flags = view.fetcher.wheel_arch_flags(meta_file[(os_, arch)])
                    if flags:
                        raise SystemExit(f"torch {v} {pkey}: catalog_facts says CPU, the PyPI wheel has {flags}")
                    p["pypi_default"] = "PYPI-WHEEL-ARCH"
                default_prov = p["pypi_default"]
            else:
                ws: dict[str, list[str]] = {}
                platform_src = "PATTERN"
                for (py, abi), plat in wlist:
                    if name.startswith("rocm") or name == "xpu":
                        if py.endswith("t"):
                            continue  # no evidence of free-threaded ROCm / XPU wheels
                    iplat, _, platform_src = index_platform(version, name, os_, arch, plat)
                    ws.setdefault(iplat, []).append(py if py == abi else f"{py}/{abi}")
                b["wheels"] = ws
                p["exists"] = prov(src, ok)
                p["wheels"] = "TI-PY" if ok and ti_validates(minor, name, pkey, ws) else "?PATTERN"
                if default_prov:
                    p["pypi_default"] = default_prov
            if os_ != "macos":
                b["local_label"] = name
            b["index_suffix"] = name
            if os_ == "linux":
                plat0 = next(iter(b["wheels"]))
                g, gok, gsrc = glibc_for(plat0)
                b["glibc_min"] = g
                # a build only on PyTorch's index has an inferred platform tag: its floor is no surer than the tag
                p["glibc_min"] = prov(gsrc, gok) if is_default else prov(platform_src if gsrc == "PYPI" else gsrc, False)
                image = ti_glibc(minor, name, pkey)
                if is_default and image and image != g:
                    # the release matrix's image must agree with the PyPI wheel of the same build, or it is no source
                    raise SystemExit(f"torch {v} {pkey} {name}: PyPI's tag says glibc {g}, the test-infra image {image}")
                if p["glibc_min"].startswith("?") and image == g:
                    p["glibc_min"] = "TI-IMAGE"
            if os_ == "macos":
                floors = [platform_floor(pl)[2] for pl in b["wheels"]]
                lo = min(f for f in floors if f)
                b["macos_min"] = f"{lo[0]}.{lo[1]}"
                p["macos_min"] = "PYPI"
                b["notes"] = ["macOS builds have no local version label; the arm64 build includes MPS (Apple GPU)"]
            cu = variant_cuda(name)
            if cu:
                b["cuda"] = cu
                p["cuda"] = "PYPI-METADATA" if is_default and pypi_cuda else prov(src, ok)
                arch_data, asrc, aok = arches(minor, v, name, pkey)
                if is_default and os_ == "linux":
                    flags = view.fetcher.wheel_arch_flags(meta_file[(os_, arch)])
                    if len(flags) != 1:
                        raise SystemExit(f"torch {v} {pkey}: arch flags in libtorch_python.so: {flags}")
                    sass, ptx = parse_arch_list(flags[0])
                    real = {"sass": list(sass), "ptx": list(ptx)}
                    if arch_data and arch_data != real:
                        print(f"note: torch {v} {pkey} {name}: catalog_facts says {arch_data}, the PyPI wheel has "
                              f"{flags[0]!r} (the wheel wins)", file=sys.stderr)
                    arch_data, asrc, aok = real, "PYPI-WHEEL-ARCH", True
                if arch_data:
                    b.update({k: val for k, val in arch_data.items() if val})
                    p["arches"] = prov(asrc, aok)
                cudnn = pypi_cudnn if is_default and pypi_cudnn else F.CUDNN.get((minor, name))
                if cudnn:
                    b["cudnn"] = cudnn
                    p["cudnn"] = "PYPI-METADATA" if is_default and pypi_cudnn else "?REL"
            if name.startswith("rocm"):
                rv = name[4:]
                b["rocm"] = rv
                p["rocm"] = prov(src, ok)
                gfx, gok, gsrc = F.ROCM_GFX[rv]
                b["gfx"] = gfx.split()
                p["gfx"] = prov(gsrc, gok)
            builds.append(b)
    rel["builds"] = builds
    comps = [companion(version, day, "torchvision", vision), companion(version, day, "torchaudio", audio)]
    rel["companions"] = [{k: val for k, val in c.items() if val not in (None, False, [], "")} | {"name": c["name"]} for c in comps]
    if notes:
        rel["notes"] = notes
    return rel


def platform_notes(tfiles: dict[Version, list[dict]]) -> list[dict]:
    """The hand-kept notes on platforms without release builds; stop if PyPI has a wheel for one of them."""
    on_pypi = {platform_floor(t.platform)[:2] for fs in tfiles.values() for f in fs for t in f["_tags"]}
    out = []
    for os_, arch, note, ok, src in F.PLATFORMS:
        if (os_, arch) in on_pypi:
            raise SystemExit(f"catalog_facts.PLATFORMS says {os_} {arch} has no release build; PyPI has wheels for it")
        out.append({"os": os_, "arch": arch, "note": note, "prov": prov(src, ok)})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "torchup-maintainer" / "pypi")
    ap.add_argument("--offline", action="store_true", help="use only cached PyPI answers")
    ap.add_argument("--date", default=dt.date.today().isoformat(), help="the data date written in the snapshot")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    fetcher = pypi_metadata.Fetcher(args.cache, offline=args.offline)
    view = PyPIView(fetcher, pypi_metadata.index_url())
    tfiles = view.files("torch")
    vision = companion_releases(view.files("torchvision"), view)
    audio = companion_releases(view.files("torchaudio"), view)
    releases = [build_release(v, fs, view, vision, audio) for v, fs in sorted(tfiles.items())
                if v >= FIRST and not v.is_prerelease]
    from torchup.catalog import hardware

    data = {"format": 1, "data_date": args.date, "sources": {**F.SOURCES, **hardware.SOURCES}, "releases": releases,
            "platforms": platform_notes(tfiles)}
    catalog_from_dict(data, origin="built")  # validates
    text = json.dumps(data, separators=(",", ":"), sort_keys=False)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(text + "\n")
    tmp.replace(args.out)
    print(f"wrote {args.out} ({len(text)} bytes, {len(releases)} releases, "
          f"{sum(len(r['builds']) for r in releases)} builds)")
    from build_catalog_snapshot import build

    print(f"wrote {build(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
