"""catalog.model helpers and catalog.load: parsing, round trip, cache precedence."""

from __future__ import annotations

import json
from torchup.record import replace
from datetime import date

import pytest

from torchup.catalog.load import (
    cache_dir,
    cache_path,
    cache_text,
    cache_text,
    catalog_from_dict,
    catalog_to_dict,
    embedded_id,
    embedded_id,
    embedded_path,
    load_catalog,
    read_catalog_file,
)
from torchup.catalog.model import (
    cc_tuple,
    parse_arch,
    parse_arch_list,
    platform_floor,
    python_tag,
    variant_kind,
    version_tuple,
)
from torchup.errors import InputError


@pytest.mark.parametrize("text,want", [
    ("sm_86", ("8.6", False)), ("compute_120", ("12.0", True)), ("8.6+PTX", ("8.6", True)),
    ("sm_90a", ("9.0a", False)), ("86", ("8.6", False)), ("12.0", ("12.0", False)), ("sm_100f", ("10.0f", False)),
    ("sm_37", ("3.7", False)),
])
def test_parse_arch(text, want):
    assert parse_arch(text) == want


@pytest.mark.parametrize("bad", ["", "gfx90a", "sm_", "8", "compute", "sm_8.6.1"])
def test_parse_arch_rejects(bad):
    with pytest.raises(ValueError):
        parse_arch(bad)


def test_parse_arch_list_forms():
    assert parse_arch_list("7.5;8.0;12.0+PTX") == (("7.5", "8.0", "12.0"), ("12.0",))
    assert parse_arch_list("sm_75 sm_80 compute_90") == (("7.5", "8.0"), ("9.0",))
    assert parse_arch_list("3.7;5.0;6.0;7.0;7.5;8.0;8.6;9.0")[0][-1] == "9.0"
    assert parse_arch_list("10.0;9.0;8.0") == (("8.0", "9.0", "10.0"), ())
    assert cc_tuple("9.0a") == (9, 0) and cc_tuple("12.1") == (12, 1)


@pytest.mark.parametrize("tag,want", [
    ("manylinux_2_28_x86_64", ("linux", "x86_64", (2, 28))),
    ("manylinux1_x86_64", ("linux", "x86_64", (2, 5))),
    ("manylinux2014_aarch64", ("linux", "aarch64", (2, 17))),
    ("linux_x86_64", ("linux", "x86_64", None)),
    ("musllinux_1_2_aarch64", ("linux-musl", "aarch64", (1, 2))),
    ("macosx_14_0_arm64", ("macos", "aarch64", (14, 0))),
    ("macosx_10_9_x86_64", ("macos", "x86_64", (10, 9))),
    ("win_amd64", ("windows", "x86_64", None)),
    ("win_arm64", ("windows", "aarch64", None)),
])
def test_platform_floor(tag, want):
    assert platform_floor(tag) == want


def test_platform_floor_unknown():
    with pytest.raises(ValueError):
        platform_floor("solaris_sparc")


def test_small_helpers():
    assert python_tag("3.13", True) == "cp313t" and python_tag("3.12.4") == "cp312" and python_tag("3.14t") == "cp314t"
    assert version_tuple("550.54.14") == (550, 54, 14) and version_tuple("2.5.1+cu124") == (2, 5, 1)
    assert [variant_kind(v) for v in ("cu126", "rocm6.2.4", "xpu", "cpu")] == ["cuda", "rocm", "xpu", "cpu"]


def test_round_trip_is_lossless():
    data = json.loads(embedded_path().read_text())
    cat = catalog_from_dict(data)
    again = catalog_to_dict(cat)
    assert catalog_from_dict(again) == cat
    assert again["releases"] == data["releases"]
    assert again["platforms"] == data["platforms"] and cat.platforms


def test_builds_query():
    cat = load_catalog(use_cache=False)
    got = cat.builds(os="linux", arch="x86_64", python="cp313t")
    assert got and all(b.wheel_for("cp313t") for b in got)
    assert got[0].torch == "2.12.0"  # newest first; 2.12.1 dropped free-threaded 3.13
    assert cat.builds(os="linux", arch="x86_64")[0].torch == cat.newest().version
    assert {b.torch for b in cat.builds(os="linux", arch="x86_64", torch="2.5.1+cu124")} == {"2.5.1"}
    assert {b.variant for b in cat.builds(os="windows", arch="x86_64", variant="xpu")} == {"xpu"}
    assert cat.builds(os="linux", arch="riscv64") == []
    assert cat.release("2.5.1+cu121").version == "2.5.1" and cat.release("9.9.9") is None


def test_age_and_staleness():
    cat = load_catalog(use_cache=False)
    d = date.fromisoformat(cat.data_date)
    assert cat.age_days(d) == 0 and not cat.is_stale(d)
    later = date.fromordinal(d.toordinal() + 61)
    assert cat.age_days(later) == 61 and cat.is_stale(later)


@pytest.mark.parametrize("mutate,word", [
    (lambda d: d.update(format=99), "format"),
    (lambda d: d.pop("releases"), "releases"),
    (lambda d: d["releases"][3].pop("version"), "releases[3]"),
    (lambda d: d["releases"][0]["builds"][0].update(wheels=5), "releases[0]"),
    (lambda d: d["platforms"][1].pop("note"), "platforms[1]"),
    (lambda d: d.update(platforms=[7]), "platforms[0]"),
])
def test_malformed_data_is_an_input_error(mutate, word):
    data = json.loads(embedded_path().read_text())
    mutate(data)
    with pytest.raises(InputError) as err:
        catalog_from_dict(data, origin="x.json")
    assert word in err.value.message


