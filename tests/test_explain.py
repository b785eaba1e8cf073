"""explain: real error texts -> findings of the right family, best first.

The 60 research cases (tests/fixtures/explain/research-cases.json, a copy of the
team's research failure cases) and the cases collected for this module
(tests/fixtures/explain/collected-cases*.json), each with its source, must each
yield a top finding of their family.  The rest checks the
catalog, decoding, cleaning, ranking, evidence and the cost bound.
"""

from __future__ import annotations

import codecs
import json
import marshal
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, PROBE_FIXTURES, REPO
from torchup.doctor import explain as explain_mod
from torchup.doctor import problems as problems_mod
from torchup.doctor.explain import clean_log, decode_log, explain
from torchup.doctor.problems import (
    PREFILTERS,
    PROBLEMS,
    finding,
    load_problems,
    lower_pattern,
    problems_from_snapshot,
    render_markdown,
    snapshot_bytes,
)
from torchup.findings import FAMILIES, Finding

RESEARCH_CASES = FIXTURES / "explain" / "research-cases.json"
COLLECTED = sorted((FIXTURES / "explain").glob("collected-cases*.json"))


def _cases(path: Path) -> list:
    return [pytest.param(c, id=f"{path.stem}:{c['id']}") for c in json.loads(path.read_text(encoding="utf-8"))]


def _all_cases():
    out = _cases(RESEARCH_CASES)
    for path in COLLECTED:
        out += _cases(path)
    return out


def test_the_case_files_are_there_and_well_formed():
    assert len(json.loads(RESEARCH_CASES.read_text())) == 60
    collected = [c for p in COLLECTED for c in json.loads(p.read_text(encoding="utf-8"))]
    assert len(collected) >= 15
    for case in collected:
        assert set(case) >= {"id", "family", "error_text", "cause", "fix", "source"}, case.get("id")
        assert case["family"] in FAMILIES, case["id"]
        assert "/" in case["source"] and "#" in case["source"], f"{case['id']}: source must name a public thread"


def test_no_registry_host_names_in_explain_data():
    hosts = ("pypi" + ".org", "pythonhosted" + ".org")  # spelled apart: they must not appear in the repo
    paths = [
        RESEARCH_CASES,
        *COLLECTED,
        REPO / "src" / "torchup" / "doctor" / "problems.json",
        REPO / "docs" / "problems.md",
    ]
    for path in paths:
        text = path.read_text(encoding="utf-8").lower()
        assert not any(h in text for h in hosts), path


@pytest.mark.parametrize("case", _all_cases())
def test_real_case_yields_a_top_finding_of_its_family(case):
    findings = explain(case["error_text"])
    assert findings, f"{case['id']}: nothing matched"
    top = findings[0]
    assert top.family == case["family"], (
        f"{case['id']}: expected {case['family']}, got {[(f.id, f.family, f.score) for f in findings[:4]]}"
    )
    assert top.evidence, "a finding must show the lines it rests on"


# --- the catalog -------------------------------------------------------------------


def test_every_family_has_problems_and_every_problem_is_complete():
    assert {p.family for p in PROBLEMS.values()} == set(FAMILIES)
    from tests.test_probe_notes import note_ids_in_source

    noted = set(note_ids_in_source())
    for p in PROBLEMS.values():
        assert p.title and p.cause and p.fix and p.sources, p.id
        # a problem with no error text of its own (a hung tool, a GPU without driver) is
        # doctor-only: the probe notes it, and doctor reports the note
        assert p.signatures or p.id in noted, f"{p.id}: explain needs at least one signature"


def test_docs_problems_md_is_rendered_from_the_catalog():
    doc = (REPO / "docs" / "problems.md").read_text(encoding="utf-8")
    assert doc == render_markdown(PROBLEMS), "run: python -m torchup.doctor.problems > docs/problems.md"
    for p in PROBLEMS.values():
        assert f"`{p.id}`" in doc and p.cause in doc


