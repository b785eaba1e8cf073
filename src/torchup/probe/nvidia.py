"""NVIDIA: driver version, GPUs, the newest CUDA the driver supports.

Readers (``read_*``, ``run_*``) do the I/O through a ``System``; the
``parse_*`` functions are pure and tested against every recorded capture in
``tests/fixtures/probe/`` (see ``docs/probing.md``).

Order: the kernel-module files first (no process), then ``nvidia-smi
--query-gpu`` in CSV (a stable, documented interface), then ``nvidia-smi -q``
for the "CUDA Version" line.  The human table is parsed only as a last resort
for the header versions, because its wording changed in R610 (``KMD Version``,
``CUDA UMD Version``).
"""

from __future__ import annotations

import re

from torchup.lazyre import lazy
from torchup.record import record
from torchup.system import System

__all__ = [
    "QUERY_FIELDS",
    "ProcDriver",
    "SmiGpu",
    "SmiHeader",
    "SmiQuery",
    "find_nvidia_smi",
    "gpus_from_rows",
    "normalise_bus_id",
    "parse_invalid_field",
    "parse_proc_driver_version",
    "parse_query_csv",
    "parse_smi_error",
    "parse_smi_q",
    "parse_smi_table_header",
    "parse_sys_module_version",
    "read_proc_driver_version",
    "read_sys_module_version",
    "run_query_gpu",
    "run_smi_q",
    "run_smi_table",
    "visible_devices_hide_all",
]

SYS_MODULE_VERSION = "/sys/module/nvidia/version"
PROC_DRIVER_VERSION = "/proc/driver/nvidia/version"
WSL_NVIDIA_SMI = "/usr/lib/wsl/lib/nvidia-smi"

# name last: a product name is the one field that could ever hold a comma
QUERY_FIELDS = ("index", "uuid", "pci.bus_id", "driver_version", "compute_cap", "memory.total", "name")

# leading dotted number of a driver version; custom builds add suffixes
# ("595.71.05-aorus.14", research/probing.md 1.1)
_LEADING_VERSION = lazy(r"(?a)^\s*(\d+\.\d+(?:\.\d+)?)")
# both module flavours: "x86_64 Kernel Module  535.146.02  <date>" and
# "Open Kernel Module for x86_64  565.57.01  Release Build ..."
_PROC_LINE = lazy(r"(?a)Kernel Module(?: for (\S+))?\s+(\d+\.\d+(?:\.\d+)?)(\S*)")
_PROC_ARCH = lazy(r"NVIDIA UNIX (\S+) Kernel Module")
_INVALID_FIELD = lazy(r'Field "([^"]+)" is not a valid field to query')
_NVML_LIB_VERSION = lazy(r"(?a)NVML library version:\s*(\d+(?:\.\d+)+)")
_Q_LINE = lazy(r"^(\s*)([^:]+?)\s*:\s*(.*?)\s*$")
_VERSION = lazy(r"(?a)^(\d+(?:\.\d+)+)")
_TABLE_SMI = lazy(r"(?a)NVIDIA-SMI\s+(\d+(?:\.\d+)+)")
_TABLE_DRIVER = lazy(r"(?a)(?:Driver|KMD) Version:\s*(\d+(?:\.\d+)+)")
_TABLE_CUDA = lazy(r"CUDA(?: UMD)? Version:\s*(\S+)")
_PLACEHOLDERS = ("[N/A]", "N/A", "[Not Supported]", "[Unknown Error]", "[Insufficient Permissions]", "")


# --- kernel module files ---------------------------------------------------------


def parse_sys_module_version(text: str) -> tuple[str, str] | None:
    """``/sys/module/nvidia/version`` -> ``(version, raw)``; the version is the
    leading ``M.m[.p]`` so that custom suffixes do not make it unreadable."""
    raw = text.strip()
    m = _LEADING_VERSION.match(raw)
    return (m.group(1), raw) if m else None


@record
class ProcDriver:
    version: str  # "565.57.01"; on Jetson the L4T release ("35.3.1")
    open_module: bool
    arch: str | None  # "x86_64", "aarch64"
    suffix: str = ""  # anything glued to the version ("-aorus.14")

    @property
    def jetson(self) -> bool:
        # Desktop/datacenter branches are 3-digit (>= 100 since 2009); an L4T
        # release shows up here as "35.3.1" (nixGL#139, research/probing.md 1.2).
        return int(self.version.split(".")[0]) < 100


