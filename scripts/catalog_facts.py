"""Hand-kept facts for the catalog snapshot, each with its source (keys in SOURCES).

What PyPI shows (versions, dates, Python / platform tags, Requires-Python, the
CUDA pins of the default Linux build, companion pins) is read from PyPI by
``build_catalog.py``; what PyPI cannot show (download.pytorch.org variants,
arch lists, ROCm gfx targets) is written here, from
``docs/research/compat-facts.md`` and the real wheels we could inspect.
A value the sources did not confirm is marked ``False`` in its ``confirmed``
slot and becomes an ``unconfirmed`` fact in the catalog.
"""

SOURCES = {
    "PYPI": "PyPI simple API (PEP 691 JSON): files, Python/ABI/platform tags, upload dates, Requires-Python; "
    "read by scripts/build_catalog.py",
    "PYPI-METADATA": "core metadata (METADATA) of the PyPI wheels, read by scripts/build_catalog.py: "
    "Requires-Dist nvidia-*/cuda-toolkit pins (CUDA and cuDNN of the default Linux build) and companion torch pins",
    "WHEEL-2.14.1": "the PyPI torch 2.14.1 cp311 manylinux_2_28_x86_64 wheel installed and inspected: "
    "torch._C._cuda_getArchFlags() = 'sm_75 sm_80 sm_86 sm_90 sm_100 sm_120', torch.version.cuda = 13.0, "
    "cuDNN 92400 (tests/fixtures/torch-2.14.1-pypi-cp311-linux-x86_64__arch-flags.json)",
    "PYPI-WHEEL-ARCH": "the CUDA_ARCH_FLAGS literal (what torch._C._cuda_getArchFlags() returns) read from "
    "torch/lib/libtorch_python.so (torch_python.dll on Windows) of the PyPI wheel itself, by HTTP range requests "
    "(scripts/build_catalog.py); a CPU build has none",
    "REL": "pytorch/pytorch RELEASE.md 'Release Compatibility Matrix' and 'PyTorch CUDA Support Matrix' (compat-facts.md 0)",
    "TI": "pytorch/test-infra tools/scripts/generate_binary_build_matrix.py on the release/N branch, 'test' entry "
    "(compat-facts.md 1a/1b)",
    "PYPI-SCRIPT": "pytorch/test-infra release/pypi/promote_pypi_to_staging.sh and history: which download.pytorch.org "
    "build is republished on PyPI (compat-facts.md 8)",
    "BLD": "pytorch/builder manywheel/build_cuda.sh on the release/N branch (compat-facts.md 3)",
    "MOI": "moi90/pytorch_compute_capabilities table.md @cc0445136a6e, cuobjdump of pytorch-channel conda packages",
    "PB": "pytorch .ci/manywheel/build_cuda.sh in pytorch/pytorch or forks; fork commits are not tied to a "
    "release tag (compat-facts.md 0, 3)",
    "PKGH": "pytorch/test-infra tools/pkg-helpers/pytorch_pkg_helpers/cuda.py per release branch (compat-facts.md 3)",
    "RFC-2.11": "pytorch RFC #172663 and dev-discuss posts on 2.11 CUDA builds (compat-facts.md 3)",
    "PR-175567": "pytorch PR #175567 '[release-only] Remove +ptx from cuda 13.0 builds' (2026-02-23), "
    "consistent with the inspected 2.14.1 wheel (no PTX)",
    "RFC-190385": "pytorch RFC #190385 (2.15: CUDA 12.6 dropped, 13.2 stable/default)",
    "THIRD-PARTY-MATRIX": "a third-party maintained matrix of download.pytorch.org wheels, checked by its author "
    "with HTTP HEAD (compat-facts.md 1a: the cu129 side-channel wheels)",
    "UV-ROCM-TABLE": "uv crates/uv-torch/src/backend.rs @26a9dd4 LINUX_AMD_GPU_DRIVERS, built from "
    "torch.cuda.get_arch_list() of each ROCm wheel (probing.md 4.5)",
    "ROCM-KNOWLEDGE": "gfx targets of PyTorch's ROCm 5.x wheels (PYTORCH_ROCM_ARCH of the builder images), "
    "recalled, not re-read",
    "GLIBC-2.17": "Linux x86_64 wheels up to 2.5 (and the cpu/cu118/cu124 builds of 2.6) were built on "
    "manylinux2014 / CentOS 7: glibc 2.17 whatever the manylinux1 tag says (compat-facts.md 6; pytorch issue "
    "#51039, #123649)",
    "MANYLINUX-2.28": "pytorch issues #123649, #126551, PR #143423: manylinux_2_28 (glibc 2.28, CXX11 ABI) "
    "builds from 2.6 (compat-facts.md 6)",
    "TI-PY": "pytorch/test-infra tools/scripts/generate_binary_build_matrix.py run at the head of release/N "
    "(commits in scripts/catalog_facts.py TI_PYTHONS), 'test' channel, for linux, linux-aarch64 and windows: the "
    "Python versions every download.pytorch.org build of the release is validated for; the platform tag is "
    "inferred, and its floor is the glibc fact",
    "TI-IMAGE": "the builder image of each Linux variant in pytorch/test-infra tools/scripts/"
    "generate_binary_build_matrix.py at the head of release/N (commits in scripts/catalog_facts.py TI_PYTHONS): "
    "pytorch/manylinux2_28-builder (glibc 2.28), or pytorch/manylinux-builder (manylinux2014, glibc 2.17) for 2.6's "
    "cpu, cu118 and cu124 builds, as pytorch PR #141565 ('Use Manylinux2014 for CPU, CUDA11.8, CUDA12.4') says",
    "PATTERN": "inferred from the neighbouring releases (same minor series); no source seen",
    "TI-CU129": "pytorch/test-infra tools/scripts/generate_binary_build_matrix.py on release/N, 'test' channel (the "
    "release candidates on whl/test, validated and built against by the domain libraries) lists CUDA 12.9 from: "
    "release/2.8 Windows 049cd025d3e0680b4d40230b6dc7a1ad7098359d (2025-06-26, before 2.8.0); release/2.9 x86_64 "
    "6beb190bdf227490f91abce193a3401fae701916 (2025-10-16) and aarch64 71da488efe920691dc9a067ba0e0fccb8e22dc08 "
    "(2025-10-17), after 2.9.0, so 2.9.1 only; release/2.10 and 2.11 x86_64 and aarch64 from the branch cut "
    "(ea334aba3ba9636e792d62b88893ab2b8e362b27, 1673056d0054ca046fe643a72b2b69bb84b48e2a); release/2.12 "
    "35c0ecab946795470d57ca535a954ac37392b75c (2026-06-09, after 2.12.0, so 2.12.1); release/2.13 "
    "0f7335e1e293321c8b7bc3025dd8af7729bfd822 (2026-06-25, before 2.13.0); none on release/2.14 (removed on main by "
    "6186f45393c0104fabbf6397d0a346f654755992). release/promote/common_utils.sh aws_promote copies every file of the "
    "version from whl/test to whl recursively, cu129 included",
    "PT-WIN-ARM64": "pytorch/pytorch .github/workflows/generated-windows-arm64-binary-wheel-nightly.yml (read at "
    "06b24a9d8bc29d5600435f56c66abc8734a8f574, not tied to a release branch): CPU-only wheels for Python 3.11 to 3.13, "
    "built on nightly pushes and release-candidate tags; pytorch/test-infra release/2.8 to release/2.14 "
    "generate_binary_build_matrix.py installs them with --pre from the nightly index ('winarm64 has only nightly torch "
    "package for now'): no release build of any version is confirmed",
    "PT-S390X": "pytorch/pytorch .github/workflows/generated-linux-s390x-binary-manywheel-nightly.yml (read at "
    "0140b62d8bab203e4699faeba802b5204fa51d26, not tied to a release branch): CPU-only manywheel builds on nightly "
    "pushes and release-candidate tags; no test-infra release matrix (release/2.6 to release/2.14) validates an s390x "
    "build and PyPI has none: no release build of any version is confirmed",
    "NO-PPC64LE": "pytorch/test-infra at release/2.6, release/2.10, release/2.14 and main (61a77570f45416dc425c17d4a648376541a84732): "
    "neither tools/scripts (generate_binary_build_matrix.py, whose OS constants at release/2.14 are linux, linux-aarch64, windows, "
    "windows-arm64, macos-arm64) nor .github/workflows names ppc64le; PyPI has no ppc64le torch wheel",
}