def test_cache_dir_from_env(tmp_path):
    assert cache_dir({"TORCHUP_CACHE_DIR": str(tmp_path)}) == tmp_path
    assert cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "torchup"
    assert cache_dir({"HOME": str(tmp_path)}) == tmp_path / ".cache" / "torchup"


def _write_cache(env, catalog, **changes):
    path = cache_path(env)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(cache_text(replace(catalog, **changes)))  # as `catalog refresh` writes it
    return path


def test_newer_cache_is_used_older_ignored_broken_warned(tmp_path):
    env = {"TORCHUP_CACHE_DIR": str(tmp_path)}
    embedded = load_catalog(use_cache=False)
    assert load_catalog(env).origin == "embedded"  # no cache yet
    newer = date.fromordinal(date.fromisoformat(embedded.data_date).toordinal() + 3).isoformat()
    path = _write_cache(env, embedded, data_date=newer, releases=embedded.releases[:-1])
    got = load_catalog(env)
    assert got.origin == str(path) and got.data_date == newer and got.newest().version != embedded.newest().version
    older = date.fromordinal(date.fromisoformat(embedded.data_date).toordinal() - 3).isoformat()
    _write_cache(env, embedded, data_date=older)
    assert load_catalog(env).origin == "embedded"
    path.write_text('{"format": 1, "data_date": "2030-01-01", "releases": [')
    got = load_catalog(env)
    assert got.origin == "embedded" and got.warnings and "ignored" in got.warnings[0]
    with pytest.raises(InputError):
        read_catalog_file(path)


def test_a_cache_learnt_on_top_of_another_torchups_catalog_is_not_taken(tmp_path):
    """A refresh made by an older torchup would hide the facts this one ships (corrections,
    sources, platform notes) behind a same-day or newer date: it is ignored, and said when newer."""
    env = {"TORCHUP_CACHE_DIR": str(tmp_path)}
    embedded = load_catalog(use_cache=False)
    newer = date.fromordinal(date.fromisoformat(embedded.data_date).toordinal() + 3).isoformat()
    path = _write_cache(env, embedded, data_date=newer)
    assert load_catalog(env).origin == str(path)
    for other in (
        path.read_text().replace(f'"made_from":"{embedded_id()}"', '"made_from":"1:00000000"'),
        # as a refresh wrote it before made_from existed
        json.dumps(catalog_to_dict(replace(embedded, data_date=newer)), separators=(",", ":")),
    ):
        path.write_text(other)
        got = load_catalog(env)
        assert got.origin == "embedded" and got.data_date == embedded.data_date
        assert "another torchup's catalog" in got.warnings[0] and "torchup catalog refresh" in got.warnings[0]
    # made the same day as this torchup's data (the case that hid new facts): ignored, nothing to warn of
    _write_cache(env, embedded)
    path.write_text(path.read_text().replace(f'"made_from":"{embedded_id()}"', '"made_from":"1:00000000"'))
    got = load_catalog(env)
    assert got.origin == "embedded" and not got.warnings


def test_a_cache_learnt_on_top_of_another_torchups_catalog_is_not_taken(tmp_path):
    """A refresh made by an older torchup would hide the facts this one ships (corrections,
    sources, platform notes) behind a same-day or newer date: it is ignored, and said."""
    env = {"TORCHUP_CACHE_DIR": str(tmp_path)}
    embedded = load_catalog(use_cache=False)
    newer = date.fromordinal(date.fromisoformat(embedded.data_date).toordinal() + 3).isoformat()
    path = _write_cache(env, embedded, data_date=newer)
    assert load_catalog(env).origin == str(path)
    for other in (
        path.read_text().replace(f'"made_from":"{embedded_id()}"', '"made_from":"1:00000000"'),
        json.dumps(catalog_to_dict(replace(embedded, data_date=newer))),  # written before made_from existed
    ):
        path.write_text(other)
        got = load_catalog(env)
        assert got.origin == "embedded" and got.data_date == embedded.data_date
        assert "another torchup's catalog" in got.warnings[0] and "torchup catalog refresh" in got.warnings[0]


@pytest.mark.parametrize("text, expected", [
    ("[" * 100_000 + "]" * 100_000, "nested over 16 deep"),
    ('{"format": 1, "data_date": "2030-01-01", "releases": [{"version": "2.%s"}]}' % ("9" * 5000),
     "releases[0].version: a number of over 100 digits"),
    ('{"format": 1, "data_date": "2030-01-01", "sources": {"a": %s}, "releases": [{"version": "2.1"}]}' % ("9" * 5000),
     "sources.a: an integer of 5000 digits"),
    ('{"format": 1, "data_date": "2030-01-01", "releases": [{"version": 5}]}', "version is not a string"),
    ('{"format": 1, "data_date": "2030-01-01", "releases": [{"version": "2.1", "builds": '
     '[{"variant": "cpu", "os": "linux", "arch": "x86_64", "cuda": 7}]}]}', "cuda is not a string"),
])
def test_a_hostile_cache_is_ignored_with_a_warning(tmp_path, text, expected):
    env = {"TORCHUP_CACHE_DIR": str(tmp_path)}
    cache_path(env).parent.mkdir(parents=True, exist_ok=True)
    # a cache that says it was learnt on top of this torchup's catalog: the bounded parser judges it
    cache_path(env).write_text(text.replace('"data_date": "2030-01-01"', f'"data_date": "2030-01-01", "made_from": "{embedded_id()}"'))
    got = load_catalog(env)
    assert got.origin == "embedded" and expected in got.warnings[0]
