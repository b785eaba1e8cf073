"""Fuzzing the edges (issue 18): machine files, plan files, doctor states, command lines and logs.

The property, for every generated input: the exit code is one the README documents (never 70, a
bug), no traceback is printed, and torchup answers within a time bound.  Hypothesis is seeded
(``derandomize``) and the number of examples bounded, so the suite is the same on every run and
stays under a minute on a small machine.  Every crash class the issue lists is a fixed ``@example``.

Commands run in process through ``torchup.cli.main`` (fast); a few run as real subprocesses.  No
case touches the network or installs anything: plans, states and machines come from files.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from torchup.cli import main

DOCUMENTED_EXIT_CODES = {0, 1, 2, 3, 4, 5, 6}  # README "Exit codes"; 130 is an interrupt, 70 a bug
TIME_BOUND_S = 10.0
FIXTURES = Path(__file__).resolve().parent / "fixtures"
HEALTHY_STATE = json.loads((FIXTURES / "doctor" / "cpu-torch2.13.0__healthy.json").read_text())
MACHINE = {"os": "linux", "arch": "x86_64", "python": "3.12", "nvidia_driver": "550.54.14",
           "gpus": [{"vendor": "nvidia", "name": "NVIDIA GeForce RTX 4090", "compute_capability": "8.9"}]}

LONG_DIGITS = "9" * 5000  # over CPython's 4300-digit limit on int()
DEEP = "[" * 100_000 + "]" * 100_000  # far past the JSON parser's recursion limit
BAD_TIMEOUTS = ["nan", "inf", "-inf", "1e308", "0", "-1", LONG_DIGITS, "", "x", "1e-400"]
HOSTILE = [LONG_DIGITS, f"2.{LONG_DIGITS}", f"{LONG_DIGITS}.1", "nan", "inf", "-1", "", " ", "\x00", "a\nb", "'\"",
           'http://h/"\n[[tool.uv.index]]\nurl = "http://evil/"', "y", "file://", "http://", "(" * 500 + "a",
           "é" * 100, "\udcff".encode("utf-8", "surrogatepass").decode("utf-8", "replace"), "x" * 100_000, "12.6",
           "2.5.1", "cu126", "rocm6.4", "==2.5.1", ">=2.4,<2.6", "550.54.14", "RTX 4090", "https://download.pytorch.org/whl"]

hostile_text = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=40))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | hostile_text | st.integers(min_value=2**63),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
FUZZ = settings(derandomize=True, database=None, deadline=None, max_examples=40,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])


@pytest.fixture
def quiet_env(tmp_path, monkeypatch):
    """A cache of its own (the catalog cache, logs) and no host configuration of pip or uv."""
    monkeypatch.setenv("TORCHUP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("UV_NO_CONFIG", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    for var in ("TORCHUP_INDEX_BASE", "TORCHUP_SYSROOT"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def check(argv: list[str]) -> tuple[int, str, str]:
    """Run torchup in process and assert the property; returns (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    start = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's own usage errors
            code = exc.code
    took = time.monotonic() - start
    shown = [a if len(a) < 80 else a[:80] + "..." for a in argv]
    assert code in DOCUMENTED_EXIT_CODES, (shown, code, err.getvalue()[-2000:])
    assert "Traceback" not in err.getvalue() and "internal error" not in err.getvalue(), (shown, err.getvalue()[-2000:])
    assert took < TIME_BOUND_S, (shown, took)
    return code, out.getvalue(), err.getvalue()


def _write(path: Path, content: str | bytes) -> str:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", errors="surrogatepass")
    return str(path)


# --- machine files ---------------------------------------------------------------------------------

def _toml(changes: dict) -> str:
    """The machine with ``changes`` as TOML, where TOML can say them (it has no null)."""
    import tomli_w

    try:
        return tomli_w.dumps({**MACHINE, **changes})
    except (TypeError, ValueError):
        return tomli_w.dumps(MACHINE)


MACHINE_KEYS = [*MACHINE, "python_bits", "libc", "cuda_driver_max", "rocm_version", "wsl", "free_threaded",
                "macos_version", "format", "version"]
machine_docs = st.one_of(
    st.dictionaries(st.sampled_from(MACHINE_KEYS), json_values, max_size=6).map(_toml),
    st.dictionaries(st.sampled_from(MACHINE_KEYS), json_values, max_size=6)
    .map(lambda changes: json.dumps({**MACHINE, **changes})),
    st.lists(st.dictionaries(st.sampled_from(["vendor", "name", "compute_capability", "gfx", "memory_mib"]),
                             json_values, max_size=5), max_size=4)
    .map(lambda gpus: json.dumps({**MACHINE, "gpus": gpus})),
    json_values.map(json.dumps),
    st.binary(max_size=200),
)


@FUZZ
@given(doc=machine_docs, toml=st.booleans(), as_json=st.booleans())
@example(doc=DEEP, toml=False, as_json=True)
@example(doc="a = " + "[" * 5000 + "]" * 5000, toml=True, as_json=False)
@example(doc=json.dumps({**MACHINE, "python_bits": 0}).replace("0}", LONG_DIGITS + "}"), toml=False, as_json=False)
@example(doc='os = "linux"\narch = "x86_64"\npython = "3.12"\npython_bits = 0x' + "f" * 5000, toml=True, as_json=False)
@example(doc=json.dumps({**MACHINE, "gpus": [{"vendor": "nvidia", "name": "x", "compute_capability": f"8.{LONG_DIGITS}"}]}),
         toml=False, as_json=True)
def test_fuzz_machine_files(quiet_env, doc, toml, as_json):
    path = _write(quiet_env / ("machine.toml" if toml else "machine.json"), doc)
    check(["plan", "--machine", path, *(["--json"] if as_json else [])])


# --- plan files ------------------------------------------------------------------------------------

PLAN = {"format": "torchup/plan", "version": 1, "torch": "2.5.1", "torchvision": "0.20.1", "torchaudio": "2.5.1",
        "variant": "cpu", "cuda": None, "rocm": None, "index_url": "https://download.pytorch.org/whl/cpu",
        "os": "linux", "arch": "x86_64", "python": "3.11", "reasons": [], "warnings": []}

plan_docs = st.one_of(
    st.dictionaries(st.sampled_from(list(PLAN)), json_values, max_size=4).map(lambda ch: json.dumps({**PLAN, **ch})),
    json_values.map(json.dumps),
    st.binary(max_size=200),
)


@FUZZ
@given(doc=plan_docs)
@example(doc=DEEP)
@example(doc=json.dumps({**PLAN, "torch": f"2.{LONG_DIGITS}"}))
@example(doc=json.dumps({**PLAN, "index_url": 'http://h/"\n[[tool.uv.index]]\nurl = "http://evil/"'}))
@example(doc=json.dumps({**PLAN, "extra": 0}).replace('"extra": 0', '"extra": ' + LONG_DIGITS))
def test_fuzz_plan_files(quiet_env, doc):
    # `--python` a file that is no interpreter: a plan that loads stops at the target, which never runs it
    fake = quiet_env / "not-python"
    fake.write_text("#!/bin/sh\nexit 3\n")
    fake.chmod(0o755)
    path = _write(quiet_env / "plan.json", doc)
    check(["install", "--plan", path, "--dry-run", "--skip-network-check", "--python", str(fake)])


# --- doctor states ---------------------------------------------------------------------------------

STATE_KEYS = [*HEALTHY_STATE, "verify_run.events", "verify_run.timeout", "verify_run.timed_out", "verify_run.returncode"]


def _mutate_state(changes: dict) -> str:
    state = json.loads(json.dumps(HEALTHY_STATE))
    for key, value in changes.items():
        if key.startswith("verify_run.") and isinstance(state.get("verify_run"), dict):
            state["verify_run"][key.split(".", 1)[1]] = value
        else:
            state[key] = value
    return json.dumps(state)


state_docs = st.one_of(
    st.dictionaries(st.sampled_from(STATE_KEYS), json_values, max_size=3).map(_mutate_state),
    json_values.map(json.dumps),
    st.binary(max_size=200),
)


@FUZZ
@given(doc=state_docs, as_json=st.booleans())
@example(doc=DEEP, as_json=False)
@example(doc=_mutate_state({"env": json.loads("[" * 40 + "]" * 40)}), as_json=True)
@example(doc=_mutate_state({"python": 0}).replace('"python": 0', '"python": ' + LONG_DIGITS), as_json=False)
@example(doc=_mutate_state({"verify_run.events": [], "verify_run.timed_out": True, "verify_run.timeout": "x"}),
         as_json=False)
def test_fuzz_doctor_states(quiet_env, doc, as_json):
    path = _write(quiet_env / "state.json", doc)
    check(["doctor", "--state", path, *(["--json"] if as_json else [])])


# --- command lines ---------------------------------------------------------------------------------

OPTIONS = {
    "plan": ["--torch", "--cuda", "--variant", "--driver", "--gpu", "--manager", "--index-base", "--explain", "--json",
             "--cpu", "--no-torchvision"],
    "catalog": ["--torch", "--gpu", "--json", "--variant"],
    "doctor": ["--json", "--no-plan", "--timeout"],
    "explain": ["--json"],
    "matrix": ["--gpu", "--json"],
}
FLAGS = {"--explain", "--json", "--cpu", "--no-torchvision", "--no-plan"}


@st.composite
def command_lines(draw):
    command = draw(st.sampled_from(sorted(OPTIONS)))
    argv = [command]
    for option in draw(st.lists(st.sampled_from(OPTIONS[command]), max_size=4)):
        argv += [option] if option in FLAGS else [option, draw(hostile_text)]
    return argv


@pytest.fixture
def inputs(quiet_env):
    """The files every command line points at, so that none probes this host."""
    machine = _write(quiet_env / "m.json", json.dumps(MACHINE))
    state = _write(quiet_env / "s.json", json.dumps(HEALTHY_STATE))
    log = _write(quiet_env / "log.txt", "RuntimeError: CUDA error: no kernel image is available for execution\n")
    return {"plan": ["--machine", machine], "catalog": [], "doctor": ["--state", state], "explain": [log],
            "matrix": []}


@FUZZ
@given(argv=command_lines())
@example(argv=["plan", "--torch", LONG_DIGITS])
@example(argv=["plan", "--torch", f"2.{LONG_DIGITS}"])
@example(argv=["plan", "--cuda", LONG_DIGITS])
@example(argv=["catalog", "--torch", f"2.{LONG_DIGITS}"])
@example(argv=["plan", "--manager", "uv-project", "--index-base", 'http://h/"\n[[tool.uv.index]]\nurl = "http://evil/"'])
@example(argv=["doctor", "--timeout", "nan"])
def test_fuzz_command_lines(inputs, argv):
    command, *rest = argv
    check([command, *inputs[command], *rest])


@pytest.mark.parametrize("command", [["probe"], ["verify"], ["doctor"], ["install", "--dry-run"], ["add", "x"]])
@pytest.mark.parametrize("value", BAD_TIMEOUTS)
def test_every_timeout_refuses_what_is_not_a_duration(quiet_env, command, value):
    assert check([*command, "--timeout", value])[0] == 2


@pytest.mark.parametrize("argv", [
    ["catalog", "refresh", "--pypi-index", "y"],
    ["catalog", "refresh", "--index-base", "y"],
    ["catalog", "refresh", "--pypi-index", 'http://h/"\n[[x]]'],
    ["add", "x", "--index-url", 'http://h/"\n[[x]]'],
    ["install", "--dry-run", "--index-base", 'http://h/"\n[[tool.uv.index]]'],
    ["install", "--dry-run", "--plan", "plan.json", "--index-base", "y"],
])
def test_index_urls_that_are_not_urls_are_refused_before_any_use(quiet_env, argv):
    _write(quiet_env / "plan.json", json.dumps(PLAN))
    argv = [str(quiet_env / a) if a == "plan.json" else a for a in argv]
    code, _, err = check(argv)
    assert code == 2 and ("not an http(s) URL" in err or "control character" in err), err


# --- logs for explain ------------------------------------------------------------------------------

logs = st.one_of(
    st.binary(max_size=2000),
    st.text(max_size=2000),
    st.lists(st.sampled_from(["RuntimeError: CUDA error: ", "ImportError: ", "\x00", "(" * 50, "\\", "é", "\r",
                              "no kernel image", "libcudnn.so.9", "sm_120", "\n", " " * 200]), max_size=60).map("".join),
)


@FUZZ
@given(log=logs, as_json=st.booleans())
@example(log=b"\x00" * 100_000, as_json=False)
@example(log="a" * 5_000_000, as_json=True)  # one long line
@example(log=("(" * 10_000 + "RuntimeError: CUDA error: ") * 50, as_json=False)
@example(log=b"\xff\xfe" + "CUDA error".encode("utf-16-le"), as_json=False)
def test_fuzz_logs(quiet_env, log, as_json):
    path = _write(quiet_env / "log.txt", log)
    check(["explain", path, *(["--json"] if as_json else [])])


# --- a few as real processes -----------------------------------------------------------------------

@pytest.mark.parametrize("name, content, args", [
    ("machine.json", DEEP, ["plan", "--machine"]),
    ("state.json", DEEP, ["doctor", "--state"]),
    ("log.txt", "\x00(" * 1_000_000, ["explain"]),
])
def test_as_a_process(clean_env, tmp_path, name, content, args):
    path = _write(tmp_path / name, content)
    out = subprocess.run([sys.executable, "-m", "torchup", *args, path], capture_output=True, text=True,
                         env=clean_env, timeout=60)
    assert out.returncode in DOCUMENTED_EXIT_CODES and "Traceback" not in out.stderr, out.stderr[-2000:]


@pytest.mark.parametrize("argv", [["probe", "--timeout", "nan"], ["catalog", "refresh", "--pypi-index", "y"],
                                  ["--json", "plan", "--torch", LONG_DIGITS]])
def test_command_lines_as_a_process(clean_env, argv):
    out = subprocess.run([sys.executable, "-m", "torchup", *argv], capture_output=True, text=True, env=clean_env,
                         timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr[-2000:]
