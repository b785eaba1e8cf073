"""`torchup explain [FILE|-] [--json]`: files, stdin, encodings, exit codes."""

from __future__ import annotations

import codecs
import json
import subprocess
import sys

from torchup.commands import explain as cmd
from torchup.doctor.explain import decode_log, explain

DRIVER = "UserWarning: CUDA initialization: The NVIDIA driver on your system is too old (found version 11040).\n"


def _run(args, clean_env, stdin: bytes | None = None):
    return subprocess.run(
        [sys.executable, "-m", "torchup", "explain", *args],
        input=stdin if stdin is not None else b"",
        capture_output=True,
        env=clean_env,
        timeout=60,
    )


def test_file_human_output(tmp_path, clean_env):
    log = tmp_path / "log.txt"
    log.write_text("Traceback (most recent call last):\n" + DRIVER)
    res = _run([str(log)], clean_env)
    out = res.stdout.decode()
    assert res.returncode == 0, res.stderr
    assert out.startswith("1. The NVIDIA driver is too old")
    assert "[driver-too-old, driver]" in out and "Fix:" in out and "torchup plan" in out
    assert "the driver supports CUDA up to 11.4" in out
    assert "\x1b[" not in out  # no colour when not a terminal


def test_json_shape(tmp_path, clean_env):
    log = tmp_path / "log.txt"
    log.write_text(DRIVER + ">>> torch.cuda.is_available()\nFalse\n")
    res = _run([str(log), "--json"], clean_env)
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert list(data) == ["format", "version", "findings"]
    assert data["format"] == "torchup/explain" and data["version"] == 1
    assert data["findings"][0]["id"] == "driver-too-old"
    for f in data["findings"]:
        assert list(f) == ["id", "family", "title", "cause", "fix", "evidence", "confidence", "basis"]
        assert all(isinstance(x, str) for x in f["fix"] + f["evidence"])
        assert f["confidence"] in ("high", "medium", "low") and f["basis"]
    assert data["findings"][0]["confidence"] == "high"  # the driver's own message


def test_stdin_with_dash_and_by_default(clean_env):
    for args in (["-"], [], ["--json"]):
        res = _run(args, clean_env, stdin=b"ERROR: No matching distribution found for torch\n(from versions: none)\n")
        assert res.returncode == 0, (args, res.stderr)
        assert b"no-wheel" in res.stdout


def test_no_match_is_exit_1_and_an_empty_list(clean_env):
    res = _run(["--json"], clean_env, stdin=b"all good here\n")
    assert res.returncode == 1
    assert json.loads(res.stdout) == {"format": "torchup/explain", "version": 1, "findings": []}
    res = _run([], clean_env, stdin=b"all good here\n")
    assert res.returncode == 1 and b"no known problem matches" in res.stdout


def test_unreadable_input_is_exit_2_with_a_clear_message(tmp_path, clean_env):
    res = _run([str(tmp_path / "missing.log")], clean_env)
    assert res.returncode == 2
    assert b"no such file" in res.stderr and b"Traceback" not in res.stderr
    res = _run([str(tmp_path)], clean_env)
    assert res.returncode == 2 and b"is a directory" in res.stderr
    res = _run([str(tmp_path / "missing.log"), "--json"], clean_env)
    data = json.loads(res.stdout)
    assert res.returncode == 2 and data["error"]["code"] == "bad-input"
    assert (data["format"], data["version"]) == ("torchup/explain", 1)


def test_powershell_utf16_file(tmp_path, clean_env):
    log = tmp_path / "ps.log"
    log.write_bytes(
        codecs.BOM_UTF16_LE + ("PS C:\\> python train.py\r\n" + DRIVER.replace("\n", "\r\n")).encode("utf-16-le")
    )
    res = _run([str(log), "--json"], clean_env)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["findings"][0]["id"] == "driver-too-old"


def test_a_file_over_the_read_limit_is_read_as_head_and_tail(tmp_path, monkeypatch):
    monkeypatch.setattr(cmd, "CHUNK_BYTES", 4 * 1024)
    monkeypatch.setattr(cmd, "HEAD_BYTES", 4 * 1024)
    monkeypatch.setattr(cmd, "MIDDLE_BYTES", 4 * 1024)
    monkeypatch.setattr(cmd, "TAIL_BYTES", 8 * 1024)
    filler = "x" * 99 + "\n"
    for stray in (b"", b"!"):  # an odd-sized UTF-16 file still decodes aligned
        text = filler * 2000 + DRIVER
        log = tmp_path / "big.log"
        log.write_bytes(codecs.BOM_UTF16_LE + text.encode("utf-16-le") + stray)
        data = cmd._read_file(str(log))
        assert len(data) < 30 * 1024
        assert explain(decode_log(data))[0].id == "driver-too-old"


# --- context: what is known of the machine the log came from (issue 12) -------------------------