def test_finding_builds_a_catalogued_finding_with_evidence():
    f = finding("driver-too-old", evidence=["found version 11040"])
    assert isinstance(f, Finding)
    assert (f.id, f.family, f.evidence) == ("driver-too-old", "driver", ("found version 11040",))
    assert f.fix == PROBLEMS["driver-too-old"].fix
    with pytest.raises(KeyError):
        finding("no-such-problem")


def _entry(**over):
    base = {
        "id": "x-y",
        "family": "driver",
        "title": "t",
        "cause": "c",
        "fix": ["f"],
        "signatures": [{"re": "abc", "weight": 5}],
        "sources": ["s"],
    }
    base.update(over)
    return base


def test_the_shipped_catalog_is_valid_with_every_pattern_compiled():
    # the run-time load skips compiling the patterns (80 ms); this is where they are checked
    raw = json.loads((REPO / "src" / "torchup" / "doctor" / "problems.json").read_text(encoding="utf-8"))
    assert load_problems(raw, check_patterns=True) == dict(PROBLEMS)


def test_the_shipped_snapshot_is_that_of_problems_json_and_its_patterns():
    # rebuild with: python scripts/build_problems_snapshot.py
    json_bytes = Path(problems_mod.DATA_FILE).read_bytes()
    loaded = problems_from_snapshot(Path(problems_mod.SNAPSHOT_FILE).read_bytes(), json_bytes)
    assert loaded is not None, "problems.marshal is missing or stale: run scripts/build_problems_snapshot.py"
    problems, prefilters = loaded
    from_json = load_problems(json.loads(json_bytes))
    assert problems == from_json
    assert [p.__dict__ for p in problems.values()] == [p.__dict__ for p in from_json.values()]
    assert [s.__dict__ for p in problems.values() for s in p.signatures] == [
        s.__dict__ for p in from_json.values() for s in p.signatures
    ]
    assert prefilters == explain_mod.prefilter_index(from_json)
    assert prefilters == PREFILTERS  # what explain runs with


def test_a_snapshot_of_other_json_or_a_damaged_one_is_not_used():
    json_bytes = Path(problems_mod.DATA_FILE).read_bytes()
    data = snapshot_bytes(PROBLEMS, PREFILTERS, json_bytes)
    assert problems_from_snapshot(data, json_bytes) == (dict(PROBLEMS), dict(PREFILTERS))
    assert problems_from_snapshot(data, json_bytes.replace(b'"weight": 12', b'"weight": 11', 1)) is None
    for damaged in (b"", b"\x00garbage", data[:40], marshal.dumps(5), marshal.dumps((1, 2))):
        assert problems_from_snapshot(damaged, json_bytes) is None


def test_without_a_usable_snapshot_the_json_is_read_and_explain_answers_the_same(tmp_path):
    json_path = tmp_path / "problems.json"
    json_path.write_bytes(Path(problems_mod.DATA_FILE).read_bytes())
    problems, prefilters = problems_mod._load_shipped(str(json_path), str(tmp_path / "problems.marshal"))
    assert problems == PROBLEMS and prefilters == {}
    (tmp_path / "problems.marshal").write_bytes(b"\x00garbage")
    assert problems_mod._load_shipped(str(json_path), str(tmp_path / "problems.marshal")) == (problems, {})
    text = (FIXTURES / "explain" / "research-cases.json").read_text(encoding="utf-8")
    assert explain(text, problems=problems) == explain(text)


@pytest.mark.parametrize(
    ("pattern", "literal_sets"),
    [
        (r"\bpipenv\b|\bpdm\b", [("pipenv", "pdm")]),  # the parser factors the shared 'p' out
        ("no kernel image is available", [("available",), ("kernel",), ("image",)]),
        (r"CUDA (?:out of memory|oom)", [("cuda",), ("out", "oom")]),
        (r"[0-9]+ bits(?=x)|(?!y)z{2}", None),  # a branch without a literal: no prefilter
        (r"(?:abc){1,3}de?f{0,2}", [("abc",)]),
    ],
)
def test_prefilter_literals_are_ones_every_match_contains(pattern, literal_sets):
    # every match holds one literal of each set (the first, most selective, set places the search)
    found = explain_mod._parse_prefilter(lower_pattern(pattern))
    assert found == (None if literal_sets is None else tuple(literal_sets))


