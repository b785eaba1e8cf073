#!/usr/bin/env bash
# device-check.sh: run torchup against a machine's preinstalled torch and write one report.
#
#   scripts/device-check.sh [OUT_DIR]
#
# Runs `torchup probe`, `doctor`, `verify --bench` and `plan` (each with --json), plus
# nvidia-smi and torch's own view of the devices, and writes into OUT_DIR (default: $OUT,
# else ./device-check-out):
#   report.md          the summary: each command's exit code and time, and torchup's facts
#                      side by side with nvidia-smi's and torch's own (driver, CUDA, GPUs,
#                      compute capability, memory, arch list, matmul throughput)
#   probe.json doctor.json doctor-state.json verify-bench.json plan.json
#   nvidia-smi.txt nvidia-smi-query.csv torch-self.json   (and *.stderr for each command)
#
# Environment:
#   TORCHUP_TARGET_PYTHON  the Python whose torch to check (default: the first of python3,
#                          python on PATH that has torch installed)
#   TORCHUP                how to run torchup (default: `torchup` on PATH, else
#                          `<a python with 'packaging'> -m torchup` with this checkout's src/)
#   CHECK_TIMEOUT          seconds per command (default 540)
# Exit code: 0 when the report was written (whatever the checks found), 2 when it could not be.
set -u

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
out="${1:-${OUT:-./device-check-out}}"
mkdir -p "$out" || { echo "device-check: cannot create $out" >&2; exit 2; }
out="$(cd "$out" && pwd)"
limit="${CHECK_TIMEOUT:-540}"

has_torch() { "$1" -c 'import importlib.util, sys; sys.exit(0 if importlib.util.find_spec("torch") else 1)' >/dev/null 2>&1; }

target="${TORCHUP_TARGET_PYTHON:-}"
if [ -z "$target" ]; then
  for cand in python3 python; do
    p="$(command -v "$cand" 2>/dev/null)" || continue
    if has_torch "$p"; then target="$p"; break; fi
  done
fi
if [ -z "$target" ]; then
  target="$(command -v python3 || true)"
  echo "device-check: no Python with torch found on PATH; checking ${target:-nothing}" >&2
fi
[ -n "$target" ] || { echo "device-check: no python3 at all" >&2; exit 2; }

if [ -n "${TORCHUP:-}" ]; then
  read -r -a torchup <<<"$TORCHUP"
elif command -v torchup >/dev/null 2>&1; then
  torchup=(torchup)
else
  runner=""
  shim=""
  for p in "$target" "$(command -v python3 2>/dev/null)"; do
    if [ -n "$p" ] && "$p" -c 'import sys, packaging; sys.exit(sys.version_info < (3, 10))' >/dev/null 2>&1; then runner="$p"; break; fi
  done
  if [ -z "$runner" ]; then
    # A GPU box often has torch but not 'packaging' (torchup's one dependency), and no network
    # to install it. pip carries a copy: expose it as 'packaging' for this run only.
    for p in "$target" "$(command -v python3 2>/dev/null)"; do
      if [ -n "$p" ] && "$p" -c 'import sys, pip._vendor.packaging.requirements; sys.exit(sys.version_info < (3, 10))' >/dev/null 2>&1; then
        runner="$p"
        shim="$out/.packaging-shim"
        mkdir -p "$shim/packaging"
        cat >"$shim/packaging/__init__.py" <<'SHIM'
# device-check.sh only: pip's vendored copy of packaging, under its own name
import importlib, sys
from pip._vendor.packaging import *  # noqa: F401,F403
for _name in ("version", "specifiers", "requirements", "utils", "tags", "markers"):
    sys.modules["packaging." + _name] = importlib.import_module("pip._vendor.packaging." + _name)
SHIM
        echo "device-check: using pip's vendored packaging for torchup (no 'packaging' installed)" >&2
        break
      fi
    done
  fi
  [ -n "$runner" ] || { echo "device-check: no torchup on PATH and no Python >= 3.10 with 'packaging' (or pip) to run it from $repo/src" >&2; exit 2; }
  export PYTHONPATH="$repo/src${shim:+:$shim}${PYTHONPATH:+:$PYTHONPATH}"
  torchup=("$runner" -m torchup)
fi

if command -v timeout >/dev/null 2>&1; then tmo=(timeout --kill-after=10 "$limit"); else tmo=(); fi
: >"$out/commands.tsv"

# run NAME OUTFILE CMD...: stdout to OUTFILE, stderr beside it, exit code and seconds recorded
run() {
  local name="$1" file="$2"; shift 2
  local t0 t1 rc
  t0=$(date +%s.%N)
  "${tmo[@]}" "$@" >"$out/$file" 2>"$out/$file.stderr"
  rc=$?
  t1=$(date +%s.%N)
  printf '%s\t%s\t%s\t%s\n' "$name" "$rc" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')" "$*" >>"$out/commands.tsv"
  echo "device-check: $name -> exit $rc" >&2
}

