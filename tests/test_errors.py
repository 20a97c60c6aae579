"""Errors compared by what catches them, refusals observed by calling, warnings by what they are about.

No framework is imported: the observations are made here with each framework's own exception classes'
names and messages (as measured), so these run in well under a second."""

import pytest

from kl_compat import compare, spec
from kl_compat.adapters.base import OK, RAISED, ArgumentRefused, Observation, error_record, keyword_refusals
from kl_compat.record import Record
from kl_compat.report import errors as error_table
from kl_compat.report.markdown import _errors as markdown_errors

SHAPES = "broadcast/proper/mismatch/float32/sum/prob"  # the spec raises ValueError (S6)
INTEGERS = "integer/integers/2d/int64/sum/prob"  # TypeError (S7)
NOT_A_STRING = "invalid/proper/2d/float32/<int:1>/prob"  # TypeError (S8)


def _raised(case, error, surface="functional"):
    return Observation(case, "x", surface, RAISED, error=error)


def _python(cls, message="m"):
    """An exception as observe_one records it."""
    try:
        raise cls(message)
    except Exception as e:
        return error_record(e)


class InvalidArgumentError(ValueError):  # Paddle's InvalidArgument arrives as a ValueError subclass elsewhere
    pass


class OpError(Exception):  # TensorFlow's errors derive from Exception, not from ValueError or TypeError
    pass


def test_the_spec_names_the_error_it_expects_per_rule(golden_by_id):
    for case, rule, error in ((SHAPES, "S6", "ValueError"), (INTEGERS, "S7", "TypeError"),
                              (NOT_A_STRING, "S8", "TypeError"), ("invalid/proper/2d/float32/avg/prob", "S8",
                                                                  "ValueError")):
        c = golden_by_id[case]
        assert (c.expects.error, spec.broken_rule(c.call, c.input_dtype, c.target_dtype)) == (error, rule)


def test_an_exception_of_the_spec_s_class_or_a_subclass_matches(golden_by_id):
    case = golden_by_id[SHAPES]
    assert compare.judge(case, _raised(SHAPES, _python(ValueError))).status == "match"
    assert compare.judge(case, _raised(SHAPES, _python(InvalidArgumentError))).status == "match"


def test_another_kind_of_exception_differs_with_error_type(golden_by_id):
    v = compare.judge(golden_by_id[SHAPES], _raised(SHAPES, _python(RuntimeError, "The size of tensor a")))
    assert v.status == "differs" and [d.kind for d in v.differences] == ["error-type"]
    d = v.differences[0]
    assert (d.expected, d.observed, d.where) == ("ValueError", "RuntimeError", "error")
    assert "RuntimeError, which `except ValueError` does not catch" in d.message
    v = compare.judge(golden_by_id[INTEGERS], _raised(INTEGERS, _python(OpError)))
    assert [(d.expected, d.observed) for d in v.differences] == [("TypeError", "OpError")]
    v = compare.judge(golden_by_id[NOT_A_STRING], _raised(NOT_A_STRING, _python(ValueError)))
    assert [(d.kind, d.expected, d.observed) for d in v.differences] == [("error-type", "TypeError", "ValueError")]


def test_r_conditions_match_by_r_torch_s_error_classes(golden_by_id):
    case = golden_by_id[SHAPES]
    classed = {"type": "value_error/rlang_error/error/condition", "message": "m"}  # R torch's value_error()
    assert compare.judge(case, _raised(SHAPES, classed)).status == "match"
    for r_class in ("Rcpp::exception/C++Error/error/condition", "simpleError/error/condition"):
        v = compare.judge(case, _raised(SHAPES, {"type": r_class, "message": "m"}))
        assert [(d.kind, d.observed) for d in v.differences] == [("error-type", r_class)]


def test_a_record_without_classes_is_judged_by_its_type(golden_by_id):
    assert compare.judge(golden_by_id[SHAPES], _raised(SHAPES, {"type": "ValueError", "message": "m"})).status \
        == "match"


def test_catchable_is_the_most_specific_builtin_class():
    assert compare.catchable(_python(InvalidArgumentError)) == "ValueError"
    assert compare.catchable(_python(OpError)) == "Exception"
    assert compare.catchable({"type": "Rcpp::exception/C++Error/error/condition"}) == "Exception"
    assert compare.catchable({"type": "type_error/rlang_error/error/condition"}) == "TypeError"


def test_a_port_must_raise_what_its_reference_raises(golden_by_id):
    case = golden_by_id[INTEGERS]
    torch_said = _raised(INTEGERS, _python(RuntimeError, "kl_div: Integral inputs not supported."))
    v = compare.judge_against(case, torch_said, _raised(INTEGERS, _python(TypeError)))
    assert v.status == "differs" and [(d.kind, d.expected, d.observed, d.by) for d in v.differences] == [
        ("error-type", "RuntimeError", "TypeError", "the reference")]
    assert compare.judge_against(case, torch_said, _raised(INTEGERS, _python(RuntimeError))).status == "match"
    # R's unclassed errors are caught only by the handler for every error: any exception ports them
    r_said = _raised(INTEGERS, {"type": "Rcpp::exception/C++Error/error/condition", "message": "m"})
    assert compare.judge_against(case, r_said, _raised(INTEGERS, _python(TypeError))).status == "match"


def test_error_record_keeps_the_classes_an_except_clause_can_name():
    rec = _python(InvalidArgumentError, "bad")
    assert rec["type"] == "InvalidArgumentError" and rec["message"] == "bad"
    assert rec["classes"] == ["InvalidArgumentError", "ValueError", "Exception", "BaseException"]


