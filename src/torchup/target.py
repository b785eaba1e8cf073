"""Which Python torchup works on (the *target*), and its facts: started early, kept on disk.

``--python PATH`` wins; else the active virtualenv (``VIRTUAL_ENV``), else the
active conda / pixi environment (``CONDA_PREFIX``), else ``python3`` (then
``python``) on PATH.  The target may differ from the Python torchup runs in.

Its facts come from ``probe/_target_script.py`` run inside it, which costs an
interpreter start.  ``plan`` keeps the answer in the cache directory
(``targets/``) under a key that a changed or different interpreter cannot
match: the path and what it resolves to, its size and mtime, the environment
variables that steer Python, and for a pyenv shim what selects the version
(``PYENV_VERSION``, the ``.python-version`` up the tree, pyenv's global file).
The script also names what its answer depends on (the real interpreter, every
``sys.path`` entry and ``.pth`` file, ``pyvenv.cfg``, the user site, the
directories searched for uv) with their mtimes and sizes: an install, a new
venv at the same path or a uv put on PATH changes one, and the facts are
probed again.  A wrapper script other than a pyenv shim is never cached: what
it runs cannot be seen from outside.  A cache file that cannot be read or
does not match is ignored.

On a miss the script is started as early as possible (``start_target_probe``,
from the CLI before the command's imports) and waited for when the facts are
needed.  Only this module starts it.
"""

from __future__ import annotations

import os  # json and zlib only where the cache is read or written: verify finds its Python here
from collections.abc import Mapping, Sequence

from torchup.errors import TorchupError, UsageError
from torchup.runner import Result, Started
from torchup.system import System

TYPE_CHECKING = False  # typing is not imported at run time: start-up cost (issue 15)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "PYTHON_TIMEOUT",
    "TARGET_SCRIPT",
    "TargetProbe",
    "cache_entry_path",
    "cache_key",
    "find_target_python",
    "prestart_target_probe",
    "start_target_probe",
]

TARGET_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "probe", "_target_script.py")
PYTHON_TIMEOUT = 15.0  # a cold interpreter (network home, conda) can be slow to start
_CACHE_FORMAT = 1
_MAX_ENTRY_BYTES = 1 << 20
_MARK = "TORCHUP_TARGET_JSON:"
# what steers an interpreter (and a pyenv shim) from the environment; PATH: where uv is found
_ENV_PREFIXES = ("PYTHON", "PYENV", "VIRTUAL_ENV", "CONDA")


def _env_python(prefix: str, windows: bool) -> str:
    if windows:
        return (
            os.path.join(prefix, "Scripts", "python.exe")
            if not os.path.exists(os.path.join(prefix, "python.exe"))
            else os.path.join(prefix, "python.exe")
        )
    return os.path.join(prefix, "bin", "python")


def find_target_python(system: System, explicit: str | None = None) -> tuple[str, str]:
    """Return ``(path, how it was chosen)``; raise ``UsageError`` when there is none."""
    windows = os.name == "nt"
    if explicit:
        path = explicit
        if os.sep not in path and "/" not in path:
            found = system.runner.which(path)
            if not found:
                raise UsageError(f"--python {explicit}: no such program on PATH")
            path = found
        if os.path.isdir(path):  # an environment directory was given
            path = _env_python(path, windows)
        if not os.path.exists(path):
            raise UsageError(f"--python {explicit}: {path} does not exist")
        return os.path.abspath(path), "--python"  # absolute: the check script runs in a directory of its own
    for var in ("VIRTUAL_ENV", "CONDA_PREFIX"):
        prefix = system.env.get(var)
        if prefix:
            path = _env_python(prefix, windows)
            if os.path.exists(path):
                return path, f"${var}"
    for name in ("python3", "python"):
        found = system.runner.which(name)
        if found:
            return found, "PATH"
    raise UsageError(
        "no Python found: no active virtualenv or conda env, and no python3 on PATH",
        hint="name one with --python PATH",
    )


# --- the cache key: pure but for stats and small reads -----------------------------


def _stat(path: str) -> list[int] | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return [st.st_mtime_ns, st.st_size]


def _read_small(path: str, limit: int = 4096) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read(limit)
    except OSError:
        return None


def _pyenv_selection(env: Mapping[str, str], cwd: str) -> dict[str, Any]:
    """What makes a pyenv shim run one version or another (pyenv's own order: the variable,
    the nearest ``.python-version`` from PYENV_DIR or the working directory up, the global file)."""
    root = env.get("PYENV_ROOT") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".pyenv")
    local = None
    here = env.get("PYENV_DIR") or cwd
    while True:
        found = _read_small(os.path.join(here, ".python-version"))
        if found is not None:
            local = [here, found.decode("utf-8", "replace")]
            break
        parent = os.path.dirname(here)
        if parent == here:
            break
        here = parent
    chosen = _read_small(os.path.join(root, "version"))
    return {"local": local, "global": None if chosen is None else chosen.decode("utf-8", "replace")}