# --- variants on download.pytorch.org, per minor series -------------------------
# minor -> {platform: [(variant, confirmed, source)]}; platforms: linux-x86_64,
# linux-aarch64, windows-x86_64.  CPU builds exist everywhere (whl/cpu).
C, U = True, False
X86, ARM, WIN = "linux-x86_64", "linux-aarch64", "windows-x86_64"


def _v(names, ok, src):
    return [(n, ok, src) for n in names.split()]


VARIANTS = {
    "1.13": {X86: _v("cu116 cu117", C, "REL") + _v("rocm5.1.1 rocm5.2", U, "REL"), WIN: _v("cu116 cu117", C, "REL")},
    "2.0": {X86: _v("cu117 cu118 rocm5.3 rocm5.4.2", C, "TI"), WIN: _v("cu117 cu118", C, "TI")},
    "2.1": {X86: _v("cu118 cu121 rocm5.5 rocm5.6", C, "TI"), WIN: _v("cu118 cu121", C, "TI")},
    "2.2": {X86: _v("cu118 cu121 rocm5.6 rocm5.7", C, "TI"), WIN: _v("cu118 cu121", C, "TI")},
    "2.3": {X86: _v("cu118 cu121 rocm5.7 rocm6.0", C, "TI"), WIN: _v("cu118 cu121", C, "TI")},
    "2.4": {X86: _v("cu118 cu121 cu124 rocm6.0 rocm6.1", C, "TI"), WIN: _v("cu118 cu121 cu124", C, "TI")},
    "2.5": {
        X86: _v("cu118 cu121 cu124 rocm6.1 rocm6.2 xpu", C, "TI"),
        ARM: _v("cu124", U, "TI"),
        WIN: _v("cu118 cu121 cu124", C, "TI"),
    },
    "2.6": {
        X86: _v("cu118 cu124 cu126 rocm6.1 rocm6.2.4 xpu", C, "TI"),
        ARM: _v("cu126", U, "TI"),
        WIN: _v("cu118 cu124 cu126 xpu", C, "TI"),
    },
    "2.7": {
        X86: _v("cu118 cu126 cu128 rocm6.2.4 rocm6.3 xpu", C, "TI"),
        ARM: _v("cu128", C, "TI"),
        WIN: _v("cu118 cu126 cu128 xpu", C, "TI"),
    },
    "2.8": {
        X86: _v("cu126 cu128 cu129 rocm6.3 rocm6.4 xpu", C, "TI"),
        ARM: _v("cu129", C, "TI"),
        WIN: _v("cu126 cu128 cu129 xpu", C, "TI"),
    },
    "2.9": {
        X86: _v("cu126 cu128 cu130 rocm6.3 rocm6.4 xpu", C, "TI"),
        ARM: _v("cu126 cu128 cu130", C, "TI"),
        WIN: _v("cu126 cu128 cu130 xpu", C, "TI"),
    },
    "2.10": {
        X86: _v("cu126 cu128 cu130 rocm7.0 rocm7.1 xpu", C, "TI") + _v("cu129", C, "TI-CU129"),
        ARM: _v("cu126 cu128 cu130", C, "TI") + _v("cu129", C, "TI-CU129"),
        WIN: _v("cu126 cu128 cu130 xpu", C, "TI"),
    },
    "2.11": {
        X86: _v("cu126 cu128 cu130 rocm7.1 rocm7.2 xpu", C, "TI") + _v("cu129", C, "TI-CU129"),
        ARM: _v("cu126 cu128 cu130", C, "TI") + _v("cu129", C, "TI-CU129"),
        WIN: _v("cu126 cu128 cu130 xpu", C, "TI"),
    },
    "2.12": {
        X86: _v("cu126 cu130 cu132 rocm7.1 rocm7.2 xpu", C, "TI"),
        ARM: _v("cu126 cu130 cu132", C, "TI"),
        WIN: _v("cu126 cu130 cu132 xpu", C, "TI"),
    },
    "2.13": {
        X86: _v("cu126 cu130 cu132 rocm7.1 rocm7.2 xpu", C, "TI") + _v("cu129", C, "TI-CU129"),
        ARM: _v("cu126 cu130 cu132", C, "TI") + _v("cu129", C, "TI-CU129"),
        WIN: _v("cu126 cu130 cu132 xpu", C, "TI"),
    },
    "2.14": {
        X86: _v("cu126 cu130 cu132 rocm7.2 rocm7.14 xpu", C, "TI"),
        ARM: _v("cu126 cu130 cu132", C, "TI"),
        WIN: _v("cu126 cu130 cu132 xpu", C, "TI"),
    },
    # 2.15: no released-matrix data; the PyPI default (cu132) is confirmed by PyPI metadata
    "2.15": {
        X86: _v("cu130 cu132 rocm7.2 rocm7.14 xpu", U, "RFC-190385"),
        ARM: _v("cu130 cu132", U, "RFC-190385"),
        WIN: _v("cu130 cu132 xpu", U, "RFC-190385"),
    },
}
# cu129 builds of one patch release only (TI-CU129 gives the dates): test-infra's test channel gained CUDA 12.9
# after 2.9.0 and after 2.12.0.  2.9.0's x86_64 cu129 wheels rest on the third-party list alone.
VARIANTS_PATCH = {
    "2.9.0": {X86: _v("cu129", U, "THIRD-PARTY-MATRIX")},
    "2.9.1": {X86: _v("cu129", C, "TI-CU129"), ARM: _v("cu129", C, "TI-CU129")},
    "2.12.1": {X86: _v("cu129", C, "TI-CU129"), ARM: _v("cu129", C, "TI-CU129")},
}

