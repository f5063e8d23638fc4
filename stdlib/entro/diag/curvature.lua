-- diag/curvature.lua -- the Hessian of a loss, seen through Hessian-vector products:
-- hvp, top eigenvalues by Lanczos (sharpness), Hutchinson's trace, and the spectral
-- density by stochastic Lanczos quadrature (PAPER.md §5).
--
-- Every tool takes loss_fn, a function of no arguments returning the scalar (full-batch)
-- loss at the current parameters, and params, the list of parameter tensors to
-- differentiate: pass one layer's parameters to study that block of the Hessian alone.
-- Vectors over the parameters are flat tensors (the parameters' elements in order).
local tensor = require "entro.tensor"
local linalg = tensor.linalg

local M = {}

local function check_params(params, who)
  if type(params) ~= "table" or #params == 0 then
    error(who .. ": params must be a non-empty list of tensors", 3)
  end
  local n = 0
  for i, p in ipairs(params) do
    if not tensor.is_tensor(p) then
      error(string.format("%s: params[%d] is a %s, expected a tensor", who, i, type(p)), 3)
    end
    if not (p.needs_grad and p.is_leaf) then
      error(string.format("%s: params[%d] is not a leaf that requires grad", who, i), 3)
    end
    n = n + p:numel()
  end
  return n
end

local function flatten(list)
  local parts = {}
  for i, t in ipairs(list) do parts[i] = t:reshape(-1) end
  return tensor.cat(parts, 1)
end

-- The number of elements of a list of tensors, refusing anything else.
local function list_numel(list, who, what)
  if type(list) ~= "table" or tensor.is_tensor(list) or #list == 0 then
    error(string.format("%s: %s must be a non-empty list of tensors, got %s", who, what,
                        tensor.is_tensor(list) and "a tensor" or type(list)), 3)
  end
  local n = 0
  for i, t in ipairs(list) do
    if not tensor.is_tensor(t) then
      error(string.format("%s: %s[%d] is a %s, expected a tensor", who, what, i, type(t)), 3)
    end
    n = n + t:numel()
  end
  return n
end

function M.flatten(list)
  list_numel(list, "diag.flatten", "list")
  return flatten(list)
end

-- The flat vector v as a list of views shaped like params.
local function unflatten(v, params)
  local out, at = {}, 1
  for i, p in ipairs(params) do
    local k = p:numel()
    out[i] = v:narrow(1, at, k):view(p:shape())
    at = at + k
  end
  return out
end

function M.unflatten(v, params)
  local n = list_numel(params, "diag.unflatten", "params")
  if not tensor.is_tensor(v) or v:dim() ~= 1 or v:numel() ~= n then
    error(string.format("diag.unflatten: v must be a vector of the parameters' %d elements, got %s",
                        n, tensor.is_tensor(v) and "shape " .. table.concat(v:shape(), "x") or type(v)), 2)
  end
  return unflatten(v, params)
end

-- The flat gradient of loss_fn at the current parameters.
local function grad(loss_fn, params)
  local g = tensor.grad(loss_fn, params)
  return tensor.no_grad(flatten, g)
end
M.grad = grad

-- Sets params to theta0 + eps * v (flat vectors), under no_grad.
local function set_params(params, theta0, v, eps)
  tensor.no_grad(function()
    local base, dir = unflatten(theta0, params), v and unflatten(v, params)
    for i, p in ipairs(params) do
      p:copy(base[i])
      if dir then p:axpy_(eps, dir[i]) end
    end
  end)
end

local function as_flat(v, params, n, who)
  if tensor.is_tensor(v) then
    if v:numel() ~= n then
      error(string.format("%s: v has %d elements, the parameters %d", who, v:numel(), n), 3)
    end
    return v:reshape(-1), true
  end
  if type(v) ~= "table" or #v ~= #params then
    error(who .. ": v must be a flat tensor or a list of tensors shaped like params", 3)
  end
  return tensor.no_grad(flatten, v), false
end

-- Hv by central differences of gradients, [g(θ + εv) - g(θ - εv)] / 2ε, with the step
-- ε||v|| = 1e-8 (1 + ||θ||): that small because a step across a ReLU kink turns the
-- difference into garbage, and a network with many units has kinks everywhere (rounding
-- then costs about 1e-8 relative). order = 4 uses the five-point stencil (two more
-- gradients). The parameters are restored bitwise afterwards.
local function hvp_fd(loss_fn, params, v, opts)
  local theta0 = tensor.no_grad(flatten, params)
  local vnorm = v:norm()
  if vnorm == 0 then return tensor.zeros(v:numel()) end
  local order = opts.order or 2
  local eps = opts.eps or ((order == 4 and 1e-6 or 1e-8) * (1 + theta0:norm()) / vnorm)
  local ok, result = pcall(function()
    local function g_at(s)
      set_params(params, theta0, v, s)
      return grad(loss_fn, params)
    end
    if order == 4 then
      local a, b, c, d = g_at(2 * eps), g_at(eps), g_at(-eps), g_at(-2 * eps)
      return (b - c) * (8 / (12 * eps)) - (a - d) * (1 / (12 * eps))
    end
    return (g_at(eps) - g_at(-eps)) * (1 / (2 * eps))
  end)
  set_params(params, theta0)
  if not ok then error(result, 0) end
  return result
end

-- The exact Hessian as an operator: g = ∇L is computed once with create_graph, and each
-- product Hv is the gradient of g·v, one backward pass through that retained graph seeded
-- with v (Pearlmutter's trick, as PyHessian does it; ReLU's second derivative is exactly
-- zero), however many products a Lanczos run asks for. A gradient that does not depend on
-- the parameters (a linear loss) was recorded as a constant: its part of Hv is zero.
local function exact_operator(loss_fn, params)
  local g = tensor.grad(loss_fn, params, {create_graph = true})
  -- closing g frees the recorded graph at once, so its storage serves the next call
  local function done() for _, t in ipairs(g) do t:close() end end
  return function(v)
    local hv = tensor.grad(g, params, {grad_outputs = unflatten(v, params), retain_graph = true})
    local flat = tensor.no_grad(flatten, hv)
    for _, t in ipairs(hv) do t:close() end   -- their storage serves the next product
    return flat
  end, done
end

-- Ops without second-derivative kernels make the exact method fail with this message.
local function unsupported(err) return tostring(err):find("no second derivative", 1, true) ~= nil end

-- The Hessian operator v -> Hv for the current parameters, and `how`: how.method is the
-- method it uses, "exact", "fd", or, for "auto", exact when every op of the loss has a
-- second derivative, else finite differences; how.done() releases what it holds. An op
-- without one fails the create_graph gradient itself: the products after it are plain
-- backward passes through the recorded graph. Valid until the parameters change.
local function operator(loss_fn, params, opts)
  local method = opts.method or "auto"
  local fd = function(v) return hvp_fd(loss_fn, params, v, opts) end
  if method == "fd" then return fd, {method = "fd", done = function() end} end
  if method ~= "exact" and method ~= "auto" then
    error("diag.hvp: method must be exact, fd or auto, got " .. tostring(method), 0)
  end
  local ok, exact, done = pcall(exact_operator, loss_fn, params)
  if ok then return exact, {method = "exact", done = done} end
  if method == "auto" and unsupported(exact) then return fd, {method = "fd", done = function() end} end
  error(exact, 0)
end

local function hvp_flat(loss_fn, params, v, opts)
  local op, how = operator(loss_fn, params, opts)
  local hv = op(v)
  how.done()
  return hv, how.method
end

-- diag.hvp(loss_fn, params, v, {method = "auto"|"exact"|"fd", order = 2, eps}) -> Hv,
-- shaped like v (flat or a list), and the method used
function M.hvp(loss_fn, params, v, opts)
  opts = opts or {}
  local n = check_params(params, "diag.hvp")
  local flat, was_flat = as_flat(v, params, n, "diag.hvp")
  local hv, method = hvp_flat(loss_fn, params, flat, opts)
  if was_flat then return hv, method end
  return unflatten(hv, params), method
end

-- The dense Hessian (n x n) from n HVPs with unit vectors: for checks on small nets.
function M.hessian(loss_fn, params, opts)
  local n = check_params(params, "diag.hessian")
  if n > 4000 then error("diag.hessian: " .. n .. " parameters is too many for a dense Hessian", 2) end
  local h = tensor.zeros(n, n)
  local op, how = operator(loss_fn, params, opts or {})
  for i = 1, n do
    local e = tensor.zeros(n)
    e:set(i, 1)
    h:select(1, i):copy(op(e))
  end
  how.done()
  return (h + h:t()) * 0.5
end

local function unit(v) return v * (1 / v:norm()) end

-- Lanczos with full reorthogonalisation from the unit vector q1, for at most m steps, or
-- until stop(alpha, beta, j) says so. Returns the tridiagonal (alpha, beta[1..steps-1]),
-- the basis Q (rows are the Lanczos vectors) and the number of steps; beta[steps] is the
-- norm of the remainder, which bounds the Ritz pairs' residuals.
local ORTHO_TOL = 1e-12

-- The basis matrix of the last run, kept (weakly) for the next: a new one is tens of
-- megabytes to zero for a network of a few hundred thousand parameters. Lanczos writes a
-- row before it reads it, so what the rows held before does not matter.
local spare = setmetatable({}, {__mode = "v"})

local function take_basis(m, n)
  local Q = spare[1]
  spare[1] = nil
  if Q and Q:size(1) >= m and Q:size(2) == n then return Q end
  return tensor.empty(m, n)
end

local function lanczos(op, q1, m, n, stop)
  local full = take_basis(m, n)   -- at least m rows; given back by the caller
  local Q = full:narrow(1, 1, m)
  local alpha, beta = {}, {}
  Q:select(1, 1):copy(q1)
  local steps, scale, b_prev = m, 0, 0
  for j = 1, m do
    local w = op(Q:select(1, j))
    -- the three-term recurrence removes the big components, along q_j (alpha_j) and
    -- q_(j-1) (beta_(j-1) again); then every component along the basis so far is measured
    -- and, once any exceeds 1e-12 of |w|, removed (full reorthogonalisation; a second time
    -- when rounding calls for it: DGKS, as ARPACK). Orthogonality to 1e-12 is far inside
    -- the sqrt(eps) that keeps Ritz values accurate to working precision (Simon, 1984).
    local lo = math.max(1, j - 1)
    local _, c = linalg.project_out(w, Q:narrow(1, lo, j - lo + 1), {passes = 1})
    local _, fix, b = linalg.project_out(w, Q:narrow(1, 1, j), {passes = "auto", tol = ORTHO_TOL})
    local a = c:get(j - lo + 1) + fix:get(j)
    alpha[j], beta[j] = a, b
    scale = math.max(scale, math.abs(a), b_prev)   -- a lower bound on ||H||
    -- breakdown: the Krylov space is invariant, its Ritz values are eigenvalues
    if j == m or b <= 1e-12 * scale + 1e-300 or (stop and stop(alpha, beta, j)) then
      steps = j
      break
    end
    w:affine(1 / b, 0, Q:select(1, j + 1))
    w:close()
    b_prev = b
  end
  return alpha, beta, Q:narrow(1, 1, steps), steps, full
end

local function tridiag(alpha, beta, steps)
  local d = tensor.tensor(alpha)
  if steps == 1 then return d, tensor.ones(1, 1) end
  local e = {}
  for i = 1, steps - 1 do e[i] = beta[i] end
  return tensor.linalg.tridiag_eigh(d, tensor.tensor(e))
end

local function random_unit(n, rng)
  return unit(rng:randn(n))
end

-- diag.sharpness(loss_fn, params, {k = 1, maxiter = max(20, 2k + 10), tol, rng,
-- vectors = false}) -> {values = {λ1 >= λ2 ...}, vectors = {...}, iterations, residuals}:
-- the top-k Hessian eigenvalues by Lanczos with full reorthogonalisation (at most n
-- iterations, where Lanczos is exact); the tridiagonal problem is solved by LAPACK (dstev).
-- residuals[i] is Lanczos's bound |β_m s_mi| on ||H v_i - λ_i v_i||; with tol, iterations
-- stop once the top k residuals are below tol·|λ_i|. Fewer than k values come back when
-- the Krylov space closes early (H has fewer distinct eigenvalues seen from the start).
function M.sharpness(loss_fn, params, opts)
  opts = opts or {}
  local n = check_params(params, "diag.sharpness")
  local k = opts.k or 1
  if math.type(k) ~= "integer" or k < 1 or k > n then
    error(string.format("diag.sharpness: k must be an integer in 1..%d, got %s", n, tostring(opts.k)), 2)
  end
  local maxiter = opts.maxiter or math.max(20, 2 * k + 10)
  if math.type(maxiter) ~= "integer" or maxiter < 1 then
    error("diag.sharpness: maxiter must be a positive integer, got " .. tostring(opts.maxiter), 2)
  end
  maxiter = math.min(maxiter, n)
  local tol = opts.tol
  if tol ~= nil and (type(tol) ~= "number" or not (tol > 0)) then
    error("diag.sharpness: tol must be a positive number, got " .. tostring(tol), 2)
  end
  local rng = opts.rng or tensor.default_rng()
  local op, how = operator(loss_fn, params, opts)
  local stop = tol and function(alpha, beta, j)
    if j < k then return false end
    local theta, S = tridiag(alpha, beta, j)
    for i = 1, k do
      local c = j - i + 1
      if math.abs(beta[j] * S:get(j, c)) > tol * math.abs(theta:get(c)) then return false end
    end
    return true
  end
  local alpha, beta, Q, steps, full = lanczos(op, random_unit(n, rng), maxiter, n, stop)
  how.done()
  local theta, S = tridiag(alpha, beta, steps)
  local values, vectors, residuals = {}, {}, {}
  for i = 1, math.min(k, steps) do
    local j = steps - i + 1   -- eigenvalues come ascending
    values[i] = theta:get(j)
    residuals[i] = math.abs(beta[steps] * S:get(steps, j))
    if opts.vectors then
      vectors[i] = S:select(2, j):matmul(Q)
    end
  end
  spare[1] = full
  return {values = values, vectors = opts.vectors and vectors or nil, iterations = steps,
          residuals = residuals, max = values[1], method = how.method}
end

-- diag.hessian_trace(loss_fn, params, {samples = 100, rng}) -> mean, stderr: Hutchinson's
-- estimator, the mean of z^T H z over Rademacher vectors z.
function M.hessian_trace(loss_fn, params, opts)
  opts = opts or {}
  local n = check_params(params, "diag.hessian_trace")
  local samples = opts.samples or 100
  if math.type(samples) ~= "integer" or samples < 2 then
    error("diag.hessian_trace: samples must be an integer >= 2", 2)
  end
  local rng = opts.rng or tensor.default_rng()
  local op, how = operator(loss_fn, params, opts)
  local sum, sumsq = 0, 0
  for _ = 1, samples do
    local z = rng:bernoulli(0.5, n):mul_(2):sub_(1)
    local v = z:dot(op(z))
    sum, sumsq = sum + v, sumsq + v * v
  end
  how.done()
  local mean = sum / samples
  local var = math.max(0, (sumsq - samples * mean * mean) / (samples - 1))
  return mean, math.sqrt(var / samples)
end

-- diag.spectral_density(loss_fn, params, {steps = 30, probes = 5, rng}) -> {nodes, weights}
-- by stochastic Lanczos quadrature: each probe's Lanczos tridiagonal gives Ritz values
-- (nodes) and squared first components (weights); weights are averaged over probes and
-- sum to 1. density(x, sigma) smooths them with Gaussians.
function M.spectral_density(loss_fn, params, opts)
  opts = opts or {}
  local n = check_params(params, "diag.spectral_density")
  local steps, probes = opts.steps or 30, opts.probes or 5
  if math.type(steps) ~= "integer" or steps < 1 then
    error("diag.spectral_density: steps must be a positive integer, got " .. tostring(opts.steps), 2)
  end
  if math.type(probes) ~= "integer" or probes < 1 then
    error("diag.spectral_density: probes must be a positive integer, got " .. tostring(opts.probes), 2)
  end
  steps = math.min(steps, n)
  local rng = opts.rng or tensor.default_rng()
  local nodes, weights = {}, {}
  local op, how = operator(loss_fn, params, opts)
  for _ = 1, probes do
    local alpha, beta, _, m, full = lanczos(op, random_unit(n, rng), steps, n)
    spare[1] = full
    local theta, S = tridiag(alpha, beta, m)
    for j = 1, m do
      nodes[#nodes + 1] = theta:get(j)
      weights[#weights + 1] = S:get(1, j) ^ 2 / probes
    end
  end
  how.done()
  local result = {nodes = nodes, weights = weights}
  -- the smoothed density at the points x (a list or tensor), Gaussian width sigma
  function result.density(x, sigma)
    local xs = tensor.is_tensor(x) and x:totable() or x
    sigma = sigma or 0.01 * (math.max(table.unpack(nodes)) - math.min(table.unpack(nodes)) + 1e-12)
    local out = {}
    for i, xv in ipairs(xs) do
      local s = 0
      for j, t in ipairs(nodes) do
        s = s + weights[j] * math.exp(-(xv - t) ^ 2 / (2 * sigma * sigma))
      end
      out[i] = s / (sigma * math.sqrt(2 * math.pi))
    end
    return out
  end
  return result
end

-- diag.edge_of_stability(lr, {momentum = β}) -> 2/η, or 2(1+β)/η with heavy-ball momentum
function M.edge_of_stability(lr, opts)
  if type(lr) ~= "number" or lr <= 0 then
    error("diag.edge_of_stability: lr must be a positive number, got " .. tostring(lr), 2)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error("diag.edge_of_stability: options must be a table ({momentum = beta}), got " .. type(opts), 2)
  end
  local beta = opts and opts.momentum or 0
  if type(beta) ~= "number" or beta < 0 or beta >= 1 then
    error("diag.edge_of_stability: momentum must be in [0, 1), got " .. tostring(beta), 2)
  end
  return 2 * (1 + beta) / lr
end

return M