def cache_key(python: str, env: Mapping[str, str], cwd: str, script: bytes) -> dict[str, Any] | None:
    """The key of ``python``'s facts; ``None`` when they must not be cached (a wrapper script
    other than a pyenv shim, or no such file)."""
    real = os.path.realpath(python)
    stat = _stat(real)
    head = _read_small(real, 512)
    if stat is None or head is None:
        return None
    import zlib

    key: dict[str, Any] = {
        "format": _CACHE_FORMAT,
        "script": zlib.crc32(script),
        "python": python,
        "real": real,
        "stat": stat,
        "env": {k: v for k, v in sorted(env.items()) if k == "PATH" or k.startswith(_ENV_PREFIXES)},
    }
    if head.startswith(b"#!"):
        if b"pyenv" not in head:
            return None
        key["pyenv"] = _pyenv_selection(env, cwd)
    return key


def cache_entry_path(cache_dir: str, key: Mapping[str, Any]) -> str:
    import json
    import zlib

    text = json.dumps(key, sort_keys=True)
    return os.path.join(cache_dir, "targets", f"{zlib.crc32(text.encode()):08x}.json")


def _cached_answer(path: str, key: Mapping[str, Any]) -> str | None:
    """The answer stored under ``key`` while nothing it depends on has changed; else ``None``
    (a missing, unreadable, corrupt or foreign file included)."""
    raw = _read_small(path, _MAX_ENTRY_BYTES)
    if not raw:
        return None
    import json

    try:
        entry = json.loads(raw)
        if entry["key"] != json.loads(json.dumps(key)):  # compared as JSON: lists, not tuples
            return None
        for watched, stat in entry["watch"]:
            if _stat(watched) != stat:
                return None
        answer = entry["answer"]
    except (ValueError, KeyError, TypeError):
        return None
    return answer if isinstance(answer, str) and answer.startswith(_MARK) else None


def _store(path: str, key: Mapping[str, Any], stdout: str) -> None:
    """Keep the answer line and what it depends on (the script's ``watch``); quietly nothing
    when the cache directory is not writable."""
    line = next((ln for ln in reversed(stdout.splitlines()) if ln.startswith(_MARK)), None)
    if line is None:
        return
    import json

    try:
        watch = json.loads(line[len(_MARK) :]).get("watch")
        if not isinstance(watch, list):
            return
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(json.dumps({"key": key, "watch": watch, "answer": line}))
        os.replace(tmp, path)
    except (OSError, ValueError, AttributeError):
        return


# --- running it ------------------------------------------------------------------------------


class TargetProbe:
    """The target script's answer for ``python``: from the cache, or from a child started
    at construction.  ``result()`` waits for it; ``remember()`` keeps a good answer."""

    def __init__(self, system: System, python: str, *, timeout: float, cache: bool) -> None:
        self.python = python
        self.timeout = timeout
        self.from_cache = False
        self._entry: str | None = None
        self._key: dict[str, Any] | None = None
        self._started: Started | None = None
        self._cached: str | None = None
        with open(TARGET_SCRIPT, "rb") as fh:
            script = fh.read()
        if cache:
            from torchup.cache import cache_root

            self._key = cache_key(python, system.env, os.getcwd(), script)
            if self._key is not None:
                self._entry = cache_entry_path(cache_root(system.env), self._key)
                self._cached = _cached_answer(self._entry, self._key)
                self.from_cache = self._cached is not None
        if not self.from_cache:
            self._started = system.runner.start([python, "-c", script.decode("utf-8")], timeout=timeout)

    def result(self) -> Result:
        if self._started is None:
            return Result(argv=(self.python, "-c", "<target script>"), returncode=0, stdout=self._cached or "")
        return self._started.wait()

    def remember(self) -> None:
        """Keep the answer (called once it parsed): a later run with nothing changed reuses it."""
        if self._started is not None and self._entry is not None and self._key is not None:
            _store(self._entry, self._key, self._started.wait().stdout)


def start_target_probe(system: System, python: str, *, timeout: float = PYTHON_TIMEOUT, cache: bool) -> TargetProbe:
    """Ask ``python`` for its facts now: from the cache when ``cache`` and nothing changed, else
    by starting the script (waited for in ``TargetProbe.result``)."""
    return TargetProbe(system, python, timeout=timeout, cache=cache)


def _abbreviates(word: str, option: str) -> bool:
    return len(word) > 2 and word != option and option.startswith(word)


def prestart_target_probe(argv: Sequence[str], system: System) -> System:
    """For ``plan``: start the target probe before the imports and the catalog, so that the
    interpreter starts while torchup does its own work (``torchup.cli`` does not call it for
    ``--machine`` files alone).  Only when the command line surely probes and names its target
    plainly (``--python X`` / ``--python=X`` or none); the probe is used only if
    ``probe_machine`` then picks the same interpreter."""
    explicit = None
    words = list(argv)
    if "--help" in words or "-h" in words or "--version" in words:
        return system
    for i, word in enumerate(words):
        if word == "--python" and i + 1 < len(words):
            explicit = words[i + 1]
        elif word.startswith("--python="):
            explicit = word.partition("=")[2]
        elif _abbreviates(word, "--python") or _abbreviates(word, "--machine"):
            return system  # an abbreviation argparse would accept: leave it to the command
    try:
        python, _ = find_target_python(system, explicit)
    except TorchupError:
        return system  # the command says what is wrong
    return system.with_target_probe(start_target_probe(system, python, cache=True))