# --- Python versions of the builds on download.pytorch.org, per release branch (TI-PY) ---------
# pytorch/test-infra tools/scripts/generate_binary_build_matrix.py at the head of release/N (commit), run with
# --package-type wheel --channel test --with-cpu/--with-cuda/--with-rocm/--with-xpu enable
# --limit-pr-builds false --build-python-only disable, for --operating-system linux, linux-aarch64 and windows
# (2026-12-03): every variant of a release gets the same Python versions on all three.  A build's Python
# tags are confirmed when every one is in this list (2.12 lists no 3.13t although PyPI's 2.12.0 has cp313t:
# those builds stay unconfirmed).  No release/2.15 branch was in the snapshot read.
TI_PYTHONS = {
    "2.6": ("89df92f1427b3bab8eba64dc75c3be48de52007e", "3.9 3.10 3.11 3.12 3.13"),
    "2.7": ("b4870dd25914dbc61267c945726717f74207c0ef", "3.9 3.10 3.11 3.12 3.13 3.13t"),
    "2.8": ("e521879ff780e43e34c73c67922b35a44b8db1d3", "3.9 3.10 3.11 3.12 3.13 3.13t"),
    "2.9": ("f3ee5ce046963b83b12b2e394f220b4a3a69409b", "3.10 3.11 3.12 3.13 3.13t 3.14 3.14t"),
    "2.10": ("f8efba230a913340f882a883f58ac60bc13b6472", "3.10 3.11 3.12 3.13 3.13t 3.14 3.14t"),
    "2.11": ("2121ac63e9cd7b82fec80a79fc24b6e3ddec2a86", "3.10 3.11 3.12 3.13 3.13t 3.14 3.14t"),
    "2.12": ("a0027c564f070cccd8a71ac186473ca478ddb1f7", "3.10 3.11 3.12 3.13 3.14 3.14t"),
    "2.13": ("d499353b668b5d51090a41b8a91d4be39bc188ca", "3.10 3.11 3.12 3.13 3.14 3.14t"),
    "2.14": ("c840391a15b90d8bc60be5667e7612fbb90b6bfe", "3.10 3.11 3.12 3.13 3.14 3.14t 3.15 3.15t"),
}
# the variants that same run lists per platform: a build's Pythons count as validated only for these.
# (Its cu129 rows for linux-x86_64 and linux-aarch64 2.9-2.13 are the branch heads; when each appeared is in the
# TI-CU129 source, and VARIANTS / VARIANTS_PATCH carry cu129 only for the releases made after that.)
TI_VARIANTS = {
    "2.6": {X86: "cpu cu118 cu124 cu126 rocm6.1 rocm6.2.4 xpu", ARM: "cpu cu126", WIN: "cpu cu118 cu124 cu126 xpu"},
    "2.7": {X86: "cpu cu118 cu126 cu128 rocm6.2.4 rocm6.3 xpu", ARM: "cpu cu128", WIN: "cpu cu118 cu126 cu128 xpu"},
    "2.8": {X86: "cpu cu126 cu128 cu129 rocm6.3 rocm6.4 xpu", ARM: "cpu cu129", WIN: "cpu cu126 cu128 cu129 xpu"},
    "2.9": {X86: "cpu cu126 cu128 cu129 cu130 rocm6.3 rocm6.4 xpu", ARM: "cpu cu126 cu128 cu129 cu130",
            WIN: "cpu cu126 cu128 cu130 xpu"},
    "2.10": {X86: "cpu cu126 cu128 cu129 cu130 rocm7.0 rocm7.1 xpu", ARM: "cpu cu126 cu128 cu129 cu130",
             WIN: "cpu cu126 cu128 cu130 xpu"},
    "2.11": {X86: "cpu cu126 cu128 cu129 cu130 rocm7.1 rocm7.2 xpu", ARM: "cpu cu126 cu128 cu129 cu130",
             WIN: "cpu cu126 cu128 cu130 xpu"},
    "2.12": {X86: "cpu cu126 cu129 cu130 cu132 rocm7.1 rocm7.2 xpu", ARM: "cpu cu126 cu129 cu130 cu132",
             WIN: "cpu cu126 cu130 cu132 xpu"},
    "2.13": {X86: "cpu cu126 cu129 cu130 cu132 rocm7.1 rocm7.2 xpu", ARM: "cpu cu126 cu129 cu130 cu132",
             WIN: "cpu cu126 cu130 cu132 xpu"},
    "2.14": {X86: "cpu cu126 cu130 cu132 rocm7.14 rocm7.2 xpu", ARM: "cpu cu126 cu130 cu132", WIN: "cpu cu126 cu130 cu132 xpu"},
}

