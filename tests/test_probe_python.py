"""The target-Python script: run for real in real interpreters and environments."""

import importlib.util
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import PROBE_FIXTURES
from torchup.probe.python import TARGET_SCRIPT, parse_target_output, run_target_script
from torchup.runner import Runner
from torchup.system import System


def script_module():
    saved = list(sys.path)
    try:
        spec = importlib.util.spec_from_file_location("torchup_target_script_under_test", TARGET_SCRIPT)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path[:] = saved


def facts_of(python: str, **env_extra):
    env = {**os.environ, **env_extra}
    system = System(env=env, runner=Runner(env))
    facts, error = run_target_script(system, python, timeout=60)
    assert error is None, error
    return facts


def test_this_interpreter():
    f = facts_of(sys.executable)
    assert f.version == tuple(sys.version_info[:3])
    assert f.implementation == sys.implementation.name
    assert f.bits == (64 if sys.maxsize > 2**32 else 32)
    assert f.free_threaded is bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    assert f.platform == sys.platform and f.sysconfig_platform == sysconfig.get_platform()
    assert f.prefix == sys.prefix
    assert f.env_kind in (("venv", "uv") if sys.prefix != sys.base_prefix else ("system", "conda", "pixi"))
    if sys.platform.startswith("linux"):
        name, version = os.confstr("CS_GNU_LIBC_VERSION").split()
        assert f.libc == (name, version)
    assert "torch" not in f.installed or f.installed["torch"]


