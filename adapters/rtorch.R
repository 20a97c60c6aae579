# kl_compat: the R half of the R torch adapter (the Python half is adapters/rtorch_backend.py).
#
# Three layers, each replaceable on its own:
#
#   1. The batch driver, klc_observe_batch(tasks, kernel). Generic plumbing that knows nothing about
#      torch: for each task it builds the two tensors, calls the task's surface, reads the value,
#      backpropagates ones, reads both gradients, and records every warning (message verbatim, with its
#      class), any error (conditionMessage and class) and the elapsed seconds. Results are plain R lists,
#      character/integer vectors and double arrays, in task order.
#
#   2. A kernel: list(name, label, verbs, surfaces), where
#        verbs$make(values, dtype, requires_grad)  a tensor from `values` (an R double or logical array
#                                                   with dim(), or a length-1 vector without dim() for a
#                                                   0-d tensor) in the kl_compat dtype `dtype`
#        verbs$read(tensor)   list(value = double array with dim() = shape (no dim() when 0-d),
#                                  shape = integer vector, dtype = kl_compat dtype name)
#        verbs$backward(loss) backpropagate ones through `loss`, whatever its shape
#        verbs$grad(tensor)   the tensor's gradient, or NULL where none was computed
#        surfaces$<surface>(input, target, reduction, log_target, legacy)  the loss; `legacy` is a named
#                             list of the legacy arguments the call gives (size_average, reduce), often empty
#
#   3. Two kernels: klc_torch_kernel(), the real one (R torch), and klc_TEST_base_r_kernel(), a TEST
#      kernel in plain base R that exists only so the plumbing (conversion, ordering, warning and error
#      capture) can be tested where R torch is not installed. The TEST kernel is never an adapter and
#      its results are never R torch's.
#
# A task is a list(case_id, surface, input, target, input_dtype, target_dtype, reduction, log_target,
# legacy); see klc_task(). `reduction` is passed to the surface exactly as given: a string, NULL or a
# number. Arguments are never filtered by what a surface is believed to have: every surface is called with
# what the task gives, and R's own refusal ("unused argument (log_target = TRUE)") is what is recorded.
# kl_compat dtype names: float16, bfloat16, float32, float64, int32, int64, bool.
#
# Python calls klc_bridge() once per batch, with every argument a plain R value (no R source is ever
# assembled from data). From R the same code reads, for example:
#
#   source("adapters/rtorch.R")
#   x <- log(array(c(0.2, 0.3, 0.5, 0.1, 0.6, 0.3), dim = c(2, 3)))
#   y <- array(c(0.1, 0.4, 0.5, 0.3, 0.3, 0.4), dim = c(2, 3))
#   task <- klc_task("demo", "nnf_kl_div", x, y, "float32", "float32", "batchmean", FALSE, list())
#   str(klc_observe_batch(list(task), klc_torch_kernel()))


# ---- tasks ---------------------------------------------------------------------------------------------

klc_task <- function(case_id, surface, input, target, input_dtype, target_dtype, reduction, log_target,
                     legacy = list(), requires_grad = "both", order = 1L) {
  list(case_id = case_id, surface = surface, input = input, target = target,
       input_dtype = input_dtype, target_dtype = target_dtype,
       reduction = reduction, log_target = log_target, legacy = legacy,
       requires_grad = requires_grad, order = as.integer(order))
}

# The legacy arguments a task gives, as a named list: size_average and reduce are each NULL (not given)
# or one logical.
klc_legacy <- function(size_average, reduce) {
  Filter(Negate(is.null), list(size_average = size_average, reduce = reduce))
}

# Tasks from columns (what Python sends: one vector or list per field, one element per task).
# `input`, `target`, `reduction`, `size_average` and `reduce` are lists; their elements may be NULL.
klc_tasks <- function(case_id, surface, input, target, input_dtype, target_dtype, reduction, log_target,
                      size_average, reduce, requires_grad = rep("both", length(case_id)),
                      order = rep(1L, length(case_id))) {
  n <- length(case_id)
  lengths <- c(length(surface), length(input), length(target), length(input_dtype),
               length(target_dtype), length(reduction), length(log_target), length(size_average),
               length(reduce), length(requires_grad), length(order))
  if (any(lengths != n)) {
    stop("klc_tasks: every column needs one element per task (", n, "); got ",
         paste(lengths, collapse = ", "))
  }
  lapply(seq_len(n), function(i) {
    klc_task(case_id[[i]], surface[[i]], input[[i]], target[[i]], input_dtype[[i]],
             target_dtype[[i]], reduction[[i]], log_target[[i]], klc_legacy(size_average[[i]], reduce[[i]]),
             requires_grad[[i]], order[[i]])
  })
}


