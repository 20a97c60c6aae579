"""Keras (on TensorFlow): keras.losses.KLDivergence and keras.losses.kl_divergence.

Keras' loss takes `(y_true, y_pred)` with the prediction as a probability, not a log-probability, so the
adapter calls it as a user porting `kl_div(input, target)` does, with `exp(input)` as the prediction
(inside the gradient tape: gradients are with respect to the log-probability input). The mapping is this
table, and the reproducers print the code it produces:

  class, reduction='batchmean'   keras.losses.KLDivergence(reduction="sum_over_batch_size")(target, exp(input))
  class, any other reduction     keras.losses.KLDivergence(reduction=<as given>)(target, exp(input));
                                 Keras accepts 'none', 'sum' and 'mean' (its 'mean' is 'sum_over_batch_size')
  function, 'none'               keras.losses.kl_divergence(target, exp(input))  (one value per sample)
  function, 'sum'                keras.ops.sum(keras.losses.kl_divergence(target, exp(input)))
  function, 'batchmean'/'mean'   keras.ops.mean(keras.losses.kl_divergence(target, exp(input)))
  function, any other value      keras.losses.kl_divergence(target, exp(input), reduction=<value>)
  log_target=True                log_target=True passed as given (Keras has no such argument)
  size_average / reduce          passed as given, likewise

`tf_function` is the class's call compiled by tf.function. Where Keras refuses an argument ("unexpected
keyword argument"), the observation is `unsupported`, with Keras' error kept. `tf.keras` is Keras 3 itself
on TensorFlow 2.16 and later, so it is no surface of its own. Gradients come from tf.GradientTape with
output gradients of ones.
"""

from __future__ import annotations

import os

import numpy as np

from kl_compat.porting.semantics import KERAS as KERAS_SEMANTICS

from .base import Adapter, gradient_error, keyword_refusals, second_error
from .framework import Api, Framework, Template

def _scan_apis() -> list[Api]:
    """Every import path of the class and the function (keras/losses/__init__.py, keras/metrics/__init__.py and
    tf.keras's, keras/_tf_keras/keras/losses/__init__.py and metrics/__init__.py, which add the aliases KLD, kld and
    kullback_leibler_divergence). The function returns per-sample values: a bare call is 'none'."""
    tf_keras = ("tensorflow.keras.losses", "tensorflow.keras.metrics")
    classes = ("keras.losses.KLDivergence", "tensorflow.keras.losses.KLDivergence", "keras.src.losses.KLDivergence",
               "keras.src.losses.losses.KLDivergence")
    functions = ("keras.losses.kl_divergence", "keras.metrics.kl_divergence", "keras.src.losses.kl_divergence",
                 "keras.src.losses.losses.kl_divergence",
                 *(f"{m}.{n}" for m in tf_keras for n in ("KLD", "kld", "kullback_leibler_divergence")))
    return [*(Api(name, "module", ("reduction", "name", "dtype"), "class") for name in classes),
            *(Api(name, "functional", ("y_true", "y_pred"), "function", (("reduction", "none"),)) for name in functions)]


KERAS = Framework(
    key="keras", title="Keras (TensorFlow)", language="python",
    functional_api="keras.losses.kl_divergence", module_api="keras.losses.KLDivergence",
    functional="keras.losses.kl_divergence(y_true, y_pred)",
    module="keras.losses.KLDivergence(reduction='sum_over_batch_size', name='kl_divergence', dtype=None), "
           "called as loss(y_true, y_pred)",
    source="keras/src/losses/losses.py",
    params={"input": "y_pred", "target": "y_true", "reduction": "reduction", "log_target": None,
            "size_average": None, "reduce": None},
    modules=("keras", "tensorflow"), install="keras=={version}",
    reproducer=Template("kl_compat.adapters", "templates/repro_keras.py.j2"),
    semantics=KERAS_SEMANTICS,
    porting_ops="kl_compat.porting.tf_ops:TFOps",  # TensorFlow tensors, which Keras runs on
    scan_apis=tuple(_scan_apis()),
)

_LEGACY = ("size_average", "reduce")


