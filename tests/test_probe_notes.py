"""Every note the probe can write is a problem of the catalog (docs/problems.md), and doctor
reports it as that problem.

Two views that must agree: a static scan of ``torchup.probe``'s source for the ids it
passes to ``note(...)``, and the notes the real probe writes on replayed machines
(tests/fixtures/machines, plus a few tools made to hang or fail here)."""

from __future__ import annotations

import ast
import shutil
import sys
from pathlib import Path

import pytest

import torchup.probe
from tests.test_probe_replay import MACHINES, machine_env, replay
from torchup.doctor.problems import PROBLEMS
from torchup.doctor.rules import DoctorState, diagnose
from torchup.probe import probe_machine
from torchup.runner import Runner
from torchup.system import System

PROBE_DIR = Path(torchup.probe.__file__).parent


def note_ids_in_source() -> dict[str, list[str]]:
    """``{id: [file:line, ...]}`` for every ``note(...)`` / ``with_note(...)`` call under torchup/probe.

    An id that is not a string literal (an f-string, a variable) is reported as
    ``<not a literal>``: the set of ids must be readable from the source."""
    found: dict[str, list[str]] = {}
    for path in sorted(PROBE_DIR.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("note", "with_note")):
                continue
            arg = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "note_id"), None)
            key = arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else "<not a literal>"
            found.setdefault(key, []).append(f"{path.name}:{node.lineno}")
    return found


def test_every_note_id_in_the_probe_source_is_a_problem_id():
    found = note_ids_in_source()
    assert len(found) >= 10, found  # the scan sees the calls
    assert "<not a literal>" not in found, found["<not a literal>"]
    unknown = {i: where for i, where in found.items() if i not in PROBLEMS}
    assert unknown == {}


def _fake_tool(bin_dir: Path, name: str, body: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    tool = bin_dir / name
    tool.write_text("#!/bin/sh\n" + body + "\n")
    tool.chmod(0o755)


def _probe_with(root: Path, bin_dir: Path, tmp_path: Path, timeout: float = 10.0):
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}
    return probe_machine(System(root=str(root), env=env, runner=Runner(env)), python=sys.executable, timeout=timeout)


def replayed_notes(tmp_path: Path) -> dict[str, list]:
    """``{case: machine}`` for every replayed machine and the made-up failures."""
    out = {}
    for d in sorted(p for p in MACHINES.iterdir() if p.is_dir()):
        case_dir = tmp_path / d.name
        case_dir.mkdir()
        if d.name == "macos-rosetta":  # its python3 is the fake on PATH
            env = machine_env(d.name, case_dir)
            out[d.name] = probe_machine(System(root=str(d / "root"), env=env, runner=Runner(env)), timeout=10.0)
        else:
            out[d.name] = replay(d.name, case_dir, timeout=1.0)
    out["amd-mi300x, HSA_OVERRIDE_GFX_VERSION=gfx942"] = replay("amd-mi300x", tmp_path, HSA_OVERRIDE_GFX_VERSION="gfx942")
    out["rtx4090-driver550, CUDA_VISIBLE_DEVICES=1"] = replay("rtx4090-driver550", tmp_path, CUDA_VISIBLE_DEVICES="1")
    out["rtx4090-driver550, CUDA_VISIBLE_DEVICES=0"] = replay("rtx4090-driver550", tmp_path, CUDA_VISIBLE_DEVICES="0")
    # nvidia-smi that prints garbage beside a loaded driver
    _fake_tool(tmp_path / "smi-garbage", "nvidia-smi", "echo 'Segmentation fault in libfoo'")
    out["h100-mig, nvidia-smi prints garbage"] = _probe_with(MACHINES / "h100-mig" / "root", tmp_path / "smi-garbage", tmp_path)
    # rocminfo that never answers (ROCm/TheRock#4887 saw amd-smi hang the same way)
    _fake_tool(tmp_path / "rocm-hung", "rocminfo", "exec /bin/sleep 600")
    out["rx7900xtx, rocminfo hangs"] = _probe_with(MACHINES / "amd-rx7900xtx-rocminfo" / "root", tmp_path / "rocm-hung", tmp_path,
                                                  timeout=1.0)
    # the same AMD GPU with no driver bound to it and no ROCm tools
    root = tmp_path / "amd-no-driver"
    shutil.copytree(MACHINES / "amd-rx7900xtx-rocminfo" / "root", root, symlinks=True)
    (root / "sys/bus/pci/devices/0000:09:00.0/driver").unlink()
    (tmp_path / "no-tools").mkdir()
    out["rx7900xtx, no amdgpu driver"] = _probe_with(root, tmp_path / "no-tools", tmp_path)
    return out


@pytest.fixture(scope="module")
def machines(tmp_path_factory):
    return replayed_notes(tmp_path_factory.mktemp("notes"))


def test_replayed_machines_write_every_note_the_source_names(machines):
    written = {n.id for m in machines.values() for n in m.notes}
    assert written <= set(PROBLEMS), written - set(PROBLEMS)
    # every id of the source is met by some case: a new note needs a case here
    assert written == set(note_ids_in_source())


def test_expected_notes_per_case(machines):
    notes = {case: [n.id for n in m.notes] for case, m in machines.items()}
    assert notes["hung-nvidia-smi"] == ["driver-unresponsive"]
    assert notes["rx7900xtx, rocminfo hangs"] == ["amd-driver-unresponsive"]
    assert "rocminfo did not answer in time" in machines["rx7900xtx, rocminfo hangs"].notes[0].message
    assert notes["rx7900xtx, no amdgpu driver"] == ["amdgpu-driver-not-loaded"]
    assert notes["amd-mi300x, HSA_OVERRIDE_GFX_VERSION=gfx942"] == ["hsa-override-invalid"]
    assert notes["h100-mig, nvidia-smi prints garbage"] == ["nvidia-smi-failed"]
    assert notes["no-gpu"] == [] and notes["rtx4090-driver550"] == []
    assert notes["rtx4090-driver550, CUDA_VISIBLE_DEVICES=1"] == ["cuda-visible-devices-hides-gpu"]
    assert "there is no GPU 1 (this machine has 1)" in machines["rtx4090-driver550, CUDA_VISIBLE_DEVICES=1"].notes[0].message
    assert notes["rtx4090-driver550, CUDA_VISIBLE_DEVICES=0"] == []


def test_doctor_reports_every_note_as_its_problem(machines):
    for case, m in machines.items():
        by_id = {d.finding.id: d for d in diagnose(DoctorState(python=sys.executable, machine=m))}
        for note in m.notes:
            assert note.id in by_id, (case, note.id)
            assert note.message in by_id[note.id].finding.evidence, (case, note.id)
            assert by_id[note.id].finding.title == PROBLEMS[note.id].title
