-- test_curvature.lua -- the Hessian tools of diag (diag/curvature.lua) and the second
-- derivatives behind them (bindings/core/double_backward.c), against independent references:
--   * a dense Hessian from second-order central differences of the LOSS VALUE itself
--     (Richardson-extrapolated; no gradient code involved), for tanh / softplus MLPs with
--     MSE and cross-entropy, and for every op with a second-derivative kernel;
--   * a quadratic ½θᵀAθ + bᵀθ built from tensor ops, whose Hessian is the known A;
--   * LAPACK's dsyev (tensor.linalg.eigvalsh) on the dense Hessian for Lanczos, Hutchinson
--     and stochastic Lanczos quadrature.
local T = tensor
local LA = T.linalg

---------------------------------------------------------------------------------------------
-- helpers

local function flat(params) return T.no_grad(diag.flatten, params) end

local function set_flat(params, v)
  T.no_grad(function()
    local parts = diag.unflatten(v, params)
    for i, p in ipairs(params) do p:copy(parts[i]) end
  end)
end

-- (in grad mode: x:sum() is a plain number under no_grad, which some test functions index)
local function value(f) return f():item() end

-- The dense Hessian of the value of f (a function of no arguments returning a scalar tensor)
-- with respect to params, by second-order central differences of the value with steps h and
-- 2h, Richardson-extrapolated (error O(h⁴) plus rounding ~1e-16·|f|/h²). Restores params.
local function fd_hessian(f, params, h)
  h = h or 1e-3
  local theta = flat(params)
  local n = theta:numel()
  local th = theta:totable()
  local f0 = value(f)
  local function at(i, di, j, dj)
    local v = theta:clone()
    v:set(i, th[i] + di)
    if j then v:set(j, v:get(j) + dj) end
    set_flat(params, v)
    return value(f)
  end
  local function d2(i, j, s)
    if i == j then return (at(i, 2 * s) - 2 * f0 + at(i, -2 * s)) / (4 * s * s) end
    return (at(i, s, j, s) - at(i, s, j, -s) - at(i, -s, j, s) + at(i, -s, j, -s)) / (4 * s * s)
  end
  local H = T.zeros(n, n)
  for i = 1, n do
    for j = i, n do
      local v = (4 * d2(i, j, h) - d2(i, j, 2 * h)) / 3
      H:set(i, j, v)
      H:set(j, i, v)
    end
  end
  set_flat(params, theta)
  return H
end

local function relerr(a, b)
  if type(a) == "table" then a = flat(a) end
  if type(b) == "table" then b = flat(b) end
  return (a - b):norm() / b:norm()
end

local function small(err, tol, what)
  ok(err <= tol, string.format("%s: relative error %.3g > %g", what, err, tol))
end

