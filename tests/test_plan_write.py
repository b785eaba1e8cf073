"""``plan --write``: the rendered project merged into the user's pyproject.toml / pixi.toml, keeping
their comments and other tables byte for byte; shown as a diff, asked, backed up; idempotent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib

import pytest

from torchup import render
from torchup.errors import UsageError
from torchup.render.merge import merge
from tests.test_render import PLANS
from tests.test_resolve_cli import RTX4090_DRIVER580

THREE = [PLANS["linux-cu126"], PLANS["macos-arm64"], PLANS["windows-cu130-audio"]]

USER_PYPROJECT = """\
# my project: hand-written, keep my comments
[build-system]
requires = ["hatchling"]  # the backend
build-backend = "hatchling.build"

[project]
name = "demo"   # not my-project
version = "1.2.3"
dependencies = [
    "numpy>=2",  # arrays
    "torch>=2.0",  # replaced by the pins
]

[tool.ruff]
# lint settings
line-length = 100

[tool.uv]
package = false  # an app

[[tool.uv.index]]
name = "internal"
url = "https://pkgs.example.org/simple"
"""

UNCHANGED = [  # the parts of USER_PYPROJECT outside what torchup renders, byte for byte
    '# my project: hand-written, keep my comments\n[build-system]\nrequires = ["hatchling"]  # the backend\n'
    'build-backend = "hatchling.build"\n\n[project]\nname = "demo"   # not my-project\nversion = "1.2.3"\n',
    '    "numpy>=2",  # arrays\n',
    "[tool.ruff]\n# lint settings\nline-length = 100\n\n[tool.uv]\npackage = false  # an app\n",
    '[[tool.uv.index]]\nname = "internal"\nurl = "https://pkgs.example.org/simple"\n',
]


@pytest.mark.parametrize("fmt", ["uv-project", "poetry-project"])
def test_merge_keeps_the_users_content_and_a_second_merge_changes_nothing(fmt):
    text = render.render_many(THREE, fmt)
    once = merge(USER_PYPROJECT, text)
    for part in UNCHANGED:
        assert part in once
    assert "torch>=2.0" not in once
    doc, rendered = tomllib.loads(once), tomllib.loads(text)
    assert doc["project"]["name"] == "demo" and doc["project"]["requires-python"] == ">=3.12"
    assert doc["project"]["dependencies"] == ["numpy>=2", *rendered["project"]["dependencies"]]
    if fmt == "uv-project":
        assert doc["tool"]["uv"]["sources"] == rendered["tool"]["uv"]["sources"]
        assert [i["name"] for i in doc["tool"]["uv"]["index"]] == ["internal", "pytorch-cu126", "pytorch-cu130"]
        assert doc["tool"]["uv"]["environments"] == rendered["tool"]["uv"]["environments"]
    else:
        assert doc["tool"]["poetry"] == rendered["tool"]["poetry"]
    assert merge(once, text) == once


def test_merge_into_a_pixi_manifest_keeps_its_channels_and_tasks():
    user = '[workspace]\nname = "demo"\nchannels = ["my-channel"]  # ours\n\n[tasks]\ntrain = "python train.py"  # go\n'
    text = render.render_many(THREE, "pixi")
    once = merge(user, text)
    assert 'name = "demo"\n' in once and '[tasks]\ntrain = "python train.py"  # go\n' in once
    doc = tomllib.loads(once)
    assert doc["workspace"]["channels"] == ["my-channel", "conda-forge"]
    assert doc["workspace"]["platforms"] == tomllib.loads(text)["workspace"]["platforms"]
    assert doc["target"] == tomllib.loads(text)["target"]
    assert merge(once, text) == once


def test_nothing_there_gives_the_rendered_file_and_bad_toml_is_a_usage_error():
    text = render.render(PLANS["linux-cu126"], "uv-project")
    assert merge(None, text) == text
    with pytest.raises(UsageError, match="is not valid TOML"):
        merge("[project\nname = 1\n", text, path="pyproject.toml")


def _torchup(*args, cwd, input=""):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORCHUP_")}
    env["NO_COLOR"] = "1"
    return subprocess.run([sys.executable, "-m", "torchup", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, input=input, timeout=120)


@pytest.fixture
def machines(tmp_path):
    gpu, mac = tmp_path / "gpu.json", tmp_path / "mac.json"
    gpu.write_text(json.dumps(RTX4090_DRIVER580))
    mac.write_text(json.dumps({"os": "macos", "arch": "arm64", "python": "3.12", "macos_version": "15.1"}))
    return ["--machine", str(gpu), "--machine", str(mac)]


def test_write_shows_the_diff_asks_backs_up_and_a_second_write_changes_nothing(tmp_path, machines):
    project = tmp_path / "proj"
    project.mkdir()
    target = project / "pyproject.toml"
    target.write_text(USER_PYPROJECT)
    r = _torchup("plan", *machines, "--manager", "uv-project", "--write", cwd=project, input="n\n")
    assert r.returncode == 0, r.stderr
    assert "+++ " in r.stdout and "-    \"torch>=2.0\",  # replaced by the pins" in r.stdout
    assert "write " in r.stderr and "nothing written" in r.stdout
    assert target.read_text() == USER_PYPROJECT and not (project / "pyproject.toml.torchup-backup").exists()

    r = _torchup("plan", *machines, "--manager", "uv-project", "--write", cwd=project, input="y\n")
    assert r.returncode == 0, r.stderr
    written = target.read_text()
    assert (project / "pyproject.toml.torchup-backup").read_text() == USER_PYPROJECT
    for part in UNCHANGED:
        assert part in written
    assert "sys_platform == 'darwin'" in written

    r = _torchup("plan", *machines, "--manager", "uv-project", "--write", "--yes", cwd=project)
    assert r.returncode == 0, r.stderr
    assert "already has this configuration: nothing written" in r.stdout
    assert target.read_text() == written
    assert (project / "pyproject.toml.torchup-backup").read_text() == USER_PYPROJECT


def test_write_creates_the_file_and_without_write_nothing_is_written(tmp_path, machines):
    r = _torchup("plan", *machines, "--manager", "pixi", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "pixi.toml").exists()
    r = _torchup("plan", *machines, "--manager", "pixi", "--write", "--yes", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "[[tool" not in (tmp_path / "pixi.toml").read_text()
    assert tomllib.loads((tmp_path / "pixi.toml").read_text())["workspace"]["channels"] == ["conda-forge"]


@pytest.mark.parametrize("args", [["--manager", "pip", "--write"], ["--manager", "uv-project", "--write", "--json"]])
def test_write_needs_a_project_format(tmp_path, machines, args):
    r = _torchup("plan", *machines, *args, cwd=tmp_path)
    assert r.returncode == 2 and "--write merges a project file" in r.stdout + r.stderr  # --json: the error as JSON
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gpu.json", "mac.json"]


def test_install_refuses_write(tmp_path, machines):
    r = _torchup("install", machines[0], machines[1], "--write", "--dry-run", cwd=tmp_path)
    assert r.returncode == 2 and "--write belongs to `torchup plan`" in r.stderr


# --- pixi into a pyproject.toml: [tool.pixi] tables (pixi reads them there when no pixi.toml is beside it) ---

PIXI_UNDER = ("tool", "pixi")


def test_pixi_merges_into_tool_pixi_and_keeps_every_byte_outside_it():
    text = render.render_many(THREE, "pixi")
    once = merge(USER_PYPROJECT, text, under=PIXI_UNDER)
    assert once.startswith(USER_PYPROJECT)  # nothing of the user's file changed: the tables are added after it
    doc, rendered = tomllib.loads(once), tomllib.loads(text)
    assert doc["tool"]["pixi"] == rendered
    assert {k: v for k, v in doc.items() if k != "tool"} == {k: v for k, v in tomllib.loads(USER_PYPROJECT).items()
                                                             if k != "tool"}
    assert "[workspace]" not in once and "[tool.pixi]\n" not in once and "[tool.pixi.workspace]\n" in once
    assert merge(once, text, under=PIXI_UNDER) == once


def test_pixi_merge_into_an_existing_tool_pixi_keeps_its_tasks_and_older_table_name():
    user = USER_PYPROJECT + (
        '\n[tool.pixi.project]  # pixi\'s name before [workspace]\nchannels = ["my-channel"]\n'
        'platforms = ["linux-64"]\n\n[tool.pixi.tasks]\ntrain = "python train.py"  # go\n\n'
        '[dependency-groups]\ndev = ["pytest"]  # last\n'
    )
    text = render.render_many(THREE, "pixi")
    once = merge(user, text, under=PIXI_UNDER)
    for part in [*UNCHANGED, '[tool.pixi.tasks]\ntrain = "python train.py"  # go\n',
                 '\n\n[dependency-groups]\ndev = ["pytest"]  # last\n']:
        assert part in once
    pixi = tomllib.loads(once)["tool"]["pixi"]
    assert "workspace" not in pixi  # pixi refuses a manifest with both
    assert pixi["project"]["channels"] == ["my-channel", "conda-forge"]
    assert pixi["project"]["platforms"] == tomllib.loads(text)["workspace"]["platforms"]
    assert pixi["target"] == tomllib.loads(text)["target"]
    assert merge(once, text, under=PIXI_UNDER) == once


def test_pixi_under_a_value_that_is_not_a_table_is_a_usage_error():
    with pytest.raises(UsageError, match="tool.pixi is not a table"):
        merge('[tool]\npixi = "yes"\n', render.render(PLANS["linux-cu126"], "pixi"), under=PIXI_UNDER)


def test_write_pixi_goes_into_the_pyproject_when_there_is_no_pixi_toml(tmp_path, machines):
    project = tmp_path / "proj"
    project.mkdir()
    target = project / "pyproject.toml"
    target.write_text(USER_PYPROJECT)
    r = _torchup("plan", *machines, "--manager", "pixi", "--write", "--yes", cwd=project)
    assert r.returncode == 0, r.stderr
    written = target.read_text()
    assert written.startswith(USER_PYPROJECT) and "[tool.pixi.workspace]" in written
    assert not (project / "pixi.toml").exists()
    assert (project / "pyproject.toml.torchup-backup").read_text() == USER_PYPROJECT
    assert "pixi also reads [project] dependencies as PyPI dependencies: torch>=2.0" in r.stdout
    notes = [line for line in r.stdout.splitlines() if line.startswith("torchup: note: ")]
    assert len(notes) == 1 and "set CONDA_OVERRIDE_CUDA=13 there" in notes[0]  # the header a merge drops
    r = _torchup("plan", *machines, "--manager", "pixi", "--write", "--yes", cwd=project)
    assert r.returncode == 0 and "already has this configuration: nothing written" in r.stdout
    assert target.read_text() == written


def test_write_pixi_prefers_a_pixi_toml_beside_the_pyproject(tmp_path, machines):
    (tmp_path / "pyproject.toml").write_text(USER_PYPROJECT)
    (tmp_path / "pixi.toml").write_text('[workspace]\nchannels = ["conda-forge"]\n')
    r = _torchup("plan", *machines, "--manager", "pixi", "--write", "--yes", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "pyproject.toml").read_text() == USER_PYPROJECT
    assert "platforms" in tomllib.loads((tmp_path / "pixi.toml").read_text())["workspace"]
