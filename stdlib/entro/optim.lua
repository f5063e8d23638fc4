-- optim: optimizers for tensors with autograd -- SGD (heavy-ball and Nesterov momentum),
-- Adam, AdamW and Langevin dynamics -- with gradient-noise injection, parameter groups,
-- elementwise learning rates, state dictionaries and learning-rate schedules.
--
--   local opt = optim.sgd(params, {lr = 0.05, momentum = 0.9})
--   local sched = optim.schedule.cosine(opt, {T = 1000})
--   for step = 1, 1000 do
--     opt:zero_grad(); loss_fn():backward(); opt:step(); sched:step()
--   end
--
-- This file keeps the books (groups, options, state, schedules); the update arithmetic runs
-- in C (core/optim.c), one call per parameter per step, with no allocation after the first
-- step. Conventions worth knowing:
--   * weight_decay = gamma means the paper's penalty gamma*|theta|^2, gradient 2*gamma*theta.
--     decay_convention = "torch" gives PyTorch's gradient gamma*theta instead. AdamW's decay
--     is always PyTorch's decoupled theta <- theta - lr*gamma*theta.
--   * Every parameter must require grad (a parameter that does not is an error, not a
--     silent no-op); parameters whose .grad is nil at a step are skipped, as in PyTorch.
--   * A group's lr may be a tensor holding one learning rate per element of the group's
--     parameters (in order, flattened): a diagonal matrix learning rate.
--   * noise = {std = s} adds N(0, s^2 I) to the gradient; {cov = C} adds N(0, C) over the
--     flattened vector of all parameters (in group order); {factor = F} adds F z, z ~ N(0, I).
local tensor = require "entro.tensor"
local K = require "entro.optim_kernels"

local M = {}

local function fail(fmt, ...) error(string.format(fmt, ...), 0) end

local function is_tensor(x) return tensor.is_tensor(x) end

local function maxabs(t)
  local m = t:abs():max()
  return is_tensor(m) and m:item() or m
end

local function shape_str(t) return t:dim() == 0 and "scalar" or table.concat(t:shape(), "x") end

---------------------------------------------------------------------------------------------
-- options

-- Each optimizer's group options, and the defaults of those that have one (lr of sgd and
-- langevin and temperature are required; langevin's rng defaults to tensor.default_rng()).
local OPTIONS = {
  sgd = {"lr", "momentum", "dampening", "nesterov", "weight_decay", "decay_convention"},
  adam = {"lr", "betas", "eps", "weight_decay", "amsgrad", "decay_convention"},
  adamw = {"lr", "betas", "eps", "weight_decay", "amsgrad"},
  langevin = {"lr", "temperature", "rng", "weight_decay", "decay_convention"},
}
local DEFAULTS = {
  sgd = {momentum = 0, dampening = 0, nesterov = false, weight_decay = 0, decay_convention = "paper"},
  adam = {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 0, amsgrad = false,
          decay_convention = "paper"},
  adamw = {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 1e-2, amsgrad = false},
  langevin = {weight_decay = 0, decay_convention = "paper"},
}
local IS_OPTION = {}
for kind, names in pairs(OPTIONS) do
  IS_OPTION[kind] = {}
  for _, k in ipairs(names) do IS_OPTION[kind][k] = true end
end
-- State entries a parameter may carry, for load_state_dict.
local STATE_FIELDS = {momentum_buffer = true, exp_avg = true, exp_avg_sq = true,
                      max_exp_avg_sq = true, step = true}

local function nonneg(op, where, k, v)
  if type(v) ~= "number" or not (v >= 0) or v == math.huge then
    fail("%s: %s%s must be a non-negative number, got %s", op, where, k, tostring(v))
  end
end

local function unit(op, where, k, v, closed)
  if type(v) ~= "number" or not (v >= 0 and (v < 1 or closed and v == 1)) then
    fail("%s: %s%s must be a number in [0, 1%s, got %s", op, where, k, closed and "]" or ")", tostring(v))
  end
end

local function flag(op, where, k, v)
  if type(v) ~= "boolean" then fail("%s: %s%s must be a boolean, got %s", op, where, k, tostring(v)) end
end

local function group_numel(group)
  local n = 0
  for _, p in ipairs(group.params) do n = n + p:numel() end
  return n
end

