"""Fleet planning: the one build that serves every node, or the fewest builds. Pure.

Nodes whose machine files agree on everything the resolver reads are one *class*
(``class_key``): a thousand nodes of four kinds are judged four times.  Each class has its
builds judged once (``torchup.resolve.judge_builds``, with a GPU build allowed on a node
without that GPU: it runs there, using none).

- One build: the builds every class keeps, best first by the GPUs they use over the whole
  fleet, then as ``resolve`` ranks (newest torch, the driver's support level, ...).  The
  trade-off: a class whose own best build differs is named, and a class that keeps out a
  build every other class takes is said to force the choice, with its reason.
- Groups: each class accepts the builds that use as many of its GPUs and have as new a torch
  as its own best; the fewest builds that give every class one it accepts are found greedily
  (set cover: the build accepted by the most classes not yet served, first).
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from torchup.catalog.model import Build, Catalog
from torchup.machine import Gpu, Machine
from torchup.plan import Plan, Refusal, Request
from torchup.record import fields, replace
from torchup.resolve import Verdict, judge_builds, resolve

__all__ = ["FleetClass", "FleetPlan", "Group", "class_key", "classify", "plan_groups", "plan_one", "resolve_group"]

BuildKey = tuple[str, str]  # (torch version, variant): the same build on every arch
_IGNORED = {
    "sources",
    "notes",
    "installed",
    "python_executable",
    "env_prefix",
    "managers",
    "pip_usable",
    "uv_usable",
    "externally_managed",
    "python_env",
    "container",
}
_GPU_IGNORED = {"uuid", "memory_mib", "pci_id"}
_MAX_NAMED = 5
_MAX_COMBINATIONS = 200_000  # an exhaustive search for a smaller cover beyond this: the greedy one stands
_MORE_GPUS = re.compile(r" \(and \d+ more GPUs?: see the plan's notes\)")


@dataclass(frozen=True, kw_only=True)
class FleetClass:
    """Identical nodes (for planning), their machine and each build's verdict."""

    nodes: tuple[str, ...]
    machine: Machine
    verdicts: Mapping[BuildKey, Verdict] = field(default_factory=dict)

    def kept(self) -> dict[BuildKey, Verdict]:
        return {k: v for k, v in self.verdicts.items() if v.rejected is None}

    def label(self) -> str:
        return class_label(self.machine)


@dataclass(frozen=True, kw_only=True)
class Group:
    build: Build
    classes: tuple[FleetClass, ...]

    @property
    def nodes(self) -> tuple[str, ...]:
        return tuple(sorted(n for c in self.classes for n in c.nodes))

    def representative(self) -> Machine:
        """The class whose GPUs the build uses most: the plan is resolved for it."""
        key = build_key(self.build)
        return max(self.classes, key=lambda c: c.verdicts[key].rank).machine


@dataclass(frozen=True, kw_only=True)
class FleetPlan:
    groups: tuple[Group, ...] = ()
    tradeoffs: tuple[str, ...] = ()
    unplanned: Mapping[str, str] = field(default_factory=dict)  # node -> why no build fits it
    refusal: str | None = None  # one build asked for, and none serves every class
    reasons: tuple[str, ...] = ()


def class_key(machine: Machine) -> str:
    """What the resolver reads of a machine, as text: equal keys, equal plans."""
    out = {}
    for name in fields(Machine):
        if name in _IGNORED:
            continue
        value = getattr(machine, name)
        if name == "gpus":
            value = [{g: getattr(gpu, g) for g in fields(Gpu) if g not in _GPU_IGNORED} for gpu in value]
        elif name == "python":
            value = ".".join(str(n) for n in machine.python_minor)
        out[name] = value
    return json.dumps(out, sort_keys=True, default=str)


def classify(machines: Sequence[tuple[str, Machine]], request: Request, catalog: Catalog) -> tuple[FleetClass, ...]:
    """Collapse identical nodes and judge every build once per class."""
    by_key: dict[str, list[tuple[str, Machine]]] = {}
    for node, machine in machines:
        by_key.setdefault(class_key(machine), []).append((node, machine))
    out = []
    for members in by_key.values():
        # without serial numbers, a node's identical GPUs are judged once (resolve._judge)
        first = members[0][1]
        machine = replace(first, gpus=tuple(replace(g, uuid=None) for g in first.gpus))
        verdicts = {
            build_key(v.build): _other_vendor(machine, v)
            for v in judge_builds(machine, request, catalog, gpu_optional=True)
        }
        out.append(FleetClass(nodes=tuple(sorted(n for n, _ in members)), machine=machine, verdicts=verdicts))
    return tuple(sorted(out, key=lambda c: c.nodes[0]))