# ---- the batch driver ----------------------------------------------------------------------------------

klc_observe_batch <- function(tasks, kernel) {
  lapply(tasks, klc_observe_task, kernel = kernel)
}

# One task's result: list(case_id, status, value, shape, dtype, warnings, error, unsupported,
# grad_input, grad_target, seconds). status is "ok", "raised" (the kernel raised an R error) or
# "unsupported" (R refused an argument the surface does not have, see klc_unused_arguments(); the error
# is kept as well, so that what R said is on record).
# warnings is list(category = character(), message = character()); a gradient is
# list(status = "ok", value, shape, dtype), list(status = "none") or list(status = "error", message).
klc_observe_task <- function(task, kernel) {
  surface <- klc_surface(kernel, task$surface) # a bad surface name is a harness bug: not caught below
  caught <- list(category = character(), message = character())
  record_warning <- function(w) {
    caught$category <<- c(caught$category, klc_condition_class(w))
    caught$message <<- c(caught$message, conditionMessage(w))
    if (!is.null(findRestart("muffleWarning"))) invokeRestart("muffleWarning")
  }
  started <- klc_now()
  result <- withCallingHandlers(
    tryCatch(
      klc_run_task(task, kernel$verbs, surface),
      error = function(e) {
        error <- list(type = klc_condition_class(e), message = conditionMessage(e))
        unused <- klc_unused_arguments(e)
        if (is.null(unused)) klc_result("raised", error = error)
        else klc_result("unsupported", error = error, unsupported = unused)
      }
    ),
    warning = record_warning
  )
  result$case_id <- task$case_id
  result$warnings <- caught
  result$seconds <- klc_now() - started
  result
}

klc_run_task <- function(task, verbs, surface) {
  wants <- function(operand) isTRUE(task$requires_grad %in% c("both", operand)) # (spec S9)
  x <- verbs$make(task$input, task$input_dtype, klc_is_float(task$input_dtype) && wants("input"))
  y <- verbs$make(task$target, task$target_dtype, klc_is_float(task$target_dtype) && wants("target"))
  loss <- surface(x, y, task$reduction, task$log_target, task$legacy)
  out <- verbs$read(loss)
  # Double backward first: it keeps the graph that klc_gradients' backward frees.
  second <- if (identical(task$order, 2L) && !is.null(verbs$second)) klc_second(verbs, loss, x, y)
  grads <- klc_gradients(verbs, loss, x, y)
  result <- klc_result("ok", value = out$value, shape = out$shape, dtype = out$dtype,
                       grad_input = grads[[1]], grad_target = grads[[2]])
  if (!is.null(verbs$differentiable)) result$differentiable <- verbs$differentiable(loss)
  c(result, second)
}

KLC_SECOND_KEYS <- c("grad2_input_input", "grad2_input_target", "grad2_target_input", "grad2_target_target")

# Spec S10: the kernel's verbs$second(loss, x, y) gives the gradients of sum(dl/dx) and of sum(dl/dy), each
# by x and by y (a tensor, or NULL for none), as four gradient records named KLC_SECOND_KEYS; an error is
# recorded for all four, as klc_gradients records one for both.
klc_second <- function(verbs, loss, x, y) {
  got <- tryCatch(verbs$second(loss, x, y), error = function(e) e)
  if (inherits(got, "error")) {
    g <- list(status = "error", message = paste0(klc_condition_class(got), ": ", conditionMessage(got)))
    return(setNames(rep(list(g), 4L), KLC_SECOND_KEYS))
  }
  setNames(lapply(got, function(g) {
    if (is.null(g)) return(list(status = "none"))
    r <- verbs$read(g)
    list(status = "ok", value = r$value, shape = r$shape, dtype = r$dtype)
  }), KLC_SECOND_KEYS)
}

klc_result <- function(status, value = NULL, shape = NULL, dtype = NULL, error = NULL, unsupported = NULL,
                       grad_input = NULL, grad_target = NULL) {
  list(status = status, value = value, shape = shape, dtype = dtype, error = error,
       unsupported = unsupported, grad_input = grad_input, grad_target = grad_target)
}