-- Checks a group's options; `where` is "" or "group 2: ". Runs at every step (it is cheap),
-- so options changed by hand or by a schedule are checked too.
local function check_group(opt, group, where)
  local op, kind = opt.op, opt.kind
  local lr = group.lr
  if is_tensor(lr) then
    local n = group_numel(group)
    if lr:numel() ~= n or not lr:is_contiguous() then
      fail("%s: %slr as a tensor must be contiguous with one element per parameter element " ..
           "(%d), got shape %s", op, where, n, shape_str(lr))
    end
    -- (its elements are checked by the kernel, which refuses negative ones before writing)
  else
    nonneg(op, where, "lr", lr)
  end
  nonneg(op, where, "weight_decay", group.weight_decay)
  if kind ~= "adamw" and group.decay_convention ~= "paper" and group.decay_convention ~= "torch" then
    fail("%s: %sdecay_convention must be \"paper\" (gradient 2*gamma*theta) or \"torch\" " ..
         "(gamma*theta), got %s", op, where, tostring(group.decay_convention))
  end
  if kind == "sgd" then
    unit(op, where, "momentum", group.momentum)
    unit(op, where, "dampening", group.dampening, true)
    flag(op, where, "nesterov", group.nesterov)
    if group.nesterov and (group.momentum == 0 or group.dampening ~= 0) then
      fail("%s: %snesterov needs momentum > 0 and dampening = 0, got momentum %s, dampening %s",
           op, where, tostring(group.momentum), tostring(group.dampening))
    end
  elseif kind == "adam" or kind == "adamw" then
    local b = group.betas
    if type(b) ~= "table" then fail("%s: %sbetas must be a table {beta1, beta2}, got %s", op, where, tostring(b)) end
    unit(op, where, "betas[1]", b[1])
    unit(op, where, "betas[2]", b[2])
    nonneg(op, where, "eps", group.eps)
    flag(op, where, "amsgrad", group.amsgrad)
  else
    nonneg(op, where, "temperature", group.temperature)
    if not tensor.is_rng(group.rng) then
      fail("%s: %srng must be an entro.Generator (tensor.rng(seed)), got %s", op, where, tostring(group.rng))
    end
  end
end

-- A parameter's name for messages: params[2] ('fc.weight').
local function pname(i, p, gi, ngroups)
  local s = string.format("params[%d]", i)
  if ngroups > 1 then s = string.format("group %d %s", gi, s) end
  if type(p.name) == "string" then s = s .. string.format(" ('%s')", p.name) end
  return s
end

local function check_params(op, params, gi, ngroups)
  if is_tensor(params) then params = {params} end
  if type(params) ~= "table" then
    fail("%s: params must be a list of tensors, got %s", op, type(params))
  end
  if #params == 0 then
    local k = next(params)
    if k ~= nil then
      fail("%s: params must be a list (an array) of tensors, got a table with key '%s'", op, tostring(k))
    end
    fail("%s: params is empty%s", op, ngroups > 1 and string.format(" in group %d", gi) or "")
  end
  local list = {}
  for i, p in ipairs(params) do
    if not is_tensor(p) then
      fail("%s: %s is not a tensor (got %s)", op, pname(i, {}, gi, ngroups), type(p))
    end
    if not p.is_leaf then
      fail("%s: %s was computed by %s, so it is not a leaf; optimize the tensors it came from",
           op, pname(i, p, gi, ngroups), tostring(p.grad_fn))
    end
    if not p.needs_grad then
      fail("%s: %s does not require grad; call p:requires_grad() first (or leave it out)",
           op, pname(i, p, gi, ngroups))
    end
    if not p:is_contiguous() then
      fail("%s: %s is not contiguous (shape %s); optimize a contiguous tensor", op,
           pname(i, p, gi, ngroups), shape_str(p))
    end
    list[i] = p
  end
  return list
end

---------------------------------------------------------------------------------------------
-- the optimizer

local Optimizer = {}
Optimizer.__index = Optimizer
Optimizer.__name = "entro.Optimizer"

