"""`torchup install --manager conda|mamba|micromamba` into a conda environment.

No real conda can run on this machine (neither the tools nor conda-forge are reachable),
so these tests drive ``tests/support/conda_standin.py``, which keeps to the command line
and the ``conda-meta`` layout of the real tools and acts out their failure modes; see
tests/fixtures/SOURCES.md.  What is tested is torchup's side: the exact command, the
snapshot of the whole prefix, the check of the result in ``conda-meta`` (the exit code
is not trusted) and the restore."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import install_env as ie

STANDIN = Path(__file__).parent / "support" / "conda_standin.py"
OLD_BUILD = "cpu_generic_py311_h0_0"


def _tree(prefix: Path) -> dict:
    out = {}
    for dirpath, dirs, files in os.walk(prefix):
        dirs[:] = [d for d in dirs if d not in (".torchup", "__pycache__")]
        for name in files:
            p = Path(dirpath) / name
            out[str(p.relative_to(prefix))] = os.readlink(p) if p.is_symlink() else p.read_bytes()
    return out


def _make_conda_prefix(prefix: Path) -> Path:
    """A Python prefix that is a conda environment: conda-meta/ with conda-forge's
    pytorch 2.9.1 CPU build recorded, and its files."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(prefix)], check=True, timeout=120)
    site = next((prefix / "lib").glob("python3*/site-packages"))
    rel = [str((site / "torch" / f).relative_to(prefix)) for f in ("__init__.py", "version.py")]
    for r in rel:
        (prefix / r).parent.mkdir(parents=True, exist_ok=True)
        (prefix / r).write_text("__version__ = '2.9.1'\n")
    meta = prefix / "conda-meta"
    meta.mkdir()
    (meta / "history").write_text("==> 2026-01-01 00:00:00 <==\n+conda-forge/linux-64::pytorch-2.9.1-" + OLD_BUILD + "\n")
    (meta / f"pytorch-2.9.1-{OLD_BUILD}.json").write_text(
        json.dumps({"name": "pytorch", "version": "2.9.1", "build": OLD_BUILD, "files": rel}))
    return prefix


@pytest.fixture
def conda_env(tmp_path):
    return _make_conda_prefix(tmp_path / "env")


PIXI_TOML = """[workspace]
name = "demo"
channels = ["conda-forge"]
platforms = ["linux-64"]

[system-requirements]
cuda = "12"

[dependencies]
python = "3.11.*"
"""


@pytest.fixture
def pixi_ws(tmp_path):
    """A pixi workspace whose default environment holds conda-forge's pytorch 2.9.1 CPU."""
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "pixi.toml").write_text(PIXI_TOML)
    (ws / "pixi.lock").write_text("version: 6\n# solved before\n")
    _make_conda_prefix(ws / ".pixi" / "envs" / "default")
    return ws


@pytest.fixture
def tools(tmp_path, clean_env):
    bindir = tmp_path / "conda-bin"
    bindir.mkdir()
    for tool in ("conda", "mamba", "micromamba", "pixi"):
        (bindir / tool).write_text(f'#!/bin/sh\nexec "{sys.executable}" "{STANDIN}" "$@"\n')
        (bindir / tool).chmod(0o755)
    env = dict(clean_env, PATH=f"{bindir}{os.pathsep}{clean_env['PATH']}",
               CONDA_STANDIN_ARGV=str(tmp_path / "argv.json"), XDG_CACHE_HOME=str(tmp_path / "cache"))
    return env


def _install(prefix: Path, env: dict, tmp_path: Path, manager: str, *extra: str, variant: str = "cu126"):
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"torch": "2.14.1+" + variant, "variant": variant,
                                "cuda": "12.6" if variant == "cu126" else None, "torchvision": None,
                                "torchaudio": None, "index_url": "http://127.0.0.1:9/whl/" + variant}))
    return ie.torchup(["install", "--plan", str(plan), "--python", str(prefix / "bin" / "python"),
                       "--manager", manager, "--yes", "--no-verify", *extra], env)


