"""Fast tests of install's parts over plain data and temporary trees."""

from __future__ import annotations

import json
import os
import sys
import time

import pytest

from torchup.errors import EnvironmentProblem, InputError, NetworkError
from torchup.install import execute, preflight
from torchup.http import Response
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


def test_a_configured_proxy_is_named_unless_no_proxy_sends_the_index_past_it():
    resp = Response(url="https://idx.corp.example/whl/torch/", status=None, failure="timeout")
    assert "$HTTPS_PROXY" in preflight.index_problem(resp, "x", {"HTTPS_PROXY": "http://p:3128"}).hint
    err = preflight.index_problem(resp, "x", {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": ".corp.example"})
    assert "$HTTPS_PROXY is used" not in err.hint


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
        execute.choose_manager("conda", target(conda=True), _Which({}))
    with pytest.raises(EnvironmentProblem, match="not a conda environment"):
        execute.choose_manager("conda", target(), _Which({"conda": "/bin/conda"}))
    assert execute.choose_manager("mamba", target(conda=True), _Which({"mamba": "/bin/mamba"})) == ("mamba", "/bin/mamba")
    with pytest.raises(EnvironmentProblem, match="is not a pixi environment"):
        execute.choose_manager("pixi", target(conda=True), _Which({"pixi": "/bin/pixi"}))


def test_manager_argv_comes_from_render_with_uv_by_path():
    argv = execute.manager_argvs(PLAN, "uv", python="/env/bin/python", program="/opt/uv")[0]
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
    from torchup.install.planfile import plan_from_json

    with pytest.raises(InputError):
        plan_from_json({"torch": 2})
    with pytest.raises(InputError):
        plan_from_json([])
    plan = plan_from_json({"torch": "2.14.1+cu126", "variant": "cu126", "index_url": "https://mirror.example/whl/cu126",
                           "commands": {}, "reasons": ["fits the GPU"]})
    assert (plan.torch, plan.variant, plan.index_url, plan.torchvision) == ("2.14.1+cu126", "cu126",
                                                                           "https://mirror.example/whl/cu126", None)
    assert plan.reasons == ("fits the GPU",)


def _bad_fields(raw) -> list[str]:
    from torchup.install.planfile import plan_from_json

    with pytest.raises(InputError) as caught:
        plan_from_json(raw)
    assert caught.value.exit_code == 2
    return [d.split(":", 1)[0] for d in caught.value.details]


GOOD = {"torch": "2.14.1+cu126", "variant": "cu126", "torchvision": "0.29.1+cu126", "torchaudio": None,
        "cuda": "12.6", "index_url": "https://download.pytorch.org/whl/cu126", "os": "linux", "arch": "x86_64",
        "python": "3.12", "reasons": ["a"], "warnings": []}


@pytest.mark.parametrize("change, field", [
    ({"torch": "latest"}, "torch"),
    ({"torch": "2.14.1+cu126; rm -rf /"}, "torch"),
    ({"torchvision": 29}, "torchvision"),
    ({"torchaudio": ["2.11.0"]}, "torchaudio"),
    ({"variant": "cu126 --index-url x"}, "variant"),
    ({"variant": "cpu"}, "torch"),  # a cu126 torch under another variant
    ({"index_url": "ftp://mirror/whl"}, "index_url"),
    ({"index_url": "javascript:alert(1)"}, "index_url"),
    ({"index_url": "https:///nohost"}, "index_url"),
    ({"index_url": "https://h/whl\n--trusted-host evil"}, "index_url"),
    ({"index_url": 7}, "index_url"),
    ({"cuda": "twelve"}, "cuda"),
    ({"os": "beos"}, "os"),
    ({"python": "3.12; x"}, "python"),
    ({"reasons": "not a list"}, "reasons"),
    ({"reasons": ["ok", 3]}, "reasons[1]"),
    ({"reasons": ["x" * 5000]}, "reasons[0]"),
    ({"torchup_plan": 99}, "torchup_plan"),
])
def test_each_bad_field_of_a_plan_file_is_named(change, field):
    assert _bad_fields({**GOOD, **change}) == [field]


def test_a_plan_file_lists_every_bad_field_and_bounds_nesting():
    assert _bad_fields({**GOOD, "torch": "x", "variant": "gpu", "index_url": "ssh://h/"}) == ["torch", "variant",
                                                                                              "index_url"]
    deep: object = 1
    for _ in range(20):
        deep = [deep]
    assert _bad_fields({**GOOD, "considered": deep}) == ["nested more than 8 levels deep (a torchup plan nests 3)"]


def test_a_plan_file_too_large_or_too_deep_for_the_parser_is_bad_input(tmp_path):
    from torchup.install.planfile import MAX_BYTES, load_plan_file

    big = tmp_path / "big.json"
    big.write_text('{"torch": "2.14.1", "variant": "cpu", "pad": "' + "x" * MAX_BYTES + '"}')
    with pytest.raises(InputError, match="larger than"):
        load_plan_file(str(big))
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(InputError, match="not JSON"):
        load_plan_file(str(deep))
    assert load_plan_file(str(_write(tmp_path / "ok.json", GOOD))).torch == "2.14.1+cu126"


def _write(path, data):
    path.write_text(json.dumps(data))
    return path


def test_where_a_plan_file_departs_from_torchups_own_choice():
    from torchup.catalog.load import load_catalog
    from torchup.install.planfile import differences, plan_from_json

    catalog = load_catalog({}, use_cache=False)
    base = "https://download.pytorch.org/whl"
    assert differences(plan_from_json(GOOD), catalog, base) == []
    assert differences(plan_from_json({**GOOD, "index_url": base + "/cu126/"}), catalog, base) == []
    other = differences(plan_from_json({**GOOD, "index_url": "https://evil.example/simple"}), catalog, base)
    assert other == [f"it installs from https://evil.example/simple, not from PyTorch's index for cu126, {base}/cu126"]
    assert differences(plan_from_json({**GOOD, "torchvision": "0.1.0"}), catalog, base) == [
        "torchvision 0.1.0 is not the one torchup pairs with torch 2.14.1 (0.29.1)"]
    assert differences(plan_from_json({**GOOD, "torch": "2.99.0+cu126"}), catalog, base)[0] == (
        "torch 2.99.0+cu126 (cu126) is not a build torchup's catalog knows")
    pypi = {"torch": "2.14.1", "variant": "pypi", "index_url": None}
    assert differences(plan_from_json(pypi), catalog, base) == []
    assert differences(plan_from_json({**pypi, "index_url": base + "/cpu"}), catalog, base) == [
        f"it installs from {base}/cpu, not from the default index"]


def test_printable_escapes_what_could_forge_or_hide_a_line():
    from torchup.output import printable

    assert printable("fits\x1b[2K\rtorchup: installed torch 9.9") == "fits\\x1b[2K\\rtorchup: installed torch 9.9"
    assert printable("a\nb\u202ec") == "a\\nb\\u202ec"
    assert printable("CUDA 12.6 — ok, 日本") == "CUDA 12.6 — ok, 日本"


# --- the snapshot's scope -----------------------------------------------------------------
def _dist(site, name, version, files, requires=()):
    """An installed distribution: its files and a dist-info with a real RECORD."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Name: {name}\nVersion: {version}\n")
    for rel, text in files.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text(text)
    record = [f"{rel},," for rel in files] + [f"{info.name}/METADATA,,", f"{info.name}/RECORD,,",
                                               f"../../bin/{name}-cli,,"]
    (info / "RECORD").write_text("\n".join(record) + "\n")
    return Distribution(name=name, version=version, requires=tuple(requires), dist_info=str(info))


def _scoped_env(tmp_path):
    site, bin_ = tmp_path / "site", tmp_path / "bin"
    bin_.mkdir(parents=True)
    (bin_ / "torchrun").write_text("#!python\n")
    dists = (
        _dist(site, "torch", "2.9.1+cpu", {"torch/__init__.py": "old torch\n", "torch/lib/x.so": "old lib\n"},
              requires=["filelock", "typing-extensions>=4"]),
        _dist(site, "filelock", "3.19.0", {"filelock/__init__.py": "old filelock\n"}),
        _dist(site, "typing-extensions", "4.0.0", {"typing_extensions.py": "te\n"}),
        # needed by the new torch at another version, not by the installed one
        _dist(site, "mpmath", "1.2.0", {"mpmath/__init__.py": "old mpmath\n"}),
        # a namespace directory shared by a distribution in scope and one outside it
        _dist(site, "nvidia-cublas-cu12", "12.4.0", {"nvidia/cublas/lib.so": "old cublas\n"}),
        _dist(site, "nvidia-other", "1.0", {"nvidia/other/lib.so": "other\n"}),
        # unrelated to torch
        _dist(site, "pandas-like", "2.0", {"pandas_like/__init__.py": "p\n", "pandas_like/sub/m.py": "m\n"}),
        _dist(site, "six", "1.16.0", {"six.py": "six\n"}),
    )
    (site / "distutils-precedence.pth").write_text("import os\n")
    return target(tmp_path, distributions=dists), site


def test_the_snapshot_mirrors_only_what_the_install_can_change_and_restores_it(tmp_path):
    t, site = _scoped_env(tmp_path)
    before = {"site": _tree(site), "bin": _tree(tmp_path / "bin")}
    unrelated = {p: os.stat(site / p).st_ino for p in ("six.py", "pandas_like/__init__.py", "pandas_like/sub/m.py")}
    # what preflight reads from the new torch's metadata: torch, mpmath, nvidia-cublas-cu12, sympy (not installed)
    snap = take_snapshot(t, touches={"torch", "mpmath", "nvidia-cublas-cu12", "sympy"})
    assert snap.scope == ("filelock", "mpmath", "nvidia-cublas-cu12", "torch", "typing-extensions")
    mirror = set(os.listdir(snap.tree(0)))
    assert "six.py" not in mirror and "pandas_like" not in mirror and "distutils-precedence.pth" not in mirror
    assert {"torch", "filelock", "mpmath", "nvidia", "typing_extensions.py"} <= mirror
    assert os.path.exists(os.path.join(snap.tree(0), "nvidia", "other", "lib.so"))  # shared dirs whole
    assert snap.files == 18  # 5 dists in scope: 16 files with their METADATA and RECORD; nvidia/other; bin/torchrun
    assert load_snapshot(str(tmp_path)).scope == snap.scope
    # a half-finished install: torch and mpmath replaced, new projects added, one into a namespace
    # dir, one file into an unrelated package's directory, a new top-level file
    for rel, text in {"torch/__init__.py": "new torch\n", "mpmath/__init__.py": "new mpmath\n"}.items():
        os.unlink(site / rel)
        (site / rel).write_text(text)
    import shutil

    shutil.rmtree(site / "filelock")
    (site / "sympy").mkdir()
    (site / "sympy" / "__init__.py").write_text("sympy\n")
    (site / "nvidia" / "cudnn").mkdir()
    (site / "nvidia" / "cudnn" / "lib.so").write_text("cudnn\n")
    (site / "pandas_like" / "sub" / "stray.py").write_text("added\n")
    (site / "new.pth").write_text("x\n")
    (tmp_path / "bin" / "sympy-cli").write_text("#!python\n")
    report = restore(snap)
    assert report.changed and not report.errors
    assert {"site": _tree(site), "bin": _tree(tmp_path / "bin")} == before
    assert {p: os.stat(site / p).st_ino for p in unrelated} == unrelated  # never touched
    assert not restore(snap).changed


def test_bytecode_caches_written_into_unrelated_packages_are_left_alone(tmp_path):
    t, site = _scoped_env(tmp_path)
    snap = take_snapshot(t, touches={"torch"})
    (site / "pandas_like" / "__pycache__").mkdir()
    (site / "pandas_like" / "__pycache__" / "x.pyc").write_bytes(b"c")
    assert not restore(snap).changed


def test_unknown_scope_or_a_missing_record_mirrors_everything(tmp_path):
    t, site = _scoped_env(tmp_path)
    everything = sum(len(f) for _, _, f in os.walk(site)) + sum(len(f) for _, _, f in os.walk(tmp_path / "bin"))
    snap = take_snapshot(t)  # preflight could not read the new wheels' metadata
    assert snap.scope is None and snap.files == everything
    (site / "filelock-3.19.0.dist-info" / "RECORD").unlink()
    snap = take_snapshot(t, touches={"torch"})
    assert snap.scope is None and snap.files == everything - 1
    assert "six.py" in os.listdir(snap.tree(0))


class _FakeIndex:
    """Answers like a PEP 503 index with PEP 658 metadata: {project: [(filename, metadata or None)]}."""

    def __init__(self, projects):
        self.projects = projects
        self.asked = []

    def fetch(self, url, method="GET"):
        self.asked.append((method, url))
        base, _, rest = url.partition("/simple/")
        parts = rest.strip("/").split("/")
        files = self.projects.get(parts[0])
        if files is None:
            return Response(url=url, status=404)
        if len(parts) == 1:
            body = "".join(f'<a href="{f}#sha256=00">{f}</a>\n' for f, _ in files).encode()
            return Response(url=url if url.endswith("/") else url + "/", status=200, body=body)
        for f, meta in files:
            if parts[1] == f:
                return Response(url=url, status=200, headers={"Content-Length": "1000"})
            if parts[1] == f + ".metadata" and meta is not None:
                return Response(url=url, status=200, body=meta.encode())
        return Response(url=url, status=404)

    def fetch_all(self, asks):
        return [self.fetch(u, method=m) for m, u in asks]


def _meta(name, version, *requires):
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(f"Requires-Dist: {r}\n" for r in requires)


TORCH_WHL = "torch-2.14.1+cu126-cp311-cp311-manylinux_2_28_x86_64.whl"
CUBLAS_WHL = "nvidia_cublas_cu12-12.6.4.1-py3-none-manylinux_2_28_x86_64.whl"
INSTALLED = (Distribution(name="torch", version="2.9.1+cpu", requires=("filelock",)),
             Distribution(name="filelock", version="3.20.0"), Distribution(name="mpmath", version="1.3.0"),
             Distribution(name="nvidia-cublas-cu12", version="12.4.0"))
CPU_PLAN = Plan(torch="2.14.1+cu126", torchvision=None, torchaudio=None, variant="cu126",
                index_url="http://127.0.0.1:1/simple/")


def test_preflight_names_what_the_new_wheels_require_from_their_metadata():
    idx = _FakeIndex({
        "torch": [(TORCH_WHL, _meta("torch", "2.14.1+cu126", "filelock", "mpmath<1.4,>=1.1",
                                    "nvidia-cublas-cu12==12.6.4.1; platform_system == 'Linux'",
                                    "numpy; extra == 'opt'"))],
        "nvidia-cublas-cu12": [(CUBLAS_WHL, _meta("nvidia-cublas-cu12", "12.6.4.1"))],
    })
    sizes, touches, pinned, unknown = preflight._sizes(CPU_PLAN, target(distributions=INSTALLED), idx, None)
    assert touches == {"torch", "filelock", "mpmath", "nvidia-cublas-cu12"} and unknown is None
    assert ("GET", "http://127.0.0.1:1/simple/nvidia-cublas-cu12/" + CUBLAS_WHL + ".metadata") in idx.asked
    assert sizes == {TORCH_WHL: 1000}  # the changed pin is installed: no new download counted


def test_the_family_pages_fetched_while_the_target_is_inspected_are_not_asked_for_again():
    def index():
        return _FakeIndex({
            "torch": [(TORCH_WHL, _meta("torch", "2.14.1+cu126", "filelock",
                                        "nvidia-cublas-cu12==12.6.4.1; platform_system == 'Linux'"))],
            "nvidia-cublas-cu12": [(CUBLAS_WHL, _meta("nvidia-cublas-cu12", "12.6.4.1"))],
        })
    ahead = index()
    pages = preflight.index_pages(CPU_PLAN, ahead)
    assert list(pages) == ["torch"] and ahead.asked == [("GET", "http://127.0.0.1:1/simple/torch/")]
    ahead.asked.clear()
    with_pages = preflight._sizes(CPU_PLAN, target(distributions=INSTALLED), ahead, pages)
    assert ("GET", "http://127.0.0.1:1/simple/torch/") not in ahead.asked
    assert with_pages == preflight._sizes(CPU_PLAN, target(distributions=INSTALLED), index(), None)


@pytest.mark.parametrize("why", ["no metadata", "an unpinned new project", "an installed version refused",
                                 "a pin without metadata"])
def test_preflight_does_not_scope_what_it_cannot_know(why):
    reqs = {"no metadata": None, "an unpinned new project": ("sympy>=1.13",),
            "an installed version refused": ("filelock>=9",),
            "a pin without metadata": ("nvidia-cublas-cu12==12.6.4.1",)}[why]
    idx = _FakeIndex({
        "torch": [(TORCH_WHL, None if reqs is None else _meta("torch", "2.14.1+cu126", *reqs))],
        "nvidia-cublas-cu12": [(CUBLAS_WHL, None)],
    })
    _, touches, _, unknown = preflight._sizes(CPU_PLAN, target(distributions=INSTALLED), idx, None)
    assert touches is None
    assert unknown == {  # the reason the snapshot line gives for keeping everything
        "no metadata": "http://127.0.0.1:1/simple/torch/" + TORCH_WHL + ".metadata: HTTP 404",
        "an unpinned new project": "sympy is required, not installed and not pinned",
        "an installed version refused": "filelock 3.20.0 is installed and filelock>=9 asks for another",
        "a pin without metadata": "http://127.0.0.1:1/simple/nvidia-cublas-cu12/" + CUBLAS_WHL + ".metadata: HTTP 404",
    }[why], unknown


def test_a_listed_file_replaced_by_the_install_is_reported_not_hidden(tmp_path):
    t, site = _scoped_env(tmp_path)
    snap = take_snapshot(t, touches={"torch"})
    (site / "six.tmp").write_text("clobbered\n")  # a new project overwriting another's file
    os.replace(site / "six.tmp", site / "six.py")
    report = restore(snap)
    assert len(report.errors) == 1 and "six.py was replaced" in report.errors[0]


def test_the_top_level_entries_come_from_record_rows_quoted_or_not(tmp_path):
    from torchup.install.snapshot import _top_entries

    info = tmp_path / "site" / "odd-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "RECORD").write_text('odd/__init__.py,sha256=x,1\n"we,ird/x.py",,\none.py,,\n'
                                 "../../../bin/odd,,\n/abs/path,,\nodd-1.0.dist-info/RECORD,,\n")
    d = Distribution(name="odd", version="1.0", dist_info=str(info))
    assert _top_entries(d, str(tmp_path / "site")) == {"odd", "we,ird", "one.py", "odd-1.0.dist-info"}
    assert _top_entries(Distribution(name="e", version="1", dist_info=str(tmp_path / "e.egg-info")), "") is None


# --- setting aside what the install replaces ------------------------------------------
def _aside_env(tmp_path, *, plugin=False):
    """torch 2.9.1+cpu with a script, filelock, and (``plugin``) a distribution that also
    puts a file into ``torch/``."""
    t, site = _scoped_env(tmp_path)
    torch_info = site / "torch-2.9.1+cpu.dist-info"
    with open(torch_info / "RECORD", "a") as fh:
        fh.write("../bin/torchrun,,\n")  # site is <tmp>/site, scripts <tmp>/bin
    dists = t.distributions
    if plugin:
        dists += (_dist(site, "torch-plugin", "1.0", {"torch/plugin.py": "plugin\n"}),)
    return target(tmp_path, distributions=dists), site


def _inodes(root):
    """The inode of every file (directories are made anew when linked back)."""
    return {p: os.lstat(os.path.join(root, p)).st_ino for p, data in _tree(root).items() if data is not None}


def test_what_the_install_replaces_is_moved_into_the_snapshot_not_linked(tmp_path):
    t, site = _aside_env(tmp_path)
    before = {"site": _tree(site), "bin": _tree(tmp_path / "bin")}
    inodes = _inodes(site)
    snap = take_snapshot(t, touches={"torch"}, replaces={"torch"})
    assert snap.moved == {"0": ("torch", "torch-2.9.1+cpu.dist-info")}
    # the manager's uninstall, done first: gone from the live tree, whole in the mirror, script unlinked
    assert not (site / "torch").exists() and not (site / "torch-2.9.1+cpu.dist-info").exists()
    assert (tmp_path / "bin" / "torchrun").exists() is False
    assert os.path.exists(os.path.join(snap.tree(0), "torch", "lib", "x.so"))
    # linked: the rest of torch's closure (filelock, typing-extensions: 3 files each) and bin/torchrun
    assert snap.files == 7
    assert load_snapshot(str(tmp_path)).moved == snap.moved
    # a failure before the manager wrote anything: everything goes back, the very same files (linked
    # back from the mirror, which keeps them for a later rollback)
    report = restore(snap)
    assert not report.errors
    assert {"site": _tree(site), "bin": _tree(tmp_path / "bin")} == before
    assert _inodes(site) == inodes
    assert not restore(snap).changed


def test_a_half_finished_install_over_what_was_set_aside_is_undone(tmp_path):
    t, site = _aside_env(tmp_path)
    before = {"site": _tree(site), "bin": _tree(tmp_path / "bin")}
    snap = take_snapshot(t, touches={"torch"}, replaces={"torch"})
    (site / "torch" / "lib").mkdir(parents=True)  # the new torch, half written
    (site / "torch" / "__init__.py").write_text("new torch\n")
    (site / "torch-2.14.1+cu126.dist-info").mkdir()
    (tmp_path / "bin" / "torchrun").write_text("#!new\n")
    report = restore(snap)
    assert not report.errors and report.changed
    assert {"site": _tree(site), "bin": _tree(tmp_path / "bin")} == before
    assert os.path.exists(os.path.join(snap.tree(0), "torch", "lib", "x.so"))  # a rollback can do it again
    assert not restore(snap).changed


def test_a_rollback_after_a_finished_install_puts_the_old_build_back(tmp_path):
    t, site = _aside_env(tmp_path)
    before = _tree(site)
    take_snapshot(t, touches={"torch"}, replaces={"torch"})  # restored from what is on disk, as --rollback does
    (site / "torch").mkdir()
    (site / "torch" / "__init__.py").write_text("new torch\n")
    (site / "torch-2.14.1+cu126.dist-info").mkdir()
    (site / "torch-2.14.1+cu126.dist-info" / "RECORD").write_text("torch/__init__.py,,\n")
    assert not restore(load_snapshot(str(tmp_path))).errors
    assert _tree(site) == before


def test_an_entry_set_aside_but_never_moved_is_left_alone(tmp_path):
    """torchup killed between writing the manifest and moving: the name is still live."""
    t, site = _aside_env(tmp_path)
    before = _tree(site)
    snap = take_snapshot(t, touches={"torch"}, replaces={"torch"})
    os.rename(os.path.join(snap.tree(0), "torch"), site / "torch")  # as if never moved
    os.rename(os.path.join(snap.tree(0), "torch-2.9.1+cpu.dist-info"), site / "torch-2.9.1+cpu.dist-info")
    report = restore(snap)
    assert not report.errors and _tree(site) == before


def test_a_distribution_sharing_a_directory_is_not_set_aside_at_all(tmp_path):
    """Half set aside (its dist-info moved, torch/ left), the manager would find nothing to
    uninstall and leave the old files in torch/: all of it is linked instead."""
    t, site = _aside_env(tmp_path, plugin=True)
    snap = take_snapshot(t, touches={"torch"}, replaces={"torch"})
    assert snap.moved == {}
    assert (site / "torch" / "plugin.py").exists() and (site / "torch-2.9.1+cpu.dist-info").exists()
    assert os.path.exists(os.path.join(snap.tree(0), "torch", "__init__.py"))


def test_a_file_no_record_lists_keeps_its_directory_live(tmp_path):
    """pip and uv uninstall what RECORD lists: a file the user put into torch/ stays live."""
    t, site = _aside_env(tmp_path)
    (site / "torch" / "lib" / "libfix.so").write_text("a workaround\n")
    (site / "torch" / "__pycache__").mkdir()
    (site / "torch" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"c")
    snap = take_snapshot(t, touches={"torch"}, replaces={"torch"})
    assert snap.moved == {} and (site / "torch" / "lib" / "libfix.so").exists()
    (site / "torch" / "lib" / "libfix.so").unlink()  # bytecode alone does not stop it
    snap = take_snapshot(t, touches={"torch"}, replaces={"torch"})
    assert snap.moved == {"0": ("torch", "torch-2.9.1+cpu.dist-info")}


def test_a_rename_that_fails_links_the_distribution_instead(tmp_path, monkeypatch):
    t, site = _aside_env(tmp_path)
    before = _tree(site)
    real = os.rename
    calls = []

    def flaky(src, dst):
        calls.append(src)
        if len(calls) == 2:  # the second entry of torch: busy
            raise PermissionError(13, "in use")
        return real(src, dst)

    monkeypatch.setattr(os, "rename", flaky)
    snap = take_snapshot(t, touches={"torch"}, replaces={"torch"})
    monkeypatch.setattr(os, "rename", real)
    assert (site / "torch" / "__init__.py").exists() and (site / "torch-2.9.1+cpu.dist-info").exists()
    assert os.path.exists(os.path.join(snap.tree(0), "torch", "lib", "x.so"))
    assert not os.path.exists(os.path.join(snap.path, "partial"))
    (site / "torch" / "__init__.py").unlink()  # the manager at work
    assert not restore(snap).errors and _tree(site) == before


def test_a_second_rollback_still_has_everything(tmp_path):
    t, site = _aside_env(tmp_path)
    before = _tree(site)
    take_snapshot(t, touches={"torch"}, replaces={"torch"})
    (site / "torch").mkdir()
    (site / "torch" / "__init__.py").write_text("new torch\n")
    assert not restore(load_snapshot(str(tmp_path))).errors and _tree(site) == before
    import shutil

    shutil.rmtree(site / "torch-2.9.1+cpu.dist-info")  # the user changes things again
    shutil.rmtree(site / "torch")
    assert not restore(load_snapshot(str(tmp_path))).errors and _tree(site) == before


def test_moves_work_without_a_scope_too(tmp_path):
    t, site = _aside_env(tmp_path)
    before = _tree(site)
    snap = take_snapshot(t, replaces={"torch"})
    assert snap.scope is None and snap.moved == {"0": ("torch", "torch-2.9.1+cpu.dist-info")}
    assert "six.py" in os.listdir(snap.tree(0)) and not (site / "torch").exists()
    (site / "new.pth").write_text("x\n")
    assert not restore(snap).errors and _tree(site) == before


def test_the_previous_snapshot_can_be_deleted_later(tmp_path):
    from torchup.install.snapshot import discard_previous_snapshot, snapshot_dir

    t = _env(tmp_path)
    take_snapshot(t)
    take_snapshot(t, discard_previous=False)
    assert sorted(os.listdir(tmp_path / ".torchup")) == ["snapshot", "snapshot.old"]
    discard_previous_snapshot(str(tmp_path))
    assert sorted(os.listdir(tmp_path / ".torchup")) == ["snapshot"]
    assert load_snapshot(str(tmp_path)).path == snapshot_dir(str(tmp_path))


@pytest.mark.parametrize("family, pins, replaced", [
    ([("torch", "2.14.1+cu126")], [], {"torch"}),  # another local build: replaced
    ([("torch", "2.9.1")], [], {"torch"}),  # PyPI's 2.9.1 planned over the installed 2.9.1+cpu
    ([("torch", "2.9.1+cpu")], [], set()),  # the very build: nothing to do
    ([], [("torch", "2.9.1")], set()),  # a metadata pin ==2.9.1 accepts 2.9.1+cpu: the manager keeps it
    ([], [("nvidia-cublas-cu12", "12.6.4.1")], {"nvidia-cublas-cu12"}),
    ([], [("sympy", "1.13")], set()),  # not installed: nothing to replace
    ([("torchvision", None)], [], set()),
])
def test_what_the_install_replaces(family, pins, replaced):
    installed = (Distribution(name="torch", version="2.9.1+cpu"), *INSTALLED[1:])
    assert preflight.replaced_keys(target(distributions=installed), pins, family=family) == replaced


def test_a_snapshot_stopped_after_setting_aside_is_undone(tmp_path):
    from torchup.install import _undo_partial_snapshot

    t, site = _aside_env(tmp_path)
    before = _tree(site)
    assert _undo_partial_snapshot(str(tmp_path)) == "nothing was changed"  # no snapshot at all
    take_snapshot(t, touches={"torch"}, replaces={"torch"})  # as if interrupted right after
    assert not (site / "torch").exists()
    assert _undo_partial_snapshot(str(tmp_path)) == "what it had set aside was put back"
    assert _tree(site) == before and load_snapshot(str(tmp_path)).status == "done"


def test_one_directory_under_two_names_is_mirrored_once(tmp_path):
    t, site = _aside_env(tmp_path)
    os.symlink(site, tmp_path / "site64")  # a venv's lib64 -> lib
    t2 = target(tmp_path, site_dirs=(str(site), str(tmp_path / "site64")), distributions=t.distributions)
    before = _tree(site)
    snap = take_snapshot(t2, touches={"torch"}, replaces={"torch"})
    assert snap.roots == (str(site), str(tmp_path / "bin"))
    assert not restore(snap).errors and _tree(site) == before


# --- the manifest is trusted only inside its own environment -----------------------------
def _manifest(prefix):
    import json

    path = prefix / ".torchup" / "snapshot" / "manifest.json"
    return path, json.loads(path.read_text())


def test_the_manifest_names_paths_relative_to_the_prefix(tmp_path):
    take_snapshot(_env(tmp_path))
    _, raw = _manifest(tmp_path)
    assert raw["roots"] == ["site", "bin"]
    assert raw["prefix"] == [str(tmp_path), os.stat(tmp_path).st_dev, os.stat(tmp_path).st_ino]


def test_a_copied_environment_refuses_the_original_snapshot(tmp_path):
    import shutil

    take_snapshot(_env(tmp_path / "a"))
    shutil.copytree(tmp_path / "a", tmp_path / "b", symlinks=True)
    with pytest.raises(EnvironmentProblem) as err:
        load_snapshot(str(tmp_path / "b"))
    assert err.value.code == "snapshot-elsewhere"
    assert f"taken in {tmp_path / 'a'}" in err.value.message and "is a copy of that one" in err.value.message
    os.rename(tmp_path / "a", tmp_path / "gone")
    with pytest.raises(EnvironmentProblem, match="which is gone: this environment .* was moved or copied"):
        load_snapshot(str(tmp_path / "b"))
    with pytest.raises(EnvironmentProblem, match="belongs to another environment"):  # the original, moved
        load_snapshot(str(tmp_path / "gone"))


@pytest.mark.parametrize("edit, expected", [
    (lambda raw, tmp: raw.update(roots=["../outside"]), "root '../outside' is outside the environment"),
    (lambda raw, tmp: raw.update(roots=[str(tmp / "outside")]), "is outside the environment"),
    (lambda raw, tmp: raw.update(roots=["link"]), "root 'link' is outside the environment"),
    (lambda raw, tmp: raw["moved"].update({"0": ["../../outside"]}), "which is not an entry of a directory"),
    (lambda raw, tmp: raw.update(kept={"../outside/x": True}), "is neither inside"),
    (lambda raw, tmp: raw.update(torchup_snapshot=1), "another version of torchup"),
])
def test_an_edited_manifest_cannot_reach_outside_the_prefix(tmp_path, edit, expected):
    import json

    prefix = tmp_path / "env"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.py").write_text("keep me\n")
    t = _env(prefix)
    os.symlink(outside, prefix / "link")  # inside the prefix by name, outside by its target
    take_snapshot(t)
    path, raw = _manifest(prefix)
    raw.setdefault("moved", {})
    edit(raw, tmp_path)
    path.write_text(json.dumps(raw))
    with pytest.raises(EnvironmentProblem) as err:
        load_snapshot(str(prefix))
    assert expected in err.value.message + " ".join(err.value.details)
    assert err.value.code == "snapshot-invalid"
    assert (outside / "precious.py").read_text() == "keep me\n"


def test_a_root_outside_the_prefix_is_refused_before_anything_changes(tmp_path):
    outside = tmp_path / "outside-site"
    outside.mkdir()
    prefix = tmp_path / "env"
    prefix.mkdir()
    os.symlink(outside, prefix / "site")  # site-packages is a link out of the environment
    with pytest.raises(EnvironmentProblem) as err:
        take_snapshot(target(prefix))
    assert err.value.code == "outside-prefix" and str(outside) in err.value.message
    assert not (prefix / ".torchup").exists()


def test_restore_never_follows_a_link_out_of_the_prefix(tmp_path):
    import shutil

    prefix = tmp_path / "env"
    t = _env(prefix)
    before = _tree(prefix / "site")
    snap = take_snapshot(t)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "__init__.py").write_text("not the environment's\n")
    (outside / "new.py").write_text("")
    shutil.rmtree(prefix / "site" / "torch")
    os.symlink(outside, prefix / "site" / "torch")  # what the environment got since the snapshot
    assert not restore(snap).errors
    assert _tree(prefix / "site") == before
    assert sorted(os.listdir(outside)) == ["__init__.py", "new.py"]
    assert (outside / "__init__.py").read_text() == "not the environment's\n"


def test_links_out_of_the_prefix_are_found_in_what_the_install_touches(tmp_path):
    from torchup.install.snapshot import links_out

    prefix = tmp_path / "env"
    t = _env(prefix)
    outside = tmp_path / "outside"
    outside.mkdir()
    site = prefix / "site"
    os.symlink(outside, site / "torch" / "lib")  # deep inside torch
    os.symlink(outside, site / "torchvision")  # not installed: named after a project the install touches
    os.symlink(outside, site / "unrelated")  # the install does not touch it
    os.symlink(site / "torch", site / "inside")  # inside the prefix: fine
    assert sorted(links_out(t, {"torch", "torchvision"})) == [(str(site / "torch" / "lib"), str(outside)),
                                                              (str(site / "torchvision"), str(outside))]


def test_a_listed_file_written_anew_under_the_same_inode_number_is_not_called_restored(tmp_path):
    """pip deletes a file it overwrites and writes it anew; the filesystem often gives the new file
    the number just freed.  Writing in place keeps the number for sure: the same test, made certain."""
    t, site = _scoped_env(tmp_path)
    snap = take_snapshot(t, touches={"torch"})
    inode = os.stat(site / "six.py").st_ino
    (site / "six.py").write_text("SIX\n")  # same size, other bytes, same inode
    (site / "pandas_like" / "sub" / "m.py").unlink()  # and a listed file removed
    assert os.stat(site / "six.py").st_ino == inode
    errors = restore(snap).errors
    assert errors == (f"{site / 'six.py'} was replaced since the snapshot and is outside its scope: it cannot be put "
                      "back", f"{site / 'pandas_like' / 'sub' / 'm.py'} was removed since the snapshot and is outside "
                      "its scope: it cannot be put back")


# --- the environment's lock -------------------------------------------------------------------
def test_the_lock_refuses_a_second_holder_and_leaves_no_directory_it_made(tmp_path):
    from torchup.install import _exclusive

    with _exclusive(str(tmp_path)) as fd:
        assert json.loads(os.pread(fd, 100, 0)) == {"torchup": os.getpid()}
        with pytest.raises(EnvironmentProblem, match="another torchup install or rollback is running") as busy:
            with _exclusive(str(tmp_path)):
                pass
        assert busy.value.code == "install-running"
    assert not (tmp_path / ".torchup").exists()  # made for the lock alone: gone again
    (tmp_path / ".torchup" / "snapshot").mkdir(parents=True)
    with _exclusive(str(tmp_path)):
        pass
    assert sorted(os.listdir(tmp_path / ".torchup")) == ["lock", "snapshot"]


def test_a_lock_held_by_an_orphaned_manager_names_it(tmp_path):
    """The lock file says torchup (gone) started a manager (still running: here, this process)."""
    import fcntl
    import subprocess

    from torchup.install import _exclusive

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    lock = tmp_path / ".torchup" / "lock"
    lock.parent.mkdir()
    lock.write_text(json.dumps({"torchup": gone.pid, "manager": os.getpid()}))
    with open(lock) as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(EnvironmentProblem) as busy:
            with _exclusive(str(tmp_path)):
                pass
    assert f"an earlier install's package manager (pid {os.getpid()}) is still running" in busy.value.message
    assert f"kill {os.getpid()}" in busy.value.hint and busy.value.code == "install-running"


def test_a_plan_file_in_the_json_envelope_is_read_and_another_document_is_refused():
    from torchup.install.planfile import plan_from_json

    body = {"torch": "2.14.1+cu126", "variant": "cu126", "index_url": "https://download.pytorch.org/whl/cu126"}
    assert plan_from_json({"format": "torchup/plan", "version": 1, **body}).torch == "2.14.1+cu126"
    assert plan_from_json({"torchup_plan": 1, **body}).variant == "cu126"  # written before the envelope
    with pytest.raises(InputError) as err:
        plan_from_json({"format": "torchup/probe", "version": 1, **body})
    assert any("torchup/probe" in d and "not a torchup plan" in d for d in err.value.details)
    with pytest.raises(InputError) as err:
        plan_from_json({"format": "torchup/plan", "version": 7, **body})
    assert any(d.startswith("version: 7") for d in err.value.details)


@pytest.mark.parametrize("fields, wrong", [
    ({"os": "linux", "arch": "x86_64", "python": "3.11"}, None),
    ({"os": "linux", "arch": "AMD64", "python": "3.11"}, None),  # an alias of the same architecture
    ({}, None),  # a plan file that does not say: nothing compared
    ({"os": "windows", "arch": "x86_64", "python": "3.11"}, "OS windows (the target's is linux)"),
    ({"os": "linux", "arch": "aarch64", "python": "3.11"}, "architecture aarch64 (the target's is x86_64)"),
    ({"os": "linux", "arch": "x86_64", "python": "3.12"}, "Python 3.12 (the target's is 3.11)"),
    ({"os": "linux", "arch": "x86_64", "python": "3.11t"}, "Python 3.11t (the target's is 3.11)"),
])
def test_a_plan_for_another_platform_or_python_is_refused_by_the_preflight(fields, wrong):
    plan = Plan(torch="2.14.1+cpu", torchvision=None, torchaudio=None, variant="cpu", **fields)
    problem = preflight.platform_problem(plan, target())
    if wrong is None:
        assert problem is None
    else:
        assert problem.exit_code == 2 and wrong in problem.message, problem.message
        assert "torchup plan --json --python /env/bin/python" in problem.hint


def test_a_free_threaded_target_takes_a_free_threaded_plan():
    plan = Plan(torch="2.14.1+cpu", torchvision=None, torchaudio=None, variant="cpu", python="3.13t")
    ft = target(markers={**MARKERS, "python_version": "3.13"}, platform={"abiflags": "t"})
    assert preflight.platform_problem(plan, ft) is None
    assert preflight.platform_problem(Plan(torch="2.14.1+cpu", torchvision=None, torchaudio=None, variant="cpu",
                                           python="3.13"), ft) is not None