@pytest.mark.parametrize(
    "entry, message",
    [
        (_entry(family="gpu"), "is not one of the families"),
        (_entry(id="Bad_Id"), "lower-case-with-dashes"),
        (_entry(signatures=[{"re": "(unclosed", "weight": 5}]), "bad regular expression"),
        (_entry(signatures=[{"re": "a*", "weight": 5}]), "matches the empty string"),
        (_entry(signatures=[{"re": "abc", "weight": 5, "note": "{missing}"}]), "no group named"),
        (_entry(signatures=[{"re": "a(?P<v>b)", "weight": 5, "note": "{v|bogus}"}]), "unknown filter"),
        (_entry(signatures=[{"re": "abc", "weight": 1}]), "can never reach min_score"),
        (_entry(colour="red"), "unknown key"),
        (_entry(supersedes=["nope"]), "unknown id"),
    ],
)
def test_load_problems_rejects_bad_entries(entry, message):
    with pytest.raises(ValueError, match=message):
        load_problems({"problems": [entry]})


def test_load_problems_reports_duplicates_and_all_errors_at_once():
    with pytest.raises(ValueError) as err:
        load_problems({"problems": [_entry(), _entry(), _entry(id="z", family="nope")]})
    text = str(err.value)
    assert "duplicate id 'x-y'" in text and "'nope' is not one of the families" in text


def test_lower_pattern_keeps_escapes_and_tolerates_wrapping():
    assert lower_pattern(r"No Kernel \S+ (?P<Sm>[0-9]+)") == r"no\s+kernel\s+\S+\s+(?P<sm>[0-9]+)"
    assert lower_pattern("a ?b [ =]c") == r"a ?b\s+[ =]c"


# --- decoding and cleaning ------------------------------------------------------------

ERROR = "RuntimeError: operator torchvision::nms does not exist\n"


def _top(data: bytes) -> str:
    findings = explain(decode_log(data))
    return findings[0].id if findings else ""


def test_utf16_le_with_bom_as_powershell_redirect_writes_it():
    data = codecs.BOM_UTF16_LE + ("Traceback (most recent call last):\r\n" + ERROR.replace("\n", "\r\n")).encode(
        "utf-16-le"
    )
    assert _top(data) == "torchvision-torch-mismatch"


def test_utf16_without_bom_and_big_endian():
    assert _top(("x\n" + ERROR).encode("utf-16-le")) == "torchvision-torch-mismatch"
    assert _top(codecs.BOM_UTF16_BE + ERROR.encode("utf-16-be")) == "torchvision-torch-mismatch"


def test_utf8_bom_and_cp1252_and_broken_utf8():
    assert _top(codecs.BOM_UTF8 + ERROR.encode()) == "torchvision-torch-mismatch"
    text = "Fehler beim Laden: Zugriff verweigert für Benutzer – ¿qué?\n" + ERROR
    assert decode_log(text.encode("cp1252")).startswith("Fehler beim Laden: Zugriff verweigert für")
    assert _top(text.encode("cp1252")) == "torchvision-torch-mismatch"
    mixed = "progress ━━━ 50%\n".encode() + b"\xff\xfe stray bytes\n" + ERROR.encode()
    assert "━━━" in decode_log(mixed)
    assert _top(mixed) == "torchvision-torch-mismatch"


def test_ansi_colour_cr_progress_bars_and_nul_bytes_are_cleaned():
    raw = (
        "\x1b[31mERROR\x1b[0m: Could not install packages due to an \x1b[1mOSError\x1b[0m: "
        "[Errno 28] No space \x1b[4mleft\x1b[0m on device\r\n"
        "     \x1b]8;;https://x\x07link\x1b]8;;\x07 12% eta 0:01\r 50% eta 0:00\r\x00"
    )
    cleaned = clean_log(raw)
    assert "\x1b" not in cleaned and "\r" not in cleaned and "\x00" not in cleaned
    assert "No space left on device" in cleaned
    findings = explain(raw)
    assert findings[0].id == "pip-no-space"
    assert any("No space left on device" in line for line in findings[0].evidence)


