-- test_autograd.lua -- reverse-mode autograd: every differentiable op against central
-- differences (tensor.gradcheck, float64, relative error <= 1e-6), the tape's semantics
-- (accumulation, retain_graph, detach, no_grad, tensor.grad), its error messages, the
-- in-place checks, memory, and agreement with PyTorch on small fixed networks.
local T = tensor
local R = T.rng(20240611)

-- a parameter with uniform values in [lo, hi)
local function P(shape, lo, hi) return R:uniform(lo or -1, hi or 1, shape):requires_grad() end
-- a parameter whose values have |v| in [lo, hi] and random signs: away from kinks at 0
local function away(shape, lo, hi)
  local m = R:uniform(lo or 0.2, hi or 1.5, shape)
  local s = R:uniform(-1, 1, shape):sign()
  return (m * s):requires_grad()
end
-- a parameter whose values stay at least 0.1 from every integer and half-integer
local function offgrid(shape)
  local base = R:uniform(-3, 3, shape):floor()
  local frac = R:uniform(0.1, 0.4, shape)
  local half = R:uniform(0, 1, shape):round():mul(0.5)
  return (base + frac + half):requires_grad()
end
local function check(f, inputs, tol)
  local okk, worst, report = T.gradcheck(f, inputs, {tol = tol or 1e-6})
  ok(okk, report)
  ok(worst == worst, "gradcheck error is NaN")
end

---------------------------------------------------------------------------------------------
-- gradients of elementwise maps
---------------------------------------------------------------------------------------------

local UNARY = {   -- name, input maker
  {"neg", function() return P{3, 4} end},
  {"exp", function() return P{3, 4} end},
  {"log", function() return P({3, 4}, 0.3, 2) end},
  {"sqrt", function() return P({3, 4}, 0.3, 2) end},
  {"abs", function() return away{3, 4} end},
  {"sign", function() return away{3, 4} end},
  {"tanh", function() return P({3, 4}, -2, 2) end},
  {"sigmoid", function() return P({3, 4}, -3, 3) end},
  {"relu", function() return away{3, 4} end},
  {"sin", function() return P({3, 4}, -3, 3) end},
  {"cos", function() return P({3, 4}, -3, 3) end},
  {"floor", function() return offgrid{3, 4} end},
  {"ceil", function() return offgrid{3, 4} end},
  {"round", function() return offgrid{3, 4} end},
  {"reciprocal", function() return away({3, 4}, 0.3, 2) end},
  {"square", function() return P{3, 4} end},
  {"log1p", function() return P({3, 4}, -0.7, 2) end},
  {"expm1", function() return P{3, 4} end},
  {"softplus", function() return P({3, 4}, -4, 4) end},
  {"gelu", function() return P({3, 4}, -3, 3) end},
}

for _, u in ipairs(UNARY) do
  local name, make = u[1], u[2]
  test("gradcheck " .. name, function()
    check(function(x) return x[name](x) end, {make()})
    -- also as a module function, on a non-contiguous view
    check(function(x) return T[name](x:t()) end, {make()})
  end)
end

test("gradcheck unary minus, affine, clamp and leaky_relu", function()
  check(function(x) return -x end, {P{3, 4}})
  check(function(x) return x:affine(2.5, -1) end, {P{3, 4}})
  check(function(x) return x:affine(-0.5) end, {P{3, 4}})
  -- clamp: values kept at least 0.1 away from the bounds, some on each side
  local x = T.tensor{{-1.2, -0.3, 0.2, 0.9}, {0.65, -0.7, 1.4, 0.0}}:requires_grad()
  check(function(a) return a:clamp(-0.5, 0.5) end, {x})
  check(function(a) return a:clamp(-0.5) end, {x})
  check(function(a) return a:clamp(nil, 0.5) end, {x})
  check(function(a) return a:leaky_relu(0.1) end, {away{3, 4}})
  check(function(a) return a:leaky_relu() end, {away{3, 4}})
end)

test("clamp passes the gradient inside the bounds and blocks it outside", function()
  local x = T.tensor{-2, -0.5, 0.25, 3}:requires_grad()
  x:clamp(-1, 1):sum():backward()
  eq(x.grad:totable(), {0, 1, 1, 0})
end)

-- binary ops on (3,4) with a second operand of shape (3,4), (4), (3,1) and (1): the
-- gradient of a broadcast operand is reduced back to its own shape
local BSHAPES = {{3, 4}, {4}, {3, 1}, {1}, {2, 3, 4}}
local BINARY = {   -- name, maker of a, maker of b (given a shape)
  {"add", function(s) return P(s) end, function(s) return P(s) end},
  {"sub", function(s) return P(s) end, function(s) return P(s) end},
  {"mul", function(s) return P(s) end, function(s) return P(s) end},
  {"div", function(s) return away(s, 0.5, 2) end, function(s) return away(s, 0.5, 2) end},
  {"pow", function(s) return P(s, 0.3, 2) end, function(s) return P(s, 0.3, 2) end},
  {"maximum", function(s) return P(s, -1, 1) end, function(s) return P(s, -1, 1) end},
  {"minimum", function(s) return P(s, -1, 1) end, function(s) return P(s, -1, 1) end},
  {"atan2", function(s) return P(s) end, function(s) return away(s, 0.3, 1) end},
  -- a/b in [1.375, 1.86] and b/a in [0.53, 0.73]: away from the jumps at integers
  {"fmod", function(s) return P(s, 1.1, 1.3) end, function(s) return P(s, 0.7, 0.8) end},
}

for _, b in ipairs(BINARY) do
  local name, ma, mb = b[1], b[2], b[3]
  test("gradcheck " .. name .. " with broadcasting", function()
    for _, sb in ipairs(BSHAPES) do
      local a, bb = ma{3, 4}, mb(sb)
      check(function(x, y) return x[name](x, y) end, {a, bb})
      check(function(x, y) return T[name](y, x) end, {bb, a})
    end
  end)
end

test("fmod has gradient -trunc(a/b) for b", function()
  local a = T.tensor{3.5, -3.5, 1.2}:requires_grad()
  local b = T.tensor{1.5, 1.5, 2.0}:requires_grad()
  a:fmod(b):sum():backward()
  eq(a.grad:totable(), {1, 1, 1})
  eq(b.grad:totable(), {-2, 2, -0})
end)

test("gradcheck tensor-number and number-tensor arithmetic", function()
  local x = P({3, 4}, 0.3, 2)
  check(function(a) return a + 2 end, {x})
  check(function(a) return 2 + a end, {x})
  check(function(a) return a - 2 end, {x})
  check(function(a) return 2 - a end, {x})
  check(function(a) return a * 3 end, {x})
  check(function(a) return 3 * a end, {x})
  check(function(a) return a / 3 end, {x})
  check(function(a) return 3 / a end, {x})
  check(function(a) return a ^ 3 end, {x})
  check(function(a) return a ^ 2 end, {x})
  check(function(a) return a ^ 0.5 end, {x})
  check(function(a) return a ^ -1.5 end, {x})
  check(function(a) return 2 ^ a end, {x})
  check(function(a) return 0.5 ^ a end, {x})
  check(function(a) return a:pow(2.5) end, {x})
  check(function(a) return a:maximum(1) end, {x})
  check(function(a) return a:minimum(1) end, {x})
  check(function(a) return a:atan2(0.5) end, {x})
  check(function(a) return a:fmod(0.7) end, {P({3, 4}, 0.8, 1.3)})
  check(function(a) return a:pow(-2) end, {x})
end)

test("x^0 has zero gradient and a tensor raised to itself is differentiated twice", function()
  local x = T.tensor{0.5, 2}:requires_grad()
  local y = x ^ 0
  y:sum():backward()
  eq(x.grad:totable(), {0, 0})
  check(function(a) return a ^ a end, {P({5}, 0.3, 2)})
end)

test("gradcheck where, with broadcasting and numbers", function()
  local c = T.tensor{{1, 0, 1, 0}, {0, 0, 1, 1}, {1, 1, 0, 0}}
  check(function(a, b) return T.where(c, a, b) end, {P{3, 4}, P{3, 4}})
  check(function(a, b) return T.where(c, a, b) end, {P{4}, P{3, 1}})
  check(function(a) return T.where(c, a, 0.5) end, {P{3, 4}})
  check(function(b) return T.where(c, -1, b) end, {P{1, 4}})
  local a = P{3, 4}
  T.where(c, a, 2):sum():backward()
  eq(a.grad:totable(), c:totable())
end)

---------------------------------------------------------------------------------------------
-- reductions
---------------------------------------------------------------------------------------------

local REDUCE = {   -- name, extra leading args, input maker
  {"sum", {}, function() return P{2, 3, 4} end},
  {"mean", {}, function() return P{2, 3, 4} end},
  {"prod", {}, function() return away({2, 3, 4}, 0.5, 1.5) end},
  {"max", {}, function() return P{2, 3, 4} end},
  {"min", {}, function() return P{2, 3, 4} end},
  {"var", {}, function() return P{2, 3, 4} end},
  {"std", {}, function() return P{2, 3, 4} end},
  {"logsumexp", {}, function() return P{2, 3, 4} end},
  {"norm", {1}, function() return away{2, 3, 4} end},
  {"norm", {2}, function() return P{2, 3, 4} end},
  {"norm", {3}, function() return away{2, 3, 4} end},
  {"norm", {"inf"}, function() return P{2, 3, 4} end},
}

