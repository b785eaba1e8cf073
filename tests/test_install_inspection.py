"""install's target inspection: the lean script says what ``platform`` and the import system
say, and ``install --plan`` starts it before its imports, runs it once, and leaves nothing
running when the command line turns out to be wrong."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import time

import pytest

from torchup.inspection import SCRIPT, Inspection, claim, prestart_install_inspection
from torchup.runner import Runner
from torchup.system import System

_PLATFORM = """
import importlib.util, json, platform, sys
print(json.dumps({
    "platform_machine": platform.machine(), "platform_release": platform.release(),
    "platform_system": platform.system(), "platform_version": platform.version(),
    "platform_python_implementation": platform.python_implementation(),
    "python_full_version": platform.python_version(),
    "libc": " ".join(platform.libc_ver()).strip(), "mac_version": platform.mac_ver()[0],
    "has_pip": importlib.util.find_spec("pip") is not None,
}))
"""


def test_the_lean_script_says_what_platform_and_find_spec_say():
    facts = json.loads(
        subprocess.run([sys.executable, "-I", SCRIPT], capture_output=True, text=True, check=True).stdout
    )
    want = json.loads(
        subprocess.run([sys.executable, "-I", "-c", _PLATFORM], capture_output=True, text=True, check=True).stdout
    )
    for key in (
        "platform_machine",
        "platform_release",
        "platform_system",
        "platform_version",
        "platform_python_implementation",
        "python_full_version",
    ):
        assert facts["markers"][key] == want[key], key
    assert facts["platform"]["libc"] == want["libc"]
    assert facts["platform"]["mac_version"] == want["mac_version"]
    assert facts["has_pip"] == want["has_pip"]


def test_the_lean_script_imports_no_platform_or_importlib_util():
    err = subprocess.run(
        [sys.executable, "-I", "-X", "importtime", SCRIPT], capture_output=True, text=True, check=True
    ).stderr
    loaded = {line.rsplit("|", 1)[-1].strip() for line in err.splitlines() if line.startswith("import time:")}
    if not any(os.path.isfile(os.path.join(p, "pip", "__init__.py")) for p in sys.path if p):
        pytest.skip("this interpreter has no pip package directory on sys.path: find_spec is asked, as it should be")
    for name in ("platform", "importlib.util", "traceback"):
        assert name not in loaded, name
    sites = {p for p in (sysconfig.get_paths().get(k) for k in ("purelib", "platlib")) if p}
    direct_urls = [e for s in sites for e in os.listdir(s) if os.path.isfile(os.path.join(s, e, "direct_url.json"))]
    assert ("json" in loaded) == bool(direct_urls)  # only a direct_url.json to read wants json (and with it re)


def _fake_python(tmp_path, body: str):
    path = tmp_path / "python"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def test_install_plan_inspects_the_target_once_started_before_the_imports(tmp_path, clean_env):
    log = tmp_path / "runs.log"
    python = _fake_python(tmp_path, f'echo "$@" >> {log}\nexec {sys.executable} "$@"')
    plan = tmp_path / "plan.json"
    plan.write_text(
        json.dumps({"torch": "2.14.1+cpu", "variant": "cpu", "index_url": "https://download.pytorch.org/whl/cpu"})
    )
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "torchup",
            "install",
            "--plan",
            str(plan),
            "--python",
            str(python),
            "--dry-run",
            "--skip-network-check",
            "--manager",
            "pip",
        ],
        capture_output=True,
        text=True,
        env=clean_env,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "dry run: would run" in r.stdout
    assert log.read_text().splitlines() == [f"-I {SCRIPT}"]  # one inspection, the early one


@pytest.mark.parametrize(
    "argv",
    [
        ["install", "--plan", "p.json", "--rollback"],
        ["install", "--plan", "p.json", "--venv", "v"],
        ["install", "--plan", "p.json", "--venv=v"],
        ["install", "--cpu"],  # plans for itself: plan's own probe
        ["install", "--plan", "p.json", "--pyth", "x"],  # an abbreviation: argparse decides
        ["install", "--plan", "p.json", "--help"],
        ["install", "--plan", "p.json", "--python", "/no/such/python"],
    ],
)
def test_no_early_inspection_where_it_may_not_be_wanted(argv):
    system = System(env=dict(os.environ), runner=Runner())
    assert prestart_install_inspection(argv, system) is system


def test_an_early_inspection_is_claimed_once_and_only_for_its_interpreter():
    runner = Runner()
    early = System(runner=runner, target_probe=Inspection(runner, sys.executable))
    assert claim(early, "/another/python") is None
    started = claim(early, sys.executable)
    assert started is not None and started.wait().ok
    assert claim(early, sys.executable) is None  # a second inspection runs afresh


def test_a_usage_error_leaves_no_inspection_running(tmp_path, clean_env):
    pid_file = tmp_path / "pid"
    python = _fake_python(tmp_path, f"echo $$ > {pid_file}\nexec sleep 600")
    start = time.monotonic()
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "torchup",
            "install",
            "--plan",
            str(tmp_path / "plan.json"),
            "--python",
            str(python),
            "--no-such-option",
        ],
        capture_output=True,
        text=True,
        env=clean_env,
        timeout=60,
    )
    assert r.returncode == 2 and "--no-such-option" in r.stderr
    assert time.monotonic() - start < 30  # the grace (2 s) and the kill, not the inspection's 60 s
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.parametrize("python_args", [["--python", sys.executable], [f"--python={sys.executable}"]])
def test_install_plan_starts_its_inspection_early(python_args):
    system = prestart_install_inspection(
        ["install", "--dry-run", "--plan", "p.json", *python_args], System(env=dict(os.environ), runner=Runner())
    )
    assert isinstance(system.target_probe, Inspection) and system.target_probe.python == sys.executable
    started = claim(system, sys.executable)
    assert started is not None and json.loads(started.wait().stdout)["executable"]
