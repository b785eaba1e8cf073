"""Every rendering with hostile values (backslash, quotes, unicode, '#', '$', a line break in an
index URL or in the path of the target Python) reads back as exactly those values: TOML through
tomllib, requirements files the way pip reads them, shell lines by splitting them again."""

from __future__ import annotations

import re
import shlex
from torchup.record import replace

import pytest
from packaging.requirements import Requirement

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from torchup import render
from torchup.errors import UsageError
from torchup.plan import Plan
from torchup.render import conda, pip, pixi, poetry, requirements, uv
from torchup.render._common import extra_index_packages, index_name, pins

HOSTILE_URLS = [
    r"file:///C:\mirror\whl",
    'https://mirror.example/wh"l',
    "https://mirror.example/it's/whl",
    "https://mirror.example/ünïcödé/whl",
    "https://mirror.example/whl#frag",
    "https://mirror.example/$(touch pwned)/`id`/whl",
    "file:///C:/my mirror/%TEMP%/whl",
    'https://mirror.example/x"\n[[tool.uv.index]]\nname = "evil"\nurl = "https://evil.example',
    "https://mirror.example/line\nbreak",
]
HOSTILE_PYTHONS = [
    "/home/ana/my env/bin/python",
    '/home/ana/"quoted"/bin/python',
    "/home/ana/it's/bin/python",
    "/tmp/$(touch pwned)/`id`/python",
    "/tmp/ünï/#/python",
    "/tmp/new\nline/python",
    "/tmp/back\\slash/python",
]

PLANS = [
    Plan(torch="2.14.1+cu126", torchvision="0.29.1+cu126", torchaudio="2.9.1+cu126", variant="cu126", cuda="12.6",
         index_url="https://download.pytorch.org/whl/cu126", os="linux", arch="x86_64", python="3.12"),
    Plan(torch="2.14.1+rocm7.2", torchvision="0.29.1+rocm7.2", torchaudio=None, variant="rocm7.2", rocm="7.2",
         index_url="https://download.pytorch.org/whl/rocm7.2", os="linux", arch="x86_64", python="3.13t"),
    Plan(torch="2.14.1", torchvision="0.29.1", torchaudio=None, variant="pypi", os="macos", arch="aarch64",
         python="3.13"),
]


def _with_url(plan: Plan, url: str) -> Plan:
    return replace(plan, index_url=url) if plan.index_url else plan


def _toml(text: str) -> dict:
    # the fragments start with comments; tomllib must read the whole text
    return tomllib.loads(text)


# --- TOML -------------------------------------------------------------------------


@pytest.mark.parametrize("url", HOSTILE_URLS)
@pytest.mark.parametrize("base", PLANS, ids=lambda p: p.variant)
def test_uv_project_round_trips_through_tomllib(base, url):
    plan = _with_url(base, url)
    doc = _toml(uv.render_project([plan]))
    routed = pins(plan) + extra_index_packages(plan)
    assert doc["project"]["dependencies"] == routed
    if not plan.index_url:
        assert set(doc["tool"]["uv"]) == {"environments"}  # PyPI's build: no index, no source
        return
    assert doc["tool"]["uv"]["index"] == [{"name": index_name(plan), "url": url, "explicit": True}]
    assert doc["tool"]["uv"]["sources"] == {r.split("==")[0]: [{"index": index_name(plan)}] for r in routed}


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_poetry_project_round_trips_through_tomllib(url):
    linux = _with_url(PLANS[0], url)
    windows = replace(linux, os="windows", torch="2.11.0+cu130", variant="cu130", torchvision=None, index_url=url + "/cu130")
    doc = _toml(render.render_many([linux, windows, PLANS[2]], "poetry-project"))
    assert {s["name"]: s["url"] for s in doc["tool"]["poetry"]["source"]} == {index_name(linux): url,
                                                                              index_name(windows): url + "/cu130"}
    assert all(s["priority"] == "explicit" for s in doc["tool"]["poetry"]["source"])


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_uv_project_for_several_machines_round_trips(url):
    linux = _with_url(PLANS[0], url)
    windows = replace(linux, os="windows", python="3.12", torch="2.11.0+cu130", variant="cu130", cuda="13.0",
                      torchvision="0.26.0+cu130", torchaudio=None, index_url=url + "/cu130")
    cpu_node = replace(linux, torch="2.14.1+cpu", variant="cpu", cuda=None, torchvision="0.29.1+cpu", torchaudio=None,
                       index_url=url + "/cpu")
    mac = PLANS[2]
    for plans in ([linux, windows, mac], [linux, cpu_node, mac]):
        text = render.render_many(plans, "uv-project")
        doc = _toml(text)
        urls = {i["name"]: i["url"] for i in doc["tool"]["uv"]["index"]}
        assert urls == {index_name(p): p.index_url for p in plans if p.index_url}
        for entries in doc["tool"]["uv"]["sources"].values():
            assert all(e["index"] in urls for e in entries)


