# Prints klc_kl_div's value and gradients for the data given on the command line (data, not code):
#   Rscript klc_kl_div_values.R RTORCH_R REDUCTION X1,X2,... Y1,Y2,...
# Run in its own process: R torch's libtorch must not share a process with PyTorch's.
args <- commandArgs(trailingOnly = TRUE)
source(args[[1]])
reduction <- args[[2]]
x <- torch::torch_tensor(as.numeric(strsplit(args[[3]], ",")[[1]]), dtype = torch::torch_float64(),
                         requires_grad = TRUE)
y <- torch::torch_tensor(as.numeric(strsplit(args[[4]], ",")[[1]]), dtype = torch::torch_float64(),
                         requires_grad = TRUE)
loss <- klc_kl_div(x, y, reduction)
loss$backward(torch::torch_ones_like(loss))
fmt <- function(t) paste(format(as.numeric(torch::as_array(t)), digits = 17), collapse = ",")
cat("value", fmt(loss), "\n")
cat("grad_input", fmt(x$grad), "\n")
