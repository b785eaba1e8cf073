"""The target Python: facts learned by running ``_target_script.py`` inside it.

Wheel tags are not listed by the script: it reports the facts they derive from
(version, implementation, free-threading, pointer size, platform, libc, macOS
version), which the Machine keeps, so a hand-written machine file says as much
as a probed one; the catalog rules match wheel tags against those facts
(docs/probing.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from torchup.record import field, record
from torchup.system import System
from torchup.target import TARGET_SCRIPT, TargetProbe, start_target_probe

__all__ = ["TARGET_SCRIPT", "TargetFacts", "parse_target_output", "run_target_script", "target_facts"]

_MARK = "TORCHUP_TARGET_JSON:"


@record
class TargetFacts:
    version: tuple[int, int, int]
    implementation: str
    executable: str
    prefix: str
    bits: int
    free_threaded: bool
    platform: str  # sys.platform
    machine: str  # platform.machine() of the target (x86_64 under Rosetta)
    sysconfig_platform: str
    libc: tuple[str, str] | None  # ("glibc", "2.36")
    mac_ver: str | None
    env_kind: str
    uv_venv_version: str | None
    externally_managed: str | None  # path of the PEP 668 marker when it applies
    pip: bool
    uv: str | None
    installed: Mapping[str, str] = field(default_factory=dict)


def parse_target_output(stdout: str) -> TargetFacts:
    """The script's answer; ``ValueError`` saying why when it is not usable."""
    line = next((ln for ln in reversed(stdout.splitlines()) if ln.startswith(_MARK)), None)
    if line is None:
        raise ValueError("it printed no answer")
    try:
        d = json.loads(line[len(_MARK) :])
        _check_types(d)
        version = tuple(int(v) for v in d["version"])
        libc = d.get("libc")
        return TargetFacts(
            version=(version[0], version[1], version[2]),
            implementation=str(d["implementation"]).lower(),
            executable=str(d["executable"]),
            prefix=str(d["prefix"]),
            bits=int(d["bits"]),
            free_threaded=bool(d["free_threaded"]),
            platform=str(d["platform"]),
            machine=str(d["machine"]),
            sysconfig_platform=str(d.get("sysconfig_platform") or ""),
            libc=(str(libc[0]), str(libc[1])) if libc else None,
            mac_ver=d.get("mac_ver") or None,
            env_kind=str(d["env_kind"]),
            uv_venv_version=d.get("uv_venv_version"),
            externally_managed=d.get("externally_managed"),
            pip=bool(d["pip"]),
            uv=d.get("uv"),
            installed={str(k): str(v) for k, v in (d.get("installed") or {}).items()},
        )
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise ValueError(f"its answer is malformed ({type(exc).__name__}: {exc})") from None


_TEXT = ("implementation", "executable", "prefix", "platform", "machine", "env_kind")
_TEXT_OR_NONE = ("sysconfig_platform", "mac_ver", "uv_venv_version", "externally_managed", "uv")


def _check_types(d) -> None:
    """``TypeError`` naming the first field of the script's answer that has the wrong type or an
    impossible value: whatever prints the marker line (a wrapper, another program named python)
    is held to what torchup's own script writes, so no such value reaches a machine file."""
    from torchup.machine import ENV_KINDS

    if not isinstance(d, dict):
        raise TypeError("not an object")
    version = d.get("version")
    if not (isinstance(version, list) and 3 <= len(version) <= 5 and all(type(v) is int for v in version[:3])):
        raise TypeError(f"version {version!r}")
    if not all(0 <= v < 1000 for v in version[:3]):
        raise TypeError(f"version {version!r}")
    for key in _TEXT:
        if not isinstance(d.get(key), str):
            raise TypeError(f"{key} {d.get(key)!r}")
    for key in _TEXT_OR_NONE:
        if d.get(key) is not None and not isinstance(d[key], str):
            raise TypeError(f"{key} {d[key]!r}")
    if d.get("bits") not in (32, 64) or type(d.get("bits")) is not int:
        raise TypeError(f"bits {d.get('bits')!r}")
    if d["env_kind"] not in ENV_KINDS:
        raise TypeError(f"env_kind {d['env_kind']!r}")
    libc = d.get("libc")
    if libc and not (isinstance(libc, list) and len(libc) == 2 and all(isinstance(x, str) for x in libc)):
        raise TypeError(f"libc {libc!r}")
    installed = d.get("installed")
    if installed is not None and not (
        isinstance(installed, dict) and all(isinstance(v, str) for v in installed.values())
    ):
        raise TypeError("installed is not an object of versions")
    for key in ("free_threaded", "pip"):
        if not isinstance(d.get(key), bool):
            raise TypeError(f"{key} {d.get(key)!r}")


def target_facts(probe: TargetProbe) -> tuple[TargetFacts | None, str | None]:
    """The facts ``probe`` brings (waiting for its child); ``(None, why)`` when there are none.
    A good answer from a child is kept in the cache (``TargetProbe.remember``)."""
    python = probe.python
    r = probe.result()
    if r.timed_out:
        return None, f"{python} did not answer within {probe.timeout:g} s"
    if r.error:
        return None, f"{python}: {r.error}"
    try:
        facts = parse_target_output(r.stdout)
    except ValueError as exc:
        detail = (r.stderr.strip().splitlines() or [""])[-1]
        return None, f"{python} (exit status {r.returncode}): {exc}" + (f": {detail}" if detail else "")
    probe.remember()
    return facts, None


def run_target_script(system: System, python: str, *, timeout: float) -> tuple[TargetFacts | None, str | None]:
    """Run the script in ``python`` now, no cache; returns ``(TargetFacts | None, error | None)``."""
    return target_facts(start_target_probe(system, python, timeout=timeout, cache=False))
