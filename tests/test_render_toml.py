"""torchup's TOML writer (``torchup.render._toml``) against a reference writer and a reader.

It replaced tomli-w on the renderers' path (issue 15: tomli-w imports ``datetime``); the layout
was kept, so the renderings did not change.  Proven here three ways:
- on every document the renderers write for the golden machines and the hostile values of
  test_render_hostile, its text is tomli-w's (``indent=2``), character for character;
- on generated documents (hostile keys and strings, nesting, lists of tables short and long),
  the same, and ``tomllib`` reads the text back as the data;
- values TOML cannot hold, or that it does not write, are refused, not written half-right.
"""

from __future__ import annotations

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from torchup import render
from torchup.record import replace
from torchup.render import _toml

from tests.test_render_hostile import HOSTILE_URLS, PLANS


def _reference(document) -> str:
    return tomli_w.dumps(document, indent=2)


def _documents_rendered(monkeypatch, plans_sets) -> list[dict]:
    """Every document the TOML renderers hand to the writer for these sets of plans."""
    seen: list[dict] = []
    real = _toml.dumps

    def recording(document):
        seen.append(document)
        return real(document)

    monkeypatch.setattr(_toml, "dumps", recording)
    for plans in plans_sets:
        for fmt in ("uv-project", "poetry-project", "pixi"):
            try:
                render.render_many(plans, fmt)
            except render.RenderError:
                pass  # a combination the format refuses: nothing written
    monkeypatch.undo()
    return seen


def test_every_rendered_document_is_written_as_the_reference_writes_it(monkeypatch):
    plans_sets = [[p] for p in PLANS] + [PLANS, PLANS[:2]]
    plans_sets += [[replace(p, index_url=url) if p.index_url else p] for p in PLANS for url in HOSTILE_URLS]
    documents = _documents_rendered(monkeypatch, plans_sets)
    assert len(documents) >= 3 * len(plans_sets) // 2  # the renderers did write through it
    for document in documents:
        assert _toml.dumps(document) == _reference(document)
        assert tomllib.loads(_toml.dumps(document)) == _plain(document)


def _plain(value):
    """``value`` as tomllib gives it back: tuples are lists."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


HOSTILE_TEXT = ["", " ", "a b", 'q"uote', "back\\slash", "tab\there", "line\nbreak", "\r\n", "\x00\x01\x1f\x7f",
                "\b\f", "ünïcödé", "emoji \U0001f600", "#", "[x]", "a.b", "=", "'", "\u2028", "x" * 120]
text = st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=20))
keys = st.one_of(st.sampled_from(["name", "url", "torch", "a-b_c", "A1", *HOSTILE_TEXT]), st.text(max_size=8))
scalars = st.one_of(text, st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1))
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=16,
)
documents = st.dictionaries(keys, values, max_size=6)


@settings(derandomize=True, database=None, deadline=None, max_examples=300,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(documents)
def test_generated_documents_match_the_reference_and_read_back(document):
    written = _toml.dumps(document)
    assert written == _reference(document)
    assert tomllib.loads(written) == _plain(document)


def test_a_long_list_of_tables_becomes_array_table_sections():
    entry = {"name": "pytorch-cu126", "url": "https://download.pytorch.org/whl/cu126", "explicit": True}
    short = {"tool": {"uv": {"index": [entry]}}}
    long = {"tool": {"uv": {"index": [{**entry, "url": entry["url"] + "/" + "x" * 80}]}}}
    assert "index = [\n  { name = " in _toml.dumps(short)
    assert "[[tool.uv.index]]\n" in _toml.dumps(long)
    for document in (short, long):
        assert _toml.dumps(document) == _reference(document)


@pytest.mark.parametrize("width, inline", [(100, True), (101, False)])
def test_a_table_goes_inline_up_to_a_line_of_100_characters(width, inline):
    padding = width - len('  { u = "" },')
    document = {"index": [{"u": "x" * padding}]}
    assert ("[[index]]" not in _toml.dumps(document)) is inline
    assert _toml.dumps(document) == _reference(document)


@pytest.mark.parametrize("value", [1.5, None, b"bytes", object()])
def test_values_it_does_not_write_are_refused(value):
    with pytest.raises(TypeError):
        _toml.dumps({"key": value})


def test_a_key_that_is_not_a_string_is_refused():
    with pytest.raises(TypeError):
        _toml.dumps({1: "one"})
