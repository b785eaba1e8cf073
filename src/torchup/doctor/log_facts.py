"""Facts a log states about the machine it came from, read where the log states them, and what
they imply on their own: a log that shows a CUDA build of torch and the NVIDIA driver beside it
says whether that driver can run that build, whatever words the failure itself used.

Pure functions of the text.  ``explain`` adds what they find as evidence for the problem they
imply (``driver-too-old``), next to the problems' signatures.

explain calls ``driver_below_build`` on every log, and most logs state no build: each pattern is
compiled on first use and tried only when the text holds the literals it cannot match without,
and the driver tables (``torchup.catalog.rules``, ~13 ms to import) are loaded only for a log
that states both a CUDA build and a driver (issue 15: a short message in 60 ms).
"""

from __future__ import annotations

from torchup.lazyre import lazy

TYPE_CHECKING = False  # typing is not imported at run time: start-up cost (issue 15)
if TYPE_CHECKING:
    import re

__all__ = ["build_cuda", "driver_below_build", "driver_facts"]

# Each pattern that must start at a word boundary says so after its first word,
# ``torch(?<=\btorch)``, not before it (``\btorch``): a pattern that starts with a literal is
# searched for with re's fast literal scan, one that starts with ``\b`` is tried at every
# position (27 ms against 1 ms on a 1 MB log, issue 15).  The match is the same.
# a torch version with a CUDA local label: "2.14.0+cu130", "torch-2.4.0+cu121", "torch==2.7.1+cu128"
_TORCH_CU = lazy(
    r"torch(?<=\btorch)(?:[ _=:-]{1,4}|[ _]version[ =:'\"]{1,4})v?([0-9]+\.[0-9]+(?:\.[0-9]+)?)[^\s+'\"]{0,12}\+cu([0-9]{2,3})\b"
)
_BUILT_WITH = lazy(r"CUDA used to build PyTorch\s{0,8}: {0,4}([0-9]+\.[0-9]+)")  # collect_env, vLLM's padded copy
# torch.version.cuda printed: "torch_cuda=13.0", "torch.version.cuda: 12.8", "torch.version.cuda -> '12.8'"
_VERSION_CUDA = lazy(r"torch(?<=\btorch)[._]?(?:version[._])?cuda\)?\s{0,3}(?:=|:|->|=>)\s{0,3}'?([0-9]+\.[0-9]+)\b")
# (pattern, a literal every match of it holds)
_DRIVER = (
    (lazy(r"Driver Version: ([0-9]{3,}\.[0-9]+(?:\.[0-9]+)?)"), "Driver Version: "),  # nvidia-smi's header
    (
        lazy(r"Nvidia driver version\s{0,8}: {0,4}([0-9]{3,}\.[0-9]+(?:\.[0-9]+)?)"),
        "Nvidia driver version",
    ),  # collect_env
    (lazy(r"\b(?:NVIDIA|nvidia) driver (?:version )?([0-9]{3,}\.[0-9]+(?:\.[0-9]+)?)"), "driver "),
)
_DRIVER_CUDA = (
    # nvidia-smi's header: the newest CUDA the driver runs
    (lazy(r"CUDA Version: ([0-9]+\.[0-9]+)"), "CUDA Version: "),
    (lazy(r"\b[dD]river [0-9]{3,}\.[0-9]+(?:\.[0-9]+)? \(CUDA ([0-9]+\.[0-9]+)\)"), " (CUDA "),
)
# the build evidently ran on the GPU: then the driver ran it, whatever the numbers say
_CUDA_WORKED = lazy(
    r"cuda[._ ]?available\)?\s{0,3}(?:=|:|->|=>)?\s{0,3}True|Is CUDA available\s{0,8}: {0,4}True|is_available\(\)\)?\s{0,3}(?:->|=>|:)?\s{0,3}True"
)
_WINDOWS = lazy(r"\bwin_amd64\b|\bwin32\b|[A-Z]:\\\\|\bWindows\b")


def _cuda_of_label(label: str) -> str:
    """``130`` -> ``13.0``; ``118`` -> ``11.8``; ``92`` -> ``9.2``."""
    return f"{label[:-1]}.{label[-1]}"


def _search(pattern: re.Pattern[str], text: str, *needs: str) -> re.Match[str] | None:
    """``pattern.search(text)``; None without compiling or searching when ``text`` lacks one of
    ``needs``, literals every match of ``pattern`` holds."""
    return pattern.search(text) if all(literal in text for literal in needs) else None


def build_cuda(text: str) -> tuple[str, str] | None:
    """``(CUDA version, how the log shows it)`` of the torch build the log shows, or None."""
    m = _search(_TORCH_CU, text, "torch", "+cu")
    if m:
        return _cuda_of_label(m.group(2)), f"torch {m.group(1)}+cu{m.group(2)}"
    for pattern, needs, what in (
        (_BUILT_WITH, ("CUDA used to build PyTorch",), "CUDA used to build PyTorch: {}"),
        (_VERSION_CUDA, ("torch", "cuda"), "torch.version.cuda {}"),
    ):
        m = _search(pattern, text, *needs)
        if m:
            return m.group(1), what.format(m.group(1))
    return None


def driver_facts(text: str) -> tuple[str | None, str | None]:
    """``(driver version, newest CUDA the driver says it runs)`` as the log states them."""
    driver = next((m.group(1) for p, needs in _DRIVER if (m := _search(p, text, needs))), None)
    said = next((m.group(1) for p, needs in _DRIVER_CUDA if (m := _search(p, text, needs))), None)
    return driver, said


def driver_below_build(text: str) -> str | None:
    """The evidence, in words, when the log shows a CUDA build of torch and a driver that cannot run
    it (NVIDIA's minor-version compatibility: a driver runs its own CUDA major, not a newer one);
    None when the log does not show both, or shows CUDA working."""
    build = build_cuda(text)
    if build is None:
        return None
    driver, said = driver_facts(text)
    if (driver is None and said is None) or _search(_CUDA_WORKED, text, "True"):
        return None
    from torchup.catalog.rules import why_not_driver_for_cuda  # the driver tables: only now

    cuda, shown = build
    os = "windows" if _WINDOWS.search(text) else "linux"
    reason, _ = why_not_driver_for_cuda(cuda, shown, driver, os, driver_cuda=said)
    if reason is None or "is built with CUDA" not in reason:
        return None  # runs, or the tables cannot tell: nothing to say
    return (
        f"the log shows {shown} and the NVIDIA driver{f' {driver}' if driver else ''}"
        + (f" (CUDA {said})" if said else "")
        + f": {reason}"
    )
