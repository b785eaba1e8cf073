"""The target interpreter's facts kept on disk: reused while nothing changed, probed again
when the interpreter, its site-packages or the version a pyenv shim selects changed.
Real interpreters and real venvs throughout."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.wheels import make_wheel
from torchup.probe.python import target_facts
from torchup.runner import Runner
from torchup.system import System
from torchup.target import TARGET_SCRIPT, cache_entry_path, cache_key, start_target_probe


def _system(tmp_path, **extra):
    env = {**os.environ, "TORCHUP_CACHE_DIR": str(tmp_path / "cache"), **extra}
    return System(env=env, runner=Runner(env))


def _ask(system, python):
    """(facts, whether they came from the cache)"""
    probe = start_target_probe(system, python, timeout=60, cache=True)
    facts, error = target_facts(probe)
    assert error is None, error
    return facts, probe.from_cache


def _venv(path: Path, python: str = sys.executable) -> str:
    subprocess.run([python, "-m", "venv", "--without-pip", str(path)], check=True, capture_output=True, timeout=120)
    return str(path / "bin" / "python")


PYENV_ROOT = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")


def _pyenv_versions() -> list[str]:
    if not (PYENV_ROOT / "shims" / "python").exists():
        return []
    return sorted(p.name for p in (PYENV_ROOT / "versions").glob("3.*") if (p / "bin" / "python").exists())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    return make_wheel(tmp_path_factory.mktemp("wheels"), "numpy", "1.26.4")


def test_the_second_ask_comes_from_the_cache_with_the_same_facts(tmp_path):
    system = _system(tmp_path)
    python = _venv(tmp_path / "venv")
    first, cached = _ask(system, python)
    assert not cached
    second, cached = _ask(system, python)
    assert cached and second == first
    assert start_target_probe(system, python, timeout=60, cache=False).from_cache is False  # probe: always fresh


def test_an_install_into_site_packages_is_seen(tmp_path, wheel):
    system = _system(tmp_path)
    python = _venv(tmp_path / "venv")
    before, _ = _ask(system, python)
    assert "numpy" not in before.installed
    target = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], capture_output=True, text=True
    ).stdout.strip()
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", target, str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    after, cached = _ask(system, python)
    assert not cached and after.installed.get("numpy") == "1.26.4"
    assert _ask(system, python) == (after, True)


def _other_python() -> str | None:
    """A second CPython 3 with venv: a pyenv version, else python3.X on PATH."""
    mine = Path(sys.executable).resolve()
    found = [str(PYENV_ROOT / "versions" / v / "bin" / "python3") for v in _pyenv_versions()]
    found += [p for p in (shutil.which(f"python3.{m}") for m in range(8, 15)) if p]
    for python in found:
        if Path(python).resolve() == mine:
            continue
        if (
            subprocess.run(
                [python, "-c", "import venv, sys; assert sys.version_info >= (3, 8)"], capture_output=True
            ).returncode
            == 0
        ):
            return python
    return None


def test_a_venv_made_again_at_the_same_path_with_another_interpreter_is_probed_again(tmp_path):
    other = _other_python()
    if other is None:
        pytest.skip("no second CPython 3.8+ with venv here")
    system = _system(tmp_path)
    python = _venv(tmp_path / "venv")
    first, _ = _ask(system, python)
    shutil.rmtree(tmp_path / "venv")
    _venv(tmp_path / "venv", other)
    second, cached = _ask(system, python)
    assert not cached and second.executable == first.executable and second.version != first.version


def test_a_replaced_interpreter_binary_is_probed_again(tmp_path):
    """The same path, another file (an upgrade in place): its size or mtime differs."""
    system = _system(tmp_path)
    copy = tmp_path / "bin" / "python3"
    copy.parent.mkdir()
    shutil.copy2(os.path.realpath(sys.executable), copy)
    first, _ = _ask(system, str(copy))
    os.utime(copy, ns=(copy.stat().st_atime_ns, copy.stat().st_mtime_ns + 10**9))
    second, cached = _ask(system, str(copy))
    assert not cached and second.version == first.version


def test_a_pyenv_shim_is_probed_again_for_another_selected_version(tmp_path, monkeypatch):
    versions = _pyenv_versions()
    if len(versions) < 2:
        pytest.skip("pyenv with two Python 3 versions is not installed here")
    a, b = versions[-2], versions[-1]
    shim = str(PYENV_ROOT / "shims" / "python")
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    (project / ".python-version").write_text(a + "\n")
    system = _system(tmp_path, PYENV_ROOT=str(PYENV_ROOT))
    system.env.pop("PYENV_VERSION", None)
    first, _ = _ask(system, shim)
    assert ".".join(map(str, first.version)) == a
    assert _ask(system, shim)[1]  # nothing changed: cached

    (project / ".python-version").write_text(b + "\n")  # `pyenv local B`
    second, cached = _ask(system, shim)
    assert not cached and ".".join(map(str, second.version)) == b

    by_variable = _system(tmp_path, PYENV_ROOT=str(PYENV_ROOT), PYENV_VERSION=a)  # `pyenv shell A`
    third, cached = _ask(by_variable, shim)
    assert not cached and ".".join(map(str, third.version)) == a


def test_a_wrapper_script_that_is_not_a_pyenv_shim_is_never_cached(tmp_path):
    wrapper = tmp_path / "python"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    wrapper.chmod(0o755)
    assert cache_key(str(wrapper), {}, str(tmp_path), Path(TARGET_SCRIPT).read_bytes()) is None
    system = _system(tmp_path)
    assert not _ask(system, str(wrapper))[1] and not _ask(system, str(wrapper))[1]


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: text[: len(text) // 2],
        lambda text: "\x00\xff garbage",
        lambda text: json.dumps({"key": "nope"}),
        lambda text: json.dumps({**json.loads(text), "watch": "not a list"}),
        lambda text: json.dumps({**json.loads(text), "answer": 42}),
        lambda text: "[]",
    ],
    ids=["truncated", "binary", "foreign-key", "bad-watch", "bad-answer", "a-list"],
)
def test_a_corrupt_cache_file_is_ignored_and_replaced(tmp_path, damage):
    system = _system(tmp_path)
    python = _venv(tmp_path / "venv")
    first, _ = _ask(system, python)
    entry = Path(
        cache_entry_path(
            system.env["TORCHUP_CACHE_DIR"],
            cache_key(python, system.env, os.getcwd(), Path(TARGET_SCRIPT).read_bytes()),
        )
    )
    entry.write_text(damage(entry.read_text()), encoding="utf-8", errors="surrogateescape")
    again, cached = _ask(system, python)
    assert not cached and again == first
    assert _ask(system, python) == (first, True)  # the probe wrote a good entry over it


def test_plan_asks_the_interpreter_once_while_nothing_changed(tmp_path):
    """End to end through the CLI (the probe started before the imports, the cache written
    and read): a pyenv-style shim that logs each run of the interpreter behind it."""
    log = tmp_path / "runs.log"
    shim = tmp_path / "shims" / "python"
    shim.parent.mkdir()
    shim.write_text(
        f'#!/bin/sh\n# a pyenv shim, as far as torchup can tell\necho "$PYENV_VERSION" >> {log}\nexec {sys.executable} "$@"\n'
    )
    shim.chmod(0o755)
    env = {**os.environ, "TORCHUP_CACHE_DIR": str(tmp_path / "cache"), "NO_COLOR": "1", "PYENV_VERSION": "a"}

    def plan(**extra):
        r = subprocess.run(
            [sys.executable, "-m", "torchup", "plan", "--json", "--python", str(shim)],
            capture_output=True,
            text=True,
            env={**env, **extra},
            timeout=120,
        )
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    first = plan()
    assert log.read_text().split() == ["a"]
    assert plan() == first and log.read_text().split() == ["a"]  # from the cache: not run again
    plan(PYENV_VERSION="b")  # another version selected: asked again
    assert log.read_text().split() == ["a", "b"]
    r = subprocess.run(
        [sys.executable, "-m", "torchup", "probe", "--json", "--python", str(shim)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 0 and log.read_text().split() == ["a", "b", "a"]  # probe always asks
