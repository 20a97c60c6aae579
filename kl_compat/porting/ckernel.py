"""The porting layer's C kernel (xlogy_kernel.c): compiled once per machine on first use, loaded with ctypes.

Built with the C compiler Python was built with (sysconfig's CC, or $CC), into the user's cache
(cache.user_cache_root()/kernels, named by a hash of the source, the flags and the compiler; a temporary
folder of the process's own where that is not writable), written atomically so concurrent first uses
do not see half a library. Where there is no compiler, or the build
fails, `load()` returns None and says why in `unavailable`: the porting layer then takes its composite,
with the same semantics, only slower. KL_COMPAT_C_KERNEL=0 turns the kernel off.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shlex
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

SOURCE = Path(__file__).with_name("xlogy_kernel.c")
# -ffp-contract=off: no fused multiply-add, so every product is rounded as the composite rounds it
FLAGS = ("-O3", "-shared", "-fPIC", "-ffp-contract=off", "-fno-fast-math", "-std=c99")
SWITCH = "KL_COMPAT_C_KERNEL"

_state: dict = {}
unavailable: str | None = None  # why the kernel is not loaded (after load() returned None)


class BuildFailed(Exception):
    """The C compiler ran and refused the source (or the flags)."""


def _compiler() -> list[str]:
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    return shlex.split(cc)


def _build(target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        done = subprocess.run([*_compiler(), *FLAGS, "-o", tmp, str(SOURCE), "-lm"],
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip().splitlines()
            raise BuildFailed(f"{shlex.join(_compiler())} exited with {done.returncode}"
                              + (f": {said[-1]}" if said else ""))
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _target() -> Path:
    from kl_compat.cache import user_cache_root

    key = hashlib.sha256(SOURCE.read_bytes() + repr((FLAGS, _compiler(), sys.platform)).encode()).hexdigest()
    return user_cache_root() / "kernels" / f"xlogy_kernel-{key[:16]}.so"


def _declare(lib) -> None:
    i64, dbl, i32, ptr = ctypes.c_int64, ctypes.c_double, ctypes.c_int, ctypes.c_void_p
    for suffix in ("f32", "f64"):
        forward = getattr(lib, f"klc_xlogy_forward_{suffix}")
        forward.argtypes = (i64, ptr, ptr, ptr, ptr, ptr, dbl)
        forward.restype = None
        backward = getattr(lib, f"klc_xlogy_backward_{suffix}")
        backward.argtypes = (i64, ptr, ptr, ptr, ptr, i32, dbl, ptr, ptr)
        backward.restype = None


def _load_built(target: Path):
    if not target.exists():
        _build(target)
    lib = ctypes.CDLL(str(target))
    _declare(lib)
    return lib


def load():
    """The loaded library (functions klc_xlogy_{forward,backward}_{f32,f64}), or None (see `unavailable`)."""
    global unavailable
    if "lib" in _state:
        return _state["lib"]
    lib = None
    if os.environ.get(SWITCH) == "0":
        unavailable = f"turned off ({SWITCH}=0)"
    else:
        try:
            target = _target()
            try:
                lib = _load_built(target)
            except OSError:  # the cache folder cannot be written (or the compiler not started): a build of its own
                lib = _load_built(Path(tempfile.mkdtemp(prefix="kl-compat-kernel-")) / target.name)
        except (OSError, BuildFailed, subprocess.SubprocessError, AttributeError) as e:
            unavailable, lib = f"not built: {e}", None
    _state["lib"] = lib
    return lib
