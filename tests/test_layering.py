"""The layering of DESIGN.md, checked: pure modules touch no host, nothing below
the CLI imports it, and start-up imports nothing heavy."""

import ast
import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "torchup"

PURE = [
    "machine.py",
    "plan.py",
    "findings.py",
    "resolve.py",
    "render",
    "doctor/rules.py",
    "doctor/explain.py",
    "catalog/model.py",
    "catalog/rules.py",
    "fleet/planning.py",
    "fleet/rollout.py",
    "fleet/gather.py",
]
HOST_MODULES = {"subprocess", "socket", "urllib.request", "http.client", "ctypes", "shutil"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _files(entry: str):
    p = SRC / entry
    if p.is_dir():
        yield from sorted(p.rglob("*.py"))
    elif p.exists():
        yield p


def test_pure_modules_do_not_touch_the_host():
    for entry in PURE:
        for f in _files(entry):
            bad = _imports(f) & HOST_MODULES
            assert not bad, f"{f.relative_to(SRC)} imports {bad}"


def test_nothing_below_the_cli_imports_it():
    for f in SRC.rglob("*.py"):
        if f.name in ("cli.py", "__main__.py") or "commands" in f.parts:
            continue
        mods = _imports(f)
        assert "torchup.cli" not in mods and not any(m.startswith("torchup.commands") for m in mods), f


def test_catalog_and_install_do_not_import_each_other():
    """What both need (the HTTP client, the configured default index) lives in torchup.http."""
    for package, other in (("catalog", "torchup.install"), ("install", "torchup.catalog")):
        for f in _files(package):
            bad = {m for m in _imports(f) if m == other or m.startswith(other + ".")}
            assert not bad, f"{f.relative_to(SRC)} imports {bad}"


def test_torch_is_never_imported_by_torchup_itself():
    for f in SRC.rglob("*.py"):
        if f.parent.name == "verify" and f.name == "check.py":
            continue  # runs inside the target interpreter, not in torchup
        mods = _imports(f)
        assert not any(m == "torch" or m.startswith("torch.") for m in mods), f


def test_startup_imports_nothing_heavy():
    code = "import sys, torchup.cli; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    for heavy in ("torch", "numpy", "email", "http", "urllib.request", "ssl", "asyncio", "concurrent"):
        assert heavy not in out, heavy


def test_plan_for_a_machine_file_needs_no_dataclass_machinery(tmp_path):
    """``@dataclass`` and its imports (inspect, ast, dis) cost ~30 ms at start-up: the classes on
    plan's path are ``torchup.record`` records (issue 15).  A module added to that path with a
    dataclass brings them back; this names it."""
    machine = tmp_path / "m.json"
    machine.write_text(
        '{"os": "linux", "arch": "x86_64", "python": "3.12", "libc": "glibc 2.35", "nvidia_driver": "580.65.06",'
        ' "gpus": [{"vendor": "nvidia", "name": "NVIDIA GeForce RTX 4090", "compute_capability": "8.9"}]}'
    )
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "torchup", "plan", "--machine", str(machine), "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "TORCHUP_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    imported = [line.rsplit("|", 1)[-1].strip() for line in run.stderr.splitlines() if line.startswith("import time:")]
    for slow in ("dataclasses", "inspect", "ast", "typing"):
        assert slow not in imported, f"{slow} is imported by `plan --machine FILE --json`"


def test_plan_with_a_package_needs_neither_dataclasses_nor_packagings_requirement_parser(tmp_path):
    """``plan --with`` (the stack around torch) took twice a plain plan's time: the stack classes were
    dataclasses, and every requirement went through ``packaging.requirements`` (markers, tags,
    logging).  A name with version clauses is read by ``torchup.metadata``; packaging's parser is
    for the forms that need it (extras, markers)."""
    machine = tmp_path / "m.json"
    machine.write_text(
        '{"os": "linux", "arch": "x86_64", "python": "3.12", "libc": "glibc 2.35", "nvidia_driver": "580.65.06",'
        ' "gpus": [{"vendor": "nvidia", "name": "NVIDIA GeForce RTX 4090", "compute_capability": "8.9"}]}'
    )
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "torchup", "plan", "--machine", str(machine), "--json",
         "--with", "xformers>=0.0.28", "--with", "flash-attn"],
        capture_output=True,
        text=True,
        env={**os.environ, "TORCHUP_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert '"xformers"' in run.stdout and '"flash-attn"' in run.stdout
    imported = _imported(run.stderr)
    for slow in ("dataclasses", "inspect", "ast", "packaging.requirements", "packaging.markers", "logging", "pathlib"):
        assert slow not in imported, f"{slow} is imported by `plan --machine FILE --json --with ...`"


def test_explain_on_a_small_file_needs_no_dataclass_machinery(tmp_path):
    """explain's start-up (issue 15: 1 KB in 60 ms) has no room for ``dataclasses`` and what it
    pulls in, nor ``typing``: its classes (Finding, Problem, Signature, Facts) are records."""
    log = tmp_path / "error.log"
    log.write_text("RuntimeError: The NVIDIA driver on your system is too old (found version 11040).\n")
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "torchup", "explain", str(log), "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "TORCHUP_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "driver-too-old" in run.stdout
    imported = [line.rsplit("|", 1)[-1].strip() for line in run.stderr.splitlines() if line.startswith("import time:")]
    for slow in ("dataclasses", "inspect", "ast", "typing", "pathlib"):
        assert slow not in imported, f"{slow} is imported by `explain FILE --json`"


def _imported(stderr: str) -> list[str]:
    return [line.rsplit("|", 1)[-1].strip() for line in stderr.splitlines() if line.startswith("import time:")]


def test_install_dry_run_checks_wheel_tags_without_packaging_tags(tmp_path, clean_env):
    """``packaging.tags`` (with logging, platform, sysconfig: ~12 ms) and ``packaging.utils``, which
    imports it, are not on the dry run's path: torchup.wheeltags reads the tags (issue 15).  The
    second index has the planned torch only for Windows: the index check compares the tags and
    says so, still without them."""
    from tests.support import install_env as ie
    from tests.support.index_server import IndexServer
    from tests.support.wheels import make_wheel

    wheels = ie.build_wheels(tmp_path / "wheels")
    elsewhere = make_wheel(tmp_path / "win", "torch", ie.NEW_CPU, tag="cp311-cp311-win_amd64", requires_dist=["filelock"])
    good, windows_only = IndexServer(missing_status=403), IndexServer(missing_status=403)
    with good, windows_only:
        ie.serve(good, wheels)
        ie.serve(windows_only, {"whl/cpu": [elsewhere, *(w for w in wheels["whl/cpu"] if ie.NEW_CPU not in w.name)]})
        venv = ie.make_template_venv(tmp_path / "venv", good, ie.tool_env(clean_env, tmp_path))
        for server, code in ((good, 0), (windows_only, 5)):
            env = ie.with_index_base(ie.tool_env(clean_env, tmp_path), server)
            plan = ie.plan_file(tmp_path / "plan.json", server, torch=ie.NEW_CPU, variant="cpu")
            argv = ["install", "--plan", str(plan), "--python", str(venv), "--dry-run", "--manager", "uv"]
            run = subprocess.run([sys.executable, "-X", "importtime", "-m", "torchup", *argv], capture_output=True,
                                 text=True, env=env, timeout=120)
            printed = run.stdout + "\n".join(x for x in run.stderr.splitlines() if not x.startswith("import time:"))
            assert run.returncode == code, printed
            if code:
                assert f"torch {ie.NEW_CPU} is there only for: cp311-cp311-win_amd64" in printed, printed
            imported = _imported(run.stderr)
            assert "packaging.specifiers" in imported  # the measure is taken where packaging is used
            for heavy in ("packaging.tags", "packaging.utils"):
                assert heavy not in imported, f"{heavy} is imported by `install --dry-run` ({server.url})"


def test_nothing_in_the_project_reaches_outside_the_clone():
    """A fresh clone has nothing beside it: no code, test, fixture or script may point at
    the team's research folder beside it (read while working, never depended on)."""
    repo = SRC.parent.parent
    tracked = subprocess.run(["git", "ls-files"], cwd=repo, capture_output=True, text=True, check=True).stdout.split(
        "\n"
    )
    needle = "../" + "shared"
    offenders = []
    for name in filter(None, tracked):
        path = repo / name
        if not path.is_file() or path.suffix in (".whl", ".gz"):
            continue
        if needle in path.read_bytes().decode("utf-8", "replace"):
            offenders.append(name)
    assert not offenders, offenders