# the builder image of each variant in the same run: pytorch/manylinux2_28-builder (glibc 2.28) for every Linux
# x86_64 variant in TI_VARIANTS but these, on pytorch/manylinux-builder (manylinux2014, glibc 2.17); on aarch64 only
# the CPU build names a 2.28 image (manylinux2_28_aarch64-builder; the CUDA ones manylinuxaarch64-builder, which
# does not say).  The 2.6 ROCm builds are on manylinux2_28-builder there, against GLIBC-2.17: left unconfirmed.
TI_GLIBC_2_17 = {"2.6": {X86: "cpu cu118 cu124"}}

# --- PyPI's default build per platform (checked against the metadata pins) -------
# minor -> {platform: variant}
PYPI_DEFAULT = {}
for _m, _cu in [("1.13", "cu117"), ("2.0", "cu117"), ("2.1", "cu121"), ("2.2", "cu121"), ("2.3", "cu121"),
                ("2.4", "cu121"), ("2.5", "cu124"), ("2.6", "cu124"), ("2.7", "cu126"), ("2.8", "cu128"),
                ("2.9", "cu128"), ("2.10", "cu128"), ("2.11", "cu130"), ("2.12", "cu130"), ("2.13", "cu130"),
                ("2.14", "cu130"), ("2.15", "cu132")]:
    _arm = _cu if _m in ("2.11", "2.12", "2.13", "2.14", "2.15") else "cpu"
    PYPI_DEFAULT[_m] = {X86: _cu, ARM: _arm, WIN: "cpu", "macos-aarch64": "cpu", "macos-x86_64": "cpu"}

