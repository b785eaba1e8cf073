"""Fleet planning over plain machine data: one build with its trade-off, the fewest builds,
identical nodes collapsed, nodes with no build named (torchup.fleet.planning)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from torchup.catalog.load import load_catalog
from torchup.fleet import planning
from torchup.machine import machine_from_dict
from torchup.plan import Request
from torchup.resolve import Verdict


@pytest.fixture(scope="module")
def catalog():
    return load_catalog({})


def _nvidia(name: str, cc: str, driver: str, count: int = 8, **extra) -> dict:
    gpus = [{"vendor": "nvidia", "name": name, "compute_capability": cc, "uuid": f"GPU-{i}"} for i in range(count)]
    return {
        "os": "linux",
        "arch": "x86_64",
        "python": "3.11",
        "libc": "glibc 2.35",
        "nvidia_driver": driver,
        "gpus": gpus,
        **extra,
    }


V100 = _nvidia("Tesla V100-SXM2-32GB", "7.0", "570.86.15")
H100 = _nvidia("NVIDIA H100 80GB HBM3", "9.0", "580.65.06")
LOGIN = {"os": "linux", "arch": "x86_64", "python": "3.11", "libc": "glibc 2.35"}
MI300X = {
    "os": "linux",
    "arch": "x86_64",
    "python": "3.11",
    "libc": "glibc 2.35",
    "gpus": [{"vendor": "amd", "name": "Instinct MI300X", "gfx": "gfx942"}],
}


def _fleet(**nodes: dict) -> list:
    return [(name, machine_from_dict(data)[0]) for name, data in nodes.items()]


def _classes(catalog, request=None, **nodes):
    return planning.classify(_fleet(**nodes), request or Request(), catalog)


def test_the_v100_nodes_force_the_older_build_and_it_is_said(catalog):
    classes = _classes(catalog, v1=V100, v2=V100, h1=H100, h2=H100, login=LOGIN)
    fleet = planning.plan_one(classes)
    [group] = fleet.groups
    assert group.nodes == ("h1", "h2", "login", "v1", "v2")
    # the newest build with sm_70 kernels; the newest torch would drop Volta
    assert group.build.variant == "cu126" and group.build.torch == "2.14.1"
    forced = [t for t in fleet.tradeoffs if " force" in t]
    assert len(forced) == 1
    assert forced[0].startswith(
        "the 8x Tesla V100-SXM2-32GB (driver 570.86.15) nodes (v1, v2) force cu126 and torch <= 2.14.1"
    )
    assert "sm_70" in forced[0]
    assert any(t.startswith("alone, the 8x NVIDIA H100 80GB HBM3") and "2.15.0 cu130" in t for t in fleet.tradeoffs)


def test_without_the_v100_nodes_there_is_no_trade_off_to_state_for_them(catalog):
    fleet = planning.plan_one(_classes(catalog, h1=H100, h2=H100))
    [group] = fleet.groups
    assert (group.build.torch, group.build.variant) == ("2.15.0", "cu130")
    assert fleet.tradeoffs == ()


def test_groups_give_each_kind_its_own_best_with_the_fewest_builds(catalog):
    fleet = planning.plan_groups(_classes(catalog, v1=V100, h1=H100, h2=H100, login=LOGIN, amd=MI300X))
    got = {(g.build.torch, g.build.variant): g.nodes for g in fleet.groups}
    # the CPU-only node joins a GPU build of the same torch rather than costing a build of its own
    assert got == {
        ("2.15.0", "cu130"): ("h1", "h2", "login"),
        ("2.14.1", "cu126"): ("v1",),
        ("2.15.0", "rocm7.14"): ("amd",),
    }


def test_amd_and_nvidia_share_only_the_cpu_build(catalog):
    fleet = planning.plan_one(_classes(catalog, h1=H100, h2=dict(H100, nvidia_driver="590.48.01"), amd=MI300X))
    [group] = fleet.groups
    assert group.build.variant == "cpu"
    forced = [t for t in fleet.tradeoffs if " force" in t]
    assert forced == [
        "the Instinct MI300X node (amd) forces cpu: torch 2.15.0 cu130 would serve the other 2 nodes, "
        "but on them a CUDA build uses none of this node's GPUs (amd)"
    ]


def test_identical_nodes_are_one_class_whatever_their_uuids_and_patch_versions(catalog):
    a = dict(H100, python="3.11.2")
    b = _nvidia("NVIDIA H100 80GB HBM3", "9.0", "580.65.06", python="3.11.9", python_executable="/opt/py/bin/python3")
    b["gpus"] = [dict(g, uuid=f"GPU-other-{i}", memory_mib=81559) for i, g in enumerate(b["gpus"])]
    other_driver = _nvidia("NVIDIA H100 80GB HBM3", "9.0", "550.54.15")
    classes = _classes(catalog, a=a, b=b, c=other_driver)
    assert [c.nodes for c in classes] == [("a", "b"), ("c",)]


def test_a_node_with_no_build_at_all_is_named(catalog):
    pypy = dict(LOGIN, python_implementation="pypy")
    fleet = planning.plan_one(_classes(catalog, h1=H100, odd=pypy))
    assert [g.nodes for g in fleet.groups] == [("h1",)] and set(fleet.unplanned) == {"odd"}
    assert fleet.unplanned["odd"] == "PyTorch publishes wheels for CPython only; this Python is pypy"
    grouped = planning.plan_groups(_classes(catalog, h1=H100, odd=pypy))
    assert [g.nodes for g in grouped.groups] == [("h1",)] and set(grouped.unplanned) == {"odd"}


def test_no_node_with_a_build_is_a_refusal(catalog):
    # --cuda 12.6 on an AMD node: nothing
    request = Request(cuda="12.6")
    fleet = planning.plan_one(_classes(catalog, request, amd=MI300X))
    assert fleet.groups == () and fleet.refusal == "no node has a build" and set(fleet.unplanned) == {"amd"}


def test_the_group_plan_is_the_plan_json_of_its_build(catalog):
    classes = _classes(catalog, v1=V100, h1=H100)
    [group] = planning.plan_one(classes).groups
    plan = planning.resolve_group(group, Request(), catalog)
    assert (plan.torch, plan.variant, plan.cuda) == ("2.14.1+cu126", "cu126", "12.6")
    assert plan.index_url == "https://download.pytorch.org/whl/cu126"
    assert plan.reasons[0].startswith("one build for 2 nodes of 2 kinds")
    assert not any("--torch ==" in r or "was asked for" in r for r in plan.reasons)


def test_fleet_plan_cli_json_and_exit_status(tmp_path):
    d = tmp_path / "machines"
    d.mkdir()
    for name, data in {"v1": V100, "h1": H100, "login": LOGIN}.items():
        (d / f"{name}.json").write_text(json.dumps(data))
    r = subprocess.run(
        [sys.executable, "-m", "torchup", "fleet", "plan", str(d), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    assert doc["format"] == "torchup/fleet-plan" and doc["distinct_machines"] == 3
    # one build: the Plan JSON of `plan --json` at the top, with the nodes it covers
    assert doc["nodes"] == ["h1", "login", "v1"] and doc["torch"] == "2.14.1+cu126" and doc["variant"] == "cu126"
    assert "groups" not in doc and doc["renderings"]["uv"]
    group = doc
    assert group["commands"]["pip"].startswith(
        "python3 -m pip install --index-url https://download.pytorch.org/whl/cu126"
    )
    (d / "bad.json").write_text('{"os": "plan9", "arch": "x86_64"}')
    r = subprocess.run(
        [sys.executable, "-m", "torchup", "fleet", "plan", str(d)], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "bad.json" in r.stderr and "python: required" in r.stderr


def test_no_single_build_when_the_pythons_share_no_torch(catalog):
    # no torch release has wheels for both CPython 3.8 (last: 2.4) and 3.14 (first: 2.9)
    old, new = dict(LOGIN, python="3.8"), dict(LOGIN, python="3.14")
    fleet = planning.plan_one(_classes(catalog, old=old, new=new))
    assert fleet.groups == () and fleet.refusal == "no single build runs on every node"
    assert any("does not run on CPU-only" in r for r in fleet.reasons)
    assert fleet.reasons[-1].startswith("plan with --groups")
    grouped = planning.plan_groups(_classes(catalog, old=old, new=new))
    assert sorted(g.nodes for g in grouped.groups) == [("new",), ("old",)]


def test_fleet_errors_are_json_envelopes_of_their_step(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "torchup", "fleet", "plan", str(tmp_path / "none"), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    doc = json.loads(r.stdout)
    assert r.returncode == 2 and doc["format"] == "torchup/fleet-plan" and doc["error"]["code"] == "usage"
    r = subprocess.run(
        [sys.executable, "-m", "torchup", "fleet", "verify", "--json"], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2 and json.loads(r.stdout)["format"] == "torchup/fleet-verify"


def test_a_thousand_nodes_of_four_kinds_are_judged_four_times(catalog):
    kinds = [V100, H100, LOGIN, MI300X]
    nodes = []
    for i in range(1000):
        data = json.loads(json.dumps(kinds[i % 4]))
        data["python"] = f"3.11.{i % 10}"
        data["python_executable"] = f"/home/u{i}/venv/bin/python"
        for g in data.get("gpus", []):
            g["uuid"] = f"GPU-{i}-{g.get('uuid')}"
        nodes.append((f"n{i:04d}", machine_from_dict(data)[0]))
    classes = planning.classify(nodes, Request(), catalog)
    assert sorted(len(c.nodes) for c in classes) == [250, 250, 250, 250]
    grouped = planning.plan_groups(classes)
    assert sum(len(g.nodes) for g in grouped.groups) == 1000 and len(grouped.groups) == 3


def test_groups_find_a_smaller_cover_than_the_greedy_one(catalog):
    # the textbook case: greedy takes S3 (four nodes) first and then needs S1 and S2 as well;
    # S1 + S2 alone serve every node
    b1, b2, b3 = [b for b in catalog.builds(os="linux", arch="x86_64") if b.kind == "cpu"][:3]
    rank = (0, 0, (2, 0), 2, True, False, True, (0,), "cpu")
    members = [(b1, {1, 2, 3}), (b2, {4, 5, 6}), (b3, {1, 2, 4, 5})]
    machine = machine_from_dict(LOGIN)[0]
    classes = []
    for n in range(1, 7):
        verdicts = {
            planning.build_key(b): Verdict(build=b, rejected=None if n in nodes else "no", rank=rank)
            for b, nodes in members
        }
        classes.append(planning.FleetClass(nodes=(f"n{n}",), machine=machine, verdicts=verdicts))
    fleet = planning.plan_groups(classes)
    assert sorted(g.nodes for g in fleet.groups) == [("n1", "n2", "n3"), ("n4", "n5", "n6")]
    assert {planning.build_key(g.build) for g in fleet.groups} == {planning.build_key(b1), planning.build_key(b2)}


def test_two_v100_kinds_are_both_named_as_forcing_the_build(catalog):
    # V100 nodes on two drivers are two kinds; leaving either out alone would change nothing
    v100_old = _nvidia("Tesla V100-SXM2-32GB", "7.0", "575.57.08")
    fleet = planning.plan_one(_classes(catalog, v1=V100, v2=v100_old, h1=H100, h2=H100))
    forced = [t for t in fleet.tradeoffs if " force" in t]
    assert [t.split(" force")[0] for t in forced] == [
        "the 8x Tesla V100-SXM2-32GB (driver 570.86.15) node (v1)",
        "the 8x Tesla V100-SXM2-32GB (driver 575.57.08) node (v2)",
    ]
    assert all("torch 2.15.0 cu130 would serve the other 2 nodes" in t and "sm_70" in t for t in forced)


# hostile machine-file directories: fleet plan answers with a plan or a clear error, never a bug
_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=10,
)
_machine_like = st.fixed_dictionaries(
    {
        "os": st.sampled_from(["linux", "windows", "macos", "plan9"]),
        "arch": st.sampled_from(["x86_64", "aarch64"]),
        "python": st.sampled_from(["3.11", "3.8", "3.14t", "2.7", "3.10"]),
    },
    optional={
        "gpus": st.lists(
            st.dictionaries(
                st.sampled_from(["vendor", "name", "compute_capability", "gfx"]),
                st.sampled_from(["nvidia", "amd", "7.0", "9.0", "gfx942", "", "x"]),
                max_size=4,
            ),
            max_size=3,
        ),
        "nvidia_driver": st.sampled_from(["550.54.14", "470.1", "999", "x"]),
        "libc": st.sampled_from(["glibc 2.17", "glibc 2.35", "musl 1.2.4"]),
        "python_implementation": st.sampled_from(["cpython", "pypy"]),
    },
)


@settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=30,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(files=st.lists(st.one_of(_machine_like, _values), min_size=1, max_size=5), groups=st.booleans())
def test_hostile_fleets_get_a_plan_or_a_clear_error(tmp_path_factory, files, groups):
    import contextlib
    import io

    from torchup.cli import main

    d = tmp_path_factory.mktemp("fleet")
    for i, data in enumerate(files):
        (d / f"n{i}.json").write_text(json.dumps(data))
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(["fleet", "plan", str(d), "--json", *(["--groups"] if groups else [])])
    doc = json.loads(out.getvalue())
    assert code in (0, 1, 2, 3), doc
    assert doc["format"] == "torchup/fleet-plan"
    if code == 2:
        assert doc["error"]["code"] in ("bad-input", "usage")


def test_a_written_plan_states_only_the_platform_its_nodes_share(tmp_path):
    # install refuses a plan made for another Python than the target: a plan for nodes of two
    # Pythons leaves its python out, and keeps what all of them share
    d = tmp_path / "machines"
    d.mkdir()
    for name, data in {"a": dict(LOGIN, python="3.11"), "b": dict(LOGIN, python="3.12")}.items():
        (d / f"{name}.json").write_text(json.dumps(data))
    plans = tmp_path / "plans"
    r = subprocess.run([sys.executable, "-m", "torchup", "fleet", "plan", str(d), "--write-plans", str(plans)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    written = json.loads((plans / "plan-1.json").read_text())
    assert (written["os"], written["arch"], written["python"]) == ("linux", "x86_64", None)
    assert json.loads((plans / "nodes.json").read_text()) == {"a": "plan-1.json", "b": "plan-1.json"}
