"""Runs INSIDE the target interpreter (stdlib only, any Python >= 3.8) and prints
one JSON object: where the environment is, whether it may be written, and the
distributions installed in it.  torchup parses it in ``torchup.install.target``.

Kept lean: every install waits for it (issue 15).  json, platform and importlib.util
are imported only where the cheaper way does not apply: json and platform bring re
and enum, and ``find_spec("pip")`` runs setuptools' distutils hook, which imports
traceback; together they were more than half of the script's time."""

import os
import sys
import sysconfig


def _writable(path):
    """Try to create a file: the only honest test (root ignores mode bits, not chattr +i)."""
    if not path or not os.path.isdir(path):
        return "missing"
    probe = os.path.join(path, ".torchup-write-test-%d" % os.getpid())
    try:
        os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except OSError as exc:
        return exc.strerror or str(exc)
    try:
        os.remove(probe)
    except OSError:
        pass
    return None


def _externally_managed(in_venv):
    if in_venv:
        return None
    marker = os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")
    if not os.path.isfile(marker):
        return None
    message = ""
    try:
        import configparser

        parser = configparser.ConfigParser(interpolation=None)
        parser.read(marker, encoding="utf-8")
        message = parser.get("externally-managed", "Error", fallback="")
    except Exception:  # noqa: BLE001 - a malformed marker still marks the environment
        pass
    return {"path": marker, "message": message}


def _headers(path):
    """Name, Version and Requires-Dist of a METADATA / PKG-INFO file: its header block
    only (read by hand: importing importlib.metadata costs more than the whole scan)."""
    out = {"Name": None, "Version": None, "Requires-Dist": []}
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line in ("\n", "\r\n"):
                break
            key, sep, value = line.partition(":")
            if not sep or line[:1] in " \t":
                continue
            value = value.strip()
            if key == "Requires-Dist":
                out["Requires-Dist"].append(value)
            elif key in ("Name", "Version") and out[key] is None:
                out[key] = value
    return out


def _read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return None


def _egg_requires(info):
    text = _read(os.path.join(info, "requires.txt")) or ""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            break  # extras and marker sections: not unconditional requirements
        if line:
            out.append(line)
    return out


def _distributions(paths):
    out = []
    for site in paths:
        try:
            names = sorted(os.listdir(site))
        except OSError:
            continue
        for entry in names:
            info = os.path.join(site, entry)
            if entry.endswith(".dist-info"):
                meta = os.path.join(info, "METADATA")
            elif entry.endswith(".egg-info"):
                meta = os.path.join(info, "PKG-INFO") if os.path.isdir(info) else info
            else:
                continue
            try:
                head = _headers(meta)
            except OSError:
                continue
            if not head["Name"] or not head["Version"]:
                continue
            requires = head["Requires-Dist"]
            if entry.endswith(".egg-info") and os.path.isdir(info):
                requires = _egg_requires(info)
            direct_url = None
            text = _read(os.path.join(info, "direct_url.json")) if os.path.isdir(info) else None
            if text:
                import json

                try:
                    direct_url = json.loads(text)
                except ValueError:
                    direct_url = None
            installer = _read(os.path.join(info, "INSTALLER")) if os.path.isdir(info) else None
            out.append(
                {
                    "name": head["Name"],
                    "version": head["Version"],
                    "requires": requires,
                    "installer": (installer or "").strip() or None,
                    "direct_url": direct_url,
                    "dist_info": info,
                }
            )
    return out


def _has_pip(paths):
    """Whether ``import pip`` would find something: a ``pip`` package in a directory on
    ``sys.path`` says yes at once; otherwise the import system is asked."""
    for entry in paths:
        if entry and os.path.isfile(os.path.join(entry, "pip", "__init__.py")):
            return True
    try:
        import importlib.util

        return importlib.util.find_spec("pip") is not None
    except Exception:  # noqa: BLE001 - a broken pip install is no pip
        return False


def _uname():
    """(system, release, version, machine) as platform.system(), release(), version() and
    machine() give them: os.uname's fields (the platform module costs re and more)."""
    if hasattr(os, "uname") and sys.platform != "darwin":
        u = os.uname()
        return u[0], u[2], u[3], u[4]
    import platform

    return platform.system(), platform.release(), platform.version(), platform.machine()