@pytest.mark.parametrize("manager", ["conda", "mamba", "micromamba"])
def test_installs_conda_forges_build_and_rolls_it_back(manager, conda_env, tools, tmp_path):
    before = _tree(conda_env)
    r = _install(conda_env, tools, tmp_path, manager)
    assert r.returncode == 0, r.stdout + r.stderr
    argv = json.loads((tmp_path / "argv.json").read_text())
    assert argv[1:] == ["install", "-y", "-p", str(conda_env), "--override-channels", "-c", "conda-forge",
                        "pytorch-gpu==2.14.1", "cuda-version=12.9"]
    assert f"replacing pytorch 2.9.1 ({OLD_BUILD}) with conda-forge's 2.14.1 (CUDA build)" in r.stdout
    assert "did not check the network" in r.stdout
    records = sorted(p.name for p in (conda_env / "conda-meta").glob("*.json"))
    assert records == ["cuda-version-12.9-h0_3.json", "pytorch-2.14.1-cuda129_generic_py311_h0_201.json"]
    r = ie.torchup(["install", "--rollback", "--python", str(conda_env / "bin" / "python")], tools)
    assert r.returncode == 0, r.stdout + r.stderr
    assert _tree(conda_env) == before


@pytest.mark.parametrize("manager, mode, words", [
    ("conda", "download-fails", "CONNECTION FAILED"),
    ("micromamba", "half-linked", "could not link"),  # libmamba < 2.7 leaves the prefix half-linked
    ("mamba", "half-linked-exit-0", "exited 0 but pytorch is not installed"),  # mamba 1.x can exit 0
    ("conda", "cpu-instead", "exited 0 but pytorch 2.14.1 is the build cpu_generic_py311_h0_0, not a cuda build"),
])
def test_a_failed_or_wrong_install_is_undone(manager, mode, words, conda_env, tools, tmp_path):
    before = _tree(conda_env)
    r = _install(conda_env, dict(tools, CONDA_STANDIN_MODE=mode), tmp_path, manager)
    assert r.returncode == 6, r.stdout + r.stderr
    assert words in r.stdout + r.stderr
    assert "the environment is as it was before" in r.stderr or "the environment was restored" in r.stderr
    assert _tree(conda_env) == before


def test_dry_run_prints_the_command_and_changes_nothing(conda_env, tools, tmp_path):
    before = _tree(conda_env)
    r = _install(conda_env, tools, tmp_path, "micromamba", "--dry-run", variant="cpu")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"micromamba install -y -p {conda_env} --override-channels -c conda-forge pytorch-cpu==2.14.1" in r.stdout
    assert _tree(conda_env) == before and not (tmp_path / "argv.json").exists()