# --- CUDA architectures (TORCH_CUDA_ARCH_LIST) per minor, variant, platform ---------
# (minor, variant) -> (x86 list, aarch64 list or None, confirmed, source); Windows uses
# the x86 list without PTX from 2.12 ("+PTX available on linux builds only", REL).
K37 = "3.7;5.0;6.0;7.0;7.5;8.0;8.6"
K37H = K37 + ";9.0"
M50 = "5.0;6.0;7.0;7.5;8.0;8.6;9.0"
ARCH = {
    ("1.13", "cu116"): (K37, None, C, "BLD"),
    ("1.13", "cu117"): (K37, None, C, "BLD"),
    ("2.0", "cu117"): (K37, None, C, "BLD"),
    ("2.0", "cu118"): (K37H, None, C, "BLD"),
    **{(m, "cu118"): (K37H, None, C, "BLD") for m in ("2.1", "2.2", "2.3", "2.4", "2.5")},
    **{(m, "cu121"): (M50, None, C, "BLD") for m in ("2.1", "2.2", "2.3", "2.4", "2.5")},
    ("2.4", "cu124"): (M50, None, C, "BLD"),
    ("2.5", "cu124"): (M50, "9.0", C, "BLD"),
    ("2.6", "cu118"): (K37H, None, U, "PB"),
    ("2.6", "cu124"): (M50, None, U, "PB"),
    ("2.6", "cu126"): (M50, "9.0", U, "PB"),
    ("2.7", "cu118"): (K37H, None, U, "PB"),
    ("2.7", "cu126"): (M50, None, U, "PB"),
    ("2.7", "cu128"): ("7.5;8.0;8.6;9.0;10.0;12.0+PTX", "8.0;9.0;10.0;12.0", U, "PB"),
    ("2.8", "cu126"): (M50, None, C, "PB"),
    ("2.8", "cu128"): ("7.0;7.5;8.0;8.6;9.0;10.0;12.0", None, C, "PB"),
    ("2.8", "cu129"): ("7.0;7.5;8.0;8.6;9.0;10.0;12.0+PTX", "8.0;9.0;10.0;12.0", U, "PB"),
    **{(m, "cu126"): (M50, "8.0;9.0", C, "PKGH") for m in ("2.9", "2.10")},
    **{(m, "cu128"): ("7.0;7.5;8.0;8.6;9.0;10.0;12.0", "8.0;9.0;10.0;12.0", C, "PKGH") for m in ("2.9", "2.10")},
    **{(m, "cu129"): ("7.0;7.5;8.0;8.6;9.0;10.0;12.0+PTX", "8.0;9.0;10.0;12.0", U, "PB") for m in ("2.9", "2.10", "2.11", "2.12", "2.13")},
    **{(m, "cu130"): ("7.5;8.0;8.6;9.0;10.0;12.0+PTX", "8.0;9.0;10.0;11.0;12.0+PTX", U, "PKGH") for m in ("2.9", "2.10")},
    ("2.11", "cu126"): (M50, "8.0;9.0", U, "RFC-2.11"),
    ("2.11", "cu128"): ("7.5;8.0;8.6;9.0;10.0;12.0", "8.0;9.0;10.0;12.0", U, "RFC-2.11"),
    **{(m, "cu130"): ("7.5;8.0;8.6;9.0;10.0;12.0", "8.0;9.0;10.0;11.0;12.0", U, "PR-175567") for m in ("2.11", "2.12", "2.13", "2.14", "2.15")},
    **{(m, "cu126"): (M50, "8.0;9.0", C, "REL") for m in ("2.12", "2.13", "2.14")},
    # REL says "+PTX" for cu130 and cu132 on Linux, but every cu130 wheel on PyPI (2.11-2.15) and the
    # 2.15 cu132 PyPI wheel have no PTX (PYPI-WHEEL-ARCH): the lists below follow the wheels.
    **{(m, "cu132"): ("7.5;8.0;8.6;9.0;10.0;12.0", "8.0;9.0;10.0;11.0;12.0", U, "REL") for m in ("2.12", "2.13", "2.14", "2.15")},
}
# a real wheel inspected: overrides for one exact build (the PyPI default builds' lists are read
# from the wheels themselves by build_catalog.py, which wins over every row here)
ARCH_EXACT: dict = {}