@pytest.mark.parametrize("base", PLANS[:1] + PLANS[2:], ids=lambda p: p.variant)  # conda-forge has no ROCm build
@pytest.mark.parametrize("python", ["3.12", "3.13t", "3.14"])
def test_pixi_round_trips_through_tomllib(base, python):
    plan = replace(base, python=python)
    doc = _toml(pixi.render(plan))
    build = conda.conda_forge_build(plan)
    assert doc["workspace"]["channels"] == ["conda-forge"]
    assert doc["dependencies"]["python"] == python.rstrip("t") + ".*"
    names = [re.split("==?", s, maxsplit=1)[0] for s in build.specs]
    assert list(doc["dependencies"])[1:] == names


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_pixi_pypi_route_round_trips_through_tomllib(url):
    plan = _with_url(PLANS[1], url)  # ROCm: conda-forge has no build, the wheel comes from the index
    doc = _toml(pixi.render(plan))
    assert {name: dep["index"] for name, dep in doc["pypi-dependencies"].items()} == \
        {name.split("==")[0]: url for name in pins(plan) + extra_index_packages(plan)}


# --- requirements ---------------------------------------------------------------------


def _pip_read(text: str) -> tuple[list[str], list[Requirement]]:
    """A requirements file read as pip reads it (pip/_internal/req/req_file.py): drop
    comments (``#`` at the start or after whitespace), then split an option line like a
    POSIX shell; every other line is a PEP 508 requirement."""
    options, reqs = [], []
    for line in text.splitlines():
        line = re.sub(r"(^|\s+)#.*$", "", line).strip()
        if not line:
            continue
        if line.startswith("-"):
            options += shlex.split(line)
        else:
            reqs.append(Requirement(line))
    return options, reqs


@pytest.mark.parametrize("url", HOSTILE_URLS)
@pytest.mark.parametrize("base", PLANS, ids=lambda p: p.variant)
def test_requirements_read_back_or_are_refused(base, url):
    plan = _with_url(base, url)
    if plan.index_url and ("\n" in url or re.search(r"\s#", url)):
        with pytest.raises(UsageError, match="cannot carry the index URL"):
            requirements.render(plan)
        return
    options, reqs = _pip_read(requirements.render(plan))
    assert options == (["--index-url", url] if plan.index_url else [])
    assert [str(r) for r in reqs] == pins(plan)


@pytest.mark.parametrize("url", ["https://m.example/${HOME}/whl", "https://m.example/a #b/whl"])
def test_requirements_refuse_what_pip_would_rewrite(url):
    with pytest.raises(UsageError, match="cannot carry the index URL"):
        requirements.render(replace(PLANS[0], index_url=url))


def test_plain_index_urls_stay_unquoted_for_uv_too():
    # uv's requirements parser takes the value up to whitespace: the usual URL is written bare
    assert "--index-url https://download.pytorch.org/whl/cu126\n" in requirements.render(PLANS[0])


# --- POSIX shell commands ----------------------------------------------------------


@pytest.mark.parametrize("url", HOSTILE_URLS)
@pytest.mark.parametrize("python", HOSTILE_PYTHONS)
def test_pip_and_uv_commands_split_back_to_their_argv(python, url):
    plan = _with_url(PLANS[0], url)
    for module in (pip, uv):
        assert shlex.split(module.render(plan, python=python)) == module.argv(plan, python=python)


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_poetry_commands_split_back(url):
    plan = _with_url(PLANS[1], url)
    name = index_name(plan)
    first = ["poetry", "source", "add", "--priority=explicit", name, url]
    second = ["poetry", "add", "--source", name, *pins(plan), "pytorch-triton-rocm>=0"]
    text = poetry.render(plan)
    assert shlex.split(text) == first + second  # the two lines, each argument intact
    assert shlex.split(text.split("\npoetry add ", 1)[0]) == first


@pytest.mark.parametrize("tool", ["conda", "mamba", "micromamba"])
def test_conda_commands_split_back(tool):
    plan = PLANS[0]
    expected = [tool, "install", "--override-channels", "-c", "conda-forge", *conda.conda_forge_build(plan).specs]
    assert shlex.split(conda.render(plan, tool=tool)) == expected


