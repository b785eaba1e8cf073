"""The fleet with the real Ansible engine (ansible-core): an inventory of hosts on this machine
(``ansible_connection: local``), each replaying a recorded machine through its own
``TORCHUP_SYSROOT`` and fake tools, each with its own venv.  ``fleet probe`` gathers them (one
host fails, one hangs, one cannot be reached), ``fleet plan`` plans one build and the grouped
builds, ``fleet rollout`` installs the grouped plans from a loopback index (synthetic torch
wheels for each variant planned) and ``fleet verify`` gathers the reports.

Synthetic torch imports but cannot compute, so every node's verify fails at its first tensor:
the table shows that, with the torch each node got from its own plan."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, PROBE_FIXTURES, REPO
from tests.support.index_server import IndexServer
from tests.support.wheels import make_wheel
from torchup.machine import load_machine_file

ANSIBLE = Path(sys.executable).parent / "ansible-playbook"  # ansible-core is in the test extra

MACHINES = FIXTURES / "machines"
RECORDED = {  # host -> recorded machine
    "gpu-4090": "rtx4090-driver550",
    "gpu-h100": "h100-mig",
    "cpu-only": "no-gpu",
    "amd-mi300x": "amd-mi300x",
}
TAG = "cp311-cp311-manylinux_2_28_x86_64"


def _host_env(name: str, tools: Path, index_base: str | None, cache: Path) -> dict:
    bin_dir = MACHINES / name / "bin"
    path = [str(bin_dir)] if bin_dir.is_dir() else []
    env = {
        "TORCHUP_SYSROOT": str(MACHINES / name / "root"),
        "TORCHUP_PROBE_FIXTURES": str(PROBE_FIXTURES),
        "PATH": os.pathsep.join([*path, str(tools), "/usr/bin", "/bin"]),
        "PIP_CONFIG_FILE": os.devnull,
        "UV_NO_CONFIG": "1",
        "UV_CACHE_DIR": str(cache / "uv"),
        "XDG_CACHE_HOME": str(cache / "xdg"),
        "NO_COLOR": "1",
    }
    if index_base:
        env["TORCHUP_INDEX_BASE"] = index_base
    return env


def _inventory(path: Path, hosts: dict[str, dict]) -> Path:
    path.write_text(json.dumps({"all": {"hosts": hosts}}, indent=2))  # YAML takes JSON as it is
    return path


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """The hosts: a venv each (uv, fast), a tools dir with uv, and the scripts that fail or hang."""
    base = tmp_path_factory.mktemp("fleet")
    tools = base / "tools"
    tools.mkdir()
    os.symlink(REPO / ".venv" / "bin" / "uv", tools / "uv")
    venvs = {}
    for host in RECORDED:
        venv = base / "venvs" / host
        subprocess.run(
            [str(tools / "uv"), "venv", "-q", "--python", sys.executable, str(venv)],
            check=True,
            timeout=120,
            env={**os.environ, "UV_NO_CONFIG": "1"},
        )
        venvs[host] = venv / "bin" / "python"
    broken = base / "broken-python"
    broken.write_text("#!/bin/sh\necho 'cannot open shared object file: libpython3.11.so.1.0' >&2\nexit 127\n")
    broken.chmod(0o755)
    pidfile = base / "hang.pid"
    hang = base / "hanging-python"
    hang.write_text(f"#!/bin/sh\necho $$ > {pidfile}\nexec sleep 600\n")
    hang.chmod(0o755)
    yield {"base": base, "tools": tools, "venvs": venvs, "broken": broken, "hang": hang, "pidfile": pidfile}
    if pidfile.exists():  # Ansible gives up on a task that runs past its time but leaves the process
        try:
            os.kill(int(pidfile.read_text()), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def _env(tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "TORCHUP_", "ANSIBLE_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # ansible-playbook
    env["ANSIBLE_LOCAL_TEMP"] = str(tmp / "ansible-local")
    env["ANSIBLE_REMOTE_TEMP"] = str(tmp / "ansible-remote")
    env["ANSIBLE_HOME"] = str(tmp / "ansible-home")
    env["NO_COLOR"] = "1"
    return env


def _torchup(args: list, env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "torchup", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def _local(python: Path | str, env: dict, **extra) -> dict:
    return {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "torchup_python": str(python),
        "torchup_environment": env,
        **extra,
    }


@pytest.fixture(scope="module")
def probed(fleet, tmp_path_factory):
    """``fleet probe`` over six hosts: four recorded machines, one broken, one hung; and one unreachable."""
    tmp = tmp_path_factory.mktemp("probe")
    cache = tmp / "cache"
    hosts = {h: _local(fleet["venvs"][h], _host_env(m, fleet["tools"], None, cache)) for h, m in RECORDED.items()}
    hosts["broken"] = _local(fleet["broken"], _host_env("no-gpu", fleet["tools"], None, cache))
    hosts["hung"] = _local(fleet["hang"], _host_env("no-gpu", fleet["tools"], None, cache), torchup_node_timeout=5)
    hosts["gone"] = {
        "ansible_connection": "ssh",
        "ansible_host": "127.0.0.1",
        "ansible_port": 9,
        "ansible_ssh_common_args": "-o ConnectTimeout=5 -o BatchMode=yes",
    }
    inventory = _inventory(tmp / "inventory.json", hosts)
    out = tmp / "machines"
    r = _torchup(["fleet", "probe", "-i", inventory, "--out", out, "--node-timeout", 120, "--json"], _env(tmp))
    return {"run": r, "out": out, "tmp": tmp}


def test_probe_writes_one_machine_file_per_answering_node(probed):
    r = probed["run"]
    assert r.returncode == 1, r.stdout + r.stderr  # some nodes failed: said by the exit status
    doc = json.loads(r.stdout)
    status = {n["node"]: n["status"] for n in doc["nodes"]}
    assert status == {
        "gpu-4090": "ok",
        "gpu-h100": "ok",
        "cpu-only": "ok",
        "amd-mi300x": "ok",
        "broken": "probe failed",
        "hung": "timed out",
        "gone": "unreachable",
    }
    assert sorted(p.name for p in probed["out"].iterdir()) == sorted(f"{h}.json" for h in RECORDED)
    messages = {n["node"]: n["message"] for n in doc["nodes"]}
    assert "exit status 127" in messages["broken"] and "libpython3.11.so" in messages["broken"]
    assert "Timed out after 5 second" in messages["hung"]
    assert "port 9" in messages["gone"]


def test_each_node_is_its_recorded_machine(probed):
    m = {h: load_machine_file(str(probed["out"] / f"{h}.json"))[0] for h in RECORDED}
    assert (m["gpu-4090"].nvidia_driver, m["gpu-4090"].gpus[0].name) == ("550.107.02", "NVIDIA GeForce RTX 4090 D")
    assert (m["gpu-h100"].nvidia_driver, m["gpu-h100"].gpus[0].compute_capability) == ("590.48.01", "9.0")
    assert m["cpu-only"].gpus == () and m["cpu-only"].nvidia_driver is None
    assert [(g.vendor, g.gfx) for g in m["amd-mi300x"].gpus] == [("amd", "gfx942")]
    # the probe ran in each host's own interpreter, which is what the plan is for
    for host, machine in m.items():
        assert machine.python_executable.startswith(str(Path(probed["tmp"]).parent)), machine.python_executable
        assert machine.python_env in ("venv", "uv") and host


def test_plan_one_build_and_groups(probed, tmp_path):
    env = _env(tmp_path)
    env["TORCHUP_INDEX_BASE"] = "http://127.0.0.1:9/whl"
    spec = ["--torch", "2.14.1", "--no-torchvision", "--no-torchaudio", "--json"]
    one = _torchup(["fleet", "plan", probed["out"], *spec], env)
    assert one.returncode == 0, one.stdout + one.stderr
    doc = json.loads(one.stdout)
    assert (doc["torch"], doc["variant"], doc["nodes"]) == ("2.14.1+cpu", "cpu", sorted(RECORDED))
    assert any(t.startswith("the Instinct MI300X node (amd-mi300x) forces cpu") for t in doc["tradeoffs"])
    grouped = _torchup(["fleet", "plan", probed["out"], "--groups", *spec], env)
    assert grouped.returncode == 0, grouped.stdout + grouped.stderr
    groups = {g["variant"]: g["nodes"] for g in json.loads(grouped.stdout)["groups"]}
    assert groups == {"cu126": ["cpu-only", "gpu-4090", "gpu-h100"], "rocm7.14": ["amd-mi300x"]}


def test_rollout_installs_each_group_plan_and_gathers_verify(probed, fleet, tmp_path):
    plans = tmp_path / "plans"
    wheels = tmp_path / "wheels"
    with IndexServer() as server:
        env = _env(tmp_path)
        env["TORCHUP_INDEX_BASE"] = f"{server.url}/whl"
        r = _torchup(
            [
                "fleet",
                "plan",
                probed["out"],
                "--groups",
                "--torch",
                "2.14.1",
                "--no-torchvision",
                "--no-torchaudio",
                "--write-plans",
                plans,
            ],
            env,
        )
        assert r.returncode == 0, r.stdout + r.stderr
        assignments = json.loads((plans / "nodes.json").read_text())
        # a node probed before that is down now
        (plans / "nodes.json").write_text(json.dumps({**assignments, "gone": assignments["cpu-only"]}))
        variants = {}
        for node, name in assignments.items():
            variants[node] = json.loads((plans / name).read_text())["variant"]
        for variant in set(variants.values()):  # the loopback index stands for PyTorch's: a wheel per variant planned
            server.add_wheel(
                f"whl/{variant}",
                make_wheel(wheels / variant, "torch", f"2.14.1+{variant}", tag=TAG, requires_python=">=3.10"),
            )
        cache = tmp_path / "cache"
        command = [sys.executable, "-m", "torchup"]
        hosts = {
            h: _local(
                fleet["venvs"][h],
                _host_env(m, fleet["tools"], env["TORCHUP_INDEX_BASE"], cache),
                torchup_command=command,
            )
            for h, m in RECORDED.items()
        }
        hosts["gone"] = {
            "ansible_connection": "ssh",
            "ansible_host": "127.0.0.1",
            "ansible_port": 9,
            "ansible_ssh_common_args": "-o ConnectTimeout=5 -o BatchMode=yes",
        }
        inventory = _inventory(tmp_path / "inventory.json", hosts)
        results = tmp_path / "results.json"
        r = _torchup(["fleet", "rollout", "-i", inventory, "--plans", plans, "--results", results, "--json"], env)
    assert r.returncode == 1, r.stdout + r.stderr
    rows = {n["node"]: n for n in json.loads(r.stdout)["nodes"]}
    assert rows["gone"]["status"] == "unreachable"
    for host in RECORDED:
        row = rows[host]
        # the torch of the node's own plan went into the node's own venv, and its verify report came back
        assert row["torch"] == f"2.14.1+{variants[host]}", row
        assert row["status"] == "verify failed" and row["problem"], row
        got = subprocess.run(
            [str(fleet["venvs"][host]), "-c", "import torch; print(torch.__version__)"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert got.stdout.strip() == f"2.14.1+{variants[host]}"
    # fleet verify reads the same file again: one table
    table = _torchup(["fleet", "verify", results], _env(tmp_path))
    assert table.returncode == 1
    assert table.stdout.startswith("torchup fleet verify: 0 of 5 nodes ok\n")
    assert "gone" in table.stdout and "unreachable" in table.stdout


REAL_TORCH = Path("/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl")
REAL_DEPS = Path("/opt/pypi/files")
DEP_PREFIXES = (
    "filelock-",
    "typing_extensions-",
    "setuptools-",
    "sympy-",
    "mpmath-",
    "networkx-",
    "jinja2-",
    "markupsafe-",
    "fsspec-",
)


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_rollout_of_real_cpu_torch_verifies_on_every_node(probed, fleet, tmp_path):
    """The real torch 2.13.0 CPU wheel and its dependencies (this machine's wheel store), served by the
    loopback index as PyTorch's cpu index; two hosts get it from one fleet plan and verify it."""
    deps = [p for p in sorted(REAL_DEPS.glob("*.whl")) if p.name.lower().startswith(DEP_PREFIXES)]
    if not REAL_TORCH.exists() or len({p.name.split("-")[0].lower() for p in deps}) < len(DEP_PREFIXES):
        pytest.skip(f"the real torch wheel and its dependencies are not on this machine ({REAL_TORCH})")
    hosts_used = {"cpu-only": "no-gpu", "gpu-4090": "rtx4090-driver550"}
    machines = tmp_path / "machines"
    machines.mkdir()
    for host in hosts_used:
        shutil.copy(probed["out"] / f"{host}.json", machines / f"{host}.json")
    plans = tmp_path / "plans"
    with IndexServer() as server:
        for wheel in [REAL_TORCH, *deps]:
            server.add_wheel("whl/cpu", wheel)
        env = _env(tmp_path)
        env["TORCHUP_INDEX_BASE"] = f"{server.url}/whl"
        r = _torchup(
            [
                "fleet",
                "plan",
                machines,
                "--cpu",
                "--torch",
                "2.13.0",
                "--no-torchvision",
                "--no-torchaudio",
                "--write-plans",
                plans,
                "--json",
            ],
            env,
        )
        assert r.returncode == 0, r.stdout + r.stderr
        doc = json.loads(r.stdout)
        assert (doc["torch"], doc["nodes"]) == ("2.13.0+cpu", sorted(hosts_used))
        hosts = {}
        for host, name in hosts_used.items():
            venv = tmp_path / "venvs" / host
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
            no_uv = _host_env(name, tmp_path / "no-tools", env["TORCHUP_INDEX_BASE"], tmp_path / "cache")
            hosts[host] = _local(venv / "bin" / "python", no_uv, torchup_command=[sys.executable, "-m", "torchup"])
        inventory = _inventory(tmp_path / "inventory.json", hosts)
        results = tmp_path / "results.json"
        r = _torchup(
            ["fleet", "rollout", "-i", inventory, "--plans", plans, "--results", results, "--json"], env, timeout=1400
        )
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    assert doc["ok"] is True
    for row in doc["nodes"]:
        assert (row["status"], row["torch"], row["build"], row["plan"]) == ("ok", "2.13.0+cpu", "CPU", "plan-1.json")
    table = _torchup(["fleet", "verify", results], _env(tmp_path))
    assert table.returncode == 0 and table.stdout.startswith("torchup fleet verify: 2 of 2 nodes ok\n")


def test_a_rendered_playbook_run_by_the_user_then_read_back(fleet, tmp_path):
    """--render: the user runs the playbook with their own ansible-playbook; --ansible-results reads it."""
    env = _env(tmp_path)
    work = tmp_path / "work"
    r = _torchup(["fleet", "probe", "--render", work], env)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in work.iterdir()) == ["probe-playbook.json", "probe.pyz"]
    hosts = {"gpu-h100": _local(fleet["venvs"]["gpu-h100"], _host_env("h100-mig", fleet["tools"], None, tmp_path))}
    inventory = _inventory(tmp_path / "inventory.json", hosts)
    play = subprocess.run(
        [str(ANSIBLE), "-i", str(inventory), str(work / "probe-playbook.json")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert play.returncode == 0, play.stdout + play.stderr
    r = _torchup(["fleet", "probe", "--ansible-results", work / "results.json", "--out", tmp_path / "m"], env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == f"torchup fleet probe: 1 of 1 node -> {tmp_path / 'm'}\n  gpu-h100: ok\n"
    machine, _ = load_machine_file(str(tmp_path / "m" / "gpu-h100.json"))
    assert machine.gpus[0].name == "NVIDIA H100 80GB HBM3"


def test_an_ad_hoc_ansible_run_read_back(fleet, tmp_path):
    """Ad hoc: ``ansible all -m script`` runs the bundle; its output, saved, is read with --from-output.
    An ad-hoc run takes no environment, so each local host's interpreter is a wrapper that sets it."""
    env = _env(tmp_path)
    work = tmp_path / "work"
    r = _torchup(["fleet", "probe", "--render", work], env)
    assert r.returncode == 0, r.stderr
    hosts = {}
    for host in ("gpu-h100", "amd-mi300x"):
        wrapper = tmp_path / f"{host}-python"
        exports = "".join(
            f"export {k}='{v}'\n" for k, v in _host_env(RECORDED[host], fleet["tools"], None, tmp_path).items()
        )
        wrapper.write_text(f'#!/bin/sh\n{exports}exec {fleet["venvs"][host]} "$@"\n')
        wrapper.chmod(0o755)
        hosts[host] = {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "torchup_python": str(wrapper),
        }
    hosts["gone"] = {
        "ansible_connection": "ssh",
        "ansible_host": "127.0.0.1",
        "ansible_port": 9,
        "ansible_ssh_common_args": "-o ConnectTimeout=5 -o BatchMode=yes",
    }
    inventory = _inventory(tmp_path / "inventory.json", hosts)
    args = f"executable={{{{ torchup_python | default('python3') }}}} {work / 'probe.pyz'} --node {{{{ inventory_hostname }}}}"
    adhoc = subprocess.run(
        [str(ANSIBLE.with_name("ansible")), "all", "-i", str(inventory), "-m", "ansible.builtin.script", "-a", args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert adhoc.returncode != 0, adhoc.stdout + adhoc.stderr  # ansible: a host could not be reached
    (tmp_path / "adhoc.out").write_text(adhoc.stdout)
    r = _torchup(
        [
            "fleet",
            "probe",
            "--from-output",
            tmp_path / "adhoc.out",
            "--expect",
            "gpu-h100,amd-mi300x,gone,never-ran",
            "--out",
            tmp_path / "m",
            "--json",
        ],
        env,
    )
    assert r.returncode == 1, r.stdout + r.stderr
    status = {n["node"]: n["status"] for n in json.loads(r.stdout)["nodes"]}
    assert status == {"gpu-h100": "ok", "amd-mi300x": "ok", "gone": "unreachable", "never-ran": "no answer"}
    machine, _ = load_machine_file(str(tmp_path / "m" / "amd-mi300x.json"))
    assert [g.gfx for g in machine.gpus] == ["gfx942"]
