"""The companion rule shared by scripts/build_catalog.py and `torchup catalog refresh`, over
PyPI's torchaudio / torchvision facts as they are (versions, first upload days and the torch
requirements in their metadata, read from PyPI's JSON pages and PEP 658 files)."""

from __future__ import annotations

from torchup.catalog.companions import CompanionRelease, pick_companion

CP = ("cp310", "cp311", "cp312", "cp313", "cp313t", "cp314", "cp314t")
AUDIO = [
    CompanionRelease(version="2.0.1", released="2023-03-15", requires_torch="==2.0.0", pythons=CP),
    CompanionRelease(version="2.0.2", released="2023-05-08", requires_torch="==2.0.1", pythons=CP),
    CompanionRelease(version="2.10.0", released="2026-01-21", requires_torch="==2.10.0", pythons=CP),
    CompanionRelease(version="2.11.0", released="2026-03-23", requires_torch=None, pythons=CP),
    CompanionRelease(version="2.11.1", released="2026-10-28", requires_torch=">=2.11", pythons=("py3",)),
    CompanionRelease(version="2.12.0rc1", released="2026-11-01", requires_torch=">=2.11", pythons=("py3",)),
]


def pick(torch, day, releases=AUDIO):
    return pick_companion("torchaudio", torch, day, releases, source="PYPI-METADATA")


def test_a_pin_wins():
    c = pick("2.0.0", "2023-03-15")
    assert (c.version, c.matched, c.requires_torch, c.note) == ("2.0.1", True, "==2.0.0", None)
    assert c.provenance.source == "PYPI-METADATA" and c.provenance.confirmed


def test_same_day_without_a_requirement_is_released_with_it():
    c = pick("2.11.0", "2026-03-23")
    assert (c.version, c.matched, c.requires_torch) == ("2.11.0", True, None)
    assert "no torch requirement" in c.note


def test_same_day_with_an_admitting_requirement():
    c = pick("2.15.0", "2026-10-28")
    assert (c.version, c.matched, c.pythons) == ("2.11.1", True, ("py3",))
    assert c.note == ("torchaudio 2.11.1 requires torch >=2.11; released with this torch "
                      "(one py3 wheel per platform: any Python 3)")


def test_otherwise_the_newest_admitting_release_unmatched():
    c = pick("2.13.0", "2026-07-08")  # no torchaudio came out that day; a prerelease never counts
    assert (c.version, c.matched) == ("2.11.1", False)
    assert "not built for this torch" in c.note


def test_a_release_without_requirement_says_nothing_on_another_day():
    only = [r for r in AUDIO if r.version == "2.11.0"]
    assert pick("2.13.0", "2026-07-08", only) is None
    assert pick("2.13.0", None, only) is None


def test_nothing_admits_an_old_torch():
    assert pick("1.12.0", "2022-06-28") is None