def parse_proc_driver_version(text: str) -> ProcDriver | None:
    """The ``NVRM version:`` line of ``/proc/driver/nvidia/version``, either flavour;
    the build date (localised, or missing) is ignored."""
    for line in text.splitlines():
        if "NVRM version" not in line:
            continue
        m = _PROC_LINE.search(line)
        if not m:
            return None
        arch = m.group(1)
        if arch is None:
            a = _PROC_ARCH.search(line)
            arch = a.group(1) if a else None
        return ProcDriver(
            version=m.group(2),
            open_module=m.group(1) is not None or "Open Kernel" in line,
            arch=arch,
            suffix=m.group(3),
        )
    return None


# --- nvidia-smi --query-gpu ------------------------------------------------------


def _clean_header(name: str) -> str:
    # "memory.total [MiB]" -> "memory.total"
    return name.split(" [", 1)[0].strip()


def parse_query_csv(text: str, fields: tuple[str, ...] | None = None) -> list[dict[str, str | None]]:
    """Rows of ``--query-gpu`` CSV.  With ``fields`` the text has no header
    (``noheader``); without, the first line is the header.  Placeholders such
    as ``[N/A]`` become None; units (``12288 MiB``) are kept for the caller."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if fields is None:
        if not lines:
            return []
        fields = tuple(_clean_header(h) for h in lines[0].split(","))
        lines = lines[1:]
    rows = []
    for line in lines:
        parts = [p.strip() for p in line.split(",", len(fields) - 1)]
        if len(parts) != len(fields):
            continue  # not a data row (a message, a truncated line)
        rows.append({f: (None if p in _PLACEHOLDERS else p) for f, p in zip(fields, parts)})
    return rows


def parse_invalid_field(stdout: str) -> str | None:
    """The field an older driver rejects: ``Field "compute_cap" is not a valid
    field to query.`` is printed on stdout with exit status 2."""
    m = _INVALID_FIELD.search(stdout)
    return m.group(1) if m else None


@record
class SmiGpu:
    index: int | None
    name: str | None
    uuid: str | None
    bus_id: str | None  # normalised to sysfs form, "0000:01:00.0"
    driver_version: str | None
    compute_capability: str | None
    memory_mib: int | None


def _int_of(value: str | None) -> int | None:
    if value is None:
        return None
    m = re.match(r"(?a)^\s*(\d{1,18})(?!\d)", value)  # more digits than a count can have: garbage
    return int(m.group(1)) if m else None


def _leading_version(value: str | None) -> str | None:
    """The ``M.m[.p]`` a driver version starts with; None for anything else (garbage output)."""
    m = _LEADING_VERSION.match(value) if value else None
    return m.group(1) if m else None


def normalise_bus_id(bus_id: str) -> str:
    """``00000000:01:00.0`` (nvidia-smi) -> ``0000:01:00.0`` (sysfs), lower case."""
    bus_id = bus_id.strip().lower()
    domain, _, rest = bus_id.partition(":")
    if rest and len(domain) > 4:
        domain = domain[-4:]
    return f"{domain}:{rest}" if rest else bus_id


def gpus_from_rows(rows: list[dict[str, str | None]]) -> list[SmiGpu]:
    out = []
    for row in rows:
        if not any(row.values()):
            continue  # a row with no value at all (garbage such as ",,,,,,"): not a GPU of unknown kind
        cc = row.get("compute_cap")
        if cc is not None and not re.match(r"(?a)^\d+\.\d+$", cc):
            cc = None
        bus = row.get("pci.bus_id")
        out.append(
            SmiGpu(
                index=_int_of(row.get("index")),
                name=row.get("name"),
                uuid=row.get("uuid"),
                bus_id=normalise_bus_id(bus) if bus else None,
                driver_version=_leading_version(row.get("driver_version")),
                compute_capability=cc,
                memory_mib=_int_of(row.get("memory.total")),
            )
        )
    return out


@record
class SmiQuery:
    """What one ``--query-gpu`` attempt (with its retry) told us."""

    command: str  # as run, for sources
    gpus: tuple[SmiGpu, ...] = ()
    timed_out: bool = False
    error: str | None = None  # a message from nvidia-smi, or why it did not run
    mismatch_userspace: str | None = None  # NVML library version on a mismatch
    mismatch: bool = False
    no_driver: bool = False  # "couldn't communicate with the NVIDIA driver"


def parse_smi_error(text: str) -> tuple[str, dict]:
    """Classify nvidia-smi's failure text (stdout and stderr together)."""
    facts: dict = {}
    if "Driver/library version mismatch" in text:
        facts["mismatch"] = True
        m = _NVML_LIB_VERSION.search(text)
        if m:
            facts["userspace"] = m.group(1)
    if "couldn't communicate with the NVIDIA driver" in text or "Driver Not Loaded" in text:
        facts["no_driver"] = True
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return first, facts