def test_python_s_own_refusal_of_a_keyword_is_an_argument_refused():
    def kl_div(input, label, reduction="mean"):
        return input

    with pytest.raises(ArgumentRefused) as got:
        with keyword_refusals():
            kl_div(1, 2, reduction="sum", log_target=True)
    assert got.value.argument == "log_target" and isinstance(got.value.error, TypeError)


def test_paddle_s_layers_refusing_legacy_arguments_are_observed_as_unsupported():
    from kl_compat.adapters.paddle_backend import _legacy_refusal

    # paddle/utils/decorator_utils.py's wording (Paddle 3.3.1), raised by KLDivLoss(size_average=...)
    said = ("[Deprecated] 'KLDivLoss' no longer supports 'reduce' or 'size_average'.\n"
            "Detected: reduce=None, size_average=True\nPlease use: reduction='mean' instead.")
    with pytest.raises(ArgumentRefused) as got:
        with _legacy_refusal():
            raise ValueError(said)
    assert got.value.argument == "size_average/reduce"
    with pytest.raises(ValueError):  # any other ValueError is the framework's behaviour, observed as raised
        with _legacy_refusal():
            raise ValueError("(InvalidArgument) Input(X) rank and Input(Target) rank should be same")


# Each framework's own wording, as measured (or, where it gives none in the matrix, as its source words it).
@pytest.mark.parametrize("message,topic", [
    ("reduction: 'mean' divides the total loss by both the batch size and the support size.'batchmean' divides "
     "only by the batch size, and aligns with the KL div math definition.'mean' will be changed to behave the "
     "same as 'batchmean' in the next major release.", spec.W_MEAN),  # torch
    ("reduction: 'mean' divides the total loss by both the batch size and the support size.", spec.W_MEAN),  # R torch
    ("size_average and reduce args will be deprecated, please use reduction='sum' instead.", spec.W_DEPRECATED),
    ("[Deprecated] 'KLDivLoss' no longer supports 'reduce' or 'size_average'.\nDetected: reduce=True, "
     "size_average=None\nPlease use: reduction='mean' instead.", spec.W_DEPRECATED),  # Paddle 3
    ("reduction='elementwise_mean' is deprecated. Please use reduction='mean' instead.", "other"),  # torch
    ("The function convex_kl_divergence is deprecated. Please use generalized_kl_divergence instead.",
     "other"),  # optax's deprecations.warn_deprecated_function
    ("In loss categorical_crossentropy, expected y_pred.shape to be (batch_size, num_classes) with "
     "num_classes > 1. Received: y_pred.shape=(4, 1).", "other"),  # Keras
])
def test_warnings_are_recognised_by_what_they_are_about(message, topic):
    assert compare.warning_topic(message) == topic


def _record(column, case, status, error=None, surface="functional"):
    observed = {"status": RAISED if error else OK, "error": error, "warnings": []}
    return Record.from_json({"case": case, "adapter": column, "surface": surface, "status": status,
                             "observed": observed})


def test_the_report_shows_each_framework_s_exception_per_kind_of_error(golden_cases):
    records = {("torch", "functional", SHAPES): _record("torch", SHAPES, "differs", _python(RuntimeError)),
               ("torch", "module", SHAPES): _record("torch", SHAPES, "differs", _python(RuntimeError), "module"),
               ("jax", "eager", SHAPES): _record("jax", SHAPES, "match", _python(ValueError), "eager"),
               ("jax", "eager", INTEGERS): _record("jax", INTEGERS, "match", _python(TypeError), "eager")}
    columns = [{"id": "torch", "available": True}, {"id": "jax", "available": True}]
    rows = {r["rule"] + r["expected"]: r for r in error_table.table(records, columns, golden_cases)}
    shapes = rows["S6ValueError"]
    assert shapes["what"] == "input and target shapes that differ" and shapes["cases"] == 40
    assert shapes["columns"] == {"torch": [{"outcome": "RuntimeError", "caught": False, "count": 2}],
                                 "jax": [{"outcome": "ValueError", "caught": True, "count": 1}]}
    assert error_table.cell_text(shapes["columns"]["torch"]) == "RuntimeError ×2 (not caught)"
    m = {"errors": list(rows.values()), "columns": [dict(c, label=c["id"]) for c in columns]}
    text = "\n".join(markdown_errors(m))
    assert "RuntimeError ×2 (not caught)" in text and "ValueError ×1" in text


def test_the_html_errors_table_marks_the_cells_a_handler_does_not_catch():
    from kl_compat.report.html import _errors_view

    row = {"rule": "S6", "expected": "ValueError", "what": "input and target shapes that differ", "cases": 40,
           "columns": {"torch": [{"outcome": "RuntimeError", "caught": False, "count": 16}],
                       "jax": [{"outcome": "ValueError", "caught": True, "count": 16}]}}
    view = _errors_view({"errors": [row], "columns": [{"id": "torch", "available": True},
                                                       {"id": "jax", "available": True},
                                                       {"id": "paddle", "available": False}]})
    assert view["errors_cols"] == ["torch", "jax"]
    assert [(c["text"], c["caught"]) for c in view["errors_rows"][0]["cells"]] == [
        ("RuntimeError ×16 (not caught)", False), ("ValueError ×16", True)]
    assert _errors_view({"columns": []}) == {"errors_cols": [], "errors_rows": []}  # a report.json without it
