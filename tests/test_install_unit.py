"""Fast tests of install's parts over plain data and temporary trees."""

from __future__ import annotations

import os
import sys
import time

import pytest

from torchup.errors import EnvironmentProblem, InputError, NetworkError, UsageError
from torchup.install import execute, preflight
from torchup.install.http import Response
from torchup.install.snapshot import load_snapshot, restore, take_snapshot
from torchup.install.target import Distribution, TargetEnv, parse_target
from torchup.plan import Plan
from torchup.runner import Result, Runner

MARKERS = {"python_version": "3.11", "platform_machine": "x86_64", "sys_platform": "linux",
           "platform_system": "Linux", "os_name": "posix", "implementation_name": "cpython",
           "python_full_version": "3.11.7", "platform_python_implementation": "CPython"}


def target(tmp_path=None, **kw) -> TargetEnv:
    site = str(tmp_path / "site") if tmp_path else "/env/lib/python3.11/site-packages"
    base = dict(executable="/env/bin/python", version="3.11.7", prefix=str(tmp_path) if tmp_path else "/env",
                in_venv=True, conda=False, site_dirs=(site,), scripts=str(tmp_path / "bin") if tmp_path else None,
                not_writable={}, externally_managed=None, has_pip=True, markers=MARKERS, distributions=())
    base.update(kw)
    return TargetEnv(**base)


PLAN = Plan(torch="2.14.1+cu126", torchvision="0.29.1+cu126", torchaudio=None, variant="cu126",
            index_url="https://download.pytorch.org/whl/cu126")


# --- Runner.stream ------------------------------------------------------------------
def test_stream_merges_output_tees_it_and_logs_it(tmp_path):
    seen = []
    log = tmp_path / "log"
    code = "import sys; print('out', flush=True); print('err', file=sys.stderr, flush=True); sys.exit(3)"
    with open(log, "wb") as fh:
        r = Runner().stream([sys.executable, "-c", code], timeout=30, on_output=seen.append, log=fh)
    assert r.returncode == 3 and not r.ok
    assert r.stdout == "out\nerr\n" and b"".join(seen) == b"out\nerr\n" and log.read_bytes() == b"out\nerr\n"


def test_stream_gives_the_child_a_terminal_when_asked():
    r = Runner().stream([sys.executable, "-c", "import sys; print(sys.stdout.isatty())"], timeout=30, tty=True)
    assert r.ok and r.stdout.strip() == "True"
    r = Runner().stream([sys.executable, "-c", "import sys; print(sys.stdout.isatty())"], timeout=30)
    assert r.stdout.strip() == "False"


def test_stream_timeout_kills_and_returns():
    start = time.monotonic()
    r = Runner().stream([sys.executable, "-c", "import time; print('x', flush=True); time.sleep(60)"], timeout=1)
    assert r.timed_out and r.returncode is None and "x" in r.stdout and time.monotonic() - start < 10


def test_stream_missing_program_is_data():
    assert Runner().stream(["/nonexistent/uv"], timeout=5).error == "not found"


# --- target ---------------------------------------------------------------------------
def test_garbage_from_the_target_is_a_clear_error():
    with pytest.raises(EnvironmentProblem, match="cannot read"):
        parse_target("Traceback (most recent call last):", "/x/python")
    with pytest.raises(EnvironmentProblem):
        parse_target('{"executable": "/x"}', "/x/python")


# --- preflight judges ----------------------------------------------------------------
def test_pep668_is_refused_with_the_venv_command():
    t = target(in_venv=False, executable="/usr/bin/python3",
               externally_managed={"path": "/usr/lib/python3.11/EXTERNALLY-MANAGED", "message": "use apt\nmore"})
    err = preflight.pep668_problem(t)
    assert err is not None and err.exit_code == 4
    assert "/usr/bin/python3 -m venv .venv" in err.hint and "--venv" in err.hint
    assert preflight.pep668_problem(target()) is None


def test_unwritable_dirs_are_listed_and_sudo_is_never_suggested():
    err = preflight.writable_problem(target(not_writable={"/env/site": "Operation not permitted"}))
    assert err.details == ("/env/site: Operation not permitted",) and "never uses sudo" in err.hint
    assert "sudo " not in err.hint.replace("never uses sudo", "")


def test_replacing_names_both_builds():
    t = target(distributions=(Distribution(name="torch", version="2.9.1+cpu"),
                              Distribution(name="torchvision", version="0.24.1+cpu")))
    assert preflight.replacing(t, PLAN) == "replacing torch 2.9.1+cpu with 2.14.1+cu126, torchvision 0.24.1+cpu with 0.29.1+cu126"
    assert preflight.replacing(target(), PLAN) is None


