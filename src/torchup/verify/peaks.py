"""What a device should reach: peak matmul throughput and host<->device bandwidth.

Pure data and lookups.  GPU rows are NVIDIA's published *dense* peaks (the
datasheets print Tensor Core figures "with sparsity"; those are halved here).
``verify --bench`` flags a measurement below ``LOW_FRACTION`` of the figure:
a healthy install reaches well over half of it with large matrix products, so
a quarter means something is wrong (wrong build, throttling, a shared or
misconfigured device, a narrow PCIe link).
"""

from __future__ import annotations

from torchup.record import record

__all__ = ["LOW_FRACTION", "Peak", "cpu_floor_gflops", "expected_copy", "expected_matmul"]

LOW_FRACTION = 0.25


@record
class Peak:
    value: float  # GFLOP/s for matmul, GB/s for copies
    source: str


# name fragment (matched case-insensitively, first hit wins: put specific names first)
# -> (fp32, tf32, fp16, bf16) dense TFLOP/s, host link GB/s per direction, source
_H100_SRC = "NVIDIA H100 Tensor Core GPU datasheet (dense = sparse/2); glennklockwood.com/garden/processors/h100"
_GPU_TABLE: tuple[tuple[str, tuple[float | None, float | None, float | None, float | None], float, str], ...] = (
    (
        "H200 NVL",
        (60.0, 417.5, 835.5, 835.5),
        64.0,
        "NVIDIA H200 datasheet, H200 NVL column (dense = sparse/2); PCIe Gen5 x16",
    ),
    (
        "H200",
        (67.0, 494.7, 989.4, 989.4),
        64.0,
        "NVIDIA H200 datasheet, H200 SXM column (dense = sparse/2); PCIe Gen5 x16",
    ),
    (
        "H100 PCIe",
        (51.0, 378.0, 756.0, 756.0),
        64.0,
        "NVIDIA H100 datasheet, H100 PCIe column (dense = sparse/2); PCIe Gen5 x16",
    ),
    (
        "H100 NVL",
        (60.0, 417.5, 835.5, 835.5),
        64.0,
        "NVIDIA H100 datasheet, H100 NVL column (dense = sparse/2); PCIe Gen5 x16",
    ),
    ("H100", (67.0, 494.7, 989.4, 989.4), 64.0, _H100_SRC + "; PCIe Gen5 x16"),
    ("A100", (19.5, 156.0, 312.0, 312.0), 32.0, "NVIDIA A100 Tensor Core GPU datasheet (dense); PCIe Gen4 x16"),
    ("L40S", (91.6, 183.0, 362.0, 362.0), 32.0, "NVIDIA L40S datasheet (dense = sparse/2); PCIe Gen4 x16"),
    ("L4", (30.3, 60.0, 121.0, 121.0), 32.0, "NVIDIA L4 Tensor Core GPU datasheet (dense = sparse/2); PCIe Gen4 x16"),
    (
        "RTX 4090",
        (82.6, 82.6, 165.2, 165.2),
        32.0,
        "NVIDIA Ada Lovelace architecture whitepaper, GeForce RTX 4090 (FP32-accumulate Tensor figures, dense); PCIe Gen4 x16",
    ),
    ("T4", (8.1, None, 65.0, None), 16.0, "NVIDIA T4 datasheet (FP16 mixed precision); PCIe Gen3 x16"),
)
_DTYPES = ("float32", "tf32", "float16", "bfloat16")


def _row(name: str | None):
    if not name:
        return None
    low = name.lower()
    for fragment, flops, link, source in _GPU_TABLE:
        frag = fragment.lower()
        # whole-token match, so "L4" does not match "L40S" and "T4" not "RTX 4090"
        idx = low.find(frag)
        while idx != -1:
            before = low[idx - 1] if idx > 0 else " "
            after = low[idx + len(frag)] if idx + len(frag) < len(low) else " "
            if not before.isalnum() and not after.isalnum():
                return flops, link, source
            idx = low.find(frag, idx + 1)
    return None


def expected_matmul(
    device_type: str, name: str | None, dtype: str, *, threads: int | None = None, cpu_capability: str | None = None
) -> Peak | None:
    """The dense matmul peak for ``dtype`` on this device, or None when unknown."""
    if device_type == "cpu":
        if dtype != "float32" or not threads:
            return None
        return Peak(
            value=cpu_floor_gflops(threads, cpu_capability),
            source="floor estimate: threads x 2.0 GHz x one FMA per cycle on the widest vector unit "
            "torch uses (8 fp32 lanes for AVX2/AVX512, 4 otherwise)",
        )
    if device_type != "cuda":
        return None
    row = _row(name)
    if row is None or dtype not in _DTYPES:
        return None
    flops, _link, source = row
    tflops = flops[_DTYPES.index(dtype)]
    if tflops is None:
        return None
    return Peak(value=tflops * 1000.0, source=source)


def expected_copy(device_type: str, name: str | None) -> Peak | None:
    """The host link's per-direction bandwidth (GB/s) for a known GPU, or None."""
    if device_type != "cuda":
        return None
    row = _row(name)
    if row is None:
        return None
    return Peak(value=row[1], source=row[2])


def cpu_floor_gflops(threads: int, cpu_capability: str | None) -> float:
    """A deliberately low estimate of CPU fp32 matmul throughput (GFLOP/s)."""
    lanes = 8 if cpu_capability and cpu_capability.upper().startswith("AVX") else 4
    return threads * 2.0 * lanes * 2  # GHz x lanes x 2 FLOP per FMA
