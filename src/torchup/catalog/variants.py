"""PyTorch's wheel-variant metadata: ``torch-<version>-variants.json`` on its variant index.

A variant-aware installer (uv with ``--preview-features wheel-variants``) reads this file from the
project page of ``<index base>/variant/torch/`` and picks one of the variant wheels it lists
(``torch-2.10.0-cp312-cp312-manylinux_2_28_x86_64-cu128.whl``) with the properties its variant
providers detect on the machine.  torchup reads the same file to check that what the provider would
compare is what torchup checked: the CUDA version the driver must support
(``nvidia :: cuda_version_lower_bound``) and the GPU architectures built
(``nvidia :: sm_arch :: 90_real``).

The shape (``$schema``, ``default-priorities``, ``providers``, ``variants``: label -> namespace ->
feature -> values) is that of the published ``torch-2.8.0-variants.json`` shown in WheelNext's
PyTorch tutorial (wheelnext/pep_xxx_wheel_variants, docs/tutorials/PyTorch.md); PEP 825 keeps it and
names the property-less variant ``null``.  The parser is pure; ``read_variant_metadata`` is the one
network read, through ``torchup.http`` (``catalog refresh`` calls it for the newest release and keeps
the file in the catalog cache: ``save_variant_metadata``); ``plan`` reads the kept copy
(``cached_variant_metadata``) and never the network.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from torchup.lazyre import lazy
from torchup.record import record

TYPE_CHECKING = False  # pathlib is not imported on plan's path: start-up cost (issue 15)
if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "VariantMetadata",
    "VariantMetadataError",
    "WheelVariant",
    "cached_variant_metadata",
    "metadata_url",
    "parse_variant_metadata",
    "read_variant_metadata",
    "save_variant_metadata",
    "why_not_variant",
]

# PEP 825 / WheelNext: namespace and feature [a-z0-9_]+, value [a-z0-9_.]+, label [0-9a-z._]{1,16}
_NAME = lazy(r"^[a-z0-9_]+$")
_VALUE = lazy(r"^[a-z0-9_.]+$")
_LABEL = lazy(r"^[0-9a-z._]{1,16}$")
_SM = lazy(r"^(\d{1,4})_(real|virtual)$")
_VERSION = lazy(r"\d{1,6}(\.\d{1,6}){0,3}")
_MAX_BYTES = 1 << 20  # the published file is a few KB


class VariantMetadataError(ValueError):
    """The file is not variant metadata; ``problems`` lists every bad field by its path."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@record
class WheelVariant:
    label: str  # "cu128"; "null" (or the older "00000000") for the variant without properties
    properties: Mapping[str, Mapping[str, tuple[str, ...]]]  # namespace -> feature -> values

    def values(self, namespace: str, feature: str) -> tuple[str, ...]:
        return tuple(self.properties.get(namespace, {}).get(feature, ()))


@record
class VariantMetadata:
    schema: str | None
    namespaces: tuple[str, ...]  # default-priorities.namespace, most preferred first
    variants: tuple[WheelVariant, ...]
    source: str  # where it was read: a URL or a file

    def variant(self, label: str) -> WheelVariant | None:
        return next((v for v in self.variants if v.label == label), None)


def metadata_url(index_base: str, version: str) -> str:
    """``https://download.pytorch.org/whl/variant/torch/torch-2.10.0-variants.json``."""
    return f"{index_base.rstrip('/')}/variant/torch/torch-{version}-variants.json"


