"""torchup's check script: runs INSIDE the target interpreter, never in torchup.

Standard library + torch only, and old-Python syntax (3.6+): the target may be
any Python a user has.  It prints one event per line, each prefixed with
``@@torchup-verify@@`` and a JSON object, flushed at once, so that torchup
keeps everything learned before a crash (a segfault in a CUDA kernel, a hang
killed by the time limit) and can name the step that was running.

Events: ``{"event": "start", "step": S}`` before a step, ``{"event": "result",
"step": S, "status": "pass"|"fail"|"skip", "detail": str, "data": {...}}``
after it, ``{"event": "done"}`` at the end.  A step that fails never stops the
script unless later steps cannot run without it (no torch: nothing to check).

Usage: python check.py [--light] [--bench]
"""

import json
import os
import platform
import sys
import time
import traceback
import warnings

MARK = "@@torchup-verify@@ "
ERROR_TAIL = 2000  # characters of a traceback kept in a result

try:  # a segfault then prints the Python stack to stderr, which torchup keeps
    import faulthandler

    faulthandler.enable()
except Exception:  # noqa: BLE001 - best effort only
    pass


def emit(obj):
    line = MARK + json.dumps(obj, default=str)
    sys.stdout.write("\n" + line + "\n")
    sys.stdout.flush()


class Step(object):
    """One check: announces itself, records warnings, never lets an exception out."""

    def __init__(self, name, device=None):
        self.name = name
        self.device = device
        self.status = "pass"
        self.detail = ""
        self.data = {}

    def __enter__(self):
        msg = {"event": "start", "step": self.name}
        if self.device:
            msg["device"] = self.device
        emit(msg)
        self._warn = warnings.catch_warnings(record=True)
        self._caught = self._warn.__enter__()
        warnings.simplefilter("always")
        self._t0 = time.perf_counter()
        return self

    def fail(self, detail):
        self.status = "fail"
        self.detail = detail

    def skip(self, detail):
        self.status = "skip"
        self.detail = detail

    def __exit__(self, exc_type, exc, tb):
        seconds = time.perf_counter() - self._t0
        self._warn.__exit__(None, None, None)
        if exc is not None:
            self.status = "fail"
            self.detail = "%s: %s" % (exc_type.__name__, exc)
            self.data["traceback"] = "".join(traceback.format_exception(exc_type, exc, tb))[-ERROR_TAIL:]
        caught = ["%s: %s" % (w.category.__name__, w.message) for w in self._caught]
        if caught:
            self.data["warnings"] = caught[:20]
        msg = {
            "event": "result",
            "step": self.name,
            "status": self.status,
            "detail": self.detail,
            "seconds": round(seconds, 4),
            "data": self.data,
        }
        if self.device:
            msg["device"] = self.device
        emit(msg)
        return True  # swallow: the failure is recorded


# --- facts -------------------------------------------------------------------


def python_facts(step):
    user_site = None
    try:
        import site

        user_site = site.getusersitepackages() if site.ENABLE_USER_SITE else None
    except Exception:  # noqa: BLE001
        pass
    step.data.update(
        {
            "version": "%d.%d.%d" % sys.version_info[:3],
            "implementation": platform.python_implementation().lower(),
            "executable": sys.executable,
            "prefix": sys.prefix,
            "base_prefix": getattr(sys, "base_prefix", sys.prefix),
            "bits": 64 if sys.maxsize > 2**32 else 32,
            "platform": sys.platform,
            "machine": platform.machine(),
            "free_threaded": bool(getattr(sys, "_is_gil_enabled", None)) and not sys._is_gil_enabled(),
            "user_site": user_site,
            "pythonpath": os.environ.get("PYTHONPATH"),
        }
    )


