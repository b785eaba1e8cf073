"""uv's wheel variants: an alternative to the plan's command, never the default.

A variant-aware uv (``--preview-features wheel-variants``) installs ``torch`` from PyTorch's variant
index (``<index base>/variant``) and lets its variant provider choose the build on the machine where
it runs: for NVIDIA, the driver's CUDA version and the GPU's architecture, read by the provider rather
than by torchup.  PyTorch published variant wheels for 2.10.0 on its own index (CUDA 12.6, 12.8 and
13.0 for Linux x86_64, Linux aarch64 and Windows x86_64; ROCm 7.0 and 7.1; XPU for Linux x86_64 and
Windows x86_64; CPU everywhere: "Wheel variants for PyTorch release 2.10 published",
dev-discuss.pytorch.org, thread 3305); 2.8.0's were on WheelNext's index only.  uv 0.13.9 (the uv of
torchup's test extra) has the preview feature ``wheel-variants`` and a built-in NVIDIA provider whose
answer ``NV_VARIANT_PROVIDER_FORCE_CUDA_DRIVER_VERSION`` / ``NV_VARIANT_PROVIDER_FORCE_SM_ARCH``
override; its binary names no AMD or Intel provider.  Pure: plan, machine and metadata in, data out.
"""

from __future__ import annotations

from torchup.catalog.variants import VariantMetadata, why_not_variant
from torchup.plan import Plan
from torchup.render._common import join, shell_for

__all__ = ["alternative", "plan_label"]

FIRST_VERSION = (2, 10)  # the first release with variant wheels on PyTorch's own index
UV_SEEN = "0.13.9"  # the uv release whose wheel-variants preview torchup's notes describe
# platforms PyTorch 2.10.0's variant wheels cover, per kind of GPU build
_PLATFORMS = {
    "nvidia": {("linux", "x86_64"), ("linux", "aarch64"), ("windows", "x86_64")},
    "amd": {("linux", "x86_64")},
    "intel": {("linux", "x86_64"), ("windows", "x86_64")},
}


def _vendor(plan: Plan) -> str | None:
    if plan.variant.startswith("cu") or (plan.variant == "pypi" and plan.cuda):
        return "nvidia"
    if plan.variant.startswith("rocm"):
        return "amd"
    if plan.variant == "xpu":
        return "intel"
    return None


def plan_label(plan: Plan) -> str | None:
    """The variant label of the plan's own build (``cu128``), where PyTorch's labels are known: CUDA."""
    if _vendor(plan) != "nvidia":
        return None
    return plan.variant if plan.variant.startswith("cu") else f"cu{(plan.cuda or '').replace('.', '')}"


def _release(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split("+")[0].split(".")[:2]:
        if not piece.isdigit():
            break
        parts.append(int(piece))
    return tuple(parts)


def alternative(
    plan: Plan, machine, *, index_base: str, python: str, metadata: VariantMetadata | str | None = None
) -> dict | None:
    """``{"text", "index_url", "uv_version", "label", "checked", "caveats"}`` where uv's wheel variants
    fit the machine (its GPU's kind of build, on a platform with variant wheels, torch 2.10 or newer);
    None elsewhere.  ``metadata``: PyTorch's published ``torch-<version>-variants.json`` when it was read,
    or why it was not (a sentence), or None (not asked)."""
    vendor = _vendor(plan)
    if vendor is None or not any(g.vendor == vendor for g in machine.gpus):
        return None
    if (plan.os, plan.arch) not in _PLATFORMS[vendor] or _release(plan.torch) < FIRST_VERSION:
        return None
    index_url = f"{index_base.rstrip('/')}/variant"
    argv = ["uv", "pip", "install", "--python", python, "--preview-features", "wheel-variants"]
    argv += ["--default-index", index_url, f"torch=={plan.base_version}"]
    label = plan_label(plan)
    ccs = [g.compute_capability for g in machine.gpus if g.vendor == "nvidia" and g.compute_capability]
    if isinstance(metadata, VariantMetadata):
        found = metadata.variant(label) if label else None
        if label is None:
            checked = f"{metadata.source} lists {', '.join(v.label for v in metadata.variants)}; torchup does not check non-NVIDIA variant properties"
        elif found is None:
            checked = f"{metadata.source} lists no {label} variant: uv would choose another build than torchup's"
        else:
            why = why_not_variant(found, cuda_driver_max=machine.cuda_driver_max, compute_capabilities=ccs)
            checked = (
                f"the {label} variant of {metadata.source} fits this machine by the properties uv's provider compares"
                if why is None
                else f"the {label} variant of {metadata.source} {why}"
            )
    elif isinstance(metadata, str):
        checked = f"not checked against PyTorch's variant metadata: {metadata}"
    else:
        checked = "not checked against PyTorch's variant metadata (not read)"
    caveats = [
        f"a preview feature of uv (seen in uv {UV_SEEN}): it may change or go in any release, "
        "and a uv without it refuses or ignores variant wheels",
        f"every package comes from {index_url} (--default-index): nothing falls back to another index",
        _detects(vendor, plan, machine),
        f"only torch is pinned, to {plan.base_version} without a local label: uv picks the build; "
        "torchvision and torchaudio are not in this command",
    ]
    return {
        "text": join(argv, shell=shell_for(plan)),
        "index_url": index_url,
        "uv_version": UV_SEEN,
        "label": label,
        "checked": checked,
        "caveats": caveats,
    }


def _detects(vendor: str, plan: Plan, machine) -> str:
    """What the variant provider detects, against what torchup checked."""
    if vendor == "nvidia":
        ccs = ", ".join(g.compute_capability for g in machine.gpus if g.vendor == "nvidia" and g.compute_capability)
        return (
            "uv's NVIDIA provider reads the driver's CUDA version and the GPU architecture where uv runs "
            "(NV_VARIANT_PROVIDER_FORCE_CUDA_DRIVER_VERSION / NV_VARIANT_PROVIDER_FORCE_SM_ARCH override them; "
            "on a host without an NVIDIA driver, a CI runner, it reports no NVIDIA properties and uv installs the "
            f"variant without properties); torchup checked the {plan_label(plan)} build against "
            f"compute capability {ccs or 'unknown'} and driver CUDA {machine.cuda_driver_max or 'unknown'}"
        )
    kind = "ROCm" if vendor == "amd" else "XPU"
    return (
        f"uv {UV_SEEN} has no built-in {'AMD' if vendor == 'amd' else 'Intel'} provider: whether it finds the {kind} "
        f"variant or falls back to the CPU one, torchup has not checked; torchup chose {plan.variant} for this GPU"
    )
