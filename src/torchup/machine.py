"""The Machine: everything torchup knows about the host and the target Python.

Plain frozen data, with a JSON / TOML round trip and validation that names the
bad field (``gpus[1].compute_capability: "8.x" is not a version``).  The file
format is a public contract, documented in ``docs/machine-file.md``.

Every key is optional except ``os``, ``arch`` and ``python``.  Where a value
came from (a file, a command, an override, a machine file) is kept in
``sources``, keyed by field name (``nvidia_driver``, ``gpus[0]``...).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence

from torchup.boundedjson import MAX_DIGIT_RUN, has_long_digit_run
from torchup.errors import InputError, UsageError
from torchup.lazyre import lazy
from torchup.record import field, fields, record, replace

TYPE_CHECKING = False  # typing is not imported at run time: start-up cost (issue 15)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "MACHINE_DOCUMENT",
    "MACHINE_FORMAT",
    "Gpu",
    "Machine",
    "Note",
    "dump_machine",
    "load_machine",
    "load_machine_file",
    "load_machine_files",
    "machine_from_dict",
    "machine_to_dict",
    "normalise_arch",
    "normalise_os",
]

# The machine file is the JSON of `torchup probe --json`, in the envelope every --json document has
# (docs/json.md): {"format": "torchup/probe", "version": 1, ...}.  Files written before the envelope
# carry {"torchup_machine": 1} instead, and hand-written ones often neither: all three load.
MACHINE_DOCUMENT = "torchup/probe"
MACHINE_FORMAT = 1  # bump when a key changes meaning

# Limits on a machine file, so that any file is read in bounded time and memory (issue 19).
# A probed file is a few KB; these are far above any real one.
MAX_FILE_BYTES = 1024 * 1024
MAX_KEY_PARTS = 16  # dotted parts of one TOML key or table header (tomllib keeps O(parts^2) for each)
MAX_DEPTH = 8  # nesting of tables and lists in the decoded file (a real one nests 3 deep)
MAX_GPUS = 64
MAX_INT_BITS = 64  # TOML's hex, octal and binary integers have no length limit of their own

OSES = ("linux", "windows", "macos")
ARCHES = ("x86_64", "aarch64", "x86", "armv7l", "ppc64le", "s390x", "riscv64")
VENDORS = ("nvidia", "amd", "intel", "apple")
ENV_KINDS = ("venv", "uv", "conda", "pixi", "system", "unknown")
MANAGERS = ("pip", "uv", "conda", "mamba", "micromamba", "pixi", "poetry")

_OS_ALIASES = {
    "linux": "linux",
    "windows": "windows",
    "win32": "windows",
    "cygwin": "windows",
    "macos": "macos",
    "darwin": "macos",
    "osx": "macos",
    "mac": "macos",
}
_ARCH_ALIASES = {
    "x86_64": "x86_64",
    "amd64": "x86_64",
    "x64": "x86_64",
    "aarch64": "aarch64",
    "arm64": "aarch64",
    "armv8": "aarch64",
    "i386": "x86",
    "i686": "x86",
    "x86": "x86",
    "win32": "x86",
    "armv7l": "armv7l",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}

_GFX_RE = lazy(r"^gfx[0-9a-f]{3,4}$")
_PCI_RE = lazy(r"^[0-9a-f]{4}:[0-9a-f]{4}$")


def _dotted(value: str, parts: tuple[int, ...] | None = None) -> bool:
    """Whether ``value`` is ASCII decimal numbers joined by dots (``550.54.14``), with one of ``parts``
    numbers when given.  A string test, not a pattern: compiling one costs every start more than
    checking a machine file's few version fields this way."""
    words = value.split(".")
    return (parts is None or len(words) in parts) and all(w.isascii() and w.isdecimal() for w in words)


def _is_libc(value: str) -> bool:
    """``glibc 2.35`` or ``musl 1.2.4``."""
    name, _, version = value.partition(" ")
    return name in ("glibc", "musl") and _dotted(version, (2, 3))


def normalise_os(value: str) -> str | None:
    """``Darwin`` -> ``macos``, ``win32`` -> ``windows``; None when unknown."""
    return _OS_ALIASES.get(value.strip().lower())


def normalise_arch(value: str) -> str | None:
    """``arm64``/``ARM64`` -> ``aarch64``, ``AMD64`` -> ``x86_64``; None when unknown."""
    return _ARCH_ALIASES.get(value.strip().lower())


