"""``torchup doctor``: diagnose the torch installation of an environment."""

from __future__ import annotations

import json
import sys

from torchup.commands._args import seconds
from torchup.errors import EXIT_FAILURE, EXIT_OK, UsageError

TYPE_CHECKING = False  # argparse is imported only when argparse parses (torchup.fastargs)
if TYPE_CHECKING:
    import argparse

__all__ = ["add_arguments", "doctor_json", "render_text", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--python",
        metavar="PATH",
        help="the Python whose environment to diagnose (default: active venv / conda env, else python3)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the torchup/doctor document as JSON (docs/json.md): findings, summary",
    )
    parser.add_argument(
        "--timeout", type=seconds, metavar="SECONDS", help="time limit for the check run in the target (default 120)"
    )
    parser.add_argument(
        "--save-state",
        metavar="FILE",
        help="also write everything doctor looked at to FILE (JSON), to replay or attach to a report",
    )
    parser.add_argument(
        "--state", metavar="FILE", help="diagnose a state recorded with --save-state instead of this machine"
    )
    parser.add_argument("--no-plan", action="store_true", help="do not compute the install command for fixes")


def run(args: argparse.Namespace, system) -> int:
    from torchup.doctor.rules import diagnose, state_to_dict
    from torchup.doctor.state import gather_state, load_catalog_or_none, load_state_file

    if args.state and args.python:
        raise UsageError("--state replays a recorded environment; it cannot be combined with --python")
    if args.state:
        state = load_state_file(args.state)
    else:
        from torchup.target import find_target_python

        python, _how = find_target_python(system, args.python)
        state = gather_state(system, python, timeout=args.timeout, plan=not args.no_plan)
    if args.save_state:
        try:
            with open(args.save_state, "w", encoding="utf-8") as fh:
                json.dump(state_to_dict(state), fh, indent=1)
                fh.write("\n")
        except OSError as exc:
            raise UsageError(f"cannot write {args.save_state}: {exc.strerror or exc}") from None
    v = state.verify
    if v is not None and not v.python:
        # the target never ran the check script: there is nothing to diagnose
        from torchup.errors import EnvironmentProblem

        why = v.crashed or "it printed nothing torchup could read"
        tail = v.stderr_tail.strip().splitlines()[-5:]
        hint = f"is it a working Python? try: {state.python} -c 'import sys; print(sys.version)'"
        run = state.verify_run if isinstance(state.verify_run, dict) else {}
        if run.get("timed_out") and not run.get("events"):
            secs = run.get("timeout")
            within = f" within {secs:g} s" if isinstance(secs, (int, float)) else ""
            why = f"it printed nothing{within} and was stopped (it hangs as it starts)"
            hint += "; a sitecustomize or .pth file that waits, or a slow network home, can cause it; --timeout allows longer"
        raise EnvironmentProblem(f"{state.python} did not run torchup's check: {why}", details=tail, hint=hint)
    catalog = load_catalog_or_none(system)
    diagnoses = diagnose(state, catalog)
    if args.json:
        from torchup.output import emit_json

        emit_json("doctor", doctor_json(state, diagnoses))
    else:
        from torchup.output import style_for

        sys.stdout.write(render_text(state, diagnoses, style_for(sys.stdout, system.env)))
    broken = _summary(state)["torch_imports"] is False or (
        state.verify is not None and state.verify.crashed is not None
    )
    return EXIT_FAILURE if broken or any(d.severity == "error" for d in diagnoses) else EXIT_OK


def _summary(state) -> dict:
    v = state.verify
    from torchup.doctor.rules import torch_build

    kind, toolkit = torch_build(state)
    installed = bool(v and any(d.get("name") == "torch" for d in v.distributions))
    return {
        "torch_imports": (v.torch is not None) if installed else None,
        "check_crashed": v.crashed if v else None,
        "python": state.python,
        "torch": (v.torch or {}).get("version") if v and v.torch else None,
        "build": v.build_label if v else None,
        "torch_kind": kind,
        "toolkit": toolkit,
        "cuda_available": v.device_facts.get("cuda_available") if v else None,
        "torchvision": (v.companions.get("torchvision") or {}).get("version") if v else None,
        "torchaudio": (v.companions.get("torchaudio") or {}).get("version") if v else None,
        "plan": state.plan_summary,
        "notes": list(state.notes),
        "probe_notes": [{"id": n.id, "message": n.message} for n in (state.machine.notes if state.machine else ())],
    }


def doctor_json(state, diagnoses) -> dict:
    """``{"findings": [...], "summary": {...}}``: each finding with its ``severity``."""
    return {"findings": [d.to_json() for d in diagnoses], "summary": _summary(state)}


def render_text(state, diagnoses, style) -> str:
    s = _summary(state)
    lines = [style.bold(f"torchup doctor: {state.python}")]
    m = state.machine
    if m is not None:
        gpus = ", ".join(g.name or g.vendor for g in m.gpus) or "no GPU found"
        drv = f", NVIDIA driver {m.nvidia_driver}" if m.nvidia_driver else ""
        lines.append(f"  machine: {m.os} {m.arch}, Python {m.python}, {gpus}{drv}")
    if s["torch"]:
        extra = (
            ""
            if s["cuda_available"] is None or s["torch_kind"] != "cuda"
            else (", CUDA available" if s["cuda_available"] else ", CUDA NOT available")
        )
        lines.append(f"  torch {s['torch']} ({s['build']} build{extra})")
    elif (
        state.verify is not None
        and state.verify.distributions
        and any(d.get("name") == "torch" for d in state.verify.distributions)
    ):
        imp = state.verify.check("import-torch")
        lines.append(
            style.red(f"  torch is installed but does not import: {imp.detail if imp else state.verify.crashed}")
        )
    else:
        lines.append("  torch is not installed in this environment")
    for name in ("torchvision", "torchaudio"):
        if s[name]:
            lines.append(f"  {name} {s[name]}")
    if s["plan"]:
        lines.append(style.dim(f"  torchup plan would install: {s['plan']}"))
    for note in state.notes:
        lines.append(style.dim(f"  note: {note}"))
    for note in s["probe_notes"]:
        lines.append(style.dim(f"  probe: {note['message']}"))
    if s["check_crashed"] and s["torch_imports"] is not False:
        lines.append(style.red(f"  the check in the target failed: {s['check_crashed']}"))
    if not diagnoses:
        if s["torch_imports"] is False or s["check_crashed"]:
            lines.append(style.red("torch is broken here and no known problem matches; the error is above"))
        else:
            lines.append(style.green("no problems found"))
        return "\n".join(lines) + "\n"
    for d in diagnoses:
        f = d.finding
        tag = style.red("error") if d.severity == "error" else style.yellow("warning")
        lines += ["", f"{tag} [{f.id}] {style.bold(f.title)}", f"  family: {f.family}", f"  cause: {f.cause}"]
        if f.evidence:
            lines.append("  evidence:")
            lines += [f"    - {e}" for e in f.evidence]
        if f.fix:
            lines.append("  fix:")
            lines += [f"    {c}" for c in f.fix]
    n_err = sum(1 for d in diagnoses if d.severity == "error")
    lines += ["", f"{n_err} error(s), {len(diagnoses) - n_err} warning(s)"]
    return "\n".join(lines) + "\n"