def test_dependents_that_pin_torch_are_found_with_markers_and_extras():
    dists = (
        Distribution(name="old-lib", version="1.0", requires=("torch<2.10",)),
        Distribution(name="ok-lib", version="1.0", requires=("torch>=2.0",)),
        Distribution(name="win-only", version="1.0", requires=("torch<2.0; sys_platform == 'win32'",)),
        Distribution(name="extra-only", version="1.0", requires=("torch<2.0; extra == 'gpu'",)),
        Distribution(name="vision-pin", version="2.0", requires=("torchvision==0.24.*",)),
        Distribution(name="garbage", version="1.0", requires=("not a requirement (",)),
    )
    out = preflight.dependents_at_risk(target(distributions=dists), PLAN)
    assert out == ["old-lib 1.0 requires torch<2.10; the plan installs torch 2.14.1+cu126",
                   "vision-pin 2.0 requires torchvision==0.24.*; the plan installs torchvision 0.29.1+cu126"]


def test_disk_needs_add_up_on_one_filesystem():
    need = preflight.disk_need({"torch.whl": 1_000_000_000})
    assert need.unpacked > need.download == need.cache
    apart = {"site": ("/a", 1, need.unpacked), "temp": ("/t", 2, need.download), "cache": ("/c", 3, need.cache)}
    assert preflight.disk_problems(need, apart) == []
    together = {"site": ("/a", 1, need.unpacked), "temp": ("/t", 1, need.unpacked), "cache": ("/c", 1, need.unpacked)}
    (err,) = preflight.disk_problems(need, together)
    assert err.exit_code == 4 and "not enough free disk" in err.message and "/a" in err.message


@pytest.mark.parametrize("resp,words", [
    (Response(url="u", status=None, failure="certificate"), "PIP_CERT"),
    (Response(url="u", status=403, failure="HTTP 403"), "refused access"),
    (Response(url="u", status=503, failure="HTTP 503"), "failing on its side"),
    (Response(url="u", status=None, failure="refused"), "HTTPS_PROXY"),
])
def test_index_problems_come_with_a_hint(resp, words):
    err = preflight.index_problem(resp, "PyTorch's index", {})
    assert isinstance(err, NetworkError) and err.exit_code == 5 and words in err.hint


def test_a_configured_proxy_is_named():
    err = preflight.index_problem(Response(url="u", status=None, failure="timeout"), "x", {"HTTPS_PROXY": "http://p:3128"})
    assert "$HTTPS_PROXY" in err.hint


def test_find_wheel_picks_the_one_for_the_target():
    page = ('<a href="/whl/cu126/torch/torch-2.14.1%2Bcu126-cp312-cp312-manylinux_2_28_x86_64.whl#sha256=aa">x</a>'
            '<a href="/whl/cu126/torch/torch-2.14.1%2Bcu126-cp311-cp311-manylinux_2_28_aarch64.whl#sha256=bb">x</a>'
            '<a href="/whl/cu126/torch/torch-2.14.1%2Bcu126-cp311-cp311-manylinux_2_28_x86_64.whl#sha256=cc">x</a>')
    url = preflight.find_wheel(page, "http://h/whl/cu126/torch/", "torch", "2.14.1+cu126", MARKERS)
    assert url == "http://h/whl/cu126/torch/torch-2.14.1%2Bcu126-cp311-cp311-manylinux_2_28_x86_64.whl"
    assert preflight.find_wheel(page, "http://h/", "torch", "2.13.0+cu126", MARKERS) is None


# --- manager choice and digests -------------------------------------------------------
class _Which(Runner):
    def __init__(self, found):
        super().__init__({})
        self.found = found

    def which(self, name):
        return self.found.get(name)


def test_uv_is_preferred_when_present_else_pip():
    assert execute.choose_manager("auto", target(), _Which({"uv": "/bin/uv"})) == ("uv", "/bin/uv")
    assert execute.choose_manager("auto", target(), _Which({})) == ("pip", None)
    with pytest.raises(EnvironmentProblem, match="neither uv nor pip"):
        execute.choose_manager("auto", target(has_pip=False), _Which({}))
    with pytest.raises(EnvironmentProblem, match="no pip"):
        execute.choose_manager("pip", target(has_pip=False), _Which({"uv": "/bin/uv"}))
    with pytest.raises(EnvironmentProblem, match="not on PATH"):
        execute.choose_manager("conda", target(), _Which({}))
    with pytest.raises(UsageError, match="does not run conda"):
        execute.choose_manager("conda", target(), _Which({"conda": "/bin/conda"}))


