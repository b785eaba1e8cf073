"""`torchup site`: the page in a real headless Chromium (Debian's `chromium`, driven over the
DevTools protocol) answers exactly what `torchup plan --machine` answers for the same inputs.

Slow: writing the page resolves every point of the selector space (docs/site.md)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cdp import Browser, chromium_path

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

# platform, GPU (None: no GPU), NVIDIA driver ("unknown", "none" or a version), Python, manager, torchvision,
# torchaudio, and the package chosen with torch (`plan --with`; None: none)
COMBINATIONS = [
    ("linux-x86_64", "GeForce GTX 1080 Ti", "525.60.13", "3.12", "pip", True, True),
    ("linux-x86_64", "GeForce RTX 4090", "unknown", "3.13", "uv", True, False),
    ("windows-x86_64", "GeForce RTX 5090", "570.65", "3.12", "pip", False, False),
    ("linux-x86_64", "Radeon RX 7900 XTX", None, "3.12", "pip", True, True),
    ("linux-aarch64", "GH200", "580.65.06", "3.12", "uv", True, True),
    ("linux-aarch64", "Jetson AGX Orin", "595.45.04", "3.10", "pip", True, True),
    ("macos-aarch64", "Apple silicon GPU (M1 or later)", None, "3.11", "pip", True, True),
    ("linux-x86_64", None, None, "3.10", "conda", True, True),
    ("linux-x86_64", "Tesla K80", "450.80.02", "3.10", "pip", True, True),
    ("windows-x86_64", "Arc B580", None, "3.14", "poetry", True, False),
    ("linux-x86_64", "GeForce RTX 3090", "none", "3.12", "pip", True, True),
    ("windows-x86_64", "GeForce GTX 1080 Ti", "528.33", "3.14", "uv", False, True),
    ("linux-x86_64", "Tesla V100 PCIe 16GB", "515.43.04", "3.11", "conda", True, True),
]
COMBINATIONS = [(*c, None) for c in COMBINATIONS] + [
    ("linux-x86_64", "GeForce RTX 4090", "575.51.03", "3.12", "pip", True, True, "xformers"),
    ("linux-x86_64", "GeForce RTX 3090", "550.54.14", "3.11", "uv", True, True, "flash-attn"),
    ("linux-x86_64", None, None, "3.10", "pip", True, True, "vllm"),
    ("windows-x86_64", "GeForce GTX 1080 Ti", "528.33", "3.12", "pip", True, True, "torch-scatter"),
    ("macos-aarch64", "Apple silicon GPU (M1 or later)", None, "3.12", "uv", True, True, "torchcodec"),
    ("linux-x86_64", "Radeon RX 7900 XTX", None, "3.12", "conda", True, True, "pyg-lib"),
]
PLATFORM = {
    "linux-x86_64": ("linux", "x86_64"),
    "linux-aarch64": ("linux", "aarch64"),
    "windows-x86_64": ("windows", "x86_64"),
    "macos-aarch64": ("macos", "aarch64"),
}
VENDOR = {"GeForce": "nvidia", "Tesla": "nvidia", "GH200": "nvidia", "Jetson": "nvidia", "Radeon": "amd",
          "Arc": "intel", "Apple": "apple"}


def torchup(env, *args, timeout=900):
    return subprocess.run([sys.executable, "-m", "torchup", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    base = {k: v for k, v in os.environ.items() if not k.startswith("TORCHUP_")}
    cache = tmp_path_factory.mktemp("cache")
    return dict(base, NO_COLOR="1", TORCHUP_CACHE_DIR=str(cache), XDG_CACHE_HOME=str(cache), HOME=str(cache))


@pytest.fixture(scope="module")
def page(env, tmp_path_factory):
    if chromium_path() is None:
        # .ci/run installs Debian's chromium, so in CI its absence is a failure; elsewhere (the README's
        # test command on a machine without a browser, which needs root to add) the reason is shown
        missing = "chromium is not installed: `apt-get install -y chromium` (.ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)
    folder = tmp_path_factory.mktemp("site")
    out = torchup(env, "site", str(folder / "out"), "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    facts = json.loads(out.stdout)
    assert facts["format"] == "torchup/site" and Path(facts["path"]).name == "index.html"
    path = Path(facts["path"])
    with Browser(path.as_uri(), folder / "profile") as browser:
        browser.wait_for("document.getElementById('answer-title').textContent.length > 0")
        yield browser, facts, path


def _machine_file(platform, gpu, driver, python) -> dict:
    """The machine the inputs describe, written as a person would (docs/machine-file.md)."""
    os_, arch = PLATFORM[platform]
    data = {"os": os_, "arch": arch, "python": python}
    if gpu is not None:
        entry = {"vendor": VENDOR[gpu.split()[0]], "name": gpu}
        if driver == "none":
            entry["driver_loaded"] = False
        elif driver not in (None, "unknown"):
            data["nvidia_driver"] = driver
        data["gpus"] = [entry]
    return data


def _select(browser, platform, gpu, driver, python, manager, tv, ta, package=None) -> dict:
    """Set the inputs as a user does (each change fires the event the page listens to); what the page shows."""
    script = f"""(() => {{
      const $ = id => document.getElementById(id);
      const set = (id, value, kind) => {{ $(id).value = value; $(id).dispatchEvent(new Event(kind || "change")); }};
      set("package", "");
      set("platform", {json.dumps(platform)});
      set("gpu-search", {json.dumps(gpu or "")}, "input");
      const want = {json.dumps(gpu or "No GPU (CPU only)")};
      const option = Array.from($("gpu").options).find(o => o.text === want);
      if (!option) return {{missing: want}};
      set("gpu", option.value);
      if ({json.dumps(driver not in (None,))}) set("driver", {json.dumps(driver or "unknown")});
      set("python", {json.dumps(python)});
      set("manager", {json.dumps(manager)});
      $("torchvision").checked = {json.dumps(tv)}; $("torchvision").dispatchEvent(new Event("change"));
      $("torchaudio").checked = {json.dumps(ta)}; $("torchaudio").dispatchEvent(new Event("change"));
      const companionsFree = !$("torchvision").disabled && !$("torchaudio").disabled;
      set("package", {json.dumps(package or "")});
      if ($("package").value !== {json.dumps(package or "")}) return {{missing: {json.dumps(package)}}};
      const items = id => Array.from($(id).querySelectorAll("li")).map(li => li.textContent);
      return {{title: $("answer-title").textContent, command: $("command-box").hidden ? null : $("command").textContent,
               reasons: items("reasons"), warnings: items("warnings"), driverEnabled: !$("driver").disabled,
               companionsFree, companionsLocked: $("torchvision").disabled && $("torchaudio").disabled
                 && $("torchvision").checked && $("torchaudio").checked}};
    }})()"""
    return browser.evaluate(script)


def test_the_page_answers_what_plan_answers(page, env, tmp_path):
    browser, _, _ = page
    assert len(COMBINATIONS) >= 10
    assert sum(1 for c in COMBINATIONS if c[-1]) >= 3
    for combo in COMBINATIONS:
        platform, gpu, driver, python, manager, tv, ta, package = combo
        shown = _select(browser, *combo)
        assert "missing" not in shown, shown
        assert shown["driverEnabled"] == (driver is not None), combo
        # without a package the companions are the user's to choose; with one, both are in (as `plan --with`)
        assert shown["companionsFree"] and shown["companionsLocked"] == (package is not None), combo
        machine = tmp_path / "machine.json"
        machine.write_text(json.dumps(_machine_file(platform, gpu, driver, python)))
        args = ["plan", "--machine", str(machine), "--manager", manager, "--json"]
        args += [] if tv else ["--no-torchvision"]
        args += [] if ta else ["--no-torchaudio"]
        args += ["--with", package] if package else []
        out = torchup(env, *args, timeout=120)
        plan = json.loads(out.stdout)
        if out.returncode == 3:
            assert shown["command"] is None, combo
            assert shown["reasons"] == plan["error"]["reasons"], combo
            continue
        assert out.returncode == 0, out.stdout + out.stderr
        command = plan["commands"][manager]
        if command is None:  # the page says why, in the renderer's words
            assert shown["command"] == f"No {manager} command: {plan['renderings'][manager]['error']}", combo
        else:
            assert shown["command"] == command, combo
        assert shown["reasons"] == plan["reasons"], combo
        assert shown["warnings"] == plan["warnings"], combo
        assert shown["title"].startswith(f"torch {plan['torch'].split('+')[0]}, "), combo
        for pin in plan["stack"]:  # the package chosen, with the version plan pins
            assert f"{pin['name']} {pin['version']}" in shown["title"], combo
        assert [p["name"] for p in plan["stack"]] == ([package] if package else []), combo


def test_keyboard_search_and_phone_width(page, tmp_path):
    browser, facts, _ = page
    browser.evaluate("document.getElementById('platform').focus()")
    # Tab order: platform, manager, search; type into the search box, arrow into the list
    browser.key("Tab", vk=9)
    browser.key("Tab", vk=9)
    assert browser.evaluate("document.activeElement.id") == "gpu-search"
    browser.type("1080 ti")
    assert browser.wait_for("document.getElementById('gpu-count').textContent.includes('match')")
    browser.key("Tab", vk=9)
    assert browser.evaluate("document.activeElement.id") == "gpu"
    browser.key("ArrowDown", vk=40)
    assert "GTX 1080 Ti" in browser.evaluate("document.getElementById('gpu').selectedOptions[0].text")
    assert browser.evaluate("!document.getElementById('driver').disabled")
    # every control has a label a screen reader reads
    unlabelled = browser.evaluate(
        "Array.from(document.querySelectorAll('select, input')).filter(e => !e.labels || !e.labels.length).map(e => e.id)"
    )
    assert unlabelled == []
    # a phone's width: nothing but the matrix's own scroll boxes is wider than the screen
    browser.call("Emulation.setDeviceMetricsOverride", width=375, height=800, deviceScaleFactor=1, mobile=True)
    assert browser.evaluate("document.documentElement.scrollWidth") <= 375
    shot = tmp_path / "phone.png"
    browser.screenshot(shot, width=375, height=800)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_screenshot_for_the_docs(page, tmp_path):
    """The picture docs/site.md shows: set TORCHUP_DOCS_SCREENSHOT=docs/site.png to write it there."""
    browser, _, _ = page
    browser.call("Emulation.clearDeviceMetricsOverride")
    shown = _select(browser, "linux-x86_64", "GeForce GTX 1080 Ti", "550.54.14", "3.12", "pip", True, True)
    assert shown["title"].startswith("torch 2.14.1")
    shot = tmp_path / "site.png"
    browser.screenshot(shot, width=1100, height=1500)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    target = os.environ.get("TORCHUP_DOCS_SCREENSHOT")
    if target:
        shutil.copyfile(shot, target)


def test_the_page_is_self_contained(page):
    _, facts, path = page
    text = path.read_text()
    # nothing to fetch: no external script, style, image or font
    for needle in ("src=\"http", "href=\"http", "url(http", "@import", "<link"):
        assert needle not in text, needle
    assert facts["bytes"] == len(text.encode()) and facts["points"] > 10_000
