"""The framework descriptions the adapters carry (kl_compat.adapters.framework), and the readers that use
them instead of tables of their own: guides, reproducers, env create, the porting layer. No framework is
imported: a description is read from its adapter's class."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from kl_compat import adapters, environments, golden, guide, reproducer, spec
from kl_compat.adapters.framework import Framework, Template
from kl_compat.porting import semantics

SHIPPED = ("torch", "paddle", "rtorch")


def test_every_shipped_adapter_carries_a_description_and_names_import_no_framework():
    before = set(sys.modules)  # (frameworks that other tests of this session imported already)
    for name in [n for n in adapters.registered() if adapters.target(n).startswith("kl_compat.")]:
        described = adapters.framework_of(name)
        assert isinstance(described, Framework), name
        assert described.title and described.language in ("python", "r") and described.modules, name
    assert not {"torch", "paddle", "rpy2", "jax", "optax", "tensorflow", "keras"} & set(sys.modules) - before
    assert [adapters.framework_of(n).title for n in SHIPPED] == ["PyTorch", "PaddlePaddle", "R torch"]


def test_a_framework_is_its_own_adapter_and_the_porting_adapters_are_not():
    assert set(SHIPPED) <= set(guide.FRAMEWORKS)
    assert "paddle-as-torch" not in guide.FRAMEWORKS and "rtorch-as-torch" not in guide.FRAMEWORKS
    ported = adapters.framework_of("paddle-as-torch")
    assert ported.key == "paddle" and ported.semantics is None and "semantics='torch'" in ported.title
    assert ported.reproducer.values == (("semantics", "torch"),)  # its template's own value
    assert guide.FRAMEWORKS["paddle"]["params"]["target"] == "label"
    assert guide.FRAMEWORKS["rtorch"]["params"]["log_target"] is None


def test_semantics_and_tensor_ops_come_from_the_descriptions():
    assert semantics.get("paddle") is adapters.framework_of("paddle").semantics
    assert semantics.get("spec") is semantics.SPEC
    assert semantics.names()[0] == "spec" and set(SHIPPED) <= set(semantics.names())
    with pytest.raises(ValueError, match="unknown semantics 'torch-as-paddle'"):
        semantics.get("torch-as-paddle")  # an adapter, but not a framework's own
    from kl_compat.porting import backends

    assert {cls.framework for cls in backends.backends()} >= {"torch", "paddle"}


def test_env_create_reads_how_a_version_installs():
    assert environments.ad_hoc_requirement("torch", "2.1.0") == "torch==2.1.0"
    assert environments.resolve("paddle==2.5.2").requirements == ["paddlepaddle==2.5.2"]
    with pytest.raises(environments.EnvError, match=r'in R, not by kl-compat env: remotes::install_version\("torch", "0.16.0"\)'):
        environments.resolve("rtorch==0.16.0")
    assert {"torch", "paddle"} <= set(environments.installable()) and "rtorch" not in environments.installable()


def _case():
    return golden.make_case("t", np.array([[0.5, -1.0]]), np.array([[0.25, 0.75]]), spec.Call("sum", False),
                                "float32", "float32")


def test_reproducers_come_from_the_description_template_or_say_why_not():
    pytest.importorskip("jinja2")
    case = _case()
    torch_code = reproducer.render("torch", "functional", case, [])
    assert "torch.tensor([[0.5, -1.0]], dtype=torch.float32, requires_grad=True)" in torch_code
    r_code = reproducer.render("rtorch", "torch_kl_div", case, ["gradient"])
    assert "array(c(0.5, -1.0), dim = c(1, 2))" in r_code and "reduction = torch_reduction_sum()" in r_code
    ported = reproducer.render("paddle-as-torch", "module", case, [])  # the porting layer's call, not Paddle's
    assert "out = KLDivLoss(reduction='sum', semantics='torch')(input, label)" in ported
    assert "paddle.to_tensor([[0.5, -1.0]], dtype='float32', stop_gradient=False)" in ported
    assert "kl_compat.kl_div(input, target, reduction='sum', semantics='spec')" in reproducer.render(
        "torch-as-spec", "functional", case, [])
    assert reproducer.render("rtorch-as-torch", "functional", case, []) is None
    assert reproducer.no_snippet_reason("rtorch-as-torch", case) == \
        "no reproducer: the adapter's framework description has none"
    assert reproducer.no_snippet_reason("nosuch", case) == "no reproducer: the adapter carries no framework description"
    big = golden.make_case("big", np.ones((9, 9)), np.ones((9, 9)), spec.Call("sum", False), "float32", "float32")
    assert reproducer.no_snippet_reason("torch", big) == "the input is too large to print"


def test_a_description_is_checked_when_made():
    with pytest.raises(ValueError, match="language 'julia'"):
        Framework(key="x", title="X", language="julia", functional_api="x.f", module_api="x.M", functional="f()",
                  module="M()", source="-")
    with pytest.raises(ValueError, match="unknown argument roles"):
        Framework(key="x", title="X", language="python", functional_api="x.f", module_api="x.M", functional="f()",
                  module="M()", source="-", params={"label": "label"})
    assert "{{ tensor(input) }}" in Template("kl_compat.adapters", "templates/repro_torch.py.j2").source()