_KIND_NAMES = {"cuda": "CUDA", "rocm": "ROCm", "xpu": "XPU"}


def _other_vendor(machine: Machine, v: Verdict) -> Verdict:
    """A GPU build runs on a node without a GPU, but a node with another vendor's GPUs wants
    its own vendor's build or the CPU one, never a build that leaves all its GPUs idle."""
    if v.rejected or v.build.kind == "cpu" or not machine.gpus or _has_vendor_gpu(machine, v.build):
        return v
    kind = _KIND_NAMES.get(v.build.kind, v.build.kind)
    vendors = sorted({g.vendor for g in machine.gpus})
    return Verdict(
        build=v.build, rejected=f"a {kind} build uses none of this node's GPUs ({', '.join(vendors)})", rank=()
    )


def build_key(build: Build) -> BuildKey:
    return (build.torch, build.variant)


def class_label(machine: Machine) -> str:
    """``NVIDIA Tesla V100-SXM2-32GB (driver 535.104.05)``, ``CPU-only``."""
    names: dict[str, int] = {}
    for g in machine.gpus:
        name = g.name or f"{g.vendor} GPU"
        names[name] = names.get(name, 0) + 1
    if not names:
        text = "CPU-only"
    else:
        text = " + ".join(f"{n}x {name}" if n > 1 else name for name, n in names.items())
    if machine.nvidia_driver:
        text += f" (driver {machine.nvidia_driver})"
    if machine.arch != "x86_64":
        text += f" [{machine.arch}]"
    return text


def _nodes_text(nodes: Sequence[str]) -> str:
    shown = ", ".join(nodes[:_MAX_NAMED])
    return shown + (f" and {len(nodes) - _MAX_NAMED} more" if len(nodes) > _MAX_NAMED else "")


def _fleet_rank(key: BuildKey, classes: Sequence[FleetClass]) -> tuple:
    """A build's rank over ``classes`` (each counted once per node): GPUs used first, then as
    ``resolve`` ranks, taking the worst class's place where classes differ (the driver level)."""
    ranks = [(len(c.nodes), c.verdicts[key].rank) for c in classes]
    first = ranks[0][1]
    return (
        sum(n * r[0] for n, r in ranks),
        sum(n * r[1] for n, r in ranks),
        first[2],
        *(min(r[i] for _, r in ranks) for i in range(3, len(first))),
    )


def _own_best(c: FleetClass) -> Verdict | None:
    """The class's own choice, as ``resolve`` makes it (no GPU build on a node without the GPU)."""
    own = [v for v in c.kept().values() if v.build.kind == "cpu" or _has_vendor_gpu(c.machine, v.build)]
    return max(own, key=lambda v: v.rank, default=None)


def _has_vendor_gpu(machine: Machine, build: Build) -> bool:
    vendor = {"cuda": "nvidia", "rocm": "amd", "xpu": "intel"}.get(build.kind)
    return any(g.vendor == vendor for g in machine.gpus)


def _unplanned(classes: Sequence[FleetClass]) -> dict[str, str]:
    out = {}
    for c in classes:
        if not c.kept():
            reasons = sorted({v.rejected for v in c.verdicts.values() if v.rejected})
            why = reasons[0] if reasons else f"the catalog has no build for {c.machine.os} {c.machine.arch}"
            for n in c.nodes:
                out[n] = why
    return out


