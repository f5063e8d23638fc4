-- nn.lua -- modules, layers, builders, losses and initialisers.
--
-- A module is a Lua table with a forward method; calling it runs forward. Assigning a
-- module or a parameter (a leaf tensor that requires grad) to a field registers it, in
-- order, so parameters come out in a stable order with dotted names ("layers.2.weight").
-- The numerics are fused C ops (tensor.linear, tensor.cross_entropy, ...); this file only
-- arranges them.
local tensor = require "entro.tensor"

local nn = {}
local H = {}   -- help texts, read by help()

local function rng_of(opts)
  local g = opts and opts.rng
  if g == nil then return tensor.default_rng() end
  if not tensor.is_rng(g) then
    error("nn: rng must be a generator from tensor.rng(seed), got " .. type(g), 0)
  end
  return g
end

------------------------------------------------------------------------------------------
-- Module

local Module = {}
Module.__index = Module
Module.__name = "Module"

local function is_module(v)
  return type(v) == "table" and getmetatable(v) ~= nil and rawget(v, "_order") ~= nil
end
nn.is_module = is_module

local function is_param(v)
  return tensor.is_tensor(v) and v.needs_grad and v.is_leaf
end

-- Assignments of modules and parameters are recorded in order; a key keeps its first place,
-- even if it was cleared before. Lua calls __newindex only for a key that is absent, so
-- replacing a registered child (net.layers[3] = nn.Linear(64, 10)) keeps its place without
-- passing here (its parent link is refreshed by the next walk over the tree), and a field
-- holding another kind of value (a number, a string) must be set to nil before it can
-- hold a module or parameter.
local function newindex(self, k, v)
  local order = rawget(self, "_order")
  if (is_module(v) or is_param(v)) then
    local known = false
    for _, o in ipairs(order) do if rawequal(o, k) then known = true; break end end
    if not known then order[#order + 1] = k end
    if is_module(v) then
      rawset(v, "_parent", self)
      rawset(v, "_key", k)
    end
  end
  rawset(self, k, v)
end

-- Calling a module runs forward. One exception keeps method syntax working when a child's
-- name shadows a method: net:layers() finds the child `layers` and calls it with net, so
-- a child called with its own parent runs the parent's method of that name instead.
local function call(self, x, ...)
  if type(x) == "table" then   -- tensors are userdata: the usual case skips this test
    local parent = rawget(self, "_parent")
    if parent ~= nil and rawequal(x, parent) then
      local method = getmetatable(parent)[rawget(self, "_key")]
      if type(method) == "function" then return method(parent, ...) end
    end
  end
  return self:forward(x, ...)
end

-- Module:extend(name) makes a subclass; Class(...) makes an instance via Class:init(...).
function Module:extend(name)
  local cls = setmetatable({}, {__index = self, __call = function(c, ...) return c:new(...) end})
  cls.__index = cls
  cls.__name = name or "Module"
  cls.__newindex = newindex
  cls.__call = call
  cls.__tostring = Module.__tostring
  return cls
end

function Module:new(...)
  local obj = setmetatable({_order = {}, training = true}, self)
  obj:init(...)
  return obj
end

function Module:init() end

function Module:forward()
  error(self.__name .. ": forward is not defined", 2)
end

-- The dotted path of this module from the root, for error messages ("net.layers.3").
function Module:path()
  local parts, m = {}, self
  while rawget(m, "_parent") do
    table.insert(parts, 1, tostring(rawget(m, "_key")))
    m = rawget(m, "_parent")
  end
  table.insert(parts, 1, "net")
  return table.concat(parts, ".")
end

-- A short description for tostring and errors; layers override it.
function Module:describe() return self.__name end
-- The description in error messages ("Linear 64->1"); the same unless a layer overrides it.
function Module:label() return self:describe() end

-- Iterates (name, value) over registered children and parameters in order, refreshing
-- the parent links of children that were replaced in place.
local function entries(self)
  local order, i = rawget(self, "_order"), 0
  return function()
    i = i + 1
    local k = order[i]
    if k == nil then return nil end
    local v = rawget(self, k)
    if is_module(v) and not rawequal(rawget(v, "_parent"), self) then
      rawset(v, "_parent", self)
      rawset(v, "_key", k)
    end
    return k, v
  end
end

-- A parameter shared by several modules (tied weights) is listed once, under its first name.
-- snaps, if given, receives each module visited and the values of its entries, in order.
-- Each tensor's .name is its path from the root: a walk from inside a tree (a layer's own
-- parameters()) names only tensors that have no name yet, so "layers.1.weight" stays.
local function collect(m, prefix, out, seen, snaps, rename)
  local snap = snaps and {}
  if snaps then snaps[#snaps + 1] = {m, snap} end
  for k, v in entries(m) do
    if snap then snap[#snap + 1] = v == nil and false or v end
    local name = prefix and (prefix .. "." .. tostring(k)) or tostring(k)
    if is_module(v) then collect(v, name, out, seen, snaps, rename)
    elseif tensor.is_tensor(v) and not seen[v] then
      seen[v] = true
      if rename or v.name == nil then v.name = name end
      out[#out + 1] = {name, v}
    end
  end
  return out
end

-- Whether every module visited still holds the same entries (none added, replaced, cleared).
local function unchanged(snaps)
  for _, s in ipairs(snaps) do
    local m, snap = s[1], s[2]
    local order = rawget(m, "_order")
    if #order ~= #snap then return false end
    for i = 1, #order do
      local v = rawget(m, order[i])
      if not rawequal(v == nil and false or v, snap[i]) then return false end
    end
  end
  return true
end

local function is_root(m) return rawget(m, "_parent") == nil end

function Module:named_parameters()
  local out = collect(self, nil, {}, {}, nil, is_root(self))
  local i = 0
  return function()
    i = i + 1
    if out[i] then return out[i][1], out[i][2] end
  end, out
end

-- The parameters in order: a list (do not modify it) cached until the module tree changes.
-- Checking the raw entries of each module against a snapshot is much cheaper than walking
-- and naming the tree, and sees replacements that bypass __newindex.
function Module:parameters()
  local cache = rawget(self, "_params")
  if cache and unchanged(cache.snaps) then return cache.list end
  local snaps, list = {}, {}
  for i, e in ipairs(collect(self, nil, {}, {}, snaps, is_root(self))) do list[i] = e[2] end
  rawset(self, "_params", {snaps = snaps, list = list})
  return list
end

function Module:children()
  local list = {}
  for _, v in entries(self) do if is_module(v) then list[#list + 1] = v end end
  return list
end

function Module:named_children()
  local list = {}
  for k, v in entries(self) do if is_module(v) then list[#list + 1] = {k, v} end end
  local i = 0
  return function()
    i = i + 1
    if list[i] then return list[i][1], list[i][2] end
  end
end

-- Every module in the tree, depth first, self first.
function Module:modules(out)
  out = out or {}
  out[#out + 1] = self
  for _, c in ipairs(self:children()) do c:modules(out) end
  return out
end

-- The weight layers in order (Linear, Embedding, ...), for diagnostics over layer pairs.
function Module:layers()
  local list = {}
  for _, m in ipairs(self:modules()) do
    if m ~= self and rawget(m, "weight") and m.is_layer then list[#list + 1] = m end
  end
  return list
end

function Module:zero_grad()
  for _, p in ipairs(self:parameters()) do p:zero_grad() end
  return self
end

function Module:train(mode)
  if mode == nil then mode = true end
  for _, m in ipairs(self:modules()) do rawset(m, "training", mode and true or false) end
  return self
end

function Module:eval() return self:train(false) end

function Module:num_parameters()
  local n = 0
  for _, p in ipairs(self:parameters()) do n = n + p:numel() end
  return n
end

-- name -> tensor (the parameters themselves, not copies); save it with tensor.save.
function Module:state_dict()
  local sd = {}
  for name, p in self:named_parameters() do sd[name] = p end
  return sd
end

-- Copies values in, checking names and shapes; strict (default) refuses missing or extra.
function Module:load_state_dict(sd, opts)
  local strict = not (opts and opts.strict == false)
  if type(sd) ~= "table" then error("load_state_dict: expected a table, got " .. type(sd), 2) end
  local seen, missing = {}, {}
  for name, p in self:named_parameters() do
    local v = sd[name]
    if v == nil then
      missing[#missing + 1] = name
    else
      if not tensor.is_tensor(v) then
        error(string.format("load_state_dict: '%s' is a %s, expected a tensor", name, type(v)), 2)
      end
      local a, b = table.concat(p:shape(), "x"), table.concat(v:shape(), "x")
      if a ~= b then
        error(string.format("load_state_dict: '%s' has shape %s in the model, %s in the state",
                            name, a, b), 2)
      end
      tensor.no_grad(function() p:copy(v) end)
      seen[name] = true
    end
  end
  if strict then
    local extra = {}
    for name in pairs(sd) do if not seen[name] then extra[#extra + 1] = name end end
    table.sort(extra)
    if #missing > 0 or #extra > 0 then
      error(string.format("load_state_dict: missing %s; unexpected %s",
                          #missing > 0 and table.concat(missing, ", ") or "none",
                          #extra > 0 and table.concat(extra, ", ") or "none"), 2)
    end
  end
  return self
end

-- All parameters as one vector (a copy), and back.
function Module:flat_parameters()
  local views = {}
  for i, p in ipairs(self:parameters()) do views[i] = p:detach():reshape(-1) end
  if #views == 0 then return tensor.zeros(0) end
  return tensor.cat(views, 1)
end

function Module:set_flat_parameters(v)
  local n = self:num_parameters()
  if not tensor.is_tensor(v) or v:dim() ~= 1 or v:numel() ~= n then
    local got = tensor.is_tensor(v) and ("a tensor of shape " .. table.concat(v:shape(), "x"))
                or ("a " .. type(v))
    error(string.format("set_flat_parameters: expected a vector of %d values, got %s", n, got), 2)
  end
  local at = 1
  tensor.no_grad(function()
    for _, p in ipairs(self:parameters()) do
      local k = p:numel()
      p:copy(v:narrow(1, at, k):view(p:shape()))
      at = at + k
    end
  end)
  return self
end

-- All gradients as one vector (zeros where a parameter has no gradient yet).
function Module:flat_grad()
  local parts = {}
  for i, p in ipairs(self:parameters()) do
    local g = p.grad
    parts[i] = g and g:reshape(-1) or tensor.zeros(p:numel())
  end
  if #parts == 0 then return tensor.zeros(0) end
  return tensor.cat(parts, 1)
end

function Module:__tostring()
  local lines = {}
  local function walk(m, indent, label)
    local kids = m:children()
    local head = indent .. (label and ("(" .. label .. "): ") or "") .. m:describe()
    if #kids == 0 then
      lines[#lines + 1] = head
    else
      lines[#lines + 1] = head .. " ("
      for k, c in m:named_children() do walk(c, indent .. "  ", k) end
      lines[#lines + 1] = indent .. ")"
    end
  end
  walk(self, "", nil)
  return table.concat(lines, "\n")
end

Module.__newindex = newindex
Module.__call = call
nn.Module = Module

-- Marks t as a parameter (requires grad) and returns it; assign it to a module field.
function nn.Parameter(t)
  if not tensor.is_tensor(t) then error("nn.Parameter: expected a tensor, got " .. type(t), 2) end
  return t:detach():contiguous():clone():requires_grad()
end

------------------------------------------------------------------------------------------
-- Initialisers (in place, with an explicit generator)

local init = {}
nn.init = init

local gains = {linear = 1, identity = 1, sigmoid = 1, tanh = 5 / 3, relu = math.sqrt(2),
               leaky_relu = math.sqrt(2 / (1 + 0.01 ^ 2)), gelu = math.sqrt(2)}

function init.gain(nonlinearity)
  local g = gains[nonlinearity or "linear"]
  if not g then error("nn.init.gain: unknown nonlinearity '" .. tostring(nonlinearity) .. "'", 2) end
  return g
end

local function fans(t)
  if not tensor.is_tensor(t) then error("nn.init: expected a tensor, got " .. type(t), 3) end
  if t:dim() < 1 then error("nn.init: needs a tensor with at least one dimension", 3) end
  if t:dim() == 1 then return t:size(1), t:size(1) end
  local receptive = 1
  for d = 3, t:dim() do receptive = receptive * t:size(d) end
  return t:size(2) * receptive, t:size(1) * receptive   -- fan_in, fan_out (weight is out x in)
end

local function fill(t, f)
  if not tensor.is_tensor(t) then error("nn.init: expected a tensor, got " .. type(t), 3) end
  tensor.no_grad(f)
  return t
end

function init.normal(t, std, opts)
  local mean = opts and opts.mean or 0
  return fill(t, function() rng_of(opts):normal_(t, mean, std or 1) end)
end

function init.uniform(t, lo, hi, opts)
  return fill(t, function() rng_of(opts):uniform_(t, lo or 0, hi or 1) end)
end

function init.zeros(t) return fill(t, function() t:fill(0) end) end
function init.constant(t, v) return fill(t, function() t:fill(v) end) end

-- opts: nonlinearity ("relu"), mode ("fan_in" | "fan_out"), rng
function init.kaiming_normal(t, opts)
  local fin, fout = fans(t)
  local fan = (opts and opts.mode == "fan_out") and fout or fin
  local std = init.gain(opts and opts.nonlinearity or "relu") / math.sqrt(fan)
  return init.normal(t, std, opts)
end

function init.kaiming_uniform(t, opts)
  local fin, fout = fans(t)
  local fan = (opts and opts.mode == "fan_out") and fout or fin
  local bound = init.gain(opts and opts.nonlinearity or "relu") * math.sqrt(3 / fan)
  return init.uniform(t, -bound, bound, opts)
end

function init.xavier_normal(t, opts)
  local fin, fout = fans(t)
  return init.normal(t, (opts and opts.gain or 1) * math.sqrt(2 / (fin + fout)), opts)
end

function init.xavier_uniform(t, opts)
  local fin, fout = fans(t)
  local bound = (opts and opts.gain or 1) * math.sqrt(6 / (fin + fout))
  return init.uniform(t, -bound, bound, opts)
end

-- A (semi-)orthogonal matrix from the QR decomposition of a Gaussian one, signs fixed so
-- the distribution is uniform (Haar).
function init.orthogonal(t, opts)
  if not tensor.is_tensor(t) or t:dim() < 2 then error("nn.init.orthogonal: needs a matrix", 2) end
  local rows = t:size(1)
  local cols = t:numel() // rows
  local flip = rows < cols
  local a = rng_of(opts):randn(flip and cols or rows, flip and rows or cols)
  local q, r = tensor.linalg.qr(a)
  local d = tensor.zeros(r:size(2))
  for i = 1, d:numel() do d:set(i, r:get(i, i) >= 0 and 1 or -1) end
  q = q * d
  if flip then q = q:t() end
  local gain = opts and opts.gain or 1
  return fill(t, function() t:copy((q * gain):reshape(t:shape())) end)
end

-- Multiplies a layer's weight (and bias) or a tensor by factor: the balance experiments
-- start from deliberately unbalanced layers.
function init.scale(x, factor)
  if type(factor) ~= "number" then
    error("nn.init.scale: factor must be a number, got " .. type(factor), 2)
  end
  local ts = is_module(x) and {rawget(x, "weight"), rawget(x, "bias")} or {x}
  if not tensor.is_tensor(ts[1]) then
    error("nn.init.scale: expected a layer with a weight or a tensor, got " ..
          (is_module(x) and x:describe() or type(x)), 2)
  end
  tensor.no_grad(function()
    for _, t in ipairs(ts) do if t then t:mul_(factor) end end
  end)
  return x
end

------------------------------------------------------------------------------------------
-- Layers

local function shape_str(x) return x:dim() == 0 and "scalar" or table.concat(x:shape(), "x") end

-- Raises an error that names the module's path and what it is:
-- "net.layers.3 (Linear 64->1): input has 32 features, expected 64".
local function fail(m, fmt, ...)
  error(string.format("%s (%s): " .. fmt, m:path(), m:label(), ...), 0)
end

local function check_input(m, x)
  if not tensor.is_tensor(x) then fail(m, "input is a %s, expected a tensor", type(x)) end
end

local function check_size(who, name, v, min)
  if math.type(v) ~= "integer" or v < min then
    error(string.format("%s: %s must be an integer >= %d, got %s", who, name, min, tostring(v)), 4)
  end
end

local function check_opts(who, opts)
  if opts ~= nil and type(opts) ~= "table" then
    error(string.format("%s: options must be a table, got %s", who, type(opts)), 4)
  end
  if opts and opts.rng ~= nil and not tensor.is_rng(opts.rng) then
    error(string.format("%s: rng must be a generator from tensor.rng(seed), got %s", who,
                        type(opts.rng)), 4)
  end
  return opts or {}
end

local Linear = Module:extend("Linear")
Linear.is_layer = true
nn.Linear = Linear

local linear_inits = {kaiming_uniform = true, kaiming_normal = true, xavier_uniform = true,
                      xavier_normal = true, orthogonal = true, zeros = true}

-- Linear(in, out, {bias = true, rng = g, init = "kaiming_uniform" | "kaiming_normal" |
-- "xavier_uniform" | "xavier_normal" | "orthogonal" | "zeros" | function(weight, opts)})
-- Default initialisation is PyTorch's: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias.
function Linear:init(nin, nout, opts)
  check_size("nn.Linear", "in", nin, 0)
  check_size("nn.Linear", "out", nout, 0)
  opts = check_opts("nn.Linear", opts)
  local kind = opts.init
  if kind ~= nil and type(kind) ~= "function" and not linear_inits[kind] then
    error("nn.Linear: unknown init '" .. tostring(kind) .. "'", 3)
  end
  self.in_features, self.out_features = nin, nout
  self.weight = tensor.zeros(nout, nin):requires_grad()
  local bound = nin > 0 and 1 / math.sqrt(nin) or 0
  if kind == nil then
    init.uniform(self.weight, -bound, bound, opts)
  elseif type(kind) == "function" then
    kind(self.weight, opts)
  else
    init[kind](self.weight, opts)
  end
  if opts.bias ~= false then
    self.bias = tensor.zeros(nout):requires_grad()
    if kind == nil then init.uniform(self.bias, -bound, bound, opts) end
  end
end

function Linear:describe()
  return string.format("Linear(%d -> %d%s)", self.in_features, self.out_features,
                       rawget(self, "bias") and "" or ", no bias")
end
function Linear:label()
  return string.format("Linear %d->%d", self.in_features, self.out_features)
end

local linear = tensor.linear

-- The fused op checks the input; when it does not fit, it calls input_error to say so in
-- terms of this module (its path and sizes), so a working forward does no checks in Lua.
function Linear:forward(x)
  return linear(x, self.weight, rawget(self, "bias"), self)
end

function Linear:input_error(x, message)
  check_input(self, x)
  local d = x:dim() > 0 and x:size(-1) or 0
  if x:dim() == 0 or d ~= self.in_features then
    fail(self, "input has %d features, expected %d (input shape %s, weight %dx%d)", d,
         self.in_features, shape_str(x), self.out_features, self.in_features)
  end
  fail(self, "%s", message)
end

-- Stateless activations: one class per function.
local function activation(name, fn)
  local cls = Module:extend(name)
  cls.forward = function(self, x)
    if type(x) ~= "userdata" then check_input(self, x) end   -- a cheap test first
    return fn(x)
  end
  nn[name] = cls
  return cls
end

activation("ReLU", function(x) return x:relu() end)
activation("Tanh", function(x) return x:tanh() end)
activation("Sigmoid", function(x) return x:sigmoid() end)
activation("GELU", function(x) return x:gelu() end)
activation("Softplus", function(x) return x:softplus() end)
activation("Identity", function(x) return x end)

local LeakyReLU = activation("LeakyReLU")
function LeakyReLU:init(slope)
  if slope ~= nil and type(slope) ~= "number" then
    error("nn.LeakyReLU: slope must be a number, got " .. type(slope), 3)
  end
  self.slope = slope or 0.01
end
function LeakyReLU:forward(x)
  check_input(self, x)
  return x:leaky_relu(self.slope)
end
function LeakyReLU:describe() return string.format("LeakyReLU(%g)", self.slope) end

local LayerNorm = Module:extend("LayerNorm")
nn.LayerNorm = LayerNorm
function LayerNorm:init(dim, opts)
  check_size("nn.LayerNorm", "dim", dim, 1)
  opts = check_opts("nn.LayerNorm", opts)
  self.dim, self.eps = dim, opts.eps or 1e-5
  if opts.affine ~= false then
    self.weight = tensor.ones(dim):requires_grad()
    self.bias = tensor.zeros(dim):requires_grad()
  end
end
function LayerNorm:describe() return string.format("LayerNorm(%d)", self.dim) end
function LayerNorm:forward(x)
  check_input(self, x)
  if x:dim() == 0 or x:size(-1) ~= self.dim then
    fail(self, "input has %d features, expected %d (input shape %s)",
         x:dim() > 0 and x:size(-1) or 0, self.dim, shape_str(x))
  end
  return tensor.layer_norm(x, rawget(self, "weight"), rawget(self, "bias"), self.eps)
end

-- Dropout(p, {rng}): zeroes each element with probability p in training, scaling the rest
-- by 1/(1-p); the identity in eval mode.
local Dropout = Module:extend("Dropout")
nn.Dropout = Dropout
function Dropout:init(p, opts)
  if type(p) ~= "number" or p < 0 or p >= 1 then
    error("nn.Dropout: p must be in [0, 1), got " .. tostring(p), 3)
  end
  opts = check_opts("nn.Dropout", opts)
  self.p, self.rng = p, rng_of(opts)
end
function Dropout:describe() return string.format("Dropout(%g)", self.p) end
function Dropout:forward(x)
  check_input(self, x)
  if not self.training or self.p == 0 then return x end
  local mask = self.rng:bernoulli(1 - self.p, x:shape())
  return x * mask:mul_(1 / (1 - self.p))
end

local Sequential = Module:extend("Sequential")
nn.Sequential = Sequential
-- Sequential(m1, m2, ...) or Sequential{m1, m2, ...}
function Sequential:init(...)
  local mods, n = {...}, select("#", ...)
  if n == 1 and type(mods[1]) == "table" and not is_module(mods[1]) then
    mods = mods[1]
    n = #mods
  end
  self.n = 0
  for i = 1, n do
    if not is_module(mods[i]) then
      error(string.format("nn.Sequential: item %d is a %s, expected a module", i, type(mods[i])), 3)
    end
    self:add(mods[i])
  end
end
function Sequential:add(m)
  if not is_module(m) then error("Sequential:add: expected a module, got " .. type(m), 2) end
  local n = rawget(self, "n") + 1
  rawset(self, "n", n)
  self[n] = m
  return self
end
function Sequential:forward(x)
  for i = 1, rawget(self, "n") do x = self[i](x) end
  return x
end

-- Residual(m): x + m(x)
local Residual = Module:extend("Residual")
nn.Residual = Residual
function Residual:init(m)
  if not is_module(m) then error("nn.Residual: expected a module, got " .. type(m), 3) end
  self.body = m
end
function Residual:forward(x)
  check_input(self, x)
  local y = self.body(x)
  -- x + y would broadcast a 5x1 input against a 5x3 body output; a residual must not.
  if not tensor.is_tensor(y) or shape_str(y) ~= shape_str(x) then
    fail(self, "body maps shape %s to %s, expected the same shape", shape_str(x),
         tensor.is_tensor(y) and shape_str(y) or type(y))
  end
  return x + y
end

-- Embedding(n, dim, {rng}): rows of an n x dim table looked up by 1-based ids (a tensor
-- of any shape, or a Lua array); the result has shape ids.shape x dim.
local Embedding = Module:extend("Embedding")
Embedding.is_layer = true
nn.Embedding = Embedding
function Embedding:init(n, dim, opts)
  check_size("nn.Embedding", "n", n, 1)
  check_size("nn.Embedding", "dim", dim, 1)
  opts = check_opts("nn.Embedding", opts)
  self.num, self.dim = n, dim
  self.weight = init.normal(tensor.zeros(n, dim), 1, opts):requires_grad()
end
function Embedding:describe() return string.format("Embedding(%d, %d)", self.num, self.dim) end
function Embedding:forward(ids)
  if type(ids) == "table" then ids = tensor.tensor(ids) end
  if not tensor.is_tensor(ids) then
    fail(self, "ids are a %s, expected a tensor or an array", type(ids))
  end
  local shape = ids:shape()
  shape[#shape + 1] = self.dim
  local ok, y = pcall(self.weight.index_select, self.weight, 1, ids:reshape(-1))
  if not ok then fail(self, "%s", (tostring(y):gsub("^[^:]*:%d+: ", ""))) end
  return y:reshape(shape)
end

-- SelfAttention(dim, heads, {rng, causal = false, bias = true}): multi-head scaled
-- dot-product attention over (batch, tokens, dim) or (tokens, dim) inputs, with batched
-- matmuls over (batch, heads).
local SelfAttention = Module:extend("SelfAttention")
nn.SelfAttention = SelfAttention
function SelfAttention:init(dim, heads, opts)
  heads = heads or 1
  check_size("nn.SelfAttention", "dim", dim, 1)
  check_size("nn.SelfAttention", "heads", heads, 1)
  opts = check_opts("nn.SelfAttention", opts)
  if dim % heads ~= 0 then
    error(string.format("nn.SelfAttention: dim %d is not divisible by %d heads", dim, heads), 3)
  end
  self.dim, self.heads, self.causal = dim, heads, opts.causal or false
  local o = {bias = opts.bias, rng = opts.rng, init = opts.init}
  self.q = Linear(dim, dim, o)
  self.k = Linear(dim, dim, o)
  self.v = Linear(dim, dim, o)
  self.out = Linear(dim, dim, o)
  self._masks = {}
end
function SelfAttention:describe()
  return string.format("SelfAttention(%d, heads = %d%s)", self.dim, self.heads,
                       self.causal and ", causal" or "")
end
-- The T x T lower-triangular mask of ones, made once per length.
local function causal_mask(self, T)
  local mask = self._masks[T]
  if not mask then
    mask = tensor.ones(T, T)
    for i = 1, T do for j = i + 1, T do mask:set(i, j, 0) end end
    self._masks[T] = mask
  end
  return mask
end
function SelfAttention:forward(x)
  check_input(self, x)
  if (x:dim() ~= 2 and x:dim() ~= 3) or x:size(-1) ~= self.dim then
    fail(self, "input has shape %s, expected (batch, tokens, %d) or (tokens, %d)",
         shape_str(x), self.dim, self.dim)
  end
  local squeeze = x:dim() == 2
  if squeeze then x = x:unsqueeze(1) end
  local B, T, D = x:size(1), x:size(2), x:size(3)
  local h = self.heads
  local dh = D // h
  local function heads(t) return t:reshape(B, T, h, dh):permute(1, 3, 2, 4) end
  local q, k, v = heads(self.q(x)), heads(self.k(x)), heads(self.v(x))
  local scores = q:matmul(k:transpose(3, 4)) * (1 / math.sqrt(dh))
  if self.causal then scores = tensor.where(causal_mask(self, T), scores, -math.huge) end
  local y = scores:softmax(4):matmul(v):permute(1, 3, 2, 4):reshape(B, T, D)
  y = self.out(y)
  if squeeze then y = y:squeeze(1) end
  return y
end

-- TransformerBlock(dim, heads, {mlp_ratio = 4, act = "gelu", rng}): pre-norm attention
-- and MLP blocks, each residual; the blocks are the children `attn` and `mlp`.
local TransformerBlock = Module:extend("TransformerBlock")
nn.TransformerBlock = TransformerBlock
function TransformerBlock:init(dim, heads, opts)
  opts = check_opts("nn.TransformerBlock", opts)
  local hidden = math.floor(dim * (opts.mlp_ratio or 4))
  self.dim, self.heads = dim, heads or 1
  self.ln1 = LayerNorm(dim)
  self.attn = SelfAttention(dim, heads, opts)
  self.ln2 = LayerNorm(dim)
  local act = nn.activation(opts.act or "gelu")
  local o = {bias = opts.bias, rng = opts.rng, init = opts.init}
  self.mlp = Sequential(Linear(dim, hidden, o), act, Linear(hidden, dim, o))
end
function TransformerBlock:describe()
  return string.format("TransformerBlock(%d, heads = %d)", self.dim, self.heads)
end
function TransformerBlock:forward(x)
  x = x + self.attn(self.ln1(x))
  return x + self.mlp(self.ln2(x))
end

------------------------------------------------------------------------------------------
-- Builders

local act_names = {relu = "ReLU", tanh = "Tanh", sigmoid = "Sigmoid", gelu = "GELU",
                   softplus = "Softplus", leaky_relu = "LeakyReLU", identity = "Identity",
                   linear = "Identity"}

local function act_class(name, level)
  local cls = nn[act_names[name] or ""]
  if not cls then
    local known = {}
    for k in pairs(act_names) do known[#known + 1] = k end
    table.sort(known)
    error(string.format("nn: unknown activation '%s' (known: %s)", tostring(name),
                        table.concat(known, ", ")), level + 1)
  end
  return cls
end

-- nn.activation("relu") -> a new activation module
function nn.activation(name) return act_class(name, 2)() end

local MLP = Module:extend("MLP")
nn.MLP = MLP
function MLP:init(sizes, opts)
  opts = opts or {}
  self.sizes = sizes
  self.layers = Sequential()
  for i = 1, #sizes - 1 do
    self.layers:add(Linear(sizes[i], sizes[i + 1], opts))
    if i < #sizes - 1 and opts.act ~= false then self.layers:add(nn.activation(opts.act or "relu")) end
  end
end
function MLP:describe() return (rawget(self, "kind") or "MLP") .. "(" .. table.concat(self.sizes, "-") .. ")" end
function MLP:forward(x) return self.layers(x) end

local function sizes_of(spec, who)
  local sizes = {}
  for i, v in ipairs(spec) do
    if math.type(v) ~= "integer" or v < 1 then
      error(string.format("%s: size %d must be a positive integer, got %s", who, i, tostring(v)), 3)
    end
    sizes[i] = v
  end
  if #sizes < 2 then error(who .. ": needs at least an input and an output size", 3) end
  return sizes
end

-- nn.mlp{20, 64, 64, 1, act = "relu", bias = true, rng = g, init = ...}
function nn.mlp(spec)
  if type(spec) ~= "table" then error("nn.mlp: expected a table of sizes and options", 2) end
  act_class(spec.act or "relu", 2)
  if spec.rng ~= nil and not tensor.is_rng(spec.rng) then
    error("nn.mlp: rng must be a generator from tensor.rng(seed), got " .. type(spec.rng), 2)
  end
  local opts = {act = spec.act or "relu", bias = spec.bias, rng = spec.rng, init = spec.init}
  return MLP(sizes_of(spec, "nn.mlp"), opts)
end

-- nn.deep_linear{3, 6, 5, 3, rng = g}: bias-free linear layers, no activation
function nn.deep_linear(spec)
  if type(spec) ~= "table" then error("nn.deep_linear: expected a table of sizes", 2) end
  if spec.rng ~= nil and not tensor.is_rng(spec.rng) then
    error("nn.deep_linear: rng must be a generator from tensor.rng(seed), got " .. type(spec.rng),
          2)
  end
  local net = MLP(sizes_of(spec, "nn.deep_linear"),
                  {act = false, bias = false, rng = spec.rng, init = spec.init})
  rawset(net, "kind", "DeepLinear")
  return net
end

------------------------------------------------------------------------------------------
-- Losses (mean over every element by default; {reduction = "sum" | "none"}, where "none"
-- gives one loss per sample -- per row, summed over any further dimensions -- for
-- per-sample gradient diagnostics; PyTorch's "none" keeps every element instead.)

-- The C functions themselves, so their errors point at the caller's line.
nn.mse = tensor.mse                         -- (pred, target, opts)
nn.cross_entropy = tensor.cross_entropy     -- (logits, labels 1..C, opts)
nn.nll = tensor.nll                         -- (logp, labels 1..C, opts)
nn.bce_with_logits = tensor.bce_with_logits -- (logits, targets in [0, 1], opts)

------------------------------------------------------------------------------------------
-- help

H.Module = "nn.Module:extend(name) -- a new module class; define init(self, ...) and forward(self, x). Assigning modules or parameters to fields registers them in order."
H.Parameter = "nn.Parameter(t) -- a leaf copy of t that requires grad; assign it to a module field"
H.Linear = "nn.Linear(in, out, {bias = true, rng = g, init = ...}) -- y = x W^T + b; weight is out x in; init: kaiming_uniform, kaiming_normal, xavier_uniform, xavier_normal, orthogonal, zeros or function(w, opts) (default PyTorch's U(+-1/sqrt(in)))"
H.ReLU, H.Tanh, H.Sigmoid, H.GELU, H.Softplus, H.Identity =
  "nn.ReLU() -- max(x, 0)", "nn.Tanh()", "nn.Sigmoid()", "nn.GELU() -- x * Phi(x), exact", "nn.Softplus()", "nn.Identity()"
H.LeakyReLU = "nn.LeakyReLU(slope = 0.01)"
H.LayerNorm = "nn.LayerNorm(dim, {eps = 1e-5, affine = true}) -- normalises the last dimension"
H.Dropout = "nn.Dropout(p, {rng = g}) -- zeroes with probability p in training (scaling by 1/(1-p)); identity in eval"
H.Sequential = "nn.Sequential(m1, m2, ...) -- applies modules in order; children are named 1, 2, ..."
H.Residual = "nn.Residual(m) -- x + m(x)"
H.Embedding = "nn.Embedding(n, dim, {rng}) -- rows of an n x dim table looked up by 1-based ids (a tensor of any shape or a Lua array)"
H.SelfAttention = "nn.SelfAttention(dim, heads, {rng, causal = false}) -- multi-head attention over (batch, tokens, dim)"
H.TransformerBlock = "nn.TransformerBlock(dim, heads, {mlp_ratio = 4, act = 'gelu', rng}) -- pre-norm attention and MLP blocks (children attn, mlp)"
H.MLP = "nn.MLP(sizes, opts) -- the class behind nn.mlp"
H.mlp = "nn.mlp{20, 64, 64, 1, act = 'relu', bias = true, rng = g, init = ...} -- a multilayer perceptron; net:layers() lists its Linear layers"
H.deep_linear = "nn.deep_linear{3, 6, 5, 3, rng = g} -- bias-free linear layers (a deep linear network)"
H.activation = "nn.activation(name) -- a new activation module by name (relu, tanh, sigmoid, gelu, softplus, leaky_relu, identity)"
H.is_module = "nn.is_module(v) -- whether v is a module"
H.mse = "nn.mse(pred, target, {reduction = 'mean'|'sum'|'none'}) -- mean squared error; 'none' gives one loss per sample (row)"
H.cross_entropy = "nn.cross_entropy(logits, labels, {reduction}) -- softmax cross-entropy; labels 1..C"
H.nll = "nn.nll(logp, labels, {reduction}) -- negative log-likelihood of log-probabilities"
H.bce_with_logits = "nn.bce_with_logits(x, y, {reduction}) -- binary cross-entropy on logits"
H.init = "nn.init -- initialisers: normal, uniform, zeros, constant, kaiming_normal, kaiming_uniform, xavier_normal, xavier_uniform, orthogonal, scale, gain"
nn._help = H
init._help = {
  normal = "nn.init.normal(t, std, {mean = 0, rng})",
  uniform = "nn.init.uniform(t, lo, hi, {rng})",
  zeros = "nn.init.zeros(t)", constant = "nn.init.constant(t, v)",
  kaiming_normal = "nn.init.kaiming_normal(t, {nonlinearity = 'relu', mode = 'fan_in', rng}) -- std = gain/sqrt(fan)",
  kaiming_uniform = "nn.init.kaiming_uniform(t, {nonlinearity = 'relu', mode = 'fan_in', rng})",
  xavier_normal = "nn.init.xavier_normal(t, {gain = 1, rng}) -- std = gain*sqrt(2/(fan_in+fan_out))",
  xavier_uniform = "nn.init.xavier_uniform(t, {gain = 1, rng})",
  orthogonal = "nn.init.orthogonal(t, {gain = 1, rng}) -- Haar-random (semi-)orthogonal, via QR",
  scale = "nn.init.scale(layer_or_tensor, factor) -- multiplies a layer's weight and bias (unbalanced starts)",
  gain = "nn.init.gain(nonlinearity) -- the recommended gain (relu: sqrt 2, tanh: 5/3)",
}

return nn