def torch_facts(step, torch):
    version = getattr(torch, "version", None)
    data = step.data
    data["version"] = getattr(torch, "__version__", None)
    data["file"] = getattr(torch, "__file__", None)
    data["cuda"] = getattr(version, "cuda", None)
    data["hip"] = getattr(version, "hip", None)
    data["git"] = getattr(version, "git_version", None)
    xpu = getattr(torch, "xpu", None)
    data["xpu_compiled"] = bool(xpu is not None and _call(getattr(xpu, "_is_compiled", None), False))
    mps = getattr(torch.backends, "mps", None)
    data["mps_built"] = bool(mps is not None and _call(getattr(mps, "is_built", None), False))


def build_facts(step, torch):
    """What the build contains, readable without any GPU."""
    data = step.data
    flags = None
    get_flags = getattr(torch._C, "_cuda_getArchFlags", None)
    if get_flags is not None:
        flags = get_flags()
    data["arch_flags"] = flags.split() if flags else []
    data["cudnn_version"] = _call(lambda: torch.backends.cudnn.version(), None)
    data["cudnn_available"] = bool(_call(lambda: torch.backends.cudnn.is_available(), False))
    data["nccl_version"] = None
    if data.get("arch_flags") or getattr(torch.version, "cuda", None) or getattr(torch.version, "hip", None):
        v = _call(lambda: torch.cuda.nccl.version(), None)
        data["nccl_version"] = ".".join(str(x) for x in v) if isinstance(v, tuple) else v
    dist = getattr(torch, "distributed", None)
    data["distributed"] = bool(dist is not None and _call(dist.is_available, False))
    data["nccl_available"] = bool(data["distributed"] and _call(lambda: dist.is_nccl_available(), False))
    data["cpu_capability"] = _call(lambda: torch.backends.cpu.get_cpu_capability(), None)
    data["threads"] = _call(torch.get_num_threads, None)
    data["mkl"] = bool(_call(lambda: torch.backends.mkl.is_available(), False))
    data["mkldnn"] = bool(_call(lambda: torch.backends.mkldnn.is_available(), False))


def loaded_libraries():
    """Shared libraries the process has mapped (Linux): where CUDA libs came from."""
    out = []
    try:
        with open("/proc/self/maps") as fh:
            for line in fh:
                parts = line.split(None, 5)
                if len(parts) == 6 and ".so" in parts[5]:
                    path = parts[5].strip()
                    if path not in out:
                        out.append(path)
    except (OSError, IOError):
        return None
    keep = (
        "libcuda",
        "libcudart",
        "libcudnn",
        "libcublas",
        "libnccl",
        "libnvjitlink",
        "libcusparse",
        "libcufft",
        "libcurand",
        "libamdhip",
        "libhip",
        "librocm",
        "libze_",
        "libsycl",
        "libtorch",
        "libc10",
        "libgomp",
        "libiomp",
        "libnvrtc",
        "libcupti",
        "libmkl",
    )
    return [p for p in out if os.path.basename(p).lower().startswith(keep)]


def dist_version(name):
    try:
        from importlib import metadata
    except ImportError:  # Python < 3.8
        return None
    try:
        return metadata.version(name)
    except Exception:  # noqa: BLE001 - not installed, or broken metadata
        return None


INTEREST_PREFIXES = ("torch", "nvidia-", "pytorch-", "triton", "numpy", "intel-extension", "cuda-")