# The gradients of sum(loss) with respect to x and y. An error while backpropagating is recorded for
# both (as Python's adapters do), not raised: the value was observed and stays observed.
klc_gradients <- function(verbs, loss, x, y) {
  failure <- tryCatch({
    verbs$backward(loss)
    NULL
  }, error = function(e) e)
  if (!is.null(failure)) {
    g <- list(status = "error",
              message = paste0(klc_condition_class(failure), ": ", conditionMessage(failure)))
    return(list(g, g))
  }
  lapply(list(x, y), function(t) {
    g <- verbs$grad(t)
    if (is.null(g)) {
      return(list(status = "none"))
    }
    r <- verbs$read(g)
    list(status = "ok", value = r$value, shape = r$shape, dtype = r$dtype)
  })
}

klc_surface <- function(kernel, name) {
  if (!is.character(name) || length(name) != 1L || !(name %in% names(kernel$surfaces))) {
    stop("kernel ", kernel$name, " has no surface ", encodeString(as.character(name), quote = '"'),
         "; its surfaces are ", paste(names(kernel$surfaces), collapse = ", "))
  }
  kernel$surfaces[[name]]
}

# The arguments an error says a function does not have, joined with "/" (e.g. "size_average/reduce"), or
# NULL for any other error. R's argument matching raises "unused argument (log_target = TRUE)" (or
# "unused arguments (size_average = FALSE, reduce = TRUE)") before the function runs; the session's
# messages are English (klc_session_setup), so the text is R's own in every locale.
klc_unused_arguments <- function(e) {
  message <- conditionMessage(e)
  if (!grepl("^unused arguments? \\(", message)) return(NULL)
  names <- regmatches(message, gregexpr("[.A-Za-z][.A-Za-z0-9_]*(?= = )", message, perl = TRUE))[[1]]
  if (length(names) == 0L) return(NULL)
  paste(names, collapse = "/")
}

# A condition's class vector, most specific first, e.g. "simpleWarning/warning/condition".
klc_condition_class <- function(cond) paste(class(cond), collapse = "/")

klc_now <- function() as.numeric(Sys.time())

# Set once per embedded R session. In a non-UTF-8 locale (LANG=C), R turns non-ASCII text in warning
# and error messages into <U+00FC> escapes, so messages would not arrive verbatim: switch the character
# type to UTF-8 where possible. R's own messages are made English, so that R's refusal of an argument
# reads the same in every locale (klc_unused_arguments). Returns whether the character type is UTF-8.
klc_session_setup <- function() {
  if (exists("Sys.setLanguage", baseenv())) invisible(Sys.setLanguage("en"))
  else Sys.setenv(LANGUAGE = "en")
  if (isTRUE(l10n_info()[["UTF-8"]])) return(TRUE)
  for (locale in c("C.UTF-8", "C.utf8", "en_US.UTF-8", "en_US.utf8")) {
    if (nzchar(suppressWarnings(Sys.setlocale("LC_CTYPE", locale)))) return(TRUE)
  }
  FALSE
}

klc_float_dtypes <- c("float16", "bfloat16", "float32", "float64")
klc_all_dtypes <- c(klc_float_dtypes, "int32", "int64", "bool")

klc_is_float <- function(dtype) isTRUE(dtype %in% klc_float_dtypes)

# dim() of an array; integer(0) for a vector without dim() (a 0-d value).
klc_shape <- function(x) {
  d <- dim(x)
  if (is.null(d)) integer(0) else as.integer(d)
}

# `values` as doubles with dim() = shape (column-major, R's own order); no dim() when shape is 0-d.
klc_with_dim <- function(values, shape) {
  values <- as.double(values)
  if (length(shape) > 0L) dim(values) <- as.integer(shape)
  values
}


# ---- kernels -------------------------------------------------------------------------------------------

klc_kernel <- function(name) {
  kernels <- list(torch = klc_torch_kernel, klc = klc_port_kernel, TEST_base_r = klc_TEST_base_r_kernel)
  if (!is.character(name) || length(name) != 1L || !(name %in% names(kernels))) {
    stop("unknown kernel ", encodeString(as.character(name), quote = '"'), "; known: ",
         paste(names(kernels), collapse = ", "))
  }
  kernels[[name]]()
}

# The entry point Python calls, once per batch: columns in, columns out.
klc_bridge <- function(kernel_name, case_id, surface, input, target, input_dtype, target_dtype,
                       reduction, log_target, size_average, reduce, requires_grad, order) {
  tasks <- klc_tasks(case_id, surface, input, target, input_dtype, target_dtype, reduction, log_target,
                     size_average, reduce, requires_grad, order)
  klc_columns(klc_observe_batch(tasks, klc_kernel(kernel_name)))
}