for _, r in ipairs(REDUCE) do
  local name, extra, make = r[1], r[2], r[3]
  local label = name .. (extra[1] and ("(p=" .. tostring(extra[1]) .. ")") or "")
  test("gradcheck " .. label .. " over all elements and along each dim", function()
    local function call(x, ...)
      local args = {table.unpack(extra)}
      for _, v in ipairs{...} do args[#args + 1] = v end
      return x[name](x, table.unpack(args))
    end
    check(function(x) return call(x) end, {make()})
    for d = 1, 3 do
      for _, keep in ipairs{false, true} do
        check(function(x) return (call(x, d, keep)) end, {make()})
      end
      check(function(x) return (call(x, -d)) end, {make()})
    end
    -- on a non-contiguous view
    check(function(x) return (call(x:transpose(1, 3), 2)) end, {make()})
    check(function(x) return call(x:permute(3, 1, 2)) end, {make()})
  end)
end

test("gradcheck prod through exact zeros", function()
  check(function(x) return x:prod() end, {T.tensor{0, 2, -1.5, 3}:requires_grad()})
  check(function(x) return x:prod() end, {T.tensor{0, 2, 0, 3}:requires_grad()})
  check(function(x) return x:prod(2) end, {T.tensor{{0, 2, 3}, {1, 0.5, 4}}:requires_grad()})
  local x = T.tensor{0, 2, 3}:requires_grad()
  x:prod():backward()
  eq(x.grad:totable(), {6, 0, 0})
end)

test("gradcheck binary ops where both operands broadcast", function()
  for _, name in ipairs{"add", "sub", "mul", "div", "pow", "maximum", "atan2"} do
    check(function(a, b) return a[name](a, b) end, {P({3, 1}, 0.5, 2), P({1, 4}, 0.5, 2)})
    check(function(a, b) return a[name](a, b) end, {P({2, 1, 4}, 0.5, 2), P({3, 1}, 0.5, 2)})
  end
end)

test("gradcheck biased var and std", function()
  local x = P{3, 5}
  check(function(a) return a:var({unbiased = false}) end, {x})
  check(function(a) return a:std({unbiased = false}) end, {x})
  check(function(a) return a:var(2, false, {unbiased = false}) end, {x})
  check(function(a) return a:std(1, true, {unbiased = false}) end, {x})
end)

test("max and min along a dim return values with gradient and 1-based indices", function()
  local x = T.tensor{{1, 5, 3}, {7, 2, 4}}:requires_grad()
  local v, i = x:max(2)
  eq(v:totable(), {5, 7})
  eq(i:totable(), {2, 1})
  eq(i.grad_fn, nil)
  v:sum():backward()
  eq(x.grad:totable(), {{0, 1, 0}, {1, 0, 0}})
end)

test("tied maxima share the gradient evenly", function()
  local x = T.tensor{3, 1, 3}:requires_grad()
  x:max():backward()
  eq(x.grad:totable(), {0.5, 0, 0.5})
end)

test("gradcheck cumsum along each dim", function()
  for d = 1, 3 do check(function(x) return x:cumsum(d) end, {P{2, 3, 4}}) end
  check(function(x) return x:cumsum() end, {P{5}})
  check(function(x) return x:t():cumsum(2) end, {P{3, 4}})
end)

test("reductions over all elements: a number without grad, a 0-dim tensor with it", function()
  local x = T.tensor{1, 2, 3}
  eq(type(x:sum()), "number")
  x:requires_grad()
  local s = x:sum()
  ok(T.is_tensor(s), "sum of a tensor requiring grad is a tensor")
  eq(s:dim(), 0)
  eq(s.grad_fn, "sum")
  eq(type(T.no_grad(function() return x:sum() end)), "number")
  eq(type(x:argmax()), "number")
end)

---------------------------------------------------------------------------------------------
-- products
---------------------------------------------------------------------------------------------

test("gradcheck matmul: 2-D, mat-vec, vec-mat, vec-vec", function()
  check(function(a, b) return a:matmul(b) end, {P{3, 4}, P{4, 5}})
  check(function(a, b) return a:matmul(b) end, {P{3, 4}, P{4}})
  check(function(a, b) return a:matmul(b) end, {P{4}, P{4, 5}})
  check(function(a, b) return a:matmul(b) end, {P{4}, P{4}})
  check(function(a, b) return a:t():matmul(b:t()) end, {P{4, 3}, P{5, 4}})
end)

test("gradcheck batched matmul with broadcast batch dims", function()
  check(function(a, b) return a:matmul(b) end, {P{2, 3, 4}, P{2, 4, 5}})
  check(function(a, b) return a:matmul(b) end, {P{2, 3, 4}, P{4, 5}})
  check(function(a, b) return a:matmul(b) end, {P{3, 4}, P{2, 4, 5}})
  check(function(a, b) return a:matmul(b) end, {P{1, 3, 4}, P{2, 4, 5}})
  check(function(a, b) return a:matmul(b) end, {P{2, 1, 3, 4}, P{3, 4, 2}})
  check(function(a, b) return a:matmul(b) end, {P{2, 3, 4}, P{4}})
  check(function(a, b) return a:matmul(b) end, {P{4}, P{2, 4, 5}})
end)

test("gradcheck dot and outer", function()
  check(function(a, b) return a:dot(b) end, {P{5}, P{5}})
  check(function(a, b) return T.dot(a, b) end, {P{5}, P{5}})
  check(function(a, b) return a:outer(b) end, {P{3}, P{4}})
  check(function(a, b) return T.outer(a, b) end, {P{3}, P{4}})
  local a, b = P{3}, T.tensor{1, 2}
  a:outer(b):sum():backward()
  near(a.grad, {3, 3, 3})
end)

---------------------------------------------------------------------------------------------
-- views, indexing and joining
---------------------------------------------------------------------------------------------

test("gradcheck views: narrow, select, t, transpose, permute", function()
  check(function(x) return x:narrow(2, 2, 2) end, {P{3, 4}})
  check(function(x) return x:narrow(1, -2, 2) end, {P{3, 4}})
  check(function(x) return x:select(1, 2) end, {P{3, 4}})
  check(function(x) return x:select(2, -1) end, {P{3, 4}})
  check(function(x) return x:t() end, {P{3, 4}})
  check(function(x) return x:transpose(1, 3) end, {P{2, 3, 4}})
  check(function(x) return x:permute(2, 3, 1) end, {P{2, 3, 4}})
  check(function(x) return x:select(1, 2):narrow(1, 2, 2) end, {P{3, 4}})
end)

test("gradcheck view, reshape (also of a non-contiguous input), flatten", function()
  check(function(x) return x:view(4, 3) end, {P{3, 4}})
  check(function(x) return x:view(-1) end, {P{3, 4}})
  check(function(x) return x:reshape(2, 6) end, {P{3, 4}})
  check(function(x) return x:t():reshape(12) end, {P{3, 4}})
  check(function(x) return x:transpose(1, 2):reshape(3, 8) end, {P{2, 3, 4}})
  check(function(x) return x:flatten() end, {P{2, 3, 4}})
  check(function(x) return x:flatten(2, 3) end, {P{2, 3, 4}})
  check(function(x) return x:permute(3, 1, 2):flatten(1, 2) end, {P{2, 3, 4}})
end)

test("gradcheck expand, expand_as, squeeze, unsqueeze", function()
  check(function(x) return x:expand(3, 4) end, {P{1, 4}})
  check(function(x) return x:expand(2, 3, 4) end, {P{3, 1}})
  check(function(x) return x:expand_as(T.zeros(5, 3)) end, {P{3}})
  check(function(x) return x:squeeze() end, {P{1, 3, 1}})
  check(function(x) return x:squeeze(1) end, {P{1, 3, 1}})
  check(function(x) return x:unsqueeze(2) end, {P{3, 4}})
  check(function(x) return x:unsqueeze(-1) end, {P{3, 4}})
end)

test("gradcheck contiguous and clone", function()
  check(function(x) return x:t():contiguous() end, {P{3, 4}})
  check(function(x) return x:contiguous() end, {P{3, 4}})
  check(function(x) return x:clone() end, {P{3, 4}})
  check(function(x) return x:t():clone() * 2 end, {P{3, 4}})
end)

test("gradcheck index_select, gather and masked_select", function()
  check(function(x) return x:index_select(1, {3, 1, 3}) end, {P{3, 4}})
  check(function(x) return x:index_select(2, T.tensor{4, 4, 2}) end, {P{3, 4}})
  check(function(x) return x:gather(2, T.tensor{{1, 1}, {4, 2}, {3, 3}}) end, {P{3, 4}})
  check(function(x) return x:gather(1, T.tensor{{1, 2, 3, 1}}) end, {P{3, 4}})
  local mask = T.tensor{{1, 0, 1, 0}, {0, 0, 1, 1}, {1, 1, 0, 0}}
  check(function(x) return x:masked_select(mask) end, {P{3, 4}})
  check(function(x) return x:t():masked_select(mask:t()) end, {P{3, 4}})
end)

test("index_select with repeated indices sums their gradients", function()
  local x = T.tensor{1, 2, 3}:requires_grad()
  x:index_select(1, {3, 3, 1, 3}):sum():backward()
  eq(x.grad:totable(), {1, 0, 3})
end)

test("gradcheck cat and stack along each dim", function()
  for d = 1, 2 do
    check(function(a, b) return T.cat({a, b}, d) end, {P{2, 3}, P{2, 3}})
  end
  check(function(a, b, c) return T.cat({a, b, c}, 1) end, {P{1, 3}, P{2, 3}, P{3, 3}})
  check(function(a, b) return T.cat({a, b, a}, 2) end, {P{2, 1}, P{2, 4}})
  for d = 1, 3 do
    check(function(a, b) return T.stack({a, b}, d) end, {P{2, 3}, P{2, 3}})
  end
  -- an input that does not require grad takes part without receiving one
  local c = T.ones(2, 3)
  check(function(a) return T.cat({c, a, c}, 1) end, {P{2, 3}})
  check(function(a) return T.stack({a, c}, 2) end, {P{2, 3}})
end)

---------------------------------------------------------------------------------------------
-- fused layers and losses
---------------------------------------------------------------------------------------------

test("gradcheck linear with and without bias, 1-D, 2-D and 3-D input", function()
  for _, xs in ipairs{{4}, {3, 4}, {2, 3, 4}} do
    check(function(x, w, b) return T.linear(x, w, b) end, {P(xs), P{5, 4}, P{5}})
    check(function(x, w) return T.linear(x, w) end, {P(xs), P{5, 4}})
  end
  -- only some inputs require grad; non-contiguous input
  check(function(w) return T.linear(T.ones(3, 4), w, T.ones(5)) end, {P{5, 4}})
  check(function(b) return T.linear(T.ones(3, 4), T.ones(5, 4), b) end, {P{5}})
  check(function(x) return T.linear(x:t(), T.ones(5, 4)) end, {P{4, 3}})
  check(function(x, w) return T.linear(x, w:t()) end, {P{3, 4}, P{4, 5}})
end)

test("linear agrees with matmul plus bias", function()
  local x, w, b = R:normal(0, 1, {3, 4}), R:normal(0, 1, {5, 4}), R:normal(0, 1, {5})
  near(T.linear(x, w, b), x:matmul(w:t()) + b, 1e-12)
  near(T.linear(x:select(1, 1), w, b), w:matmul(x:select(1, 1)) + b, 1e-12)
end)

test("gradcheck softmax and log_softmax along each dim", function()
  for d = 1, 3 do
    check(function(x) return T.softmax(x, d) end, {P({2, 3, 4}, -2, 2)})
    check(function(x) return T.log_softmax(x, d) end, {P({2, 3, 4}, -2, 2)})
  end
  check(function(x) return x:softmax() end, {P{3, 4}})
  check(function(x) return x:log_softmax(1) end, {P{3, 4}})
  check(function(x) return T.softmax(x:t(), 2) end, {P{3, 4}})
  check(function(x) return T.log_softmax(x, -1) end, {P{5}})
end)

test("softmax rows sum to one and log_softmax is its log", function()
  local x = R:normal(0, 3, {4, 6})
  near(T.softmax(x, 2):sum(2), T.ones(4), 1e-14)
  near(T.log_softmax(x, 2), T.softmax(x, 2):log(), 1e-12)
  near(T.softmax(T.tensor{1000, 1000}), {0.5, 0.5}, 1e-15)
end)

test("gradcheck layer_norm with and without weight and bias, 2-D and 3-D input", function()
  for _, xs in ipairs{{3, 5}, {2, 3, 4}, {6}} do
    local d = xs[#xs]
    check(function(x, w, b) return T.layer_norm(x, w, b) end, {P(xs), P({d}), P({d})})
    check(function(x, w) return T.layer_norm(x, w) end, {P(xs), P({d})})
    check(function(x) return T.layer_norm(x) end, {P(xs)})
    check(function(x) return T.layer_norm(x, nil, nil, 0.1) end, {P(xs)})
  end
  check(function(x, b) return T.layer_norm(x, nil, b) end, {P{3, 5}, P{5}})
  check(function(w, b) return T.layer_norm(T.tensor{{1, 3, 2}}, w, b) end, {P{3}, P{3}})
  check(function(x) return T.layer_norm(x:t()) end, {P{5, 3}})
end)

test("layer_norm normalises each row", function()
  local x = R:normal(2, 3, {4, 7})
  local y = T.layer_norm(x, nil, nil, 0)
  near(y:mean(2), T.zeros(4), 1e-14)
  near(y:var(2, false, {unbiased = false}), T.ones(4), 1e-12)
end)

test("gradcheck a small two-layer network end to end", function()
  local X, labels = R:normal(0, 1, {6, 4}), {1, 3, 2, 3, 1, 2}
  check(function(w1, b1, w2, b2)
    local h = T.linear(X, w1, b1):tanh()
    return T.cross_entropy(T.linear(h, w2, b2), labels)
  end, {P{5, 4}, P{5}, P{3, 5}, P{3}})
  check(function(w1, w2)
    local h = X:matmul(w1):relu()
    return T.mse(h:matmul(w2), T.ones(6, 2))
  end, {away{4, 5}, P{5, 2}})
end)

test("gradcheck itself catches a wrong gradient", function()
  -- x:detach() * x differentiates as x, but the numbers move as x^2 (slope 2x)
  local okk, worst, report = T.gradcheck(function(x) return x:detach() * x end, {P({4}, 0.5, 1)})
  ok(not okk, "gradcheck passed a wrong gradient")
  ok(worst > 0.1, report)
  raises(function()
    T.gradcheck(function(x) return x:detach() * x end, {P({4}, 0.5, 1)}, {raise = true})
  end, "gradcheck failed")
end)

---------------------------------------------------------------------------------------------
-- semantics of the tape
---------------------------------------------------------------------------------------------

test("requires_grad returns the tensor and marks a leaf", function()
  local x = T.tensor{1, 2}
  eq(x.needs_grad, false)
  local r = x:requires_grad()
  ok(rawequal(r, x), "requires_grad returns x itself")
  eq(x.needs_grad, true)
  eq(x.is_leaf, true)
  eq(x.grad, nil)
  eq(x.grad_fn, nil)
  x:requires_grad(false)
  eq(x.needs_grad, false)
  local y = (x:requires_grad() * 2)
  eq(y.is_leaf, false)
  eq(y.needs_grad, true)
  eq(y.grad_fn, "mul")
end)

test("backward of a scalar, and of a non-scalar with an explicit gradient", function()
  local x = T.tensor{1, 2, 3}:requires_grad()
  local y = (x * x):sum()
  y:backward()
  eq(x.grad:totable(), {2, 4, 6})
  local z = T.tensor{1, -1}:requires_grad()
  local w = z * 3
  w:backward(T.tensor{0.5, 2})
  eq(z.grad:totable(), {1.5, 6})
  -- a one-element non-scalar needs no gradient either
  local v = T.tensor{{4}}:requires_grad()
  v:exp():backward()
  near(v.grad, {math.exp(4)})
  -- the module form
  local u = T.tensor{2}:requires_grad()
  T.backward(u:square():sum())
  eq(u.grad:totable(), {4})
end)

test("backward from a leaf adds the seed to its own gradient", function()
  local x = T.tensor{1, 2}:requires_grad()
  x:backward(T.tensor{3, 4})
  eq(x.grad:totable(), {3, 4})
end)

test("gradients accumulate across backward calls until zeroed", function()
  local x = T.tensor{1, 2}:requires_grad()
  for _ = 1, 3 do (x * x):sum():backward() end
  eq(x.grad:totable(), {6, 12})
  local g = x.grad
  x:zero_grad()
  eq(x.grad:totable(), {0, 0})
  ok(rawequal(x:zero_grad(), x), "zero_grad returns x")
  ;(x * 3):sum():backward()
  eq(x.grad:totable(), {3, 3})
  eq(g:totable(), {3, 3}, "zero_grad keeps the gradient tensor")
  x.grad = nil
  eq(x.grad, nil)
  ;(x * 3):sum():backward()
  eq(x.grad:totable(), {3, 3})
  x.grad = T.tensor{10, 20}
  ;(x * 3):sum():backward()
  eq(x.grad:totable(), {13, 23})
end)

test("a tensor used twice (a diamond) gets the summed gradient", function()
  local x = T.tensor{0.5, -1, 2}:requires_grad()
  local a, b = x:exp(), x:sin()
  local y = (a * b + a + x):sum()
  y:backward()
  local ex, sx, cx = x:detach():exp(), x:detach():sin(), x:detach():cos()
  near(x.grad, ex * sx + ex * cx + ex + 1, 1e-14)
  local z = T.tensor{3}:requires_grad()
  local w = z * z * z
  w:backward()
  near(z.grad, {27})
  local v = T.tensor{1, 2}:requires_grad()
  local s = v + v
  ;(s + s):sum():backward()
  eq(v.grad:totable(), {4, 4})
end)

test("the graph is freed by backward unless retain_graph is given", function()
  local x = T.tensor{1, 2}:requires_grad()
  local y = (x:exp() * x):sum()
  y:backward()
  local err = raises(function() y:backward() end, "retain_graph")
  ok(err:find("freed", 1, true), err)
  -- part of the graph freed: a new op on a freed intermediate
  local x2 = T.tensor{1, 2}:requires_grad()
  local h = x2:exp()
  h:sum():backward()
  raises(function() (h * 2):sum():backward() end, "retain_graph")
  -- with retain_graph the second backward doubles the gradients
  local z = T.tensor{1, 2}:requires_grad()
  local l = (z:exp() * z):sum()
  l:backward({retain_graph = true})
  local g1 = z.grad:clone()
  l:backward(nil, {retain_graph = true})
  near(z.grad, g1 * 2, 1e-15)
  l:backward()
  near(z.grad, g1 * 3, 1e-15)
  raises(function() l:backward() end, "retain_graph")
end)

test("detach shares storage, has no graph, and stops the gradient", function()
  local x = T.tensor{1, 2}:requires_grad()
  local y = x * 2
  local d = y:detach()
  eq(d.grad_fn, nil)
  eq(d.needs_grad, false)
  eq(d.is_leaf, true)
  ok(d:same_storage(y), "detach shares storage")
  local z = (y + d * 10):sum()
  z:backward()
  eq(x.grad:totable(), {2, 2})
  eq(T.detach(x).needs_grad, false)
end)

test("no_grad records nothing and restores grad mode, even after an error", function()
  local x = T.tensor{1, 2}:requires_grad()
  eq(T.is_grad_enabled(), true)
  local y, extra = T.no_grad(function(a, b)
    eq(T.is_grad_enabled(), false)
    return a * 2 + b, "second"
  end, x, 1)
  eq(y.grad_fn, nil)
  eq(y.needs_grad, false)
  eq(extra, "second")
  eq(T.is_grad_enabled(), true)
  raises(function() T.no_grad(function() error("boom inside") end) end, "boom inside")
  eq(T.is_grad_enabled(), true)
  raises(function() T.no_grad(function() return x + T.ones(3) end) end, "broadcast")
  eq(T.is_grad_enabled(), true)
  -- enable_grad inside no_grad records again
  local z = T.no_grad(function() return T.enable_grad(function() return x * 3 end) end)
  eq(z.grad_fn, "mul")
  eq(T.is_grad_enabled(), true)
  T.set_grad_enabled(false)
  eq((x * 2).grad_fn, nil)
  T.set_grad_enabled(true)
  eq((x * 2).grad_fn, "mul")
end)

test("tensor.grad returns gradients without touching .grad", function()
  local w = T.tensor{1, 2}:requires_grad()
  local b = T.tensor{0.5}:requires_grad()
  local unused = T.tensor{{1, 2}, {3, 4}}:requires_grad()
  w.grad = T.tensor{100, 100}
  local gs, loss = T.grad(function() return ((w * w):sum() + b * 3):sum() end, {w, b, unused})
  eq(gs[1]:totable(), {2, 4})
  eq(gs[2]:totable(), {3})
  eq(gs[3]:totable(), {{0, 0}, {0, 0}}, "zeros for a parameter the loss does not use")
  near(loss, 6.5)
  eq(w.grad:totable(), {100, 100})
  eq(b.grad, nil)
  eq(unused.grad, nil)
  -- a loss tensor instead of a function; retain_graph lets it be used again
  local l = (w:exp()):sum()
  local g1 = T.grad(l, {w}, {retain_graph = true})
  local g2 = T.grad(l, {w})
  near(g1[1], g2[1], 0)
  raises(function() T.grad(l, {w}) end, "retain_graph")
  -- called under no_grad, f still records
  local g3 = T.no_grad(function() return T.grad(function() return (w * w):sum() end, {w}) end)
  eq(g3[1]:totable(), {2, 4})
  -- only the listed parameters
  local gw = T.grad(function() return (w * b):sum() end, {b})
  eq(gw[1]:totable(), {3})
  eq(b.grad, nil)
end)

test("tensor.grad gives private gradients, also for a parameter listed twice", function()
  local x, y = T.tensor{1, 2}:requires_grad(), T.tensor{3, 4}:requires_grad()
  local gs = T.grad(function() return (x + y):sum() end, {x, y, x})
  eq(gs[1]:totable(), {1, 1})
  eq(gs[3]:totable(), {1, 1}, "the second listing gets the gradient too")
  gs[1]:mul_(5)   -- writing one leaves the others alone
  eq(gs[2]:totable(), {1, 1})
  eq(gs[3]:totable(), {1, 1})
  local w = T.tensor{{1, 2}, {3, 4}}:requires_grad()
  local gw = T.grad(function() return w:sum(1):sum() end, {w})[1]
  ok(gw:is_contiguous(), "a contiguous gradient, not an expanded view")
  gw:add_(1)
  eq(gw:totable(), {{2, 2}, {2, 2}})
end)

test("x.grad = an expanded tensor is stored as a copy that backward can add into", function()
  local x = T.ones(3):requires_grad()
  x.grad = T.zeros(1):expand(3)
  ;(x * 2):sum():backward()
  eq(x.grad:totable(), {2, 2, 2})
  x:zero_grad()
  eq(x.grad:totable(), {0, 0, 0})
end)

test("tensor.grad argument errors", function()
  local w = T.tensor{1, 2}:requires_grad()
  raises(function() T.grad(function() return 3 end, {w}) end, "must return a tensor")
  raises(function() T.grad(function() return w:sum() end, {w * 2}) end, "not a leaf")
  raises(function() T.grad(function() return w:sum() end, {T.ones(2)}) end, "not a leaf")
  raises(function() T.grad(function() return w:sum() end, {"w"}) end, "params[1]")
  raises(function() T.grad(function() return w * 2 end, {w}) end, "not a scalar")
  raises(function() T.grad(function() error("inside f") end, {w}) end, "inside f")
  eq(T.is_grad_enabled(), true)
end)

---------------------------------------------------------------------------------------------
-- errors
---------------------------------------------------------------------------------------------

test("backward errors: non-scalar without gradient, wrong shape, nothing to differentiate", function()
  local x = T.tensor{1, 2}:requires_grad()
  local y = x * 2
  local err = raises(function() y:backward() end, "not a scalar")
  ok(err:find("2", 1, true), err)
  raises(function() y:backward(T.ones(3)) end, "gradient has shape")
  raises(function() y:backward(T.ones(2, 1)) end, "gradient has shape")
  raises(function() y:backward("one") end, "must be a tensor")
  raises(function() T.ones(2):backward(T.ones(2)) end, "does not require grad")
  raises(function() T.no_grad(function() return x * 2 end):backward(T.ones(2)) end,
         "does not require grad")
  -- the failed calls left the graph usable
  y:backward(T.ones(2))
  eq(x.grad:totable(), {2, 2})
end)

test("requires_grad on a non-leaf is an error naming the op", function()
  local x = T.tensor{1, 2}:requires_grad()
  local y = x:exp()
  raises(function() y:requires_grad() end, "exp")
  raises(function() y:requires_grad() end, "not a leaf")
  y:detach():requires_grad()
end)

test("x.grad = wrong shape or wrong type is an error", function()
  local x = T.tensor{1, 2}:requires_grad()
  raises(function() x.grad = T.ones(3) end, "grad: gradient of shape")
  raises(function() x.grad = T.ones(2, 1) end, "grad")
  raises(function() x.grad = 5 end, "must be a tensor or nil")
  eq(x.grad, nil)
  x.grad = T.zeros(2)
  eq(x.grad:totable(), {0, 0})
end)

test("in-place and out= forms on tensors that require grad are refused", function()
  local x = T.tensor{1, 2}:requires_grad()
  local y = x * 2
  raises(function() y:add_(1) end, "in-place")
  raises(function() y:exp_() end, "in-place")
  raises(function() y:set(1, 5) end, "in-place")
  raises(function() y:fill(0) end, "in-place")
  raises(function() x:add_(1) end, "requires grad")
  raises(function() x:mul_(2) end, "requires grad")
  raises(function() x:exp_() end, "requires grad")
  raises(function() x:clamp_(0, 1) end, "requires grad")
  raises(function() x:set(1, 5) end, "requires grad")
  raises(function() x:fill(0) end, "requires grad")
  raises(function() x:copy(T.ones(2)) end, "requires grad")
  raises(function() x:axpy_(1, T.ones(2)) end, "requires grad")
  local out = T.zeros(2)
  raises(function() x:exp(out) end, "requires grad")
  raises(function() x:add(1, {out = out}) end, "requires grad")
  raises(function() T.ones(2):add(x, out) end, "requires grad")
  raises(function() x:matmul(T.ones(2), T.zeros()) end, "requires grad")
  raises(function() T.where(T.ones(2), x, 0, out) end, "requires grad")
  eq(x:totable(), {1, 2}, "nothing was written")
  -- a parameter update is fine under no_grad, and so is writing a detached copy
  T.no_grad(function() x:add_(1); x:axpy_(-0.5, T.ones(2)) end)
  eq(x:totable(), {1.5, 2.5})
  local c = x:detach():clone()
  c:add_(1)
  eq(c:totable(), {2.5, 3.5})
end)

test("an in-place change to a saved tensor makes backward fail instead of lying", function()
  -- the saved input, changed under no_grad
  local x = T.tensor{1, 2}:requires_grad()
  local y = x:exp()
  T.no_grad(function() x:set(1, 5) end)
  local err = raises(function() y:sum():backward() end, "modified in place")
  ok(err:find("exp", 1, true), err)
  -- the saved output, changed through a detached alias
  local x2 = T.tensor{1, 2}:requires_grad()
  local y2 = x2:exp()
  y2:detach():add_(1)
  raises(function() y2:sum():backward() end, "modified in place")
  -- an input saved by mul, changed through a view of a detached alias
  local a = T.tensor{{1, 2}, {3, 4}}:requires_grad()
  local b = T.tensor{{1, 1}, {1, 1}}
  local p = a * b
  b:select(1, 1):fill(7)
  raises(function() p:sum():backward() end, "modified in place")
  -- fused ops check their saved tensors too
  local w = T.tensor{{1, 2}}:requires_grad()
  local inp = T.tensor{{3, 4}}
  local o = T.linear(inp, w)
  inp:mul_(2)
  raises(function() o:sum():backward() end, "modified in place")
  local lg = T.tensor{{1, 2, 3}}:requires_grad()
  local sm = T.softmax(lg, 2)
  sm:detach():fill(0)
  raises(function() sm:sum():backward() end, "modified in place")
  -- a change to a tensor the graph does not need is fine
  local q = T.tensor{1, 2}:requires_grad()
  local c = T.tensor{5, 5}
  local s = q + c
  c:fill(0)
  s:sum():backward()
  eq(q.grad:totable(), {1, 1})
end)

test("sum and mean keep no tensor: their input may change after them", function()
  local x = T.tensor{1, 2, 3}:requires_grad()
  local s = x:sum() + x:mean(1)
  T.no_grad(function() x:add_(10) end)
  s:backward()
  near(x.grad, {4 / 3, 4 / 3, 4 / 3}, 1e-15)
end)

test("t and transpose of a vector, and cumsum of a scalar, keep the graph", function()
  local x = T.tensor{1, 2}:requires_grad()
  x:t():sum():backward()
  eq(x.grad:totable(), {1, 1})
  local s = T.tensor(2):requires_grad()
  s:cumsum():backward()
  eq(s.grad:item(), 1)
end)

---------------------------------------------------------------------------------------------
-- memory
---------------------------------------------------------------------------------------------

test("2000 training steps keep entro.mem() flat; dropping the net returns it", function()
  collectgarbage(); collectgarbage()
  local m0 = entro.mem()
  local first, last, mid, worst, peak
  ;(function()
    local g = T.rng(5)
    local X, Y = g:normal(0, 1, {16, 8}), g:normal(0, 1, {16, 2})
    local params = {g:normal(0, 0.3, {16, 8}), T.zeros(16), g:normal(0, 0.3, {2, 16}), T.zeros(2)}
    for _, p in ipairs(params) do p:requires_grad() end
    local w1, b1, w2, b2 = table.unpack(params)
    worst, peak = 0, 0
    for step = 1, 2000 do
      local loss = T.mse(T.linear(T.linear(X, w1, b1):tanh(), w2, b2), Y)
      loss:backward()
      T.no_grad(function()
        for _, p in ipairs(params) do p:axpy_(-0.05, p.grad); p:zero_grad() end
      end)
      if step == 1 then first = loss:item() end
      last = loss:item()
      peak = math.max(peak, (entro.mem()))
      if step % 100 == 0 then
        collectgarbage()
        if not mid then mid = entro.mem() end
        worst = math.max(worst, math.abs(entro.mem() - mid))
      end
    end
  end)()
  ok(last < 0.5 * first, string.format("the loss fell (%g -> %g)", first, last))
  eq(worst, 0, "live bytes after a full collection, every 100 steps")
  ok(peak - m0 < 8e6, string.format("uncollected garbage stays bounded (peak %d bytes above start)", peak - m0))
  collectgarbage(); collectgarbage()
  eq(entro.mem(), m0, "all storage returned")
end)

test("a long chain built in Lua is freed, with and without backward", function()
  collectgarbage(); collectgarbage()
  local m0 = entro.mem()
  ;(function()
    local x = T.tensor{1, 2}:requires_grad()
    local y = x
    for _ = 1, 20000 do y = y * 1.00001 end
    y:sum():backward()
    near(x.grad, {1.00001 ^ 20000, 1.00001 ^ 20000}, 1e-10)
    local z = x
    for _ = 1, 20000 do z = z:tanh() end
  end)()
  collectgarbage(); collectgarbage()
  eq(entro.mem(), m0)
end)

-- random compositions of ops on three leaves (and a constant), for the two tests below
local function random_graph(rnd, leaves)
  local pool = {leaves[1], leaves[2], leaves[3], T.ones(2, 3)}
  local mask = T.tensor{{1, 0, 1}, {0, 1, 0}}
  local ops = {
    function(a, b) return a + b end, function(a, b) return a * b end,
    function(a, b) return a - b * 0.5 end, function(a, b) return a / (b:square() + 1) end,
    function(a) return a:tanh() end, function(a) return a:exp():clamp(0, 50) end,
    function(a, b) return T.cat({a, b}, 1):narrow(1, 2, 2) end,
    function(a) return a:sum(2, true):expand(2, 3) end,
    function(a, b) return T.where(mask, a, b) end,
    function(a) return T.softmax(a, 2) end,
    function(a) return a:t():contiguous():t() end,
    function(a) return T.layer_norm(a) end,
    function(a) return a:clone() * 0.7 end,
    function(a, b) return a:matmul(b:t()):matmul(b) * 0.1 end,
    function(a, b) return T.stack({a, b}, 3):sum(3) end,
    function(a) return a:index_select(2, {3, 1, 1}) end,
  }
  for _ = 1, rnd(2, 12) do
    local f = ops[rnd(#ops)]
    pool[#pool + 1] = f(pool[rnd(#pool)], pool[rnd(#pool)])
  end
  return pool
end

test("gradcheck random compositions of ops", function()
  local state
  local function rnd(a, b)   -- a small fixed LCG, so the graphs are the same every run
    state = (state * 1103515245 + 12345) % 2147483648
    if not b then a, b = 1, a end
    return a + state % (b - a + 1)
  end
  local checked = 0
  for trial = 1, 40 do
    local leaves = {P({2, 3}, 0.5, 1.5), P({2, 3}, 0.5, 1.5), P({2, 3}, 0.5, 1.5)}
    local function f(a, b, c)
      state = trial * 7919   -- the same graph on every call of one trial
      local pool = random_graph(rnd, {a, b, c})
      return pool[#pool], #pool
    end
    local root, n = f(table.unpack(leaves))
    if root.needs_grad then   -- else the graph never reached a leaf
      local okk, _, report = T.gradcheck(f, leaves)
      ok(okk, string.format("trial %d (%d nodes): %s", trial, n, report))
      checked = checked + 1
    end
  end
  ok(checked >= 30, checked .. " graphs checked")
end)

test("random graphs dropped in random order return every byte", function()
  collectgarbage(); collectgarbage()
  local m0 = entro.mem()
  local state = 777
  local function rnd(a, b)
    state = (state * 1103515245 + 12345) % 2147483648
    if not b then a, b = 1, a end
    return a + state % (b - a + 1)
  end
  for trial = 1, 100 do
    local leaves = {P{2, 3}, P{2, 3}, P{2, 3}}
    local pool = random_graph(rnd, leaves)
    local root, mode = pool[#pool], rnd(4)
    if root.needs_grad then
      if mode == 1 then root:sum():backward()
      elseif mode == 2 then
        local s = root:sum()
        s:backward({retain_graph = true})
        s:backward()
      elseif mode == 3 then T.grad(function() return root:sum() end, leaves) end
    end
    root, leaves = nil, nil
    while #pool > 0 do
      table.remove(pool, rnd(#pool))
      if rnd(3) == 1 then collectgarbage() end
    end
    collectgarbage(); collectgarbage()
    eq(entro.mem(), m0, string.format("trial %d, mode %d", trial, mode))
  end
end)

---------------------------------------------------------------------------------------------
-- agreement with PyTorch (float64) on small fixed problems
---------------------------------------------------------------------------------------------

local function pylist(t)
  if type(t) == "number" then return string.format("%.17g", t) end
  local parts = {}
  for i, v in ipairs(t) do parts[i] = pylist(v) end
  return "[" .. table.concat(parts, ", ") .. "]"
end
local function pyt(x) return "torch.tensor(" .. pylist(x:totable()) .. ", dtype=torch.float64)" end

local G = T.rng(77)
local PROB = {
  X1 = G:normal(0, 1, {5, 3}), W1 = G:normal(0, 0.7, {4, 3}), B1 = G:normal(0, 0.1, {4}),
  W2 = G:normal(0, 0.7, {2, 4}), B2 = G:normal(0, 0.1, {2}), Y1 = G:normal(0, 1, {5, 2}),
  X2 = G:normal(0, 1, {6, 4}), W3 = G:normal(0, 1, {3, 4}), B3 = G:normal(0, 0.3, {3}),
  L2 = {1, 3, 2, 3, 1, 2},
  X3 = G:normal(0, 1, {2, 3, 5}), LW = G:normal(1, 0.2, {5}), LB = G:normal(0, 0.2, {5}),
  W4 = G:normal(0, 0.5, {4, 5}), Y3 = G:uniform(0, 1, {2, 3, 4}),
}

local torch_results   -- name -> list of numbers, computed once
local function torch_run()
  if torch_results ~= nil then return torch_results end
  torch_results = false
  if not os.execute("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") then return false end
  local P_ = PROB
  local src = {
    "import torch",
    "torch.set_default_dtype(torch.float64)",
    "def out(name, *ts):",
    "    vals = [repr(float(v)) for t in ts for v in t.detach().reshape(-1).tolist()]",
    "    print(name, ' '.join(vals))",
    "F = torch.nn.functional",
    -- 1: a two-layer tanh MLP with MSE
    "X = " .. pyt(P_.X1), "Y = " .. pyt(P_.Y1),
    "W1 = " .. pyt(P_.W1) .. ".requires_grad_()", "B1 = " .. pyt(P_.B1) .. ".requires_grad_()",
    "W2 = " .. pyt(P_.W2) .. ".requires_grad_()", "B2 = " .. pyt(P_.B2) .. ".requires_grad_()",
    "loss = F.mse_loss(F.linear(torch.tanh(F.linear(X, W1, B1)), W2, B2), Y)",
    "loss.backward()",
    "out('mlp', loss, W1.grad, B1.grad, W2.grad, B2.grad)",
    -- 2: a softmax classifier with cross-entropy
    "X = " .. pyt(P_.X2),
    "W = " .. pyt(P_.W3) .. ".requires_grad_()", "B = " .. pyt(P_.B3) .. ".requires_grad_()",
    "lab = torch.tensor(" .. pylist(P_.L2) .. ") - 1",
    "loss = F.cross_entropy(F.linear(X, W, B), lab)",
    "loss.backward()",
    "out('ce', loss, W.grad, B.grad)",
    "X.requires_grad_()",
    "loss = F.nll_loss(F.log_softmax(X @ W.detach().t(), 1), lab, reduction='sum')",
    "loss.backward()",
    "out('nll', loss, X.grad)",
    -- 3: layer_norm, gelu, softplus, bce_with_logits on 3-D input
    "X = " .. pyt(P_.X3) .. ".requires_grad_()",
    "LW = " .. pyt(P_.LW) .. ".requires_grad_()", "LB = " .. pyt(P_.LB) .. ".requires_grad_()",
    "W = " .. pyt(P_.W4) .. ".requires_grad_()", "Y = " .. pyt(P_.Y3),
    "h = F.gelu(F.layer_norm(X, (5,), LW, LB, 1e-5))",
    "z = F.linear(h, W) + F.softplus(X).sum(2, keepdim=True)",
    "loss = F.binary_cross_entropy_with_logits(z, Y)",
    "loss.backward()",
    "out('ln', loss, X.grad, LW.grad, LB.grad, W.grad)",
  }
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(table.concat(src, "\n"), "\n")
  f:close()
  local p = io.popen("/usr/bin/python3 " .. path .. " 2>&1")
  local text = p:read("a")
  p:close()
  os.remove(path)
  local r = {}
  for line in text:gmatch("[^\n]+") do
    local name, rest = line:match("^(%w+) (.*)$")
    if name then
      local vals = {}
      for v in rest:gmatch("%S+") do vals[#vals + 1] = tonumber(v) end
      r[name] = vals
    end
  end
  if not r.ln then error("python failed:\n" .. text) end
  torch_results = r
  return r
end

-- loss then gradients, flattened, against PyTorch's list: relative to each tensor's scale
local function agree(name, loss, grads)
  local r = torch_run()
  if not r then skip("/usr/bin/python3 cannot import torch") end
  local ref = r[name]
  local k = 1
  local function against(vals, what)
    local scale = 0
    for i = 1, #vals do scale = math.max(scale, math.abs(ref[k + i - 1])) end
    for i = 1, #vals do
      local a, b = vals[i], ref[k + i - 1]
      ok(b and math.abs(a - b) <= 1e-10 * scale,
         string.format("%s %s element %d: entro %.17g, torch %s", name, what, i, a, tostring(b)))
    end
    k = k + #vals
  end
  against({loss:item()}, "loss")
  for i, g in ipairs(grads) do against(g:contiguous():view(-1):totable(), "gradient " .. i) end
  eq(k - 1, #ref, "value count")
end

local function leafcopy(x) return x:clone():requires_grad() end

test("PyTorch agrees: a two-layer tanh MLP with MSE", function()
  local W1, B1, W2, B2 = leafcopy(PROB.W1), leafcopy(PROB.B1), leafcopy(PROB.W2), leafcopy(PROB.B2)
  local loss = T.mse(T.linear(T.linear(PROB.X1, W1, B1):tanh(), W2, B2), PROB.Y1)
  loss:backward()
  agree("mlp", loss, {W1.grad, B1.grad, W2.grad, B2.grad})
end)

test("PyTorch agrees: a softmax classifier with cross-entropy and nll", function()
  local W, B = leafcopy(PROB.W3), leafcopy(PROB.B3)
  local loss = T.cross_entropy(T.linear(PROB.X2, W, B), PROB.L2)
  loss:backward()
  agree("ce", loss, {W.grad, B.grad})
  local X = leafcopy(PROB.X2)
  local l2 = T.nll(T.log_softmax(X:matmul(PROB.W3:t()), 2), PROB.L2, {reduction = "sum"})
  l2:backward()
  agree("nll", l2, {X.grad})
end)

test("PyTorch agrees: layer_norm, gelu, softplus and bce_with_logits on 3-D input", function()
  local X, LW, LB, W = leafcopy(PROB.X3), leafcopy(PROB.LW), leafcopy(PROB.LB), leafcopy(PROB.W4)
  local h = T.layer_norm(X, LW, LB, 1e-5):gelu()
  local z = T.linear(h, W) + X:softplus():sum(3, true)
  local loss = T.bce_with_logits(z, PROB.Y3)
  loss:backward()
  agree("ln", loss, {X.grad, LW.grad, LB.grad, W.grad})
end)

---------------------------------------------------------------------------------------------
-- tensor.grad over a list of outputs: the gradient of sum_i <outputs[i], grad_outputs[i]>
---------------------------------------------------------------------------------------------

local function scalar0(v) return T.ones():mul(v) end   -- a 0-d tensor holding v
local function bits(x) return x:contiguous():view(-1):totable() end

-- Checks tensor.grad(build(P), params, {grad_outputs = v}) against the scalar
-- sum_i (outputs[i] * v[i]):sum() and backward, on fresh copies of the leaves P.
-- idx lists which leaves are the params (a leaf may be listed twice); v may be nil
-- (every output then has one element and its gradient is 1).
local function vjp_agrees(build, P, v, idx, msg)
  local outs = build(P)
  local params = {}
  for i, j in ipairs(idx) do params[i] = P[j] end
  local vcopy = {}
  for i, t in ipairs(v or {}) do vcopy[i] = t:clone() end
  local gs = T.grad(outs, params, v and {grad_outputs = v} or nil)
  eq(#gs, #idx, msg .. ": one gradient per parameter")
  for i, t in ipairs(v or {}) do eq(bits(t), bits(vcopy[i]), msg .. ": grad_outputs untouched") end
  -- the reference
  local Q = {}
  for j, p in ipairs(P) do Q[j] = p:detach():clone():requires_grad() end
  local s
  for i, o in ipairs(build(Q)) do
    local term = v and (o * v[i]):sum() or o:sum()
    s = s and s + term or term
  end
  if s.needs_grad then s:backward() end
  for i, j in ipairs(idx) do
    eq(gs[i]:shape(), P[j]:shape(), msg .. ": gradient " .. i .. " shape")
    ok(not gs[i].needs_grad, msg .. ": no graph without create_graph")
    near(gs[i], Q[j].grad or T.zeros_like(P[j]), 1e-14, msg .. ": gradient " .. i)
  end
  return gs, outs
end

test("tensor.grad of a list: outputs sharing part of the graph, of several shapes", function()
  local x, W, b = P{4}, P{4, 3}, P{3}
  local function build(p)
    local h = (p[1]:matmul(p[2]) + p[3]):tanh()
    return {h:sin(), h:outer(p[1]), (h * h):sum(), (h * p[3]):exp()}
  end
  local v = {R:randn(3), R:randn(3, 4), scalar0(-1.7), R:randn(3)}
  local gs = vjp_agrees(build, {x, W, b}, v, {1, 2, 3}, "shared")
  -- and the sum really is a sum: each output alone, then added up
  local total = {T.zeros(4), T.zeros(4, 3), T.zeros(3)}
  for i = 1, 4 do
    local one = T.grad({build({x, W, b})[i]}, {x, W, b}, {grad_outputs = {v[i]}})
    for j = 1, 3 do total[j] = total[j] + one[j] end
  end
  for j = 1, 3 do near(gs[j], total[j], 1e-14, "sum of single-output gradients " .. j) end
  -- the gradients differ from those of any single output: the test can tell them apart
  local first = T.grad({build({x, W, b})[1]}, {x}, {grad_outputs = {v[1]}})
  ok((first[1] - gs[1]):abs():max() > 1e-3, "all outputs contribute")
end)

test("tensor.grad of a list: an output that is an ancestor of another", function()
  local X, W = P{5, 4}, P{4, 3}
  local v1, v2, v3 = R:randn(5, 3), R:randn(5, 3), scalar0(0.6)
  local function build(p)
    local y1 = p[1]:matmul(p[2])
    local y2 = y1:tanh()
    return {y1, y2, (y2 * y1):sum()}
  end
  vjp_agrees(build, {X, W}, {v1, v2, v3}, {1, 2}, "y1 first")
  -- the same outputs in the opposite order
  vjp_agrees(function(p) local o = build(p) return {o[3], o[2], o[1]} end, {X, W}, {v3, v2, v1},
             {2, 1}, "reversed")
  -- one-element outputs, one the ancestor of the other, without grad_outputs: 1 each
  local x = P{3}
  vjp_agrees(function(p)
    local s = (p[1] * p[1]):sum()
    return {s, s:exp(), s:mul(3):sin()}
  end, {x}, nil, {1}, "scalars without grad_outputs")
  local s = (x * x):sum()
  local g = T.grad({s, s:exp()}, {x})
  near(g[1], x:detach() * (2 + 2 * math.exp((x * x):sum():item())), 1e-13, "analytic")
end)

test("tensor.grad of a list: outputs that are leaves, constants, or listed twice", function()
  local W, x, b = P{3, 2}, P{2}, P{3}
  -- a parameter as an output: its grad_output flows straight into its gradient
  vjp_agrees(function(p) return {p[1], (p[1] * p[1]):sum(), p[1]:matmul(p[2])} end,
             {W, x}, {R:randn(3, 2), scalar0(0.5), R:randn(3)}, {1, 2}, "leaf output")
  local v = R:randn(3, 2)
  local g = T.grad({W}, {W, x}, {grad_outputs = {v}})
  eq(bits(g[1]), bits(v), "d<W, v>/dW = v exactly")
  eq(bits(g[2]), {0, 0}, "x not reached")
  g[1]:mul_(2)
  eq(bits(v), bits(g[1]:div(2)), "the gradient is a private copy of v")
  -- a leaf output that is not among the params contributes nothing to them
  local gw = T.grad({b, W:sum()}, {W}, {grad_outputs = {R:randn(3), scalar0(2)}})
  eq(gw[1]:totable(), {{2, 2}, {2, 2}, {2, 2}})
  -- constants (no requires_grad) contribute nothing, whatever their grad_output
  local c = T.ones(3)
  vjp_agrees(function(p) return {c, p[1]:matmul(p[2]), T.no_grad(function() return p[1] * 2 end)} end,
             {W, x}, {R:randn(3), R:randn(3), R:randn(3, 2)}, {1, 2}, "constant outputs")
  -- only constants: zero gradients, no error
  local gz = T.grad({c, T.ones(2, 2)}, {W, x}, {grad_outputs = {T.ones(3), T.ones(2, 2)}})
  eq(gz[1]:totable(), {{0, 0}, {0, 0}, {0, 0}})
  eq(gz[2]:totable(), {0, 0})
  -- the same output twice: its grad_outputs add up
  local y = (W:matmul(x)):tanh()
  local v1, v2 = R:randn(3), R:randn(3)
  local twice = T.grad({y, y}, {W, x}, {grad_outputs = {v1, v2}, retain_graph = true})
  local once = T.grad({y}, {W, x}, {grad_outputs = {v1 + v2}})
  near(twice[1], once[1], 1e-14)
  near(twice[2], once[2], 1e-14)
end)

test("tensor.grad of a list: a parameter listed twice, unreached ones, strided grad_outputs", function()
  local W, x, u = P{4, 3}, P{3}, P{2, 2}
  local build = function(p) return {p[1]:matmul(p[2]):sigmoid(), (p[1] * p[1]):sum()} end
  local v = {R:randn(4), scalar0(0.25)}
  local gs = vjp_agrees(build, {W, x, u}, v, {1, 2, 1, 3}, "listed twice")
  eq(bits(gs[1]), bits(gs[3]), "both listings get the whole gradient")
  eq(bits(gs[4]), {0, 0, 0, 0}, "an unreached parameter gets zeros")
  gs[1]:mul_(3)   -- writing one leaves the other alone
  near(gs[3] * 3, gs[1], 1e-15)
  -- a non-contiguous grad_output gives the same as its contiguous copy
  local y = W:t():matmul(W)      -- 3 x 3
  local vs = R:randn(3, 3):t()
  ok(not vs:is_contiguous(), "a transposed view")
  local a = T.grad({y}, {W}, {grad_outputs = {vs}, retain_graph = true})
  local bb = T.grad({y}, {W}, {grad_outputs = {vs:contiguous()}})
  eq(bits(a[1]), bits(bb[1]))
  near(a[1], W:detach():matmul(vs + vs:t()), 1e-14, "d<W^T W, V>/dW = W (V + V^T)")
end)

test("tensor.grad single output with grad_outputs = tensor", function()
  local W, x = P{3, 4}, P{4}
  local v = R:randn(3)
  local gs, y = T.grad(function() return W:matmul(x):tanh() end, {W, x}, {grad_outputs = v})
  eq(y:shape(), {3}, "the output is returned")
  local gl = T.grad({W:matmul(x):tanh()}, {W, x}, {grad_outputs = {v}})
  near(gs[1], gl[1], 1e-15)
  near(gs[2], gl[2], 1e-15)
  local t = 1 - W:detach():matmul(x:detach()):tanh():square()
  near(gs[2], W:detach():t():matmul(v * t), 1e-14, "analytic")
  -- a tensor instead of a function, and a one-element output with an explicit grad_output
  local z = W:matmul(x):tanh()
  local gz, zz = T.grad(z, {x}, {grad_outputs = v})
  ok(rawequal(zz, z), "the same tensor comes back")
  near(gz[1], gs[2], 1e-15)
  local s = (x * x):sum()
  near(T.grad(s, {x}, {grad_outputs = scalar0(-2)})[1], x:detach() * -4, 1e-15)
end)

test("tensor.grad of a list: retain_graph and .grad left alone", function()
  local W, x = P{3, 3}, P{3}
  W.grad = T.full({3, 3}, 7)
  local y1 = W:matmul(x):sin()
  local y2 = (y1 * x):sum()
  local v = {R:randn(3), scalar0(1.5)}
  local g1 = T.grad({y1, y2}, {W, x}, {grad_outputs = v, retain_graph = true})
  local g2 = T.grad({y1, y2}, {W, x}, {grad_outputs = v, retain_graph = true})
  local g3 = T.grad({y2, y1}, {W, x}, {grad_outputs = {v[2], v[1]}})   -- frees the graph
  for i = 1, 2 do
    eq(bits(g2[i]), bits(g1[i]), "a retained graph gives the same bits")
    near(g3[i], g1[i], 1e-15)
  end
  raises(function() T.grad({y1, y2}, {W, x}, {grad_outputs = v}) end, "retain_graph")
  raises(function() T.grad({y1}, {x}, {grad_outputs = {v[1]}}) end, "retain_graph")
  eq(W.grad:totable(), {{7, 7, 7}, {7, 7, 7}, {7, 7, 7}}, "W.grad untouched")
  eq(x.grad, nil, "x.grad untouched")
  -- an output that is a leaf param with a .grad: still not touched
  T.grad({W, x}, {W}, {grad_outputs = {T.ones(3, 3), T.ones(3)}})
  eq(W.grad:totable(), {{7, 7, 7}, {7, 7, 7}, {7, 7, 7}}, "W.grad untouched by a leaf output")
  eq(x.grad, nil)
end)

test("tensor.grad of a list with create_graph: Hessian-vector products of a quadratic", function()
  local n = 5
  local A = R:randn(n, n)
  A = (A + A:t()) * 0.5
  local x = P{n}
  local f = (x * A:matmul(x)):sum() * 0.5
  local g = T.grad({f}, {x}, {create_graph = true})
  ok(g[1].needs_grad, "the gradient carries a graph")
  near(g[1], A:matmul(x:detach()), 1e-14, "gradient A x")
  -- the dense Hessian, column by column: H e_i = A e_i
  local H = T.zeros(n, n)
  for i = 1, n do
    local e = T.zeros(n)
    e:set(i, 1)
    local hv = T.grad(g, {x}, {grad_outputs = {e}, retain_graph = true})[1]
    ok(not hv.needs_grad, "no graph without create_graph")
    H:select(2, i):copy_(hv)
  end
  near(H, A, 1e-14, "Hessian = A")
  local v = R:randn(n)
  near(T.grad(g, {x}, {grad_outputs = {v}, retain_graph = true})[1], A:matmul(v), 1e-13, "H v")
  -- two parameters: f = 0.5 x'Ax + x'By + sum(sin y); H v = (A vx + B vy, B'vx - sin(y) vy)
  local B = R:randn(n, 2)
  local y = P{2}
  local f2 = (x * A:matmul(x)):sum() * 0.5 + (x * B:matmul(y)):sum() + y:sin():sum()
  local g2 = T.grad({f2}, {x, y}, {create_graph = true})
  local vx, vy = R:randn(n), R:randn(2)
  local hv = T.grad(g2, {x, y}, {grad_outputs = {vx, vy}, retain_graph = true})
  near(hv[1], A:matmul(vx) + B:matmul(vy), 1e-13, "H v, x block")
  near(hv[2], B:t():matmul(vx) - y:detach():sin() * vy, 1e-13, "H v, y block")
  -- only one of the gradients as an output: one block row of H
  local hx = T.grad({g2[2]}, {x, y}, {grad_outputs = {vy}})
  near(hx[1], B:matmul(vy), 1e-13)
  near(hx[2], -(y:detach():sin() * vy), 1e-13)
end)

test("tensor.grad of a list with create_graph: second derivatives of a nonlinear map", function()
  local W, x = P({3, 4}, -0.5, 0.5), P{4}
  local v = {R:randn(3), R:randn(3), scalar0(0.7)}
  local function build(w, xx)
    local y1 = w:matmul(xx)
    local y2 = y1:tanh()
    return {y1, y2, (y2 * y2):sum()}
  end
  -- first level, list form and scalar form, both with create_graph
  local gl = T.grad(build(W, x), {W, x}, {grad_outputs = v, create_graph = true})
  local gsc = T.grad(function()
    local o = build(W, x)
    return (o[1] * v[1]):sum() + (o[2] * v[2]):sum() + o[3] * v[3]
  end, {W, x}, {create_graph = true})
  for i = 1, 2 do
    ok(gl[i].needs_grad, "differentiable gradient " .. i)
    near(gl[i], gsc[i], 1e-14, "first level " .. i)
  end
  -- second level: the product of the Hessian of sum_i <y_i, v_i> with u
  local u = {R:randn(3, 4), R:randn(4)}
  local hl = T.grad(gl, {W, x}, {grad_outputs = u})
  local hs = T.grad(gsc, {W, x}, {grad_outputs = u})
  near(hl[1], hs[1], 1e-13)
  near(hl[2], hs[2], 1e-13)
  -- against central differences of the first-level gradient along u
  local function grad_at(Wv, xv)
    local w2, x2 = Wv:requires_grad(), xv:requires_grad()
    return T.grad(build(w2, x2), {w2, x2}, {grad_outputs = v})
  end
  local h = 1e-5
  local gp = grad_at(W:detach() + u[1] * h, x:detach() + u[2] * h)
  local gm = grad_at(W:detach() - u[1] * h, x:detach() - u[2] * h)
  near(hl[1], (gp[1] - gm[1]) / (2 * h), 1e-7, "finite differences, W")
  near(hl[2], (gp[2] - gm[2]) / (2 * h), 1e-7, "finite differences, x")
  -- create_graph retains the original graph: it can be used again
  local again = T.grad(build(W, x), {W, x}, {grad_outputs = v})
  near(again[1], gl[1]:detach(), 1e-15)
end)

test("tensor.grad of a list: argument errors, and grad mode survives them", function()
  local x = T.tensor{1, 2}:requires_grad()
  local y1, y2 = x * 2, (x * x):sum()
  local v1 = T.ones(2)
  local cases = {
    {function() T.grad({y1, y2}, {x}, {grad_outputs = {v1}}) end, "2 outputs but 1 grad_outputs"},
    {function() T.grad({y1}, {x}, {grad_outputs = {v1, v1}}) end, "1 outputs but 2 grad_outputs"},
    {function() T.grad({y1, "y2"}, {x}, {grad_outputs = {v1, v1}}) end, "outputs[2] is a"},
    {function() T.grad({y2, 3}, {x}) end, "outputs[2] is a"},
    {function() T.grad({y1}, {x}, {grad_outputs = {"v"}}) end, "grad_outputs[1] is a"},
    {function() T.grad({y1, y2}, {x}, {grad_outputs = {v1, 1}}) end, "grad_outputs[2] is a"},
    {function() T.grad({y1}, {x}, {grad_outputs = v1}) end, "grad_outputs must be"},
    {function() T.grad({y1}, {x}, {grad_outputs = 1}) end, "grad_outputs must be"},
    {function() T.grad(y1, {x}, {grad_outputs = {v1}}) end, "grad_outputs must be"},
    {function() T.grad(function() return y1 end, {x}, {grad_outputs = "v"}) end, "grad_outputs must be"},
    {function() T.grad({y1}, {x}, {grad_outputs = {T.ones(3)}}) end, "gradient has shape"},
    {function() T.grad({y1, y2}, {x}, {grad_outputs = {v1, T.ones(1, 1)}}) end, "gradient has shape"},
    {function() T.grad({y1, y2}, {x}, {grad_outputs = {T.ones(2, 1), scalar0(1)}}) end, "gradient has shape"},
    {function() T.grad(y1, {x}, {grad_outputs = T.ones(2, 1)}) end, "gradient has shape"},
    {function() T.grad({y2, y1}, {x}) end, "is not a scalar"},
    {function() T.grad({y1}, {x}, {}) end, "is not a scalar"},
    {function() T.grad({}, {x}) end, "list of outputs is empty"},
    {function() T.grad({}, {x}, {grad_outputs = {}}) end, "list of outputs is empty"},
    {function() T.grad({y1}, {x}, "opts") end, "options must be a table"},
    {function() T.grad({y2}, {x}, true) end, "options must be a table"},
    {function() T.grad({y1}, {x}, {grad_output = {v1}}) end, "unknown option 'grad_output'"},
    {function() T.grad(y2, {x}, {retain = true}) end, "unknown option 'retain'"},
    {function() T.grad({y2}, {y1}) end, "not a leaf"},
    {function() T.grad({y2}, {x, "x"}) end, "params[2]"},
  }
  for _, mode in ipairs{true, false} do
    T.set_grad_enabled(mode)
    for i, case in ipairs(cases) do
      local okk, err = pcall(raises, case[1], case[2])
      T.set_grad_enabled(true)
      if not okk then error("case " .. i .. ": " .. tostring(err)) end
      T.set_grad_enabled(mode)
      eq(T.is_grad_enabled(), mode, "grad mode after case " .. i)
    end
  end
  T.set_grad_enabled(true)
  -- the failed calls freed nothing: the graph still gives the right gradient
  local g = T.grad({y1, y2}, {x}, {grad_outputs = {v1, scalar0(1)}})
  eq(g[1]:totable(), {4, 6})
  eq(x.grad, nil)
end)

test("tensor.grad of a list: errors inside the backward pass restore grad mode and state", function()
  local x = T.tensor{0.5, -1, 2}:requires_grad()
  local keep = (x * 3):sum()
  local gone = x:exp():sum()
  gone:backward()
  x.grad = nil
  for _, mode in ipairs{true, false} do
    -- the graphs are recorded in grad mode; only the calls run in `mode`
    local y = x:cumsum(1)
    local w = x:detach():clone()
    local m = x * w
    T.no_grad(function() w:add_(1) end)
    local calls = {
      {function() return T.grad({keep, gone}, {x}, {retain_graph = true}) end, "freed"},
      -- create_graph through an op without a second derivative fails mid-pass
      {function() return T.grad({keep, y}, {x}, {grad_outputs = {scalar0(1), T.ones(3)},
                                                 create_graph = true}) end, "no second derivative"},
      -- a tensor saved by an op modified in place since
      {function() return T.grad({keep, m}, {x}, {grad_outputs = {scalar0(1), T.ones(3)},
                                                 retain_graph = true}) end, "modified in place"},
    }
    for i, call in ipairs(calls) do
      T.set_grad_enabled(mode)
      local okk, err = pcall(call[1])
      local after = T.is_grad_enabled()
      T.set_grad_enabled(true)
      ok(not okk and tostring(err):find(call[2], 1, true), "call " .. i .. ": " .. tostring(err))
      eq(after, mode, "grad mode after failed call " .. i)
    end
  end
  eq(T.is_grad_enabled(), true)
  -- nothing was left half-done: the surviving graph still works, twice
  for _ = 1, 2 do
    local g = T.grad({keep, (x * x):sum()}, {x}, {retain_graph = true})
    eq(g[1]:totable(), {4, 1, 7})
  end
  eq(x.grad, nil)
end)

test("tensor.grad of a list: create_graph passes and failed calls return every byte", function()
  collectgarbage(); collectgarbage()
  local m0 = entro.mem()
  local ran = 0
  ;(function()
    local g = T.rng(77)
    local W, x = g:randn(3, 3):requires_grad(), g:randn(3):requires_grad()
    for _ = 1, 100 do
      local y1 = W:matmul(x):tanh()
      local y2 = (y1 * y1):sum()
      local gs = T.grad({y1, y2, W}, {W, x, W}, {grad_outputs = {T.ones(3), T.ones(), T.ones(3, 3)},
                                                 create_graph = true})
      local hv = T.grad(gs, {W, x}, {grad_outputs = {T.ones(3, 3), T.ones(3), T.ones(3, 3)}})
      ran = ran + (hv[1] and 1 or 0)
      pcall(T.grad, {y1, y2}, {W}, {grad_outputs = {T.ones(3), T.ones(2)}})
      pcall(T.grad, {y1, x:cumsum(1)}, {W}, {grad_outputs = {T.ones(3), T.ones(3)}, create_graph = true})
    end
  end)()
  eq(ran, 100)
  collectgarbage(); collectgarbage()
  eq(entro.mem(), m0, "all storage returned")
end)
