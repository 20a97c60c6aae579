# A distillation loss in R torch (a sample for `kl-compat scan`).
library(torch)
distill <- function(s, t, temperature = 4) {
  nnf_kl_div(nnf_log_softmax(s / temperature, dim = 2), nnf_softmax(t / temperature, dim = 2),
             reduction = "batchmean") * temperature^2
}
criterion <- torch::nn_kl_div_loss("sum")
per_element <- function(x, y, r) nnf_kl_div(x, y, reduction = r)