@record
class Gpu:
    """One GPU (or accelerator) as probed or as written in a machine file."""

    vendor: str
    name: str | None = None
    compute_capability: str | None = None  # NVIDIA, "8.9"
    memory_mib: int | None = None
    gfx: str | None = None  # AMD, "gfx1100"
    pci_id: str | None = None  # "10de:2684" (vendor:device, lower-case hex)
    uuid: str | None = None
    driver_loaded: bool | None = None  # False: seen on the PCI bus only
    mig: bool | None = None  # NVIDIA MIG mode enabled

    @property
    def cc_tuple(self) -> tuple[int, int] | None:
        if self.compute_capability is None:
            return None
        major, minor = self.compute_capability.split(".")
        return int(major), int(minor)


@record
class Note:
    """Something a probe noticed that the user should hear about (a finding-to-be).

    ``id`` is a problem id of ``docs/problems.md`` (``driver-library-mismatch``,
    ``driver-unresponsive``...): doctor reports each note as that problem.
    """

    id: str
    message: str


@record
class Machine:
    """The machine torchup plans for.  Only ``os``, ``arch``, ``python`` are required."""

    os: str
    arch: str
    python: str  # "3.12" (a patch level is kept when known: "3.12.4")
    python_bits: int | None = None
    free_threaded: bool | None = None
    python_implementation: str | None = None  # "cpython", "pypy"
    python_executable: str | None = None
    python_env: str | None = None  # one of ENV_KINDS
    env_prefix: str | None = None
    externally_managed: bool | None = None  # PEP 668 marker applies to the target
    pip_usable: bool | None = None
    uv_usable: bool | None = None
    libc: str | None = None  # "glibc 2.35" / "musl 1.2.4"
    macos_version: str | None = None
    apple_silicon: bool | None = None  # hardware, true even under Rosetta
    rosetta: bool | None = None  # the target Python runs translated
    wsl: bool | int | None = None  # False, or 1 / 2 (a bare true means "WSL, version unknown")
    container: str | None = None  # "docker", "podman", "kubernetes", "lxc", "container"
    nvidia_driver: str | None = None
    nvidia_driver_userspace: str | None = None  # from nvidia-smi / NVML, when it differs
    cuda_driver_max: str | None = None  # newest CUDA the driver supports, "12.4"
    jetson_l4t: str | None = None  # "35.3.1"
    rocm_version: str | None = None
    hsa_override_gfx: str | None = None  # HSA_OVERRIDE_GFX_VERSION as set, "10.3.0"
    gpus: tuple[Gpu, ...] = ()
    managers: tuple[str, ...] = ()  # package managers found on PATH
    installed: Mapping[str, str] = field(default_factory=dict)  # dist name -> version
    notes: tuple[Note, ...] = ()
    sources: Mapping[str, str] = field(default_factory=dict)  # field -> origin

    @property
    def python_minor(self) -> tuple[int, int]:
        major, minor = self.python.split(".")[:2]
        return int(major), int(minor)

    @property
    def python_tag(self) -> str:
        """``cp312`` / ``cp313t``-style interpreter tag (CPython assumed)."""
        major, minor = self.python_minor
        return f"cp{major}{minor}{'t' if self.free_threaded else ''}"

    @property
    def libc_name(self) -> str | None:
        return self.libc.split()[0] if self.libc else None

    @property
    def libc_version(self) -> tuple[int, int] | None:
        if not self.libc:
            return None
        parts = self.libc.split()[1].split(".")
        return int(parts[0]), int(parts[1])

    def with_note(self, note_id: str, message: str) -> Machine:
        return replace(self, notes=(*self.notes, Note(id=note_id, message=message)))


# --- serialisation -----------------------------------------------------------


def machine_to_dict(machine: Machine) -> dict[str, Any]:
    """The machine-file form: every key written, ``null`` where unknown."""
    out: dict[str, Any] = {"format": MACHINE_DOCUMENT, "version": MACHINE_FORMAT}
    for name in fields(Machine):
        value = getattr(machine, name)
        if name == "gpus":
            value = [{g: getattr(gpu, g) for g in fields(Gpu)} for gpu in value]
        elif name == "notes":
            value = [{"id": n.id, "message": n.message} for n in value]
        elif name in ("managers",):
            value = list(value)
        elif name in ("installed", "sources"):
            value = dict(value)
        out[name] = value
    return out


def dump_machine(machine: Machine) -> str:
    return json.dumps(machine_to_dict(machine), indent=2) + "\n"