def test_uv_venv_with_packages_read_from_metadata_not_imported(tmp_path):
    uv = Path(sysconfig.get_path("scripts")) / "uv"
    if not uv.exists():
        pytest.skip("uv is a test dependency; not installed beside this interpreter")
    env = {**os.environ, "UV_NO_CONFIG": "1", "UV_CACHE_DIR": str(tmp_path / "cache"), "UV_OFFLINE": "1"}
    venv = tmp_path / "env"
    subprocess.run([str(uv), "venv", "-q", "--python", sys.executable, str(venv)], check=True, env=env, timeout=120)
    uv_version = subprocess.run([str(uv), "--version"], capture_output=True, text=True, check=True).stdout.split()[1]
    site = Path(
        subprocess.run(
            [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # a torch that must never be imported, and the metadata of a CUDA build
    (site / "torch").mkdir()
    (site / "torch" / "__init__.py").write_text("raise SystemExit('torch was imported')\n")
    for dist, version in (("torch", "2.5.1+cu121"), ("nvidia_cublas_cu12", "12.1.3.1"), ("numpy", "2.1.0")):
        info = site / f"{dist}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist.replace('_', '-')}\nVersion: {version}\n")
    f = facts_of(str(venv / "bin" / "python"))
    assert (f.env_kind, f.uv_venv_version) == ("uv", uv_version)
    assert f.installed == {"torch": "2.5.1+cu121", "nvidia-cublas-cu12": "12.1.3.1", "numpy": "2.1.0"}
    assert f.externally_managed is None  # never inside a venv
    assert f.pip is False  # uv venvs have no pip


def test_stdlib_venv(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    f = facts_of(str(venv / "bin" / "python"))
    assert (f.env_kind, f.uv_venv_version, f.prefix) == ("venv", None, str(venv))


def test_env_kinds(tmp_path):
    mod = script_module()
    conda = tmp_path / "conda"
    (conda / "conda-meta").mkdir(parents=True)
    assert mod._env_kind(str(conda), str(conda)) == ("conda", None)
    pixi = tmp_path / "pixi"
    (pixi / "conda-meta").mkdir(parents=True)
    (pixi / "conda-meta" / "pixi").write_text("")  # uv's is_pixi_environment marker
    assert mod._env_kind(str(pixi), str(pixi)) == ("pixi", None)
    plain = tmp_path / "plain"
    plain.mkdir()
    assert mod._env_kind(str(plain), str(plain)) == ("system", None)
    (plain / "pyvenv.cfg").write_text("home = /usr/bin\nimplementation = CPython\nuv = 0.8.4\nversion_info = 3.12.3\n")
    assert mod._env_kind(str(plain), "/usr") == ("uv", "0.8.4")


def test_pep668_marker_applies_only_outside_a_venv(tmp_path):
    mod = script_module()
    stdlib = tmp_path / "lib" / "python3.11"
    stdlib.mkdir(parents=True)
    assert mod._pep668_marker("system", str(stdlib)) is None
    (stdlib / "EXTERNALLY-MANAGED").write_text(
        (PROBE_FIXTURES / "EXTERNALLY-MANAGED__debian12-python3.11.txt").read_text()
    )
    assert mod._pep668_marker("system", str(stdlib)) == str(stdlib / "EXTERNALLY-MANAGED")
    assert mod._pep668_marker("conda", str(stdlib)) == str(stdlib / "EXTERNALLY-MANAGED")
    assert mod._pep668_marker("venv", str(stdlib)) is None
    assert mod._pep668_marker("uv", str(stdlib)) is None


@pytest.mark.skipif(
    not Path("/usr/lib/python3.11/EXTERNALLY-MANAGED").exists(), reason="needs Debian 12's system Python"
)
def test_debian_system_python_is_externally_managed():
    f = facts_of("/usr/bin/python3")
    assert (f.env_kind, f.externally_managed) == ("system", "/usr/lib/python3.11/EXTERNALLY-MANAGED")


OLD_PYTHONS = [
    Path(f"/root/.pyenv/versions/{v}/bin/python") for v in ("3.8.18", "3.9.18", "3.7.16", "3.6.15", "2.7.18")
]


@pytest.mark.parametrize("python", OLD_PYTHONS, ids=lambda p: p.parts[-3])
def test_old_interpreters_still_answer(python):
    if not python.exists():
        pytest.skip(f"{python} is not installed on this machine")
    f = facts_of(str(python))
    assert ".".join(map(str, f.version)) == python.parts[-3]
    assert f.env_kind == "system"


def test_a_stray_module_in_the_working_directory_does_not_shadow_the_stdlib(tmp_path):
    (tmp_path / "json.py").write_text("raise SystemExit('shadowed')\n")
    r = Runner().run([sys.executable, "-c", Path(TARGET_SCRIPT).read_text()], timeout=60, cwd=str(tmp_path))
    assert parse_target_output(r.stdout).version == tuple(sys.version_info[:3])


@pytest.mark.parametrize(
    "stdout, why",
    [
        ("", "printed no answer"),
        ("Python 3.12\n", "printed no answer"),
        ("TORCHUP_TARGET_JSON:{not json\n", "malformed"),
        ("TORCHUP_TARGET_JSON:" + json.dumps({"version": [3, 12, 1]}) + "\n", "malformed"),
        ("TORCHUP_TARGET_JSON:" + json.dumps({"version": "3.12"}) + "\n", "malformed"),
    ],
)
def test_garbage_answers_are_rejected_with_a_reason(stdout, why):
    with pytest.raises(ValueError, match=why):
        parse_target_output(stdout)


def _real_answer() -> dict:
    r = Runner().run([sys.executable, "-c", Path(TARGET_SCRIPT).read_text()], timeout=60)
    return json.loads(r.stdout.splitlines()[-1].split(":", 1)[1])


@pytest.mark.parametrize(
    "key, value",
    [
        ("installed", [1, 2]),  # was an AttributeError: an internal error in plan
        ("installed", {"torch": 2}),
        ("mac_ver", 14),  # was an AttributeError on darwin
        ("bits", 16),  # was written into the machine file, which plan then refused
        ("bits", True),
        ("env_kind", "garbage"),
        ("version", [3, -1, 0]),
        ("version", [3, 12]),
        ("libc", "glibc 2.35"),
        ("platform", None),
        ("pip", "yes"),
        ("uv", 5),
    ],
)
def test_an_answer_with_a_wrong_type_or_value_is_malformed_and_names_it(key, value):
    answer = {**_real_answer(), key: value}
    with pytest.raises(ValueError, match=f"malformed.*{key}"):
        parse_target_output("TORCHUP_TARGET_JSON:" + json.dumps(answer) + "\n")
    assert parse_target_output("TORCHUP_TARGET_JSON:" + json.dumps(_real_answer()) + "\n")  # the real one passes


def test_a_non_python_target_is_an_error_not_a_crash(tmp_path):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'Segmentation fault' >&2\nexit 139\n")
    fake.chmod(0o755)
    facts, error = run_target_script(System(), str(fake), timeout=30)
    assert facts is None and "exit status 139" in error and "Segmentation fault" in error


def test_a_hung_target_times_out(tmp_path):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\nexec sleep 600\n")
    fake.chmod(0o755)
    facts, error = run_target_script(System(), str(fake), timeout=0.5)
    assert facts is None and "did not answer within 0.5 s" in error