def distributions(step):
    """Every copy of the packages doctor cares about, on every sys.path entry (metadata only)."""
    found = []
    seen_dirs = set()
    for entry in sys.path:
        where = os.path.abspath(entry or ".")
        if where in seen_dirs or not os.path.isdir(where):
            continue
        seen_dirs.add(where)
        try:
            listing = sorted(os.listdir(where))
        except OSError:
            continue
        for item in listing:
            if not item.endswith(".dist-info"):
                continue
            name, _, version = item[: -len(".dist-info")].partition("-")
            norm = name.lower().replace("_", "-").replace(".", "-")
            if not norm.startswith(INTEREST_PREFIXES):
                continue
            path = os.path.join(where, item)
            dist = {"name": norm, "version": version, "location": where, "installer": _read(path, "INSTALLER")}
            if norm == "torch":
                meta = _read(path, "METADATA", 200000) or ""
                dist["requires"] = [
                    ln[len("Requires-Dist:") :].strip() for ln in meta.splitlines() if ln.startswith("Requires-Dist:")
                ]
            found.append(dist)
    step.data["dists"] = found
    try:
        import site

        step.data["site_packages"] = list(site.getsitepackages()) if hasattr(site, "getsitepackages") else []
        step.data["user_site"] = site.getusersitepackages()
        step.data["user_site_enabled"] = bool(site.ENABLE_USER_SITE)
    except Exception:  # noqa: BLE001
        pass


def _read(dist_dir, name, limit=4096):
    try:
        with open(os.path.join(dist_dir, name), "rb") as fh:
            return fh.read(limit).decode("utf-8", "replace").strip() or None
    except (OSError, IOError):
        return None


def companion(step, name):
    step.data["version"] = dist_version(name)  # known even when the import fails
    try:
        mod = __import__(name)
    except ImportError as exc:
        if getattr(exc, "name", None) == name:
            step.skip("not installed")
            return None
        raise
    step.data["version"] = getattr(mod, "__version__", None) or step.data["version"]
    step.data["file"] = getattr(mod, "__file__", None)
    return mod


# --- devices -----------------------------------------------------------------


def cpu_name(cpuinfo="/proc/cpuinfo"):
    """The CPU's model as the kernel names it (Linux x86), else what Windows says, else the
    architecture.  Not platform.processor(): on Linux and macOS it runs ``uname -p`` in a child
    process (a fork of a process that has torch loaded) to learn little more than the machine."""
    try:
        with open(cpuinfo, "rb") as fh:
            for _ in range(64):  # the first processor's block: the model comes early in it
                line = fh.readline()
                if not line.strip():
                    break
                key, _, value = line.decode("utf-8", "replace").partition(":")
                if key.strip() == "model name" and value.strip():
                    return value.strip()
    except (OSError, IOError):
        pass
    if sys.platform == "win32":
        return platform.processor() or platform.machine()  # from PROCESSOR_IDENTIFIER: no child
    return platform.machine()