def load_machine(text: str, *, fmt: str = "json", origin: str = "machine file") -> tuple[Machine, list[str]]:
    """Parse a machine file.  Returns the machine and warnings (unknown keys).

    Raises ``InputError`` listing every bad field, ``UsageError`` for a file beyond the
    limits (``MAX_*``): it is refused before it can cost much time or memory.
    """
    if len(text) > MAX_FILE_BYTES:
        raise _too_big(origin, f"is over {MAX_FILE_BYTES // 1024} KB")
    try:
        if fmt == "toml":
            _check_toml_keys(text, origin)
            data = _toml_loads(text)
        else:
            data = json.loads(text)
    except RecursionError:  # both parsers recurse once per nested list or table
        raise _too_big(origin, f"nests lists or tables over {MAX_DEPTH} deep") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(
            f"{origin} is not valid {fmt.upper()}: {exc}",
            hint="torchup probe --json > machine.json writes a valid one",
        ) from None
    _check_shape(data, origin)
    return machine_from_dict(data, origin=origin)


def _too_big(origin: str, what: str) -> UsageError:
    return UsageError(
        f"{origin} {what}: not a machine file torchup reads",
        hint="torchup probe --json > machine.json writes a valid one (a few KB)",
    )


def _check_toml_keys(text: str, origin: str) -> None:
    """Refuse a TOML key or table header of more than MAX_KEY_PARTS dotted parts, before parsing."""
    key = long_toml_key(text)
    if key is not None:
        raise _too_big(origin, f"has a key of over {MAX_KEY_PARTS} dotted parts ({key[:40]}...)")


def long_toml_key(text: str) -> str | None:
    """The first TOML key or table header of more than MAX_KEY_PARTS dotted parts, else None.

    tomllib notes every prefix of a dotted key as a tuple, so a key of n parts costs n^2 / 2
    tuple slots: a 200 KB file of ``a.a.a...`` took 23 GB.  Counted per line, on what comes
    before the first ``=`` (or inside a ``[header]``); a dot inside a quoted key counts too,
    which errs on the safe side.  Every TOML file torchup reads from a user is checked so first.
    """
    for line in text.splitlines():
        stripped = line.lstrip()
        key = stripped.partition("]")[0] if stripped.startswith("[") else line.partition("=")[0]
        if key.count(".") >= MAX_KEY_PARTS:
            return key.strip()
    return None


