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
  return (opts and opts.rng) or tensor.default_rng()
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

-- Assignments of modules and parameters are recorded in order.
local function newindex(self, k, v)
  local order = rawget(self, "_order")
  if (is_module(v) or is_param(v)) and rawget(self, k) == nil then
    order[#order + 1] = k
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
  local parent = rawget(self, "_parent")
  if parent ~= nil and rawequal(x, parent) then
    local method = getmetatable(parent)[rawget(self, "_key")]
    if type(method) == "function" then return method(parent, ...) end
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

-- Iterates (name, value) over registered children and parameters in order.
local function entries(self)
  local order, i = rawget(self, "_order"), 0
  return function()
    i = i + 1
    local k = order[i]
    if k ~= nil then return k, rawget(self, k) end
  end
end

function Module:named_parameters(prefix, out)
  out = out or {}
  for k, v in entries(self) do
    local name = prefix and (prefix .. "." .. k) or tostring(k)
    if is_module(v) then v:named_parameters(name, out)
    elseif tensor.is_tensor(v) then
      v.name = name
      out[#out + 1] = {name, v}
    end
  end
  if prefix then return out end
  local i = 0
  return function()
    i = i + 1
    if out[i] then return out[i][1], out[i][2] end
  end, out
end

function Module:parameters()
  local list = {}
  for _, p in self:named_parameters() do list[#list + 1] = p end
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
    error(string.format("set_flat_parameters: expected a vector of %d values", n), 2)
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
  if t:dim() < 1 then error("nn.init: needs a tensor with at least one dimension", 3) end
  if t:dim() == 1 then return t:size(1), t:size(1) end
  local receptive = 1
  for d = 3, t:dim() do receptive = receptive * t:size(d) end
  return t:size(2) * receptive, t:size(1) * receptive   -- fan_in, fan_out (weight is out x in)
end

local function fill(t, f)
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
  if t:dim() < 2 then error("nn.init.orthogonal: needs a matrix", 2) end
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
  local ts = is_module(x) and {rawget(x, "weight"), rawget(x, "bias")} or {x}
  tensor.no_grad(function()
    for _, t in ipairs(ts) do if t then t:mul_(factor) end end
  end)
  return x
end

------------------------------------------------------------------------------------------
-- Layers

local function shape_str(x) return table.concat(x:shape(), "x") end

local Linear = Module:extend("Linear")
Linear.is_layer = true
nn.Linear = Linear

-- Linear(in, out, {bias = true, rng = g, init = "kaiming_uniform" | "kaiming_normal" |
-- "xavier_uniform" | "xavier_normal" | "orthogonal" | "zeros" | function(weight, opts)})
-- Default initialisation is PyTorch's: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias.
function Linear:init(nin, nout, opts)
  opts = opts or {}
  if math.type(nin) ~= "integer" or math.type(nout) ~= "integer" or nin < 0 or nout < 0 then
    error(string.format("nn.Linear: sizes must be non-negative integers, got %s, %s",
                        tostring(nin), tostring(nout)), 3)
  end
  self.in_features, self.out_features = nin, nout
  self.weight = tensor.zeros(nout, nin):requires_grad()
  local kind = opts.init
  local bound = nin > 0 and 1 / math.sqrt(nin) or 0
  if kind == nil then
    init.uniform(self.weight, -bound, bound, opts)
  elseif type(kind) == "function" then
    kind(self.weight, opts)
  elseif init[kind] then
    init[kind](self.weight, opts)
  else
    error("nn.Linear: unknown init '" .. tostring(kind) .. "'", 3)
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

function Linear:forward(x)
  if not tensor.is_tensor(x) then
    error(string.format("%s (%s): input is a %s, expected a tensor", self:path(), self:describe(), type(x)), 0)
  end
  local d = x:dim() > 0 and x:size(-1) or 0
  if d ~= self.in_features then
    error(string.format("%s (Linear %d->%d): input has %d features, expected %d (input shape %s)",
                        self:path(), self.in_features, self.out_features, d, self.in_features,
                        shape_str(x)), 0)
  end
  return tensor.linear(x, self.weight, rawget(self, "bias"))
end

-- Stateless activations: one class per function.
local function activation(name, fn, describe)
  local cls = Module:extend(name)
  cls.forward = function(_, x) return fn(x) end
  if describe then cls.describe = describe end
  nn[name] = cls
  return cls
end

activation("ReLU", function(x) return x:relu() end)
activation("Tanh", function(x) return x:tanh() end)
activation("Sigmoid", function(x) return x:sigmoid() end)
activation("GELU", function(x) return x:gelu() end)
activation("Softplus", function(x) return x:softplus() end)
activation("Identity", function(x) return x end)

local LeakyReLU = Module:extend("LeakyReLU")
nn.LeakyReLU = LeakyReLU
function LeakyReLU:init(slope) self.slope = slope or 0.01 end
function LeakyReLU:forward(x) return x:leaky_relu(self.slope) end
function LeakyReLU:describe() return string.format("LeakyReLU(%g)", self.slope) end

local LayerNorm = Module:extend("LayerNorm")
nn.LayerNorm = LayerNorm
function LayerNorm:init(dim, opts)
  opts = opts or {}
  self.dim, self.eps = dim, opts.eps or 1e-5
  if opts.affine ~= false then
    self.weight = tensor.ones(dim):requires_grad()
    self.bias = tensor.zeros(dim):requires_grad()
  end
end
function LayerNorm:describe() return string.format("LayerNorm(%d)", self.dim) end
function LayerNorm:forward(x)
  if x:size(-1) ~= self.dim then
    error(string.format("%s (%s): input has %d features, expected %d", self:path(),
                        self:describe(), x:size(-1), self.dim), 0)
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
  self.p, self.rng = p, rng_of(opts)
end
function Dropout:describe() return string.format("Dropout(%g)", self.p) end
function Dropout:forward(x)
  if not self.training or self.p == 0 then return x end
  local mask = self.rng:bernoulli(1 - self.p, x:shape())
  return x * mask:mul_(1 / (1 - self.p))
end

local Sequential = Module:extend("Sequential")
nn.Sequential = Sequential
function Sequential:init(...)
  local mods = select("#", ...) == 1 and not is_module(...) and ... or {...}
  self.n = 0
  for _, m in ipairs(mods) do self:add(m) end
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
function Residual:init(m) self.body = m end
function Residual:forward(x) return x + self.body(x) end

-- Embedding(n, dim, {rng}): rows of a table looked up by 1-based ids.
local Embedding = Module:extend("Embedding")
Embedding.is_layer = true
nn.Embedding = Embedding
function Embedding:init(n, dim, opts)
  self.num, self.dim = n, dim
  self.weight = init.normal(tensor.zeros(n, dim), 1, opts):requires_grad()
end
function Embedding:describe() return string.format("Embedding(%d, %d)", self.num, self.dim) end
function Embedding:forward(ids)
  if tensor.is_tensor(ids) and ids:dim() > 1 then
    local shape = ids:shape()
    shape[#shape + 1] = self.dim
    return self.weight:index_select(1, ids:reshape(-1)):reshape(shape)
  end
  return self.weight:index_select(1, ids)
end

-- SelfAttention(dim, heads, {rng, causal = false, bias = true}): multi-head scaled
-- dot-product attention over (batch, tokens, dim) or (tokens, dim) inputs, with batched
-- matmuls over (batch, heads).
local SelfAttention = Module:extend("SelfAttention")
nn.SelfAttention = SelfAttention
function SelfAttention:init(dim, heads, opts)
  opts = opts or {}
  heads = heads or 1
  if dim % heads ~= 0 then
    error(string.format("nn.SelfAttention: dim %d is not divisible by %d heads", dim, heads), 3)
  end
  self.dim, self.heads, self.causal = dim, heads, opts.causal or false
  local o = {bias = opts.bias, rng = opts.rng}
  self.q = Linear(dim, dim, o)
  self.k = Linear(dim, dim, o)
  self.v = Linear(dim, dim, o)
  self.out = Linear(dim, dim, o)
end
function SelfAttention:describe()
  return string.format("SelfAttention(%d, heads = %d%s)", self.dim, self.heads,
                       self.causal and ", causal" or "")
end
function SelfAttention:forward(x)
  local squeeze = x:dim() == 2
  if squeeze then x = x:unsqueeze(1) end
  local B, T, D = x:size(1), x:size(2), x:size(3)
  local h = self.heads
  local dh = D // h
  local function heads(t) return t:reshape(B, T, h, dh):permute(1, 3, 2, 4) end
  local q, k, v = heads(self.q(x)), heads(self.k(x)), heads(self.v(x))
  local scores = q:matmul(k:transpose(3, 4)) * (1 / math.sqrt(dh))
  if self.causal then
    local mask = tensor.ones(T, T)
    for i = 1, T do for j = i + 1, T do mask:set(i, j, 0) end end
    scores = tensor.where(mask, scores, -math.huge)
  end
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
  opts = opts or {}
  local hidden = math.floor(dim * (opts.mlp_ratio or 4))
  self.ln1 = LayerNorm(dim)
  self.attn = SelfAttention(dim, heads, opts)
  self.ln2 = LayerNorm(dim)
  local act = nn.activation(opts.act or "gelu")
  self.mlp = Sequential(Linear(dim, hidden, opts), act, Linear(hidden, dim, opts))
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

-- nn.activation("relu") -> a new activation module
function nn.activation(name)
  local cls = nn[act_names[name] or ""]
  if not cls then
    local known = {}
    for k in pairs(act_names) do known[#known + 1] = k end
    table.sort(known)
    error(string.format("nn: unknown activation '%s' (known: %s)", tostring(name),
                        table.concat(known, ", ")), 3)
  end
  return cls()
end

local MLP = Module:extend("MLP")
nn.MLP = MLP
function MLP:init(sizes, opts)
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
  local opts = {act = spec.act or "relu", bias = spec.bias, rng = spec.rng, init = spec.init}
  return MLP(sizes_of(spec, "nn.mlp"), opts)
end

-- nn.deep_linear{3, 6, 5, 3, rng = g}: bias-free linear layers, no activation
function nn.deep_linear(spec)
  if type(spec) ~= "table" then error("nn.deep_linear: expected a table of sizes", 2) end
  local net = MLP(sizes_of(spec, "nn.deep_linear"),
                  {act = false, bias = false, rng = spec.rng, init = spec.init})
  rawset(net, "kind", "DeepLinear")
  return net
end

------------------------------------------------------------------------------------------
-- Losses (mean reduction by default; {reduction = "sum" | "none"})

function nn.mse(pred, target, opts) return tensor.mse(pred, target, opts) end
function nn.cross_entropy(logits, labels, opts) return tensor.cross_entropy(logits, labels, opts) end
function nn.nll(logp, labels, opts) return tensor.nll(logp, labels, opts) end
function nn.bce_with_logits(x, y, opts) return tensor.bce_with_logits(x, y, opts) end

------------------------------------------------------------------------------------------
-- help

H.Module = "nn.Module:extend(name) -- a new module class; define init(self, ...) and forward(self, x). Assigning modules or parameters to fields registers them in order."
H.Parameter = "nn.Parameter(t) -- a leaf copy of t that requires grad; assign it to a module field"
H.Linear = "nn.Linear(in, out, {bias = true, rng = g, init = ...}) -- y = x W^T + b; weight is out x in"
H.ReLU, H.Tanh, H.Sigmoid, H.GELU, H.Softplus, H.Identity =
  "nn.ReLU() -- max(x, 0)", "nn.Tanh()", "nn.Sigmoid()", "nn.GELU() -- x * Phi(x), exact", "nn.Softplus()", "nn.Identity()"
H.LeakyReLU = "nn.LeakyReLU(slope = 0.01)"
H.LayerNorm = "nn.LayerNorm(dim, {eps = 1e-5, affine = true}) -- normalises the last dimension"
H.Dropout = "nn.Dropout(p, {rng = g}) -- zeroes with probability p in training (scaling by 1/(1-p)); identity in eval"
H.Sequential = "nn.Sequential(m1, m2, ...) -- applies modules in order; children are named 1, 2, ..."
H.Residual = "nn.Residual(m) -- x + m(x)"
H.Embedding = "nn.Embedding(n, dim, {rng}) -- rows of an n x dim table looked up by 1-based ids"
H.SelfAttention = "nn.SelfAttention(dim, heads, {rng, causal = false}) -- multi-head attention over (batch, tokens, dim)"
H.TransformerBlock = "nn.TransformerBlock(dim, heads, {mlp_ratio = 4, act = 'gelu', rng}) -- pre-norm attention and MLP blocks (children attn, mlp)"
H.MLP = "nn.MLP(sizes, opts) -- the class behind nn.mlp"
H.mlp = "nn.mlp{20, 64, 64, 1, act = 'relu', bias = true, rng = g, init = ...} -- a multilayer perceptron; net:layers() lists its Linear layers"
H.deep_linear = "nn.deep_linear{3, 6, 5, 3, rng = g} -- bias-free linear layers (a deep linear network)"
H.activation = "nn.activation(name) -- a new activation module by name (relu, tanh, sigmoid, gelu, softplus, leaky_relu, identity)"
H.is_module = "nn.is_module(v) -- whether v is a module"
H.mse = "nn.mse(pred, target, {reduction = 'mean'|'sum'|'none'}) -- mean squared error"
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