# --- cuDNN per (minor, variant) (REL 1c); the PyPI default's pin overrides it ------
CUDNN = {
    ("2.0", "cu118"): "8.7.0.84",
    **{(m, "cu118"): "8.7.0.84" for m in ("2.1", "2.2", "2.3")},
    **{(m, "cu121"): "8.9.2.26" for m in ("2.1", "2.2", "2.3")},
    **{(m, v): "9.1.0.70" for m in ("2.4", "2.5") for v in ("cu118", "cu121", "cu124")},
    ("2.6", "cu118"): "9.1.0.70", ("2.6", "cu124"): "9.1.0.70", ("2.6", "cu126"): "9.5.1.17",
    ("2.7", "cu118"): "9.1.0.70", ("2.7", "cu126"): "9.5.1.17", ("2.7", "cu128"): "9.7.1.26",
    **{("2.8", v): "9.10.2.21" for v in ("cu126", "cu128", "cu129")},
    ("2.9", "cu126"): "9.10.2.21", ("2.9", "cu128"): "9.10.2.21", ("2.9", "cu130"): "9.13.0.50",
    ("2.10", "cu126"): "9.10.2.21", ("2.10", "cu130"): "9.15.1.9",
    ("2.11", "cu126"): "9.10.2.21", ("2.11", "cu128"): "9.17.1.4",
    ("2.11", "cu130"): "9.19.0.56",  # REL says 9.17.1.4; the PyPI pins of this very binary say 9.19.0.56
    **{(m, v): "9.20.0.48" for m in ("2.12", "2.13") for v in ("cu130", "cu132")},
    **{("2.14", v): "9.24.0.43" for v in ("cu130", "cu132")},
    **{(m, "cu126"): "9.10.2.21" for m in ("2.12", "2.13", "2.14")},
}