# A batch's results as columns, one element per task (NA where a field is NULL; value and shape lists
# hold NULL there), plus every task's warnings concatenated in order with warning_count saying how many
# each task has. This is only the shape of the crossing: reading a few long vectors through rpy2 costs
# far less than reading many small named lists.
klc_columns <- function(results) {
  chr <- function(get) {
    vapply(results, function(r) {
      v <- get(r)
      if (is.null(v)) NA_character_ else v
    }, "")
  }
  column <- function(get) lapply(results, get)
  gradient_columns <- function(which) {
    g <- lapply(results, function(r) r[[which]])
    out <- list(
      status = vapply(g, function(x) if (is.null(x)) NA_character_ else x$status, ""),
      value = lapply(g, function(x) x$value),
      shape = lapply(g, function(x) x$shape),
      dtype = vapply(g, function(x) if (is.null(x$dtype)) NA_character_ else x$dtype, ""),
      message = vapply(g, function(x) if (is.null(x$message)) NA_character_ else x$message, "")
    )
    names(out) <- paste(which, names(out), sep = "_")
    out
  }
  c(
    list(
      case_id = chr(function(r) r$case_id),
      status = chr(function(r) r$status),
      seconds = vapply(results, function(r) r$seconds, 0),
      value = column(function(r) r$value),
      shape = column(function(r) r$shape),
      dtype = chr(function(r) r$dtype),
      error_type = chr(function(r) r$error$type),
      error_message = chr(function(r) r$error$message),
      unsupported = chr(function(r) r$unsupported),
      warning_count = vapply(results, function(r) length(r$warnings$message), 0L),
      warning_category = as.character(unlist(lapply(results, function(r) r$warnings$category))),
      warning_message = as.character(unlist(lapply(results, function(r) r$warnings$message))),
      differentiable = chr(function(r) if (is.null(r$differentiable)) NULL else as.character(r$differentiable))
    ),
    gradient_columns("grad_input"),
    gradient_columns("grad_target"),
    do.call(c, lapply(KLC_SECOND_KEYS, gradient_columns))
  )
}


# ---- the R torch kernel --------------------------------------------------------------------------------

klc_torch_kernel <- function() {
  list(
    name = "torch",
    label = "R torch (mlverse)",
    verbs = list(make = klc_torch_make, read = klc_torch_read, backward = klc_torch_backward,
                 grad = klc_torch_grad, differentiable = klc_torch_differentiable, second = klc_torch_second),
    surfaces = list(nnf_kl_div = klc_torch_nnf_kl_div, nn_kl_div_loss = klc_torch_nn_kl_div_loss,
                    torch_kl_div = klc_torch_torch_kl_div)
  )
}

# Whether R torch can run here: list(ok, reason, fix, version, libtorch), `libtorch` being the version of
# the libtorch it runs on (klc_torch_libtorch_version(); NULL when unknown, and absent when not ok).
# Loads the torch namespace when the package is installed. R embedded through rpy2 counts as interactive(), and in an interactive session
# torch's .onLoad downloads libtorch when it is missing; TORCH_INSTALL=0 turns that off, so a
# conformance run never starts a download on its own.
klc_torch_status <- function() {
  Sys.setenv(TORCH_INSTALL = "0")
  fix <- 'in R: install.packages("torch"); torch::install_torch()'
  if (!requireNamespace("torch", quietly = TRUE)) {
    if (length(find.package("torch", quiet = TRUE)) == 0L) {
      reason <- sprintf("the R package torch is not installed in %s (library paths: %s)",
                        R.version.string, paste(.libPaths(), collapse = ", "))
    } else {
      problem <- tryCatch({
        loadNamespace("torch")
        "unknown reason"
      }, error = function(e) conditionMessage(e))
      reason <- sprintf("the R package torch is installed in %s but does not load: %s",
                        R.version.string, problem)
    }
    return(list(ok = FALSE, reason = reason, fix = fix, version = NULL))
  }
  version <- as.character(utils::packageVersion("torch"))
  if (!isTRUE(torch::torch_is_installed())) {
    return(list(ok = FALSE, fix = "in R: torch::install_torch()", version = version,
                reason = sprintf(paste("the R package torch %s is installed but libtorch/lantern is not",
                                       "(torch::torch_is_installed() is FALSE)"), version)))
  }
  list(ok = TRUE, reason = NULL, fix = NULL, version = version, libtorch = klc_torch_libtorch_version())
}