run probe probe.json "${torchup[@]}" probe --json --python "$target"
run doctor doctor.json "${torchup[@]}" doctor --json --python "$target" --save-state "$out/doctor-state.json"
run verify-bench verify-bench.json "${torchup[@]}" verify --bench --json --python "$target"
run plan plan.json "${torchup[@]}" plan --json --machine "$out/probe.json"

if command -v nvidia-smi >/dev/null 2>&1; then
  run nvidia-smi nvidia-smi.txt nvidia-smi
  run nvidia-smi-query nvidia-smi-query.csv nvidia-smi \
    --query-gpu=index,name,driver_version,compute_cap,memory.total,pcie.link.gen.current,pcie.link.width.current,pcie.link.gen.max \
    --format=csv
else
  echo "nvidia-smi: not found on PATH" >"$out/nvidia-smi.txt"
  : >"$out/nvidia-smi-query.csv"
fi

# torch's own numbers, straight from the target (not through torchup)
run torch-self torch-self.json "$target" - <<'PY'
import json, sys, time
out = {"python": sys.version.split()[0]}
try:
    import torch
except Exception as exc:
    out["error"] = "%s: %s" % (type(exc).__name__, exc)
    print(json.dumps(out)); sys.exit(0)
out.update(torch=torch.__version__, cuda=torch.version.cuda, hip=getattr(torch.version, "hip", None),
           cudnn=torch.backends.cudnn.version(), cuda_available=torch.cuda.is_available(),
           arch_list=torch.cuda.get_arch_list() if torch.cuda.is_available() else [], devices=[])
