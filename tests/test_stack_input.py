"""-r FILE and --project PYPROJECT: the packages to choose torch with, read into the Request.

The parsers are pure and tested on text; the CLI tests run the real ``torchup plan`` and check
that a file it cannot follow is a usage error (exit 2) that names the line, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from torchup.errors import UsageError
from torchup.plan import Request
from torchup.record import replace
from torchup.stack_input import fold, parse_project, parse_requirements, read_project, read_requirements

RTX4090 = {
    "os": "linux", "arch": "x86_64", "python": "3.12", "libc": "glibc 2.35",
    "nvidia_driver": "580.65.06", "cuda_driver_max": "13.0",
    "gpus": [{"vendor": "nvidia", "name": "NVIDIA GeForce RTX 4090", "compute_capability": "8.9"}],
}


# --- requirements files --------------------------------------------------------------


def test_requirements_give_the_stack_and_the_torch_specifier():
    text = (
        "# the model server\n"
        "xformers==0.0.30  # pins torch\n"
        "flash-attn>=2.7 ; sys_platform == 'linux'\n"
        "torch==2.7.0\n"
        "torchvision\n"
        "\n"
        "torch-scatter \\\n"
        "  >=2.1\n"
        "einops[torch]\n"
    )
    got = parse_requirements(text, origin="req.txt")
    assert got.packages == ('xformers==0.0.30', 'flash-attn>=2.7; sys_platform == "linux"', "torch-scatter>=2.1",
                            "einops[torch]")
    assert got.torch == (("==2.7.0", "req.txt:4"),)


@pytest.mark.parametrize("line, words", [
    ("-e ./mypkg", "editable"),
    ("--editable=git+https://example.org/x.git#egg=x", "editable"),
    ("-r other.txt", "nested requirements file is not followed"),
    ("-rother.txt", "nested requirements file is not followed"),
    ("-c constraints.txt", "constraints file"),
    ("--index-url https://mirror.example/simple", "chooses the indexes"),
    ("--extra-index-url https://mirror.example/simple", "chooses the indexes"),
    ("-f https://data.example/whl.html", "chooses the indexes"),
    ("xformers @ https://example.org/xformers-0.0.30-py3-none-any.whl", "given by URL"),
    ("./dist/mypkg-1.0-py3-none-any.whl", "is not a requirement"),
    ("xformers==0.0.30 --hash=sha256:abcd", "per-requirement options"),
    ("xformers===", "is not a requirement"),
    ("torchvision==0.22.0", "torchup chooses torchvision"),
    ("torch==2.7.0 ; sys_platform == 'linux'", "marker or extras"),
])
def test_a_line_torchup_cannot_follow_is_a_usage_error_naming_it(line, words):
    with pytest.raises(UsageError, match=words) as err:
        parse_requirements(f"numpy\n{line}\n", origin="req.txt")
    assert "req.txt:2" in err.value.message
    assert err.value.exit_code == 2


def test_a_comment_needs_whitespace_before_it_as_pip_reads_it():
    got = parse_requirements("xformers==0.0.30 # note\n#flash-attn\n", origin="r")
    assert got.packages == ("xformers==0.0.30",)


# --- pyproject.toml -------------------------------------------------------------------

PYPROJECT = """
[project]
name = "my-app"
version = "1.0"
dependencies = ["xformers==0.0.30", "torch>=2.6", "numpy"]

