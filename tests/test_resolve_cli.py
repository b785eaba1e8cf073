"""`torchup plan` end to end: the real CLI in a subprocess, machine files in, the
Plan contract (docs/plan.md) out; and `torchup` on this very machine."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from torchup.catalog.load import load_catalog

CONTRACT_KEYS = {"torch", "torchvision", "torchaudio", "variant", "cuda", "rocm", "index_url", "commands", "reasons", "warnings"}
RTX4090_DRIVER580 = {
    "os": "linux", "arch": "x86_64", "python": "3.12", "libc": "glibc 2.35",
    "nvidia_driver": "580.65.06", "cuda_driver_max": "13.0",
    "gpus": [{"vendor": "nvidia", "name": "NVIDIA GeForce RTX 4090", "compute_capability": "8.9", "memory_mib": 24564}],
}


def torchup(*args, env=None, input=None):
    base = {k: v for k, v in os.environ.items() if not k.startswith("TORCHUP_")}
    base["NO_COLOR"] = "1"
    base.update(env or {})
    return subprocess.run([sys.executable, "-m", "torchup", *args], capture_output=True, text=True,
                          env=base, input=input, timeout=120)


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_text(json.dumps(data) if isinstance(data, dict) else data)
    return str(path)


def test_plan_json_for_a_machine_file_follows_the_contract(tmp_path):
    r = torchup("plan", "--json", "--machine", write(tmp_path, "m.json", RTX4090_DRIVER580))
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    assert CONTRACT_KEYS <= set(plan)
    # driver 580.65.06 is CUDA 13.0's full-support floor; 2.15.0's cu130 build has sm_86 cubins for sm_89
    assert (plan["torch"], plan["variant"], plan["cuda"], plan["rocm"]) == ("2.15.0+cu130", "cu130", "13.0", None)
    assert plan["index_url"] == "https://download.pytorch.org/whl/cu130"
    assert set(plan["commands"]) == {"pip", "uv", "conda", "pixi", "poetry"}
    assert plan["commands"]["pip"] == ("python -m pip install --index-url https://download.pytorch.org/whl/cu130 "
                                       "torch==2.15.0+cu130 torchvision==0.29.2 torchaudio==2.11.1")
    assert "extra-index-url" not in json.dumps(plan)
    assert all(isinstance(s, str) and s for s in plan["reasons"] + plan["warnings"])


def test_index_base_from_the_environment_and_from_the_option(tmp_path):
    machine = write(tmp_path, "m.json", RTX4090_DRIVER580)
    r = torchup("plan", "--json", "--machine", machine, env={"TORCHUP_INDEX_BASE": "http://127.0.0.1:9/mirror/"})
    assert json.loads(r.stdout)["index_url"] == "http://127.0.0.1:9/mirror/cu130"
    r = torchup("plan", "--json", "--machine", machine, "--index-base", "https://mirror.example/whl",
                env={"TORCHUP_INDEX_BASE": "http://127.0.0.1:9/mirror"})
    assert json.loads(r.stdout)["index_url"] == "https://mirror.example/whl/cu130"


def test_nothing_fits_exits_3_with_reasons(tmp_path):
    machine = write(tmp_path, "m.json", {"os": "linux", "arch": "x86_64", "python": "3.10", "libc": "glibc 2.35"})
    r = torchup("plan", "--json", "--machine", machine, "--torch", "2.15")
    assert r.returncode == 3, r.stdout + r.stderr
    err = json.loads(r.stdout)["error"]
    assert err["code"] == "no-python-wheel"
    assert any("use torch 2.14.1, or Python 3.11+" in reason for reason in err["reasons"]), err["reasons"]
    human = torchup("plan", "--machine", machine, "--torch", "2.15")
    assert human.returncode == 3
    assert "No PyTorch build fits" in human.stdout and "use torch 2.14.1, or Python 3.11+" in human.stdout


def test_toml_machine_file_and_manager_choice(tmp_path):
    toml = 'os = "windows"\narch = "AMD64"\npython = "3.12"\nnvidia_driver = "546.33"\n' \
           '[[gpus]]\nvendor = "nvidia"\nname = "NVIDIA GeForce RTX 3060"\ncompute_capability = "8.6"\n'
    machine = write(tmp_path, "laptop.toml", toml)
    r = torchup("plan", "--machine", machine, "--manager", "uv")
    assert r.returncode == 0, r.stderr
    # driver 546 < 580: CUDA 13 builds are out; cu126 by minor-version compatibility (Windows floor 528.33)
    assert "Recommended: torch 2.14.1, CUDA 12.6 (cu126)" in r.stdout
    assert "uv pip install --python python --default-index https://download.pytorch.org/whl/cu126 torch==2.14.1+cu126" in r.stdout
    assert "\x1b[" not in r.stdout


def test_explain_lists_every_rejected_build(tmp_path):
    machine = write(tmp_path, "m.json", RTX4090_DRIVER580)
    r = torchup("plan", "--explain", "--machine", machine)
    assert r.returncode == 0
    lines = [line for line in r.stdout.splitlines() if line.startswith("  x torch ")]
    assert any("torch 2.15.0+rocm7.2 [rocm7.2]: torch 2.15.0+rocm7.2 needs an AMD GPU" in line for line in lines)
    considered = json.loads(torchup("plan", "--json", "--explain", "--machine", machine).stdout)["considered"]
    rejected = [c for c in considered if c["rejected"]]
    assert len(lines) == len(rejected) > 50
    assert {c["torch"].split("+")[0] for c in considered} >= {"1.13.0", "2.0.0", "2.15.0"}


def test_several_machines_give_one_uv_project(tmp_path):
    mac = write(tmp_path, "mac.json", {"os": "macos", "arch": "arm64", "python": "3.12", "macos_version": "15.1"})
    gpu = write(tmp_path, "gpu.json", RTX4090_DRIVER580)
    r = torchup("plan", "--machine", gpu, "--machine", mac, "--manager", "uv-project")
    assert r.returncode == 0, r.stderr
    assert "\"torch==2.15.0+cu130 ; sys_platform == 'linux' and platform_machine == 'x86_64'\"" in r.stdout
    assert "\"torch==2.15.0 ; sys_platform == 'darwin' and platform_machine == 'arm64'\"" in r.stdout


def test_several_machines_give_one_poetry_project(tmp_path):
    mac = write(tmp_path, "mac.json", {"os": "macos", "arch": "arm64", "python": "3.12", "macos_version": "15.1"})
    gpu = write(tmp_path, "gpu.json", RTX4090_DRIVER580)
    r = torchup("plan", "--machine", gpu, "--machine", mac, "--manager", "poetry-project")
    assert r.returncode == 0, r.stderr
    assert "One Poetry project for all these machines:" in r.stdout
    assert 'priority = "explicit"' in r.stdout
    r = torchup("plan", "--json", "--machine", gpu, "--machine", mac)
    assert "[[tool.poetry.source]]" in json.loads(r.stdout)["poetry_project"]["text"]


def test_this_machine_joins_the_machine_files_in_one_uv_project(tmp_path):
    mac = write(tmp_path, "mac.json", {"os": "macos", "arch": "arm64", "python": "3.12", "macos_version": "15.1"})
    r = torchup("plan", "--machine", mac, "--this-machine", "--manager", "uv-project", "--json")
    assert r.returncode in (0, 3), r.stderr
    plans = json.loads(r.stdout)["plans"]
    assert len(plans) == 2 and plans[0]["os"] == "macos"  # the file's machine, then the probed one
    r = torchup("plan", "--machine", mac, "--this-machine", "--manager", "uv-project")
    assert r.stdout.count("Machine:") == 2


@pytest.mark.parametrize("args, message", [
    (["--variant", "cuda12"], "is not a variant name"),
    (["--torch", "two"], "is not a version or a PEP 440 specifier"),
    (["--cuda", "12"], "is not a CUDA version"),
    (["--cpu", "--cuda", "12.6"], "--cpu contradicts"),
])
def test_bad_options_exit_2(tmp_path, args, message):
    r = torchup("plan", "--machine", write(tmp_path, "m.json", RTX4090_DRIVER580), *args)
    assert r.returncode == 2 and message in r.stderr, r.stderr


def test_malformed_machine_file_is_a_clear_error(tmp_path):
    r = torchup("plan", "--machine", write(tmp_path, "bad.json", '{"os": "linux", "arch": "x86_64"'))
    assert r.returncode == 2 and "is not valid JSON" in r.stderr and "Traceback" not in r.stderr
    r = torchup("plan", "--machine", write(tmp_path, "bad2.json", {"os": "plan9", "arch": "x86_64", "python": "3.12"}))
    assert r.returncode == 2 and "os:" in r.stderr


def _newest_supporting(python: str) -> str:
    """The newest release whose Requires-Python (PyPI metadata) admits ``python``."""
    catalog = load_catalog(use_cache=False)
    ok = [r.version for r in catalog.releases if r.requires_python is None or Version(python) in SpecifierSet(r.requires_python)]
    return max(ok, key=Version)


@pytest.mark.skipif(not (sys.platform == "linux" and platform.machine() == "x86_64"), reason="this test is about a Linux x86_64 host")
def test_torchup_on_this_machine_recommends_the_cpu_build_with_the_pip_command(tmp_path):
    probe = torchup("probe", "--json", "--python", sys.executable)
    assert probe.returncode == 0, probe.stderr
    if json.loads(probe.stdout)["gpus"]:
        pytest.skip("this host has a GPU; the CPU answer is for GPU-less hosts")
    env = {"TORCHUP_INDEX_BASE": "http://127.0.0.1:9/whl", "TORCHUP_CACHE_DIR": str(tmp_path)}
    r = torchup("--python", sys.executable, env=env)
    assert r.returncode == 0, r.stderr
    newest = _newest_supporting(platform.python_version())
    assert f"Recommended: torch {newest}, CPU only" in r.stdout
    assert f"{sys.executable} -m pip install --index-url http://127.0.0.1:9/whl/cpu torch=={newest}+cpu" in r.stdout
    assert r.stdout.splitlines()[0].startswith("Machine: Linux x86_64")


def _run_in_pty(args, env):
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "torchup", *args], stdout=slave, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(master)
    return b"".join(chunks).decode()


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_colour_only_on_a_terminal_and_never_with_no_color(tmp_path):
    machine = write(tmp_path, "m.json", RTX4090_DRIVER580)
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM") and not k.startswith("TORCHUP_")}
    env["TERM"] = "xterm"
    assert "\x1b[" in _run_in_pty(["plan", "--machine", machine], env)
    assert "\x1b[" not in _run_in_pty(["plan", "--machine", machine], {**env, "NO_COLOR": "1"})
    assert "\x1b[" not in torchup("plan", "--machine", machine, env={"TERM": "xterm"}).stdout  # a pipe


def test_the_catalog_age_is_shown(tmp_path):
    r = torchup("plan", "--machine", write(tmp_path, "m.json", RTX4090_DRIVER580))
    assert r.stdout.rstrip().splitlines()[-1].startswith("Catalog data: ")


def test_gpu_and_driver_on_the_command_line_describe_the_target(tmp_path):
    """--gpu / --driver plan for a GPU this host does not have, without a machine file."""
    ci_host = {k: v for k, v in RTX4090_DRIVER580.items() if k not in ("gpus", "nvidia_driver", "cuda_driver_max")}
    machine = write(tmp_path, "ci.json", {**ci_host, "gpus": []})
    r = torchup("plan", "--machine", machine, "--gpu", "RTX 4090", "--driver", "550.54.14", "--json")
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    # driver 550 runs CUDA 12 builds by minor-version compatibility, never a CUDA 13 one
    assert plan["cuda"] and plan["cuda"].startswith("12."), plan
    r = torchup("plan", "--machine", machine, "--gpu", "RTX 4090", "--json")
    plan = json.loads(r.stdout)
    assert plan["variant"] != "cpu" and any("driver is not known" in w for w in plan["warnings"]), plan
    bad = torchup("plan", "--machine", machine, "--gpu", "Voodoo 5 6000")
    assert bad.returncode == 2 and "not a GPU model torchup knows" in bad.stderr and "Traceback" not in bad.stderr
    bad = torchup("plan", "--machine", machine, "--driver", "latest")
    assert bad.returncode == 2 and "not an NVIDIA driver version" in bad.stderr