def keras_reduction(reduction):
    """The class's reduction for a matrix reduction: 'batchmean' is Keras' 'sum_over_batch_size', every
    other value goes as given (the module docstring's table, written once)."""
    return "sum_over_batch_size" if reduction == "batchmean" else reduction


class KerasAdapter(Adapter):
    name = "keras"
    framework = "keras"
    surfaces = ("class", "function", "tf_function")
    install_hint = "pip install tensorflow-cpu  (or kl-compat[tensorflow])"
    batch_size = 16
    description = KERAS
    grads_by_request = True  # (no requires_grad: gradients are asked for by argument; see Adapter)

    def load(self):
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter on stderr
        import keras
        import tensorflow as tf

        self.keras, self.tf = keras, tf
        self._compiled: dict = {}

    def version(self):
        return self.keras.__version__

    def runtime(self):
        return {"tensorflow": self.tf.__version__, "keras_backend": self.keras.backend.backend()}

    def tensor(self, array, dtype, requires_grad):
        return self.tf.constant(np.array(array), dtype=getattr(self.tf, dtype))

    def _extra(self, call) -> dict:
        extra = {k: getattr(call, k) for k in _LEGACY if getattr(call, k) is not None}
        if call.log_target:
            extra["log_target"] = True
        return extra

    def _loss(self, surface, call):
        losses, extra = self.keras.losses, self._extra(call)
        if surface == "function":
            return self._function_loss(call, extra)
        if surface == "class":
            return losses.KLDivergence(reduction=keras_reduction(call.reduction), **extra)
        key = repr((call.reduction, sorted(extra.items())))  # tf_function: compiled once per call
        if key not in self._compiled:
            loss = losses.KLDivergence(reduction=keras_reduction(call.reduction), **extra)
            self._compiled[key] = self.tf.function(loss.__call__)
        return self._compiled[key]

    def _function_loss(self, call, extra):
        """keras.losses.kl_divergence with the reduction written around it (the module docstring's table)."""
        fn, ops = self.keras.losses.kl_divergence, self.keras.ops
        reduce = {"sum": ops.sum, "batchmean": ops.mean, "mean": ops.mean}
        if not isinstance(call.reduction, str) or call.reduction not in (*reduce, "none"):
            return lambda y_true, y_pred: fn(y_true, y_pred, reduction=call.reduction, **extra)
        if call.reduction == "none":
            return lambda y_true, y_pred: fn(y_true, y_pred, **extra)
        around = reduce[call.reduction]
        return lambda y_true, y_pred: around(fn(y_true, y_pred, **extra))

    def kl_div(self, surface, input, target, call):
        tf = self.tf
        with keyword_refusals():
            fn = self._loss(surface, call)
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                for t in (input, target):
                    if t.dtype.is_floating:
                        tape.watch(t)
                out = fn(target, tf.exp(input))
        self._tape, self._fn = tape, fn
        return out

    def gradients(self, loss, x, y):
        try:
            grads = self._tape.gradient(loss, [x, y], output_gradients=self.tf.ones_like(loss))
        except Exception as e:
            return gradient_error(e)
        return self.gradient_records(*(g if t.dtype.is_floating else None for g, t in zip(grads, (x, y))))

    def second_order(self, loss, x, y):
        # Nested GradientTapes, as a gradient penalty is written in TensorFlow: the inner tape's gradients
        # (with ones) are taken under the outer tape, which then differentiates their sums.
        tf = self.tf
        try:
            with tf.GradientTape(persistent=True) as outer:
                outer.watch([x, y])
                with tf.GradientTape() as inner:
                    inner.watch([x, y])
                    out = self._fn(y, tf.exp(x))
                firsts = inner.gradient(out, [x, y], output_gradients=tf.ones_like(out))
                sums = [None if g is None else tf.reduce_sum(g) for g in firsts]
            pairs = [(None, None) if s is None else outer.gradient(s, [x, y]) for s in sums]
        except Exception as e:
            return second_error(e)
        return self.second_records(*pairs)

    def to_numpy(self, t):
        dtype = t.dtype.name
        values = np.asarray(t.numpy())
        if dtype == "bfloat16":
            values = values.astype(np.float32)
        return values, dtype, values.shape