[project.optional-dependencies]
pyg = ["torch-scatter", "my-app[extra2]"]
"""


def test_project_dependencies_and_an_extra():
    got = parse_project(PYPROJECT, origin="pyproject.toml", extras=["pyg"])
    assert got.packages == ("xformers==0.0.30", "numpy", "torch-scatter")  # its own name is not a package
    assert got.torch == ((">=2.6", "pyproject.toml: [project] dependencies"),)


@pytest.mark.parametrize("text, words", [
    ("[project\nname = 'x'", "not valid TOML"),
    ("[tool.poetry.dependencies]\nxformers = '*'\n", "no \\[project\\] table"),
    ("[project]\nname = 'x'\ndynamic = ['dependencies']\n", "dynamic"),
    ("[project]\nname = 'x'\ndependencies = 'xformers'\n", "not a list of strings"),
    ("[project]\nname = 'x'\ndependencies = ['-e .']\n", "editable"),
    # malformed or hostile files (a sweep of such inputs, 2026-12-04, found each an internal error or a hang)
    ("[project]\nname = 'x'\ndynamic = 5\n", "dynamic is not a list"),
    ("[project]\nname = 'x'\ndependencies = " + "[" * 3000 + "]" * 3000 + "\n", "nests arrays or tables too deep"),
    ("[project]\nname = 'x'\n" + ".".join(["a"] * 100_000) + " = 1\n", "key of over 16 dotted parts"),
    ("[" + ".".join(["a"] * 100_000) + "]\n", "key of over 16 dotted parts"),
])
def test_a_project_torchup_cannot_read_is_a_usage_error(text, words):
    with pytest.raises(UsageError, match=words):
        parse_project(text, origin="pyproject.toml")


def test_an_unknown_extra_lists_the_known_ones():
    with pytest.raises(UsageError, match="no extra 'gpu'") as err:
        parse_project(PYPROJECT, origin="pyproject.toml", extras=["gpu"])
    assert err.value.hint == "its extras: pyg"


def test_unreadable_paths_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="cannot read requirements file"):
        read_requirements(str(tmp_path / "missing.txt"))
    with pytest.raises(UsageError, match="is a directory"):
        read_requirements(str(tmp_path))
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00x")
    with pytest.raises(UsageError, match="not UTF-8"):
        read_requirements(str(tmp_path / "bin.txt"))
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    assert read_project(str(tmp_path)).packages == ("xformers==0.0.30", "numpy")  # a directory: its pyproject.toml


# --- folding into the Request -----------------------------------------------------------


def test_fold_adds_the_packages_and_takes_the_files_torch():
    a = parse_requirements("xformers==0.0.30\ntorch==2.7.0\n", origin="a.txt")
    b = parse_requirements("xformers==0.0.30\nbitsandbytes\n", origin="b.txt")
    got = fold(Request(with_packages=("vllm",)), [a, b])
    assert got.with_packages == ("vllm", "xformers==0.0.30", "bitsandbytes")
    assert got.torch == "==2.7.0"


def test_fold_accepts_the_same_torch_twice_and_refuses_two_different():
    a = parse_requirements("torch==2.7.0\n", origin="a.txt")
    assert fold(Request(torch="2.7.0"), [a]).torch == "2.7.0"  # --torch 2.7.0 means ==2.7.0
    with pytest.raises(UsageError, match=r"torch is asked for in more than one way: >=2.8 \(--torch\); ==2.7.0 \(a.txt:1\)"):
        fold(Request(torch=">=2.8"), [a])


# --- the CLI ---------------------------------------------------------------------------


def _torchup(*args, cwd=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORCHUP_")}
    return subprocess.run([sys.executable, "-m", "torchup", *args], capture_output=True, text=True, env=env,
                          timeout=120, cwd=cwd)


def test_plan_takes_torchs_version_from_the_requirements_file(tmp_path):
    machine = tmp_path / "m.json"
    machine.write_text(json.dumps(RTX4090))
    req = tmp_path / "requirements.txt"
    req.write_text("torch==2.11.0\nnumpy\n")
    r = _torchup("plan", "--json", "--machine", str(machine), "-r", str(req))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["torch"].startswith("2.11.0")


@pytest.mark.parametrize("command", ["plan", "install"])
def test_plan_and_install_refuse_a_bad_file_with_exit_2_and_no_traceback(tmp_path, command):
    machine = tmp_path / "m.json"
    machine.write_text(json.dumps(RTX4090))
    req = tmp_path / "requirements.txt"
    req.write_text("numpy\n-e ./here\n")
    extra = ["--dry-run", "--python", sys.executable] if command == "install" else []
    r = _torchup(command, "--machine", str(machine), "-r", str(req), *extra)
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"{req}:2" in r.stderr and "editable" in r.stderr
    assert "Traceback" not in r.stderr


def test_project_extra_without_project_is_a_usage_error(tmp_path):
    r = _torchup("plan", "--project-extra", "gpu")
    assert r.returncode == 2 and "--project-extra needs --project" in r.stderr


def test_install_refuses_stack_files_next_to_a_plan_file(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("xformers\n")
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"torch": "2.14.1+cpu", "variant": "cpu"}))
    r = _torchup("install", "--plan", str(plan), "-r", str(req), "--dry-run", "--python", sys.executable)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "a plan file holds its stack already" in r.stderr


def test_comments_are_cut_where_pips_pattern_cuts_them():
    # the scan that replaced r"(^|\s+)#.*$" (quadratic on long whitespace runs) cuts at the same place
    import random
    import re

    from torchup.stack_input import _without_comment

    pattern = re.compile(r"(^|\s+)#.*$")
    rng = random.Random(4)
    for _ in range(3000):
        line = "".join(rng.choice("ab #\t=<1;") for _ in range(rng.randrange(0, 14)))
        assert _without_comment(line).strip() == pattern.sub("", line).strip(), line


def test_a_large_requirements_file_with_long_whitespace_is_read_whole():
    # 100,000 spaces after a name took 55 s, and 60,000 distinct lines over 20 s (a sweep, 2026-12-04)
    got = parse_requirements("numpy" + " " * 100_000 + "\n" + "".join(f"pkg{i}\n" for i in range(60_000)),
                             origin="r.txt")
    assert got.packages[0] == "numpy" and len(got.packages) == 60_001
