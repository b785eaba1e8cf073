"""`torchup site`: the selector space (fast checks; the page itself is tested in a browser, slow)."""

from __future__ import annotations

import json
import subprocess
import sys

from torchup.catalog import hardware
from torchup.catalog.load import load_catalog
from torchup.machine import machine_from_dict
from torchup.site import APPLE, EXTRA_GPUS, PLATFORMS, driver_choices, gpu_choices, machine_data


def test_every_gpu_offered_is_known_to_the_database():
    gpus = gpu_choices()
    names = {g["name"] for g in gpus}
    assert set(EXTRA_GPUS) <= names  # none of the newer models silently dropped
    assert {"GeForce GTX 1080 Ti", "GeForce RTX 4090", "Tesla V100 PCIe 16GB", APPLE} <= names
    for g in gpus:
        model = hardware.gpu_by_name(g["name"])
        assert (model is None) == (g["name"] == APPLE) and (model is None or model.vendor == g["vendor"])


def test_models_share_a_class_only_when_the_resolver_cannot_tell_them_apart():
    by_name = {g["name"]: g for g in gpu_choices()}
    assert by_name["GeForce RTX 4090"]["class"] == by_name["L40S"]["class"]  # both sm_89, discrete
    assert by_name["GeForce RTX 4090"]["class"] != by_name["GeForce RTX 3090"]["class"]  # sm_89, sm_86
    assert by_name["Jetson AGX Orin"]["class"] != by_name["A100-SXM4-80GB"]["class"]
    assert by_name["Jetson AGX Orin"]["jetson"] and not by_name["GH200"]["jetson"]
    assert by_name["Radeon RX 7900 XTX"]["class"] != by_name["Instinct MI300X"]["class"]


def test_driver_choices_are_the_floors_of_the_platforms_toolkits():
    catalog = load_catalog(use_cache=False)
    linux = driver_choices(catalog, "linux-x86_64")
    assert linux[:2] == ["unknown", "none"]
    full, compat = hardware.driver_floor("12.6", "linux").full, hardware.driver_floor("12.6", "linux").compat
    assert full in linux and compat in linux
    assert hardware.driver_floor("11.8", "linux").compat in linux
    # no aarch64 build uses CUDA 11: its floor cannot change an answer there
    assert hardware.driver_floor("11.8", "linux").compat not in driver_choices(catalog, "linux-aarch64")
    windows = driver_choices(catalog, "windows-x86_64")
    assert hardware.driver_floor("12.6", "windows").full in windows and "560.28.03" not in windows


def test_each_point_is_a_valid_machine_file():
    gpu = {"name": "GeForce GTX 1080 Ti", "vendor": "nvidia"}
    for platform in PLATFORMS:
        for driver in ("unknown", "none", "550.54.14"):
            machine, warnings = machine_from_dict(machine_data(platform, gpu, driver, "3.12"))
            assert warnings == [] and machine.os == PLATFORMS[platform][0]
    assert machine_data("linux-x86_64", gpu, "none", "3.12")["gpus"][0]["driver_loaded"] is False
    assert machine_data("linux-x86_64", gpu, "550.54.14", "3.12")["nvidia_driver"] == "550.54.14"
    assert "gpus" not in machine_data("linux-x86_64", None, "unknown", "3.12")


def test_bad_folder_is_a_clear_error(clean_env, tmp_path):
    afile = tmp_path / "file"
    afile.write_text("x")
    run = lambda *a: subprocess.run([sys.executable, "-m", "torchup", "site", *a], env=clean_env,  # noqa: E731
                                    capture_output=True, text=True, timeout=60)
    out = run(str(afile))
    assert out.returncode == 2 and "is not a folder" in out.stderr and "Traceback" not in out.stderr
    out = run(str(afile), "--json")
    assert out.returncode == 2 and json.loads(out.stdout)["error"]["code"] == "usage"
    assert afile.read_text() == "x"
    out = run(str(tmp_path / "new"), "--workers", "0")
    assert out.returncode == 2 and "--workers 0" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "new").exists()


def test_remembered_co_resolve_answers_as_resolve_alone():
    """The page's answers, with co_resolve's answers kept by the task's stack catalog, are the
    resolver's own on a fresh catalog (nothing remembered), point by point."""
    from datetime import date

    from torchup.catalog.stack import load_stack
    from torchup.record import replace
    from torchup.resolve import resolve
    from torchup.site import _answer, _requests, _solve, _Task

    by_name = {g["name"]: g for g in gpu_choices()}
    drivers = ("unknown", "none", "525.60.13", "570.26")
    gpus = ((by_name["GeForce GTX 1080 Ti"], drivers), (by_name["GeForce RTX 3090"], drivers), (None, ("unknown",)))
    task = _Task(platform="linux-x86_64", python="3.10", gpus=gpus, packages=("vllm", "flash-attn", "torch-scatter"),
                 catalog=load_catalog(use_cache=False), stack=load_stack(), today=date(2026, 12, 3))
    solved = _solve(task)
    assert task.stack.answers  # the repeated questions were answered from it
    requests = _requests(task.packages)
    assert len(requests) == 4 + 3 and requests[5].with_packages == ("flash-attn",)
    for g, (gpu, gpu_drivers) in enumerate(task.gpus):
        for d, driver in enumerate(gpu_drivers):
            machine, _ = machine_from_dict(machine_data(task.platform, gpu, driver, task.python))
            for r, request in enumerate(requests):
                fresh = replace(load_stack())  # a new stack catalog: its answers start empty
                assert fresh is not task.stack and not fresh.answers
                alone = resolve(machine, request, task.catalog, today=task.today, stack=fresh)
                assert solved[g][d][r] == _answer(alone, gpu["name"] if gpu else None), (gpu, driver, request)
    # the packages are in the answers: pinned in a title, or a refusal that names them
    assert any("torch-scatter" in solved[g][d][6][1] for g in range(3) for d in range(len(solved[g])))
    assert any(not solved[g][d][4][0] and "vllm" in solved[g][d][4][1] for g in range(3) for d in range(len(solved[g])))


def test_the_page_does_not_depend_on_the_number_of_workers():
    """Two processes number the texts and answers as one does: the same page, byte for byte."""
    from datetime import date

    from torchup.catalog.stack import load_stack
    from torchup.site import _answers

    catalog, stack = load_catalog(use_cache=False), load_stack()
    gpus = [g for g in gpu_choices() if g["name"] in ("Jetson AGX Orin", "Radeon RX 7900 XTX", "Arc B580")]
    one = _answers(catalog, gpus, date(2026, 12, 3), stack=stack, packages=("xformers",), workers=1)
    two = _answers(catalog, gpus, date(2026, 12, 3), stack=stack, packages=("xformers",), workers=2)
    assert json.dumps(one) == json.dumps(two)
    table, points = one
    assert points == sum(len(r) for p in table["table"].values() for c in p.values() for d in c for r in d)
    assert all(len(row) == 5 for p in table["table"].values() for c in p.values() for d in c for row in d)
    assert all(len(d) == 5 for p in table["table"].values() for c in p.values() for d in c)  # the Pythons