def plan_one(classes: Sequence[FleetClass]) -> FleetPlan:
    """The one build every class keeps, and what choosing it costs each class; a class that
    keeps no build at all is left out and named in ``unplanned``."""
    unplanned = _unplanned(classes)
    live = [c for c in classes if c.kept()]
    if not live:
        return FleetPlan(unplanned=unplanned, refusal="no node has a build")
    counts: dict[BuildKey, int] = {}
    builds: dict[BuildKey, Build] = {}
    for c in live:
        for key, v in c.kept().items():
            counts[key] = counts.get(key, 0) + 1
            builds.setdefault(key, v.build)
    common = [k for k, n in counts.items() if n == len(live)]
    if not common:
        return FleetPlan(
            unplanned=unplanned,
            refusal="no single build runs on every node",
            reasons=tuple(_blockers(live, counts, builds)),
        )
    best = max(common, key=lambda k: _fleet_rank(k, live))
    group = Group(build=builds[best], classes=tuple(live))
    return FleetPlan(groups=(group,), tradeoffs=tuple(_tradeoffs(live, best, counts, builds)), unplanned=unplanned)


def _describe(build: Build) -> str:
    return f"torch {build.torch} {build.variant}"


def _tradeoffs(
    classes: Sequence[FleetClass], chosen: BuildKey, counts: Mapping[BuildKey, int], builds: Mapping[BuildKey, Build]
) -> list[str]:
    out = _forced(classes, chosen, counts, builds)
    torch, variant = chosen
    for c in classes:
        own = _own_best(c)
        if own is not None and build_key(own.build) != chosen:
            lost = []
            mine = c.verdicts[chosen].rank
            if own.rank[1] > mine[1]:
                lost.append(f"uses {mine[1]} of their {own.rank[1]} GPUs")
            if own.rank[2] > mine[2]:
                lost.append("an older torch")
            detail = f" ({'; '.join(lost)})" if lost else ""
            out.append(
                f"alone, the {c.label()} node{'s' if len(c.nodes) > 1 else ''} ({_nodes_text(c.nodes)}) would get "
                f"{_describe(own.build)}; the fleet build is {torch} {variant}{detail}"
            )
    return out


def _forced(
    classes: Sequence[FleetClass], chosen: BuildKey, counts: Mapping[BuildKey, int], builds: Mapping[BuildKey, Build]
) -> list[str]:
    """Who forces the choice: of the builds better than the chosen one for the classes that keep
    them, the one that would serve the most nodes; each class that keeps it out is named, with
    its reason ("the V100 nodes force cu126 and torch <= 2.14.1")."""
    options = []
    for key, n in counts.items():
        if n == len(classes):
            continue  # kept by all: the chosen one is the best of those
        keepers = [c for c in classes if key in c.kept()]
        if _fleet_rank(key, keepers) > _fleet_rank(chosen, keepers):
            options.append((sum(len(c.nodes) for c in keepers), _fleet_rank(key, keepers), key))
    if not options:
        return []
    served, _rank, better = max(options)
    torch, variant = chosen
    costs = [variant] if better[1] != variant else []
    if better[0] != torch:
        costs.append(f"torch <= {torch}")
    out = []
    for c in classes:
        if better in c.kept():
            continue
        why = c.verdicts[better].rejected if better in c.verdicts else "there is no wheel for its platform"
        why = _MORE_GPUS.sub("", why or "")  # resolve's pointer to the notes of a plan not shown here
        plural = len(c.nodes) > 1
        out.append(
            f"the {c.label()} node{'s' if plural else ''} ({_nodes_text(c.nodes)}) force{'' if plural else 's'} "
            f"{' and '.join(costs)}: {_describe(builds[better])} would serve the other {served} "
            f"node{'s' if served != 1 else ''}, but on them {why}"
        )
    return out


def _blockers(
    classes: Sequence[FleetClass], counts: Mapping[BuildKey, int], builds: Mapping[BuildKey, Build]
) -> list[str]:
    """Why no build is common: the best of the builds kept by the most classes, and why each
    other class keeps it out."""
    top = max(counts.values(), default=0)
    key = max(
        (k for k, n in counts.items() if n == top),
        key=lambda k: _fleet_rank(k, [c for c in classes if k in c.kept()]),
    )
    reasons = []
    for c in classes:
        if key not in c.kept():
            why = c.verdicts[key].rejected if key in c.verdicts else f"no {builds[key].variant} build for its platform"
            reasons.append(f"{_describe(builds[key])} does not run on {c.label()} ({_nodes_text(c.nodes)}): {why}")
    reasons.append("plan with --groups for the fewest builds that serve every node")
    return reasons


def _cover_score(key: BuildKey, served: Sequence[FleetClass]) -> tuple:
    return (sum(len(c.nodes) for c in served), _fleet_rank(key, served))


