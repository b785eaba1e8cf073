"""doctor's rules on plain-data states (no GPU, no processes).

States are built from the same event shape the check script prints, so they
go through the real parser (``build_report``).  GPU and driver values follow
the recorded captures named beside them (tests/fixtures/probe/)
and the failure reports in tests/fixtures/explain/research-cases.json; the two
states recorded on this machine with the real torch 2.13.0 CPU wheel live in
tests/fixtures/doctor/ (see tests/fixtures/SOURCES.md).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from torchup.doctor import rules
from torchup.doctor.problems import PROBLEMS
from torchup.doctor.rules import CondaRecord, DoctorState, diagnose, expected_companion, state_from_dict, state_to_dict
from torchup.machine import Gpu, Machine

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "doctor"
PY = "/env/bin/python"


def res(step, status="pass", detail="", data=None, device=None):
    out = {"event": "result", "step": step, "status": status, "detail": detail, "seconds": 0.01, "data": data or {}}
    if device:
        out["device"] = device
    return out


def run_of(*, torch=None, torch_error=None, build=None, devices=None, cuda_available=None, warnings=(),
           companions=None, dists=(), site=None, libraries=None, python=None, numpy=None, mps_available=False,
           xpu_available=False, driver_cuda=None):
    """A light check run, as the check script would print it."""
    py = {"version": "3.12.3", "implementation": "cpython", "executable": PY, "prefix": "/env", "base_prefix": "/usr",
          "bits": 64, "platform": "linux", "machine": "x86_64"}
    py.update(python or {})
    ev = [{"event": "hello", "protocol": 1, "light": True, "bench": False}, res("python", data=py)]
    site = site or {"site_packages": ["/env/lib/python3.12/site-packages"], "user_site": "/home/u/.local/lib/python3.12/site-packages",
                    "user_site_enabled": False}
    ev.append(res("distributions", data=dict(site, dists=list(dists))))
    if torch is not None:
        ev.append(res("import-torch", data=dict({"cuda": None, "hip": None, "file": "/env/lib/python3.12/site-packages/torch/__init__.py"}, **torch)))
        ev.append(res("build", data=dict({"arch_flags": []}, **(build or {}))))
        for name in ("torchvision", "torchaudio"):
            c = (companions or {}).get(name)
            if c is None:
                ev.append(res(f"import-{name}", "skip", "not installed"))
            elif "error" in c:
                ev.append(res(f"import-{name}", "fail", c["error"], {"version": c.get("version")}))
            else:
                ev.append(res(f"import-{name}", data={"version": c["version"]}))
        ev.append(res("numpy", data={"version": numpy}) if numpy else res("numpy", "skip", "numpy is not installed"))
        devs = [{"device": "cpu", "type": "cpu"}] + list(devices or [])
        dev_data = {"cuda_available": bool(cuda_available), "mps_available": mps_available, "xpu_available": xpu_available,
                    "devices": devs}
        if warnings:
            dev_data["warnings"] = list(warnings)
        if driver_cuda:
            dev_data["driver_cuda"] = driver_cuda
        ev.append(res("devices", data=dev_data))
        ev.append(res("libraries", data={"loaded": list(libraries or [])}))
    else:
        ev.append(res("import-torch", "fail", torch_error or "torch is not installed in this Python",
                      {"traceback": torch_error} if torch_error else {"missing": True}))
    ev.append({"event": "done"})
    return {"events": ev, "returncode": 0, "timed_out": False, "start_error": None, "stderr": ""}


def state(machine=None, run=None, **kw) -> DoctorState:
    run = run or run_of()
    return DoctorState(python=PY, machine=machine, verify=rules.verify_from_run(run, PY), verify_run=run, **kw)


def linux(**kw) -> Machine:
    base = dict(os="linux", arch="x86_64", python="3.12", python_bits=64, libc="glibc 2.35")
    base.update(kw)
    return Machine(**base)


# nvidia-smi__rtx4090d__driver550.txt / nvidia-smi-q-x__rtx4090__driver535.xml: an Ada card, CUDA 12.x driver
RTX4090 = Gpu(vendor="nvidia", name="NVIDIA GeForce RTX 4090", compute_capability="8.9", memory_mib=24564)
# failure case pascal-dropped-in-cu128 (turboderp-org/exllamav2#786)
GTX1080TI = Gpu(vendor="nvidia", name="NVIDIA GeForce GTX 1080 Ti", compute_capability="6.1")
# nvidia-smi__rtx5090__driver580.txt
RTX5090 = Gpu(vendor="nvidia", name="NVIDIA GeForce RTX 5090", compute_capability="12.0")
CU128_28 = ["sm_70", "sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"]  # compat-facts 3: 2.8 cu128, no PTX
CU126 = ["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"]  # 2.8-2.14 cu126
TORCH_DIST = {"name": "torch", "version": "2.8.0", "location": "/env/lib/python3.12/site-packages", "installer": "pip"}


def ids(diags):
    return [d.finding.id for d in diags]


def one(diags, pid):
    found = [d for d in diags if d.finding.id == pid]
    assert len(found) == 1, ids(diags)
    return found[0]


# --- every id a rule emits is catalogued, with its family ------------------------------

RULE_IDS = {
    "cpu-build-installed": "cpu-build",
    "gpu-arch-not-in-build": "gpu-arch",
    "gpu-too-old-for-build": "gpu-arch",
    "rocm-gfx-unsupported": "rocm",
    "driver-too-old": "driver",
    "driver-not-loaded": "driver",
    "cuda-visible-devices-hides-gpu": "cuda-unavailable",
    "container-without-gpu": "cuda-unavailable",
    "no-nvidia-driver": "cuda-unavailable",
    "torchvision-torch-mismatch": "companion-mismatch",
    "torchaudio-torch-mismatch": "companion-mismatch",
    "companion-variant-mismatch": "companion-mismatch",
    "torch-replaced-by-install": "pip-install",
    "user-site-shadows-env": "env-mixing",
    "torch-two-copies-mixed": "env-mixing",
    "cuda-libs-shadowed": "linux-shared-lib",
    "cuda-libs-missing": "linux-shared-lib",
    "numpy2-abi": "numpy",
    "conda-pytorch-channel-ended": "conda",
    "conda-cpuonly-pinned": "conda",
    "rosetta-x86-python": "apple-mps",
    "no-wheel-for-python": "no-wheel",
    "no-wheel-32bit-python": "no-wheel",
    "musl-no-wheels": "platform-abi",
    "no-wheel-macos-x86": "no-wheel",
    "mps-not-built": "apple-mps",
    "mps-unavailable": "apple-mps",
    "mps-macos-too-old": "apple-mps",
    "xpu-driver-missing": "intel-xpu",
    "xpu-build-missing": "intel-xpu",
    "nvidia-smi-failed": "driver",  # a probe note made a warning (the probe notes are tested in test_probe_notes.py)
}


def test_every_id_in_the_rules_is_in_the_problem_catalog():
    source = Path(rules.__file__).read_text()
    used = set(re.findall(r'"([a-z0-9]+(?:-[a-z0-9]+)+)"', source)) & set(PROBLEMS)
    used |= {f"{n}-torch-mismatch" for n in ("torchvision", "torchaudio")}
    assert used == set(RULE_IDS)
    for pid, family in RULE_IDS.items():
        assert PROBLEMS[pid].family == family, pid


# --- cpu-build ------------------------------------------------------------------------


def test_cpu_build_with_a_working_nvidia_gpu():
    m = linux(gpus=(RTX4090,), nvidia_driver="550.54.14", cuda_driver_max="12.4")
    s = state(m, run_of(torch={"version": "2.8.0+cpu"}), install_commands=("pip install torch==2.8.0 --index-url X/cu126",))
    d = one(diagnose(s), "cpu-build-installed")
    assert d.severity == "error"
    assert any("RTX 4090" in e for e in d.finding.evidence)
    assert d.finding.fix == ("pip install torch==2.8.0 --index-url X/cu126",)


def test_cpu_build_without_gpu_or_without_driver_is_fine():
    cpu = run_of(torch={"version": "2.13.0+cpu"})
    assert diagnose(state(linux(), cpu)) == []
    no_driver = linux(gpus=(Gpu(vendor="nvidia", name="NVIDIA GeForce RTX 4090", driver_loaded=False),))
    assert "cpu-build-installed" not in ids(diagnose(state(no_driver, cpu)))


def test_cpu_build_from_conda_forge_gets_the_conda_fix():
    m = linux(gpus=(RTX4090,), nvidia_driver="550.54.14")
    rec = CondaRecord(name="pytorch", version="2.0.0", build="cpu_mkl_py311h9b50292_103", channel="https://conda.anaconda.org/conda-forge/linux-64")
    d = one(diagnose(state(m, run_of(torch={"version": "2.0.0"}), conda=(rec,))), "cpu-build-installed")
    assert "pytorch=*=cuda*" in d.finding.fix[0]


# --- gpu-arch ---------------------------------------------------------------------------


def test_pascal_gpu_with_a_cu128_build_is_reported_without_cuda_running():
    m = linux(gpus=(GTX1080TI,), nvidia_driver="570.86.10", cuda_driver_max="12.8")
    run = run_of(torch={"version": "2.8.0+cu128", "cuda": "12.8"}, build={"arch_flags": CU128_28}, cuda_available=True,
                 devices=[{"device": "cuda:0", "type": "cuda", "name": GTX1080TI.name, "capability": "6.1"}],
                 warnings=["UserWarning: NVIDIA GeForce GTX 1080 Ti with CUDA capability sm_61 is not compatible with the current PyTorch installation."])
    d = one(diagnose(state(m, run)), "gpu-too-old-for-build")  # 6.1 is below the build's lowest, sm_70
    assert "compute capability 6.1" in d.finding.evidence[0]
    assert any("not compatible" in e for e in d.finding.evidence)


def test_blackwell_with_cu126_and_ada_with_cu128():
    bw = linux(gpus=(RTX5090,), nvidia_driver="580.65.06", cuda_driver_max="13.0")
    run = run_of(torch={"version": "2.8.0+cu126", "cuda": "12.6"}, build={"arch_flags": CU126})
    assert "gpu-arch-not-in-build" in ids(diagnose(state(bw, run)))
    ada = linux(gpus=(RTX4090,), nvidia_driver="570.86.10", cuda_driver_max="12.8")
    run = run_of(torch={"version": "2.8.0+cu128", "cuda": "12.8"}, build={"arch_flags": CU128_28}, cuda_available=True)
    assert diagnose(state(ada, run)) == []


# --- driver -------------------------------------------------------------------------------


def test_cuda13_build_on_a_cuda12_driver():
    # nvidia-smi__rtx4070__driver550.txt: driver 550, CUDA 12.4
    m = linux(gpus=(RTX4090,), nvidia_driver="550.54.14", cuda_driver_max="12.4")
    run = run_of(torch={"version": "2.11.0", "cuda": "13.0"}, build={"arch_flags": ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120", "compute_120"]},
                 warnings=["UserWarning: CUDA initialization: The NVIDIA driver on your system is too old (found version 12040)."])
    d = one(diagnose(state(m, run)), "driver-too-old")
    assert any("up to 12.4" in e for e in d.finding.evidence)
    assert any("below 580" in e for e in d.finding.evidence)


def test_driver_cuda_from_torch_when_the_probe_has_none():
    m = linux(gpus=(RTX4090,))  # e.g. nvidia-smi missing in a container: no driver facts probed
    # torch._C._cuda_getDriverVersion() = 12040, as the devices step reads it
    run = run_of(torch={"version": "2.11.0", "cuda": "13.0"}, build={"arch_flags": ["sm_75", "sm_80", "sm_86", "sm_89", "sm_90"]},
                 driver_cuda="12.4")
    d = one(diagnose(state(m, run)), "driver-too-old")
    assert d.finding.evidence[0].startswith("the driver supports CUDA up to 12.4")


def test_minor_version_compatibility_is_not_a_problem():
    # nvidia-smi-L__2x-quadro-rtx4000__driver535.txt: R535 (CUDA 12.2) runs cu128 wheels by minor-version compatibility
    m = linux(gpus=(RTX4090,), nvidia_driver="535.104.05", cuda_driver_max="12.2")
    run = run_of(torch={"version": "2.8.0+cu128", "cuda": "12.8"}, build={"arch_flags": CU128_28}, cuda_available=True)
    assert "driver-too-old" not in ids(diagnose(state(m, run)))
    old = linux(gpus=(RTX4090,), nvidia_driver="470.82.01", cuda_driver_max="11.4")
    assert "driver-too-old" in ids(diagnose(state(old, run)))


# --- cuda-unavailable ------------------------------------------------------------------------

CUDA_RUN_NO_GPU = dict(torch={"version": "2.8.0+cu128", "cuda": "12.8"}, build={"arch_flags": CU128_28}, cuda_available=False)


@pytest.mark.parametrize("value, hidden", [("", True), ("-1", True), ("2", True), ("0", False), ("GPU-5f3c", False), ("NoDevFiles", True)])
def test_cuda_visible_devices(value, hidden):
    m = linux(gpus=(RTX4090,), nvidia_driver="550.54.14", cuda_driver_max="12.4")
    found = ids(diagnose(state(m, run_of(**CUDA_RUN_NO_GPU), env={"CUDA_VISIBLE_DEVICES": value})))
    assert ("cuda-visible-devices-hides-gpu" in found) is hidden


def test_container_without_gpu_and_wsl_without_driver():
    box = linux(container="docker")
    d = one(diagnose(state(box, run_of(**CUDA_RUN_NO_GPU), dev_nvidia=())), "container-without-gpu")
    assert d.severity == "error"
    wsl = linux(wsl=2)
    d = one(diagnose(state(wsl, run_of(**CUDA_RUN_NO_GPU), wsl_libcuda=False)), "no-nvidia-driver")
    assert "WSL 2: /usr/lib/wsl/lib/libcuda.so is missing" in d.finding.evidence[0] and d.severity == "error"
    found = diagnose(state(linux(wsl=2, gpus=(RTX4090,), nvidia_driver="555.85"), run_of(**CUDA_RUN_NO_GPU), wsl_libcuda=True))
    assert "no-nvidia-driver" not in ids(found)


def test_no_driver_loaded_and_no_gpu_at_all():
    unloaded = linux(gpus=(Gpu(vendor="nvidia", name="NVIDIA GeForce RTX 4090", pci_id="10de:2684", driver_loaded=False),))
    assert one(diagnose(state(unloaded, run_of(**CUDA_RUN_NO_GPU))), "driver-not-loaded").severity == "error"
    d = one(diagnose(state(linux(), run_of(**CUDA_RUN_NO_GPU))), "no-nvidia-driver")
    assert d.severity == "warning" and "whl/cpu" in d.finding.fix[0]


# --- companions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "torch, name, want",
    [("2.13.0", "torchvision", "0.28"), ("2.0.1", "torchvision", "0.15"), ("1.13.1", "torchvision", "0.14"),
     ("2.8.0", "torchaudio", "2.8"), ("2.13.0", "torchaudio", "2.11"), ("1.13.1", "torchaudio", "0.13")],
)
def test_pairing_scheme_without_catalog(torch, name, want):
    assert expected_companion(torch, name) == (want, "pairing scheme")


def test_torchvision_from_another_release_is_found_with_its_import_error():
    run = run_of(torch={"version": "2.13.0+cpu"}, companions={"torchvision": {"version": "0.29.1", "error": "RuntimeError: operator torchvision::nms does not exist"}})
    d = one(diagnose(state(linux(), run)), "torchvision-torch-mismatch")
    assert any("torch 2.13.0+cpu goes with torchvision 0.28" in e for e in d.finding.evidence)
    assert any("torchvision::nms does not exist" in e for e in d.finding.evidence)
    assert d.finding.fix[0] == f'{PY} -m pip install --force-reinstall --no-deps "torchvision==0.28.*" --index-url https://download.pytorch.org/whl/cpu'


def test_companion_variant_and_torchaudio():
    run = run_of(torch={"version": "2.8.0+cu126", "cuda": "12.6"}, build={"arch_flags": CU126}, cuda_available=True,
                 companions={"torchvision": {"version": "0.23.0+cpu"}, "torchaudio": {"version": "2.8.0+cu126"}})
    m = linux(gpus=(RTX4090,), nvidia_driver="570.86.10", cuda_driver_max="12.8")
    found = diagnose(state(m, run))
    assert ids(found) == ["companion-variant-mismatch"]
    assert "the cu126 build, torchvision the cpu build" in found[0].finding.evidence[0]
    late = run_of(torch={"version": "2.13.0+cpu"}, companions={"torchaudio": {"version": "2.11.0"}})
    assert diagnose(state(linux(), late)) == []  # the last torchaudio serves newer torch
    bad = run_of(torch={"version": "2.13.0+cpu"}, companions={"torchaudio": {"version": "2.9.0"}})
    assert ids(diagnose(state(linux(), bad))) == ["torchaudio-torch-mismatch"]


# --- env-mixing -------------------------------------------------------------------------------


def test_user_site_copy_shadows_a_conda_env():
    user = "/home/u/.local/lib/python3.12/site-packages"
    dists = [{"name": "torch", "version": "1.13.1", "location": user, "installer": "pip"},
             {"name": "torch", "version": "2.1.0", "location": "/env/lib/python3.12/site-packages", "installer": "conda"}]
    run = run_of(torch={"version": "1.13.1", "file": user + "/torch/__init__.py"}, dists=dists,
                 site={"site_packages": ["/env/lib/python3.12/site-packages"], "user_site": user, "user_site_enabled": True})
    d = one(diagnose(state(linux(), run)), "user-site-shadows-env")
    assert any("import torch loads /home/u/.local" in e for e in d.finding.evidence)
    assert "torch-two-copies-mixed" not in ids(diagnose(state(linux(), run)))


def test_pip_over_conda_and_two_locations():
    rec = CondaRecord(name="pytorch", version="2.1.0", build="py3.11_cuda12.1_cudnn8.9.2_0", channel="https://conda.anaconda.org/pytorch/linux-64")
    run = run_of(torch={"version": "2.1.0+cu121", "cuda": "12.1"}, dists=[dict(TORCH_DIST, version="2.1.0+cu121")])
    found = diagnose(state(linux(), run, conda=(rec,)))
    d = one(found, "torch-two-copies-mixed")
    assert any("conda package pytorch 2.1.0" in e for e in d.finding.evidence)
    assert "conda-pytorch-channel-ended" in ids(found)
    two = [TORCH_DIST, dict(TORCH_DIST, location="/opt/extra", version="2.5.1")]
    assert "torch-two-copies-mixed" in ids(diagnose(state(linux(), run_of(torch={"version": "2.8.0"}, dists=two))))


# --- linux-shared-lib ----------------------------------------------------------------------------


def test_ld_library_path_with_cuda_libs():
    # failure case cudnn-version-incompat-ld-library-path (pytorch/pytorch#80637)
    m = linux(gpus=(RTX4090,), nvidia_driver="550.54.14", cuda_driver_max="12.4")
    run = run_of(torch={"version": "2.8.0+cu126", "cuda": "12.6"}, build={"arch_flags": CU126}, cuda_available=True)
    libs = {"/usr/local/cuda/lib64": ("libcudart.so.12", "libcudnn.so.8")}
    d = one(diagnose(state(m, run, ld_path_libs=libs)), "cuda-libs-shadowed")
    assert d.severity == "warning"
    loaded = run_of(torch={"version": "2.8.0+cu126", "cuda": "12.6"}, build={"arch_flags": CU126}, cuda_available=True,
                    libraries=["/env/lib/python3.12/site-packages/torch/lib/libtorch_cuda.so", "/usr/local/cuda/lib64/libcudnn.so.8",
                               "/usr/lib/x86_64-linux-gnu/libcuda.so.1"])
    d = one(diagnose(state(m, loaded, ld_path_libs=libs)), "cuda-libs-shadowed")
    assert d.severity == "error" and "torch loaded /usr/local/cuda/lib64/libcudnn.so.8" in d.finding.evidence
    cpu = diagnose(state(m, run_of(torch={"version": "2.8.0+cpu"}), ld_path_libs=libs))
    assert "cuda-libs-shadowed" not in ids(cpu)


def test_nvidia_pins():
    requires = ['nvidia-cudnn-cu12==9.10.2.21; platform_system == "Linux" and platform_machine == "x86_64"',
                'nvidia-nccl-cu12==2.27.3; platform_system == "Linux" and platform_machine == "x86_64"',
                'nvidia-cufile-cu12==1.13.1.3; platform_system == "Linux" and platform_machine == "aarch64"',
                "filelock"]
    torch_dist = dict(TORCH_DIST, requires=requires)
    good = [torch_dist, {"name": "nvidia-cudnn-cu12", "version": "9.10.2.21"}, {"name": "nvidia-nccl-cu12", "version": "2.27.3"}]
    run = run_of(torch={"version": "2.8.0", "cuda": "12.8"}, build={"arch_flags": CU128_28}, cuda_available=True, dists=good)
    m = linux(gpus=(RTX4090,), nvidia_driver="570.86.10", cuda_driver_max="12.8")
    assert diagnose(state(m, run)) == []
    bad = [torch_dist, {"name": "nvidia-cudnn-cu12", "version": "9.1.0.70"}]
    run = run_of(torch={"version": "2.8.0", "cuda": "12.8"}, build={"arch_flags": CU128_28}, cuda_available=True, dists=bad)
    d = one(diagnose(state(m, run)), "cuda-libs-missing")
    assert d.finding.evidence == ("nvidia-cudnn-cu12 9.1.0.70 installed; torch 2.8.0 requires ==9.10.2.21",
                                  "nvidia-nccl-cu12: missing (torch requires ==2.27.3)")


# --- numpy, conda, apple, no-wheel -----------------------------------------------------------------


def test_numpy2_with_torch_before_2_3():
    assert "numpy2-abi" in ids(diagnose(state(linux(), run_of(torch={"version": "2.2.2"}, numpy="2.0.1"))))
    assert diagnose(state(linux(), run_of(torch={"version": "2.3.0"}, numpy="2.0.1"))) == []


def test_cpuonly_pinned():
    rec = CondaRecord(name="cpuonly", version="2.0", build="0", channel="pytorch")
    gpu = linux(gpus=(RTX4090,), nvidia_driver="550.54.14")
    run = run_of(torch={"version": "2.5.1"})
    assert one(diagnose(state(gpu, run, conda=(rec,))), "conda-cpuonly-pinned").severity == "error"
    assert one(diagnose(state(linux(), run, conda_pinned=("cpuonly",))), "conda-cpuonly-pinned").severity == "warning"


def test_rosetta_python():
    # failure case mps-x86-python-under-rosetta (pytorch/pytorch#146236)
    mac = Machine(os="macos", arch="x86_64", python="3.11", apple_silicon=True, macos_version="15.3")
    run = run_of(torch={"version": "2.2.2"}, python={"platform": "darwin", "machine": "x86_64"})
    assert one(diagnose(state(mac, run)), "rosetta-x86-python").severity == "error"
    native = Machine(os="macos", arch="aarch64", python="3.11", apple_silicon=True, rosetta=False)
    assert diagnose(state(native, run_of(torch={"version": "2.9.0", "mps_built": True}, mps_available=True,
                                         python={"platform": "darwin", "machine": "arm64"}))) == []


def test_mps_on_apple_silicon():
    # failure case mps-unavailable-in-sandbox (openai/codex#10199): macOS 26.2, M3, torch built with MPS
    mac = Machine(os="macos", arch="aarch64", python="3.12", apple_silicon=True, rosetta=False, macos_version="26.2")
    run = run_of(torch={"version": "2.10.0", "mps_built": True}, python={"platform": "darwin", "machine": "arm64"})
    d = one(diagnose(state(mac, run)), "mps-unavailable")
    assert "is_available() is False" in d.finding.evidence[0]
    old = Machine(os="macos", arch="aarch64", python="3.9", apple_silicon=True, macos_version="12.1")
    assert "mps-macos-too-old" in ids(diagnose(state(old, run)))
    no_mps = run_of(torch={"version": "2.2.2"}, python={"platform": "darwin", "machine": "arm64"})
    assert "mps-not-built" in ids(diagnose(state(mac, no_mps)))
    ok = run_of(torch={"version": "2.10.0", "mps_built": True}, python={"platform": "darwin", "machine": "arm64"},
                devices=[{"device": "mps", "type": "mps", "name": "Apple MPS"}], mps_available=True)
    assert diagnose(state(mac, ok)) == []


def test_intel_xpu():
    # failure cases xpu-driver-init-failed (pytorch/pytorch#147226), xpu-cpu-binary-installed (pytorch/pytorch#150260)
    arc = linux(gpus=(Gpu(vendor="intel", name="Intel(R) Arc(TM) A770 Graphics"),))
    xpu = run_of(torch={"version": "2.7.0+xpu", "xpu_compiled": True})
    assert one(diagnose(state(arc, xpu)), "xpu-driver-missing").severity == "error"
    cpu = run_of(torch={"version": "2.7.0+cpu"})
    d = one(diagnose(state(arc, cpu)), "xpu-build-missing")
    assert d.severity == "warning" and d.finding.fix[0].endswith("--index-url https://download.pytorch.org/whl/xpu")
    igpu = linux(gpus=(Gpu(vendor="intel", name="Intel(R) UHD Graphics 630"),))
    assert diagnose(state(igpu, cpu)) == []


@pytest.mark.parametrize("machine, pid, words", [
    (Machine(os="windows", arch="x86", python="3.11", python_bits=32), "no-wheel-32bit-python", "32-bit"),  # milksense/venus#8
    (linux(libc="musl 1.2.4"), "musl-no-wheels", "musl"),
    (linux(python_implementation="pypy"), "no-wheel-for-python", "pypy"),
])
def test_python_without_wheels(machine, pid, words):
    d = one(diagnose(state(machine, run_of())), pid)
    assert words in d.finding.evidence[0] and d.severity == "error"


# --- ordering, import failures, recording -----------------------------------------------------------


def test_errors_come_first_and_ids_are_unique():
    rec = CondaRecord(name="pytorch", version="2.2.2", build="py3.11_cpu_0", channel="pytorch")
    m = linux(gpus=(RTX4090,), nvidia_driver="550.54.14")
    found = diagnose(state(m, run_of(torch={"version": "2.2.2"}, numpy="2.1.0"), conda=(rec,)))
    sev = [d.severity for d in found]
    assert sev == sorted(sev, key=lambda s: s != "error")
    assert len(ids(found)) == len(set(ids(found)))
    assert {"cpu-build-installed", "numpy2-abi", "conda-pytorch-channel-ended"} <= set(ids(found))


def test_import_failure_is_explained():
    from torchup.doctor.explain import explain

    text = "Traceback...\nImportError: libcudnn.so.8: cannot open shared object file: No such file or directory"
    run = run_of(torch_error=text, dists=[TORCH_DIST])
    found = rules.rule_import_failure(state(linux(), run), None)
    assert [d.finding.id for d in found] == [f.id for f in explain(text)]


def test_a_stack_changed_since_torchups_install_is_reported_with_the_command_that_restores_it():
    pins = {"torch": "2.14.1+cu126", "torchvision": "0.29.1+cu126"}
    # `pip install xfoo` (PIP_CONFIG_FILE=/dev/null) put a CPU torch in place of the pinned CUDA one
    s = state(linux(), run_of(torch={"version": "2.9.1+cpu"}, companions={"torchvision": {"version": "0.29.1+cu126"}}),
              guard=pins)
    d = one(diagnose(s), "torch-replaced-by-install")
    assert d.severity == "warning"
    assert d.finding.evidence == ("torch 2.9.1+cpu is installed; torchup installed and pinned torch 2.14.1+cu126",)
    assert d.finding.fix[0] == (f'{PY} -m pip install "torch==2.14.1+cu126" "torchvision==0.29.1+cu126" '
                                "--index-url https://download.pytorch.org/whl/cu126")
    same = state(linux(), run_of(torch={"version": "2.14.1+cu126"}, companions={"torchvision": {"version": "0.29.1+cu126"}}),
                 guard=pins)
    assert "torch-replaced-by-install" not in ids(diagnose(same))
    assert "torch-replaced-by-install" not in ids(diagnose(state(linux(), run_of(torch={"version": "2.9.1+cpu"}))))
    gone = state(linux(), run_of(), guard={"torch": "2.14.1+cpu"})  # torch uninstalled since
    assert one(diagnose(gone), "torch-replaced-by-install").finding.evidence == (
        "torch is not installed any more; torchup installed and pinned torch 2.14.1+cpu",)


def test_a_changed_stack_package_is_restored_through_torchup_with_its_own_source():
    # xformers and a PyG wheel were pinned with torch (install --with); a later pip install changed xformers.
    # Their files come from PyPI and a links page, not torch's index: the pip line could not restore them.
    pins = {"torch": "2.7.0+cu126", "torchvision": "0.22.0+cu126", "xformers": "0.0.30", "torch-scatter": "2.1.2+pt27cu126"}
    run = run_of(torch={"version": "2.7.0+cu126"}, companions={"torchvision": {"version": "0.22.0+cu126"}},
                 dists=[TORCH_DIST, {"name": "xformers", "version": "0.0.31", "location": "/x"},
                        {"name": "torch-scatter", "version": "2.1.2+pt27cu126", "location": "/x"}])
    d = one(diagnose(state(linux(), run, guard=pins)), "torch-replaced-by-install")
    assert d.finding.evidence == ("xformers 0.0.31 is installed; torchup installed and pinned xformers 0.0.30",)
    assert d.finding.fix[0] == (f"torchup install --python {PY} --torch ==2.7.0 --variant cu126 "
                                "--with=xformers==0.0.30 --with=torch-scatter==2.1.2")
    # PyPI's own torch build (no local label) is asked for as such
    pypi = {"torch": "2.7.0", "xformers": "0.0.30"}
    run = run_of(torch={"version": "2.7.0"}, dists=[TORCH_DIST, {"name": "xformers", "version": "0.0.29", "location": "/x"}])
    d = one(diagnose(state(linux(), run, guard=pypi)), "torch-replaced-by-install")
    assert "--variant pypi --with=xformers==0.0.30" in d.finding.fix[0]


def test_state_round_trip():
    m = linux(gpus=(RTX4090,), nvidia_driver="550.54.14", wsl=2)
    s = state(m, run_of(torch={"version": "2.8.0+cpu"}), conda=(CondaRecord(name="cpuonly", version="2.0"),),
              env={"LD_LIBRARY_PATH": "/x"}, ld_path_libs={"/x": ("libcudnn.so.9",)}, dev_nvidia=("nvidia0",), wsl_libcuda=True,
              guard={"torch": "2.14.1+cpu"})
    again = state_from_dict(json.loads(json.dumps(state_to_dict(s))))
    assert again.machine == s.machine and again.conda == s.conda and again.ld_path_libs == s.ld_path_libs
    assert again.guard == s.guard
    assert ids(diagnose(again)) == ids(diagnose(s))
    with pytest.raises(ValueError):
        state_from_dict({"torchup_doctor_state": 99, "python": "x"})


# --- states recorded on this machine with the real torch 2.13.0 CPU wheel -------------------------------


def _recorded(name):
    return state_from_dict(json.loads((FIXTURES / name).read_text()), origin=name)


def test_recorded_healthy_cpu_environment_has_no_errors():
    s = _recorded("cpu-torch2.13.0__healthy.json")
    assert s.verify.ok and s.verify.build_label == "CPU"
    assert [d for d in diagnose(s) if d.severity == "error"] == []


def test_recorded_torchvision_from_pypi_beside_torch_2_13():
    s = _recorded("cpu-torch2.13.0__torchvision0.29.1-mismatch.json")
    assert not s.verify.ok
    d = one(diagnose(s), "torchvision-torch-mismatch")
    assert any("operator torchvision::nms does not exist" in e for e in d.finding.evidence)


def test_python_versions_against_the_real_catalog():
    from torchup.catalog.load import load_catalog

    catalog = load_catalog({}, use_cache=False)
    newest = catalog.newest().version
    # compat-facts.md 1a: Python 3.8 ends with torch 2.4, 3.9 with 2.8
    for py, last in (("3.8", "2.4"), ("3.9", "2.8")):
        d = one(diagnose(state(linux(python=py), run_of()), catalog), "no-wheel-for-python")
        assert d.severity == "warning"
        assert re.search(rf"wheel for cp{py.replace('.', '')} is {re.escape(last)}\.\d+; torch {re.escape(newest)} has none", d.finding.evidence[0])
    assert one(diagnose(state(linux(python="3.16"), run_of()), catalog), "no-wheel-for-python").severity == "error"
    assert diagnose(state(linux(python="3.12"), run_of()), catalog) == []
    intel_mac = Machine(os="macos", arch="x86_64", python="3.12", apple_silicon=False)
    d = one(diagnose(state(intel_mac, run_of(python={"platform": "darwin"})), catalog), "no-wheel-macos-x86")
    assert "2.2.2" in d.finding.evidence[0]  # no-wheel-macos-x86-after-2.2 (pytorch/pytorch#127870)


def test_rocm_gfx_target_outside_the_build():
    # failure case rocm-invalid-device-function (ROCm/legacy-rocm-build#2536): a consumer RDNA2 card
    m = linux(gpus=(Gpu(vendor="amd", name="AMD Radeon RX 6700 XT", gfx="gfx1031"),), rocm_version="6.3.1")
    flags = ["gfx900", "gfx906", "gfx908", "gfx90a", "gfx942", "gfx1030", "gfx1100"]
    run = run_of(torch={"version": "2.8.0+rocm6.3", "hip": "6.3.42131"}, build={"arch_flags": flags}, cuda_available=True)
    d = one(diagnose(state(m, run, env={"HSA_OVERRIDE_GFX_VERSION": "10.3.1"})), "rocm-gfx-unsupported")
    assert d.finding.evidence == ("AMD Radeon RX 6700 XT: gfx1031", f"gfx1031 is not among the build's targets ({' '.join(flags)})",
                                  "HSA_OVERRIDE_GFX_VERSION=10.3.1 is set")
    ok = linux(gpus=(Gpu(vendor="amd", name="AMD Instinct MI300X", gfx="gfx942"),), rocm_version="6.3.1")
    assert diagnose(state(ok, run)) == []


def test_arch_list_from_the_catalog_when_torch_does_not_import():
    from torchup.catalog.load import load_catalog

    catalog = load_catalog({}, use_cache=False)
    # torch 2.8.0 from PyPI (the cu128 build, catalog: no sm_61) that fails to import, on a GTX 1080 Ti
    m = linux(gpus=(GTX1080TI,), nvidia_driver="570.86.10", cuda_driver_max="12.8")
    dist = dict(TORCH_DIST, requires=['nvidia-cuda-runtime-cu12==12.8.90; platform_system == "Linux"'])
    run = run_of(torch_error="ImportError: libcudnn.so.9: cannot open shared object file", dists=[dist])
    found = diagnose(state(m, run), catalog)
    d = one(found, "gpu-too-old-for-build")
    assert "compiled for: sm_70 sm_75 sm_80 sm_86 sm_90 sm_100 sm_120" in d.finding.evidence[1]


def test_conda_forge_torch_rightly_loads_cuda_from_the_env_lib():
    m = linux(gpus=(RTX4090,), nvidia_driver="570.86.10", cuda_driver_max="12.8")
    rec = CondaRecord(name="pytorch", version="2.7.1", build="cuda128_mkl_py312_h1234_300", channel="https://conda.anaconda.org/conda-forge/linux-64")
    conda_torch = [dict(TORCH_DIST, version="2.7.1", installer="conda")]
    libs = ["/env/lib/libcudnn.so.9", "/env/lib/libcublas.so.12"]
    run = run_of(torch={"version": "2.7.1", "cuda": "12.8"}, build={"arch_flags": CU128_28}, cuda_available=True,
                 dists=conda_torch, libraries=libs)
    assert diagnose(state(m, run, conda=(rec,), ld_path_libs={"/env/lib": ("libcudnn.so.9",)})) == []
    # the same directory is foreign to a pip torch (pytorch/pytorch#134929: /opt/conda/lib before the nvidia wheels)
    pip_torch = [dict(TORCH_DIST, version="2.7.1", installer="pip")]
    run = run_of(torch={"version": "2.7.1", "cuda": "12.8"}, build={"arch_flags": CU128_28}, cuda_available=True,
                 dists=pip_torch, libraries=["/env/lib/libnvJitLink.so.12"])
    d = one(diagnose(state(m, run)), "cuda-libs-shadowed")
    assert d.severity == "error" and d.finding.evidence == ("torch loaded /env/lib/libnvJitLink.so.12",)


def test_probe_notes_become_findings():
    # nvidia-smi-error__driver-library-mismatch__gt640-driver470.txt: the probe notes it; doctor reports it
    m = linux(gpus=(Gpu(vendor="nvidia", name="NVIDIA GeForce GT 640"),)).with_note(
        "driver-library-mismatch", "nvidia-smi: Failed to initialize NVML: Driver/library version mismatch")
    d = one(diagnose(state(m, run_of(torch={"version": "2.8.0+cpu"}))), "driver-library-mismatch")
    assert d.severity == "error"
    assert d.finding.evidence == ("nvidia-smi: Failed to initialize NVML: Driver/library version mismatch",)


def test_probe_notes_of_one_id_are_one_finding_and_severity_follows_the_problem():
    m = (linux(gpus=(Gpu(vendor="nvidia", name="GeForce RTX 3090", driver_loaded=False),) * 2)
         .with_note("driver-not-loaded", "NVIDIA GPU 10de:2204 at 0000:05:00.0 has no NVIDIA driver loaded")
         .with_note("driver-not-loaded", "NVIDIA GPU 10de:2204 at 0000:0a:00.0 has no NVIDIA driver loaded")
         .with_note("nvidia-smi-failed", "nvidia-smi failed: exit 9")
         .with_note("driver-unresponsive", "nvidia-smi did not answer within 10 s"))
    diags = diagnose(state(m, run_of(torch={"version": "2.8.0+cpu"})))
    d = one(diags, "driver-not-loaded")
    assert d.severity == "error" and len(d.finding.evidence) == 2 and "0000:0a:00.0" in d.finding.evidence[1]
    assert one(diags, "driver-unresponsive").severity == "error"
    assert one(diags, "nvidia-smi-failed").severity == "warning"  # an unknown error text on a GPU that may work
    assert one(diags, "nvidia-smi-failed").finding.family == PROBLEMS["nvidia-smi-failed"].family
    # WSL without the Windows driver: an error for a CUDA torch, a warning otherwise (the PC may have no NVIDIA GPU)
    wsl = linux(wsl=2).with_note("no-nvidia-driver", "WSL: no NVIDIA driver is visible")
    assert one(diagnose(state(wsl, run_of(torch={"version": "2.8.0+cpu"}))), "no-nvidia-driver").severity == "warning"
    cuda = run_of(torch={"version": "2.8.0+cu128", "cuda": "12.8"}, cuda_available=True)
    assert one(diagnose(state(wsl, cuda)), "no-nvidia-driver").severity == "error"


def test_a_recorded_state_with_a_note_that_is_no_problem_is_refused():
    data = state_to_dict(state(linux().with_note("nvidia-smi-timeout", "an id from before the notes were problems")))
    with pytest.raises(ValueError, match="'nvidia-smi-timeout' is not a problem id"):
        state_from_dict(data)


def test_companion_import_errors():
    from torchup.doctor.explain import explain

    major = "RuntimeError: Detected that PyTorch and torchvision were compiled with different CUDA major versions."
    # torch from cu118, torchvision unlabelled from the index (its CUDA 12 build): a variant mismatch
    run = run_of(torch={"version": "2.4.1+cu118", "cuda": "11.8"}, companions={"torchvision": {"version": "0.19.1", "error": major}})
    assert "companion-variant-mismatch" in ids(diagnose(state(linux(), run)))
    # both unlabelled: nothing says which variant, the import error says they do not belong together
    run = run_of(torch={"version": "2.4.1", "cuda": "12.1"}, companions={"torchvision": {"version": "0.19.1", "error": major}})
    assert "torchvision-torch-mismatch" in ids(diagnose(state(linux(), run)))
    # an import failure that is not a binary mismatch goes to explain instead
    other = "ModuleNotFoundError: No module named 'PIL'"
    run = run_of(torch={"version": "2.8.0+cpu"}, companions={"torchvision": {"version": "0.23.0+cpu", "error": other}})
    assert ids(diagnose(state(linux(), run))) == [f.id for f in explain(other)]


def test_recorded_cuda_torchvision_from_the_index_beside_a_cpu_torch():
    # same release pair (torch 2.13.0 / torchvision 0.28.0), but the index's torchvision is its CUDA build
    s = _recorded("cpu-torch2.13.0__torchvision0.28.0-pypi-cuda-build.json")
    found = diagnose(s)
    assert ids(found) == ["companion-variant-mismatch"]
    assert "while torch is the cpu build" in found[0].finding.evidence[0]
    assert found[0].finding.fix[0].endswith('"torchvision==0.28.*" --index-url https://download.pytorch.org/whl/cpu')
