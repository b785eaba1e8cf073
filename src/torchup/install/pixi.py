"""Installing with pixi: ``pixi add`` into the workspace that owns the target environment.

pixi does not install into a given prefix: an environment is ``<workspace>/.pixi/envs/<name>``
and its content follows the workspace's manifest (``pixi.toml``, or ``pyproject.toml`` with
``[tool.pixi.*]``) and lock file (``pixi.lock``).  So the target must be such an environment,
the default one (``pixi add`` changes the default feature), and torchup runs
``pixi add --manifest-path MANIFEST SPEC...`` with the conda-forge specs of
``torchup plan --format pixi``.  Facts from pixi's sources (v0.40 to v0.77):

- ``pixi add`` never prompts and takes channels from the manifest, not the command line;
- it puts the manifest back when the solve, download or link fails, but writes
  ``pixi.lock`` after solving and before installing: torchup keeps copies of both;
- a CUDA build needs the workspace to declare CUDA (``[system-requirements] cuda``, or a
  platform's ``cuda`` from pixi 0.71), otherwise the solve has no ``__cuda`` and fails.
"""

from __future__ import annotations

import os
import sys

from torchup.errors import EnvironmentProblem
from torchup.plan import Plan
from torchup.record import record

TYPE_CHECKING = False  # typing is not imported at run time: start-up cost (issue 15)
if TYPE_CHECKING:
    from typing import Any


__all__ = ["Workspace", "find_workspace", "manifest_problem", "pixi_argv"]


@record
class Workspace:
    root: str
    manifest: str  # pixi.toml or pyproject.toml
    lock: str  # pixi.lock (it may not exist yet)
    env: str  # the environment's name


def find_workspace(prefix: str) -> Workspace:
    """The pixi workspace whose environment ``prefix`` is; ``EnvironmentProblem`` otherwise."""
    envs = os.path.dirname(os.path.normpath(prefix))
    dot_pixi = os.path.dirname(envs)
    root = os.path.dirname(dot_pixi)
    if os.path.basename(envs) != "envs" or os.path.basename(dot_pixi) != ".pixi":
        raise EnvironmentProblem(
            f"--manager pixi: {prefix} is not a pixi environment (<workspace>/.pixi/envs/<name>)",
            hint="name the workspace's Python with --python <workspace>/.pixi/envs/default/bin/python, "
            "or print the pixi.toml entries with `torchup plan --format pixi`",
            code="not-pixi-env",
        )
    manifest = os.path.join(root, "pixi.toml")
    if not os.path.isfile(manifest):
        manifest = os.path.join(root, "pyproject.toml")
        if not os.path.isfile(manifest) or "[tool.pixi" not in _read(manifest):
            raise EnvironmentProblem(
                f"--manager pixi: no pixi.toml (or pyproject.toml with [tool.pixi]) in {root}", code="not-pixi-env"
            )
    name = os.path.basename(os.path.normpath(prefix))
    if name != "default":
        raise EnvironmentProblem(
            f"--manager pixi: {prefix} is the environment {name!r}; `pixi add` changes the default one",
            hint=f"add the specs of `torchup plan --format pixi` to the feature of {name!r} in {manifest}",
            code="pixi-env-not-default",
        )
    return Workspace(root=root, manifest=manifest, lock=os.path.join(root, "pixi.lock"), env=name)


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except (OSError, UnicodeDecodeError):
        return ""


def _loads(text: str) -> dict[str, Any] | None:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10
        import tomli as tomllib
    from torchup.machine import long_toml_key

    if long_toml_key(text) is not None:  # would cost tomllib time and memory quadratic in its length
        return None
    try:
        return tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError):
        return None


def _table(doc: dict[str, Any], key: str) -> dict[str, Any]:
    """``doc[key]`` when it is a table, else an empty one (a manifest written wrong by hand)."""
    value = doc.get(key)
    return value if isinstance(value, dict) else {}


def _channel_name(entry: Any) -> str:
    if isinstance(entry, dict):
        entry = entry.get("channel", "")
    return str(entry).rstrip("/").rsplit("/", 1)[-1]


def manifest_problem(plan: Plan, manifest_text: str, *, pyproject: bool, cuda_major: int | None) -> str | None:
    """Pure: what in the manifest stops ``pixi add`` from installing the plan's build; None
    when nothing does.  ``cuda_major``: the CUDA major of conda-forge's build, None for CPU."""
    raw = _loads(manifest_text)
    if raw is None:
        return "the manifest is not TOML torchup can read (invalid, or nested or dotted beyond reason)"
    if pyproject:
        raw = _table(_table(raw, "tool"), "pixi")
    head = _table(raw, "workspace") or _table(raw, "project")
    channels = head.get("channels")
    if not isinstance(channels, list) or "conda-forge" not in {_channel_name(c) for c in channels}:
        return (
            "the workspace does not use conda-forge, which builds PyTorch for conda: "
            "add it with `pixi workspace channel add conda-forge`"
        )
    if cuda_major is None:
        return None
    platforms = head.get("platforms")
    declared = [_table(raw, "system-requirements").get("cuda")]
    declared += [p.get("cuda") for p in (platforms if isinstance(platforms, list) else ()) if isinstance(p, dict)]
    majors = []
    for value in declared:
        try:
            majors.append(int(str(value).split(".")[0]))
        except ValueError:
            continue
    if not majors:
        return (
            f"the workspace does not declare CUDA, so pixi would solve without a GPU: declare CUDA "
            f'{cuda_major} (`[system-requirements] cuda = "{cuda_major}"` before pixi 0.71; '
            f"`pixi workspace platform edit ... --cuda {cuda_major}` from 0.71)"
        )
    if max(majors) < cuda_major:
        return (
            f"the workspace declares CUDA {max(majors)}, and conda-forge's build for this plan needs "
            f"CUDA {cuda_major}: raise the declared version"
        )
    return None


def pixi_argv(plan: Plan, program: str, manifest: str) -> list[str]:
    """``[pixi, add, --manifest-path, MANIFEST, SPEC...]`` (specs of ``render/conda.py``)."""
    from torchup.install.conda import conda_specs

    return [program, "add", "--manifest-path", manifest, *conda_specs(plan)]