# the same pip error after a 32-bit Windows Python's banner: on a 64-bit target that banner is not the cause
WIN32_LOG = (
    "Python 3.12.1 (tags/v3.12.1:2305ca5, Dec  7 2023) [MSC v.1937 32 bit (Intel)] on win32\n"
    "ERROR: Could not find a version that satisfies the requirement torch (from versions: none)\n"
    "ERROR: No matching distribution found for torch\n"
)


def _top_ids(res) -> list[str]:
    assert res.returncode == 0, res.stderr
    return [f["id"] for f in json.loads(res.stdout)["findings"]]


def test_without_context_nothing_is_probed_and_the_banner_decides(tmp_path, clean_env):
    log = tmp_path / "log.txt"
    log.write_text(WIN32_LOG)
    assert _top_ids(_run([str(log), "--json"], clean_env))[0] == "no-wheel-32bit-python"


def test_a_machine_file_rules_causes_out(tmp_path, clean_env):
    log = tmp_path / "log.txt"
    log.write_text(WIN32_LOG)
    machine = tmp_path / "m.json"
    machine.write_text(json.dumps({"os": "windows", "arch": "x86_64", "python": "3.12", "python_bits": 64}))
    res = _run([str(log), "--json", "--machine", str(machine)], clean_env)
    ids = _top_ids(res)
    assert ids[0] == "no-wheel-for-python" and "no-wheel-32bit-python" not in ids
    cause = json.loads(res.stdout)["findings"][0]["cause"]
    assert "The target: Python 3.12 (64-bit) on windows x86_64." in cause


def test_context_probes_the_target_python(tmp_path, clean_env):
    # the real probe of this test's own interpreter: a 64-bit Python, so the 32-bit cause goes
    log = tmp_path / "log.txt"
    log.write_text(WIN32_LOG)
    res = _run([str(log), "--json", "--python", sys.executable], clean_env)  # --python implies --context
    ids = _top_ids(res)
    assert "no-wheel-32bit-python" not in ids
    import platform

    assert f"Python {platform.python_version()} (64-bit)" in json.loads(res.stdout)["findings"][0]["cause"]


def test_a_target_that_cannot_be_probed_costs_the_context_not_the_answer(tmp_path, clean_env):
    log = tmp_path / "log.txt"
    log.write_text(WIN32_LOG)
    res = _run([str(log), "--json", "--context", "--python", str(tmp_path / "no-such-python")], clean_env)
    assert _top_ids(res)[0] == "no-wheel-32bit-python"
    assert "explaining without context" in res.stderr.decode()


def test_context_options_are_checked(tmp_path, clean_env):
    log = tmp_path / "log.txt"
    log.write_text(WIN32_LOG)
    res = _run([str(log), "--python", sys.executable, "--machine", str(tmp_path / "m.json")], clean_env)
    assert res.returncode == 2 and b"give one" in res.stderr
    res = _run([str(log), "--context", "--machine", str(tmp_path / "m.json")], clean_env)
    assert res.returncode == 2 and b"Traceback" not in res.stderr
    res = _run([str(log), "--machine", str(tmp_path / "missing.json")], clean_env)
    assert res.returncode == 2 and b"cannot read machine file" in res.stderr and b"Traceback" not in res.stderr


_EXPLAIN_STDIN_PEAK = """
import sys
from torchup.cli import main
code = main(["explain", "-", "--json"])
# VmHWM: this process's own peak (ru_maxrss would count the parent's memory at the fork too)
with open("/proc/self/status") as fh:
    sys.stderr.write("peak %d\\n" % (next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) // 1024))
sys.exit(code)
"""


def test_a_64_mb_log_on_stdin_is_streamed_and_an_error_in_its_middle_found(clean_env):
    # issue 15: the whole log was held (64 MB read at once, 160 MiB at 100 MB); now the head,
    # the tail and the lines around error words in between are kept
    import threading

    block = (
        "Downloading https://example.invalid/wheels/pkg-1.0-py3-none-any.whl (1.2 MB) 55.1 MB/s\n" * 12_000
    ).encode()
    error = b"RuntimeError: operator torchvision::nms does not exist\n"
    proc = subprocess.Popen(
        [sys.executable, "-c", _EXPLAIN_STDIN_PEAK],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env,
    )

    def feed() -> None:
        assert proc.stdin is not None
        sent = 0
        while sent < 64 << 20:
            proc.stdin.write(block)
            sent += len(block)
            if 20 << 20 <= sent < (20 << 20) + len(block):
                proc.stdin.write(error)  # some 44 MB before the end
        proc.stdin.close()

    writer = threading.Thread(target=feed)
    writer.start()
    # not communicate(): it would close stdin under the writer; the child answers only at the end
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read(), proc.stderr.read()
    writer.join()
    proc.wait(timeout=120)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert json.loads(out)["findings"][0]["id"] == "torchvision-torch-mismatch"
    peak = int(err.decode().split("peak ")[-1])
    assert peak < 45, f"peak RSS {peak} MB"
