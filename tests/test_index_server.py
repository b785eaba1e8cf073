"""The test index itself must behave like a real one: the real pip installs from it."""

import http.client
import json
import subprocess
import sys
import time
import urllib.request

from tests.support.wheels import make_wheel


def test_pip_installs_a_wheel_from_the_local_index(index_server, tmp_path, clean_env):
    wheel = make_wheel(tmp_path / "w", "torchup-demo", "1.2.3")
    index_server.add_wheel("whl/cpu", wheel)
    target = tmp_path / "target"
    r = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-cache-dir", "--target", str(target),
         "--index-url", index_server.index_url("whl/cpu"), "torchup-demo==1.2.3"],
        capture_output=True, text=True, env=clean_env, timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert (target / "torchup_demo" / "__init__.py").read_text() == "__version__ = '1.2.3'\n"


def test_json_api_and_metadata(index_server, tmp_path):
    wheel = make_wheel(tmp_path, "torch", "2.14.1+cu126", tag="cp311-cp311-manylinux_2_28_x86_64",
                       requires_dist=["nvidia-cublas-cu12==12.6.4.1; platform_system == 'Linux'"], requires_python=">=3.10")
    index_server.add_wheel("whl/cu126", wheel)
    req = urllib.request.Request(index_server.index_url("whl/cu126") + "torch/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    page = json.load(urllib.request.urlopen(req, timeout=10))
    (f,) = page["files"]
    assert f["filename"] == wheel.name and f["requires-python"] == ">=3.10"
    meta = urllib.request.urlopen(index_server.url + f["url"] + ".metadata", timeout=10).read().decode()
    assert "Requires-Dist: nvidia-cublas-cu12==12.6.4.1" in meta


def test_keep_alive_requests_do_not_stall(index_server, tmp_path):
    # issue 15: without TCP_NODELAY each reply on a kept-alive connection waited ~40 ms for
    # the client's delayed ACK (20 requests took ~0.8 s); measured here at ~10 ms in all
    index_server.add_wheel("whl/cpu", make_wheel(tmp_path, "torchup-demo", "1.0"))
    host, port = index_server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    start = time.monotonic()
    for _ in range(20):
        conn.request("GET", "/whl/cpu/torchup-demo/")
        assert conn.getresponse().read().count(b".whl") >= 1
    took = time.monotonic() - start
    conn.close()
    assert took < 0.4, f"20 keep-alive requests took {took:.2f} s"


def test_a_slow_link_serves_at_the_rate_asked(index_server, tmp_path):
    wheel = make_wheel(tmp_path, "torchup-demo", "1.0", padding=60_000)
    index_server.add_wheel("whl/cpu", wheel)
    index_server.fault("/whl/cpu/torchup-demo/torchup_demo-", rate=40_000)
    start = time.monotonic()
    data = urllib.request.urlopen(f"{index_server.url}/whl/cpu/torchup-demo/{wheel.name}", timeout=10).read()
    took = time.monotonic() - start
    assert data == wheel.read_bytes()
    assert len(data) / 40_000 - 0.1 <= took <= len(data) / 40_000 + 1.0
