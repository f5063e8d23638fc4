-- diag.lua -- symmetry and entropy diagnostics: one table gathering the parts.
--
--   balance and conserved quantities   diag/balance.lua
--   gradient noise and entropic loss   diag/noise.lua
--   curvature (HVP, Lanczos, ...)      diag/curvature.lua
--   representation alignment          represent.lua
--   monitoring during training         diag/monitor.lua
local diag = {}

local parts = {
  balance = {"grad_norms", "weight_norms", "charges", "balance"},
  noise = {"per_sample_sqnorms", "expected_balance", "noise", "trace_from_batches", "entropic_loss", "entropic_force"},
  curvature = {"hvp", "hessian", "sharpness", "hessian_trace", "spectral_density",
               "edge_of_stability", "flatten", "unflatten"},
  monitor = {"monitor"},
}

for part, names in pairs(parts) do
  local m = require("entro.diag." .. part)
  for _, name in ipairs(names) do diag[name] = m[name] end
end

-- representation metrics
local represent = require "entro.represent"
for k, v in pairs(represent) do
  if diag[k] == nil and k ~= "_help" then diag[k] = v end
end

diag._help = {
  grad_norms = "diag.grad_norms(net) -> {params = {name = ||g||^2}, layers = {...}, total}",
  weight_norms = "diag.weight_norms(net) -> {params = {name = ||w||^2}, layers = {...}, total}",
  charges = "diag.charges(net, {scale_groups}) -> {neurons[l] = ||w_in||^2 - ||w_out||^2, matrices[l] = W_l W_l^T - W_{l+1}^T W_{l+1}, norms[l], scale[g]}: what gradient flow conserves",
  balance = "diag.balance(net, {ema = 0.99, matrix = false, reset = false}) -> {ratios, neurons, max_ratio, mean_abs_neuron, matrix_residual, energy, dead, steps}: running gradient-energy balance across layers and neurons (dead neurons count as balanced, outside the mean)",
  per_sample_sqnorms = "diag.per_sample_sqnorms(net, loss_fn, X, Y, {method = 'auto'|'fast'|'loop'}) -> ||grad l_i||^2 for every sample, and the full gradient",
  expected_balance = "diag.expected_balance(net, loss_fn, X, Y, {batch = 1, matrix}) -> {energy, g_in, g_out, ratios, neurons, max_ratio, mean_abs_neuron, matrix_residual}: the gradient energies SGD with batch B sees at the current weights, exactly",
  noise = "diag.noise(net, loss_fn, X, Y, {batch = B, lr, replacement = true}) -> {grad_sq, trace = Tr Sigma, noise_scale, temperature = lr Tr Sigma / B, batch_excess}",
  trace_from_batches = "diag.trace_from_batches(b1, |g_b1|^2, b2, |g_b2|^2) -> Tr Sigma from two batch sizes",
  entropic_loss = "diag.entropic_loss(net, loss_fn, X, Y, {lr, batch, weight_decay, replacement}) -> {loss, decay, discretization = (lr/4)|grad L|^2, noise = (lr/4B) Tr Sigma (0 without a batch: full-batch GD), F}",
  entropic_force = "diag.entropic_force(net, loss_fn, X, Y, {lr, batch, replacement}) -> grad F - grad L per parameter (the entropic force), and as one vector",
  hvp = "diag.hvp(loss_fn, params, v, {method = 'auto'|'exact'|'fd', order = 2, eps}) -> Hv (flat or a list, like v), method used: exact by differentiating a create_graph gradient, fd by central differences of gradients (eps scaled to |theta|); auto falls back to fd for ops without a second derivative",
  hessian = "diag.hessian(loss_fn, params) -> the dense Hessian from unit-vector HVPs (small nets)",
  sharpness = "diag.sharpness(loss_fn, params, {k = 1, maxiter = max(20, 2k+10), tol, rng, vectors}) -> {values = top-k eigenvalues, vectors, residuals, iterations, max, method} by Lanczos",
  hessian_trace = "diag.hessian_trace(loss_fn, params, {samples = 100, rng}) -> mean, standard error (Hutchinson)",
  spectral_density = "diag.spectral_density(loss_fn, params, {steps = 30, probes = 5, rng}) -> {nodes, weights, density(x, sigma)} (stochastic Lanczos quadrature)",
  edge_of_stability = "diag.edge_of_stability(lr, {momentum = beta}) -> 2/lr, or 2(1+beta)/lr",
  flatten = "diag.flatten(list of tensors) -> one vector",
  unflatten = "diag.unflatten(v, params) -> views of v shaped like params",
  monitor = "diag.monitor(net, {every = k, file = 'run.csv', 'loss', 'grad_norms', 'balance', 'charges', 'sharpness', loss_fn}) -> mon with :record(step, extras), :column(name), :rows()",
}
for k, v in pairs(represent._help or {}) do diag._help[k] = diag._help[k] or v end

return diag