# The version of the libtorch R torch is running on, as that libtorch reports it: at::show_config(),
# reached through lantern as torch:::cpp_torch_show_config(), lists the build settings compiled into the
# loaded libtorch, TORCH_VERSION among them. Not torch:::torch_version, a constant in R torch's source:
# the libtorch version the package installs ("2.8.0" in R torch 0.17.0), whatever libtorch it loads.
# NULL when the running libtorch does not say (or R torch no longer has the internal function).
klc_torch_libtorch_version <- function() {
  config <- tryCatch(torch:::cpp_torch_show_config(), error = function(e) NULL)
  if (!is.character(config) || length(config) != 1L || is.na(config)) return(NULL)
  found <- regmatches(config, regexpr("TORCH_VERSION=[^,[:space:]]+", config))
  if (length(found) == 0L) NULL else sub("^TORCH_VERSION=", "", found)
}

# R torch's dtype objects, made once per session (making one is a C++ call, and a batch needs several per
# task: bench_rtorch.py measured this among the adapter's costs).
klc_torch_dtypes <- local({
  made <- NULL
  function() {
    if (is.null(made)) {
      made <<- list(float16 = torch::torch_float16(), bfloat16 = torch::torch_bfloat16(),
                    float32 = torch::torch_float32(), float64 = torch::torch_float64(),
                    int32 = torch::torch_int32(), int64 = torch::torch_int64(), bool = torch::torch_bool())
    }
    made
  }
})

klc_torch_dtype <- function(dtype) {
  d <- klc_torch_dtypes()[[dtype]]
  if (is.null(d)) stop("unknown dtype ", encodeString(dtype, quote = '"'))
  d
}

# R torch's dtype spellings (c10 ScalarType names) to kl_compat's; others are kept as R torch says them.
klc_torch_dtype_names <- c(Float = "float32", Double = "float64", Half = "float16", BFloat16 = "bfloat16",
                           Long = "int64", Int = "int32", Bool = "bool")

klc_torch_dtype_name <- function(dtype) {
  name <- as.character(dtype)
  if (name %in% names(klc_torch_dtype_names)) klc_torch_dtype_names[[name]] else name
}

# Fields that are active bindings in current R torch were methods in early releases (x$grad()).
klc_member <- function(object, name) {
  value <- object[[name]]
  if (is.function(value)) value() else value
}

klc_torch_make <- function(values, dtype, requires_grad) {
  # dtype is always explicit: R doubles would otherwise become float32. A value without dim() is 0-d
  # (torch_tensor() would give shape (1)).
  t <- if (is.null(dim(values))) {
    torch::torch_scalar_tensor(values, dtype = klc_torch_dtype(dtype))
  } else {
    torch::torch_tensor(values, dtype = klc_torch_dtype(dtype))
  }
  if (requires_grad) t$requires_grad_(TRUE)
  t
}

klc_torch_read <- function(t) {
  t <- t$detach()
  shape <- as.integer(t$size())
  # as_array() handles neither float16 nor bfloat16 (and turns int64 into int32): read through float64,
  # which holds every value of every dtype kl_compat uses exactly.
  value <- torch::as_array(t$to(dtype = klc_torch_dtypes()$float64))
  list(value = klc_with_dim(value, shape), shape = shape, dtype = klc_torch_dtype_name(t$dtype))
}

klc_torch_backward <- function(loss) {
  if (isTRUE(klc_member(loss, "requires_grad"))) loss$backward(torch::torch_ones_like(loss))
}

klc_torch_differentiable <- function(loss) isTRUE(klc_member(loss, "requires_grad"))

# Double backward as an R torch user writes a gradient penalty: autograd_grad(create_graph = TRUE), then
# each first gradient's sum differentiated; retain_graph keeps the forward for the backward after.
klc_torch_second <- function(loss, x, y) {
  defined <- function(g) !is.null(g) && !torch::is_undefined_tensor(g)
  firsts <- torch::autograd_grad(list(loss), list(x, y), grad_outputs = list(torch::torch_ones_like(loss)),
                                 create_graph = TRUE, allow_unused = TRUE)
  out <- list()
  for (g in firsts) {
    if (!defined(g) || !isTRUE(klc_member(g, "requires_grad"))) {
      out <- c(out, list(NULL, NULL))
      next
    }
    s <- torch::autograd_grad(list(g$sum()), list(x, y), retain_graph = TRUE, allow_unused = TRUE)
    out <- c(out, lapply(s, function(t) if (defined(t)) t else NULL))
  }
  out
}

klc_torch_grad <- function(t) {
  if (!isTRUE(klc_member(t, "requires_grad"))) return(NULL)
  g <- klc_member(t, "grad")
  if (is.null(g) || torch::is_undefined_tensor(g)) NULL else g
}