def parse_variant_metadata(text: str | bytes, *, source: str) -> VariantMetadata:
    """The variants listed in a ``*-variants.json``; ``VariantMetadataError`` naming every bad field."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as err:
        raise VariantMetadataError([f"not JSON: {err}"]) from None
    if not isinstance(data, dict):
        raise VariantMetadataError(["the top level is not an object"])
    problems: list[str] = []
    schema = data.get("$schema")
    if schema is not None and not isinstance(schema, str):
        problems.append("$schema: not a string")
        schema = None
    priorities = data.get("default-priorities")
    namespaces = priorities.get("namespace") if isinstance(priorities, dict) else None
    if not isinstance(namespaces, list) or not all(isinstance(n, str) and _NAME.match(n) for n in namespaces):
        problems.append("default-priorities.namespace: not a list of namespace names")
        namespaces = []
    raw = data.get("variants")
    if not isinstance(raw, dict) or not raw:
        problems.append("variants: missing or empty")
        raw = {}
    variants = []
    for label, body in raw.items():
        where = f"variants.{label}"
        if not _LABEL.match(label):
            problems.append(f"{where}: not a variant label ([0-9a-z._], 1 to 16 characters)")
            continue
        if not isinstance(body, dict):
            problems.append(f"{where}: not an object")
            continue
        properties: dict[str, dict[str, tuple[str, ...]]] = {}
        for namespace, features in body.items():
            if namespace not in namespaces:
                problems.append(f"{where}.{namespace}: namespace not in default-priorities.namespace")
            if not isinstance(features, dict):
                problems.append(f"{where}.{namespace}: not an object")
                continue
            for feature, values in features.items():
                at = f"{where}.{namespace}.{feature}"
                if not _NAME.match(feature):
                    problems.append(f"{at}: not a feature name")
                elif not isinstance(values, list) or not values:
                    problems.append(f"{at}: not a non-empty list")
                elif not all(isinstance(v, str) and _VALUE.match(v) for v in values):
                    problems.append(f"{at}: a value is not [a-z0-9_.]")
                else:
                    properties.setdefault(namespace, {})[feature] = tuple(values)
        variants.append(WheelVariant(label=label, properties=properties))
    if problems:
        raise VariantMetadataError(problems)
    return VariantMetadata(schema=schema, namespaces=tuple(namespaces), variants=tuple(variants), source=source)


def _version(text: str) -> tuple[int, ...] | None:
    # bounded: int() of a hostile 5000-digit value raises, and no version torchup compares is that long
    return tuple(int(p) for p in text.split(".")) if _VERSION.fullmatch(text) else None


def _sm_fits(compute_capability: str, sm_arch: tuple[str, ...]) -> bool:
    """A GPU of compute capability X.Y runs a build with ``XY_real`` or a real cubin of the same
    major and a lower minor (binary compatible within a major), or PTX (``NN_virtual``) of an
    architecture at most its own, which the driver compiles for it."""
    cc = _version(compute_capability)
    if cc is None or len(cc) != 2:
        return False
    major, minor = cc
    for entry in sm_arch:
        m = _SM.match(entry)
        if not m:
            continue
        number = int(m.group(1))
        arch = (number // 10, number % 10)
        if m.group(2) == "real" and arch[0] == major and arch[1] <= minor:
            return True
        if m.group(2) == "virtual" and arch <= (major, minor):
            return True
    return False


def why_not_variant(
    variant: WheelVariant, *, cuda_driver_max: str | None, compute_capabilities: list[str]
) -> str | None:
    """Why this variant wheel does not fit a machine whose driver supports CUDA up to
    ``cuda_driver_max`` with GPUs of these compute capabilities; None when it fits (or says nothing
    about NVIDIA).  The same two facts uv's NVIDIA provider compares."""
    lower = variant.values("nvidia", "cuda_version_lower_bound")
    upper = variant.values("nvidia", "cuda_version_upper_bound")
    unreadable = [v for v in (*lower, *upper) if _version(v) is None]
    if unreadable:
        return f"has a CUDA bound torchup cannot read ({unreadable[0][:20]})"
    if lower or upper:
        driver = _version(cuda_driver_max) if cuda_driver_max else None
        if driver is None:
            return "the driver's CUDA version is unknown, and this variant needs one"
        if lower and driver < max(_version(v) or (0,) for v in lower):
            return f"needs a driver for CUDA {max(lower, key=lambda v: _version(v) or (0,))}; this one supports {cuda_driver_max}"
        if upper and driver >= min(_version(v) or (999,) for v in upper):
            return f"is for CUDA below {min(upper, key=lambda v: _version(v) or (999,))}; this driver supports {cuda_driver_max}"
    sm_arch = variant.values("nvidia", "sm_arch")
    if sm_arch:
        if not compute_capabilities:
            return "no GPU compute capability is known to check its architectures against"
        missing = [cc for cc in compute_capabilities if not _sm_fits(cc, sm_arch)]
        if missing:
            return (
                f"has no kernels for compute capability {', '.join(missing)} (built for {', '.join(sorted(sm_arch))})"
            )
    return None


def read_variant_metadata(
    index_base: str, version: str, *, env: Mapping[str, str], timeout: float
) -> VariantMetadata | str:
    """PyTorch's published variant metadata for ``torch==version``, or why it could not be read
    (not published, unreachable, not variant metadata) as one sentence."""
    from torchup.http import fetch
    from torchup.output import redact_url

    url = metadata_url(index_base, version)
    resp = fetch(url, timeout=timeout, env=env, accept="application/json")
    shown = redact_url(url)
    if resp.status in (403, 404):
        return f"{shown} does not exist: no variant wheels of torch {version} are published there"
    if not resp.ok:
        return f"could not read {shown}: {resp.failure or f'HTTP {resp.status}'}"
    if len(resp.body) > _MAX_BYTES:
        return f"{shown} is larger than variant metadata can be ({len(resp.body)} bytes)"
    try:
        return parse_variant_metadata(resp.body, source=shown)
    except VariantMetadataError as err:
        return f"{shown} is not variant metadata: {err}"


def _cache_file(directory: str | os.PathLike, version: str) -> str:
    return os.path.join(directory, f"torch-{version}-variants.json")


def save_variant_metadata(directory: Path, version: str, metadata: VariantMetadata) -> Path:
    """Keep ``metadata`` in the catalog cache ``directory`` (the fields torchup reads, and where it came from)."""
    body = {
        "$schema": metadata.schema,
        "default-priorities": {"namespace": list(metadata.namespaces)},
        "variants": {
            v.label: {ns: {f: list(vals) for f, vals in feats.items()} for ns, feats in v.properties.items()}
            for v in metadata.variants
        },
        "torchup-source": metadata.source,
    }
    from pathlib import Path

    path = Path(_cache_file(directory, version))
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.new")
    temporary.write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")
    temporary.replace(path)
    return path


def cached_variant_metadata(directory: str | os.PathLike, version: str) -> VariantMetadata | str | None:
    """The copy ``catalog refresh`` kept for ``torch==version``: None when there is none, a sentence when
    it cannot be read."""
    path = _cache_file(directory, version)
    try:
        if not os.path.isfile(path):
            return None
        if os.stat(path).st_size > _MAX_BYTES:
            return f"{path} is larger than variant metadata can be"
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as err:
        return f"cannot read {path}: {err}"
    try:
        data = json.loads(text)
    except ValueError as err:
        return f"{path} is not variant metadata: not JSON: {err}"
    source = data.get("torchup-source") if isinstance(data, dict) else None
    try:
        return parse_variant_metadata(text, source=source if isinstance(source, str) else str(path))
    except VariantMetadataError as err:
        return f"{path} is not variant metadata: {err}"
