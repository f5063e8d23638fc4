-- diag/noise.lua -- gradient noise: per-sample gradients, Tr Σ, the noise scale, the SGD
-- temperature, and the entropic loss F = L + γ||θ||² + (η/4)||∇L||² + (η/4B) Tr Σ with
-- its force ∇F - ∇L (PAPER.md §1).
--
-- loss_fn(pred, target) must be the mean over samples of per-sample losses (nn.mse,
-- nn.cross_entropy, ...). For nets whose parameters all live in Linear layers applied to
-- (samples x features) inputs, per-sample gradient norms come from one backward pass:
-- the gradient of sample i's loss for W is δ_i x_iᵀ, so its squared norm is
-- ||δ_i||² ||x_i||² (plus ||δ_i||² for the bias), with δ_i = N ∂L/∂y_i captured by adding a
-- zero tensor that requires grad to each layer's output. Other nets fall back to one
-- backward pass per sample.
local tensor = require "entro.tensor"
local util = require "entro.util"
local curvature = require "entro.diag.curvature"
local balance = require "entro.diag.balance"

local M = {}

local function check_data(X, Y, who)
  if not tensor.is_tensor(X) or X:dim() < 1 then error(who .. ": X must be a tensor of samples", 3) end
  local n = X:size(1)
  if Y ~= nil then
    local ny = tensor.is_tensor(Y) and Y:size(1) or (type(Y) == "table" and #Y or -1)
    if ny ~= n then
      error(string.format("%s: X has %d samples, Y has %d", who, n, ny), 3)
    end
  end
  return n
end

local function rows(t, idx)
  if t == nil then return nil end
  if tensor.is_tensor(t) then return t:index_select(1, idx) end
  local out = {}
  for i, j in ipairs(idx) do out[i] = t[j] end
  return out
end

-- Whether every parameter of net belongs to a Linear layer (the fast path applies).
local function linear_only(net)
  local owned = {}
  for _, l in ipairs(net:layers()) do
    if l.__name ~= "Linear" then return false end
    owned[l.weight] = true
    if rawget(l, "bias") then owned[l.bias] = true end
  end
  for _, p in ipairs(net:parameters()) do if not owned[p] then return false end end
  return true
end

-- Runs f with each Linear's forward wrapped to add a zero probe (requiring grad) to its
-- output and record its input; restores the forwards even on error.
local function with_probes(net, f)
  local layers, saved, probes, inputs = net:layers(), {}, {}, {}
  for l, layer in ipairs(layers) do
    saved[l] = rawget(layer, "forward")
    rawset(layer, "forward", function(self, x)
      local y = getmetatable(self).forward(self, x)
      if x:dim() ~= 2 then
        error("diag.per_sample_sqnorms: the fast method needs (samples x features) inputs to "
              .. "every Linear layer, got " .. x:dim() .. " dims (use method = \"loop\")", 0)
      end
      probes[l] = tensor.zeros(y:shape()):requires_grad()
      inputs[l] = x:detach()
      return y + probes[l]
    end)
  end
  local ok, a, b = pcall(f, probes, inputs, layers)
  for l, layer in ipairs(layers) do rawset(layer, "forward", saved[l]) end
  if not ok then error(a, 0) end
  return a, b
end

-- Squared norms of the N per-sample gradients (a vector), and the full-batch gradient
-- (a list shaped like params) with the loss value.
local function per_sample_fast(net, loss_fn, X, Y, params)
  return with_probes(net, function(probes, inputs, layers)
    local loss = loss_fn(net(X), Y)
    local wrt = {}
    for i, p in ipairs(params) do wrt[i] = p end
    for l = 1, #layers do wrt[#params + l] = probes[l] end
    local g = tensor.grad(loss, wrt)
    local n = X:size(1)
    return tensor.no_grad(function()
      local sq = tensor.zeros(n)
      for l, layer in ipairs(layers) do
        local delta = g[#params + l] * n            -- ∂ℓ_i/∂y_i
        local d2 = delta:square():sum(2)
        local x2 = inputs[l]:square():sum(2)
        if rawget(layer, "bias") then x2 = x2 + 1 end
        sq:add_(d2 * x2)
      end
      local full = {}
      for i = 1, #params do full[i] = g[i] end
      return sq, {grad = full, loss = loss:item()}
    end)
  end)
end

-- net must be an nn module and loss_fn a function of (output, target).
local function check_model(net, loss_fn, who)
  util.check_module(who, net)
  if type(loss_fn) ~= "function" then
    util.fail("%s: loss_fn must be a function (output, target) -> loss, got %s", who, type(loss_fn))
  end
end

-- diag.expected_balance(net, loss_fn, X, Y, {batch = 1, matrix = false}): the gradient
-- energies that minibatch SGD sees at the current weights, exactly, as expectations over
-- batches of size B drawn with replacement from (X, Y) — the same statistic for SGD and GD
-- runs, unlike running averages of training gradients (PAPER.md §6, claim 6):
--   energy[l]   E_B ||∇W_l L_B||² (weights and bias of layer l)
--   g_in[l], g_out[l]  per hidden neuron of the pair (l, l+1): E_B ||g_in||², E_B ||g_out||²
--   ratios, neurons, max_ratio, mean_abs_neuron  as diag.balance reports them
--   matrix_residual[l]  (matrix = true) the residual of E[G_l G_lᵀ] against E[G_{l+1}ᵀG_{l+1}]
-- With per-sample gradients G_i = δ_i h_iᵀ of a Linear layer (h_i its input, with a 1 for
-- the bias), E_B[G Gᵀ] = Ḡ Ḡᵀ + (E_i[G_i G_iᵀ] - Ḡ Ḡᵀ)/B, so one backward pass suffices.
-- Needs a net of Linear layers on (samples x features) inputs and loss_fn the mean over
-- samples of per-sample losses.
function M.expected_balance(net, loss_fn, X, Y, opts)
  opts = util.options("diag.expected_balance", opts)
  check_model(net, loss_fn, "diag.expected_balance")
  local n = check_data(X, Y, "diag.expected_balance")
  local B = opts.batch or 1
  if math.type(B) ~= "integer" or B < 1 then
    error("diag.expected_balance: batch must be a positive integer, got " .. tostring(opts.batch), 2)
  end
  if not linear_only(net) then
    error("diag.expected_balance: needs a net whose parameters all live in Linear layers", 2)
  end
  local deltas, pack = with_probes(net, function(probes, ins, ls)
    local g = tensor.grad(loss_fn(net(X), Y), probes)
    for l = 1, #ls do g[l] = g[l] * n end   -- δ_i = ∂ℓ_i/∂y_i, one row per sample
    return g, {ins, ls}
  end)
  local inputs, layers = pack[1], pack[2]
  return tensor.no_grad(function()
    local r = {energy = {}, g_in = {}, g_out = {}, ratios = {}, neurons = {},
               matrix_residual = {}, batch = B}
    local hsq, dsq, gbar, h = {}, {}, {}, {}
    for l, layer in ipairs(layers) do
      h[l] = inputs[l]
      if rawget(layer, "bias") then h[l] = tensor.cat({h[l], tensor.ones(n, 1)}, 2) end
      hsq[l] = h[l]:square():sum(2):view(n, 1)
      dsq[l] = deltas[l]:square():sum(2):view(n, 1)
      gbar[l] = deltas[l]:t():matmul(h[l]) * (1 / n)
      local m = gbar[l]:square():sum()
      r.energy[l] = m + ((dsq[l] * hsq[l]):mean() - m) / B
    end
    local max_ratio, sum_abs, count = 1, 0, 0
    for l = 1, #layers - 1 do
      local width = layers[l + 1].weight:size(2)
      local gin, gout = gbar[l], gbar[l + 1]:narrow(2, 1, width)
      local hid = inputs[l + 1]
      local m_in, m_out = gin:square():sum(2), gout:square():sum(1)
      r.g_in[l] = m_in + ((deltas[l]:square() * hsq[l]):mean(1) - m_in) * (1 / B)
      r.g_out[l] = m_out + ((hid:square() * dsq[l + 1]):mean(1) - m_out) * (1 / B)
      local nb = (r.g_in[l] - r.g_out[l]) / (r.g_in[l] + r.g_out[l])
      r.neurons[l] = tensor.where(nb:isnan(), 0, nb)   -- dead neurons count as balanced
      sum_abs, count = sum_abs + r.neurons[l]:abs():sum(), count + nb:numel()
      local rho = r.energy[l] / r.energy[l + 1]
      r.ratios[l] = rho
      max_ratio = math.max(max_ratio, rho >= 1 and rho or 1 / rho)
      if opts.matrix then
        local a, b = gin:matmul(gin:t()), gout:t():matmul(gout)
        local ea = a + ((deltas[l] * hsq[l]):t():matmul(deltas[l]) * (1 / n) - a) * (1 / B)
        local eb = b + ((hid * dsq[l + 1]):t():matmul(hid) * (1 / n) - b) * (1 / B)
        r.matrix_residual[l] = balance.matrix_residual(ea, eb)
      end
    end
    r.max_ratio = max_ratio
    r.mean_abs_neuron = count > 0 and sum_abs / count or 0
    return r
  end)
end

-- The slow path: one backward pass per sample (any net, any loss of that form).
local function per_sample_slow(net, loss_fn, X, Y, params)
  local n = X:size(1)
  local sq = tensor.zeros(n)
  for i = 1, n do
    local xi, yi = rows(X, {i}), rows(Y, {i})
    local g = tensor.grad(function() return loss_fn(net(xi), yi) end, params)
    local flat = tensor.no_grad(curvature.flatten, g)
    sq:set(i, flat:dot(flat))
  end
  local gfull, loss = tensor.grad(function() return loss_fn(net(X), Y) end, params)
  return sq, {grad = gfull, loss = loss:item()}
end

-- diag.per_sample_sqnorms(net, loss_fn, X, Y, {method = "auto"|"fast"|"loop"}) -> vector of
-- ||∇ℓ_i||², and {grad = full-batch gradient list, loss = L}
function M.per_sample_sqnorms(net, loss_fn, X, Y, opts)
  opts = util.options("diag.per_sample_sqnorms", opts)
  check_model(net, loss_fn, "diag.per_sample_sqnorms")
  check_data(X, Y, "diag.per_sample_sqnorms")
  local params = net:parameters()
  local method = opts.method or "auto"
  if method == "auto" then method = (linear_only(net) and X:dim() == 2) and "fast" or "loop" end
  if method == "fast" then
    if not linear_only(net) then
      error("diag.per_sample_sqnorms: the fast method needs a net of Linear layers only", 2)
    end
    return per_sample_fast(net, loss_fn, X, Y, params)
  elseif method == "loop" then
    return per_sample_slow(net, loss_fn, X, Y, params)
  end
  error("diag.per_sample_sqnorms: method must be auto, fast or loop, got " .. tostring(method), 2)
end

local function sqnorm_list(list)
  local s = 0
  for _, g in ipairs(list) do local v = g:reshape(-1); s = s + v:dot(v) end
  return s
end

-- The factor of Tr Σ in E_B||∇L_B||² - ||∇L||² for batches of B from N samples: 1/B with
-- replacement, (N-B)/(B(N-1)) without; no batch given means full-batch GD: no noise, 0.
local function batch_factor(opts, n, who)
  local B = opts.batch
  if B == nil then return 0 end
  if math.type(B) ~= "integer" or B < 1 or B > n then
    error(string.format("%s: batch must be an integer in 1..%d, got %s", who, n, tostring(B)), 3)
  end
  if opts.replacement ~= false then return 1 / B end
  return n > 1 and (n - B) / (B * (n - 1)) or 0
end

-- diag.noise(net, loss_fn, X, Y, {batch = B, lr = η, replacement = true}) ->
--   grad_sq      ||∇L||²
--   trace        Tr Σ = mean_i ||∇ℓ_i||² - ||∇L||²  (Σ: the per-sample gradient covariance)
--   noise_scale  Tr Σ / ||∇L||²
--   temperature  η Tr Σ / B (when lr and batch are given)
--   batch_excess E||∇L_B||² - ||∇L||² predicted for batch B: Tr Σ / B with replacement,
--                Tr Σ (N - B) / (B (N - 1)) without
function M.noise(net, loss_fn, X, Y, opts)
  opts = util.options("diag.noise", opts)
  check_model(net, loss_fn, "diag.noise")
  local n = check_data(X, Y, "diag.noise")
  local factor = opts.batch ~= nil and batch_factor(opts, n, "diag.noise")
  local sq, info = M.per_sample_sqnorms(net, loss_fn, X, Y, opts)
  local gsq = tensor.no_grad(sqnorm_list, info.grad)
  local trace = sq:mean() - gsq
  local r = {grad_sq = gsq, trace = trace, noise_scale = trace / gsq, loss = info.loss, n = n}
  if factor then
    r.batch_excess = trace * factor
    if opts.lr then r.temperature = opts.lr * trace / opts.batch end
  end
  return r
end

-- Tr Σ from two batch sizes b1 < b2 (PAPER.md §5), given measured mean ||g_b||² at each.
function M.trace_from_batches(b1, g1sq, b2, g2sq)
  local args = {b1, g1sq, b2, g2sq}
  for i = 1, 4 do
    if type(args[i]) ~= "number" then
      util.fail("diag.trace_from_batches: argument %d must be a number, got %s", i, type(args[i]))
    end
  end
  if not (b1 < b2) then error("diag.trace_from_batches: needs b1 < b2", 2) end
  return (g1sq - g2sq) / (1 / b1 - 1 / b2)
end

local function check_lr(opts, who)
  if type(opts.lr) ~= "number" or opts.lr <= 0 then
    error(who .. ": lr must be a positive number, got " .. tostring(opts.lr), 3)
  end
end

-- diag.entropic_loss(net, loss_fn, X, Y, {lr, batch, weight_decay = 0, replacement = true})
-- -> {loss = L, decay = γ||θ||², discretization = (η/4)||∇L||², noise = (η/4B) Tr Σ (or
-- (η/4) Tr Σ (N-B)/(B(N-1)) without replacement; 0 without a batch: full-batch GD),
-- F = their sum}
function M.entropic_loss(net, loss_fn, X, Y, opts)
  opts = util.options("diag.entropic_loss", opts)
  check_model(net, loss_fn, "diag.entropic_loss")
  check_lr(opts, "diag.entropic_loss")
  local n = check_data(X, Y, "diag.entropic_loss")
  local factor = batch_factor(opts, n, "diag.entropic_loss")
  local nz = M.noise(net, loss_fn, X, Y, {method = opts.method})
  local gamma = opts.weight_decay or 0
  local decay = 0
  if gamma ~= 0 then
    tensor.no_grad(function()
      for _, p in ipairs(net:parameters()) do local v = p:reshape(-1); decay = decay + v:dot(v) end
    end)
    decay = gamma * decay
  end
  local disc = opts.lr / 4 * nz.grad_sq
  local noise = opts.lr / 4 * nz.trace * factor
  return {loss = nz.loss, decay = decay, discretization = disc, noise = noise,
          F = nz.loss + decay + disc + noise, trace = nz.trace, grad_sq = nz.grad_sq}
end

-- diag.entropic_force(net, loss_fn, X, Y, {lr, batch, replacement = true}) -> list of
-- tensors shaped like net:parameters(): ∇F - ∇L - ∇(γ||θ||²) = ∇S, the gradient of the
-- effective entropy, i.e. (η/2) H ∇L + (η/4B) ∇Tr Σ (no noise part without a batch), with
--   H ∇L a Hessian-vector product of the full-batch loss, and
--   ∇Tr Σ = (2/N) Σ_i H_i g_i - 2 H ḡ, each H_i g_i a Hessian-vector product of sample i's
--   loss along its own gradient (exact where every op has a second derivative, else central
--   differences; N + 1 of them: meant for the small models the paper's claims use).
function M.entropic_force(net, loss_fn, X, Y, opts)
  opts = util.options("diag.entropic_force", opts)
  check_model(net, loss_fn, "diag.entropic_force")
  check_lr(opts, "diag.entropic_force")
  local n = check_data(X, Y, "diag.entropic_force")
  local factor = batch_factor(opts, n, "diag.entropic_force")
  local params = net:parameters()
  local full = function() return loss_fn(net(X), Y) end
  local g = curvature.grad(full, params)
  local hg = curvature.hvp(full, params, g)
  -- (1/N) Σ_i H_i g_i
  local acc = tensor.zeros(g:numel())
  if factor ~= 0 then
    for i = 1, n do
      local xi, yi = rows(X, {i}), rows(Y, {i})
      local fi = function() return loss_fn(net(xi), yi) end
      local gi = curvature.grad(fi, params)
      acc:add_(curvature.hvp(fi, params, gi))
    end
    acc:mul_(1 / n)
  end
  -- ∇S = (η/2) H ḡ + (η/4) factor (2 acc - 2 H ḡ)
  local force = hg * (opts.lr / 2) + (acc - hg) * (opts.lr / 2 * factor)
  return curvature.unflatten(force, params), force
end

return M
