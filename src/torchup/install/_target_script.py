"""Runs INSIDE the target interpreter (stdlib only, any Python >= 3.8) and prints
one JSON object: where the environment is, whether it may be written, and the
distributions installed in it.  torchup parses it in ``torchup.install.target``."""

import json
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


def main():
    paths = sysconfig.get_paths()
    in_venv = sys.prefix != getattr(sys, "base_prefix", sys.prefix)
    site_dirs = []
    for key in ("purelib", "platlib"):  # one directory under two names (lib64 -> lib) counts once
        if paths.get(key) and os.path.realpath(paths[key]) not in [os.path.realpath(d) for d in site_dirs]:
            site_dirs.append(paths[key])
    try:
        import importlib.util

        has_pip = importlib.util.find_spec("pip") is not None
    except Exception:  # noqa: BLE001 - a broken pip install is no pip
        has_pip = False
    import platform

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
        "has_pip": has_pip,
        "markers": {
            "implementation_name": sys.implementation.name,
            "implementation_version": "%d.%d.%d" % sys.implementation.version[:3],
            "os_name": os.name,
            "platform_machine": platform.machine(),
            "platform_python_implementation": platform.python_implementation(),
            "platform_release": platform.release(),
            "platform_system": platform.system(),
            "platform_version": platform.version(),
            "python_full_version": platform.python_version(),
            "python_version": "%d.%d" % sys.version_info[:2],
            "sys_platform": sys.platform,
        },
        "distributions": _distributions(site_dirs),
        # what the wheel tags of this interpreter are made of (packaging.tags, computed by torchup)
        "platform": {
            "platform": sysconfig.get_platform(),
            "libc": " ".join(platform.libc_ver()).strip(),
            "mac_version": platform.mac_ver()[0],
            "abiflags": getattr(sys, "abiflags", ""),
        },
    }
    sys.stdout.write(json.dumps(info))


main()
