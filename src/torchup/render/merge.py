"""Merge a rendered project file into the user's own (``plan --write``), keeping the rest of it.

Pure: text in, text out.  The user's file is edited with ``tomlkit``, which keeps comments,
order and formatting; only what torchup renders is changed, and a value already equal to the
rendered one is left as written, so a second merge changes nothing:

- ``[project] name``, ``version``, ``requires-python`` are added only where missing;
- in ``[project] dependencies`` (and each extra of ``optional-dependencies``) the requirements of
  the torch family are replaced, every other requirement is kept where it is;
- ``[[tool.uv.index]]`` / ``[[tool.poetry.source]]`` entries are replaced or added by ``name``;
- pixi's ``[workspace] channels`` gains conda-forge, keeping the user's channels; a manifest that still
  names that table ``[project]`` (pixi's name before ``[workspace]``, still read) keeps its name;
- every other rendered key (a source, an environment list, a platform list, a dependency) is set.

``under=("tool", "pixi")`` merges a pixi manifest into a ``pyproject.toml``: pixi reads the same tables
there with ``tool.pixi.`` in front of each name (``[tool.pixi.workspace]``).
"""

from __future__ import annotations

from torchup.errors import UsageError

__all__ = ["merge", "torch_requirements"]

_TORCH_FAMILY = {"torch", "torchvision", "torchaudio"}

_KEEP_IF_PRESENT = {("project", "name"), ("project", "version"), ("project", "requires-python")}
_NAMED_TABLES = {("tool", "uv", "index"), ("tool", "poetry", "source")}
_UNION = {("workspace", "channels"), ("project", "channels")}


def merge(existing: str | None, rendered: str, *, path: str = "the file", under: tuple[str, ...] = ()) -> str:
    """``existing`` with ``rendered`` merged in (into the table ``under``, e.g. ``("tool", "pixi")``);
    ``rendered`` itself when there is nothing yet.  A ``UsageError`` when ``existing`` is not TOML, or has
    a non-table where ``under`` names a table (nothing is changed then)."""
    if (existing is None or not existing.strip()) and not under:
        return rendered
    try:
        import tomlkit
        from tomlkit.exceptions import TOMLKitError
    except ImportError:  # a declared dependency, absent where torchup runs from source in a bare Python
        raise UsageError(
            "--write needs the tomlkit package, which this Python does not have",
            hint="pip install tomlkit (or install torchup itself, which brings it)",
        ) from None

    try:
        doc = tomlkit.parse(existing or "")
    except TOMLKitError as err:
        raise UsageError(
            f"{path} is not valid TOML: {err}", hint="fix it (or move it away) and run --write again"
        ) from None
    # what torchup rendered, read back as plain data (tomlkit reads it as well as tomllib would)
    new = tomlkit.parse(rendered).unwrap()
    table = doc
    for depth, key in enumerate(under):
        current = table.get(key)
        if current is None:
            rest = new
            for inner in reversed(under[depth + 1 :]):
                rest = {inner: rest}
            table[key] = _item(rest, ())
            return _dumps(doc, existing or "")
        if not isinstance(_plain(current), dict):
            raise UsageError(
                f"{path}: {'.'.join(under[: depth + 1])} is not a table", hint="fix it and run --write again"
            )
        table = current
    if "workspace" in new and "workspace" not in table and _older_pixi_table(table, nested=bool(under)):
        new["project"] = new.pop("workspace")
    _merge_table(table, new, ())
    return _dumps(doc, existing or "")


def _dumps(doc, existing: str) -> str:
    """The merged text, ending as the user's file ended (a table added last brings no blank line of its own)."""
    import tomlkit

    out = tomlkit.dumps(doc)
    if out.endswith("\n\n") and not existing.endswith("\n\n"):
        out = out.rstrip("\n") + "\n"
    return out


def torch_requirements(existing: str | None) -> list[str]:
    """The torch family's requirements in a pyproject's ``[project] dependencies``: pixi reads that list
    as PyPI dependencies of its default environment, next to its ``[tool.pixi]`` tables."""
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    try:
        project = tomlkit.parse(existing or "").unwrap().get("project")
    except TOMLKitError:
        return []
    deps = project.get("dependencies") if isinstance(project, dict) else None
    if not isinstance(deps, list):
        return []
    return [d for d in deps if isinstance(d, str) and _requirement_name(d) in _TORCH_FAMILY]