# The surfaces pass every argument the call gives, and only those: log_target only when TRUE and each
# legacy argument only when given, as a user writing the call would. Where the function has no such
# argument, R itself refuses the call ("unused argument (log_target = TRUE)"), and that is recorded.
klc_call_args <- function(reduction, log_target, legacy) {
  c(list(reduction = reduction), if (isTRUE(log_target)) list(log_target = TRUE), legacy)
}

# torch::nnf_kl_div(input, target, reduction = "mean") in R torch 0.17.0 (R/nnf-loss.R).
klc_torch_nnf_kl_div <- function(input, target, reduction, log_target, legacy) {
  do.call(torch::nnf_kl_div, c(list(input, target), klc_call_args(reduction, log_target, legacy)))
}

# torch::nn_kl_div_loss(reduction = "mean"): a module whose forward() calls nnf_kl_div (R/nn-loss.R).
klc_torch_nn_kl_div_loss <- function(input, target, reduction, log_target, legacy) {
  loss_fn <- do.call(torch::nn_kl_div_loss, klc_call_args(reduction, log_target, legacy))
  loss_fn(input, target)
}

# torch:::torch_kl_div(self, target, reduction, log_target): the ATen function (not exported). Its
# reduction is an integer enum, so the adapter maps the three names ATen has ('none', 'mean', 'sum') to
# torch_reduction_none/mean/sum(), which is how R torch's own code calls it. Every other value, 'batchmean'
# and the invalid names included, goes in as given, and R torch answers as it does (a string that names
# no enum value is refused by the argument conversion). log_target is always passed: ATen has it.
klc_torch_torch_kl_div <- function(input, target, reduction, log_target, legacy) {
  args <- c(list(input, target, reduction = klc_torch_reduction_enum(reduction), log_target = log_target), legacy)
  do.call(torch:::torch_kl_div, args)
}

klc_torch_reduction_enum <- function(reduction) {
  if (identical(reduction, "none")) return(torch::torch_reduction_none())
  if (identical(reduction, "mean")) return(torch::torch_reduction_mean())
  if (identical(reduction, "sum")) return(torch::torch_reduction_sum())
  reduction
}


# ---- the TEST kernel: base R, for testing the plumbing only ---------------------------------------------
#
# NOT R torch. A "tensor" here is an environment holding a plain R array (value), a kl_compat dtype
# name, requires_grad, and later grad; a loss also holds a backward() closure. Values are computed in
# double and never rounded to the dtype they are labelled with. Its surfaces:
#   kl_div          y * (log(y) - x) (or exp(y) * (y - x) with log_target), with y == 0 giving 0, and
#                   the reductions none/sum/mean/batchmean; 'mean' warns; anything else is an error;
#                   legacy arguments are refused by R ("unused argument")
#   identity        the input itself (for conversion round trips); the gradient is ones
#   warn            the input, after two warnings whose text is the reduction string
#   error           an error whose message is the reduction string
#   backward_error  the input; backpropagating raises an error whose message is the reduction string

klc_TEST_base_r_kernel <- function() {
  list(
    name = "TEST_base_r",
    label = "TEST kernel (base R; not R torch)",
    verbs = list(make = klc_TEST_make, read = klc_TEST_read, backward = klc_TEST_backward,
                 grad = klc_TEST_grad),
    surfaces = list(kl_div = klc_TEST_kl_div, identity = klc_TEST_identity, warn = klc_TEST_warn,
                    error = klc_TEST_error, backward_error = klc_TEST_backward_error)
  )
}

klc_TEST_tensor <- function(value, dtype, requires_grad = FALSE, backward = NULL) {
  t <- new.env(parent = emptyenv())
  t$value <- value
  t$dtype <- dtype
  t$requires_grad <- requires_grad
  t$grad <- NULL
  t$backward <- backward
  t
}

klc_TEST_make <- function(values, dtype, requires_grad) {
  if (!isTRUE(dtype %in% klc_all_dtypes)) stop("TEST kernel: unknown dtype ", encodeString(dtype, quote = '"'))
  klc_TEST_tensor(values, dtype, requires_grad)
}

klc_TEST_read <- function(t) {
  shape <- klc_shape(t$value)
  list(value = klc_with_dim(t$value, shape), shape = shape, dtype = t$dtype)
}

klc_TEST_backward <- function(loss) {
  if (!is.null(loss$backward)) loss$backward()
}

klc_TEST_grad <- function(t) {
  if (isTRUE(t$requires_grad)) t$grad else NULL
}