def _greedy_cover(live: Sequence[FleetClass], accepts: Mapping[int, set[BuildKey]]) -> list[BuildKey]:
    """Set cover, greedily: the build accepted by the most nodes not yet served, first."""
    left = set(accepts)
    chosen: list[BuildKey] = []
    while left:
        candidates = {k for i in left for k in accepts[i]}
        best = max(candidates, key=lambda k: _cover_score(k, [live[i] for i in left if k in accepts[i]]))
        chosen.append(best)
        left = {i for i in left if best not in accepts[i]}
    return chosen


def _smaller_cover(
    live: Sequence[FleetClass], accepts: Mapping[int, set[BuildKey]], greedy: int
) -> list[BuildKey] | None:
    """A cover with fewer builds than the greedy one, searched exhaustively (each build a bit
    mask of the classes that accept it) while the search stays under ``_MAX_COMBINATIONS``;
    ``None`` when there is none, or the search would be larger."""
    candidates = sorted(
        {k for a in accepts.values() for k in a},
        key=lambda k: _cover_score(k, [live[i] for i in accepts if k in accepts[i]]),
        reverse=True,
    )
    masks = {k: sum(1 << i for i in accepts if k in accepts[i]) for k in candidates}
    full = (1 << len(live)) - 1
    if sum(math.comb(len(candidates), n) for n in range(1, greedy)) > _MAX_COMBINATIONS:
        return None
    for n in range(1, greedy):
        for combo in itertools.combinations(candidates, n):
            covered = 0
            for k in combo:
                covered |= masks[k]
            if covered == full:
                return list(combo)
    return None


def plan_groups(classes: Sequence[FleetClass]) -> FleetPlan:
    """The fewest builds that give every class a build as good as its own: a greedy set
    cover, then an exhaustive search for a smaller one while that search is small."""
    unplanned = _unplanned(classes)
    live = [c for c in classes if c.kept()]
    accepts: dict[int, set[BuildKey]] = {}
    builds: dict[BuildKey, Build] = {}
    for i, c in enumerate(live):
        own = _own_best(c) or max(c.kept().values(), key=lambda v: v.rank)
        floor = own.rank[:3]
        accepts[i] = {k for k, v in c.kept().items() if v.rank[:3] >= floor}
        for k in accepts[i]:
            builds.setdefault(k, c.verdicts[k].build)
    chosen = _greedy_cover(live, accepts)
    chosen = _smaller_cover(live, accepts, len(chosen)) or chosen
    members: dict[BuildKey, list[FleetClass]] = {k: [] for k in chosen}
    for i, c in enumerate(live):
        mine = max((k for k in chosen if k in accepts[i]), key=lambda k: c.verdicts[k].rank)
        members[mine].append(c)
    groups = tuple(Group(build=builds[k], classes=tuple(members[k])) for k in chosen if members[k])
    return FleetPlan(groups=groups, unplanned=unplanned)


def resolve_group(group: Group, request: Request, catalog: Catalog) -> Plan:
    """The group's build as a ``Plan`` (the same JSON as ``torchup plan``), resolved for its
    representative machine with the build asked for by version and variant.  The reasons
    that pin adds are dropped, and so are ``alternatives`` and ``considered``, which speak
    for one machine, not the fleet."""
    b = group.build
    pinned = replace(request, torch=f"=={b.torch}", variant=b.variant, cuda=None, cpu=False)
    rep = group.representative()
    result = resolve(rep, pinned, catalog)
    if isinstance(result, Refusal):  # every class kept it above: resolve agrees, or this is a bug
        raise AssertionError(f"{b.torch} {b.variant} was kept, then refused: {result.message}")
    own = (f"--torch =={b.torch}", f"--variant {b.variant} was asked for")
    reasons = [r for r in result.reasons if not any(x in r for x in own)]
    nodes = group.nodes
    head = (
        f"one build for {len(nodes)} node{'s' if len(nodes) != 1 else ''} of {len(group.classes)} kind"
        f"{'s' if len(group.classes) != 1 else ''}; the reasons below are for the {class_label(rep)} nodes, "
        "whose GPUs it uses most"
    )
    return replace(result, reasons=(head, *reasons), alternatives=(), considered=())