def list_devices(step, torch):
    devices = [{"device": "cpu", "type": "cpu", "name": cpu_name()}]
    data = step.data
    data["cuda_available"] = bool(torch.cuda.is_available())
    data["cuda_device_count"] = torch.cuda.device_count() if data["cuda_available"] else 0
    data["cuda_visible_devices"] = os.environ.get("CUDA_VISIBLE_DEVICES")
    get_driver = getattr(torch._C, "_cuda_getDriverVersion", None)  # CUDA builds only; 0 without a driver
    version = _call(get_driver, None) if get_driver is not None and not getattr(torch.version, "hip", None) else None
    if isinstance(version, int) and version > 0:
        data["driver_cuda"] = "%d.%d" % (version // 1000, (version % 1000) // 10)
    for i in range(data["cuda_device_count"]):
        props = torch.cuda.get_device_properties(i)
        cap = torch.cuda.get_device_capability(i)
        dev = {
            "device": "cuda:%d" % i,
            "type": "cuda",
            "name": torch.cuda.get_device_name(i),
            "capability": "%d.%d" % cap,
            "memory_mib": int(getattr(props, "total_memory", 0) // (1024 * 1024)),
            "multiprocessors": getattr(props, "multi_processor_count", None),
        }
        gcn = getattr(props, "gcnArchName", None)
        if gcn:
            dev["gfx"] = gcn
        devices.append(dev)
    mps = getattr(torch.backends, "mps", None)
    data["mps_available"] = bool(mps is not None and _call(mps.is_available, False))
    if data["mps_available"]:
        devices.append({"device": "mps", "type": "mps", "name": "Apple MPS"})
    xpu = getattr(torch, "xpu", None)
    data["xpu_available"] = bool(xpu is not None and _call(xpu.is_available, False))
    if data["xpu_available"]:
        for i in range(xpu.device_count()):
            props = xpu.get_device_properties(i)
            devices.append(
                {
                    "device": "xpu:%d" % i,
                    "type": "xpu",
                    "name": getattr(props, "name", None) or "Intel XPU",
                    "memory_mib": int(getattr(props, "total_memory", 0) // (1024 * 1024)),
                }
            )
    data["devices"] = devices
    return devices


def synchronize(torch, device):
    kind = device.split(":")[0]
    if kind == "cuda":
        torch.cuda.synchronize(device)
    elif kind == "mps":
        torch.mps.synchronize()
    elif kind == "xpu":
        torch.xpu.synchronize(device)


def exact_matmul_reference(n):
    """Integer-valued inputs whose product is exact in float32: checked against plain Python."""
    a = [[float((i * 7 + j * 3) % 11 - 5) for j in range(n)] for i in range(n)]
    b = [[float((i * 5 + j * 2) % 13 - 6) for j in range(n)] for i in range(n)]
    c = [[sum(a[i][k] * b[k][j] for k in range(n)) for j in range(n)] for i in range(n)]
    return a, b, c


def no_tf32(torch):
    """Correctness checks compare float32 with float32: TF32 off while they run."""
    saved = []
    for obj, attr in ((torch.backends.cuda.matmul, "allow_tf32"), (torch.backends.cudnn, "allow_tf32")):
        if hasattr(obj, attr):
            saved.append((obj, attr, getattr(obj, attr)))
            setattr(obj, attr, False)
    return saved


def restore(saved):
    for obj, attr, value in saved:
        setattr(obj, attr, value)


# The checks prove that each device's kernels load and compute right, not how fast (that is
# --bench), so they are small: a few ms on a CPU after import torch.  docs/verify.md says why
# these sizes suffice.
MATMUL_N = 64
EXACT_N = 16
CONV_INPUT = (2, 3, 16, 16)
CONV_WEIGHT = (8, 3, 3, 3)


def compute_checks(torch, devices, torchvision, torchvision_error):
    """The CPU computations run on one thread (the setting is restored after): the kernels are
    the same, only the split across the thread pool is skipped, whose wake-up costs more than
    these small products (5-15 ms each on a busy machine).  GPU kernels are not affected."""
    threads = _call(torch.get_num_threads, None)
    _call(lambda: torch.set_num_threads(1), None)
    try:
        _compute_checks(torch, devices, torchvision, torchvision_error)
    finally:
        if threads:
            _call(lambda: torch.set_num_threads(threads), None)


def _compute_checks(torch, devices, torchvision, torchvision_error):
    gen = torch.Generator().manual_seed(1234)
    a = torch.randn(MATMUL_N, MATMUL_N, generator=gen)
    b = torch.randn(MATMUL_N, MATMUL_N, generator=gen)
    x = torch.randn(*CONV_INPUT, generator=gen)
    w = torch.randn(*CONV_WEIGHT, generator=gen)
    conv_out = (CONV_INPUT[0], CONV_WEIGHT[0], CONV_INPUT[2], CONV_INPUT[3])  # padding 1 keeps the size
    boxes = torch.tensor(
        [[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [50.0, 50.0, 60.0, 60.0], [0.0, 0.0, 9.0, 9.0]]
    )
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    expected_keep = [0, 2]  # box 1 and box 3 overlap box 0 with IoU > 0.5

    ref = {}
    with Step("matmul-exact", "cpu") as step:
        ea, eb, ec = exact_matmul_reference(EXACT_N)
        got = torch.tensor(ea) @ torch.tensor(eb)
        if got.tolist() != ec:
            step.fail("CPU matrix product differs from the exact integer result")
    with Step("reference", "cpu") as step:
        ref["matmul"] = a @ b
        ref["conv"] = torch.nn.functional.conv2d(x, w, padding=1)

    for dev in devices:
        name = dev["device"]
        with Step("matmul", name) as step:
            if name == "cpu":
                got = ref["matmul"]
            else:
                saved = no_tf32(torch)
                try:
                    got = a.to(name) @ b.to(name)
                    synchronize(torch, name)
                    got = got.cpu()
                finally:
                    restore(saved)
            _compare(step, torch, got, ref["matmul"] if name != "cpu" else a.double().mm(b.double()).float(), 1e-3)
        with Step("conv2d", name) as step:
            if name == "cpu":
                got = ref["conv"]
                # the same convolution as a matrix product (unfold): independent of the conv kernels
                cols = torch.nn.functional.unfold(x, 3, padding=1)
                want = (w.view(CONV_WEIGHT[0], -1) @ cols).view(*conv_out)
            else:
                saved = no_tf32(torch)
                try:
                    got = torch.nn.functional.conv2d(x.to(name), w.to(name), padding=1)
                    synchronize(torch, name)
                    got = got.cpu()
                finally:
                    restore(saved)
                want = ref["conv"]
            _compare(step, torch, got, want, 1e-3)
        with Step("nms", name) as step:
            if torchvision_error:
                step.fail("torchvision failed to import: " + torchvision_error)
            elif torchvision is None:
                step.skip("torchvision is not installed")
            else:
                try:
                    keep = torchvision.ops.nms(boxes.to(name), scores.to(name), 0.5).cpu().tolist()
                except (NotImplementedError, RuntimeError) as exc:
                    # CPU and CUDA builds of torchvision always have nms: there a failure is real.
                    # Older releases lack MPS / XPU kernels, which is a gap, not a broken install.
                    if dev["type"] in ("mps", "xpu") and (
                        "Could not run" in str(exc) or isinstance(exc, NotImplementedError)
                    ):
                        step.skip("torchvision %s has no nms kernel for %s" % (torchvision.__version__, dev["type"]))
                        continue
                    raise
                step.data["keep"] = keep
                if keep != expected_keep:
                    step.fail("torchvision.ops.nms kept %s, expected %s" % (keep, expected_keep))


def _compare(step, torch, got, want, tol):
    err = (got.double() - want.double()).abs().max().item()
    scale = want.double().abs().max().item() or 1.0
    step.data["max_rel_error"] = err / scale
    if not bool(torch.isfinite(got).all()) or err / scale > tol:
        step.fail("result differs from the reference: max relative error %.3g (limit %g)" % (err / scale, tol))


# --- bench -------------------------------------------------------------------


def bench(torch, devices):
    for dev in devices:
        name = dev["device"]
        kind = dev["type"]
        dtypes = ["float32", "bfloat16"] if kind == "cpu" else ["float32", "tf32", "float16", "bfloat16"]
        for dtype in dtypes:
            with Step("bench-matmul-" + dtype, name) as step:
                _bench_matmul(step, torch, name, kind, dtype)
        if kind != "cpu":
            for direction in ("h2d", "d2h"):
                with Step("bench-copy-" + direction, name) as step:
                    _bench_copy(step, torch, name, kind, direction)


def _bench_matmul(step, torch, name, kind, dtype):
    n = 1024 if kind == "cpu" else 8192
    real = {"tf32": "float32"}.get(dtype, dtype)
    saved = []
    if dtype == "tf32":
        saved = [(torch.backends.cuda.matmul, "allow_tf32", torch.backends.cuda.matmul.allow_tf32)]
        torch.backends.cuda.matmul.allow_tf32 = True
    elif kind != "cpu":
        saved = no_tf32(torch)
    try:
        a = torch.randn(n, n, device=name).to(getattr(torch, real))
        b = torch.randn(n, n, device=name).to(getattr(torch, real))
        (a @ b)
        synchronize(torch, name)
        reps, elapsed = 0, 0.0
        t0 = time.perf_counter()
        while elapsed < 1.0 and reps < 200:
            a @ b
            reps += 1
            if kind != "cpu" and reps % 5:
                continue
            synchronize(torch, name)
            elapsed = time.perf_counter() - t0
        synchronize(torch, name)
        elapsed = time.perf_counter() - t0
    finally:
        restore(saved)
    step.data.update({"n": n, "reps": reps, "seconds": elapsed, "gflops": 2.0 * n**3 * reps / elapsed / 1e9})


def _bench_copy(step, torch, name, kind, direction):
    nbytes = 256 * 1024 * 1024
    host = torch.empty(nbytes, dtype=torch.uint8)
    pinned = False
    if kind == "cuda":
        try:
            host = host.pin_memory()
            pinned = True
        except Exception:  # noqa: BLE001 - pageable memory still measures something
            pass
    dev = torch.empty(nbytes, dtype=torch.uint8, device=name)
    reps = 5
    synchronize(torch, name)
    t0 = time.perf_counter()
    for _ in range(reps):
        if direction == "h2d":
            dev.copy_(host, non_blocking=pinned)
        else:
            host.copy_(dev, non_blocking=pinned)
    synchronize(torch, name)
    elapsed = time.perf_counter() - t0
    step.data.update(
        {"bytes": nbytes * reps, "seconds": elapsed, "gbps": nbytes * reps / elapsed / 1e9, "pinned": pinned}
    )


# --- main --------------------------------------------------------------------


def _call(fn, default):
    if fn is None:
        return default
    try:
        return fn()
    except Exception:  # noqa: BLE001 - a missing or failing probe is just unknown
        return default


def main(argv):
    light = "--light" in argv
    do_bench = "--bench" in argv
    emit({"event": "hello", "protocol": 1, "light": light, "bench": do_bench})
    with Step("python") as step:
        python_facts(step)
    with Step("distributions") as step:
        distributions(step)
    torch = None
    with Step("import-torch") as step:
        t0 = time.perf_counter()
        try:
            import torch
        except ImportError as exc:
            if getattr(exc, "name", None) != "torch":
                raise
            torch = None
            step.data["missing"] = True
            step.fail("torch is not installed in this Python")
        if torch is not None:
            step.data["import_s"] = round(time.perf_counter() - t0, 4)
            torch_facts(step, torch)
    if torch is None or not hasattr(torch, "Tensor"):
        emit({"event": "done"})
        return 0
    with Step("build") as step:
        build_facts(step, torch)
    torchvision = None
    with Step("import-torchvision") as tv_step:
        t0 = time.perf_counter()
        torchvision = companion(tv_step, "torchvision")
        tv_step.data["import_s"] = round(time.perf_counter() - t0, 4)
    torchvision_error = tv_step.detail if tv_step.status == "fail" else None
    with Step("import-torchaudio") as step:
        companion(step, "torchaudio")
    with Step("numpy") as step:
        try:
            import numpy
        except ImportError:
            step.skip("numpy is not installed")
        else:
            step.data["version"] = numpy.__version__
            total = torch.from_numpy(numpy.arange(4, dtype=numpy.int64)).sum().item()
            if total != 6:
                step.fail("torch.from_numpy gave a wrong sum: %r" % total)
    devices = [{"device": "cpu", "type": "cpu"}]
    with Step("devices") as step:
        devices = list_devices(step, torch)
    with Step("libraries") as step:
        libs = loaded_libraries()
        if libs is None:
            step.skip("no /proc/self/maps here")
        else:
            step.data["loaded"] = libs
    if not light:
        compute_checks(torch, devices, torchvision, torchvision_error)
        if do_bench:
            bench(torch, devices)
    emit({"event": "done"})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