def test_render_all_reports_a_refusal_per_format_instead_of_failing():
    plan = replace(PLANS[0], index_url="https://m.example/line\nbreak")
    out = render.render_all(plan, python="/usr/bin/python3")
    assert out["requirements"]["text"] is None and "cannot carry" in out["requirements"]["error"]
    assert _toml(out["uv-project"]["text"])["tool"]["uv"]["index"][0]["url"] == plan.index_url


# --- the stack around torch (Plan.stack) ---------------------------------------------

_SOURCES = ("index_url", "find_links", "url")
_UNWRITABLE = re.compile(r"[\s\"'\\`]|\$\{")  # what a requirement cannot carry bare: refused


def _stack_plan(base: Plan, source: str, url: str) -> Plan:
    from torchup.plan import StackPin

    pin = StackPin(name="torch-scatter", version="2.1.2+pt27cu126", **{source: url})
    return replace(base, stack=(pin,))


@pytest.mark.parametrize("url", HOSTILE_URLS + ["https://m.example/${HOME}/whl", "https://m.example/a b.whl"])
@pytest.mark.parametrize("source", _SOURCES)
@pytest.mark.parametrize("base", PLANS, ids=lambda p: p.variant)
def test_a_stack_source_reads_back_in_every_format_or_is_refused_in_all(base, source, url):
    plan = _stack_plan(base, source, url)
    out = render.render_all(plan, python="/usr/bin/python3")
    if _UNWRITABLE.search(url) or not url.startswith(("https://", "file://")):
        for fmt, entry in out.items():
            assert entry["text"] is None, fmt
        assert "cannot be written into a requirement" in out["pip"]["error"]
        return
    # commands: every line splits back to its argv, the URL intact
    for module in (pip, uv):
        lines = module.render(plan, python="/usr/bin/python3").splitlines()
        assert [shlex.split(line) for line in lines] == module.argvs(plan, python="/usr/bin/python3")
    words = [w for line in pip.render(plan).splitlines() for w in shlex.split(line)]
    if source == "url":
        assert Requirement(words[-1]).url == url and Requirement(words[-1]).name == "torch-scatter"
    else:
        assert url in words and "torch-scatter==2.1.2+pt27cu126" in words
    # TOML: the URL is where the format keeps it
    doc = _toml(out["uv-project"]["text"])
    if source == "url":
        assert f"torch-scatter @ {url}" in doc["project"]["dependencies"]
    elif source == "find_links" or url != plan.index_url:
        assert {"name": "torch-scatter-" + ("links" if source == "find_links" else "index"), "url": url} in [
            {k: v for k, v in i.items() if k in ("name", "url")} for i in doc["tool"]["uv"]["index"]
        ]
    pixi_deps = _toml(out["pixi"]["text"])["pypi-dependencies"]["torch-scatter"]
    assert pixi_deps.get("url", pixi_deps.get("index")) == (url if source != "find_links" else None)
    poetry_doc = _toml(out["poetry-project"]["text"])
    if source != "url":
        assert url in [s["url"] for s in poetry_doc["tool"]["poetry"]["source"]]
    # a requirements file: read as pip reads it, or refused when the stack needs two indexes
    text = out["requirements"]["text"]
    if text is None:
        assert plan.index_url or source == "index_url"
        return
    options, reqs = _pip_read(text)
    if source == "find_links":
        assert options[-2:] == ["--find-links", url]
    assert str(reqs[-1]) == render._stack.requirement(plan.stack[0])


@pytest.mark.parametrize("field, value", [
    ("name", "x; rm -rf /"),
    ("name", "x\n--index-url https://evil.example"),
    ("name", "torch-scatter ; python_version > '0'"),
    ("version", "2.1.2 ; os_name == 'nt'"),
    ("version", "2.1.2\n--extra-index-url https://evil.example"),
    ("version", ">=0"),
])
def test_a_stack_name_or_version_that_is_not_one_is_refused_by_every_format(field, value):
    from torchup.plan import StackPin

    pin = replace(StackPin(name="torch-scatter", version="2.1.2"), **{field: value})
    plan = replace(PLANS[0], stack=(pin,))
    for fmt, entry in render.render_all(plan, python="/usr/bin/python3").items():
        assert entry["text"] is None, fmt
        error = entry["error"]
        assert ("in the plan's stack" in error and "is not a" in error) or "cannot install this stack" in error, fmt
