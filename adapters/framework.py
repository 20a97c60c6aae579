"""A framework's description: what kl_compat needs to know about it besides running it.

Each adapter class carries one as its `description` class attribute, so everything about a framework
travels with its adapter: the porting guides read its title, signatures and argument names; the reports
its language and reproducer template; `kl-compat env create ADAPTER==VERSION` how another version
installs; the porting layer what its kl_div does; `kl-compat scan` the names code calls it by. No other table in kl_compat names frameworks, so a
package that declares an adapter (entry-point group `kl_compat.adapters`) with a description is
complete. NumPy-free: reading a description imports no framework.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping

if TYPE_CHECKING:
    from kl_compat.porting.semantics import Semantics

LANGUAGES = ("python", "r")  # what kl_compat can write literals, reproducers and signature probes in
ROLES = ("input", "target", "reduction", "log_target", "size_average", "reduce")  # the loss's arguments
KINDS = ("functional", "module")  # how code calls the loss: the function, or the loss module's class


@dataclass(frozen=True)
class Template:
    """A Jinja2 file shipped inside an installed package (read with importlib.resources), e.g.
    Template("kl_compat.adapters", "templates/repro_torch.py.j2"), and values of its own that it is
    rendered with besides the renderer's, e.g. (("semantics", "torch"),)."""

    package: str
    path: str
    values: tuple[tuple[str, str], ...] = ()

    def source(self) -> str:
        from importlib.resources import files

        return files(self.package).joinpath(self.path).read_text(encoding="utf-8")


@dataclass(frozen=True)
class Api:
    """One name under which code calls the framework's kl_div, as `kl-compat scan` recognises it in a
    codebase. Each import path of one function is an Api of its own (torch.nn.KLDivLoss and
    torch.nn.modules.loss.KLDivLoss): scan matches the name a call resolves to, not what it is bound to."""

    name: str  # Python: the dotted path it is imported by, "torch.nn.functional.kl_div"; R: the function, "nnf_kl_div"
    kind: str  # one of KINDS
    # Its positional parameters in order, named as the framework names them (Framework.params maps the roles
    # to these names); for a module, its constructor's: ("size_average", "reduce", "reduction", "log_target").
    params: tuple[str, ...]
    surface: str  # the adapter's surface whose measurements stand for this call: "functional", "nnf_kl_div"
    # Arguments the name itself fixes, by role (ROLES), whatever the call writes: optax's
    # kl_divergence_with_log_targets is (("log_target", True),); an elementwise function is (("reduction", "none"),).
    fixed: tuple[tuple[str, object], ...] = ()

    def __post_init__(self) -> None:
        if any(role not in ROLES for role, _ in self.fixed):
            raise ValueError(f"API {self.name!r}: fixed arguments must be roles, one of {', '.join(ROLES)}")
        if self.kind not in KINDS:
            raise ValueError(f"API {self.name!r}: kind {self.kind!r} is not one of {', '.join(KINDS)}")


@dataclass(frozen=True)
class Framework:
    """One framework's kl_div, described. `key` is the name its own adapter is registered under (guides'
    --from/--to, known differences' advice_code); an adapter that runs another adapter's framework in some
    other way (the porting layer's) carries a description with that framework's key."""

    key: str
    title: str  # as people call it: "PyTorch"
    language: str  # one of LANGUAGES: its reproducers, advice code and signatures are written in it
    functional_api: str  # the function's name there: "torch.nn.functional.kl_div", "nnf_kl_div"
    module_api: str  # the loss module's: "torch.nn.KLDivLoss", "nn_kl_div_loss"
    functional: str  # the function's documented signature
    module: str  # the module's documented signature (and how it is called, where that differs)
    source: str  # where the documented signatures come from
    # The loss's argument names there, by role (ROLES); None where it has no such argument; a role left out
    # is named as the role.
    params: Mapping[str, str | None] = field(default_factory=dict)
    modules: tuple[str, ...] = ()  # what loads it: Python modules, or R packages (the first is imported)
    # How version {version} of it is installed: a pip requirement for a Python framework ("torch=={version}"),
    # an R expression for an R one. None where kl_compat cannot say.
    install: str | None = None
    reproducer: Template | None = None  # the reproducer snippet's template (kl_compat.reproducer renders it)
    semantics: Semantics | None = None  # what its kl_div does, for the porting layer (kl_compat.porting)
    porting_ops: str | None = None  # "package.module:Class": the porting layer's tensor operations for it
    # The names `kl-compat scan` recognises as this framework's kl_div in source code written in `language`
    # (alias paths included), each with its kind of call, positional parameters and adapter surface. Empty:
    # scan finds no call of it (it can still be the framework a scan ports to, without its module form).
    scan_apis: tuple[Api, ...] = ()

    def __post_init__(self) -> None:
        if self.language not in LANGUAGES:
            raise ValueError(f"framework {self.key!r}: language {self.language!r} is not one of {', '.join(LANGUAGES)}")
        unknown = set(self.params) - set(ROLES)
        if unknown:
            raise ValueError(f"framework {self.key!r}: unknown argument roles {sorted(unknown)}; roles are {ROLES}")
        if not all(isinstance(api, Api) for api in self.scan_apis):
            raise ValueError(f"framework {self.key!r}: scan_apis holds something that is not an Api")

    def param(self, role: str) -> str | None:
        """The argument's name here for a role of ROLES (the role's own name where params does not say)."""
        return self.params.get(role, role) if role in ROLES else None

    def surface_for(self, kind: str) -> str | None:
        """The adapter surface of this framework's calls of `kind` (one of KINDS): its first such Api's;
        None where scan_apis has none of that kind."""
        return next((api.surface for api in self.scan_apis if api.kind == kind), None)

    def requirement(self, version: str) -> str | None:
        """The pip requirement that installs `version` of a Python framework; None for an R one."""
        if self.install is None or self.language != "python":
            return None
        return self.install.format(version=version)
