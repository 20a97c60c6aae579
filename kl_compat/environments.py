"""Other Python environments to run an adapter in: the same matrix on another version of a framework.

conformance/environments.toml names them:

    [environment."paddle-2.6.2"]
    adapter = "paddle"                                   # the adapter whose worker runs there
    requirements = ["paddlepaddle==2.6.2", "numpy<2"]    # what pip installs besides kl_compat

`kl-compat env create NAME` (or `kl-compat env create paddle==2.6.2`, an ad-hoc environment named
"paddle-2.6.2") makes a virtual environment under .kl-compat-cache/envs/NAME (under the current folder, or
$KL_COMPAT_CACHE), installs the requirements and this very kl_compat (kl_compat_requirement: editable
from a source checkout, so the worker runs this checkout's code; from an installed copy, a wheel re-packed
from its installed files; never the name `kl-compat` looked up on a package index, where another
project's package could answer), and checks that the framework imports. A run names it as ADAPTER@NAME (e.g. `--adapters paddle,paddle@paddle-2.6.2`):
the worker process is started with that environment's interpreter; the report's column is labelled so.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .cache import cache_root
from .checkout import package_dir, source_checkout
from .errors import KlCompatError
from .tomlfile import read_toml

CONFIG_NAME = "environments.toml"


def _described(adapter: str):
    """The framework description of `adapter` (its class's; kl_compat.adapters.framework), where its own
    framework is what it runs; how another version installs and what to import come from there."""
    from .adapters import framework_of

    d = framework_of(adapter)
    return d if d is not None and d.key == adapter else None


def installable() -> list[str]:
    """The adapters `env create ADAPTER==VERSION` can make an environment for: a Python framework's own
    adapter whose description says how a version installs."""
    from .adapters import registered

    return [n for n in registered() if (d := _described(n)) is not None and d.requirement("0") is not None]


def ad_hoc_requirement(adapter: str, version: str) -> str:
    """The pip requirement for `version` of the adapter's framework, or EnvError saying why there is none."""
    d = _described(adapter)
    if d is not None and d.language != "python" and d.install:
        raise EnvError(f"{adapter}'s framework ({d.title}) is installed in {d.language.upper()}, not by "
                       f"kl-compat env: {d.install.format(version=version)}")
    requirement = d.requirement(version) if d is not None else None
    if requirement is None:
        raise EnvError(f"no ad-hoc environment for {adapter!r}: ADAPTER==VERSION takes ADAPTER one of "
                       f"{', '.join(installable())}")
    return requirement


class EnvError(KlCompatError):
    """A named environment that is unknown, missing, or could not be created."""


@dataclass
class Environment:
    name: str
    adapter: str
    requirements: list[str] = field(default_factory=list)

    def path(self, root: Path | None = None) -> Path:
        return (root or cache_root()) / "envs" / self.name

    def python(self, root: Path | None = None) -> Path:
        return self.path(root) / "bin" / "python"

    def exists(self, root: Path | None = None) -> bool:
        return (self.path(root) / ".kl-compat-ready").exists()


def config_path() -> Path:
    from kl_compat import conformance

    return Path(conformance.__file__).parent / CONFIG_NAME


def load(path: Path | None = None) -> dict[str, Environment]:
    path = Path(path or config_path())
    data = read_toml(path, EnvError)
    envs = {}
    for name, raw in data.get("environment", {}).items():
        if not isinstance(raw, dict) or "adapter" not in raw:
            raise EnvError(f"{path}: [environment.{name!r}] needs an 'adapter'")
        envs[name] = Environment(name, raw["adapter"], list(raw.get("requirements", [])))
    return envs


_AD_HOC = re.compile(r"^(?P<adapter>[A-Za-z_][\w-]*)==(?P<version>[\w.+-]+)$")


def resolve(name_or_spec: str, path: Path | None = None) -> Environment:
    """A configured environment by name, or an ad-hoc one from ADAPTER==VERSION."""
    envs = load(path)
    if name_or_spec in envs:
        return envs[name_or_spec]
    m = _AD_HOC.match(name_or_spec)
    if m and _described(m["adapter"]) is not None:
        name = f"{m['adapter']}-{m['version']}"
        if name in envs:
            return envs[name]
        return Environment(name, m["adapter"], [ad_hoc_requirement(m["adapter"], m["version"])])
    known = ", ".join(envs) or "none configured"
    raise EnvError(f"unknown environment {name_or_spec!r}: configured are {known}; "
                   f"or give ADAPTER==VERSION with ADAPTER one of {', '.join(installable())}")


def kl_compat_requirement(workdir: Path) -> list[str]:
    """pip's arguments that install this very kl_compat into another environment: `-e ROOT` from a source
    checkout; else the path of a wheel re-packed (into `workdir`) from this installed copy's own files.
    Never a requirement by name (`kl-compat==VERSION`): pip would look it up on the package index."""
    root = source_checkout()
    if root is not None:
        return ["-e", str(root)]
    return [str(repack_installed(workdir))]


def repack_installed(workdir: Path) -> Path:
    """A wheel of the installed kl_compat that is running, made from the files its RECORD lists (the
    installer's own files and bytecode left out, RECORD rewritten with their hashes). EnvError when the
    running package is not such an installation (e.g. an editable one outside its checkout)."""
    import base64
    import csv
    import hashlib
    import importlib.metadata
    import io
    import zipfile

    from kl_compat import __version__

    try:
        dist = importlib.metadata.distribution("kl-compat")
    except importlib.metadata.PackageNotFoundError:
        dist = None
    files = [f for f in (dist.files or []) if not f.parts[0].startswith("..")] if dist else []
    init = package_dir() / "__init__.py"
    if dist is None or not any(Path(str(dist.locate_file(f))).resolve() == init for f in files):
        raise EnvError(f"cannot install this kl_compat into another environment: the package at {package_dir()} "
                       "is neither a source checkout nor a wheel installation whose files are listed (RECORD)")
    info_dir = next(f.parts[0] for f in files if f.parts[0].endswith(".dist-info"))
    skip = {f"{info_dir}/{name}" for name in ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json")}
    workdir.mkdir(parents=True, exist_ok=True)
    wheel = workdir / f"kl_compat-{__version__}-py3-none-any.whl"
    rows = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(files, key=str):
            name = f.as_posix()
            if name in skip or "__pycache__" in f.parts or name.endswith(".pyc"):
                continue
            data = Path(str(dist.locate_file(f))).read_bytes()
            z.writestr(name, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            rows.append((name, f"sha256={digest}", str(len(data))))
        record = io.StringIO()
        csv.writer(record, lineterminator="\n").writerows([*rows, (f"{info_dir}/RECORD", "", "")])
        z.writestr(f"{info_dir}/RECORD", record.getvalue())
    return wheel


def pip_command(env: Environment, kl_compat_args: list[str], root: Path | None = None) -> list[str]:
    """The one pip call that fills an environment: its requirements and kl_compat (kl_compat_requirement)."""
    return [str(env.python(root)), "-m", "pip", "install", "--disable-pip-version-check", "-q",
            *env.requirements, *kl_compat_args]


def create(env: Environment, *, root: Path | None = None, echo=print) -> Path:
    """Create (or complete) the environment; idempotent. Returns its interpreter."""
    target = env.path(root)
    if env.exists(root):
        if _knows_adapter(env, root):
            return env.python(root)
        # kl_compat's metadata there predates its adapter's entry point (kl_compat.adapters): installed again
        echo(f"environment {env.name}: its kl_compat does not register adapter {env.adapter!r}; installing it again")
    echo(f"creating environment {env.name} at {target} ({', '.join(env.requirements) or 'no requirements'})")
    subprocess.run([sys.executable, "-m", "venv", str(target)], check=True)
    cmd = pip_command(env, kl_compat_requirement(target / ".kl-compat-wheel"), root)
    done = subprocess.run(cmd, capture_output=True, text=True)
    shutil.rmtree(target / ".kl-compat-wheel", ignore_errors=True)
    if done.returncode != 0:
        raise EnvError(f"pip failed creating {env.name} (exit {done.returncode}):\n"
                                f"{done.stderr.strip()[-2000:]}")
    described = _described(env.adapter)
    module = described.modules[0] if described and described.language == "python" and described.modules else None
    if module:
        check = subprocess.run([str(env.python(root)), "-c", f"import {module}, kl_compat"],
                               capture_output=True, text=True)
        if check.returncode != 0:
            raise EnvError(f"environment {env.name}: `import {module}` fails:\n{check.stderr.strip()[-2000:]}")
    (target / ".kl-compat-ready").write_text("\n".join(env.requirements) + "\n")
    return env.python(root)


def _knows_adapter(env: Environment, root: Path | None = None) -> bool:
    """Does the environment's kl_compat find the environment's adapter (its entry point)? Asked from the
    environment's own folder, so that no checkout in the current folder lends it its metadata."""
    code = "import sys; from kl_compat.adapters import registry; sys.exit(sys.argv[1] not in registry())"
    try:
        done = subprocess.run([str(env.python(root)), "-c", code, env.adapter], capture_output=True,
                              cwd=env.path(root), timeout=120)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def adapter_spec(text: str, *, create_missing: bool = False, path: Path | None = None):
    """'paddle' or 'paddle@ENV' -> run.AdapterSpec (creating ENV first when asked)."""
    from .run import AdapterSpec

    if "@" not in text:
        return AdapterSpec(text)
    name, env_name = text.split("@", 1)
    env = resolve(env_name, path)
    if env.adapter != name:
        raise EnvError(f"environment {env.name} is for adapter {env.adapter!r}, not {name!r}")
    if not env.exists():
        if not create_missing:
            raise EnvError(f"environment {env.name} does not exist yet: run `kl-compat env create {env.name}`")
        create(env)
    return AdapterSpec(name, python=str(env.python()), environment=env.name, label=f"{name}@{env.name}")


# ---- the `kl-compat env` command ----------------------------------------------------------------------

def add_parser(sub) -> None:
    import argparse

    raw = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("env", help="create or list the environments other framework versions run in")
    verbs = p.add_subparsers(dest="env_command", required=True)
    c = verbs.add_parser("create", help="create environments: configured NAMEs or ADAPTER==VERSION", formatter_class=raw,
                         description="Create a virtual environment under .kl-compat-cache/envs/NAME (in the current "
                                     "folder, or $KL_COMPAT_CACHE)\nwith the environment's requirements and this "
                                     "kl_compat (editable from a source checkout, else a wheel\nre-packed from this "
                                     "installation: never a package looked up by name), then check that the\n"
                                     "framework imports. Does nothing for an environment that is ready.",
                         epilog="examples:\n  kl-compat env create paddle-2.6.2\n  kl-compat env create paddle==2.5.2\n"
                                "  kl-compat env create --all\n")
    c.add_argument("names", nargs="*", metavar="NAME", help="e.g. paddle-2.6.2 or paddle==2.6.2")
    c.add_argument("--all", action="store_true", help="every environment in conformance/environments.toml")
    verbs.add_parser("list", help="the configured environments and whether they exist", formatter_class=raw,
                     description="List the configured environments: adapter, requirements, and where each is ready "
                                 "or that it is\nnot created yet.",
                     epilog="examples:\n  kl-compat env list\n")
    p.set_defaults(func=cmd_env)


def cmd_env(args) -> int:
    if args.env_command == "list":
        for env in load().values():
            state = f"ready at {env.path()}" if env.exists() else "not created"
            print(f"{env.name:>16}  {env.adapter:<8} {', '.join(env.requirements):<40} {state}")
        return 0
    names = list(load()) if args.all else args.names
    if not names:
        raise EnvError("name at least one environment, or --all")
    for name in names:
        print(f"{name}: {create(resolve(name))}")
    return 0