def _python_version():
    """platform.python_version(): the first word of sys.version, with a ".0" added when it has
    only two parts; platform's own parser where that word is not a plain CPython version."""
    word = sys.version.split(" ", 1)[0]
    if sys.implementation.name == "cpython" and word and all(c.isalnum() or c in "._+" for c in word):
        parts = word.split(".")
        return ".".join([*parts, "0"]) if len(parts) == 2 else word
    import platform

    return platform.python_version()


def _python_implementation():
    if sys.implementation.name == "cpython":
        return "CPython"
    import platform

    return platform.python_implementation()


def _libc():
    """ " ".join(platform.libc_ver()): glibc's own answer where there is one, as platform asks it first."""
    try:
        parts = os.confstr("CS_GNU_LIBC_VERSION").split(None, 1)
    except (AttributeError, ValueError, OSError):
        parts = []
    if len(parts) == 2:
        return " ".join(parts).strip()
    import platform

    return " ".join(platform.libc_ver()).strip()


def _mac_version():
    if sys.platform != "darwin":
        return ""  # platform.mac_ver() reads a file only macOS has
    import platform

    return platform.mac_ver()[0]


def _dumps(value):
    """json.dumps (its separators, ASCII) with the C string encoder the json package uses; the
    json package itself for what is not a plain value (a float in a direct_url.json)."""
    try:
        from _json import encode_basestring_ascii as text
    except ImportError:
        text = None
    if text is None:
        import json

        return json.dumps(value)

    def dump(v):
        if v is None:
            return "null"
        if v is True:
            return "true"
        if v is False:
            return "false"
        if type(v) is int:
            return str(v)
        if isinstance(v, str):
            return text(v)
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(dump(x) for x in v) + "]"
        if isinstance(v, dict) and all(isinstance(k, str) for k in v):
            return "{" + ", ".join(text(k) + ": " + dump(x) for k, x in v.items()) + "}"
        import json

        return json.dumps(v)

    return dump(value)


def main():
    paths = sysconfig.get_paths()
    in_venv = sys.prefix != getattr(sys, "base_prefix", sys.prefix)
    site_dirs = []
    for key in ("purelib", "platlib"):  # one directory under two names (lib64 -> lib) counts once
        if paths.get(key) and os.path.realpath(paths[key]) not in [os.path.realpath(d) for d in site_dirs]:
            site_dirs.append(paths[key])
    system, release, version, machine = _uname()
    info = {
        "executable": sys.executable,
        "version": "%d.%d.%d" % sys.version_info[:3],
        "prefix": sys.prefix,
        "base_prefix": getattr(sys, "base_prefix", sys.prefix),
        "in_venv": in_venv,
        "conda": os.path.isdir(os.path.join(sys.prefix, "conda-meta")),
        "site_dirs": site_dirs,
        "scripts": paths.get("scripts"),
        "stdlib": paths.get("stdlib"),
        "writable": {p: _writable(p) for p in [*site_dirs, paths.get("scripts")] if p},
        "externally_managed": _externally_managed(in_venv),
        "has_pip": _has_pip(sys.path),
        "markers": {
            "implementation_name": sys.implementation.name,
            "implementation_version": "%d.%d.%d" % sys.implementation.version[:3],
            "os_name": os.name,
            "platform_machine": machine,
            "platform_python_implementation": _python_implementation(),
            "platform_release": release,
            "platform_system": system,
            "platform_version": version,
            "python_full_version": _python_version(),
            "python_version": "%d.%d" % sys.version_info[:2],
            "sys_platform": sys.platform,
        },
        "distributions": _distributions(site_dirs),
        # what the wheel tags of this interpreter are made of (packaging.tags, computed by torchup)
        "platform": {
            "platform": sysconfig.get_platform(),
            "libc": _libc(),
            "mac_version": _mac_version(),
            "abiflags": getattr(sys, "abiflags", ""),
        },
    }
    sys.stdout.write(_dumps(info))


main()