function Optimizer:__tostring()
  local n = 0
  for _, g in ipairs(self.param_groups) do n = n + #g.params end
  return string.format("%s (%d group%s, %d parameter%s)", self.op, #self.param_groups,
                       #self.param_groups == 1 and "" or "s", n, n == 1 and "" or "s")
end

local function copy_value(v)
  if type(v) == "table" and not is_tensor(v) then
    local c = {}
    for k, x in pairs(v) do c[k] = x end
    return c
  end
  return v
end

-- Builds a group from the user's table and the optimizer's options.
local function make_group(opt, spec, gi, ngroups)
  local where = ngroups > 1 and string.format("group %d: ", gi) or ""
  for k in pairs(spec) do
    if k == "noise" then
      fail("%s: %snoise is an option of the whole optimizer, not of a group", opt.op, where)
    elseif k ~= "params" and not IS_OPTION[opt.kind][k] then
      fail("%s: %sunknown option '%s'", opt.op, where, tostring(k))
    end
  end
  local g = {params = check_params(opt.op, spec.params, gi, ngroups)}
  for _, k in ipairs(OPTIONS[opt.kind]) do
    local v = spec[k]
    if v == nil then v = opt.defaults[k] end
    g[k] = copy_value(v)
  end
  if opt.kind == "langevin" and g.rng == nil then g.rng = tensor.default_rng() end
  for _, k in ipairs{"lr", "temperature"} do
    if IS_OPTION[opt.kind][k] and g[k] == nil then fail("%s: %s%s is required", opt.op, where, k) end
  end
  check_group(opt, g, where)
  return g
end

local function total_numel(opt)
  local n = 0
  for _, g in ipairs(opt.param_groups) do n = n + group_numel(g) end
  return n
end

-- A factor F with F F^T = C for a positive semidefinite C that Cholesky refused (a singular
-- one): V sqrt(w) from C = V diag(w) V^T, eigenvalues within roundoff of 0 set to exactly 0,
-- so the noise never leaves the range of C.
local function psd_factor(op, C)
  local w, V = tensor.linalg.eigh(C)
  local ws = w:totable()
  local n = #ws
  local tol = n * 2.3e-16 * math.max(math.abs(ws[1]), math.abs(ws[n]))
  if ws[1] < -tol then
    fail("%s: noise.cov must be positive semidefinite, it has eigenvalue %g", op, ws[1])
  end
  for i, x in ipairs(ws) do ws[i] = x > tol and math.sqrt(x) or 0 end
  return V * tensor.tensor(ws):view(1, n)
end

-- Reads noise = {std = s | cov = C | factor = F, rng = g} and allocates its buffers.
local function setup_noise(opt, spec)
  local op = opt.op
  if type(spec) ~= "table" then fail("%s: noise must be a table {std = s, rng = g} or {cov = C, rng = g}, got %s", op, type(spec)) end
  for k in pairs(spec) do
    if k ~= "std" and k ~= "cov" and k ~= "factor" and k ~= "rng" then
      fail("%s: noise: unknown option '%s' (expected std, cov, factor, rng)", op, tostring(k))
    end
  end
  local given = (spec.std ~= nil and 1 or 0) + (spec.cov ~= nil and 1 or 0) + (spec.factor ~= nil and 1 or 0)
  if given ~= 1 then fail("%s: noise needs exactly one of std, cov and factor", op) end
  local rng = spec.rng or tensor.default_rng()
  if not tensor.is_rng(rng) then fail("%s: noise.rng must be an entro.Generator, got %s", op, tostring(rng)) end
  local D = total_numel(opt)
  local nz = {rng = rng}   -- F (the factor), z (its draw) and buf (the noise), as needed
  if spec.std ~= nil then
    nonneg(op, "", "noise.std", spec.std)
  else
    local F
    if spec.cov ~= nil then
      local C = spec.cov
      if not is_tensor(C) or C:dim() ~= 2 or C:size(1) ~= D or C:size(2) ~= D then
        fail("%s: noise.cov must be a %dx%d tensor (the parameters have %d elements), got %s",
             op, D, D, D, is_tensor(C) and shape_str(C) or type(C))
      end
      local scale = D > 0 and maxabs(C) or 0
      if D > 0 and not (maxabs(C - C:t()) <= 1e-12 * scale) then
        fail("%s: noise.cov is not symmetric", op)
      end
      local okk, L = pcall(tensor.linalg.cholesky, C)
      F = okk and L or psd_factor(op, C)
    else
      F = spec.factor
      if not is_tensor(F) or F:dim() ~= 2 or F:size(1) ~= D then
        fail("%s: noise.factor must be a %dxk tensor (the parameters have %d elements), got %s",
             op, D, D, is_tensor(F) and shape_str(F) or type(F))
      end
    end
    nz.F = F:contiguous()
    nz.z = tensor.zeros(F:size(2), 1)
  end
  nz.buf = tensor.zeros(D, 1)
  opt.noise, opt._noise = spec, nz
end

local function new(kind, params, options)
  local op = "optim." .. kind
  if options ~= nil and type(options) ~= "table" then
    fail("%s: options must be a table, got %s", op, type(options))
  end
  options = options or {}
  local opt = setmetatable({kind = kind, op = op, param_groups = {}, state = {}, defaults = {}}, Optimizer)
  for k, v in pairs(DEFAULTS[kind]) do opt.defaults[k] = v end
  for k, v in pairs(options) do
    if k ~= "noise" then opt.defaults[k] = v end
  end
  local specs
  if type(params) == "table" and not is_tensor(params) and type(params[1]) == "table" and
     not is_tensor(params[1]) then
    specs = params                                        -- a list of groups
  else
    specs = {{params = params}}
  end
  for k in pairs(options) do
    if k ~= "noise" and not IS_OPTION[kind][k] then fail("%s: unknown option '%s'", op, tostring(k)) end
  end
  for gi, spec in ipairs(specs) do
    if type(spec) ~= "table" or is_tensor(spec) or spec.params == nil then
      fail("%s: parameter group %d must be a table {params = {...}, <options>}", op, gi)
    end
    opt:add_param_group(spec, #specs)
  end
  if options.noise ~= nil then setup_noise(opt, options.noise) end
  return opt
end

-- opt:add_param_group{params = {...}, lr = ...}: options not given come from the optimizer's.
function Optimizer:add_param_group(spec, ngroups)
  local gi = #self.param_groups + 1
  if self._noise and self._noise.F then
    fail("%s: add_param_group: the noise covariance was made for %d parameter elements",
         self.op, self._noise.buf:numel())
  end
  if type(spec) ~= "table" or is_tensor(spec) then
    fail("%s: add_param_group: expected a table {params = {...}, <options>}, got %s", self.op, type(spec))
  end
  local g = make_group(self, spec, gi, math.max(ngroups or gi, gi))
  local seen = {}
  for i, p in ipairs(g.params) do
    if self.state[p] or seen[p] then
      fail("%s: %s appears in more than one place", self.op, pname(i, p, gi, gi))
    end
    seen[p] = true
  end
  for _, p in ipairs(g.params) do self.state[p] = {} end
  self.param_groups[gi] = g
  self._where = {}   -- the "group i: " prefixes of messages, made at the next step
  if self._noise then self._noise.buf = tensor.zeros(total_numel(self), 1) end
  return self
end

-- opt:step([closure]): one update of every parameter that has a gradient. closure, when
-- given, is called first (it should compute the loss and call backward) and its result is
-- returned.
function Optimizer:step(closure)
  local result
  if closure ~= nil then result = closure() end
  local nz, noise = self._noise, nil
  if nz then
    if nz.F then
      K.correlated_noise(nz.buf, nz.F, nz.z, nz.rng)
      noise = nz.buf
    else
      local std = self.noise.std
      nonneg(self.op, "", "noise.std", std)
      if std > 0 then nz.rng:normal_(nz.buf, 0, std); noise = nz.buf end
    end
  end
  local kind, state, groups = self.kind, self.state, self.param_groups
  local off, where = 0, self._where
  for gi, g in ipairs(groups) do
    if not where[gi] then where[gi] = #groups > 1 and string.format("group %d: ", gi) or "" end
    check_group(self, g, where[gi])
    off = off + K.step_group(kind, g, state, noise, off)   -- the loop over parameters is in C
  end
  return result
end

-- opt:zero_grad([{set_to_none = false}]): zeros every gradient in place (no allocation), or
-- drops them.
function Optimizer:zero_grad(opts)
  local none = type(opts) == "table" and opts.set_to_none
  for _, g in ipairs(self.param_groups) do K.zero_group(g.params, none) end
  return self
end

local function snapshot(v)
  if is_tensor(v) then return v:detach():clone() end
  return copy_value(v)
end

-- opt:state_dict(): a plain table of numbers, strings, booleans and tensors (copies), which
-- tensor.save can write: {optimizer, param_groups = {{lr, ..., params = {1, 2}}, ...},
-- state = {[i] = {step, exp_avg, ...}}, noise_rng_state}. Parameters are numbered 1.. across
-- the groups in order; generators appear as their state strings.
function Optimizer:state_dict()
  local sd = {optimizer = self.kind, param_groups = {}, state = {}}
  local idx = 0
  for gi, g in ipairs(self.param_groups) do
    local sg = {params = {}}
    for k, v in pairs(g) do
      if k == "rng" then sg.rng_state = v:state()
      elseif k ~= "params" then sg[k] = snapshot(v) end
    end
    for i, p in ipairs(g.params) do
      idx = idx + 1
      sg.params[i] = idx
      local st = self.state[p]
      if st and next(st) ~= nil then
        local s = {}
        for k, v in pairs(st) do s[k] = snapshot(v) end
        sd.state[idx] = s
      end
    end
    sd.param_groups[gi] = sg
  end
  if self._noise then sd.noise_rng_state = self._noise.rng:state() end
  return sd
end

-- opt:load_state_dict(sd): restores options, momentum buffers, moments and step counts (and
-- the generators' states) from a state_dict of an optimizer of the same kind and layout.
-- Everything is checked before anything changes.
function Optimizer:load_state_dict(sd)
  local op = self.op .. ": load_state_dict"
  if type(sd) ~= "table" then fail("%s: expected a table from state_dict(), got %s", op, type(sd)) end
  if sd.optimizer ~= self.kind then
    fail("%s: the state is for optim.%s, this is %s", op, tostring(sd.optimizer), self.op)
  end
  if type(sd.param_groups) ~= "table" or #sd.param_groups ~= #self.param_groups then
    fail("%s: the state has %s parameter groups, this optimizer %d", op,
         type(sd.param_groups) == "table" and tostring(#sd.param_groups) or "no", #self.param_groups)
  end
  if sd.state ~= nil and type(sd.state) ~= "table" then fail("%s: state must be a table", op) end
  local params, groups, states = {}, {}, {}
  for gi, g in ipairs(self.param_groups) do
    local sg = sd.param_groups[gi]
    if type(sg) ~= "table" or type(sg.params) ~= "table" or #sg.params ~= #g.params then
      fail("%s: group %d has %d parameters here, %s in the state", op, gi, #g.params,
           type(sg) == "table" and type(sg.params) == "table" and tostring(#sg.params) or "none")
    end
    local ng = {params = g.params}
    for k, v in pairs(sg) do
      if k ~= "params" and k ~= "rng_state" then
        if not IS_OPTION[self.kind][k] and k ~= "initial_lr" then
          fail("%s: group %d: unknown option '%s'", op, gi, tostring(k))
        end
        ng[k] = snapshot(v)
      end
    end
    if g.rng then ng.rng = g.rng end
    check_group(self, ng, string.format("group %d: ", gi))
    if sg.rng_state ~= nil and type(sg.rng_state) ~= "string" then
      fail("%s: group %d: rng_state must be a string", op, gi)
    end
    groups[gi] = ng
    for _, p in ipairs(g.params) do params[#params + 1] = p end
  end
  for idx, s in pairs(sd.state or {}) do
    local p = params[idx]
    if not p then fail("%s: state for parameter %s, but there are %d parameters", op, tostring(idx), #params) end
    if type(s) ~= "table" then fail("%s: state[%d] must be a table", op, idx) end
    local ns = {}
    for k, v in pairs(s) do
      if not STATE_FIELDS[k] then fail("%s: state[%d]: unknown entry '%s'", op, idx, tostring(k)) end
      if k == "step" then
        if math.type(v) ~= "integer" and not (type(v) == "number" and math.tointeger(v)) or v < 0 then
          fail("%s: state[%d].step must be a non-negative integer, got %s", op, idx, tostring(v))
        end
        ns.step = math.tointeger(v)
      else
        if not is_tensor(v) then fail("%s: state[%d].%s must be a tensor, got %s", op, idx, k, type(v)) end
        if shape_str(v) ~= shape_str(p) then
          fail("%s: state[%d].%s has shape %s, the parameter shape %s", op, idx, k, shape_str(v), shape_str(p))
        end
        ns[k] = v:detach():clone()
      end
    end
    states[p] = ns
  end
  if sd.noise_rng_state ~= nil and type(sd.noise_rng_state) ~= "string" then
    fail("%s: noise_rng_state must be a string", op)
  end
  -- everything checked; generator states are parsed (and may still fail) before the commit
  for gi, g in ipairs(self.param_groups) do
    local s = sd.param_groups[gi].rng_state
    if s and g.rng then g.rng:clone():set_state(s) end
  end
  if sd.noise_rng_state and self._noise then self._noise.rng:clone():set_state(sd.noise_rng_state) end
  for gi, g in ipairs(self.param_groups) do
    local s = sd.param_groups[gi].rng_state
    if s and g.rng then g.rng:set_state(s) end
    self.param_groups[gi] = groups[gi]
  end
  if sd.noise_rng_state and self._noise then self._noise.rng:set_state(sd.noise_rng_state) end
  for _, p in ipairs(params) do self.state[p] = states[p] or {} end
  return self
end

-- optimizer constructors

function M.sgd(params, options) return new("sgd", params, options) end
function M.adam(params, options) return new("adam", params, options) end
function M.adamw(params, options)
  if type(options) == "table" and options.decay_convention ~= nil then
    fail("optim.adamw: decay_convention does not apply: AdamW's decay is decoupled, " ..
         "theta <- theta - lr*weight_decay*theta (use optim.adam for a decay in the gradient)")
  end
  return new("adamw", params, options)
end
function M.langevin(params, options) return new("langevin", params, options) end

M.Optimizer = Optimizer

---------------------------------------------------------------------------------------------
-- learning-rate schedules: lr(t) = a(t) * base + b(t), base being each group's lr when the
-- schedule was made; creating a schedule sets lr(0), sched:step() advances t by one.

local Schedule = {}
Schedule.__index = Schedule
Schedule.__name = "entro.Schedule"

function Schedule:__tostring()
  return string.format("optim.schedule.%s (t = %d)", self.kind, self.t)
end

-- A group's base lr: its initial_lr, set to its lr by the first schedule made on it (as in
-- PyTorch), so a second schedule does not start from the first one's current value.
local function group_base(g)
  if g.initial_lr == nil and is_tensor(g.lr) then
    g.initial_lr = g.lr:detach():clone()
    g.lr = g.lr:detach():clone()   -- schedules write into their own tensor, not the user's
  elseif g.initial_lr == nil then
    g.initial_lr = g.lr
  end
  return g.initial_lr
end

local function capture(opt)
  local base = {}
  for i, g in ipairs(opt.param_groups) do base[i] = group_base(g) end
  return base
end

-- Sets every group's lr for the current t.
function Schedule:apply()
  local a, b = self.coef(self.t)
  for i, g in ipairs(self.opt.param_groups) do
    local base = self.base[i]
    if base == nil then                          -- a group added after the schedule was made
      base = group_base(g)
      self.base[i] = base
    end
    if is_tensor(base) then
      if not (is_tensor(g.lr) and g.lr ~= base and shape_str(g.lr) == shape_str(base)) then
        g.lr = base:clone()
      end
      base:affine(a, b, g.lr)
    else
      g.lr = a * base + b
    end
  end
  return self
end

function Schedule:step()
  self.t = self.t + 1
  return self:apply()
end

-- sched:lr([group]): the current learning rate of a group (default 1).
function Schedule:lr(i) return self.opt.param_groups[i or 1].lr end

function Schedule:state_dict() return {schedule = self.kind, t = self.t} end

function Schedule:load_state_dict(s)
  if type(s) ~= "table" or math.type(s.t) ~= "integer" or s.t < 0 then
    fail("optim.schedule.%s: load_state_dict: expected {t = <non-negative integer>}", self.kind)
  end
  if s.schedule ~= nil and s.schedule ~= self.kind then
    fail("optim.schedule.%s: load_state_dict: the state is for optim.schedule.%s", self.kind, tostring(s.schedule))
  end
  self.t = s.t
  return self:apply()
end

local function schedule_args(name, opt, o)
  local op = "optim.schedule." .. name
  if getmetatable(opt) ~= Optimizer then
    fail("%s: expected an optimizer (optim.sgd(...), ...), got %s", op, tostring(opt))
  end
  if o ~= nil and type(o) ~= "table" then fail("%s: options must be a table, got %s", op, type(o)) end
  return op, o or {}
end

local function known(op, o, names)
  for k in pairs(o) do
    local found = false
    for _, n in ipairs(names) do if k == n then found = true end end
    if not found then fail("%s: unknown option '%s'", op, tostring(k)) end
  end
end

local function posint(op, k, v)
  if math.type(v) ~= "integer" and not (type(v) == "number" and math.tointeger(v)) or v < 1 then
    fail("%s: %s must be a positive integer, got %s", op, k, tostring(v))
  end
  return math.tointeger(v)
end

local function make_schedule(kind, opt, coef, base)
  local s = setmetatable({kind = kind, opt = opt, coef = coef, t = 0, base = base or capture(opt)}, Schedule)
  return s:apply()
end

local S = {}
M.schedule = S

-- constant(opt, {factor = 1}): lr = factor * base
function S.constant(opt, o)
  local op
  op, o = schedule_args("constant", opt, o)
  known(op, o, {"factor"})
  local f = o.factor == nil and 1 or o.factor
  nonneg(op, "", "factor", f)
  return make_schedule("constant", opt, function() return f, 0 end)
end

-- step(opt, {every = n, gamma = 0.1}) or step(opt, {milestones = {n1, n2, ...}, gamma}):
-- lr = base * gamma^k, k the number of multiples of every (or milestones) reached.
function S.step(opt, o)
  local op
  op, o = schedule_args("step", opt, o)
  known(op, o, {"every", "milestones", "gamma"})
  local gamma = o.gamma == nil and 0.1 or o.gamma
  nonneg(op, "", "gamma", gamma)
  if (o.every == nil) == (o.milestones == nil) then fail("%s: give every = n or milestones = {...}", op) end
  if o.every ~= nil then
    local every = posint(op, "every", o.every)
    return make_schedule("step", opt, function(t) return gamma ^ (t // every), 0 end)
  end
  if type(o.milestones) ~= "table" then fail("%s: milestones must be a list of steps", op) end
  local ms = {}
  for i, m in ipairs(o.milestones) do
    ms[i] = posint(op, string.format("milestones[%d]", i), m)
    if i > 1 and ms[i] <= ms[i - 1] then fail("%s: milestones must increase", op) end
  end
  return make_schedule("step", opt, function(t)
    local k = 0
    for _, m in ipairs(ms) do if t >= m then k = k + 1 end end
    return gamma ^ k, 0
  end)
end

-- exponential(opt, {gamma}): lr = base * gamma^t
function S.exponential(opt, o)
  local op
  op, o = schedule_args("exponential", opt, o)
  known(op, o, {"gamma"})
  nonneg(op, "", "gamma", o.gamma)
  local gamma = o.gamma
  return make_schedule("exponential", opt, function(t) return gamma ^ t, 0 end)
end

-- cosine(opt, {T, min_lr = 0}): lr = min_lr + (base - min_lr) (1 + cos(pi t / T)) / 2,
-- min_lr from t = T on.
function S.cosine(opt, o)
  local op
  op, o = schedule_args("cosine", opt, o)
  known(op, o, {"T", "min_lr"})
  local T = posint(op, "T", o.T)
  local min_lr = o.min_lr == nil and 0 or o.min_lr
  nonneg(op, "", "min_lr", min_lr)
  return make_schedule("cosine", opt, function(t)
    local c = (1 + math.cos(math.pi * math.min(t, T) / T)) / 2
    return c, min_lr * (1 - c)
  end)
end

-- warmup(opt, {steps, start = 1/steps, after = sched}): lr rises linearly from start * base
-- at t = 0 to base at t = steps; from then on it follows `after` (a schedule made on the same
-- optimizer, whose clock starts when the warmup ends), or stays at base.
function S.warmup(opt, o)
  local op
  op, o = schedule_args("warmup", opt, o)
  known(op, o, {"steps", "start", "after"})
  local W = posint(op, "steps", o.steps)
  local start = o.start == nil and 1 / W or o.start
  unit(op, "", "start", start, true)
  local after = o.after
  if after ~= nil and (getmetatable(after) ~= Schedule or after.opt ~= opt) then
    fail("%s: after must be a schedule of the same optimizer, got %s", op, tostring(after))
  end
  return make_schedule("warmup", opt, function(t)
    if t < W then return start + (1 - start) * t / W, 0 end
    if not after then return 1, 0 end
    after.t = t - W
    return after.coef(t - W)
  end, after and after.base)
end

---------------------------------------------------------------------------------------------

M._help = {
  sgd = "optim.sgd(params, {lr, momentum = 0, dampening = 0, nesterov = false, weight_decay = 0, " ..
        "decay_convention = 'paper'|'torch', noise}) -- SGD as torch.optim.SGD: d = g + wd-term; " ..
        "buf = momentum*buf + (1-dampening)*d; theta -= lr*(nesterov and d + momentum*buf or buf). " ..
        "weight_decay = gamma is the paper's gamma*|theta|^2 (gradient 2*gamma*theta); " ..
        "decay_convention = 'torch' gives gamma*theta",
  adam = "optim.adam(params, {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 0, " ..
         "amsgrad = false, decay_convention = 'paper'|'torch', noise}) -- Adam as torch.optim.Adam; " ..
         "weight decay enters the gradient (2*gamma*theta, or gamma*theta with 'torch')",
  adamw = "optim.adamw(params, {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 1e-2, " ..
          "amsgrad = false, noise}) -- AdamW as torch.optim.AdamW: decoupled decay, " ..
          "theta <- theta - lr*weight_decay*theta (PyTorch's form), then the Adam step",
  langevin = "optim.langevin(params, {lr, temperature, rng = default, weight_decay = 0, noise}) -- " ..
             "theta <- theta - lr*grad + sqrt(2*lr*T)*xi, xi ~ N(0, I): samples exp(-L/T) as lr -> 0 " ..
             "(on L = k theta^2/2 the chain's variance is T/(k(1 - lr*k/2))); a tensor lr gives " ..
             "preconditioned Langevin, sqrt(2*lr_i*T) per element",
  noise = "noise = {std = s, rng = g} | {cov = C, rng = g} | {factor = F, rng = g} -- an option " ..
          "of any optimizer: adds N(0, s^2 I), N(0, C) (C over all parameters flattened in group " ..
          "order, factored by Cholesky, or a symmetric square root when singular) or F z to the " ..
          "gradient before weight decay and momentum; opt.noise.std may be changed between steps",
  groups = "optim.sgd({{params = {W1, b1}, lr = 0.1}, {params = {W2}}}, {lr = 0.01, ...}) -- " ..
           "parameter groups: a group's options override the optimizer's; lr per group is a " ..
           "diagonal matrix learning rate. A group's lr may also be a tensor with one entry per " ..
           "element of its parameters (flattened, in order): an elementwise learning rate",
  params = "params: a tensor or a list of tensors, each a contiguous leaf with requires_grad " ..
           "(anything else is an error); parameters whose .grad is nil are skipped at a step",
  step = "opt:step([closure]) -- one update of every parameter with a gradient; one C call per " ..
         "parameter and no allocation after the first step; closure() is called first and its " ..
         "value returned",
  zero_grad = "opt:zero_grad([{set_to_none = false}]) -- fills every .grad with 0 in place (or sets it to nil)",
  state_dict = "opt:state_dict() -- {optimizer, param_groups = {{lr, ..., params = {1, 2}}}, " ..
               "state = {[i] = {step, momentum_buffer, exp_avg, exp_avg_sq, max_exp_avg_sq}}, " ..
               "noise_rng_state}: copies, as a plain table that tensor.save writes",
  load_state_dict = "opt:load_state_dict(sd) -- restores options, buffers, step counts and " ..
                    "generator states from state_dict() of a same-kind, same-shaped optimizer " ..
                    "(checked before anything changes)",
  add_param_group = "opt:add_param_group{params = {...}, lr = ...} -- a new group; options not " ..
                    "given come from the optimizer's",
  schedule = "optim.schedule.<kind>(opt, {...}) -- sets every group's lr = a(t)*base + b(t) " ..
             "(base: the lr when the schedule is made; tensor lrs too); made at t = 0, " ..
             "sched:step() advances t; sched:lr([group]), sched:state_dict(), sched:load_state_dict(s)",
  ["schedule.constant"] = "optim.schedule.constant(opt, {factor = 1}) -- lr = factor*base",
  ["schedule.step"] = "optim.schedule.step(opt, {every = n | milestones = {n1, ...}, gamma = 0.1}) " ..
                      "-- lr = base*gamma^k after k multiples of every (or k milestones)",
  ["schedule.exponential"] = "optim.schedule.exponential(opt, {gamma}) -- lr = base*gamma^t",
  ["schedule.cosine"] = "optim.schedule.cosine(opt, {T, min_lr = 0}) -- lr = min_lr + " ..
                        "(base - min_lr)(1 + cos(pi t/T))/2, then min_lr",
  ["schedule.warmup"] = "optim.schedule.warmup(opt, {steps, start = 1/steps, after = sched}) -- " ..
                        "lr rises linearly from start*base to base over steps, then follows after " ..
                        "(a schedule of the same optimizer, its clock starting then)",
}

return M
