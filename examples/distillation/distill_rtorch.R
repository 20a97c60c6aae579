# Knowledge distillation in R torch, with PyTorch's KL-divergence semantics (distill_torch.py's loss):
# klc_kl_div from kl_compat's rtorch.R (nnf_kl_div divides a 0-d 'batchmean' by NA, has no log_target and
# silently ignores an unknown reduction; klc_kl_div behaves as torch.nn.functional.kl_div).
#
# Run: Rscript distill_rtorch.R RTORCH_R STUDENT.csv TEACHER.csv [T]
#   RTORCH_R: the path of rtorch.R (adapters/rtorch.R in a checkout; python -c "from
#   kl_compat.adapters.rtorch_backend import R_SOURCE; print(R_SOURCE)" prints the installed copy's).
# Prints one JSON object, as the Python examples do: {"loss": ..., "grad_student": [[...], ...]}.

suppressPackageStartupMessages(library(torch))

args <- commandArgs(trailingOnly = TRUE)
if (!(length(args) %in% c(3L, 4L))) stop("usage: Rscript distill_rtorch.R RTORCH_R STUDENT.csv TEACHER.csv [T]")
source(args[[1]])
read_logits <- function(path) as.matrix(read.csv(path, header = FALSE, colClasses = "numeric"))
temperature <- if (length(args) == 4L) as.numeric(args[[4]]) else 2

distillation_loss <- function(student_logits, teacher_logits, T) {
  log_p <- nnf_log_softmax(student_logits / T, dim = 2)
  q <- nnf_softmax(teacher_logits / T, dim = 2)
  klc_kl_div(log_p, q, reduction = "batchmean") * T * T
}

s <- torch_tensor(read_logits(args[[2]]), dtype = torch_float64(), requires_grad = TRUE)
loss <- distillation_loss(s, torch_tensor(read_logits(args[[3]]), dtype = torch_float64()), temperature)
loss$backward()
grad <- as.matrix(as_array(s$grad))
number <- function(v) sprintf("%.17g", v)  # a double, exactly
rows <- apply(grad, 1, function(r) paste0("[", paste(number(r), collapse = ", "), "]"))
cat(sprintf('{"loss": %s, "grad_student": [%s]}\n', number(as.numeric(loss$item())), paste(rows, collapse = ", ")))