def test_a_venv_is_not_a_conda_environment(tools, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    r = _install(venv, tools, tmp_path, "conda")
    assert r.returncode == 4
    assert "is not a conda environment" in r.stderr and "--manager uv / pip" in r.stderr


def test_a_build_conda_forge_lacks_is_refused(conda_env, tools, tmp_path):
    r = _install(conda_env, tools, tmp_path, "conda", variant="rocm6.4")
    assert r.returncode == 3
    assert "conda-forge has no ROCm build" in r.stderr


def _ws_state(ws: Path) -> dict:
    return {"env": _tree(ws / ".pixi" / "envs" / "default"), "manifest": (ws / "pixi.toml").read_text(),
            "lock": (ws / "pixi.lock").read_text()}


def test_pixi_adds_to_the_workspace_and_rolls_it_back(pixi_ws, tools, tmp_path):
    before = _ws_state(pixi_ws)
    r = _install(pixi_ws / ".pixi" / "envs" / "default", tools, tmp_path, "pixi")
    assert r.returncode == 0, r.stdout + r.stderr
    argv = json.loads((tmp_path / "argv.json").read_text())
    assert argv[1:] == ["add", "--manifest-path", str(pixi_ws / "pixi.toml"), "pytorch-gpu==2.14.1", "cuda-version=12.9"]
    assert 'pytorch-gpu = "==2.14.1"' in (pixi_ws / "pixi.toml").read_text()
    records = sorted(p.name for p in (pixi_ws / ".pixi/envs/default/conda-meta").glob("*.json"))
    assert records == ["cuda-version-12.9-h0_3.json", "pytorch-2.14.1-cuda129_generic_py311_h0_201.json"]
    r = ie.torchup(["install", "--rollback", "--python", str(pixi_ws / ".pixi/envs/default/bin/python")], tools)
    assert r.returncode == 0, r.stdout + r.stderr
    assert _ws_state(pixi_ws) == before


def test_a_rollback_keeps_the_manifest_edited_since_the_install_beside_it(pixi_ws, tools, tmp_path):
    before = _ws_state(pixi_ws)
    r = _install(pixi_ws / ".pixi" / "envs" / "default", tools, tmp_path, "pixi")
    assert r.returncode == 0, r.stdout + r.stderr
    edited = (pixi_ws / "pixi.toml").read_text() + '\n[tasks]\ntrain = "python train.py"\n'
    (pixi_ws / "pixi.toml").write_text(edited)  # the user's own change after the install
    installed_lock = (pixi_ws / "pixi.lock").read_text()
    r = ie.torchup(["install", "--rollback", "--python", str(pixi_ws / ".pixi/envs/default/bin/python")], tools)
    assert r.returncode == 0, r.stdout + r.stderr
    assert _ws_state(pixi_ws) == before
    assert (pixi_ws / "pixi.toml.before-rollback").read_text() == edited
    assert f"{pixi_ws / 'pixi.toml'} changed after the install" in r.stdout
    assert not (pixi_ws / "pixi.lock.before-rollback").exists()  # as the install left it: nothing to keep
    assert installed_lock != before["lock"]
    r = ie.torchup(["install", "--rollback", "--python", str(pixi_ws / ".pixi/envs/default/bin/python")], tools)
    assert r.returncode == 0 and "changed after the install" not in r.stdout  # already as before: nothing to keep
    assert not (pixi_ws / "pixi.toml.before-rollback-2").exists()


@pytest.mark.parametrize("mode", ["solve-fails", "download-fails"])
def test_a_failed_pixi_add_leaves_manifest_lock_and_environment_as_they_were(mode, pixi_ws, tools, tmp_path):
    before = _ws_state(pixi_ws)
    r = _install(pixi_ws / ".pixi" / "envs" / "default", dict(tools, CONDA_STANDIN_MODE=mode), tmp_path, "pixi")
    assert r.returncode == 6, r.stdout + r.stderr
    assert _ws_state(pixi_ws) == before  # pixi itself leaves the new lock after a failed download


@pytest.mark.parametrize("manifest, words", [
    (PIXI_TOML.replace('[system-requirements]\ncuda = "12"\n', ""), "does not declare CUDA"),
    (PIXI_TOML.replace('"conda-forge"', '"https://example.invalid/my-channel"'), "does not use conda-forge"),
])
def test_a_manifest_pixi_cannot_solve_the_plan_with_is_refused_first(manifest, words, pixi_ws, tools, tmp_path):
    (pixi_ws / "pixi.toml").write_text(manifest)
    before = _ws_state(pixi_ws)
    r = _install(pixi_ws / ".pixi" / "envs" / "default", tools, tmp_path, "pixi")
    assert r.returncode == 4, r.stdout + r.stderr
    assert words in r.stderr
    assert _ws_state(pixi_ws) == before and not (tmp_path / "argv.json").exists()


def test_a_wheel_install_into_a_pixi_environment_says_pixi_will_undo_it(pixi_ws, tools, tmp_path):
    r = _install(pixi_ws / ".pixi" / "envs" / "default", ie.tool_env(tools, tmp_path), tmp_path, "uv", "--dry-run",
                 "--skip-network-check")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "is a pixi environment: the next `pixi install` there puts back" in r.stdout


def test_pixi_needs_the_default_environment_of_a_workspace(conda_env, pixi_ws, tools, tmp_path):
    r = _install(conda_env, tools, tmp_path, "pixi")
    assert r.returncode == 4 and "is not a pixi environment" in r.stderr
    other = _make_conda_prefix(pixi_ws / ".pixi" / "envs" / "gpu")
    r = _install(other, tools, tmp_path, "pixi")
    assert r.returncode == 4 and "changes the default one" in r.stderr


# --- the pure parts ---------------------------------------------------------------------
from torchup.install import conda  # noqa: E402
from torchup.plan import Plan  # noqa: E402

CU = Plan(torch="2.14.1+cu126", torchvision=None, torchaudio=None, variant="cu126", cuda="12.6")
CPU = Plan(torch="2.14.1+cpu", torchvision=None, torchaudio=None, variant="cpu")


@pytest.mark.parametrize("text, parsed", [
    ('{"name": "pytorch", "version": "2.14.1", "build": "cuda129_h0", "files": []}', ("pytorch", "2.14.1", "cuda129_h0")),
    ('{"name": "pytorch", "version": "2.14.1"}', None),
    ("[1, 2]", None),
    ("{not json", None),
])
def test_a_conda_meta_record_is_read_or_refused(text, parsed):
    assert conda.parse_record(text) == parsed


@pytest.mark.parametrize("plan, records, problem", [
    (CU, {"pytorch": ("2.14.1", "cuda129_generic_py311_h0_201")}, None),
    (CPU, {"pytorch": ("2.14.1", "cpu_generic_py311_h0_0")}, None),
    (CU, {"pytorch": ("2.14.1", "cpu_generic_py311_h0_0")}, "pytorch 2.14.1 is the build cpu_generic_py311_h0_0, not a cuda build"),
    (CU, {"pytorch": ("2.9.1", "cuda129_generic_py311_h0_201")}, "pytorch is 2.9.1, not 2.14.1"),
    (CU, {"pytorch-gpu": ("2.14.1", "h0")}, "pytorch is not installed in the environment"),
    (Plan(torch="2.14.1+cu126", torchvision="0.29.1+cu126", torchaudio=None, variant="cu126", cuda="12.6"),
     {"pytorch": ("2.14.1", "cuda129_h0")}, "torchvision is not installed, not 0.29.1"),
    (Plan(torch="2.14.1+cu126", torchvision="0.29.1+cu126", torchaudio=None, variant="cu126", cuda="12.6"),
     {"pytorch": ("2.14.1", "cuda129_h0"), "torchvision": ("0.29.1", "cuda129_h1")}, None),
])
def test_the_result_is_judged_from_conda_meta(plan, records, problem):
    assert conda.result_problem(plan, records) == problem


def test_the_tool_is_found_on_path_or_through_its_activation_variable(tmp_path):
    exe = tmp_path / "micromamba"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    from tests.test_install_unit import target

    t = target(tmp_path, conda=True)
    assert conda.find_program("micromamba", t, lambda _: None, {"MAMBA_EXE": str(exe)}) == str(exe)
    assert conda.find_program("conda", t, lambda _: "/opt/conda/bin/conda", {}) == "/opt/conda/bin/conda"
    with pytest.raises(Exception, match="is not on PATH"):
        conda.find_program("conda", t, lambda _: None, {"MAMBA_EXE": str(exe)})


def test_a_file_appended_to_in_place_is_kept_as_a_copy(conda_env):
    from torchup.install.snapshot import restore, take_snapshot
    from torchup.install.target import inspect_target
    from torchup.runner import Runner

    before = _tree(conda_env)
    snap = take_snapshot(inspect_target(Runner(), str(conda_env / "bin" / "python")), whole_prefix=conda.UNTOUCHED,
                         copied=conda.APPENDED)
    assert snap.copied == ("conda-meta/history",)
    with open(conda_env / "conda-meta" / "history", "a") as fh:  # what conda's History does
        fh.write("==> 2026-11-28 10:00:00 <==\n+conda-forge/linux-64::pytorch-2.14.1-cuda129_h0\n")
    (conda_env / "pkgs").mkdir()  # the package cache of a base prefix: never touched
    (conda_env / "pkgs" / "pytorch-2.14.1.conda").write_text("x")
    report = restore(snap)
    assert not report.errors
    after = _tree(conda_env)
    assert after.pop("pkgs/pytorch-2.14.1.conda") == b"x"
    assert after == before


@pytest.mark.parametrize("text, pyproject, cuda_major, problem", [
    (PIXI_TOML, False, 12, None),
    (PIXI_TOML, False, None, None),
    (PIXI_TOML, False, 13, "declares CUDA 12"),
    # pixi 0.71 and later: CUDA on the platform
    ('[workspace]\nchannels = [{channel = "https://prefix.dev/conda-forge", priority = 1}]\n'
     'platforms = [{platform = "linux-64", cuda = "13.0"}]\n', False, 13, None),
    ('[tool.pixi.project]\nchannels = ["conda-forge"]\n[tool.pixi.system-requirements]\ncuda = "12.4"\n', True, 12, None),
    ('[tool.pixi.workspace]\nchannels = ["bioconda"]\n', True, None, "does not use conda-forge"),
    ("[workspace\n", False, None, "not TOML torchup can read"),
    # written wrong by hand: a table that is not one, lists that are not lists, nesting and keys tomllib
    # would spend long on
    ("tool = 5\n", True, None, "does not use conda-forge"),
    ('[tool]\npixi = "x"\n', True, None, "does not use conda-forge"),
    ('workspace = 3\nproject = [1]\n', False, None, "does not use conda-forge"),
    ('[workspace]\nchannels = "conda-forge"\n', False, None, "does not use conda-forge"),
    ('system-requirements = 4\n[workspace]\nchannels = ["conda-forge"]\nplatforms = 7\n', False, 12,
     "does not declare CUDA"),
    ("x = " + "[" * 3000 + "]" * 3000 + "\n", False, None, "not TOML torchup can read"),
    (".".join(["a"] * 100_000) + " = 1\n", False, None, "not TOML torchup can read"),
])
def test_the_manifest_is_checked_before_pixi_runs(text, pyproject, cuda_major, problem):
    from torchup.install.pixi import manifest_problem

    got = manifest_problem(CU, text, pyproject=pyproject, cuda_major=cuda_major)
    assert (got is None) if problem is None else (problem in got)