@pytest.mark.parametrize("last", ["", "\r", "\r\n", "\n"])
def test_a_cr_only_log_over_a_megabyte_keeps_its_last_line(last):
    # issue 19: lines ended by CR alone; the final LF (or CRLF) a file often ends with made
    # the window drop the whole tail as one partial line, and with it the error
    line = NOISE.rstrip("\n") + "\r"
    error = "OSError: [WinError 1455] The paging file is too small for this operation to complete."
    text = line * (1200 * 1024 // len(line)) + error + last
    assert len(text) > explain_mod.HEAD_CHARS + explain_mod.TAIL_CHARS
    top = explain(text)[0]
    assert top.id == "windows-paging-file" and error in top.evidence


def test_line_ends_read_as_a_terminal_shows_them():
    # CRLF and CR CR LF end lines; a log with no LF at all is ended by its CRs
    assert clean_log("a\r\nb\r\r\nc") == "a\nb\nc"
    assert clean_log("first\rsecond\rthird\r") == "first\nsecond\nthird\n"
    # elsewhere a CR returns to column 0 and what follows overwrites: a progress bar keeps its last frame
    assert clean_log("abcdef\rxy\nnext\n") == "xycdef\nnext\n"
    frames = "".join(f"\r{p:3d}% |{'#' * (p // 10):<10}|" for p in range(0, 101, 5))
    bar = "Downloading torch (888.1 MB)\n" + frames + "\n"
    assert clean_log(bar) == "Downloading torch (888.1 MB)\n100% |##########|\n"
    # an error a later redraw did not cover stays visible
    assert "No space left on device" in clean_log("12%\rERROR: [Errno 28] No space left on device\n")


def test_a_long_run_of_carriage_returns_costs_linear_time():
    import time

    start = time.perf_counter()
    clean_log("\r" * 1_000_000 + "x\n" + "y\r" * 100_000)
    assert time.perf_counter() - start < 0.5


def test_decode_never_fails_on_binary_garbage():
    assert isinstance(decode_log(bytes(range(256)) * 10), str)
    assert explain(decode_log(bytes(range(256)) * 10)) == []
    assert explain("") == []


# --- ranking and evidence -----------------------------------------------------------------


def test_specific_signature_beats_the_generic_symptom():
    text = (
        ">>> torch.cuda.is_available()\nFalse\n"
        "UserWarning: CUDA initialization: The NVIDIA driver on your system is too old (found version 11040).\n"
    )
    findings = explain(text)
    assert findings[0].id == "driver-too-old"
    assert "the driver supports CUDA up to 11.4" in findings[0].evidence
    # the cause replaces the bare symptom it explains
    assert "cuda-unavailable-generic" not in [f.id for f in findings]


def test_generic_symptom_alone_still_answers():
    findings = explain(">>> torch.cuda.is_available()\nFalse\n")
    assert findings and findings[0].id == "cuda-unavailable-generic"


def test_a_superseding_problem_drops_the_generic_one():
    findings = explain("* Hardware: NVIDIA Jetson AGX Orin\n>>> torch.cuda.is_available()\nFalse\n")
    ids = [f.id for f in findings]
    assert ids[0] == "cpu-build-jetson" and "cuda-unavailable-generic" not in ids


def test_evidence_extracts_versions_and_names():
    text = (
        "NVIDIA GeForce RTX 5090 with CUDA capability sm_120 is not compatible with the current PyTorch installation.\n"
        "The current PyTorch install supports CUDA capabilities sm_50 sm_60 sm_70 sm_75 sm_80 sm_86 sm_90.\n"
    )
    top = explain(text)[0]
    assert top.id == "gpu-arch-not-in-build"
    assert "the GPU is sm_120" in top.evidence
    assert "the build's architectures: sm_50 sm_60 sm_70 sm_75 sm_80 sm_86 sm_90." in top.evidence
    glibc = explain("ImportError: /lib64/libc.so.6: version `GLIBC_2.28' not found (required by libtorch_cpu.so)")[0]
    assert glibc.id == "glibc-too-old" and "needs glibc 2.28" in glibc.evidence


def test_wrapped_messages_still_match():
    text = "RuntimeError: Detected that PyTorch and torchvision were compiled with different\nCUDA versions. PyTorch has CUDA"
    assert explain(text)[0].id == "torchvision-torch-mismatch"


def test_evidence_has_no_repeated_fragments():
    text = "A module that was compiled using NumPy 1.x cannot be run in\nNumPy 2.0.1 as it may crash.\n"
    top = explain(text)[0]
    assert top.evidence == (
        "A module that was compiled using NumPy 1.x cannot be run in / NumPy 2.0.1 as it may crash.",
        "NumPy 2.0.1 installed",
    )


def test_benign_logs_give_no_findings():
    benign = (
        "$ pip install torch torchvision --index-url https://download.pytorch.org/whl/cu126\n"
        "Looking in indexes: https://download.pytorch.org/whl/cu126\n"
        "Collecting torch\n  Downloading https://download.pytorch.org/whl/cu126/torch-2.8.0%2Bcu126-cp312-cp312-manylinux_2_28_x86_64.whl (888.1 MB)\n"
        "Collecting nvidia-cudnn-cu12==9.10.2.21 (from torch)\n"
        "Requirement already satisfied: numpy in ./venv/lib/python3.12/site-packages (from torchvision) (2.1.2)\n"
        "Installing collected packages: nvidia-cudnn-cu12, torch, torchvision\n"
        "Successfully installed nvidia-cudnn-cu12-9.10.2.21 torch-2.8.0+cu126 torchvision-0.23.0+cu126\n"
        "$ python -c 'import torch;print(torch.__version__, torch.cuda.is_available(), torch.version.cuda)'\n"
        "2.8.0+cu126 True 12.6\n"
        "epoch 1 step 100 loss 0.4312 lr 3.0e-4 GPU memory 8123 MiB\n"
    )
    assert explain(benign) == []


def _benign_files():
    # recorded tool output from healthy machines, and torchup's own rendered install commands
    probes = [
        p
        for p in sorted(PROBE_FIXTURES.glob("*"))
        if p.is_file() and "err" not in p.name and "cuda-na" not in p.name and p.name != "SOURCES.md"
    ]
    golden = sorted((REPO / "tests" / "golden").glob("*.txt"))
    return probes + golden


def test_healthy_tool_output_and_our_own_commands_are_not_diagnosed():
    files = _benign_files()
    assert len(files) > 40
    wrong = {p.name: [f.id for f in explain(decode_log(p.read_bytes()))] for p in files}
    assert {name: ids for name, ids in wrong.items() if ids} == {}


def test_recorded_error_output_is_diagnosed():
    cases = {
        "nvidia-smi-error__driver-library-mismatch__gt640-driver470.txt": "driver-library-mismatch",
        "nvidia-smi-error__wsl2__driver-not-loaded.txt": "driver-not-loaded",
        "nvidia-smi__rtx5070-freebsd-linuxulator__driver575-cuda-na.txt": "driver-cuda-unusable",  # 'CUDA Version: N/A'
    }
    for name, problem in cases.items():
        assert explain(decode_log((PROBE_FIXTURES / name).read_bytes()))[0].id == problem


def test_explain_returns_plain_findings_of_known_families():
    for f in explain("AssertionError: Torch not compiled with CUDA enabled\nNo space left on device"):
        assert isinstance(f, Finding) and f.family in FAMILIES and f.id in PROBLEMS
        assert f.to_json()["fix"] == list(f.fix)


# --- big logs: bounded work ---------------------------------------------------------------

NOISE = "Downloading https://example.invalid/wheels/pkg-1.0-py3-none-any.whl (1.2 MB) 55.1 MB/s eta 0:00:01\n"


def _noise(size: int) -> str:
    return NOISE * (size // len(NOISE))


def test_multi_megabyte_log_with_the_error_at_the_end():
    text = (
        _noise(5 * 1024 * 1024)
        + "OSError: [WinError 1455] The paging file is too small for this operation to complete.\n"
    )
    assert explain(text)[0].id == "windows-paging-file"


def test_start_up_warning_at_the_head_of_a_big_log_is_seen():
    text = "UserWarning: CUDA initialization: Found no NVIDIA driver on your system.\n" + _noise(5 * 1024 * 1024)
    assert explain(text)[0].id == "no-nvidia-driver"


def test_an_error_far_from_both_ends_of_a_big_log_is_found():
    # issue 15: the first failure, then megabytes of retries; neither the head nor the tail holds it
    error = "RuntimeError: operator torchvision::nms does not exist"
    text = _noise(3 * 1024 * 1024) + error + "\n" + _noise(6 * 1024 * 1024)
    top = explain(text)[0]
    assert top.id == "torchvision-torch-mismatch" and error in top.evidence


def test_only_lines_around_error_words_are_read_in_the_middle_of_a_huge_log():
    # the documented bound: between HEAD_CHARS and TAIL_CHARS only the lines near an error or
    # warning word are examined; the same message without one is not seen there
    half = explain_mod.HEAD_CHARS + explain_mod.MIDDLE_CHARS
    message = "operator torchvision::nms does not exist\n"
    assert explain(message)[0].id == "torchvision-torch-mismatch"
    text = _noise(half) + message + _noise(explain_mod.TAIL_CHARS + half)
    assert explain(text) == []
    assert explain(text.replace(message, "RuntimeError: " + message))[0].id == "torchvision-torch-mismatch"


@pytest.mark.parametrize(
    "text",
    [
        # a wheel that is not a complete archive, worded as uv words it ("invalid zip file")
        "error: Failed to read `torch-2.14.1+cu126-cp311-cp311-manylinux_2_28_x86_64.whl`\n  Caused by: invalid zip file\n",
        # Python's zipfile on a truncated archive
        "zipfile.BadZipFile: File is not a zip file\n",
    ],
)
def test_a_cut_or_corrupt_wheel_is_a_corrupt_download(text):
    top = explain(text)[0]
    assert top.id == "pip-hash-mismatch" and top.family == "pip-install"


def test_pip_finding_no_version_of_torch_is_a_no_wheel_finding_even_alone():
    # pip's first error line names the versions it saw; the second ("No matching
    # distribution") is often cut off in a pasted log
    top = explain(
        "ERROR: Could not find a version that satisfies the requirement torch==2.15.0 (from versions: 2.5.0, 2.5.1)\n"
    )[0]
    assert top.family == "no-wheel"


@pytest.mark.parametrize(
    "text",
    [
        # torch's wording (CUDA error 46 through c10's CUDA_CHECK)
        "RuntimeError: CUDA error: CUDA-capable device(s) is/are busy or unavailable\n",
        # the CUDA runtime's own string for cudaErrorDevicesUnavailable
        "all CUDA-capable devices are busy or unavailable\n",
    ],
)
def test_busy_gpu_in_both_wordings(text):
    assert explain(text)[0].id == "cuda-device-busy"


def test_invalid_device_function_is_gpu_arch_on_cuda_and_rocm_on_hip():
    # cudaErrorInvalidDeviceFunction (98): the kernel has no code for this GPU's architecture
    assert explain("RuntimeError: CUDA error: invalid device function\n")[0].id == "gpu-arch-not-in-build"
    assert explain("RuntimeError: HIP error: invalid device function\n")[0].id == "rocm-gfx-unsupported"


def test_a_log_where_the_install_replaced_torch():
    pip_log = (
        "Collecting xformers==0.0.30\nCollecting torch==2.7.0 (from xformers==0.0.30)\n"
        "  Attempting uninstall: torch\n    Found existing installation: torch 2.14.1+cu126\n"
        "    Uninstalling torch-2.14.1+cu126:\n      Successfully uninstalled torch-2.14.1+cu126\n"
        "Successfully installed torch-2.7.0 xformers-0.0.30\n"
    )
    found = {f.id: f for f in explain(pip_log)}
    # a CUDA build replaced by an unlabelled one is the more specific cause, and comes first
    assert explain(pip_log)[0].id == "cuda-torch-replaced-by-later-install"
    assert "this install replaced torch 2.14.1+cu126" in found["torch-replaced-by-install"].evidence
    uv_log = (
        "Resolved 3 packages in 267ms\nUninstalled 1 package in 9ms\nInstalled 2 packages in 11ms\n"
        " - torch==2.14.1+cpu\n + torch==2.9.1+cpu\n + xfoo==1.0\n"
    )
    top = explain(uv_log)[0]
    assert top.id == "torch-replaced-by-install" and "uv replaced torch 2.14.1+cpu with 2.9.1+cpu" in top.evidence
    # installing torch where there was none is no replacement
    assert "torch-replaced-by-install" not in [f.id for f in explain("Successfully installed torch-2.7.0\n")]


def test_the_fast_region_search_finds_what_the_patterns_own_search_finds():
    """``_search_region`` finds a pattern's first match in a long region by other patterns (each
    branch of a top-level alternation, ``\\n...`` for ``^...``): same span, same groups as
    ``rx.search`` over the same region, for every signature it applies to, on the real cases."""
    import random

    cases = [c for path in [RESEARCH_CASES, *COLLECTED] for c in json.loads(path.read_text(encoding="utf-8"))]
    lines = [line for c in cases for line in explain_mod._lower(clean_log(c["error_text"])).split("\n")]
    rng = random.Random(15)
    text = "\n".join(rng.choice(lines) for _ in range(12_000))
    assert len(text) > 4 * explain_mod._BIG_REGION
    line_starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
    regions = [(0, len(text)), (len(text) // 3, len(text))]
    regions += [(rng.choice(line_starts), len(text)) for _ in range(3)] + [(rng.randrange(len(text)), len(text))]
    fast = 0
    for problem in PROBLEMS.values():
        for sig in problem.signatures:
            rx = explain_mod._compile(sig.pattern)
            if explain_mod._fast_way(rx.pattern) is None:
                continue
            fast += 1
            for start, end in regions:
                got = explain_mod._search_region(rx, text, start, end)
                want = rx.search(text, start, end)
                assert (got and (got.span(), got.groupdict())) == (want and (want.span(), want.groupdict())), (
                    sig.pattern,
                    start,
                )
    assert fast >= 50


def test_the_control_characters_looked_for_are_those_the_cleaning_removes():
    removed = {chr(c) for c in range(0x3000) if explain_mod._CONTROLS.fullmatch(chr(c))}
    assert set(explain_mod._CONTROL_CHARS) == removed
    for ch in explain_mod._CONTROL_CHARS:
        assert clean_log(f"a{ch}b\n") == "ab\n"


def test_a_literal_in_the_text_is_always_found_among_its_words():
    """``_Text.has`` looks literals up among the distinct words with digits folded (UTF-8 bytes
    split at ASCII whitespace): it may say yes to an absent literal (a regex then finds nothing),
    never no to one the text holds, whatever its whitespace, digits or non-ASCII letters."""
    import random

    rng = random.Random(15)
    alphabet = "ab1\u00e9\u2501 \t\n\u00a0\u2003=._-9"
    for _ in range(400):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 60)))
        found = explain_mod._Text(text)
        for _ in range(10):
            start = rng.randrange(len(text))
            literal = text[start : start + rng.randint(1, 6)]
            assert found.has(literal), (text, literal)
        absent = explain_mod._Text("step 12 loss=0.5\n" * 3)
        assert not absent.has("cuda") and absent.has("loss=0.5") and not absent.has("los s")
