"""What the target environment looks like, learned by running a stdlib-only
script inside the target interpreter (``_target_script.py``)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from torchup.errors import EnvironmentProblem
from torchup.inspection import TIMEOUT_S, start_inspection
from torchup.metadata import canonical_name
from torchup.record import field, record
from torchup.runner import Runner, Started

TYPE_CHECKING = False  # typing is not imported at run time: start-up cost (issue 15)
if TYPE_CHECKING:
    from typing import Any


__all__ = ["Distribution", "TargetEnv", "inspect_target", "installed_versions", "parse_target"]

_TIMEOUT_S = TIMEOUT_S


@record
class Distribution:
    name: str
    version: str
    requires: tuple[str, ...] = ()
    installer: str | None = None  # "pip", "uv", "conda"... (the INSTALLER file)
    origin: str | None = None  # direct_url.json url: a local path, VCS or wheel URL
    dist_info: str | None = None

    @property
    def key(self) -> str:
        return canonical_name(self.name)

    def to_json(self) -> dict:
        return {"name": self.name, "version": self.version, "installer": self.installer, "origin": self.origin}


@record
class TargetEnv:
    executable: str
    version: str
    prefix: str
    in_venv: bool
    conda: bool
    site_dirs: tuple[str, ...]
    scripts: str | None
    not_writable: Mapping[str, str]  # path -> why
    externally_managed: Mapping[str, str] | None  # {"path", "message"} or None
    has_pip: bool
    markers: Mapping[str, str]
    distributions: tuple[Distribution, ...]
    # sysconfig.get_platform(), libc ("glibc 2.35"), mac_version, abiflags: for its wheel tags
    platform: Mapping[str, str] = field(default_factory=dict)

    def find(self, name: str) -> Distribution | None:
        key = canonical_name(name)
        return next((d for d in self.distributions if d.key == key), None)

    def freeze(self) -> list[str]:
        """``name==version`` lines, sorted: what ``pip freeze`` would show for the site dirs."""
        return sorted(f"{d.name}=={d.version}" for d in self.distributions)


def inspect_target(runner: Runner, python: str, *, started: Started | None = None) -> TargetEnv:
    """Run the inspection script in ``python`` (or wait for the one ``started`` already:
    ``torchup.inspection``); raise ``EnvironmentProblem`` when it cannot."""
    result = (started or start_inspection(runner, python, timeout=_TIMEOUT_S)).wait()
    if not result.ok:
        why = result.error or (
            f"it did not answer within {_TIMEOUT_S:g} s and was stopped"
            if result.timed_out
            else (result.stderr.strip().splitlines() or ["no output"])[-1]
        )
        raise EnvironmentProblem(
            f"cannot inspect the target Python {python}: {why}",
            hint=f"check that it runs (`{python} -c pass`) or name another with --python",
        )
    return parse_target(result.stdout, python)


def parse_target(text: str, python: str = "the target Python") -> TargetEnv:
    """Pure: the script's JSON to a ``TargetEnv``; garbage gives a clear error."""
    try:
        raw: Any = json.loads(text)
        dists = tuple(
            Distribution(
                name=str(d["name"]),
                version=str(d["version"]),
                requires=tuple(str(r) for r in d.get("requires") or ()),
                installer=d.get("installer"),
                origin=(d.get("direct_url") or {}).get("url") if isinstance(d.get("direct_url"), dict) else None,
                dist_info=d.get("dist_info"),
            )
            for d in raw["distributions"]
        )
        return TargetEnv(
            executable=str(raw["executable"]),
            version=str(raw["version"]),
            prefix=str(raw["prefix"]),
            in_venv=bool(raw["in_venv"]),
            conda=bool(raw.get("conda")),
            site_dirs=tuple(str(p) for p in raw["site_dirs"]),
            scripts=raw.get("scripts"),
            not_writable={str(k): str(v) for k, v in raw["writable"].items() if v},
            externally_managed=raw.get("externally_managed"),
            has_pip=bool(raw.get("has_pip")),
            markers={str(k): str(v) for k, v in raw["markers"].items()},
            distributions=tuple(sorted(dists, key=lambda d: d.key)),
            platform={str(k): str(v) for k, v in (raw.get("platform") or {}).items()},
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise EnvironmentProblem(
            f"{python} answered something torchup cannot read ({type(exc).__name__}: {exc})",
            hint="run it by hand to see what it prints; is it a real CPython?",
        ) from None


def installed_versions(site_dirs: tuple[str, ...], name: str) -> list[str]:
    """Versions of ``name`` installed in ``site_dirs``, read from the ``.dist-info``
    directory names (``torch-2.14.1+cu126.dist-info``): a cheap check after an install."""
    key = canonical_name(name)
    out = []
    for site in site_dirs:
        try:
            entries = os.listdir(site)
        except OSError:
            continue
        for entry in entries:
            if entry.endswith(".dist-info") and "-" in entry:
                dist, version = entry[: -len(".dist-info")].split("-", 1)
                if canonical_name(dist) == key:
                    out.append(version)
    return sorted(out)