# --- nvidia-smi -q and the table header ---------------------------------------


@record
class SmiHeader:
    driver_version: str | None = None  # "Driver Version" / "KMD Version"
    cuda_version: str | None = None  # "CUDA Version" / "CUDA UMD Version"; None for ERR!/N/A
    cuda_raw: str | None = None  # the text as printed ("ERR!", "N/A", "13.1")
    smi_version: str | None = None  # table only: the "NVIDIA-SMI" number (Linux build under WSL)
    mig_by_bus: tuple[tuple[str, bool], ...] = ()  # -q only: bus id -> MIG mode current
    names_by_bus: tuple[tuple[str, str], ...] = ()  # -q only: bus id -> product name


def _version_of(value: str | None) -> str | None:
    if value is None:
        return None
    m = _VERSION.match(value.strip())
    return m.group(1) if m else None


def parse_smi_q(text: str) -> SmiHeader:
    """``nvidia-smi -q``: top-level driver and CUDA versions (the R610 ``KMD`` /
    ``CUDA UMD`` names win over the deprecated ones), MIG mode per GPU."""
    top: dict[str, str] = {}
    mig: list[tuple[str, bool]] = []
    names: list[tuple[str, str]] = []
    bus: str | None = None
    in_mig = False
    for line in text.splitlines():
        if line.startswith("GPU ") and ":" in line and " : " not in line:
            bus = normalise_bus_id(line[4:])
            in_mig = False
            continue
        if ":" not in line:  # a section header ("    MIG Mode")
            if bus is not None and len(line) - len(line.lstrip()) == 4:
                in_mig = line.strip() == "MIG Mode"
            continue
        m = _Q_LINE.match(line)
        if not m:
            continue
        indent, key, value = len(m.group(1)), m.group(2), m.group(3)
        if bus is None and indent == 0:
            top.setdefault(key, value)
        elif bus is not None:
            if indent == 4 and key == "Product Name":
                names.append((bus, value))
            if indent == 4:
                in_mig = False
            elif in_mig and indent == 8 and key == "Current":
                if value.lower() in ("enabled", "disabled"):  # "N/A" on GeForce
                    mig.append((bus, value.lower() == "enabled"))
                in_mig = False
    driver = _version_of(top.get("KMD Version")) or _version_of(top.get("Driver Version"))
    cuda_raw = top.get("CUDA UMD Version") or top.get("CUDA Version")
    cuda_raw = cuda_raw.split(" [", 1)[0].strip() if cuda_raw else None
    return SmiHeader(
        driver_version=driver,
        cuda_version=_version_of(cuda_raw),
        cuda_raw=cuda_raw,
        mig_by_bus=tuple(mig),
        names_by_bus=tuple(names),
    )


def parse_smi_table_header(text: str) -> SmiHeader | None:
    """Last resort: the versions in the header box of the human table
    (``Driver Version:`` up to R595, ``KMD Version:`` from R610)."""
    for line in text.splitlines():
        s = _TABLE_SMI.search(line)
        if not s:
            continue
        d = _TABLE_DRIVER.search(line)
        c = _TABLE_CUDA.search(line)
        cuda_raw = c.group(1) if c else None
        return SmiHeader(
            driver_version=d.group(1) if d else None,
            cuda_version=_version_of(cuda_raw),
            cuda_raw=cuda_raw,
            smi_version=s.group(1),
        )
    return None


# --- readers ---------------------------------------------------------------------