def _check_shape(data: Any, origin: str) -> None:
    """Refuse nesting over MAX_DEPTH, integers over MAX_INT_BITS bits and over MAX_GPUS GPUs."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:  # not recursive: the depth is what is being checked
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth >= MAX_DEPTH:
                raise _too_big(origin, f"nests lists or tables over {MAX_DEPTH} deep")
            stack += [(v, depth + 1) for v in (value.values() if isinstance(value, dict) else value)]
        elif isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
            raise _too_big(origin, f"has an integer of {value.bit_length()} bits (at most {MAX_INT_BITS})")
        elif isinstance(value, str) and has_long_digit_run(value):  # versions in strings are parsed later
            raise _too_big(origin, f"has a number of over {MAX_DIGIT_RUN} digits in {value[:20]!r}...")
    gpus = data.get("gpus") if isinstance(data, dict) else None
    if isinstance(gpus, list) and len(gpus) > MAX_GPUS:
        raise _too_big(origin, f"lists {len(gpus)} GPUs (at most {MAX_GPUS})")


def load_machine_file(path: str) -> tuple[Machine, list[str]]:
    """Read a machine file (JSON, or TOML when the name ends in ``.toml``)."""
    return load_machine_files([path])[0]


def load_machine_files(paths: Sequence[str]) -> list[tuple[Machine, list[str]]]:
    """``load_machine_file`` for each path; files with the same bytes (a fleet's copies) are
    parsed once when the first had nothing to warn about."""
    parsed: dict[bytes, Machine] = {}
    out = []
    for path in paths:
        raw = _read_machine_bytes(path)
        machine = parsed.get(raw)
        warnings: list[str] = []
        if machine is None:
            machine, warnings = _parse_machine_bytes(raw, path)
            if not warnings:
                parsed[raw] = machine
        sources = dict(machine.sources)  # as parsed: the path is added here, for each file
        for key in ("os", "arch", "python"):
            sources.setdefault(key, f"machine-file:{path}")
        out.append((replace(machine, sources=sources), warnings))
    return out


def _read_machine_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)  # never the whole of a runaway file
    except OSError as exc:
        raise InputError(f"cannot read machine file {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise _too_big(path, f"is over {MAX_FILE_BYTES // 1024} KB")
    return raw


def _parse_machine_bytes(raw: bytes, path: str) -> tuple[Machine, list[str]]:
    try:  # a byte-order mark (Notepad writes one) is dropped; "utf-8-sig" would import its codec for it
        text = raw.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"machine file {path} is not UTF-8 text") from None
    fmt = "toml" if path.endswith(".toml") else "json"
    if fmt == "json" and not text.lstrip().startswith("{") and "=" in text:
        fmt = "toml"
    return load_machine(text, fmt=fmt, origin=path)


def _toml_loads(text: str) -> dict:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10
        import tomli as tomllib
    return tomllib.loads(text)


class _Problems:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def bad(self, path: str, value: Any, why: str) -> None:
        shown = json.dumps(value, default=str)
        if len(shown) > 120:  # a whole bad list or table would bury the message
            shown = shown[:117] + "..."
        self.errors.append(f"{path}: {shown} {why}")


def _printable_strings(value: Any) -> Any:
    """``value`` with every string in it safe to print: an escape sequence, a carriage return or a
    Unicode direction mark in a GPU name or a note (a file from elsewhere) is kept as visible
    text (``\\x1b``), so a machine file cannot forge or hide lines of torchup's output."""
    from torchup.output import map_strings, printable

    return map_strings(value, lambda s: s if s.isprintable() else printable(s))


def machine_from_dict(data: Any, *, origin: str = "machine file") -> tuple[Machine, list[str]]:
    """Validate a decoded machine file; collect every problem before failing."""
    if not isinstance(data, dict):
        raise InputError(f"{origin}: the top level must be an object (a JSON {{...}} or a TOML table)")
    data = _printable_strings(data)
    p = _Problems()
    document = data.get("format")
    if document is not None and document != MACHINE_DOCUMENT:
        raise InputError(
            f"{origin} is not a machine file: its format is {json.dumps(document)}, not {MACHINE_DOCUMENT!r}",
            hint="torchup probe --json > machine.json writes a machine file",
        )
    known = set(fields(Machine)) | {"torchup_machine"} | ({"format", "version"} if document else set())
    for key in data:
        if key not in known:
            p.warnings.append(f"{origin}: unknown key {key!r} ignored")
    version_key = "version" if document else "torchup_machine"
    fmt = data.get(version_key, MACHINE_FORMAT)
    if fmt != MACHINE_FORMAT:
        p.bad(version_key, fmt, f"is not a format this torchup reads (it reads {MACHINE_FORMAT})")

    kw: dict[str, Any] = {}
    for key in ("os", "arch", "python"):
        if key not in data or data[key] in (None, ""):
            p.errors.append(f"{key}: required")
    if isinstance(data.get("os"), str):
        kw["os"] = normalise_os(data["os"])
        if kw["os"] is None:
            p.bad("os", data["os"], f"is not one of {', '.join(OSES)}")
    elif "os" in data and data["os"] is not None:
        p.bad("os", data["os"], "is not a string")
    if isinstance(data.get("arch"), str):
        kw["arch"] = normalise_arch(data["arch"])
        if kw["arch"] is None:
            p.bad("arch", data["arch"], f"is not one of {', '.join(ARCHES)}")
    elif "arch" in data and data["arch"] is not None:
        p.bad("arch", data["arch"], "is not a string")

    py = data.get("python")
    if isinstance(py, float):
        # 3.10 as a number is 3.1: never guess, ask for the string
        p.bad("python", py, 'is a number; write it as a string, e.g. "3.10"')
    elif py is not None:
        number = py[:-1] if isinstance(py, str) and py.endswith("t") else py
        if not isinstance(number, str) or not _dotted(number, (2, 3)):
            p.bad("python", py, 'is not a Python version like "3.12"')
        else:
            kw["python"] = number
            if number != py:
                kw["free_threaded"] = True

    def opt(key: str, kind: type | tuple, check=None, why: str = "") -> None:
        if key not in data or data[key] is None:
            return
        value = data[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            p.bad(key, value, f"is not {_kind_name(kind)}")
            return
        if check is not None and not check(value):
            p.bad(key, value, why)
            return
        kw[key] = value

    opt("python_bits", int, lambda v: v in (32, 64), "is not 32 or 64")
    if "free_threaded" not in kw:
        opt("free_threaded", bool)
    opt("python_implementation", str)
    opt("python_executable", str)
    opt("python_env", str, lambda v: v in ENV_KINDS, f"is not one of {', '.join(ENV_KINDS)}")
    opt("env_prefix", str)
    opt("externally_managed", bool)
    opt("pip_usable", bool)
    opt("uv_usable", bool)
    opt("libc", str, _is_libc, 'is not like "glibc 2.35" or "musl 1.2.4"')
    opt("macos_version", str, _dotted, "is not a version")
    opt("apple_silicon", bool)
    opt("rosetta", bool)
    opt("wsl", (bool, int), lambda v: v in (True, False, 1, 2), "is not false, 1 or 2")
    opt("container", str)
    for key in (
        "nvidia_driver",
        "nvidia_driver_userspace",
        "cuda_driver_max",
        "jetson_l4t",
        "rocm_version",
        "hsa_override_gfx",
    ):
        opt(key, str, _dotted, "is not a version")

    gpus = data.get("gpus")
    if gpus is not None:
        if not isinstance(gpus, list):
            p.bad("gpus", gpus, "is not a list")
        else:
            kw["gpus"] = tuple(g for g in (_gpu_from(i, raw, p) for i, raw in enumerate(gpus)) if g)

    managers = data.get("managers")
    if managers is not None:
        if not isinstance(managers, list) or not all(isinstance(m, str) for m in managers):
            p.bad("managers", managers, "is not a list of names")
        else:
            for i, m in enumerate(managers):
                if m not in MANAGERS:
                    p.bad(f"managers[{i}]", m, f"is not one of {', '.join(MANAGERS)}")
            kw["managers"] = tuple(managers)

    for key in ("installed", "sources"):
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            p.bad(key, value, "is not a table of names to strings")
        else:
            kw[key] = dict(value)

    notes = data.get("notes")
    if notes is not None:
        if not isinstance(notes, list) or not all(
            isinstance(n, dict) and isinstance(n.get("id"), str) and isinstance(n.get("message"), str) for n in notes
        ):
            p.bad("notes", notes, 'is not a list of {"id", "message"}')
        else:
            kw["notes"] = tuple(Note(id=n["id"], message=n["message"]) for n in notes)

    if p.errors:
        raise InputError(
            f"{origin} is not a valid machine file ({len(p.errors)} problem{'s' if len(p.errors) > 1 else ''})",
            details=p.errors,
            hint="see docs/machine-file.md for the format",
        )
    return Machine(**kw), p.warnings


def _kind_name(kind: type | tuple) -> str:
    names = {bool: "true/false", int: "an integer", str: "a string", float: "a number"}
    if isinstance(kind, tuple):
        return " or ".join(names.get(k, k.__name__) for k in kind)
    return names.get(kind, kind.__name__)


def _gpu_from(index: int, raw: Any, p: _Problems) -> Gpu | None:
    where = f"gpus[{index}]"
    if not isinstance(raw, dict):
        p.bad(where, raw, "is not an object")
        return None
    known = set(fields(Gpu))
    for key in raw:
        if key not in known:
            p.warnings.append(f"{where}: unknown key {key!r} ignored")
    before = len(p.errors)
    kw: dict[str, Any] = {}
    vendor = raw.get("vendor")
    if not isinstance(vendor, str) or vendor.lower() not in VENDORS:
        p.bad(f"{where}.vendor", vendor, f"is not one of {', '.join(VENDORS)}")
    else:
        kw["vendor"] = vendor.lower()

    def opt(key: str, kind: type, check=None, why: str = "", norm=None) -> None:
        value = raw.get(key)
        if value is None:
            return
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            p.bad(f"{where}.{key}", value, f"is not {_kind_name(kind)}")
            return
        if norm is not None:
            value = norm(value)
        if check is not None and not check(value):
            p.bad(f"{where}.{key}", value, why)
            return
        kw[key] = value

    opt("name", str)
    cc = raw.get("compute_capability")
    if isinstance(cc, (int, float)) and not isinstance(cc, bool):
        cc = f"{cc:.1f}" if isinstance(cc, float) else f"{cc}.0"
        raw = {**raw, "compute_capability": cc}
    opt("compute_capability", str, lambda v: _dotted(v, (2,)), "is not a version")
    opt("memory_mib", int, lambda v: v >= 0, "is negative")
    opt("gfx", str, lambda v: bool(_GFX_RE.match(v)), 'is not a gfx target like "gfx1100"', norm=str.lower)
    opt(
        "pci_id",
        str,
        lambda v: bool(_PCI_RE.match(v)),
        'is not "vendor:device" in hex, like "10de:2684"',
        norm=str.lower,
    )
    opt("uuid", str)
    opt("driver_loaded", bool)
    opt("mig", bool)
    if len(p.errors) > before:
        return None
    return Gpu(**kw)
