# Runs INSIDE the target interpreter (``python -c <this text>``), never in torchup.
# Standard library only, and written so that old interpreters still answer:
# no f-strings, no annotations, no walrus, no 3.9+ APIs.  It runs on CPython 3.8+
# and still reports at least the version on 2.7 / 3.5+, so that torchup can say
# "this Python is too old" instead of failing.  It prints one line:
#   TORCHUP_TARGET_JSON:{...}
# Nothing is imported from the user's packages: installed distributions are
# read from their metadata files on sys.path, torch is never imported.
import sys

if sys.path and sys.path[0] in ("", "."):
    del sys.path[0]  # -c puts the working directory first; a stray json.py must not win

import os
import sysconfig

# Kept lean: this runs on every cache miss of `plan`.  json, platform, struct and
# importlib.util are imported only where the cheaper way does not apply (json alone
# brings re and enum; find_spec("pip") runs setuptools' distutils hook, which imports
# traceback).

INTEREST = (
    "torch",
    "torchvision",
    "torchaudio",
    "numpy",
    "triton",
    "pytorch-triton",
    "pytorch-triton-rocm",
    "pytorch-triton-xpu",
    "intel-extension-for-pytorch",
    "pip",
    "uv",
)


def _libc():
    try:
        value = os.confstr("CS_GNU_LIBC_VERSION")  # "glibc 2.36"
    except (AttributeError, ValueError, OSError):
        value = None
    if value and len(value.split()) == 2:
        return value.split()
    if not sys.platform.startswith("linux"):
        return None
    # No glibc: musl (Alpine).  Its loader prints "Version 1.2.4" on stderr.
    import glob
    import re
    import subprocess

    for loader in sorted(glob.glob("/lib/ld-musl-*.so.1")):
        try:
            proc = subprocess.Popen([loader], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            err = proc.communicate()[1].decode("utf-8", "replace")
        except OSError:
            continue
        m = re.search(r"Version (\d+\.\d+(?:\.\d+)?)", err)
        if m:
            return ["musl", m.group(1)]
    return None


def _env_kind(prefix, base_prefix):
    in_venv = prefix != base_prefix or hasattr(sys, "real_prefix")
    uv_version = None
    if in_venv:
        cfg = os.path.join(prefix, "pyvenv.cfg")
        kind = "venv"
        try:
            with open(cfg) as fh:
                for line in fh:
                    key, sep, value = line.partition("=")
                    if sep and key.strip() == "uv":  # uv writes "uv = <version>"
                        kind = "uv"
                        uv_version = value.strip()
        except (IOError, OSError):
            pass
        return kind, uv_version
    if os.path.isdir(os.path.join(prefix, "conda-meta")):
        if os.path.exists(os.path.join(prefix, "conda-meta", "pixi")):
            return "pixi", None
        return "conda", None
    return "system", None


def _metadata_version(path):
    """The Version header of a dist-info/egg-info METADATA / PKG-INFO file (or of
    an egg-info that is itself the file).  Read directly rather than through
    importlib.metadata, whose import alone costs ~20 ms (email, zipfile...)."""
    if os.path.isdir(path):
        path = os.path.join(path, "METADATA" if path.endswith(".dist-info") else "PKG-INFO")
    try:
        with open(path, "rb") as fh:
            for raw in fh:
                line = raw.decode("utf-8", "replace").strip()
                if not line:
                    break  # end of the headers
                if line.lower().startswith("version:"):
                    return line.split(":", 1)[1].strip() or None
    except (IOError, OSError):
        pass
    return None


def _installed(pth_files, seen):
    """Distributions of interest on sys.path; also notes ``.pth`` files, a ``pip`` package
    directory (``seen["pip"]``) and sys.path entries that are files (``seen["zip"]``)."""
    found = {}
    for entry in sys.path:
        try:
            listing = os.listdir(entry or ".")
        except (OSError, TypeError):
            if entry and os.path.isfile(entry):
                seen["zip"] = True
            continue
        for item in listing:
            if item.endswith(".pth"):
                pth_files.append(os.path.join(entry, item))
            if item == "pip" and os.path.isfile(os.path.join(entry or ".", "pip", "__init__.py")):
                seen["pip"] = True
            if not item.endswith((".dist-info", ".egg-info")):
                continue
            name = item.rsplit(".", 1)[0].partition("-")[0]
            norm = name.lower().replace("_", "-").replace(".", "-")
            if norm not in INTEREST and not norm.startswith("nvidia-"):
                continue
            if norm in found:
                continue  # the first on sys.path is what an import would see
            version = _metadata_version(os.path.join(entry or ".", item))
            if version:
                found[norm] = version
    return found


def _which(name, extra_dirs):
    exe = name + (".exe" if os.name == "nt" else "")
    for d in list(extra_dirs) + os.environ.get("PATH", "").split(os.pathsep):
        if d and os.path.isfile(os.path.join(d, exe)) and os.access(os.path.join(d, exe), os.X_OK):
            return os.path.join(d, exe)
    return None


def _stat(path):
    try:
        st = os.stat(path)
    except (OSError, TypeError, ValueError):
        return None
    return [getattr(st, "st_mtime_ns", None) or int(st.st_mtime * 1e9), st.st_size]


def _watch(prefix, scripts, pth_files):
    """What these facts depend on, with its mtime and size now (None: absent): torchup
    keeps the facts until one of these changes (an install, a new venv, uv on PATH)."""
    paths = [os.path.realpath(sys.executable), os.path.join(prefix, "pyvenv.cfg")]
    paths += [entry for entry in sys.path if entry] + pth_files
    try:
        import site

        if getattr(site, "ENABLE_USER_SITE", False) and getattr(site, "USER_SITE", None):
            paths.append(site.USER_SITE)  # absent now, created by pip install --user later
    except ImportError:
        pass
    paths += ([scripts] if scripts else []) + [d for d in os.environ.get("PATH", "").split(os.pathsep) if d]
    seen = set()
    out = []
    for path in paths:
        if path not in seen:
            seen.add(path)
            out.append([path, _stat(path)])
    return out


def _pep668_marker(kind, stdlib):
    """Path of the EXTERNALLY-MANAGED marker when it applies (PEP 668: never in a venv)."""
    if kind in ("venv", "uv") or not stdlib:
        return None
    path = os.path.join(stdlib, "EXTERNALLY-MANAGED")
    return path if os.path.isfile(path) else None


def _find_pip():
    """pip importable from a zip on sys.path (what the directory scan cannot see)."""
    try:
        import importlib.util

        return importlib.util.find_spec("pip") is not None
    except (ImportError, AttributeError, ValueError):  # Python 2: no importlib.util
        import pkgutil

        return pkgutil.find_loader("pip") is not None


def _implementation():
    impl = getattr(sys, "implementation", None)
    if impl is not None:
        return impl.name
    import platform

    return platform.python_implementation().lower()


def _mac_ver():
    if sys.platform != "darwin":
        return None
    import platform

    return platform.mac_ver()[0]


def _dumps(value):
    """json.dumps for the plain values of the answer, with the C string encoder the json
    package itself uses; the json package where that is missing (or on Python 2)."""
    try:
        if sys.version_info[0] < 3:
            raise ImportError("Python 2: str is bytes")
        from _json import encode_basestring_ascii as text
    except ImportError:
        import json

        return json.dumps(value)

    def dump(v):
        if v is None:
            return "null"
        if v is True:
            return "true"
        if v is False:
            return "false"
        if isinstance(v, int):
            return str(v)
        if isinstance(v, str):
            return text(v)
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(dump(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(text(str(k)) + ": " + dump(x) for k, x in v.items()) + "}"
        raise TypeError("not JSON: %r" % (v,))

    return dump(value)


def main():
    prefix = sys.prefix
    base_prefix = getattr(sys, "base_prefix", prefix)
    kind, uv_version = _env_kind(prefix, base_prefix)
    try:
        stdlib = sysconfig.get_path("stdlib")
    except KeyError:
        stdlib = None
    marker = _pep668_marker(kind, stdlib)
    try:
        scripts = sysconfig.get_path("scripts")
    except KeyError:
        scripts = None
    gil_disabled = sysconfig.get_config_var("Py_GIL_DISABLED")
    pth_files = []
    seen = {"pip": False, "zip": False}
    installed = _installed(pth_files, seen)
    has_pip = seen["pip"] or (seen["zip"] and _find_pip())
    if hasattr(os, "uname") and sys.platform != "darwin":
        uname = os.uname()
        system, machine = uname[0], uname[4]  # what platform.system() / machine() return here
    else:
        import platform

        system, machine = platform.system(), platform.machine()
    facts = {
        "version": list(sys.version_info[:3]),
        "releaselevel": sys.version_info[3],
        "implementation": _implementation(),
        "executable": sys.executable,
        "prefix": prefix,
        "base_prefix": base_prefix,
        "bits": 64 if sys.maxsize > 2**32 else 32,  # struct.calcsize("P") * 8
        "free_threaded": bool(gil_disabled),
        "platform": sys.platform,
        "system": system,
        "machine": machine,
        "sysconfig_platform": sysconfig.get_platform(),
        "soabi": sysconfig.get_config_var("SOABI"),
        "mac_ver": _mac_ver(),
        "libc": _libc(),
        "env_kind": kind,
        "uv_venv_version": uv_version,
        "externally_managed": marker,
        "pip": has_pip,
        "uv": _which("uv", [scripts] if scripts else []),
        "installed": installed,
        "watch": _watch(prefix, scripts, pth_files),
    }
    sys.stdout.write("TORCHUP_TARGET_JSON:" + _dumps(facts) + "\n")


if __name__ == "__main__":  # true under "python -c"; tests import the helpers
    main()
