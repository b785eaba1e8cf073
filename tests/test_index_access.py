"""Index access like pip and uv: credentials in the URL (or ~/.netrc) and never shown,
no_proxy by the standard library's rules, every requirement checked for this target before
anything downloads, one deadline, Ctrl-C at any moment, and a log that is private and
refused cleanly when it cannot be written.  All against real indexes on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from torchup.http import Client, proxies_for, strip_credentials
from torchup.output import redact_url
from torchup.install import index_check
from tests.support import install_env as ie
from tests.support.index_server import IndexServer
from tests.support.install_fixtures import env, template, venv  # noqa: F401 (fixtures)

SECRET = "s3cr3t-Pa55"


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    """One index, asking for Basic auth: the template venv is built with the credentials."""
    wheels = ie.build_wheels(tmp_path_factory.mktemp("wheels"))
    with IndexServer(missing_status=403, auth=("user", SECRET)) as server:
        ie.serve(server, wheels)
        yield server


def _authed(server: IndexServer, index: str) -> str:
    return server.index_url(index).replace("http://", f"http://user:{SECRET}@")


@pytest.fixture(scope="module")
def template(tmp_path_factory, index):  # noqa: F811 - the shared one cannot log in
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    directory = tmp_path_factory.mktemp("tpl") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(directory)], check=True, env=env, timeout=300)
    r = subprocess.run([str(directory / "bin" / "python"), "-m", "pip", "install", "--no-cache-dir", "--index-url",
                        _authed(index, "whl/cpu"), f"torch=={ie.OLD_TORCH}"], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return directory


@pytest.fixture
def server(index):
    index.calls.clear()
    yield index
    index.clear_faults()


def _plan(path: Path, server: IndexServer, *, torchvision: str | None = None) -> Path:
    plan = {"torch": ie.NEW_CU126, "torchvision": torchvision, "torchaudio": None, "variant": "cu126",
            "cuda": "12.6", "index_url": _authed(server, "whl/cu126")}
    path.write_text(json.dumps(plan))
    return path


def _install(venv, plan, env, *extra, manager="pip", timeout=300):
    return ie.torchup(["install", "--plan", str(plan), "--python", str(venv), "--manager", manager, "--no-verify",
                       *extra], env, timeout=timeout)


# --- pure ---------------------------------------------------------------------------
@pytest.mark.parametrize("text, shown", [
    ("https://user:secret@host/whl/cu126", "https://user:***@host/whl/cu126"),
    ("pip install --index-url http://u:p%40ss@h:8080/x/ torch", "pip install --index-url http://u:***@h:8080/x/ torch"),
    ("https://token@host/simple", "https://***@host/simple"),
    ("https://host/whl and http://a:b@c/", "https://host/whl and http://a:***@c/"),
])
def test_redact_url_hides_every_secret(text, shown):
    assert redact_url(text) == shown


def test_credentials_come_out_of_the_url_percent_decoded():
    assert strip_credentials("https://u:p%40ss@h:8080/x/") == ("https://h:8080/x/", ("u", "p@ss"))
    assert strip_credentials("https://h/x/") == ("https://h/x/", None)


@pytest.mark.parametrize("no_proxy, netloc, bypass", [
    (".corp.example", "index.corp.example", True),
    ("corp.example", "index.corp.example:8443", True),
    (".corp.example", "corp.example.evil", False),
    ("127.0.0.1", "127.0.0.1:8080", True),
    ("*", "anything", True),
    ("", "127.0.0.1:8080", False),  # pip and uv send even loopback through the proxy unless told not to
])
def test_no_proxy_follows_the_standard_library(no_proxy, netloc, bypass):
    env = {"HTTP_PROXY": "http://proxy:3128", "no_proxy": no_proxy}
    assert proxies_for(env, "http", netloc) == ({} if bypass else {"http": "http://proxy:3128"})


def test_all_proxy_is_the_fallback_and_lower_case_wins():
    assert proxies_for({"ALL_PROXY": "http://a:1"}, "https", "h") == {"https": "http://a:1"}
    assert proxies_for({"https_proxy": "http://l:1", "HTTPS_PROXY": "http://u:1"}, "https", "h") == {"https": "http://l:1"}


def test_requirements_are_read_from_the_argv_not_its_option_values():
    argv = ["uv", "pip", "install", "--python", "/v/bin/python", "--default-index", "http://h/whl/cu126",
            "torch==2.14.1+cu126", "torchvision==0.29.1+cu126"]
    assert [str(r) for r in index_check.requirements_in(argv)] == ["torch==2.14.1+cu126", "torchvision==0.29.1+cu126"]


def test_the_target_tags_follow_its_glibc():
    markers = {"implementation_name": "cpython", "python_version": "3.11", "sys_platform": "linux",
               "platform_machine": "x86_64"}
    tags = {"-".join(t) for t in index_check.target_tags(markers, {"platform": "linux-x86_64", "libc": "glibc 2.28"})}
    assert {"cp311-cp311-manylinux_2_28_x86_64", "cp311-abi3-manylinux2014_x86_64", "py3-none-any"} <= tags
    assert "cp311-cp311-manylinux_2_34_x86_64" not in tags and "cp312-cp312-manylinux_2_28_x86_64" not in tags


def test_a_pinned_version_built_only_for_other_targets_names_the_tags_it_has():
    from packaging.requirements import Requirement

    page = ('<a href="/whl/cu126/torchvision/torchvision-0.29.1%2Bcu126-cp312-cp312-manylinux_2_28_x86_64.whl#sha256=0">x</a>'
            '<a href="/whl/cu126/torchvision/torchvision-0.28.0%2Bcu126-cp311-cp311-manylinux_2_28_x86_64.whl'
            '" data-requires-python="&gt;=3.10">y</a>')
    wheels = index_check.page_wheels(page, "torchvision")
    markers = {"implementation_name": "cpython", "python_version": "3.11", "sys_platform": "linux",
               "platform_machine": "x86_64"}
    accepted = index_check.target_tags(markers, {"platform": "linux-x86_64", "libc": "glibc 2.36"})
    err = index_check.missing_problem(Requirement("torchvision==0.29.1+cu126"), wheels, accepted=accepted,
                                      index_url="http://u:pw@h/whl/cu126", python="3.11.4", where="Python 3.11.4")
    assert err.exit_code == 5 and "http://u:***@h/whl/cu126 has no wheel of torchvision==0.29.1+cu126" in err.message
    assert err.details == ("torchvision 0.29.1+cu126 is there only for: cp312-cp312-manylinux_2_28_x86_64",
                           "versions of torchvision there for this target: 0.28.0+cu126")
    assert index_check.missing_problem(Requirement("torchvision==0.28.0+cu126"), wheels, accepted=accepted,
                                       index_url="http://h/", python="3.11.4", where="x") is None
    assert index_check.missing_problem(Requirement("torchvision==0.28.0+cu126"), wheels, accepted=accepted,
                                       index_url="http://h/", python="3.9.1", where="x") is not None


def test_a_timeout_of_zero_is_a_usage_error(env):
    r = ie.torchup(["install", "--timeout", "0", "--dry-run"], env)
    assert r.returncode == 2 and "argument --timeout: '0'" in r.stderr and "Traceback" not in r.stderr


# --- against the index ----------------------------------------------------------------
def test_basic_auth_from_the_url_and_from_netrc(server, tmp_path):
    url = _authed(server, "whl/cu126") + "torch/"
    assert Client({}, timeout=10).fetch(url).ok
    plain = server.index_url("whl/cu126") + "torch/"
    assert Client({"HOME": str(tmp_path)}, timeout=10).fetch(plain).status == 401
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login user password {SECRET}\n")
    assert Client({"NETRC": str(netrc)}, timeout=10).fetch(plain).ok


def test_no_proxy_sends_the_request_past_a_dead_proxy(server):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    url = _authed(server, "whl/cu126") + "torch/"
    assert not Client({"http_proxy": dead}, timeout=10).fetch(url).ok  # the proxy is really used
    assert Client({"http_proxy": dead, "NO_PROXY": "127.0.0.1"}, timeout=10).fetch(url).ok
    local = url.replace("@127.0.0.1:", "@localhost:")
    assert Client({"http_proxy": dead, "no_proxy": "example.org,.localhost"}, timeout=10).fetch(local).ok


def test_the_preflight_uses_the_proxy_rules_too(server, venv, env, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    plan = _plan(tmp_path / "plan.json", server)
    r = _install(venv, plan, {**env, "HTTP_PROXY": dead}, "--dry-run")
    assert r.returncode == 5 and "$HTTP_PROXY" in r.stderr, r.stdout + r.stderr
    r = _install(venv, plan, {**env, "HTTP_PROXY": dead, "NO_PROXY": "localhost,127.0.0.1"}, "--dry-run")
    assert r.returncode == 0 and "preflight ok" in r.stdout, r.stdout + r.stderr


@pytest.mark.parametrize("manager", ["pip", "uv"])
def test_an_index_behind_basic_auth_installs_and_the_secret_is_never_shown(manager, server, venv, env, tmp_path):
    plan = _plan(tmp_path / "plan.json", server)
    log = tmp_path / "logs" / "install.log"
    dry = _install(venv, plan, env, "--dry-run", manager=manager)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "preflight ok" in dry.stdout and f"user:***@127.0.0.1:{server.url.rsplit(':', 1)[1]}" in dry.stdout
    r = _install(venv, plan, env, "--yes", "--log", str(log), manager=manager)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "running:" in r.stdout and "user:***@" in r.stdout
    text = log.read_text()
    assert f"installed torch {ie.NEW_CU126}" in text
    for where in (dry.stdout, dry.stderr, r.stdout, r.stderr, text):
        assert SECRET not in where
    assert stat.S_IMODE(log.stat().st_mode) == 0o600 and stat.S_IMODE(log.parent.stat().st_mode) == 0o700
    assert ie.state(venv, env)["torch"] == ie.NEW_CU126


def test_a_missing_companion_stops_in_preflight_before_any_download(server, venv, env, tmp_path):
    before = ie.state(venv, env)
    r = _install(venv, _plan(tmp_path / "plan.json", server, torchvision="0.29.1+cu126"), env, "--yes")
    assert r.returncode == 5, r.stdout + r.stderr
    assert "has no torchvision at all" in r.stderr and "user:***@" in r.stderr and SECRET not in r.stderr
    assert "preflight failed; nothing was changed" in r.stdout
    assert not [p for m, p in server.calls if m == "GET" and p.split("?")[0].endswith(".whl")]
    assert not (venv.parent.parent / ".torchup").exists()
    assert ie.state(venv, env) == before


def test_a_missing_companion_stops_before_the_venv_is_created(server, venv, env, tmp_path):
    new = tmp_path / "new-venv"
    plan = _plan(tmp_path / "plan.json", server, torchvision="0.29.1+cu126")
    r = _install(venv, plan, env, "--yes", "--venv", str(new))
    assert r.returncode == 5, r.stdout + r.stderr
    assert "has no torchvision at all" in r.stderr and "preflight failed; nothing was changed" in r.stdout
    assert not new.exists()
    assert not [p for m, p in server.calls if m == "GET" and p.split("?")[0].endswith(".whl")]


def test_a_version_or_tag_the_index_lacks_is_named_with_what_it_has(server, venv, env, tmp_path):
    plan = _plan(tmp_path / "plan.json", server)
    raw = json.loads(plan.read_text())
    raw["torch"] = "2.14.2+cu126"
    plan.write_text(json.dumps(raw))
    r = _install(venv, plan, env, "--dry-run")
    assert r.returncode == 5, r.stdout + r.stderr
    assert "has no wheel of torch==2.14.2+cu126 for this target" in r.stderr
    assert f"versions of torch there for this target: {ie.NEW_CU126}" in r.stderr


@pytest.mark.parametrize("mode", ["--dry-run", "--yes"])
def test_a_trickling_index_ends_at_the_deadline(mode, server, venv, env, tmp_path):
    before = ie.state(venv, env)
    server.fault("/whl/cu126/torch/", trickle=1.0)
    start = time.monotonic()
    r = _install(venv, _plan(tmp_path / "plan.json", server), env, mode, "--timeout", "5", timeout=60)
    took = time.monotonic() - start
    assert r.returncode == 5, r.stdout + r.stderr
    assert "did not answer" in r.stderr and "--timeout" in r.stderr and "Traceback" not in r.stderr
    assert took < 5 + 4, took
    assert ie.state(venv, env) == before and not (venv.parent.parent / ".torchup").exists()


def test_a_trickling_metadata_file_ends_the_dry_run_at_the_deadline_too(server, venv, env, tmp_path):
    server.fault(f"/whl/cu126/torch/torch-{ie.NEW_CU126.replace('+', '%2B')}-{ie.TAG}.whl.metadata", trickle=1.0)
    start = time.monotonic()
    r = _install(venv, _plan(tmp_path / "plan.json", server), env, "--dry-run", "--timeout", "5", timeout=60)
    assert r.returncode == 5, r.stdout + r.stderr
    assert "did not finish within --timeout" in r.stderr and "would run" not in r.stdout
    assert time.monotonic() - start < 5 + 4


def test_ctrl_c_during_a_slow_metadata_fetch_ends_promptly(server, venv, env, tmp_path):
    server.fault(f"/whl/cu126/torch/torch-{ie.NEW_CU126.replace('+', '%2B')}-{ie.TAG}.whl.metadata", delay=60)
    proc = subprocess.Popen([sys.executable, "-m", "torchup", "install", "--plan", str(_plan(tmp_path / "p.json", server)),
                             "--python", str(venv), "--manager", "pip", "--dry-run"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        for _ in range(300):
            if any(p.endswith(".metadata") for _, p in server.calls):
                break
            time.sleep(0.1)
        else:
            pytest.fail("torchup never asked for the .metadata file")
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        start = time.monotonic()
        out, err = proc.communicate(timeout=20)
        assert time.monotonic() - start < 3, err
    finally:
        proc.kill()
    assert proc.returncode == 130, out + err
    assert "interrupted" in err and "Traceback" not in err


@pytest.mark.parametrize("where", ["/dev/full", "readonly/sub/install.log", "a-file/install.log"])
def test_an_unwritable_log_is_refused_before_any_change(where, server, venv, env, tmp_path):
    if where.startswith("/dev/") and not os.path.exists(where):
        pytest.skip(f"no {where} here")
    if where.startswith("readonly") and os.geteuid() == 0:
        pytest.skip("root writes into a 0500 directory all the same (the a-file case covers root)")
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    readonly.chmod(0o500)
    (tmp_path / "a-file").write_text("a file where the log's directory should be\n")
    before = ie.state(venv, env)
    log = where if where.startswith("/") else str(tmp_path / where)
    r = _install(venv, _plan(tmp_path / "plan.json", server), env, "--yes", "--log", log)
    readonly.chmod(0o700)
    assert r.returncode == 4, r.stdout + r.stderr
    assert f"cannot write the install log {log}" in r.stderr and "Traceback" not in r.stderr
    assert ie.state(venv, env) == before
    assert not (venv.parent.parent / ".torchup").exists()


MACHINE = {"os": "linux", "arch": "x86_64", "python": "3.11", "libc": "glibc 2.36", "nvidia_driver": "580.65.06",
           "cuda_driver_max": "13.0", "gpus": [{"vendor": "nvidia", "name": "NVIDIA GeForce RTX 4090",
                                                "compute_capability": "8.9"}]}


@pytest.mark.parametrize("manager", ["pip", "uv"])
def test_a_plan_shows_no_secret_and_its_file_installs_with_the_login_from_netrc(manager, server, venv, env, tmp_path):
    machine = tmp_path / "machine.json"
    machine.write_text(json.dumps(MACHINE))
    base = server.url.replace("http://", f"http://user:{SECRET}@") + "/whl"
    args = ["plan", "--machine", str(machine), "--torch", "2.14.1", "--variant", "cu126", "--no-torchvision",
            "--no-torchaudio", "--index-base", base, "--manager", manager]
    text, js = ie.torchup(args, env), ie.torchup([*args, "--json"], env)
    assert text.returncode == 0 and js.returncode == 0, text.stdout + text.stderr + js.stderr
    for where in (text.stdout, text.stderr, js.stdout, js.stderr):
        assert SECRET not in where
    assert "user:***@" in text.stdout
    plan = json.loads(js.stdout)
    assert plan["index_url"].startswith("http://user:***@127.0.0.1:") and plan["torch"] == ie.NEW_CU126
    (tmp_path / "plan.json").write_text(js.stdout)
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login user password {SECRET}\n")
    r = _install(venv, tmp_path / "plan.json", {**env, "NETRC": str(netrc)}, "--yes", manager=manager)
    assert r.returncode == 0, r.stdout + r.stderr
    assert SECRET not in r.stdout + r.stderr
    assert ie.state(venv, env)["torch"] == ie.NEW_CU126
