-- diag/monitor.lua -- records chosen diagnostics every k steps of a training loop, keeps
-- them in memory as columns, and appends them to a CSV log row by row (so a crash loses
-- nothing already recorded).
--
--   local mon = diag.monitor(net, {every = 50, file = "run.csv", "loss", "grad_norms", "balance"})
--   for step ... do ...; loss:backward(); mon:record(step, {loss = loss}); opt:step() end
--   fig:line(mon:column("step"), mon:column("balance.max_ratio"))
--
-- Diagnostics by name: "loss" (from the extras), "grad_norms" and "weight_norms" (per
-- layer and total), "balance" (max_ratio, mean_abs_neuron, ratio.l), "charges" (norm.l and
-- the mean |neuron charge| per layer pair), "sharpness" (needs loss_fn and params: the top
-- Hessian eigenvalue, maxiter = sharpness_iter). Extras are numbers or one-element tensors.
local tensor = require "entro.tensor"
local balance = require "entro.diag.balance"
local curvature = require "entro.diag.curvature"
local log = require "entro.log"

local M = {}

local Monitor = {}
Monitor.__index = Monitor

local known = {loss = true, grad_norms = true, weight_norms = true, balance = true,
               charges = true, sharpness = true}

local function number_of(v, key)
  if type(v) == "number" then return v end
  if tensor.is_tensor(v) and v:numel() == 1 then return v:reshape(-1):get(1) end
  error(string.format("monitor: '%s' is a %s, expected a number or a one-element tensor",
                      key, tensor.is_tensor(v) and "tensor of several elements" or type(v)), 3)
end

local collect = {}

function collect.grad_norms(self, row)
  local g = balance.grad_norms(self.net)
  for name, v in pairs(g.layers) do row["grad_norms." .. name] = v end
  row["grad_norms.total"] = g.total
end

function collect.weight_norms(self, row)
  local w = balance.weight_norms(self.net)
  for name, v in pairs(w.layers) do row["weight_norms." .. name] = v end
  row["weight_norms.total"] = w.total
end

function collect.balance(self, row)
  local b = balance.balance(self.net, {ema = self.opts.ema or 0.99})
  row["balance.max_ratio"] = b.max_ratio
  row["balance.mean_abs_neuron"] = b.mean_abs_neuron
  for l, r in ipairs(b.ratios) do row["balance.ratio." .. l] = r end
end

function collect.charges(self, row)
  local c = balance.charges(self.net)
  for l, v in ipairs(c.norms) do row["charges.norm." .. l] = v end
  for l, v in ipairs(c.neurons) do row["charges.neuron_mean_abs." .. l] = v:abs():mean() end
end

function collect.sharpness(self, row)
  local o = self.opts
  if type(o.loss_fn) ~= "function" then
    error("monitor: \"sharpness\" needs a loss_fn option (a function returning the loss)", 0)
  end
  local s = curvature.sharpness(o.loss_fn, o.params or self.net:parameters(),
                                {maxiter = o.sharpness_iter or 20, rng = o.rng})
  row.sharpness = s.max
end

function collect.loss() end   -- comes from the extras

-- mon:record(step, extras): records a row when step is 1, 1 + every, 1 + 2 every, ...
-- (force = true records regardless). Returns the row, or nil when skipped.
function Monitor:record(step, extras, force)
  if math.type(step) ~= "integer" then
    error("monitor:record: step must be an integer, got " .. tostring(step), 2)
  end
  if not force and (step - 1) % self.every ~= 0 then return nil end
  local row = {step = step}
  for _, name in ipairs(self.what) do
    if name ~= "loss" then collect[name](self, row) end
  end
  for k, v in pairs(extras or {}) do row[k] = number_of(v, k) end
  if self.want_loss and row.loss == nil then
    error("monitor:record: \"loss\" was asked for; pass it in the extras ({loss = loss})", 2)
  end
  -- the file first: a row the CSV refuses (a key the first row lacked) is not kept either
  if self.writer then self.writer:write(row) end
  self.list[#self.list + 1] = row
  for k, v in pairs(row) do
    local col = self.cols[k]
    if not col then
      col = {}
      for i = 1, #self.list - 1 do col[i] = 0 / 0 end   -- a column that appears late
      self.cols[k] = col
    end
    col[#self.list] = v
  end
  for k, col in pairs(self.cols) do
    if row[k] == nil then col[#self.list] = 0 / 0 end
  end
  return row
end

-- A column as a Lua array (NaN where a row lacked it).
function Monitor:column(name)
  local c = self.cols[name]
  if not c then
    local names = self:columns()
    error(string.format("monitor:column: no column '%s' (have: %s)", tostring(name),
                        table.concat(names, ", ")), 2)
  end
  local out = {}
  for i = 1, #self.list do out[i] = c[i] end
  return out
end

function Monitor:columns()
  local names = {}
  for k in pairs(self.cols) do names[#names + 1] = k end
  table.sort(names)
  return names
end

function Monitor:rows() return self.list end
function Monitor:last() return self.list[#self.list] end

function Monitor:close()
  if self.writer then self.writer:close(); self.writer = nil end
end
Monitor.__close = Monitor.close
Monitor.__gc = Monitor.close

-- diag.monitor(net, {every = 1, file = path, ema, loss_fn, params, sharpness_iter, rng,
-- "loss", "grad_norms", ...})
function M.monitor(net, opts)
  opts = opts or {}
  local every = opts.every or 1
  if math.type(every) ~= "integer" or every < 1 then
    error("diag.monitor: every must be a positive integer, got " .. tostring(opts.every), 2)
  end
  local what, want_loss = {}, false
  for _, name in ipairs(opts) do
    if not known[name] then
      local k = {}
      for n in pairs(known) do k[#k + 1] = n end
      table.sort(k)
      error(string.format("diag.monitor: unknown diagnostic '%s' (known: %s)", tostring(name),
                          table.concat(k, ", ")), 2)
    end
    what[#what + 1] = name
    if name == "loss" then want_loss = true end
  end
  local self = setmetatable({net = net, opts = opts, every = every, what = what,
                             want_loss = want_loss, list = {}, cols = {}}, Monitor)
  if opts.file then self.writer = log.csv(opts.file) end
  return self
end

return M