if torch.cuda.is_available():
    out["driver_cuda"] = None
    try:
        v = torch._C._cuda_getDriverVersion()  # e.g. 12040
        out["driver_cuda"] = "%d.%d" % (v // 1000, (v % 1000) // 10)
    except Exception:
        pass
    for i in range(torch.cuda.device_count()):
        p = torch.cuda.get_device_properties(i)
        d = {"name": p.name, "capability": "%d.%d" % (p.major, p.minor), "memory_mib": p.total_memory // (1 << 20),
             "multiprocessors": p.multi_processor_count}
        for dtype in ("float16", "bfloat16", "float32"):
            try:
                a = torch.randn(8192, 8192, device=i, dtype=getattr(torch, dtype))
                b = torch.randn(8192, 8192, device=i, dtype=getattr(torch, dtype))
                a @ b; torch.cuda.synchronize(i)
                t0 = time.perf_counter()
                for _ in range(10):
                    a @ b
                torch.cuda.synchronize(i)
                d["matmul_tflops_" + dtype] = round(2 * 8192 ** 3 * 10 / (time.perf_counter() - t0) / 1e12, 2)
            except Exception as exc:
                d["matmul_tflops_" + dtype] = "%s: %s" % (type(exc).__name__, exc)
        out["devices"].append(d)
print(json.dumps(out))
PY

# the report: every JSON read with the standard library, nothing assumed present
"${runner:-$target}" - "$out" <<'PY' >"$out/report.md"
import csv, json, os, platform, sys, datetime
out = sys.argv[1]

def load(name):
    try:
        with open(os.path.join(out, name)) as fh:
            text = fh.read()
        return json.loads(text) if text.strip() else None
    except (OSError, ValueError) as exc:
        return {"_unreadable": str(exc)}

def tail(name, n=15):
    try:
        with open(os.path.join(out, name), errors="replace") as fh:
            return "".join(fh.readlines()[-n:])
    except OSError:
        return ""

probe, doctor, verify, plan, self_ = (load(n) for n in ("probe.json", "doctor.json", "verify-bench.json", "plan.json", "torch-self.json"))
rows = []
with open(os.path.join(out, "commands.tsv")) as fh:
    for line in fh:
        name, rc, secs, cmd = line.rstrip("\n").split("\t", 3)
        rows.append((name, rc, secs, cmd))
smi_rows = []
try:
    with open(os.path.join(out, "nvidia-smi-query.csv")) as fh:
        smi_rows = [{k.strip(): (v or "").strip() for k, v in r.items()} for r in csv.DictReader(fh)]
except (OSError, csv.Error):
    pass

p = []
w = p.append
w("# torchup device check")
w("")
w("- date: %s" % datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
w("- host: %s %s" % (platform.system(), platform.machine()))
w("- target python: %s" % ((verify or {}).get("python_executable") or "?"))
gpus = (probe or {}).get("gpus") or []
w("- GPUs (torchup probe): %s" % (", ".join(g.get("name") or g.get("vendor") for g in gpus) or "no GPU found"))
if not smi_rows:
    w("- nvidia-smi: not available; **no NVIDIA GPU checked on this machine**")
w("")
w("## Commands")
w("")
w("| command | exit | seconds |")
w("|---|---:|---:|")
for name, rc, secs, cmd in rows:
    w("| `%s` | %s | %s |" % (cmd.replace("|", "\\|")[:160], rc, secs))
w("")
w("## torchup compared with nvidia-smi and torch itself")
w("")
w("| fact | torchup | nvidia-smi | torch |")
w("|---|---|---|---|")
smi_driver = smi_rows[0].get("driver_version") if smi_rows else None
w("| NVIDIA driver | %s | %s | |" % ((probe or {}).get("nvidia_driver"), smi_driver))
w("| driver's CUDA | %s | (see nvidia-smi.txt header) | %s |" % ((probe or {}).get("cuda_driver_max"), (self_ or {}).get("driver_cuda")))
tv = (verify or {}).get("torch") or {}
w("| torch | %s (%s) | | %s |" % (tv.get("version"), ((verify or {}).get("build") or {}).get("label"), (self_ or {}).get("torch")))
w("| build CUDA | %s | | %s |" % (tv.get("cuda"), (self_ or {}).get("cuda")))
w("| cuDNN | %s | | %s |" % (((verify or {}).get("build") or {}).get("cudnn_version"), (self_ or {}).get("cudnn")))
w("| arch list | %s | | %s |" % (" ".join(((verify or {}).get("build") or {}).get("arch_flags") or []), " ".join((self_ or {}).get("arch_list") or [])))
vdev = [d for d in (verify or {}).get("devices") or [] if d.get("type") == "cuda"]
sdev = (self_ or {}).get("devices") or []
for i in range(max(len(gpus), len(vdev), len(sdev), len(smi_rows))):
    g = gpus[i] if i < len(gpus) else {}
    v = vdev[i] if i < len(vdev) else {}
    s = sdev[i] if i < len(sdev) else {}
    r = smi_rows[i] if i < len(smi_rows) else {}
    w("| GPU %d name | %s / verify: %s | %s | %s |" % (i, g.get("name"), v.get("name"), r.get("name"), s.get("name")))
    w("| GPU %d compute capability | %s / verify: %s | %s | %s |" % (i, g.get("compute_capability"), v.get("capability"), r.get("compute_cap"), s.get("capability")))
    w("| GPU %d memory MiB | %s / verify: %s | %s | %s |" % (i, g.get("memory_mib"), v.get("memory_mib"), r.get("memory.total [MiB]"), s.get("memory_mib")))
    w("| GPU %d arch in build | %s (%s) | | |" % (i, v.get("arch_ok"), v.get("arch_note")))
    if r:
        w("| GPU %d PCIe link | | gen %s (max %s) x%s | |" % (i, r.get("pcie.link.gen.current"), r.get("pcie.link.gen.max"), r.get("pcie.link.width.current")))
    for dtype in ("float16", "bfloat16", "float32"):
        b = [x for x in (verify or {}).get("bench") or [] if x.get("device") == "cuda:%d" % i and x.get("what") == "matmul" and x.get("dtype") == dtype]
        mine = "%.1f TFLOP/s" % (b[0]["value"] / 1000) if b else None
        if b and b[0].get("expected"):
            mine += " (%.0f%% of %.0f)" % (100 * b[0]["ratio"], b[0]["expected"] / 1000)
        w("| GPU %d matmul %s | %s | | %s TFLOP/s |" % (i, dtype, mine, s.get("matmul_tflops_" + dtype)))
w("")
w("## verify --bench")
w("")
if verify and "checks" in verify:
    w("ok: **%s**" % verify.get("ok"))
    w("")
    for c in verify["checks"]:
        if c["status"] != "pass":
            w("- %s %s%s: %s" % (c["status"], c["step"], " [%s]" % c["device"] if c.get("device") else "", c.get("detail")))
    for b in verify.get("bench") or []:
        w("- bench %s %s %s: %.1f %s%s" % (b["device"], b["what"], b.get("dtype") or "", b["value"], b["unit"],
                                            " (expected %s, %s)" % (b["expected"], "LOW" if b["low"] else "ok") if b.get("expected") else ""))
else:
    w("no report; stderr:\n\n```\n%s```" % tail("verify-bench.json.stderr"))
w("")
w("## doctor")
w("")
if doctor and "findings" in doctor:
    if not doctor["findings"]:
        w("no findings")
    for f in doctor["findings"]:
        w("- **%s** `%s` (%s): %s" % (f.get("severity"), f["id"], f["family"], "; ".join(f.get("evidence") or [])))
else:
    w("no report; stderr:\n\n```\n%s```" % tail("doctor.json.stderr"))
w("")
w("## plan")
w("")
if plan and "torch" in plan:
    w("torch %s (%s), torchvision %s; index %s" % (plan.get("torch"), plan.get("variant"), plan.get("torchvision"), plan.get("index_url")))
else:
    w("```\n%s\n%s```" % (json.dumps(plan)[:2000], tail("plan.json.stderr")))
w("")
w("## nvidia-smi")
w("")
w("```")
w(tail("nvidia-smi.txt", 60).rstrip())
w("```")
w("")
w("## The JSON")
for name in ("probe.json", "doctor.json", "verify-bench.json", "plan.json", "torch-self.json"):
    w("")
    w("<details><summary>%s</summary>" % name)
    w("")
    w("```json")
    data = load(name)
    w(json.dumps(data, indent=1)[:60000] if data is not None else "(empty)")
    w("```")
    w("")
    w("</details>")
print("\n".join(p))
PY
echo "device-check: report written to $out/report.md" >&2
