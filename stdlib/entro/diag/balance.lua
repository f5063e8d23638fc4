-- diag/balance.lua -- gradient energy per layer and per neuron, and the quantities
-- gradient flow conserves (PAPER.md §2, §5).
--
-- Layers are a net's weight layers in order (net:layers()). A hidden neuron j sits between
-- layer l (its incoming row W_l[j, :] and bias b_l[j]: biases belong to their layer's
-- group) and layer l+1 (its outgoing column W_{l+1}[:, j]).
local tensor = require "entro.tensor"
local util = require "entro.util"

local M = {}

local function sumsq(t)
  if t == nil then return 0 end
  local v = t:reshape(-1)
  return v:dot(v)
end

-- Squared norms of each row (dim 2) or column (dim 1) of a matrix, as a vector.
local function rowsq(t, dim) return t:square():sum(dim) end

local function check_layers(net, who)
  util.check_module(who, net)
  local layers = net:layers()
  for i, l in ipairs(layers) do
    if rawget(l, "weight") == nil or l.weight:dim() ~= 2 then
      error(string.format("%s: layer %d (%s) has no weight matrix", who, i, l:path()), 3)
    end
  end
  return layers
end

-- The matrix-balance residual of PAPER.md §5 between E[G_l G_lᵀ] (a) and
-- E[G_{l+1}ᵀ G_{l+1}] (b): 0 at balance.
function M.matrix_residual(a, b) return (a - b):norm() / (a:norm() + b:norm()) end

local function layer_name(l)
  return (l:path():gsub("^net%.", ""))
end

-- A net's named parameters and its weight layers, cached until the module tree changes
-- (net:parameters() hands out a new list then): naming the tree costs more than the norms
-- of a small net, and the monitor asks every few steps.
local structures = setmetatable({}, {__mode = "k"})

