"""verify, doctor and device-check.sh on the REAL torch 2.13.0 CPU wheel (slow).

One venv per test session gets ``pip install torch==2.13.0`` (the local CPU
wheel, about a minute).  A second venv is a hard-linked copy of it (``cp -al``
costs a second, not another install) with torchvision 0.29.1 from the package
index added with ``--no-deps``: a torchvision built for another torch, which
reproduces "operator torchvision::nms does not exist".
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from torchup.doctor.rules import diagnose
from torchup.doctor.state import gather_state
from torchup.system import system_from_env
from torchup.verify import CHECK_SCRIPT, run_verify
from torchup.verify.report import build_report, parse_events

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent


def _pip_env() -> dict:
    # keep the machine's pip configuration: it holds the local wheel store and the torch cap
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "TORCHUP_", "VIRTUAL_ENV", "CONDA"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _sh(argv, **kw):
    out = subprocess.run([str(a) for a in argv], capture_output=True, text=True, env=_pip_env(), timeout=900, **kw)
    assert out.returncode == 0, f"{argv}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


@pytest.fixture(scope="session")
def torch_venvs(tmp_path_factory):
    base = tmp_path_factory.mktemp("real-torch")
    good = base / "torch213"
    _sh([sys.executable, "-m", "venv", good])
    _sh([good / "bin" / "python", "-m", "pip", "install", "-q", "torch==2.13.0"])
    bad = base / "torch213-tv0291"
    try:
        _sh(["cp", "-al", good, bad])
    except AssertionError:  # another file system: a plain copy
        shutil.copytree(good, bad, symlinks=True)
    # `bad/bin/pip` would carry good's path in its #! line: run pip through bad's python
    _sh([bad / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", "torchvision==0.29.1"])
    return {"good": str(good / "bin" / "python"), "bad": str(bad / "bin" / "python")}


def _system():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "CONDA", "TORCHUP_"))}
    return system_from_env(env)


def test_verify_passes_on_the_real_cpu_torch(torch_venvs):
    rep = run_verify(_system(), torch_venvs["good"])
    assert rep.ok, [c.to_json() for c in rep.failures]
    assert rep.torch["version"] == "2.13.0+cpu" and rep.build_label == "CPU"
    assert rep.torch["import_s"] > 0
    assert [d.device for d in rep.devices] == ["cpu"]
    assert rep.device_facts["cuda_available"] is False
    for step in ("matmul-exact", "matmul", "conv2d"):
        assert rep.check(step, "cpu" if step != "matmul-exact" else None).status == "pass"
    assert rep.check("nms", "cpu").status == "skip"  # no torchvision here
    assert rep.build["arch_flags"] == [] and rep.build["cudnn_available"] is False
    dists = {d["name"]: d for d in rep.distributions}
    assert dists["torch"]["version"] == "2.13.0+cpu" and dists["torch"]["installer"] == "pip"


def test_verify_fails_with_torchvision_built_for_another_torch(torch_venvs):
    rep = run_verify(_system(), torch_venvs["bad"])
    assert not rep.ok
    tv = rep.check("import-torchvision")
    assert tv.status == "fail" and "operator torchvision::nms does not exist" in tv.detail
    assert rep.companions["torchvision"]["version"] == "0.29.1"
    assert rep.check("nms", "cpu").status == "fail"
    assert rep.check("matmul", "cpu").status == "pass"  # torch itself still works


def test_verify_bench_measures_the_cpu(torch_venvs):
    rep = run_verify(_system(), torch_venvs["good"], bench=True)
    assert rep.ok
    f32 = [b for b in rep.bench if b.what == "matmul" and b.dtype == "float32"]
    assert len(f32) == 1 and f32[0].value > 0 and f32[0].expected is not None


def test_cli_exit_codes_on_real_torch(torch_venvs, clean_env):
    for which, code in (("good", 0), ("bad", 1)):
        out = subprocess.run([sys.executable, "-m", "torchup", "verify", "--json", "--python", torch_venvs[which]],
                             capture_output=True, text=True, env=clean_env, timeout=300)
        assert out.returncode == code, out.stderr
        assert json.loads(out.stdout)["ok"] is (code == 0)


def test_doctor_on_the_healthy_and_the_mismatched_environment(torch_venvs, clean_env):
    healthy = gather_state(_system(), torch_venvs["good"])
    assert [d.finding.id for d in diagnose(healthy) if d.severity == "error"] == []
    broken = gather_state(_system(), torch_venvs["bad"])
    found = {d.finding.id: d for d in diagnose(broken)}
    assert "torchvision-torch-mismatch" in found
    assert found["torchvision-torch-mismatch"].finding.family == "companion-mismatch"
    out = subprocess.run([sys.executable, "-m", "torchup", "doctor", "--json", "--python", torch_venvs["bad"]],
                         capture_output=True, text=True, env=clean_env, timeout=300)
    assert out.returncode == 1 and out.stdout.startswith("{"), out.stderr
    data = json.loads(out.stdout)
    assert data["findings"][0]["id"] == "torchvision-torch-mismatch"
    assert data["summary"]["torch"] == "2.13.0+cpu" and data["summary"]["torchvision"] == "0.29.1"
    out = subprocess.run([sys.executable, "-m", "torchup", "doctor", "--python", torch_venvs["good"]],
                         capture_output=True, text=True, env=clean_env, timeout=300)
    assert out.returncode == 0 and "no problems found" in out.stdout


@pytest.mark.parametrize("how", ["torchup-given", "found-by-the-script"])
def test_device_check_script_runs_without_a_gpu(torch_venvs, tmp_path, clean_env, how):
    env = dict(clean_env, TORCHUP_TARGET_PYTHON=torch_venvs["good"],
               PATH="/usr/bin:/bin")  # no nvidia-smi here, and none on PATH by accident
    if how == "torchup-given":
        env["TORCHUP"] = f"{sys.executable} -m torchup"
    # else the script runs this checkout's src/ with a Python that has 'packaging', or with
    # pip's vendored copy (the venv has torch and pip, not packaging)
    out = subprocess.run(["bash", str(REPO / "scripts" / "device-check.sh"), str(tmp_path / "out")],
                         capture_output=True, text=True, env=env, timeout=900)
    assert out.returncode == 0, out.stderr
    d = tmp_path / "out"
    report = (d / "report.md").read_text()
    assert "no NVIDIA GPU checked on this machine" in report
    for name in ("probe.json", "doctor.json", "verify-bench.json", "plan.json", "torch-self.json", "doctor-state.json"):
        json.loads((d / name).read_text())
    rows = [ln.split("\t") for ln in (d / "commands.tsv").read_text().splitlines()]
    assert [r[0] for r in rows] == ["probe", "doctor", "verify-bench", "plan", "torch-self"]
    assert all(r[1] == "0" for r in rows), rows
    assert json.loads((d / "verify-bench.json").read_text())["ok"] is True
    assert json.loads((d / "torch-self.json").read_text())["torch"] == "2.13.0+cpu"


def test_a_damaged_torch_fails_verify_and_doctor_explains_it(torch_venvs, tmp_path):
    # a hard-linked copy of the good venv with one of torch's own libraries removed
    good_env = Path(torch_venvs["good"]).parent.parent
    broken = tmp_path / "broken"
    _sh(["cp", "-al", good_env, broken])
    lib = next((broken / "lib").glob("python3*/site-packages/torch/lib/libtorch_cpu.so"))
    lib.unlink()
    python = str(broken / "bin" / "python")
    rep = run_verify(_system(), python)
    imp = rep.check("import-torch")
    assert not rep.ok and imp.status == "fail" and "libtorch_cpu.so: cannot open shared object file" in imp.detail
    found = diagnose(gather_state(_system(), python, plan=False))
    top = found[0].finding
    assert top.id == "torch-libs-missing" and top.family == "linux-shared-lib"
    assert any("libtorch_cpu.so" in e for e in top.evidence)


# Runs the check script in the real torch with one operation made to return a wrong answer (the
# first entry moved by 5% of the largest): the small sizes of the checks must still catch it.
_WRONG_ANSWER = """
import runpy, sys, torch
def _off(t):
    t = t.clone()
    t.view(-1)[0] += 0.05 * (float(t.abs().max()) + 1.0)
    return t
{patch}
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""
_PATCHES = {
    "matmul": "_mm = torch.Tensor.__matmul__\ntorch.Tensor.__matmul__ = lambda s, o: _off(_mm(s, o))",
    "conv2d": "_conv = torch.nn.functional.conv2d\ntorch.nn.functional.conv2d = lambda *a, **k: _off(_conv(*a, **k))",
}


@pytest.mark.parametrize(
    "wrong, failing",
    [
        # the unfold reference of conv2d on the CPU is a matrix product too
        ("matmul", [("matmul-exact", "cpu"), ("matmul", "cpu"), ("conv2d", "cpu")]),
        ("conv2d", [("conv2d", "cpu")]),
    ],
)
def test_a_wrong_result_fails_its_check(torch_venvs, wrong, failing):
    code = _WRONG_ANSWER.format(patch=_PATCHES[wrong])
    out = subprocess.run([torch_venvs["good"], "-c", code, CHECK_SCRIPT], capture_output=True, text=True,
                         env=_pip_env(), timeout=300)
    rep = build_report(parse_events(out.stdout), python_executable=torch_venvs["good"], returncode=out.returncode,
                       stderr=out.stderr)
    assert rep.crashed is None, rep.stderr_tail
    assert [(c.step, c.device) for c in rep.failures] == failing
    assert all("differs" in c.detail for c in rep.failures), [c.detail for c in rep.failures]