klc_TEST_ones_like <- function(t) {
  klc_TEST_tensor(klc_with_dim(rep(1, length(t$value)), klc_shape(t$value)), t$dtype)
}

klc_TEST_identity <- function(input, target, reduction, log_target, legacy = list()) {
  klc_TEST_tensor(input$value, input$dtype, input$requires_grad, backward = function() {
    if (input$requires_grad) input$grad <- klc_TEST_ones_like(input)
  })
}

klc_TEST_warn <- function(input, target, reduction, log_target, legacy = list()) {
  warning(warningCondition(reduction, class = "klc_test_warning"))
  warning(paste("plain:", reduction), call. = FALSE)
  klc_TEST_identity(input, target, reduction, log_target)
}

klc_TEST_error <- function(input, target, reduction, log_target, legacy = list()) {
  stop(errorCondition(reduction, class = "klc_test_error"))
}

klc_TEST_backward_error <- function(input, target, reduction, log_target, legacy = list()) {
  klc_TEST_tensor(input$value, input$dtype, input$requires_grad, backward = function() {
    stop(errorCondition(reduction, class = "klc_test_backward_error"))
  })
}

klc_TEST_promote <- function(a, b) {
  rank <- c(float16 = 1, bfloat16 = 1, float32 = 2, float64 = 3)
  if (a == b) return(a)
  if (rank[[a]] == rank[[b]]) return("float32")
  if (rank[[a]] > rank[[b]]) a else b
}

# The surface passes the legacy arguments on to a function that has none, so R refuses them as it
# refuses them for nnf_kl_div ("unused argument"): the TEST of that path.
klc_TEST_kl_div <- function(input, target, reduction, log_target, legacy = list()) {
  do.call(klc_TEST_kl_div_function, c(list(input, target, reduction = reduction, log_target = log_target), legacy))
}

klc_TEST_kl_div_function <- function(input, target, reduction, log_target) {
  if (!is.character(reduction) || length(reduction) != 1L) {
    stop("TEST kernel: reduction must be one string, not ", paste(deparse(reduction), collapse = " "))
  }
  if (!klc_is_float(input$dtype) || !klc_is_float(target$dtype)) {
    stop("TEST kernel: kl_div takes floating dtypes, not ", input$dtype, " and ", target$dtype)
  }
  x <- input$value
  y <- target$value
  shape <- klc_shape(x)
  if (!identical(shape, klc_shape(y))) {
    stop("TEST kernel: input shape (", paste(shape, collapse = ","), ") and target shape (",
         paste(klc_shape(y), collapse = ","), ") differ")
  }
  if (isTRUE(log_target)) {
    terms <- exp(y) * (y - x)
    grad_x <- -exp(y)
    grad_y <- exp(y) * (y - x + 1)
  } else {
    terms <- ifelse(y == 0 & !is.nan(x), 0, y * (suppressWarnings(log(y)) - x))
    grad_x <- -y
    grad_y <- suppressWarnings(log(y)) + 1 - x
  }
  n_batch <- if (length(shape) > 0L) shape[1] else 1L
  if (identical(reduction, "none")) {
    value <- klc_with_dim(terms, shape)
    scale <- 1
  } else if (identical(reduction, "sum")) {
    value <- sum(terms)
    scale <- 1
  } else if (identical(reduction, "mean")) {
    warning(warningCondition("TEST kernel: 'mean' is not the KL divergence; 'batchmean' is",
                             class = "klc_test_mean_warning"))
    value <- sum(terms) / length(terms)
    scale <- 1 / length(terms)
  } else if (identical(reduction, "batchmean")) {
    value <- sum(terms) / n_batch
    scale <- 1 / n_batch
  } else {
    stop(errorCondition(paste0("TEST kernel: unknown reduction ", reduction), class = "klc_test_error"))
  }
  klc_TEST_tensor(value, klc_TEST_promote(input$dtype, target$dtype),
                  input$requires_grad || target$requires_grad, backward = function() {
    if (input$requires_grad) input$grad <- klc_TEST_tensor(klc_with_dim(grad_x * scale, shape), input$dtype)
    if (target$requires_grad) target$grad <- klc_TEST_tensor(klc_with_dim(grad_y * scale, shape), target$dtype)
  })
}


# ---- the porting layer for R users: PyTorch's kl_div semantics in R torch ---------------------------