# --- ROCm gfx targets per ROCm version -----------------------------------------------
_G6 = "gfx900 gfx906 gfx908 gfx90a gfx942 gfx1030 gfx1100 gfx1101 gfx1102 gfx1200 gfx1201"
_G7 = "gfx900 gfx906 gfx908 gfx90a gfx942 gfx950 gfx1030 gfx1100 gfx1101 gfx1102 gfx1200 gfx1201"
ROCM_GFX = {
    "5.1.1": ("gfx900 gfx906 gfx908 gfx90a gfx1030", U, "ROCM-KNOWLEDGE"),
    "5.2": ("gfx900 gfx906 gfx908 gfx90a gfx1030", U, "ROCM-KNOWLEDGE"),
    "5.3": ("gfx900 gfx906 gfx908 gfx90a gfx1030", U, "ROCM-KNOWLEDGE"),
    "5.4.2": ("gfx900 gfx906 gfx908 gfx90a gfx1030", U, "ROCM-KNOWLEDGE"),
    "5.5": ("gfx900 gfx906 gfx908 gfx90a gfx1030 gfx1100", U, "ROCM-KNOWLEDGE"),
    "5.6": ("gfx900 gfx906 gfx908 gfx90a gfx1030 gfx1100", U, "ROCM-KNOWLEDGE"),
    "5.7": ("gfx900 gfx906 gfx908 gfx90a gfx940 gfx941 gfx942 gfx1030 gfx1100", U, "ROCM-KNOWLEDGE"),
    "6.0": ("gfx900 gfx906 gfx908 gfx90a gfx942 gfx1030 gfx1100", C, "UV-ROCM-TABLE"),
    "6.1": ("gfx900 gfx906 gfx908 gfx90a gfx942 gfx1030 gfx1100 gfx1101", C, "UV-ROCM-TABLE"),
    "6.2": ("gfx900 gfx906 gfx908 gfx90a gfx942 gfx1030 gfx1100", C, "UV-ROCM-TABLE"),
    "6.2.4": (_G6, C, "UV-ROCM-TABLE"),
    "6.3": (_G6, C, "UV-ROCM-TABLE"),
    "6.4": (_G6, C, "UV-ROCM-TABLE"),
    "7.0": (_G7, C, "UV-ROCM-TABLE"),
    "7.1": (_G7, C, "UV-ROCM-TABLE"),
    "7.2": (_G7 + " gfx1150 gfx1151", C, "UV-ROCM-TABLE"),
    "7.14": (_G7 + " gfx1150 gfx1151", U, "PATTERN"),
}

# --- platforms with no release build in the catalog, and what the sources say of them ------------------------
# (os, arch, note, confirmed, source); resolve names the note when it refuses such a machine.  PyPI has no wheel
# for any of them (read by build_catalog.py, which stops if it finds one).
PLATFORMS = [
    ("windows", "aarch64",
     "PyTorch builds CPU-only Windows arm64 wheels (Python 3.11 to 3.13) for its nightly index; no release of them "
     "is confirmed. An x64 Python runs the win_amd64 wheels under emulation", U, "PT-WIN-ARM64"),
    ("linux", "s390x",
     "PyTorch builds CPU-only s390x wheels in its nightly workflow; no release of them is confirmed", U, "PT-S390X"),
    ("linux", "ppc64le", "PyTorch builds no ppc64le wheels", C, "NO-PPC64LE"),
]