def read_sys_module_version(system: System) -> tuple[str, str] | None:
    text = system.read_text(SYS_MODULE_VERSION)
    return parse_sys_module_version(text) if text else None


def read_proc_driver_version(system: System) -> ProcDriver | None:
    text = system.read_text(PROC_DRIVER_VERSION)
    return parse_proc_driver_version(text) if text else None


def find_nvidia_smi(system: System) -> str | None:
    """``nvidia-smi`` on PATH, else WSL's copy (not always on PATH)."""
    found = system.runner.which("nvidia-smi")
    if found:
        return found
    if system.exists(WSL_NVIDIA_SMI):
        return system.path(WSL_NVIDIA_SMI)
    return None


def run_query_gpu(system: System, smi: str, *, timeout: float) -> SmiQuery:
    """``--query-gpu`` as CSV; retried once without a field the driver rejects
    (``compute_cap`` before R510)."""
    from torchup.runner import probe_env

    fields = list(QUERY_FIELDS)
    env = probe_env(system.env)
    command = ""
    for _attempt in range(2):
        argv = [smi, f"--query-gpu={','.join(fields)}", "--format=csv,noheader,nounits"]
        command = f"nvidia-smi --query-gpu={','.join(fields)}"
        r = system.runner.run(argv, timeout=timeout, env=env)
        if r.timed_out:
            return SmiQuery(command=command, timed_out=True, error=f"no answer within {timeout:g} s")
        if r.error:
            return SmiQuery(command=command, error=r.error)
        if r.returncode == 0:
            gpus = gpus_from_rows(parse_query_csv(r.stdout, tuple(fields)))
            first = next((ln.strip() for ln in r.stdout.splitlines() if ln.strip()), "")
            if not gpus and first:
                return SmiQuery(command=command, error=f"unreadable answer: {first[:120]}")
            return SmiQuery(command=command, gpus=tuple(gpus))
        bad = parse_invalid_field(r.stdout)
        if bad and bad in fields and bad not in ("index", "name", "driver_version"):
            fields.remove(bad)
            continue
        message, facts = parse_smi_error(r.stdout + "\n" + r.stderr)
        return SmiQuery(
            command=command,
            error=message or f"exit status {r.returncode}",
            mismatch=bool(facts.get("mismatch")),
            mismatch_userspace=facts.get("userspace"),
            no_driver=bool(facts.get("no_driver")),
        )
    return SmiQuery(command=command, error="nvidia-smi rejected the query fields")


def run_smi_q(system: System, smi: str, *, timeout: float) -> tuple[SmiHeader | None, str]:
    """``nvidia-smi -q`` parsed; falls back to the table header when -q fails."""
    from torchup.runner import probe_env

    env = probe_env(system.env)
    r = system.runner.run([smi, "-q"], timeout=timeout, env=env)
    if r.ok:
        header = parse_smi_q(r.stdout)
        if header.driver_version or header.cuda_raw:
            return header, "nvidia-smi -q"
    if r.timed_out:
        return None, "nvidia-smi -q"
    return run_smi_table(system, smi, timeout=timeout), "nvidia-smi (table header)"


def run_smi_table(system: System, smi: str, *, timeout: float) -> SmiHeader | None:
    from torchup.runner import probe_env

    r = system.runner.run([smi], timeout=timeout, env=probe_env(system.env))
    return parse_smi_table_header(r.stdout) if r.ok else None


def visible_devices_hide_all(value: str, count: int | None) -> str | None:
    """Why ``CUDA_VISIBLE_DEVICES=value`` leaves CUDA no device, or None.

    CUDA reads the list up to the first entry that is not a valid index or UUID.
    """
    tokens = [t.strip() for t in value.split(",")]
    if not value.strip():
        return "CUDA_VISIBLE_DEVICES is set to an empty string"
    first = tokens[0]
    if first.startswith(("GPU-", "MIG-")):
        return None
    if not re.fullmatch(r"(?a)\d{1,9}", first):
        return f"CUDA_VISIBLE_DEVICES={value!r}: {first!r} is not a device index"
    if count is not None and int(first) >= count:
        return f"CUDA_VISIBLE_DEVICES={value!r}: there is no GPU {first} (this machine has {count})"
    return None