# klc_kl_div below, observed as an adapter (rtorch-as-torch) on the R torch verbs: its one surface is
# the functional form, called with the arguments the task gives (R refuses the ones it lacks).
klc_port_kernel <- function() {
  torch_kernel <- klc_torch_kernel()
  list(
    name = "klc",
    label = "klc_kl_div (PyTorch's semantics in R torch)",
    verbs = torch_kernel$verbs,
    surfaces = list(functional = function(input, target, reduction, log_target, legacy) {
      do.call(klc_kl_div, c(list(input, target, reduction = reduction, log_target = log_target), legacy))
    })
  )
}

#
# klc_kl_div(input, target, reduction = "mean", log_target = FALSE) behaves as PyTorch's
# torch.nn.functional.kl_div (kl_compat's semantics "torch"), where nnf_kl_div differs:
#   - log_target exists (nnf_kl_div has none; ATen's kernel has it);
#   - an unknown reduction is an error (nnf_kl_div's reduction_enum silently applies none), and the old
#     name 'elementwise_mean' is 'mean' with PyTorch's deprecation warning;
#   - 'batchmean' divides the sum by the size of the first dimension, and a 0-d input by nothing
#     (nnf_kl_div divides it by input$size(1), which is NA there);
#   - the loss is xlogy(y, y) - y * x, so y == 0 with x == -Inf gives NaN, as in PyTorch;
#   - integer tensors are refused, as PyTorch refuses them;
#   - 'mean' warns with PyTorch's whole message.
# Held to PyTorch's measured behaviour on the whole matrix (the rtorch-as-torch adapter); R has no
# size_average/reduce, so neither has this function. Built from R torch's own differentiable operations,
# so loss$backward() gives PyTorch's gradients for the input and the target. Example (R):
#   source("adapters/rtorch.R")   # from a kl_compat checkout, or the installed package's copy
#   loss <- klc_kl_div(nnf_log_softmax(s / T, dim = 2), nnf_log_softmax(t / T, dim = 2),
#                      reduction = "batchmean", log_target = TRUE) * T^2

klc_reductions <- c("none", "mean", "sum", "batchmean")
klc_torch_mean_warning <- paste0(
  "reduction: 'mean' divides the total loss by both the batch size and the support size.",
  "'batchmean' divides only by the batch size, and aligns with the KL div math definition.",
  "'mean' will be changed to behave the same as 'batchmean' in the next major release.")

klc_torch_elementwise_mean_warning <- "reduction='elementwise_mean' is deprecated. Please use reduction='mean' instead."

# The reduction check, separate so it can be tested without R torch. Returns the reduction to apply.
klc_check_reduction <- function(reduction) {
  if (!is.character(reduction) || length(reduction) != 1L || is.na(reduction)) {
    stop("reduction must be one string, got ", paste(deparse(reduction), collapse = " "), call. = FALSE)
  }
  if (identical(reduction, "elementwise_mean")) {
    warning(klc_torch_elementwise_mean_warning, call. = FALSE)
    return("mean")
  }
  if (!(reduction %in% klc_reductions)) {
    stop(reduction, " is not a valid value for reduction", call. = FALSE)
  }
  if (identical(reduction, "mean")) warning(klc_torch_mean_warning, call. = FALSE)
  reduction
}

# xlogy(y, y) as PyTorch's kl_div forms it: ATen's own xlogy, which R torch has but does not export
# (its log rounds as PyTorch's does: y * torch_log(y) takes the vectorised log, which on some CPUs rounds
# differently); where a version lacks it, 0 where y == 0 and y * log(y) elsewhere (NaN for y < 0),
# compared with a zero tensor, not the R number 0, which R torch would make a tensor of shape (1) and so
# turn a 0-d target's mask, and the loss, into shape (1).
klc_xlogy <- function(x, y) {
  aten_xlogy <- get0("torch_xlogy", envir = asNamespace("torch"), mode = "function", inherits = FALSE)
  if (!is.null(aten_xlogy)) return(aten_xlogy(x, y))
  zero <- torch::torch_zeros_like(x)
  torch::torch_where(x == zero, zero, x * torch::torch_log(y))
}

klc_kl_div <- function(input, target, reduction = "mean", log_target = FALSE) {
  reduction <- klc_check_reduction(reduction)
  if (!input$is_floating_point() || !target$is_floating_point()) {
    stop("kl_div: Integral inputs not supported.", call. = FALSE)
  }
  if (isTRUE(log_target)) {
    loss <- torch::torch_exp(target) * (target - input)
  } else {
    loss <- klc_xlogy(target, target) - target * input
  }
  switch(reduction,
    none = loss,
    sum = loss$sum(),
    mean = loss$mean(),
    batchmean = if (input$dim() == 0L) loss$sum() else loss$sum() / input$size(1)
  )
}
