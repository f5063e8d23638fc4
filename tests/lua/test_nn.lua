-- test_nn.lua -- the nn module: Module bookkeeping, layers, builders, losses, initialisers
-- and the errors a user meets. (Agreement with PyTorch is in test_torch_nn.lua.)

local function val(v) return tensor.is_tensor(v) and v:item() or v end
local function shape(t) return table.concat(t:shape(), "x") end
local function maxdiff(a, b) return val((a - b):abs():max()) end

-- A user-defined module in a few lines: an affine map with its own parameters.
local Affine = nn.Module:extend("Affine")
function Affine:init(n, g)
  self.scale = nn.Parameter(g:randn(n))
  self.shift = tensor.zeros(n):requires_grad()
end
function Affine:forward(x) return x * self.scale + self.shift end

-- Nested: a custom module holding a Sequential and another custom module.
local Net = nn.Module:extend("Net")
function Net:init(g)
  self.body = nn.Sequential(nn.Linear(3, 4, {rng = g}), nn.Tanh(), nn.Linear(4, 2, {rng = g}))
  self.head = Affine(2, g)
  self.const = tensor.ones(2)          -- a plain tensor is not a parameter
  self.label = "not a module"
end
function Net:forward(x) return self.head(self.body(x)) end

------------------------------------------------------------------------------------------
-- Module bookkeeping

test("calling a module runs forward", function()
  local g = tensor.rng(1)
  local net = Net(g)
  local x = g:randn(5, 3)
  local y = net(x)
  eq(y:shape(), {5, 2})
  near(y, net:forward(x), 0)
  local want = net.head(net.body(x))
  near(y, want, 0)
end)

