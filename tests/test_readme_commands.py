"""The README's first lines are the contract with a fresh machine; .ci/run must run its test command."""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _readme_commands():
    text = (REPO / "README.md").read_text()
    block = text.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_readme_starts_with_the_two_commands():
    install_and_run, test = _readme_commands()
    assert install_and_run.endswith("torchup")
    assert "pytest" in test and "[test]" in test


def test_ci_runs_exactly_the_readme_test_command():
    _, test = _readme_commands()
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert test in ci
