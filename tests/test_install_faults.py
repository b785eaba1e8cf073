"""Fault tests: whatever goes wrong, the clear error, the exit code, and the
environment exactly as before (pip freeze, the site-packages file list, and the
old torch still importing)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support import install_env as ie
from tests.support.index_server import IndexServer
from tests.support.install_fixtures import env, template, venv  # noqa: F401 (fixtures)

WHEEL = f"/whl/cu126/torch/torch-{ie.NEW_CU126.replace('+', '%2B')}-{ie.TAG}.whl"


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    # torch 1 MB, so that a cut after 64 KB lands in the middle of the wheel (its PEP 658
    # metadata, which shares the URL prefix, is smaller and is served whole)
    wheels = ie.build_wheels(tmp_path_factory.mktemp("wheels"), pad=1 << 20)
    with IndexServer(missing_status=403) as server:
        ie.serve(server, wheels)
        yield server


@pytest.fixture
def faults(index):
    yield index
    index.clear_faults()


def _install(venv, plan, env, manager, *extra):
    return ie.torchup(["install", "--plan", str(plan), "--python", str(venv), "--manager", manager, "--yes",
                       "--no-verify", *extra], env)


def _assert_restored(r, venv, env, before):
    out = r.stdout + r.stderr
    assert "the install failed" in out, out
    assert ("the environment is as it was before" in out or "the environment was restored" in out), out
    assert f"torch {ie.OLD_TORCH} is still installed" in out
    assert "full log:" in out
    assert ie.state(venv, env) == before


@pytest.mark.parametrize("manager", ["pip", "uv"])
def test_connection_cut_mid_download(manager, faults, venv, env, tmp_path):
    before = ie.state(venv, env)
    faults.fault(WHEEL, cut_after=64 << 10)
    r = _install(venv, ie.plan_file(tmp_path / "plan.json", faults), env, manager, "--skip-network-check")
    assert r.returncode == 6, r.stdout + r.stderr
    _assert_restored(r, venv, env, before)


@pytest.mark.parametrize("manager", ["pip", "uv"])
def test_wheel_answers_403(manager, faults, venv, env, tmp_path):
    before = ie.state(venv, env)
    faults.fault(WHEEL, status=403)
    r = _install(venv, ie.plan_file(tmp_path / "plan.json", faults), env, manager)
    assert r.returncode == 6, r.stdout + r.stderr
    assert "403" in r.stdout + r.stderr
    _assert_restored(r, venv, env, before)


def test_index_answers_500_before_anything_changes(faults, venv, env, tmp_path):
    before = ie.state(venv, env)
    faults.fault("/whl/cu126/torch/", status=500)
    r = _install(venv, ie.plan_file(tmp_path / "plan.json", faults), env, "pip")
    assert r.returncode == 5, r.stdout + r.stderr
    assert "PyTorch's index did not answer" in r.stderr and "HTTP 500" in r.stderr
    assert "failing on its side" in r.stderr
    assert "nothing was changed" in r.stdout
    assert ie.state(venv, env) == before
    assert not (venv.parent.parent / ".torchup").exists()  # not even a snapshot


def test_index_unreachable(venv, env, tmp_path, index):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = IndexServer()
    plan = tmp_path / "plan.json"
    plan.write_text(f'{{"torch": "{ie.NEW_CU126}", "variant": "cu126", "index_url": "http://127.0.0.1:{port}/whl/cu126/"}}')
    before = ie.state(venv, env)
    r = _install(venv, plan, env, "pip", "--trust-plan-index")  # a port that is not the index of `env`
    assert r.returncode == 5, r.stdout + r.stderr
    assert "refused" in r.stderr and "HTTPS_PROXY" in r.stderr
    assert ie.state(venv, env) == before
    # without the preflight, the manager itself fails, and the environment is restored
    r = _install(venv, plan, env, "uv", "--skip-network-check", "--trust-plan-index")
    assert r.returncode == 6, r.stdout + r.stderr
    _assert_restored(r, venv, env, before)
    del dead


def test_externally_managed_python_is_refused(index, env, tmp_path):
    system_python = "/usr/bin/python3.11"
    if not Path("/usr/lib/python3.11/EXTERNALLY-MANAGED").exists():
        pytest.skip("this machine has no externally-managed system Python 3.11")
    freeze = lambda: subprocess.run([system_python, "-m", "pip", "freeze", "--all"], capture_output=True,
                                    text=True, env=env).stdout
    before = freeze()
    plan = ie.plan_file(tmp_path / "plan.json", index)
    r = ie.torchup(["install", "--plan", str(plan), "--python", system_python, "--manager", "pip", "--yes", "--no-verify"], env)
    assert r.returncode == 4, r.stdout + r.stderr
    assert "externally-managed (PEP 668" in r.stderr
    assert f"{system_python} -m venv .venv" in r.stderr and "--venv" in r.stderr
    assert freeze() == before
    # --venv DIR creates a venv from it and installs there
    venv = tmp_path / "fresh"
    r = ie.torchup(["install", "--plan", str(plan), "--python", system_python, "--venv", str(venv), "--manager", "pip",
                    "--yes", "--no-verify"], env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert ie.state(venv / "bin" / "python", env)["torch"] == ie.NEW_CU126
    assert freeze() == before


def _chattr(flag: str, path: Path) -> None:
    subprocess.run(["chattr", flag, str(path)], check=True, capture_output=True)


@contextmanager
def _immutable(path: Path):
    """``path`` made immutable (chattr +i) for the block; root ignores permission bits, not this."""
    try:
        _chattr("+i", path)
    except (subprocess.CalledProcessError, FileNotFoundError):
        pytest.skip("chattr +i does not work on this filesystem")
    try:
        yield
    finally:
        _chattr("-i", path)


def _site(venv: Path) -> Path:
    return next((venv.parent.parent / "lib").glob("python3*/site-packages"))


def test_read_only_site_packages_is_refused_before_any_change(index, venv, env, tmp_path):
    """Root ignores permission bits, so the test makes site-packages immutable (chattr +i)."""
    before = ie.state(venv, env)
    site = _site(venv)
    with _immutable(site):
        r = _install(venv, ie.plan_file(tmp_path / "plan.json", index), env, "pip")
    assert r.returncode == 4, r.stdout + r.stderr
    assert "cannot be written" in r.stderr and str(site) in r.stderr and "never uses sudo" in r.stderr
    assert ie.state(venv, env) == before


@pytest.mark.parametrize("manager", ["pip", "uv"])
def test_read_only_old_torch_fails_mid_install_and_is_restored(manager, index, venv, env, tmp_path):
    """The old torch's directory is immutable: the manager installs the NVIDIA wheels, then
    cannot remove the old torch; torchup takes the new wheels away again."""
    before = ie.state(venv, env)
    torch_dir = _site(venv) / "torch"
    with _immutable(torch_dir):
        r = _install(venv, ie.plan_file(tmp_path / "plan.json", index), env, manager)
        after = ie.state(venv, env)
    assert r.returncode == 6, r.stdout + r.stderr
    assert after == before
    _assert_restored(r, venv, env, before)


def _mount_tmpfs(path: Path, size_mb: int) -> bool:
    path.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(path)], capture_output=True)
    return r.returncode == 0


@pytest.mark.parametrize("manager", ["pip", "uv"])
def test_disk_fills_up_during_the_install(manager, faults, template, env, tmp_path):
    """A real ENOSPC: the venv lives on a small tmpfs, which the test fills up once the
    preflight has passed and the manager asks for the wheel."""
    small = tmp_path / "small"
    if not _mount_tmpfs(small, 64):
        pytest.skip("cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)")
    try:
        venv = ie.copy_venv(template, small / "venv")
        before = ie.state(venv, env)
        faults.fault(WHEEL, delay=1.0)
        stop = threading.Event()

        def fill():
            while not stop.is_set():
                gets = [p for p, _ in faults.requests if p.endswith(".whl") and "/torch/" in p]
                if len(gets) >= 2:  # the preflight's HEAD, then the manager's GET
                    with open(small / "filler", "wb") as fh:
                        try:
                            while True:
                                fh.write(b"\0" * (1 << 20))
                        except OSError:
                            pass
                    return
                time.sleep(0.01)

        faults.requests.clear()
        filler = threading.Thread(target=fill)
        filler.start()
        try:
            r = _install(venv, ie.plan_file(tmp_path / "plan.json", faults), env, manager)
        finally:
            stop.set()
            filler.join()
        assert (small / "filler").exists(), "the disk was never filled: the test did not test anything"
        assert r.returncode == 6, r.stdout + r.stderr
        assert "No space left on device" in r.stdout + r.stderr or "ENOSPC" in r.stdout + r.stderr
        os.remove(small / "filler")
        _assert_restored(r, venv, env, before)
    finally:
        subprocess.run(["umount", "-l", str(small)], capture_output=True)


def test_not_enough_disk_is_refused_by_the_preflight(template, env, tmp_path):
    """The wheel is larger than the free space: the preflight says so before any change."""
    wheels = ie.build_wheels(tmp_path / "wheels", pad=40 << 20)
    small = tmp_path / "small"
    if not _mount_tmpfs(small, 64):
        pytest.skip("cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)")
    try:
        venv = ie.copy_venv(template, small / "venv")
        before = ie.state(venv, env)
        with IndexServer(missing_status=403) as server:
            ie.serve(server, wheels)
            r = _install(venv, ie.plan_file(tmp_path / "plan.json", server), ie.with_index_base(env, server), "pip")
        assert r.returncode == 4, r.stdout + r.stderr
        assert "not enough free disk" in r.stderr and str(small) in r.stderr
        assert ie.state(venv, env) == before
    finally:
        subprocess.run(["umount", "-l", str(small)], capture_output=True)


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry))
    return out


def _managers_running(venv: Path) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"install" in cmd and str(venv).encode() in cmd:
                out.append(int(entry))
    return out


def test_sigkill_of_pip_mid_install(template, env, tmp_path):
    """Large wheels: once pip has installed the first NVIDIA wheel (so the environment is
    half-changed), the test kills pip with SIGKILL."""
    wheels = ie.build_wheels(tmp_path / "wheels", pad=60 << 20, nvidia_pad=30 << 20)
    venv = ie.copy_venv(template, tmp_path / "venv")
    before = ie.state(venv, env)
    site = _site(venv)
    with IndexServer(missing_status=403) as server:
        ie.serve(server, wheels)
        plan = ie.plan_file(tmp_path / "plan.json", server)
        proc = subprocess.Popen([sys.executable, "-m", "torchup", "install", "--plan", str(plan), "--python", str(venv),
                                 "--manager", "pip", "--yes", "--no-verify"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=ie.with_index_base(env, server),
                                stdin=subprocess.DEVNULL)
        killed = False
        deadline = time.monotonic() + 240
        while proc.poll() is None and time.monotonic() < deadline:
            if any(p.name.startswith("nvidia_") and p.name.endswith(".dist-info") for p in site.iterdir()):
                for child in _children(proc.pid):
                    os.kill(child, signal.SIGKILL)
                    killed = True
                break
            time.sleep(0.005)
        out, err = proc.communicate(timeout=240)
    assert killed, "pip finished before the test could kill it"
    assert proc.returncode == 6, out + err
    assert "killed by SIGKILL" in out + err
    assert "the environment was restored" in out + err
    r = subprocess.CompletedProcess([], proc.returncode, out, err)
    _assert_restored(r, venv, env, before)


def test_sigkill_of_uv_mid_download(faults, venv, env, tmp_path):
    """uv links wheels from its cache in milliseconds, so it is killed while it waits for the wheel."""
    before = ie.state(venv, env)
    faults.fault(WHEEL, delay=3.0)
    faults.requests.clear()
    plan = ie.plan_file(tmp_path / "plan.json", faults)
    proc = subprocess.Popen([sys.executable, "-m", "torchup", "install", "--plan", str(plan), "--python", str(venv),
                             "--manager", "uv", "--yes", "--no-verify"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, stdin=subprocess.DEVNULL)
    killed = False
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        if len([p for p, _ in faults.requests if p.endswith(".whl") and "/torch/" in p]) >= 2:
            for child in _children(proc.pid):
                os.kill(child, signal.SIGKILL)
                killed = True
            break
        time.sleep(0.01)
    out, err = proc.communicate(timeout=120)
    assert killed
    assert proc.returncode == 6, out + err
    assert "killed by SIGKILL" in out + err
    _assert_restored(subprocess.CompletedProcess([], 6, out, err), venv, env, before)


def test_sigkill_of_torchup_leaves_its_manager_holding_the_lock(faults, venv, env, tmp_path):
    """torchup is killed (SIGKILL: no cleanup) while uv waits for the wheel; uv runs on. A
    rollback started at once must not race it: it is refused, naming uv, until uv has exited;
    then the unfinished install is found and rolled back."""
    before = ie.state(venv, env)
    faults.fault(WHEEL, delay=3.0)
    faults.requests.clear()
    plan = ie.plan_file(tmp_path / "plan.json", faults)
    proc = subprocess.Popen([sys.executable, "-m", "torchup", "install", "--plan", str(plan), "--python", str(venv),
                             "--manager", "uv", "--yes", "--no-verify"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, stdin=subprocess.DEVNULL)
    manager = []
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        if len([p for p, _ in faults.requests if p.endswith(".whl") and "/torch/" in p]) >= 2:
            manager = _children(proc.pid)
            proc.kill()
            break
        time.sleep(0.01)
    proc.communicate(timeout=60)
    assert len(manager) == 1, manager
    r = ie.torchup(["install", "--rollback", "--python", str(venv)], env)
    assert r.returncode == 4, r.stdout + r.stderr
    assert f"an earlier install's package manager (pid {manager[0]}) is still running" in r.stderr
    deadline = time.monotonic() + 60
    while Path(f"/proc/{manager[0]}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{manager[0]}").exists(), "the orphaned manager never ended"
    assert ie.state(venv, env)["torch"] == ie.NEW_CU126  # it finished the install on its own
    r = _install(venv, ie.plan_file(tmp_path / "plan.json", faults), env, "uv")
    assert r.returncode == 4 and "never finished" in r.stderr, r.stdout + r.stderr
    r = ie.torchup(["install", "--rollback", "--python", str(venv)], env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert ie.state(venv, env) == before


@pytest.mark.parametrize("manager", ["pip", "uv"])
def test_ctrl_c_stops_the_manager_and_restores(manager, faults, venv, env, tmp_path):
    """SIGINT to torchup (what Ctrl-C sends) while the manager waits for the wheel."""
    before = ie.state(venv, env)
    faults.fault(WHEEL, delay=3.0)
    faults.requests.clear()
    plan = ie.plan_file(tmp_path / "plan.json", faults)
    proc = subprocess.Popen([sys.executable, "-m", "torchup", "install", "--plan", str(plan), "--python", str(venv),
                             "--manager", manager, "--yes", "--no-verify"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, stdin=subprocess.DEVNULL)
    sent = False
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        if len([p for p, _ in faults.requests if p.endswith(".whl") and "/torch/" in p]) >= 2:
            proc.send_signal(signal.SIGINT)
            sent = True
            break
        time.sleep(0.01)
    out, err = proc.communicate(timeout=120)
    assert sent
    assert proc.returncode == 130, out + err
    assert "interrupted" in out + err
    assert not _managers_running(venv)  # the manager was stopped too, not left behind
    _assert_restored(subprocess.CompletedProcess([], 130, out, err), venv, env, before)


@pytest.mark.parametrize("manager", ["pip", "uv"])
def test_a_scoped_snapshot_restores_a_replaced_dependency_and_leaves_the_rest(manager, index, venv, env, tmp_path):
    """An older nvidia-cublas-cu12 (pinned at another version by the new torch) and an
    unrelated package are installed; the old torch is immutable, so the manager replaces the
    NVIDIA wheels and then fails.  The snapshot mirrors only what the new torch's metadata
    names (plus what the old torch requires): the old cublas comes back, the unrelated
    package was only listed and is untouched."""
    from tests.support.wheels import make_wheel

    extra = [make_wheel(tmp_path / "extra", "nvidia-cublas-cu12", "12.4.5.8", tag="py3-none-manylinux_2_28_x86_64"),
             make_wheel(tmp_path / "extra", "unrelated-pkg", "1.0", files={"unrelated_pkg/__init__.py": "X = 1\n"})]
    r = subprocess.run([str(venv), "-m", "pip", "install", "-q", "--no-index", "--no-deps", *map(str, extra)],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    site = _site(venv)
    before = ie.state(venv, env)
    assert "nvidia_cublas_cu12-12.4.5.8-" in before["freeze"]  # pip freeze names the file installed from
    unrelated = os.stat(site / "unrelated_pkg" / "__init__.py").st_ino
    torch_dir = site / "torch"
    with _immutable(torch_dir):
        r = _install(venv, ie.plan_file(tmp_path / "plan.json", index), env, manager)
        after = ie.state(venv, env)
    assert r.returncode == 6, r.stdout + r.stderr
    manifest = json.loads((venv.parent.parent / ".torchup" / "snapshot" / "manifest.json").read_text())
    assert manifest["scope"] == ["filelock", "nvidia-cublas-cu12", "torch"], (manifest["scope"], r.stdout + r.stderr)
    assert "unrelated_pkg" not in os.listdir(venv.parent.parent / ".torchup" / "snapshot" / "trees" / "0")
    assert after == before
    assert os.stat(site / "unrelated_pkg" / "__init__.py").st_ino == unrelated
    _assert_restored(r, venv, env, before)