local function structure(net)
  local params = net:parameters()
  local s = structures[net]
  if s and s.params == params then return s end
  s = {params = params, named = {}, layers = {}}
  for name, p in net:named_parameters() do s.named[#s.named + 1] = {name, p} end
  for _, l in ipairs(net:layers()) do
    s.layers[#s.layers + 1] = {name = layer_name(l), weight = rawget(l, "weight"), bias = rawget(l, "bias")}
  end
  structures[net] = s
  return s
end

-- diag.grad_norms(net) / diag.weight_norms(net): squared Frobenius norms per parameter
-- (keyed by the parameter's dotted name) and per layer (weight and bias together, keyed by
-- the layer's name), plus their total. A missing gradient counts as 0.
local function norms(net, of_grad)
  local s = structure(net)
  local per_param, per_layer, total, of = {}, {}, 0, {}
  local function value(t)   -- each tensor's norm once, even when a layer asks again
    if t == nil then return 0 end
    if of[t] == nil then of[t] = sumsq(of_grad and t.grad or (not of_grad and t) or nil) end
    return of[t]
  end
  for _, e in ipairs(s.named) do
    local v = value(e[2])
    per_param[e[1]] = v
    total = total + v
  end
  for _, l in ipairs(s.layers) do per_layer[l.name] = value(l.weight) + value(l.bias) end
  return {params = per_param, layers = per_layer, total = total}
end

function M.grad_norms(net)
  return tensor.no_grad(norms, util.check_module("diag.grad_norms", net), true)
end
function M.weight_norms(net)
  return tensor.no_grad(norms, util.check_module("diag.weight_norms", net), false)
end

-- Incoming and outgoing squared norms of every hidden neuron between layers l and l+1,
-- for weights (t = "weight") or gradients (t = "grad"); nil when a grad is missing.
local function neuron_energies(a, b, field)
  local wa, ba, wb = a.weight, rawget(a, "bias"), b.weight
  if field == "grad" then
    wa, ba, wb = wa.grad, ba and ba.grad, wb.grad
    if wa == nil or wb == nil then return nil end
  end
  local e_in = rowsq(wa, 2)
  if ba then e_in = e_in + ba:square() end
  return e_in, rowsq(wb, 1)
end

local function check_pair(a, b, who)
  if a.weight:size(1) ~= b.weight:size(2) then
    error(string.format("%s: %s has %d outputs but %s has %d inputs", who, a:path(),
                        a.weight:size(1), b:path(), b.weight:size(2)), 3)
  end
end

-- [W_l b_l] as one matrix: the incoming weights of layer l's neurons.
local function incoming(l, field)
  local w, b = l.weight, rawget(l, "bias")
  if field == "grad" then w, b = w.grad, b and b.grad end
  if b == nil then return w end
  return tensor.cat({w, b:unsqueeze(2)}, 2)
end

-- diag.charges(net, {scale_groups = {{p1, p2}, ...}}): what gradient flow conserves.
--   neurons[l]  vector: ||w_in||^2 - ||w_out||^2 for each hidden neuron of pair (l, l+1)
--   matrices[l] C_l = W_l W_l^T - W_{l+1}^T W_{l+1} (W_l with its bias as a last column)
--   norms[l]    ||C_l||_F
--   scale[g]    ||theta||^2 of each scale-invariant group given
function M.charges(net, opts)
  opts = util.options("diag.charges", opts)
  return tensor.no_grad(function()
    local layers = check_layers(net, "diag.charges")
    local out = {neurons = {}, matrices = {}, norms = {}, scale = {}}
    for l = 1, #layers - 1 do
      local a, b = layers[l], layers[l + 1]
      check_pair(a, b, "diag.charges")
      local e_in, e_out = neuron_energies(a, b, "weight")
      out.neurons[l] = e_in - e_out
      local wa = incoming(a, "weight")
      local c = wa:matmul(wa:t()) - b.weight:t():matmul(b.weight)
      out.matrices[l] = c
      out.norms[l] = c:norm()
    end
    for g, group in ipairs(opts.scale_groups or {}) do
      local s = 0
      for _, p in ipairs(group) do s = s + sumsq(p) end
      out.scale[g] = s
    end
    return out
  end)
end

------------------------------------------------------------------------------------------
-- Balance: running averages of gradient energies

local Tracker = {}
Tracker.__index = Tracker

local trackers = setmetatable({}, {__mode = "k"})

local function ema(old, new, beta)
  if old == nil then return new end
  if type(new) == "number" then return beta * old + (1 - beta) * new end
  return old:mul_(beta):add_(new * (1 - beta))
end

-- One update from the gradients now in .grad.
function Tracker:update()
  local beta, layers = self.beta, self.layers
  tensor.no_grad(function()
    for l, layer in ipairs(layers) do
      local w, b = layer.weight.grad, rawget(layer, "bias")
      if w == nil then error("diag.balance: " .. layer:path() .. " has no gradient yet (call backward first)", 0) end
      self.energy[l] = ema(self.energy[l], sumsq(w) + (b and sumsq(b.grad) or 0), beta)
    end
    for l = 1, #layers - 1 do
      local e_in, e_out = neuron_energies(layers[l], layers[l + 1], "grad")
      self.g_in[l] = ema(self.g_in[l], e_in, beta)
      self.g_out[l] = ema(self.g_out[l], e_out, beta)
      if self.matrix then
        local ga, gb = incoming(layers[l], "grad"), layers[l + 1].weight.grad
        self.gg_in[l] = ema(self.gg_in[l], ga:matmul(ga:t()), beta)
        self.gg_out[l] = ema(self.gg_out[l], gb:t():matmul(gb), beta)
      end
    end
  end)
  self.count = self.count + 1
  return self
end

-- The summary of the running averages.
function Tracker:result()
  local r = {energy = {}, ratios = {}, neurons = {}, dead = {}, matrix_residual = {},
             steps = self.count}
  local max_ratio, sum_abs, n_neurons = 0, 0, 0
  for l, e in ipairs(self.energy) do r.energy[l] = e end
  for l = 1, #self.energy - 1 do
    local rho = self.energy[l] / self.energy[l + 1]
    r.ratios[l] = rho
    local sym = rho >= 1 and rho or 1 / rho   -- distance from balance, either way
    if sym > max_ratio or sym ~= sym then max_ratio = sym end
    -- a neuron whose gradients have always been zero (a dead ReLU) is balanced (0 = 0):
    -- it gets 0 and stays out of the mean, which is over live neurons
    local total = self.g_in[l] + self.g_out[l]
    local live = total:gt(0)
    local nb = tensor.where(live, (self.g_in[l] - self.g_out[l]) / total, 0)
    r.neurons[l] = nb
    r.dead[l] = nb:numel() - math.tointeger(live:sum())
    sum_abs = sum_abs + nb:abs():sum()
    n_neurons = n_neurons + nb:numel() - r.dead[l]
    if self.matrix then
      local a, b = self.gg_in[l], self.gg_out[l]
      r.matrix_residual[l] = M.matrix_residual(a, b)
    end
  end
  r.max_ratio = max_ratio
  r.mean_abs_neuron = n_neurons > 0 and sum_abs / n_neurons or 0
  return r
end

-- diag.balance(net, {ema = 0.99, matrix = false, reset = false}): updates the running
-- averages from the current gradients and returns the summary:
--   ratios[l]   rho_l = EMA||grad W_l||^2 / EMA||grad W_{l+1}||^2 (weights and biases)
--   neurons[l]  (E||g_in||^2 - E||g_out||^2) / (E||g_in||^2 + E||g_out||^2) per hidden neuron
--   max_ratio   max over l of max(rho_l, 1/rho_l); 1 is perfect layer balance
--   mean_abs_neuron  the mean |neuron balance| over live neurons; 0 is perfect balance
--   dead[l]     how many neurons of pair l had no gradient at all (balance 0, not in the mean)
--   matrix_residual[l] (with matrix = true) the matrix-balance residual of PAPER.md §5
-- Each net keeps its own running averages; ema = 0 reports the current step alone.
function M.balance(net, opts)
  opts = util.options("diag.balance", opts)
  local beta = opts.ema or 0.99
  if type(beta) ~= "number" or beta < 0 or beta >= 1 then
    error("diag.balance: ema must be in [0, 1), got " .. tostring(opts.ema), 2)
  end
  local t = trackers[net]
  if t == nil or opts.reset or t.beta ~= beta or t.matrix ~= (opts.matrix or false) then
    local layers = check_layers(net, "diag.balance")
    if #layers < 2 then error("diag.balance: needs at least two weight layers", 2) end
    for l = 1, #layers - 1 do check_pair(layers[l], layers[l + 1], "diag.balance") end
    t = setmetatable({beta = beta, matrix = opts.matrix or false, layers = layers, count = 0,
                      energy = {}, g_in = {}, g_out = {}, gg_in = {}, gg_out = {}}, Tracker)
    trackers[net] = t
  end
  return t:update():result()
end

return M