-- A small MLP with its full-batch loss closure, seeded.
local function model(spec)
  local g = T.rng(spec.seed or 1)
  local sizes = spec.sizes
  local net
  if spec.layer_norm then   -- a transformer MLP block: Linear, LayerNorm, GELU, Linear
    net = nn.Sequential(nn.Linear(sizes[1], sizes[2], {rng = g}), nn.LayerNorm(sizes[2]), nn.GELU(),
                        nn.Linear(sizes[2], sizes[3], {rng = g}))
    T.no_grad(function()   -- a LayerNorm away from its initial w = 1, b = 0
      net[2].weight:copy(g:uniform(0.5, 1.5, sizes[2]))
      net[2].bias:copy(g:uniform(-0.5, 0.5, sizes[2]))
    end)
  else
    local mspec = {act = spec.act, rng = g}
    for i, v in ipairs(sizes) do mspec[i] = v end
    net = nn.mlp(mspec)
  end
  local N = spec.n or 6
  local X = g:randn(N, sizes[1])
  local Y
  if spec.classes then
    Y = g:randint(1, sizes[#sizes], N)
  else
    Y = g:randn(N, sizes[#sizes])
  end
  local loss = spec.classes and nn.cross_entropy or nn.mse
  local f = function() return loss(net(X), Y) end
  return net, f, X, Y
end

local dense_cache = {}
-- The reference dense Hessian of a model (computed once per spec).
local function reference(key, f, params)
  if not dense_cache[key] then dense_cache[key] = fd_hessian(f, params) end
  return dense_cache[key]
end

---------------------------------------------------------------------------------------------
-- the references themselves

test("the finite-difference reference Hessian is exact on a quadratic", function()
  local g = T.rng(4)
  local M = g:randn(4, 4)
  local A = M:matmul(M:t()) + T.eye(4)
  local th = g:randn(4):requires_grad()
  local f = function() return th:matmul(A:matmul(th)) * 0.5 end
  near(fd_hessian(f, {th}), A, 1e-8)
end)

---------------------------------------------------------------------------------------------
-- Hessian-vector products

local NETS = {
  {key = "tanh-mse", sizes = {3, 4, 2}, act = "tanh", seed = 11},
  {key = "softplus-ce", sizes = {3, 3, 3}, act = "softplus", classes = true, seed = 12},
  {key = "gelu-ce", sizes = {3, 4, 3}, act = "gelu", classes = true, seed = 13},
  {key = "layernorm-gelu-mse", sizes = {3, 4, 2}, layer_norm = true, seed = 14},
}

for _, spec in ipairs(NETS) do
  test("hvp exact and fd match the dense Hessian of a " .. spec.key .. " MLP", function()
    local net, f = model(spec)
    local params = net:parameters()
    local H = reference(spec.key, f, params)
    local n = H:size(1)
    local g = T.rng(3)
    for trial = 1, 3 do
      local v = g:randn(n)
      local want = H:matmul(v)
      local hv, m = diag.hvp(f, params, v, {method = "exact"})
      eq(m, "exact")
      small(relerr(hv, want), 1e-7, "exact, flat v")
      local hvf, mf = diag.hvp(f, params, v, {method = "fd"})
      eq(mf, "fd")
      small(relerr(hvf, want), 1e-6, "fd, flat v")
      local hva, ma = diag.hvp(f, params, v)
      eq(ma, "exact", "auto picks exact when every op supports it")
      near(hva, hv, 0)
      -- a list of tensors shaped like params gives a list back
      local lv = diag.unflatten(v, params)
      local hl = diag.hvp(f, params, lv, {method = "exact"})
      eq(#hl, #params)
      for i, p in ipairs(params) do eq(hl[i]:shape(), p:shape(), "trial " .. trial) end
      small(relerr(hl, want), 1e-7, "exact, list v")
      small(relerr(diag.hvp(f, params, lv, {method = "fd", order = 4}), want), 1e-6, "fd order 4")
    end
  end)
end

test("hvp on a parameter subset is the block of the full dense Hessian", function()
  local spec = NETS[1]
  local net, f = model(spec)
  local params = net:parameters()
  local H = reference(spec.key, f, params)
  local first = net.layers[1]
  local sub = {first.weight, first.bias}          -- elements 1..16 of the flat vector
  local second = {net.layers[3].weight}            -- elements 17..24
  local g = T.rng(8)
  for _, c in ipairs{{sub, 1, 16}, {second, 17, 8}} do
    local v = g:randn(c[3])
    local block = H:narrow(1, c[2], c[3]):narrow(2, c[2], c[3])
    local want = block:matmul(v)
    small(relerr(diag.hvp(f, c[1], v, {method = "exact"}), want), 1e-7, "exact block")
    small(relerr(diag.hvp(f, c[1], v, {method = "fd"}), want), 1e-6, "fd block")
  end
  -- and the subset's dense Hessian is that block
  near(diag.hessian(f, sub), H:narrow(1, 1, 16):narrow(2, 1, 16), 1e-7)
end)

-- L = ½θᵀAθ + bᵀθ with θ = (vec P1, P2) for P1 2x3 and P2 of 4 elements, from tensor ops.
local function quadratic(seed)
  local g = T.rng(seed)
  local n = 10
  local M = g:randn(n, n)
  local A = (M + M:t()) * 0.5 + T.eye(n) * 0.5       -- symmetric, indefinite in general
  local b = g:randn(n)
  local P1 = g:randn(2, 3):requires_grad()
  local P2 = g:randn(4):requires_grad()
  local A11, A12, A22 = A:narrow(1, 1, 6):narrow(2, 1, 6), A:narrow(1, 1, 6):narrow(2, 7, 4),
                        A:narrow(1, 7, 4):narrow(2, 7, 4)
  local b1, b2 = b:narrow(1, 1, 6), b:narrow(1, 7, 4)
  local f = function()
    local p1 = P1:reshape(-1)
    local quad = p1:matmul(A11:matmul(p1)) * 0.5 + p1:matmul(A12:matmul(P2)) +
                 P2:matmul(A22:matmul(P2)) * 0.5
    return quad + p1:matmul(b1) + P2:matmul(b2)
  end
  return f, {P1, P2}, A, b
end

test("hvp of a quadratic from tensor ops is A v (exact to rounding, fd to 1e-6)", function()
  local f, params, A = quadratic(5)
  local g = T.rng(6)
  for _ = 1, 3 do
    local v = g:randn(10)
    local want = A:matmul(v)
    local hv, m = diag.hvp(f, params, v)
    eq(m, "exact")
    small(relerr(hv, want), 1e-13, "exact")
    small(relerr(diag.hvp(f, params, v, {method = "fd"}), want), 1e-6, "fd")
  end
  near(diag.hessian(f, params), A, 1e-13)
  near(diag.hessian(f, params, {method = "fd"}), A, 1e-6)
  -- the reference agrees too
  near(fd_hessian(f, params), A, 1e-8)
end)

test("diag.hessian is symmetric and matches the value-difference Hessian", function()
  local spec = NETS[2]
  local net, f = model(spec)
  local H = diag.hessian(f, net:parameters())
  near(H, H:t(), 0)
  small(relerr(H:reshape(-1), reference(spec.key, f, net:parameters()):reshape(-1)), 1e-7, "dense")
end)

test("fd hvp restores the parameters bitwise, also when the loss fails", function()
  local net, f = model(NETS[1])
  local params = net:parameters()
  local before = flat(params):totable()
  local v = T.rng(2):randn(#before)
  diag.hvp(f, params, v, {method = "fd"})
  diag.hvp(f, params, v, {method = "fd", order = 4})
  eq(flat(params):totable(), before)
  diag.hvp(f, params, v, {method = "exact"})
  eq(flat(params):totable(), before)
  local calls = 0
  local bad = function()
    calls = calls + 1
    if calls == 2 then error("loss exploded") end
    return f()
  end
  raises(function() diag.hvp(bad, params, v, {method = "fd"}) end, "loss exploded")
  eq(flat(params):totable(), before)
  -- and the .grad of the parameters is left alone by every method
  for _, p in ipairs(params) do ok(p.grad == nil, "hvp touched .grad") end
end)

test("hvp: a zero vector gives zeros; bad arguments are clear errors", function()
  local net, f = model(NETS[1])
  local params = net:parameters()
  near(diag.hvp(f, params, T.zeros(26), {method = "fd"}), T.zeros(26), 0)
  near(diag.hvp(f, params, T.zeros(26), {method = "exact"}), T.zeros(26), 0)
  raises(function() diag.hvp(f, params, T.zeros(25)) end, "v has 25 elements, the parameters 26")
  raises(function() diag.hvp(f, params, {T.zeros(12)}) end, "diag.hvp: v must be")
  raises(function() diag.hvp(f, params, T.zeros(26), {method = "magic"}) end,
         "method must be exact, fd or auto, got magic")
  raises(function() diag.hvp(f, {}, T.zeros(1)) end, "diag.hvp: params must be a non-empty list")
  raises(function() diag.hvp(f, {T.zeros(2)}, T.zeros(2)) end, "params[1] is not a leaf that requires grad")
  raises(function() diag.hvp(f, {params[1], 3}, T.zeros(2)) end, "params[2] is a number")
  raises(function() diag.hessian(f, {}) end, "diag.hessian: params must be")
end)

---------------------------------------------------------------------------------------------
-- second derivatives op by op: tensor.grad with create_graph, then the gradient of g·v,
-- against the value-difference Hessian times v

local function exact_hv(f, params, v)
  local g = T.grad(f, params, {create_graph = true})
  local parts = diag.unflatten(v, params)
  local gv
  for i = 1, #params do
    local t = (g[i] * parts[i]):sum()
    gv = gv and gv + t or t
  end
  return flat(T.grad(gv, params))
end

local R = T.rng(77)
local function P(shape, lo, hi) return R:uniform(lo or -1, hi or 1, shape):requires_grad() end
-- values with |v| in [0.3, 1.2] and random signs: away from kinks at 0
local function away(shape)
  local m = R:uniform(0.3, 1.2, shape)
  return (m * R:uniform(-1, 1, shape):sign()):requires_grad()
end
-- a fixed weighting of an output in [0.5, 1.5], so every entry counts differently
local function weigh(y)
  local w = (T.arange(y:numel()) * 1.7 + 0.3):sin():affine(0.5, 1):reshape(y:shape())
  return (y * w):sum()
end
-- the op sandwiched between nonlinearities: its kernel receives a gradient that depends on
-- the parameters, and its output gradient flows on into another second-order kernel
local function wrap(op) return function(x) return weigh(op(x:sin()):sin()) end end

local OPS = {
  {"mul", function(a, b) return weigh((a * b):sin()) end, {{2, 3}, {2, 3}}},
  {"mul broadcast", function(a, b) return weigh((a * b):tanh()) end, {{2, 3}, {3}}},
  {"div", function(a, b) return weigh((a / b):sin()) end, {{2, 3}, {2, 3}}, pos = 2},
  {"add and sub with broadcasting", function(a, b) return weigh(((a + b) * (a - b)):sin()) end,
   {{2, 3}, {1, 3}}},
  {"pow tensor ^ tensor", function(a, b) return weigh(a ^ b) end, {{2, 3}, {2, 3}}, pos = 1},
  {"pow tensor ^ number", function(a) return weigh(a ^ 3 + a ^ 0.5) end, {{2, 3}}, pos = 1},
  {"affine", function(a) return weigh(a:affine(2.5, -1):sin() * a) end, {{2, 3}}},
  {"neg", wrap(function(x) return -x end), {{2, 3}}},
  {"exp", wrap(function(x) return x:exp() end), {{2, 3}}},
  {"expm1", wrap(function(x) return x:expm1() end), {{2, 3}}},
  {"log", function(a) return weigh(a:log():sin() * a:sqrt()) end, {{2, 3}}, pos = 1},
  {"log1p", function(a) return weigh(a:log1p():square()) end, {{2, 3}}, pos = 1},
  {"sqrt", function(a) return weigh(a:sqrt() * a:sin()) end, {{2, 3}}, pos = 1},
  {"tanh", wrap(function(x) return x:tanh() end), {{2, 3}}},
  {"sigmoid", wrap(function(x) return x:sigmoid() end), {{2, 3}}},
  {"softplus", wrap(function(x) return x:softplus() end), {{2, 3}}},
  {"gelu", wrap(function(x) return x:gelu() end), {{2, 3}}},
  {"square", wrap(function(x) return x:square() end), {{2, 3}}},
  {"reciprocal", function(a) return weigh(a:reciprocal():sin()) end, {{2, 3}}, pos = 1},
  {"sin and cos", function(a) return weigh(a:sin() * a:cos()) end, {{2, 3}}},
  {"relu", function(a) return weigh(a:relu():square() * a:sin()) end, {{2, 3}}, away = true},
  {"abs", function(a) return weigh(a:abs() * a:sin()) end, {{2, 3}}, away = true},
  {"leaky_relu", function(a) return weigh(a:leaky_relu(0.1):square() * a) end, {{2, 3}}, away = true},
  {"clamp", function(a) return weigh(a:clamp(-0.6, 0.6):square() * a:sin()) end, {{3, 4}}, clamp = true},
  {"sign, floor, ceil and round (piecewise constant)",
   function(a) return weigh((a:sign() + a:floor() + a:ceil() + (a * 3):round()) * a:square()) end,
   {{2, 3}}, values = {{{0.35, -0.62, 0.7}, {-0.4, 0.9, -1.1}}}},   -- away from every jump
  {"matmul 2-d", function(a, b) return weigh(a:matmul(b):sin()) end, {{2, 3}, {3, 2}}},
  {"matmul vector cases", function(a, b, v)
     return weigh(a:matmul(v):sin()) + weigh(v:matmul(b):tanh()) + (v:matmul(v)):sin()
   end, {{2, 3}, {3, 2}, {3}}},
  {"matmul batched", function(a, b) return weigh(a:matmul(b):sin()) end, {{2, 2, 3}, {3, 2}}},
  {"matmul batched on the right and on both sides", function(a, b, c)
     return weigh(a:matmul(b):sin()) + weigh(b:matmul(c):tanh())
   end, {{2, 3}, {2, 3, 2}, {2, 2, 2}}},
  {"matmul batched times a vector", function(a, v) return weigh(a:matmul(v):sin()) end, {{2, 2, 3}, {3}}},
  {"linear", function(x, w, b) return weigh(T.linear(x:sin(), w, b):tanh()) end,
   {{4, 3}, {2, 3}, {2}}},
  {"linear on a 3-d input", function(x, w) return weigh(T.linear(x, w):sin()) end,
   {{2, 2, 3}, {2, 3}}},
  {"layer_norm with weight and bias", function(x, w, b) return weigh(T.layer_norm(x:sin(), w, b):sin()) end,
   {{3, 4}, {4}, {4}}},
  {"layer_norm on a 3-d input, no affine", function(x) return weigh(T.layer_norm(x:sin()):tanh()) end,
   {{2, 2, 3}}},
  {"where, with broadcasting", function(a, b)
     local cond = T.tensor{{1, 0, 1}, {0, 1, 0}}:gt(0)
     return weigh(T.where(cond, a:sin() * b, (b * a):cos()):sin()) + weigh(T.where(cond, a:square(), b:exp()))
   end, {{2, 3}, {3}}},
  {"softmax", function(a) return weigh(a:softmax(2):sin()) end, {{2, 4}}},
  {"softmax over dim 1", function(a) return weigh(T.softmax(a, 1):square()) end, {{3, 2}}},
  {"log_softmax", function(a) return weigh(a:log_softmax():sin()) end, {{2, 4}}},
  {"cross_entropy", function(a) return T.cross_entropy(a:sin() * 2, T.tensor{2, 1, 3}) end, {{3, 3}}},
  {"cross_entropy sum and none", function(a)
     return T.cross_entropy(a, T.tensor{3, 1}, {reduction = "sum"}) +
            weigh(T.cross_entropy(a * a, T.tensor{1, 2}, {reduction = "none"}))
   end, {{2, 3}}},
  {"nll", function(a) return T.nll(a:log_softmax(), T.tensor{2, 3}) + T.nll(a:sin(), T.tensor{1, 1}) end,
   {{2, 3}}},
  {"mse (pred and target)", function(a, b) return T.mse(a:tanh(), b:sin() * b) end, {{3, 2}, {3, 2}}},
  {"mse sum and none", function(a, b)
     return T.mse(a:sin(), b, {reduction = "sum"}) + weigh(T.mse(a * b, b:cos(), {reduction = "none"}))
   end, {{3, 2}, {3, 2}}},
  {"mse none on 1-d and 3-d", function(a, b)
     return weigh(T.mse(a:sin(), b, {reduction = "none"})) +
            weigh(T.mse((a * b):reshape(3, 1, 2), b:cos():reshape(3, 1, 2), {reduction = "none"}))
   end, {{6}, {6}}},
  {"sum and mean, all and along a dim", function(a)
     return (a:sin():sum() + a:square():mean()):sin() + weigh(a:sin():sum(2):square()) +
            weigh(a:cos():mean(1, true):exp()) + weigh(a:square():sum(1):sin())
   end, {{2, 3}}},
  {"reshape, view, permute, transpose, expand", function(a)
     local b = a:sin()
     return weigh(b:reshape(3, 2):square()) + weigh(b:view(6):exp()) +
            weigh(b:permute(2, 1):tanh()) + weigh(b:t():sin()) +
            weigh(b:reshape(2, 3, 1):expand(2, 3, 4):sin() * b:sum())
   end, {{2, 3}}},
  {"clone", wrap(function(x) return x:clone() end), {{2, 3}}},
}

for _, c in ipairs(OPS) do
  test("second derivatives of " .. c[1] .. " match the dense Hessian", function()
    local params = {}
    for i, shape in ipairs(c[3]) do
      if c.values then params[i] = T.tensor(c.values[i]):requires_grad()
      elseif c.pos == i then params[i] = P(shape, 0.5, 1.5)
      elseif c.away then params[i] = away(shape)
      elseif c.clamp then params[i] = away(shape)
      else params[i] = P(shape) end
    end
    if c.clamp then   -- keep away from the bounds ±0.6 as well
      T.no_grad(function()
        local p = params[1]
        p:copy(T.where(p:abs():gt(0.5):mul(p:abs():lt(0.7)), p * 1.6, p))
      end)
    end
    local f = function() return c[2](table.unpack(params)) end
    -- the recorded backward computes the same gradient as the plain one
    local g1 = T.grad(f, params, {create_graph = true})
    local g0 = T.grad(f, params)
    near(flat(g1), flat(g0), 1e-14)
    local H = fd_hessian(f, params, 1e-3)
    local n = H:size(1)
    local g = T.rng(#c[1])
    for _ = 1, 2 do
      local v = g:randn(n)
      local want = H:matmul(v)
      local hv = exact_hv(f, params, v)
      if want:norm() < 1e-9 then
        near(hv, want, 1e-8)
      else
        small(relerr(hv, want), 1e-6, c[1])
      end
    end
  end)
end

test("ReLU's second derivative is exactly zero (no kink-crossing garbage)", function()
  local x, y = away{3, 4}, away{3, 4}
  local f = function() return (x:relu() * y):sum() end
  local v = T.rng(1):randn(24)
  local hv = exact_hv(f, {x, y}, v)
  -- H = [[0, diag(x > 0)], [diag(x > 0), 0]]: only the mixed block
  local m = T.no_grad(function() return x:gt(0):reshape(-1) end)
  near(hv, T.cat({v:narrow(1, 13, 12) * m, v:narrow(1, 1, 12) * m}, 1), 0)
  -- a loss whose gradient is constant in the parameters has a zero Hessian, not an error
  local hz, how = diag.hvp(function() return x:relu():sum() end, {x}, v:narrow(1, 1, 12))
  eq(how, "exact")
  near(hz, T.zeros(12), 0)
  near(diag.hvp(function() return (x * y:detach()):sum() end, {x}, v:narrow(1, 1, 12)), T.zeros(12), 0)
end)

test("hvp of transformer blocks (layer norm, attention, causal mask, GELU) is exact", function()
  local g = T.rng(41)
  for _, causal in ipairs{false, true} do
    local net = nn.Sequential(nn.TransformerBlock(4, 2, {rng = g, causal = causal}), nn.Linear(4, 2, {rng = g}))
    local X, Y = g:randn(2, 3, 4), g:randn(2, 3, 2)
    local f = function() return nn.mse(net(X), Y) end
    for _ = 1, 2 do
      local v = g:randn(net:num_parameters())
      local hv, m = diag.hvp(f, net:parameters(), v)
      eq(m, "exact", "causal = " .. tostring(causal))
      small(relerr(hv, diag.hvp(f, net:parameters(), v, {method = "fd", order = 4})), 1e-6,
            "causal = " .. tostring(causal))
    end
  end
end)

test("ops without a second derivative say so, and hvp's auto method falls back to fd", function()
  local g = T.rng(21)
  local X, Y = g:randn(5, 3), g:randn(5, 2)
  local cases = {   -- maximum has no second-derivative kernel
    {"maximum", nn.Sequential(nn.Linear(3, 3, {rng = g}), nn.Tanh(), nn.Linear(3, 2, {rng = g}))},
  }
  for _, c in ipairs(cases) do
    local net = c[2]
    local params = net:parameters()
    local f = function() return nn.mse(net(X):maximum(Y * 0.5), Y) end
    raises(function() T.grad(f, params, {create_graph = true}) end, "no second derivative")
    local err = raises(function() diag.hvp(f, params, T.ones(net:num_parameters()), {method = "exact"}) end,
                       "no second derivative")
    ok(err:find(c[1], 1, true), "the message names the op: " .. err)
    local v = g:randn(net:num_parameters())
    local hv, m = diag.hvp(f, params, v)
    eq(m, "fd", c[1])
    small(relerr(hv, fd_hessian(f, params):matmul(v)), 1e-6, c[1] .. " fd fallback")
    local s = diag.sharpness(f, params, {maxiter = 3, rng = T.rng(1)})
    eq(s.method, "fd")
  end
  -- a failed create_graph backward leaves grad mode on and plain backward working
  ok(T.is_grad_enabled())
  local net = cases[1][2]
  local loss = nn.mse(net(X), Y)
  net:zero_grad()
  loss:backward()
  ok(net:parameters()[1].grad ~= nil)
end)

---------------------------------------------------------------------------------------------
-- sharpness (Lanczos) against dsyev

test("sharpness: top-k Lanczos eigenvalues equal dsyev's on the dense Hessian", function()
  for _, spec in ipairs(NETS) do
    local net, f = model(spec)
    local params = net:parameters()
    local H = diag.hessian(f, params)
    local n = H:size(1)
    local w = LA.eigvalsh(H):totable()         -- ascending
    local s = diag.sharpness(f, params, {k = 3, maxiter = n, rng = T.rng(9), vectors = true})
    eq(s.method, "exact")
    eq(#s.values, 3)
    local scale = math.max(math.abs(w[1]), math.abs(w[n]))
    for i = 1, 3 do
      ok(math.abs(s.values[i] - w[n - i + 1]) <= 1e-8 * scale,
         string.format("%s lambda_%d: %.15g vs dsyev %.15g", spec.key, i, s.values[i], w[n - i + 1]))
      local v = s.vectors[i]
      near(v:norm(), 1, 1e-10)
      local r = (H:matmul(v) - v * s.values[i]):norm()
      ok(r <= 1e-7 * scale, string.format("||Hv - lambda v|| = %.3g", r))
      for j = 1, i - 1 do ok(math.abs(v:dot(s.vectors[j])) < 1e-8, "eigenvectors orthogonal") end
    end
    eq(s.max, s.values[1])
    -- the largest eigenvalue is also the top one agrees with the value-difference Hessian
    local wf = LA.eigvalsh(reference(spec.key, f, params)):totable()
    near(s.values[1], wf[n], 1e-7)
  end
end)

test("sharpness: residual bounds are the true residuals; tol stops early", function()
  local net, f = model(NETS[1])
  local params = net:parameters()
  local H = diag.hessian(f, params)
  local w = LA.eigvalsh(H):totable()
  local s = diag.sharpness(f, params, {k = 2, maxiter = 8, rng = T.rng(3), vectors = true})
  eq(s.iterations, 8)
  for i = 1, 2 do
    local v = s.vectors[i]
    local r = (H:matmul(v) - v * s.values[i]):norm()
    ok(s.residuals[i] > 0, "an unconverged Ritz pair has a residual")
    near(s.residuals[i], r, 1e-7 * math.abs(w[#w]))
    ok(s.values[i] <= w[#w - i + 1] + 1e-10, "Ritz values lie below the eigenvalues they approach")
  end
  -- with tol the iteration stops as soon as the top k are converged
  local st = diag.sharpness(f, params, {k = 2, maxiter = 26, tol = 1e-9, rng = T.rng(3)})
  ok(st.iterations < 26, "tol should stop before the full Krylov space, took " .. st.iterations)
  for i = 1, 2 do
    ok(st.residuals[i] <= 1e-9 * math.abs(st.values[i]), "residual within tol")
    near(st.values[i], w[#w - i + 1], 1e-8)
  end
  -- full Krylov space: the residuals vanish
  local sf = diag.sharpness(f, params, {maxiter = 26, rng = T.rng(3)})
  ok(sf.residuals[1] < 1e-8 * math.abs(w[#w]), "full-space residual " .. sf.residuals[1])
end)

test("sharpness: an early invariant subspace ends Lanczos cleanly", function()
  -- H = diag(3, 3, 1, 1) from a start with components in both eigenspaces: 2 steps
  local th = T.tensor{0.1, 0.2, 0.3, 0.4}:requires_grad()
  local d = T.tensor{3, 3, 1, 1}
  local f = function() return (th * th * d):sum() * 0.5 end
  local s = diag.sharpness(f, {th}, {k = 2, maxiter = 4, rng = T.rng(1)})
  eq(s.iterations, 2)
  near(s.values[1], 3, 1e-12)
  near(s.values[2], 1, 1e-12)
  local s1 = diag.sharpness(f, {th}, {k = 3, maxiter = 4, rng = T.rng(1)})
  eq(#s1.values, 2, "only as many values as the Krylov space holds")
end)

test("sharpness: a run after another (whose basis it reuses) gives the same bits as a fresh one", function()
  local g = T.rng(31)
  local net = nn.mlp{5, 9, 3, act = "tanh", rng = g}
  local X, Y = g:randn(20, 5), g:randn(20, 3)
  local f = function() return nn.mse(net(X), Y) end
  local other = nn.mlp{4, 3, 1, act = "tanh", rng = g}   -- another size: a fresh basis after it
  local fo = function() return nn.mse(other(X:narrow(2, 1, 4)), Y:narrow(2, 1, 1)) end
  local function run(maxiter)
    local s = diag.sharpness(f, net:parameters(), {k = 2, maxiter = maxiter, rng = T.rng(5), vectors = true})
    return {s.values[1], s.values[2], s.residuals[1], s.vectors[1]}
  end
  diag.sharpness(fo, other:parameters(), {maxiter = 6, rng = T.rng(1)})
  local fresh = run(10)
  run(25)                 -- leaves a bigger basis of the same width, full of its vectors
  local again = run(10)
  for i = 1, 3 do eq(again[i], fresh[i], "value " .. i) end
  eq((again[4] - fresh[4]):abs():max(), 0, "vector")
  diag.spectral_density(f, net:parameters(), {steps = 25, probes = 1, rng = T.rng(2)})
  eq(run(10)[1], fresh[1], "after a spectral density")
end)

test("flatten and unflatten: round trip and clear errors", function()
  local params = {T.tensor{{1, 2}, {3, 4}}, T.tensor{5, 6, 7}}
  local v = diag.flatten(params)
  eq(v:totable(), {1, 2, 3, 4, 5, 6, 7})
  local back = diag.unflatten(v, params)
  eq(back[1]:totable(), {{1, 2}, {3, 4}})
  eq(back[2]:totable(), {5, 6, 7})
  raises(function() diag.flatten(3) end, "diag.flatten: list must be a non-empty list of tensors, got number")
  raises(function() diag.flatten({}) end, "diag.flatten: list must be a non-empty list of tensors")
  raises(function() diag.flatten({T.ones(2), 5}) end, "diag.flatten: list[2] is a number, expected a tensor")
  raises(function() diag.unflatten(T.ones(6), params) end, "diag.unflatten: v must be a vector of the parameters' 7 elements, got shape 6")
  raises(function() diag.unflatten(nil, params) end, "got nil")
  raises(function() diag.unflatten(v, "p") end, "diag.unflatten: params must be a non-empty list of tensors")
end)

test("sharpness: bad arguments", function()
  local net, f = model(NETS[1])
  local params = net:parameters()
  raises(function() diag.sharpness(f, params, {k = 0}) end, "k must be an integer in 1..26, got 0")
  raises(function() diag.sharpness(f, params, {k = 27}) end, "k must be an integer in 1..26")
  raises(function() diag.sharpness(f, params, {maxiter = 0}) end, "maxiter must be a positive integer")
  raises(function() diag.sharpness(f, params, {tol = -1}) end, "tol must be a positive number")
  raises(function() diag.sharpness(f, {}, {}) end, "diag.sharpness: params must be")
end)

---------------------------------------------------------------------------------------------
-- Hutchinson's trace

test("hessian_trace: the mean lies within 4 standard errors of the dense trace", function()
  local spec = NETS[1]
  local net, f = model(spec)
  local params = net:parameters()
  local H = diag.hessian(f, params)
  local n = H:size(1)
  local tr = 0
  for i = 1, n do tr = tr + H:get(i, i) end
  local m25, se25 = diag.hessian_trace(f, params, {samples = 25, rng = T.rng(1)})
  local m400, se400 = diag.hessian_trace(f, params, {samples = 400, rng = T.rng(2)})
  ok(math.abs(m25 - tr) <= 4 * se25, string.format("25: %.6g vs %.6g (se %.3g)", m25, tr, se25))
  ok(math.abs(m400 - tr) <= 4 * se400, string.format("400: %.6g vs %.6g (se %.3g)", m400, tr, se400))
  ok(se400 < se25 / 2, string.format("se shrinks as 1/sqrt(samples): %.3g vs %.3g", se400, se25))
  -- the standard error estimates the known spread: Var(zᵀHz) = 2 Σ_{i≠j} H_ij² for Rademacher z
  local off = 0
  for i = 1, n do for j = 1, n do if i ~= j then off = off + H:get(i, j) ^ 2 end end end
  local sd = se400 * math.sqrt(400)
  ok(math.abs(sd / math.sqrt(2 * off) - 1) < 0.25,
     string.format("sample sd %.4g vs theory %.4g", sd, math.sqrt(2 * off)))
end)

test("hessian_trace: exact with zero error for a diagonal Hessian", function()
  local th = T.tensor{0.5, -1, 2}:requires_grad()
  local d = T.tensor{2, -3, 7}
  local f = function() return (th:square() * d):sum() * 0.5 end
  local m, se = diag.hessian_trace(f, {th}, {samples = 10, rng = T.rng(1)})
  near(m, 6, 1e-13)
  near(se, 0, 1e-13)
  raises(function() diag.hessian_trace(f, {th}, {samples = 1}) end, "samples must be an integer >= 2")
end)

---------------------------------------------------------------------------------------------
-- stochastic Lanczos quadrature

test("spectral_density: weights sum to 1, nodes are the spectrum, moments are exact", function()
  local spec = NETS[1]   -- (the cross-entropy net has a 4-fold zero eigenvalue: fewer nodes)
  local net, f = model(spec)
  local params = net:parameters()
  local H = diag.hessian(f, params)
  local n = H:size(1)
  local w = LA.eigvalsh(H)
  local probes = 8
  local sd = diag.spectral_density(f, params, {steps = n, probes = probes, rng = T.rng(5)})
  local total = 0
  for _, x in ipairs(sd.weights) do total = total + x end
  near(total, 1, 1e-12)
  eq(#sd.nodes, n * probes, "no early breakdown expected on a random start")
  -- each probe's nodes are all the eigenvalues
  local scale = math.max(math.abs(w:get(1)), math.abs(w:get(n)))
  for p = 1, probes do
    local nodes = {}
    for j = 1, n do nodes[j] = sd.nodes[(p - 1) * n + j] end
    table.sort(nodes)
    near(T.tensor(nodes), w, 1e-8 * scale)
  end
  -- the quadrature is exact for polynomials: Σ w θ^k = (1/P) Σ_p q_pᵀ H^k q_p, with the same
  -- probes q_p drawn from the same generator (normalised Gaussians)
  local g = T.rng(5)
  local qs = {}
  for p = 1, probes do local q = g:randn(n); qs[p] = q * (1 / q:norm()) end
  local Hk = T.eye(n)
  for k = 1, 4 do
    Hk = Hk:matmul(H)
    local quad = 0
    for j, t in ipairs(sd.nodes) do quad = quad + sd.weights[j] * t ^ k end
    local direct, per = 0, {}
    for p = 1, probes do per[p] = qs[p]:dot(Hk:matmul(qs[p])); direct = direct + per[p] / probes end
    near(quad, direct, 1e-9 * scale ^ k)
    -- and, over probes, it estimates (1/n) tr(H^k): within 4 standard errors
    local tr = 0
    for i = 1, n do tr = tr + Hk:get(i, i) end
    local var = 0
    for p = 1, probes do var = var + (per[p] - direct) ^ 2 end
    local se = math.sqrt(var / (probes - 1) / probes)
    ok(math.abs(quad - tr / n) <= 4 * se + 1e-12,
       string.format("moment %d: %.6g vs tr/n %.6g (se %.3g)", k, quad, tr / n, se))
  end
  -- the smoothed density integrates to about 1
  local lo, hi = w:get(1) - 1, w:get(n) + 1
  local xs, m = {}, 2000
  for i = 0, m do xs[i + 1] = lo + (hi - lo) * i / m end
  local dens = sd.density(xs, 0.05)
  local integral = 0
  for i = 1, m do integral = integral + (dens[i] + dens[i + 1]) / 2 * (hi - lo) / m end
  near(integral, 1, 1e-6)
end)

test("spectral_density: bad arguments", function()
  local net, f = model(NETS[1])
  raises(function() diag.spectral_density(f, net:parameters(), {steps = 0}) end,
         "diag.spectral_density: steps must be a positive integer")
  raises(function() diag.spectral_density(f, net:parameters(), {probes = 0}) end,
         "diag.spectral_density: probes must be a positive integer")
end)

---------------------------------------------------------------------------------------------
-- edge of stability

test("edge_of_stability: 2/lr, 2(1+beta)/lr, and clear errors", function()
  near(diag.edge_of_stability(0.1), 20, 1e-15)
  near(diag.edge_of_stability(0.02), 100, 1e-15)
  near(diag.edge_of_stability(0.1, {momentum = 0.9}), 38, 1e-14)
  near(diag.edge_of_stability(0.5, {momentum = 0}), 4, 1e-15)
  raises(function() diag.edge_of_stability(0) end, "lr must be a positive number, got 0")
  raises(function() diag.edge_of_stability(-1) end, "lr must be a positive number")
  raises(function() diag.edge_of_stability("x") end, "lr must be a positive number, got x")
  raises(function() diag.edge_of_stability(0.1, {momentum = 1}) end, "momentum must be in [0, 1), got 1")
  raises(function() diag.edge_of_stability(0.1, {momentum = -0.1}) end, "momentum must be in [0, 1)")
  raises(function() diag.edge_of_stability(0.1, 0.9) end, "options must be a table")
end)

test("flatten and unflatten round-trip and unflatten gives views", function()
  local a, b = T.rng(1):randn(2, 3), T.rng(2):randn(4)
  local v = diag.flatten{a, b}
  eq(v:numel(), 10)
  local parts = diag.unflatten(v, {a, b})
  near(parts[1], a, 0)
  near(parts[2], b, 0)
  parts[2]:fill(7)
  eq(v:get(10), 7)
end)

test("narrow, select, cat and stack have exact second derivatives (the embed op)", function()
  local g = tensor.rng(11)
  local p = g:randn(6):requires_grad()
  local f = function()
    local a, b = p:narrow(1, 1, 3), p:select(1, 5)
    return tensor.cat({a:tanh() * b, a:sin()}, 1):pow(2):sum() + tensor.stack({b, b}, 1):exp():sum()
  end
  local v = g:randn(6)
  local hv, method = diag.hvp(f, {p}, v, {method = "exact"})
  eq(method, "exact")
  local hf = diag.hvp(f, {p}, v, {method = "fd", order = 4})
  near(hv, hf, 1e-7)
  -- the embed op's own backward is the view again: a third derivative exists through it
  local gr = tensor.grad(f, {p}, {create_graph = true})[1]
  eq(gr.grad_fn ~= nil, true)
end)