test("parameters come out in assignment order with dotted names", function()
  local net = Net(tensor.rng(1))
  local names = {}
  for name, p in net:named_parameters() do
    names[#names + 1] = name
    eq(p.name, name)
  end
  eq(names, {"body.1.weight", "body.1.bias", "body.3.weight", "body.3.bias",
             "head.scale", "head.shift"})
  local ps = net:parameters()
  eq(#ps, 6)
  eq(ps[1].name, "body.1.weight")
  eq(ps[5].name, "head.scale")
  ok(rawequal(ps[3], net.body[3].weight), "parameters are the tensors themselves")
  eq(net:num_parameters(), 3 * 4 + 4 + 4 * 2 + 2 + 2 + 2)
end)

test("deeply nested names", function()
  local g = tensor.rng(2)
  local outer = nn.Sequential(nn.Residual(nn.Sequential(nn.Linear(2, 2, {rng = g}))), nn.ReLU(),
                              nn.mlp{2, 3, 1, rng = g})
  local names = {}
  for name in outer:named_parameters() do names[#names + 1] = name end
  eq(names, {"1.body.1.weight", "1.body.1.bias", "3.layers.1.weight", "3.layers.1.bias",
             "3.layers.3.weight", "3.layers.3.bias"})
end)

test("reassigning or clearing a field keeps its place and lists it once", function()
  local M = nn.Module:extend("M")
  function M:init()
    self.a = tensor.zeros(1):requires_grad()
    self.b = tensor.zeros(2):requires_grad()
  end
  local m = M()
  m.a = tensor.zeros(3):requires_grad()          -- replaced: still first
  m.b = nil
  m.b = tensor.zeros(4):requires_grad()          -- cleared and set again: still second, once
  m.c = "text"
  m.c = nil                                      -- (Lua sees only assignments to absent keys)
  m.c = nn.Linear(1, 1)                          -- a module where a string was: registered
  local names = {}
  for name, p in m:named_parameters() do names[#names + 1] = name .. ":" .. p:numel() end
  eq(names, {"a:3", "b:4", "c.weight:1", "c.bias:1"})
  -- replacing a child in place, as when swapping a head
  local net = nn.mlp{4, 8, 3, rng = tensor.rng(1)}
  net.layers[3] = nn.Linear(8, 10)
  names = {}
  for name, p in net:named_parameters() do names[#names + 1] = name .. ":" .. shape(p) end
  eq(names, {"layers.1.weight:8x4", "layers.1.bias:8", "layers.3.weight:10x8", "layers.3.bias:10"})
  eq(net.layers[3]:path(), "net.layers.3")
  eq(net(tensor.zeros(2, 4)):shape(), {2, 10})
end)

test("parameters() is cached, and rebuilt when the tree changes", function()
  local g = tensor.rng(1)
  local net = nn.mlp{4, 8, 3, rng = g}
  local ps = net:parameters()
  eq(#ps, 4)
  ok(rawequal(net:parameters(), ps), "unchanged tree: the same list")
  net.layers[3] = nn.Linear(8, 10, {rng = g})            -- replaced in place
  local ps2 = net:parameters()
  eq(#ps2, 4)
  ok(rawequal(ps2[3], net.layers[3].weight), "sees the new head")
  eq(ps2[4]:shape(), {10})
  net.layers:add(nn.Linear(10, 2, {rng = g}))            -- a new child, deeper down
  eq(#net:parameters(), 6)
  net.extra = tensor.zeros(2):requires_grad()            -- a new parameter at the top
  eq(#net:parameters(), 7)
  eq(net:parameters()[7].name, "extra")
  net.layers[1].bias = nil                               -- a parameter removed
  eq(#net:parameters(), 6)
  local b = tensor.zeros(8):requires_grad()
  net.layers[1].bias = b                                 -- and put back, in its place
  ok(rawequal(net:parameters()[2], b))
  eq(net:num_parameters(), 4 * 8 + 8 + 8 * 10 + 10 + 10 * 2 + 2 + 2)
  -- a sub-module keeps its own list
  eq(#net.layers[1]:parameters(), 2)
  eq(#net:parameters(), 7)
  -- walking a layer from inside the tree keeps the names from the root
  eq(net.layers[1].weight.name, "layers.1.weight")
  for name, p in net.layers[3]:named_parameters() do eq(p.name, "layers.3." .. name) end
  -- a standalone layer's parameters are named from it
  local l = nn.Linear(2, 2)
  l:parameters()
  eq(l.weight.name, "weight")
  local holder = nn.Sequential(nn.ReLU(), l)
  holder:parameters()
  eq(l.weight.name, "2.weight")
end)

test("tied parameters are listed once", function()
  local g = tensor.rng(3)
  local a, b = nn.Linear(3, 3, {rng = g}), nn.Linear(3, 3, {rng = g})
  b.weight = a.weight
  local net = nn.Sequential(a, b)
  local names = {}
  for name in net:named_parameters() do names[#names + 1] = name end
  eq(names, {"1.weight", "1.bias", "2.bias"})
  eq(net:num_parameters(), 9 + 3 + 3)
end)

test("children, named_children and modules", function()
  local net = Net(tensor.rng(1))
  local kids = net:children()
  eq(#kids, 2)
  ok(rawequal(kids[1], net.body) and rawequal(kids[2], net.head))
  local names = {}
  for k, m in net:named_children() do names[#names + 1] = tostring(k) .. "=" .. m.__name end
  eq(names, {"body=Sequential", "head=Affine"})
  local all = {}
  for _, m in ipairs(net:modules()) do all[#all + 1] = m.__name end
  eq(all, {"Net", "Sequential", "Linear", "Tanh", "Linear", "Affine"})
  ok(nn.is_module(net) and not nn.is_module(Net) and not nn.is_module({}))
end)

test("a module without forward says so", function()
  local M = nn.Module:extend("Empty")
  raises(function() M()(tensor.zeros(1)) end, "Empty: forward is not defined")
end)

test("subclassing a layer", function()
  local Scaled = nn.Linear:extend("Scaled")
  function Scaled:init(nin, nout, factor, opts)
    nn.Linear.init(self, nin, nout, opts)
    self.factor = factor
  end
  function Scaled:forward(x) return nn.Linear.forward(self, x) * self.factor end
  local g = tensor.rng(4)
  local s = Scaled(3, 2, 10, {rng = g})
  local x = g:randn(4, 3)
  near(s(x), tensor.linear(x, s.weight, s.bias) * 10, 1e-14)
  eq(#s:parameters(), 2)
  ok(s.is_layer)
end)

test("tostring shows the tree", function()
  local net = Net(tensor.rng(1))
  eq(tostring(net), table.concat({
    "Net (",
    "  (body): Sequential (",
    "    (1): Linear(3 -> 4)",
    "    (2): Tanh",
    "    (3): Linear(4 -> 2)",
    "  )",
    "  (head): Affine",
    ")"}, "\n"))
  eq(tostring(nn.Linear(5, 1, {bias = false})), "Linear(5 -> 1, no bias)")
  local s = tostring(nn.TransformerBlock(8, 2, {rng = tensor.rng(1)}))
  for _, want in ipairs{"TransformerBlock(8, heads = 2)", "(ln1): LayerNorm(8)",
                        "(attn): SelfAttention(8, heads = 2)", "(q): Linear(8 -> 8)",
                        "(mlp): Sequential", "(1): Linear(8 -> 32)", "(2): GELU"} do
    ok(s:find(want, 1, true), "missing " .. want .. " in\n" .. s)
  end
  eq(tostring(nn.LeakyReLU(0.2)), "LeakyReLU(0.2)")
  eq(tostring(nn.Dropout(0.25)), "Dropout(0.25)")
  eq(tostring(nn.Embedding(10, 4)), "Embedding(10, 4)")
end)

test("zero_grad zeroes every gradient", function()
  local g = tensor.rng(5)
  local net = nn.mlp{3, 4, 1, rng = g}
  nn.mse(net(g:randn(6, 3)), g:randn(6, 1)):backward()
  for _, p in ipairs(net:parameters()) do ok(val(p.grad:abs():sum()) > 0) end
  ok(rawequal(net:zero_grad(), net))
  for _, p in ipairs(net:parameters()) do eq(val(p.grad:abs():sum()), 0) end
end)

test("train and eval reach every module", function()
  local net = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5), nn.Sequential(nn.Dropout(0.1)))
  for _, m in ipairs(net:modules()) do eq(m.training, true) end
  ok(rawequal(net:eval(), net))
  for _, m in ipairs(net:modules()) do eq(m.training, false) end
  net:train()
  for _, m in ipairs(net:modules()) do eq(m.training, true) end
  net:train(false)
  eq(net[3][1].training, false)
end)

------------------------------------------------------------------------------------------
-- builders and net:layers()

test("mlp layout and layers()", function()
  local net = nn.mlp{20, 64, 64, 1, act = "tanh", rng = tensor.rng(1)}
  local L = net:layers()
  eq(#L, 3)
  eq({L[1].in_features, L[1].out_features}, {20, 64})
  eq({L[2].in_features, L[2].out_features}, {64, 64})
  eq({L[3].in_features, L[3].out_features}, {64, 1})
  ok(rawequal(L[2], net.layers[3]))
  eq(net.layers[2].__name, "Tanh")
  eq(#net.layers:children(), 5)
  eq(net(tensor.zeros(7, 20)):shape(), {7, 1})
  eq(tostring(net):match("^[^\n]*"), "MLP(20-64-64-1) (")
  -- bias = false, and every activation name
  local nb = nn.mlp{4, 3, 2, bias = false, rng = tensor.rng(1)}
  eq(#nb:parameters(), 2)
  for act, cls in pairs{relu = "ReLU", tanh = "Tanh", sigmoid = "Sigmoid", gelu = "GELU",
                        softplus = "Softplus", leaky_relu = "LeakyReLU", identity = "Identity"} do
    eq(nn.mlp{2, 2, 2, act = act}.layers[2].__name, cls)
  end
end)

test("deep_linear: bias-free linear layers, no activations", function()
  local net = nn.deep_linear{3, 6, 5, 3, rng = tensor.rng(2)}
  local L = net:layers()
  eq(#L, 3)
  eq(#net.layers:children(), 3)
  for i, l in ipairs(L) do
    eq(l.__name, "Linear")
    eq(rawget(l, "bias"), nil)
    eq(l.in_features, ({3, 6, 5})[i])
  end
  local names = {}
  for name in net:named_parameters() do names[#names + 1] = name end
  eq(names, {"layers.1.weight", "layers.2.weight", "layers.3.weight"})
  -- the product of the weights is the end-to-end map
  local x = tensor.rng(3):randn(4, 3)
  local W = L[3].weight:matmul(L[2].weight):matmul(L[1].weight)
  near(net(x), x:matmul(W:t()), 1e-13)
  eq(tostring(net):match("^[^\n]*"), "DeepLinear(3-6-5-3) (")
end)

test("same seed gives the same weights; different seeds differ", function()
  local a = nn.mlp{5, 7, 2, rng = tensor.rng(11)}:flat_parameters()
  local b = nn.mlp{5, 7, 2, rng = tensor.rng(11)}:flat_parameters()
  local c = nn.mlp{5, 7, 2, rng = tensor.rng(12)}:flat_parameters()
  eq(maxdiff(a, b), 0)
  ok(maxdiff(a, c) > 0)
  local t1 = nn.TransformerBlock(4, 2, {rng = tensor.rng(3)}):flat_parameters()
  local t2 = nn.TransformerBlock(4, 2, {rng = tensor.rng(3)}):flat_parameters()
  eq(maxdiff(t1, t2), 0)
end)

test("Linear default init is U(-1/sqrt(in), 1/sqrt(in)) for weight and bias", function()
  local l = nn.Linear(400, 300, {rng = tensor.rng(1)})
  local b = 1 / math.sqrt(400)
  ok(val(l.weight:abs():max()) <= b and val(l.bias:abs():max()) <= b)
  near(l.weight:std(), b / math.sqrt(3), 0.01 * b)
  -- a named init leaves the bias at zero
  local k = nn.Linear(400, 300, {rng = tensor.rng(1), init = "kaiming_normal"})
  eq(val(k.bias:abs():max()), 0)
  near(k.weight:std(), math.sqrt(2 / 400), 0.01 * math.sqrt(2 / 400))
  local f = nn.Linear(2, 2, {init = function(w) nn.init.constant(w, 3) end})
  eq(f.weight:totable(), {{3, 3}, {3, 3}})
end)

------------------------------------------------------------------------------------------
-- initialisers

-- mean and std of a large sample; the standard error of std is about std / sqrt(2n)
local function stats(t) return val(t:mean()), val(t:std()) end

test("kaiming and xavier: std and bounds within sampling error", function()
  local g = tensor.rng(21)
  local t = tensor.zeros(500, 400)          -- fan_in 400, fan_out 500, n = 200000
  local n = t:numel()
  local function check_normal(std)
    local m, s = stats(t)
    ok(math.abs(m) < 5 * std / math.sqrt(n), "mean " .. m)
    ok(math.abs(s - std) < 5 * std / math.sqrt(2 * n), string.format("std %g vs %g", s, std))
  end
  local function check_uniform(bound)
    local m, s = stats(t)
    ok(val(t:abs():max()) <= bound, "inside the bound")
    ok(val(t:abs():max()) > 0.999 * bound, "reaches the bound")
    ok(math.abs(m) < 5 * bound / math.sqrt(3 * n))
    near(s, bound / math.sqrt(3), 0.01 * bound)
  end
  nn.init.kaiming_normal(t, {rng = g}); check_normal(math.sqrt(2 / 400))
  nn.init.kaiming_normal(t, {rng = g, mode = "fan_out"}); check_normal(math.sqrt(2 / 500))
  nn.init.kaiming_normal(t, {rng = g, nonlinearity = "tanh"}); check_normal(5 / 3 / math.sqrt(400))
  nn.init.kaiming_uniform(t, {rng = g}); check_uniform(math.sqrt(6 / 400))
  nn.init.xavier_normal(t, {rng = g}); check_normal(math.sqrt(2 / 900))
  nn.init.xavier_normal(t, {rng = g, gain = 2}); check_normal(2 * math.sqrt(2 / 900))
  nn.init.xavier_uniform(t, {rng = g}); check_uniform(math.sqrt(6 / 900))
  nn.init.normal(t, 0.3, {rng = g}); check_normal(0.3)
  nn.init.normal(t, 0.3, {rng = g, mean = 2}); near(t:mean(), 2, 0.01)
  nn.init.uniform(t, -2, 2, {rng = g}); check_uniform(2)
  eq(nn.init.gain("relu"), math.sqrt(2))
  eq(nn.init.gain("tanh"), 5 / 3)
  eq(nn.init.gain(), 1)
end)

test("zeros, constant, scale", function()
  local t = tensor.ones(3, 2)
  ok(rawequal(nn.init.zeros(t), t))
  eq(val(t:abs():sum()), 0)
  nn.init.constant(t, 1.5)
  eq(val(t:sum()), 9)
  nn.init.scale(t, 2)
  eq(val(t:sum()), 18)
  local l = nn.Linear(3, 2, {rng = tensor.rng(1)})
  local w, b = l.weight:clone(), l.bias:clone()
  ok(rawequal(nn.init.scale(l, -3), l))
  near(l.weight, w * -3, 0)
  near(l.bias, b * -3, 0)
  ok(l.weight.is_leaf and l.weight.needs_grad, "still a parameter")
  -- initialisers work on parameters (no grad recorded)
  local p = tensor.zeros(4, 4):requires_grad()
  nn.init.xavier_uniform(p, {rng = tensor.rng(1)})
  ok(p.is_leaf and p.needs_grad)
end)

test("initialisers with the same seed agree", function()
  for _, name in ipairs{"kaiming_normal", "kaiming_uniform", "xavier_normal", "xavier_uniform",
                        "orthogonal"} do
    local a = nn.init[name](tensor.zeros(6, 4), {rng = tensor.rng(9)})
    local b = nn.init[name](tensor.zeros(6, 4), {rng = tensor.rng(9)})
    eq(maxdiff(a, b), 0, name)
    ok(val(a:abs():sum()) > 0, name)
  end
end)

test("orthogonal: QtQ = I for tall, QQt = I for wide, with gain", function()
  local g = tensor.rng(31)
  local tall = nn.init.orthogonal(tensor.zeros(30, 7), {rng = g})
  ok(maxdiff(tall:t():matmul(tall), tensor.eye(7)) < 1e-12)
  local wide = nn.init.orthogonal(tensor.zeros(5, 40), {rng = g})
  ok(maxdiff(wide:matmul(wide:t()), tensor.eye(5)) < 1e-12)
  local sq = nn.init.orthogonal(tensor.zeros(8, 8), {rng = g, gain = 3})
  ok(maxdiff(sq:t():matmul(sq), tensor.eye(8) * 9) < 1e-11)
  ok(maxdiff(sq:matmul(sq:t()), tensor.eye(8) * 9) < 1e-11)
  -- Haar: the diagonal of a random orthogonal matrix has mean zero (no sign bias)
  local s = 0
  for _ = 1, 200 do s = s + nn.init.orthogonal(tensor.zeros(2, 2), {rng = g}):get(1, 1) end
  ok(math.abs(s / 200) < 0.2, "diagonal mean " .. s / 200)
  -- as a Linear init
  local l = nn.Linear(6, 10, {init = "orthogonal", rng = g})
  ok(maxdiff(l.weight:t():matmul(l.weight), tensor.eye(6)) < 1e-12)
end)

------------------------------------------------------------------------------------------
-- state_dict, flat parameters

test("state_dict round trip through dumps/loads and save/load", function()
  local net = nn.mlp{4, 5, 3, act = "gelu", rng = tensor.rng(1)}
  local sd = net:state_dict()
  eq(shape(sd["layers.1.weight"]), "5x4")
  ok(rawequal(sd["layers.3.bias"], net.layers[3].bias), "the parameters themselves")
  local bytes = tensor.dumps(sd)
  local other = nn.mlp{4, 5, 3, act = "gelu", rng = tensor.rng(2)}
  ok(maxdiff(other:flat_parameters(), net:flat_parameters()) > 0)
  ok(rawequal(other:load_state_dict(tensor.loads(bytes)), other))
  eq(maxdiff(other:flat_parameters(), net:flat_parameters()), 0)
  local x = tensor.rng(3):randn(6, 4)
  eq(maxdiff(other(x), net(x)), 0)
  -- loading copies values: the model's tensors stay its own leaves
  local p = other.layers[1].weight
  ok(p.is_leaf and p.needs_grad)
  ok(not rawequal(p, sd["layers.1.weight"]))
  -- to a file
  local path = os.tmpname()
  tensor.save(path, net:state_dict())
  local third = nn.mlp{4, 5, 3, act = "gelu", rng = tensor.rng(4)}
  third:load_state_dict(tensor.load(path))
  os.remove(path)
  eq(maxdiff(third:flat_parameters(), net:flat_parameters()), 0)
end)

test("load_state_dict refuses missing, unexpected and misshapen entries", function()
  local net = nn.mlp{2, 3, 1, rng = tensor.rng(1)}
  local sd = tensor.loads(tensor.dumps(net:state_dict()))
  sd["layers.3.bias"] = nil
  raises(function() net:load_state_dict(sd) end, "missing layers.3.bias; unexpected none")
  sd["layers.3.bias"] = tensor.zeros(1)
  sd["extra.weight"] = tensor.zeros(1)
  raises(function() net:load_state_dict(sd) end, "missing none; unexpected extra.weight")
  -- non-strict ignores both, and loads the rest
  sd["layers.3.bias"] = nil
  sd["layers.1.bias"] = tensor.full({3}, 7)
  net:load_state_dict(sd, {strict = false})
  eq(net.layers[1].bias:totable(), {7, 7, 7})
  sd["layers.1.weight"] = tensor.zeros(2, 3)
  raises(function() net:load_state_dict(sd, {strict = false}) end,
         "'layers.1.weight' has shape 3x2 in the model, 2x3 in the state")
  sd["layers.1.weight"] = "nope"
  raises(function() net:load_state_dict(sd) end, "'layers.1.weight' is a string, expected a tensor")
  raises(function() net:load_state_dict(nil) end, "load_state_dict: expected a table, got nil")
end)

test("flat_parameters / set_flat_parameters round trip", function()
  local g = tensor.rng(6)
  local net = nn.mlp{3, 4, 2, rng = g}
  local v = net:flat_parameters()
  eq(v:shape(), {net:num_parameters()})
  -- order: parameters() concatenated, row-major
  eq(v:get(1), net.layers[1].weight:get(1, 1))
  eq(v:get(2), net.layers[1].weight:get(1, 2))
  eq(v:get(13), net.layers[1].bias:get(1))
  eq(v:get(26), net.layers[3].bias:get(2))
  -- a copy, not a view
  v:set(1, 99)
  ok(net.layers[1].weight:get(1, 1) ~= 99)
  local w = g:randn(net:num_parameters())
  ok(rawequal(net:set_flat_parameters(w), net))
  eq(maxdiff(net:flat_parameters(), w), 0)
  eq(net.layers[3].weight:get(2, 4), w:get(12 + 4 + 8))
  for _, p in ipairs(net:parameters()) do ok(p.is_leaf and p.needs_grad) end
  raises(function() net:set_flat_parameters(tensor.zeros(5)) end,
         "set_flat_parameters: expected a vector of 26 values, got a tensor of shape 5")
  raises(function() net:set_flat_parameters({}) end, "got a table")
end)

test("flat_grad follows parameters() order", function()
  local g = tensor.rng(7)
  local net = nn.mlp{3, 4, 2, rng = g}
  eq(val(net:flat_grad():abs():sum()), 0)           -- no gradient yet: zeros
  eq(net:flat_grad():numel(), 26)
  nn.mse(net(g:randn(5, 3)), g:randn(5, 2)):backward()
  local parts = {}
  for i, p in ipairs(net:parameters()) do parts[i] = p.grad:reshape(-1) end
  eq(maxdiff(net:flat_grad(), tensor.cat(parts, 1)), 0)
  eq(net:flat_grad():get(26), net.layers[3].bias.grad:get(2))
end)

------------------------------------------------------------------------------------------
-- layers

test("Dropout: identity in eval, drops about p with scaling 1/(1-p) in training", function()
  local d = nn.Dropout(0.3, {rng = tensor.rng(8)})
  local x = tensor.ones(200, 500)
  local y = d(x)
  local kept = val(y:ne(0):sum())
  local n = x:numel()
  ok(math.abs(kept / n - 0.7) < 5 * math.sqrt(0.21 / n), "kept fraction " .. kept / n)
  near(val(y:max()), 1 / 0.7, 1e-15)
  near(y:sum() / kept, 1 / 0.7, 1e-12)          -- every survivor is scaled
  near(y:mean(), 1, 0.01)                        -- unbiased
  d:eval()
  ok(rawequal(d(x), x), "eval: the input itself")
  d:train()
  ok(val(d(x):ne(0):sum()) < n)
  -- the gradient goes through the same mask
  local xs = tensor.ones(4, 5):requires_grad()
  local ys = d(xs)
  ys:sum():backward()
  near(xs.grad, ys:detach(), 0)
  -- same seed, same mask
  local a = nn.Dropout(0.5, {rng = tensor.rng(1)})(tensor.ones(10, 10))
  local b = nn.Dropout(0.5, {rng = tensor.rng(1)})(tensor.ones(10, 10))
  eq(maxdiff(a, b), 0)
  eq(maxdiff(nn.Dropout(0)(x), x), 0)
end)

test("Embedding: 1-based lookup of any shape, gradient accumulates rows", function()
  local e = nn.Embedding(5, 3, {rng = tensor.rng(9)})
  local W = e.weight
  local y = e(tensor.tensor({2, 5, 2}))
  eq(y:shape(), {3, 3})
  eq(y:totable()[1], W:totable()[2])
  eq(y:totable()[2], W:totable()[5])
  local y2 = e({{1, 2}, {3, 4}})
  eq(y2:shape(), {2, 2, 3})
  eq(y2:totable()[2][1], W:totable()[3])
  local c = tensor.rng(10):randn(3, 3)
  e:zero_grad()
  local out = e(tensor.tensor({2, 5, 2})) * c
  out:sum():backward()
  local G = e.weight.grad:totable()
  local C = c:totable()
  for j = 1, 3 do
    near(G[2][j], C[1][j] + C[3][j], 1e-15)
    near(G[5][j], C[2][j], 1e-15)
    eq(G[1][j], 0); eq(G[3][j], 0); eq(G[4][j], 0)
  end
  eq(#e:parameters(), 1)
  eq(#nn.Sequential(e):layers(), 1)
end)

test("Residual adds its body's output", function()
  local g = tensor.rng(11)
  local body = nn.Sequential(nn.Linear(4, 4, {rng = g}), nn.Tanh())
  local r = nn.Residual(body)
  local x = g:randn(3, 4)
  near(r(x), x + body(x), 0)
  local names = {}
  for name in r:named_parameters() do names[#names + 1] = name end
  eq(names, {"body.1.weight", "body.1.bias"})
  -- the gradient is the identity plus the body's
  local xv = x:clone():requires_grad()
  r(xv):sum():backward()
  local gb = x:clone():requires_grad()
  body(gb):sum():backward()
  near(xv.grad, gb.grad + 1, 1e-14)
end)

test("LayerNorm normalises the last dimension", function()
  local g = tensor.rng(12)
  local ln = nn.LayerNorm(6)
  local y = ln(g:randn(4, 6) * 3 + 2)
  near(y:mean(2), tensor.zeros(4), 1e-14)
  near(y:var(2, {unbiased = false}), tensor.full({4}, 1), 1e-4)   -- eps = 1e-5
  eq(#ln:parameters(), 2)
  eq(#nn.LayerNorm(6, {affine = false}):parameters(), 0)
  eq(#nn.Sequential(ln):layers(), 0, "LayerNorm is not a weight layer")
end)

test("activations", function()
  local x = tensor.tensor({-2, -0.5, 0.5, 3})
  near(nn.ReLU()(x), {0, 0, 0.5, 3}, 0)
  near(nn.LeakyReLU()(x), {-0.02, -0.005, 0.5, 3}, 1e-15)
  near(nn.LeakyReLU(0.2)(x), {-0.4, -0.1, 0.5, 3}, 1e-15)
  near(nn.Tanh()(x), {math.tanh(-2), math.tanh(-0.5), math.tanh(0.5), math.tanh(3)}, 1e-15)
  near(nn.Sigmoid()(x):get(4), 1 / (1 + math.exp(-3)), 1e-15)
  near(nn.Softplus()(x):get(1), math.log(1 + math.exp(-2)), 1e-15)
  near(nn.GELU()(x):get(3), 0.5 * 0.5 * (1 + 0.3829249225480262), 1e-15)   -- erf(0.5/sqrt 2)
  ok(rawequal(nn.Identity()(x), x))
end)

test("SelfAttention: shapes, heads, causal masking", function()
  local g = tensor.rng(13)
  local att = nn.SelfAttention(8, 2, {rng = g})
  local x = g:randn(3, 5, 8)
  eq(att(x):shape(), {3, 5, 8})
  -- an unbatched (tokens, dim) input is the same as a batch of one
  near(att(x:select(1, 2)), att(x):select(1, 2), 1e-14)
  eq(#att:parameters(), 8)
  eq(#att:layers(), 4)
  -- permuting tokens permutes the output (no positions)
  local perm = tensor.tensor({5, 3, 1, 2, 4})
  near(att(x:index_select(2, perm)), att(x):index_select(2, perm), 1e-13)
  -- causal: token t depends only on tokens 1..t
  local c = nn.SelfAttention(8, 4, {rng = g, causal = true})
  local y1 = c(x)
  local x2 = x:clone()
  x2:select(2, 4):fill(5)                         -- change token 4
  local y2 = c(x2)
  near(y2:narrow(2, 1, 3), y1:narrow(2, 1, 3), 1e-14)
  ok(maxdiff(y2:narrow(2, 4, 2), y1:narrow(2, 4, 2)) > 1e-3)
  eq(#nn.SelfAttention(4, 1, {bias = false}):parameters(), 4)
end)

test("TransformerBlock gradients pass finite differences", function()
  local g = tensor.rng(14)
  local blk = nn.TransformerBlock(4, 2, {rng = g, mlp_ratio = 2})
  local x = g:randn(2, 3, 4):requires_grad()
  local ps = blk:parameters()
  local inputs = {x}
  for _, p in ipairs(ps) do inputs[#inputs + 1] = p end
  local okk, err, report = tensor.gradcheck(function() return blk(x) end, inputs, {tol = 1e-6})
  ok(okk, report or tostring(err))
end)

------------------------------------------------------------------------------------------
-- losses

test("losses: reductions and label checks", function()
  local g = tensor.rng(15)
  local logits, labels = g:randn(4, 3), tensor.tensor({1, 3, 2, 3})
  local none = nn.cross_entropy(logits, labels, {reduction = "none"})
  eq(none:shape(), {4})
  local lp = logits:log_softmax(2):totable()
  for i, c in ipairs{1, 3, 2, 3} do near(none:get(i), -lp[i][c], 1e-14) end
  near(nn.cross_entropy(logits, labels), val(none:mean()), 1e-14)
  near(nn.cross_entropy(logits, labels, {reduction = "sum"}), val(none:sum()), 1e-14)
  near(nn.nll(logits:log_softmax(2), labels), nn.cross_entropy(logits, labels), 1e-14)
  near(nn.cross_entropy(logits, {1, 3, 2, 3}), nn.cross_entropy(logits, labels), 0)
  local p, t = g:randn(5, 2), g:randn(5, 2)
  near(nn.mse(p, t), val(((p - t) * (p - t)):mean()), 1e-14)
  near(nn.mse(p, t, {reduction = "sum"}), val(((p - t) * (p - t)):sum()), 1e-13)
  -- "none" gives one loss per sample (row), summed over the rest -- unlike PyTorch
  local per = nn.mse(p, t, {reduction = "none"})
  eq(per:shape(), {5})
  near(per, ((p - t) * (p - t)):sum(2), 1e-14)
  local z, y = g:randn(6), tensor.tensor({0, 1, 1, 0, 1, 0})
  local zz, yy = z:totable(), y:totable()
  local want = 0
  for i = 1, 6 do
    local s = 1 / (1 + math.exp(-zz[i]))
    want = want - (yy[i] * math.log(s) + (1 - yy[i]) * math.log(1 - s))
  end
  near(nn.bce_with_logits(z, y), want / 6, 1e-14)
  raises(function() nn.cross_entropy(logits, {1, 4, 2, 3}) end, "label 4 (row 2) outside 1..3")
  raises(function() nn.cross_entropy(logits, {0, 1, 2, 3}) end, "outside 1..3")
  raises(function() nn.nll(logits, {1, 2.5, 2, 3}) end, "nll")
  raises(function() nn.cross_entropy(logits, {1, 2}) end, "cross_entropy")
  raises(function() nn.mse(p, g:randn(5, 3)) end, "mse: prediction has shape 5x2, target 5x3")
  raises(function() nn.mse(p, t, {reduction = "avg"}) end, "avg")
end)

------------------------------------------------------------------------------------------
-- bad input

test("wrong input width names the path and both shapes", function()
  local net = nn.mlp{20, 64, 64, 1, rng = tensor.rng(1)}
  raises(function() net(tensor.zeros(8, 19)) end,
         "net.layers.1 (Linear 20->64): input has 19 features, expected 20 (input shape 8x19")
  -- in the middle: a Sequential built with mismatched sizes
  local bad = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(6, 2))
  local e = raises(function() bad(tensor.zeros(3, 4)) end,
                   "net.3 (Linear 6->2): input has 8 features, expected 6 (input shape 3x8")
  ok(e:find("weight 2x6", 1, true), e)
  -- inside a custom module
  local holder = Net(tensor.rng(1))
  holder.body = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(5, 2))
  holder:parameters()        -- replaced in place: the next walk (an optimizer's) links it
  raises(function() holder(tensor.zeros(2, 3)) end,
         "net.body.3 (Linear 5->2): input has 4 features, expected 5 (input shape 2x4")
  raises(function() net(tensor.tensor(3)) end,
         "net.layers.1 (Linear 20->64): input has 0 features, expected 20 (input shape scalar")
end)

test("non-tensor input", function()
  local net = nn.mlp{3, 2, rng = tensor.rng(1)}
  raises(function() net("x") end, "net.layers.1 (Linear 3->2): input is a string, expected a tensor")
  raises(function() net({1, 2, 3}) end, "input is a table, expected a tensor")
  raises(function() nn.Sequential(nn.ReLU())(nil) end, "net.1 (ReLU): input is a nil, expected a tensor")
  raises(function() nn.LayerNorm(3)(5) end, "net (LayerNorm(3)): input is a number")
  raises(function() nn.LayerNorm(3)(tensor.zeros(2, 4)) end, "input has 4 features, expected 3")
  raises(function() nn.Dropout(0.1)(true) end, "(Dropout(0.1)): input is a boolean")
  raises(function() nn.SelfAttention(4, 2)(tensor.zeros(2, 3, 5)) end,
         "input has shape 2x3x5, expected (batch, tokens, 4) or (tokens, 4)")
  raises(function() nn.SelfAttention(4, 2)(tensor.zeros(4)) end, "input has shape 4")
  raises(function() nn.Residual(nn.Linear(1, 3))(tensor.zeros(2, 1)) end,
         "net (Residual): body maps shape 2x1 to 2x3, expected the same shape")
  local e = nn.Sequential(nn.Embedding(5, 2))
  raises(function() e(tensor.tensor({1, 6})) end, "net.1 (Embedding(5, 2)): index_select: index 6 outside 1..5")
  raises(function() e(tensor.tensor({0})) end, "index 0 outside 1..5")
  raises(function() e("a") end, "net.1 (Embedding(5, 2)): ids are a string")
end)

test("bad constructor arguments", function()
  raises(function() nn.Linear(3.5, 2) end, "nn.Linear: in must be an integer >= 0, got 3.5")
  raises(function() nn.Linear(3, -1) end, "nn.Linear: out must be an integer >= 0, got -1")
  raises(function() nn.Linear("3", 2) end, "nn.Linear: in must be an integer")
  raises(function() nn.Linear(3, 2, true) end, "nn.Linear: options must be a table, got boolean")
  raises(function() nn.Linear(3, 2, {rng = 5}) end, "nn.Linear: rng must be a generator")
  raises(function() nn.Linear(3, 2, {init = "bogus"}) end, "nn.Linear: unknown init 'bogus'")
  raises(function() nn.Dropout(1) end, "nn.Dropout: p must be in [0, 1), got 1")
  raises(function() nn.Dropout(-0.1) end, "nn.Dropout: p must be in [0, 1)")
  raises(function() nn.Dropout("a") end, "nn.Dropout: p must be in [0, 1)")
  raises(function() nn.Dropout(0.5, {rng = {}}) end, "nn.Dropout: rng must be a generator")
  raises(function() nn.LeakyReLU("x") end, "nn.LeakyReLU: slope must be a number")
  raises(function() nn.LayerNorm(0) end, "nn.LayerNorm: dim must be an integer >= 1, got 0")
  raises(function() nn.Embedding(0, 3) end, "nn.Embedding: n must be an integer >= 1")
  raises(function() nn.Embedding(3, 1.5) end, "nn.Embedding: dim must be an integer >= 1")
  raises(function() nn.SelfAttention(6, 4) end, "nn.SelfAttention: dim 6 is not divisible by 4 heads")
  raises(function() nn.SelfAttention(6, 0) end, "nn.SelfAttention: heads must be an integer >= 1")
  raises(function() nn.TransformerBlock(6, 4) end, "not divisible by 4 heads")
  raises(function() nn.TransformerBlock(4, 2, {act = "swish"}) end, "unknown activation 'swish'")
  raises(function() nn.Sequential(nn.ReLU(), 5) end, "nn.Sequential: item 2 is a number, expected a module")
  raises(function() nn.Sequential(5) end, "nn.Sequential: item 1 is a number")
  raises(function() nn.Sequential():add("x") end, "Sequential:add: expected a module, got string")
  raises(function() nn.Residual(3) end, "nn.Residual: expected a module, got number")
  raises(function() nn.mlp(3) end, "nn.mlp: expected a table of sizes and options")
  raises(function() nn.mlp{3} end, "nn.mlp: needs at least an input and an output size")
  raises(function() nn.mlp{3, 0, 1} end, "nn.mlp: size 2 must be a positive integer, got 0")
  raises(function() nn.mlp{3, "a"} end, "nn.mlp: size 2 must be a positive integer, got a")
  raises(function() nn.mlp{3, 4, act = "swish"} end, "nn: unknown activation 'swish' (known: gelu,")
  raises(function() nn.mlp{3, 4, rng = 1} end, "nn.mlp: rng must be a generator")
  raises(function() nn.deep_linear{3} end, "nn.deep_linear: needs at least")
  raises(function() nn.deep_linear{3, 2, rng = "g"} end, "nn.deep_linear: rng must be a generator")
  raises(function() nn.activation("nope") end, "unknown activation 'nope'")
  raises(function() nn.Parameter(3) end, "nn.Parameter: expected a tensor, got number")
  raises(function() nn.init.zeros(3) end, "nn.init: expected a tensor, got number")
  raises(function() nn.init.kaiming_normal("w") end, "nn.init: expected a tensor, got string")
  raises(function() nn.init.kaiming_normal(tensor.zeros(3, 3), {rng = 1}) end, "rng must be a generator")
  raises(function() nn.init.orthogonal(tensor.zeros(3)) end, "nn.init.orthogonal: needs a matrix")
  raises(function() nn.init.gain("swish") end, "nn.init.gain: unknown nonlinearity 'swish'")
  raises(function() nn.init.scale(nn.ReLU(), 2) end, "nn.init.scale: expected a layer with a weight or a tensor, got ReLU")
  raises(function() nn.init.scale(tensor.zeros(2), "x") end, "nn.init.scale: factor must be a number")
end)

test("errors point at the caller's line", function()
  local e = raises(function() nn.Linear(3.5, 2) end, "nn.Linear")
  ok(e:find("test_nn.lua", 1, true), e)
  e = raises(function() nn.mlp{3, 0} end, "nn.mlp")
  ok(e:find("test_nn.lua", 1, true), e)
  e = raises(function() nn.cross_entropy(tensor.zeros(2, 2), {1, 3}) end, "cross_entropy")
  ok(e:find("test_nn.lua", 1, true), e)
end)

------------------------------------------------------------------------------------------
-- memory

test("2000 training steps keep memory flat", function()
  local g = tensor.rng(16)
  local net = nn.mlp{8, 16, 16, 1, act = "tanh", rng = g}
  local X, Y = g:randn(32, 8), g:randn(32, 1)
  local lr = 0.01
  local function step()
    local loss = nn.mse(net(X), Y)
    net:zero_grad()
    loss:backward()
    tensor.no_grad(function()
      for _, p in ipairs(net:parameters()) do p:axpy_(-lr, p.grad) end
    end)
    return val(loss)
  end
  local first = step()
  for _ = 1, 200 do step() end
  collectgarbage(); collectgarbage()
  local before = entro.mem()
  local last
  for _ = 1, 1800 do last = step() end
  collectgarbage(); collectgarbage()
  local after = entro.mem()
  ok(last < first, string.format("loss went from %g to %g", first, last))
  ok(after - before < 64 * 1024, string.format("live memory grew from %d to %d bytes", before, after))
end)