def _older_pixi_table(table, *, nested: bool) -> bool:
    """A pixi manifest whose workspace table has pixi's older name, ``project``: any ``[tool.pixi.project]``,
    or a pixi.toml ``[project]`` with ``channels`` (a pyproject's own ``[project]`` is never pixi's)."""
    project = _plain(table.get("project"))
    return isinstance(project, dict) and (nested or "channels" in project)


def _plain(value):
    return value.unwrap() if hasattr(value, "unwrap") else value


def _merge_table(table, new: dict, path: tuple[str, ...]) -> None:
    for key, value in new.items():
        here = (*path, key)
        current = table.get(key)
        if current is None:
            table[key] = _item(value, here)
        elif here in _KEEP_IF_PRESENT:
            continue
        elif isinstance(value, dict) and isinstance(_plain(current), dict):
            _merge_table(current, value, here)
        elif _is_requirements(here) and isinstance(_plain(current), list):
            _merge_requirements(current, value)
        elif here in _NAMED_TABLES and isinstance(_plain(current), list):
            _merge_named(current, value, here)
        elif here in _UNION and isinstance(_plain(current), list):
            for item in value:
                if item not in _plain(current):
                    current.append(item)
        elif _plain(current) != value:
            table[key] = _item(value, here)


def _is_requirements(path: tuple[str, ...]) -> bool:
    return path == ("project", "dependencies") or (len(path) == 3 and path[:2] == ("project", "optional-dependencies"))


def _requirement_name(text: str) -> str | None:
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    try:
        return canonicalize_name(Requirement(text).name)
    except InvalidRequirement:
        return None


def _merge_requirements(array, new: list[str]) -> None:
    """Replace the requirements of the packages ``new`` names, in place; keep every other one."""
    names = {_requirement_name(r) for r in new}
    kept = [r for r in _plain(array) if _requirement_name(r) not in names]
    if kept + new == _plain(array):
        return
    for i in reversed(range(len(array))):
        if _requirement_name(_plain(array[i])) in names:
            del array[i]
    for req in new:
        array.append(req)


def _merge_named(aot, new: list[dict], path: tuple[str, ...]) -> None:
    """``[[...]]`` entries replaced or added by their ``name``."""
    for entry in new:
        at = next((i for i, old in enumerate(aot) if _plain(old).get("name") == entry["name"]), None)
        if at is None:
            aot.append(_item(entry, (*path, "*")))
        elif _plain(aot[at]) != entry:
            aot[at] = _item(entry, (*path, "*"))


def _item(value, path: tuple[str, ...]):
    """Plain data as tomlkit items in the rendered files' forms: ``[[...]]`` for indexes and
    sources, tables for tables, multi-line arrays of inline tables elsewhere."""
    import tomlkit

    if isinstance(value, dict):
        # a table holding only tables has no header of its own ([tool] above [tool.uv])
        table = tomlkit.table(
            is_super_table=bool(value)
            and all(isinstance(v, dict) or (*path, k) in _NAMED_TABLES for k, v in value.items())
        )
        for key, item in value.items():
            table.add(key, _item(item, (*path, key)))
        if not table.is_super_table():
            table.add(tomlkit.nl())  # a blank line before whatever table follows it in the user's file
        return table
    if isinstance(value, list) and path in _NAMED_TABLES:
        aot = tomlkit.aot()
        for entry in value:
            aot.append(_item(entry, (*path, "*")))
        return aot
    if isinstance(value, list):
        return _inline(value)
    return value


def _inline(value):
    import tomlkit

    if isinstance(value, dict):
        table = tomlkit.inline_table()
        table.update({k: _inline(v) for k, v in value.items()})
        return table
    if isinstance(value, list):
        array = tomlkit.array()
        array.extend(_inline(v) for v in value)
        return array.multiline(len(value) > 1)
    return value