def test_manager_argv_comes_from_render_with_uv_by_path():
    argv = execute.manager_argv(PLAN, "uv", python="/env/bin/python", program="/opt/uv")
    assert argv[0] == "/opt/uv" and argv[1:4] == ["pip", "install", "--python"]
    assert "--extra-index-url" not in argv and "torch==2.14.1+cu126" in argv


def test_digest_keeps_the_error_block_and_names_the_signal():
    out = ("Collecting torch\r  Downloading 10%\r  Downloading 100%\nInstalling\n"
           "\x1b[31mERROR: Could not install packages due to an OSError: [Errno 28] No space left on device\x1b[0m\n\n")
    r = Result(argv=("pip",), returncode=1, stdout=out)
    assert execute.digest(r) == ["ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device"]
    killed = Result(argv=("uv",), returncode=-9, stdout="Resolved 5 packages\n")
    assert execute.digest(killed)[0] == "the package manager was killed by SIGKILL"
    assert execute.digest(Result(argv=("uv",), returncode=None, error="not found")) == ["uv: not found"]


# --- snapshot / restore ---------------------------------------------------------------
def _tree(root):
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            out[rel] = os.readlink(p) if os.path.islink(p) else (None if os.path.isdir(p) else open(p, "rb").read())
    return out


def _env(tmp_path):
    site, bin_ = tmp_path / "site", tmp_path / "bin"
    (site / "torch").mkdir(parents=True)
    (site / "torch" / "__init__.py").write_text("__version__ = '2.9.1+cpu'\n")
    (site / "torch-2.9.1+cpu.dist-info").mkdir()
    (site / "torch-2.9.1+cpu.dist-info" / "RECORD").write_text("...")
    bin_.mkdir()
    (bin_ / "torchrun").write_text("#!python\n")
    os.symlink("python3.11", bin_ / "python")
    return target(tmp_path, distributions=(Distribution(name="torch", version="2.9.1+cpu"),))


def test_restore_undoes_a_half_finished_install(tmp_path):
    t = _env(tmp_path)
    before = {"site": _tree(tmp_path / "site"), "bin": _tree(tmp_path / "bin")}
    snap = take_snapshot(t)
    assert snap.linked and snap.files == 3
    site = tmp_path / "site"
    # what a manager killed half-way leaves: old files gone, new ones half written
    os.unlink(site / "torch" / "__init__.py")
    (site / "torch" / "__init__.py").write_text("__version__ = '2.14.1+cu126'\n")
    (site / "torch-2.9.1+cpu.dist-info" / "RECORD").unlink()
    (site / "nvidia").mkdir()
    (site / "nvidia" / "lib.so").write_bytes(b"\0" * 10)
    os.unlink(tmp_path / "bin" / "python")
    os.symlink("/elsewhere", tmp_path / "bin" / "python")
    report = restore(snap)
    assert report.changed and not report.errors
    assert {"site": _tree(site), "bin": _tree(tmp_path / "bin")} == before
    assert not restore(snap).changed  # idempotent: nothing left to do


def test_an_untouched_environment_needs_no_restore(tmp_path):
    snap = take_snapshot(_env(tmp_path))
    report = restore(snap)
    assert (report.removed, report.restored, report.errors) == (0, 0, ())


def test_the_snapshot_is_found_again_and_replaces_the_previous_one(tmp_path):
    t = _env(tmp_path)
    take_snapshot(t, plan={"torch": "x"})
    take_snapshot(t, plan={"torch": "y"}, log="/l")
    snap = load_snapshot(str(tmp_path))
    assert snap.plan == {"torch": "y"} and snap.log == "/l" and snap.freeze() == ["torch==2.9.1+cpu"]
    assert sorted(os.listdir(tmp_path / ".torchup")) == ["snapshot"]
    assert load_snapshot(str(tmp_path / "nowhere")) is None


# --- plan files -----------------------------------------------------------------------
def test_a_plan_file_that_is_not_a_plan_is_bad_input():
    from torchup.commands.install import plan_from_json

    with pytest.raises(InputError):
        plan_from_json({"torch": 2})
    with pytest.raises(InputError):
        plan_from_json([])
    plan = plan_from_json({"torch": "2.14.1+cu126", "variant": "cu126", "index_url": "u", "commands": {}})
    assert (plan.torch, plan.variant, plan.index_url, plan.torchvision) == ("2.14.1+cu126", "cu126", "u", None)
