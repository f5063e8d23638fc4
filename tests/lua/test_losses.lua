-- test_losses.lua -- the fused losses (cross_entropy, nll, mse, bce_with_logits): values
-- against their closed forms, gradients against central differences and closed forms,
-- each reduction, numerical stability, labels (1-based, a table or a tensor), NaN
-- propagation, and the errors that name the op and the shapes.
local T = tensor
local R = T.rng(314159)

local function P(shape, lo, hi) return R:uniform(lo or -1, hi or 1, shape):requires_grad() end
local function check(f, inputs, tol)
  local okk, worst, report = T.gradcheck(f, inputs, {tol = tol or 1e-6})
  ok(okk, report)
  ok(worst == worst, "gradcheck error is NaN")
end

test("gradcheck cross_entropy and nll with each reduction", function()
  local labels = {2, 1, 4}
  for _, red in ipairs{"mean", "sum", "none"} do
    check(function(x) return T.cross_entropy(x, labels, {reduction = red}) end, {P({3, 4}, -2, 2)})
    check(function(x) return T.cross_entropy(x, T.tensor(labels), {reduction = red}) end, {P{3, 4}})
    check(function(x) return T.nll(x, labels, {reduction = red}) end, {P{3, 4}})
    check(function(x) return T.nll(T.log_softmax(x, 2), labels, {reduction = red}) end, {P{3, 4}})
  end
  check(function(x) return T.cross_entropy(x, labels) end, {P{3, 4}})
  check(function(x) return T.cross_entropy(x:t(), labels) end, {P{4, 3}})
end)

test("cross_entropy is nll of log_softmax, and has the closed form", function()
  local x = R:normal(0, 1, {5, 3})
  local y = {1, 3, 2, 2, 1}
  near(T.cross_entropy(x, y), T.nll(T.log_softmax(x, 2), y), 1e-14)
  local per = T.cross_entropy(x, y, {reduction = "none"})
  eq(per:shape(), {5})
  for i = 1, 5 do
    local row = x:select(1, i)
    near(per:get(i), row:logsumexp() - row:get(y[i]), 1e-13)
  end
  near(T.cross_entropy(x, y, {reduction = "sum"}), per:sum(), 1e-13)
end)

test("gradcheck mse with each reduction, also with respect to the target", function()
  for _, red in ipairs{"mean", "sum", "none"} do
    check(function(a, b) return T.mse(a, b, {reduction = red}) end, {P{3, 4}, P{3, 4}})
    check(function(a, b) return T.mse(a, b, {reduction = red}) end, {P{2, 3, 2}, P{2, 3, 2}})
    check(function(a, b) return T.mse(a, b, {reduction = red}) end, {P{5}, P{5}})
    check(function(b) return T.mse(T.ones(3, 4), b, {reduction = red}) end, {P{3, 4}})
  end
  check(function(a) return T.mse(a, 0.5) end, {P{3, 4}})
  check(function(a, b) return T.mse(a:t(), b) end, {P{4, 3}, P{3, 4}})
end)

test("mse values: mean, sum and per sample", function()
  local a, b = T.tensor{{1, 2}, {3, 4}}, T.tensor{{0, 0}, {1, 1}}
  near(T.mse(a, b), (1 + 4 + 4 + 9) / 4)
  near(T.mse(a, b, {reduction = "sum"}), 18)
  near(T.mse(a, b, {reduction = "none"}), {5, 13})
end)

test("gradcheck bce_with_logits with each reduction, also with respect to the target", function()
  for _, red in ipairs{"mean", "sum", "none"} do
    check(function(x, y) return T.bce_with_logits(x, y, {reduction = red}) end,
          {P({3, 4}, -4, 4), P({3, 4}, 0, 1)})
    check(function(x) return T.bce_with_logits(x, T.tensor{1, 0, 1}, {reduction = red}) end,
          {P({3}, -30, 30)})
  end
end)

test("bce_with_logits matches the naive formula and is stable for large logits", function()
  local x, y = T.tensor{-2, 0.5, 3}, T.tensor{0, 1, 0.3}
  local naive = -(y * x:sigmoid():log() + (1 - y) * (1 - x:sigmoid()):log())
  near(T.bce_with_logits(x, y, {reduction = "none"}), naive, 1e-14)
  near(T.bce_with_logits(T.tensor{800, -800}, T.tensor{0, 1}, {reduction = "sum"}), 1600)
end)

test("label errors: outside 1..C, not integers, wrong count", function()
  local x = T.tensor{{1, 2, 3}, {4, 5, 6}}:requires_grad()
  raises(function() T.cross_entropy(x, {1, 4}) end, "outside 1..3")
  raises(function() T.cross_entropy(x, {0, 1}) end, "label 0")
  raises(function() T.cross_entropy(x, {1, -1}) end, "outside")
  raises(function() T.cross_entropy(x, {1, 1.5}) end, "label 1.5 (row 2) is not an integer")
  raises(function() T.cross_entropy(x, T.tensor{2, 0 / 0}) end, "nan")
  raises(function() T.nll(x, {1, 4}) end, "nll")
  raises(function() T.cross_entropy(x, {1}) end, "one label per row")
  raises(function() T.cross_entropy(x, {1, "a"}) end, "expected a number")
  raises(function() T.cross_entropy(x, "labels") end, "indices must be")
  raises(function() T.cross_entropy(x:select(1, 1), {1}) end, "batch x classes")
  raises(function() T.cross_entropy(x, {1, 2}, {reduction = "avg"}) end, "reduction")
  raises(function() T.mse(x, T.ones(3, 2)) end, "mse: prediction has shape 2x3, target 3x2")
  raises(function() T.bce_with_logits(x, T.ones(3)) end, "bce_with_logits")
  raises(function() T.linear(T.ones(3), T.ones(2, 4)) end, "linear: input has 3 features")
  raises(function() T.linear(T.ones(4), T.ones(2, 4), T.ones(3)) end, "bias")
  raises(function() T.linear(T.ones(4), T.ones(4)) end, "2-D")
  raises(function() T.layer_norm(T.ones(2, 3), T.ones(2)) end, "layer_norm: weight")
  raises(function() T.layer_norm(T.ones(2, 3), nil, nil, -1) end, "eps")
  raises(function() T.softmax(T.ones(2, 3), 3) end, "softmax")
end)

test("NaN propagates through a loss and its gradients without a crash", function()
  local x = T.tensor{{1, 0 / 0, 2}, {0.5, 0.5, 0.5}}:requires_grad()
  local l = T.cross_entropy(x, {1, 2})
  ok(l:item() ~= l:item(), "the loss is NaN")
  l:backward()
  local g = x.grad:totable()
  ok(g[1][1] ~= g[1][1], "the gradient of the NaN row is NaN")
  local p = T.tensor{1, 2}:requires_grad()
  local m = T.mse(p, T.tensor{0 / 0, 1})
  ok(m:item() ~= m:item(), "mse is NaN")
  m:backward()
  ok(p.grad:get(1) ~= p.grad:get(1), "gradient is NaN")
  local q = T.tensor{-1, 4}:requires_grad()
  local s = q:sqrt():sum()
  ok(s:item() ~= s:item())
  s:backward()
  ok(q.grad:get(1) ~= q.grad:get(1))
  near(q.grad:get(2), 0.25)
end)

test("cross_entropy's gradient is (softmax - onehot) / N, or per row with sum", function()
  local x = R:normal(0, 2, {4, 3}):requires_grad()
  local y = {3, 1, 1, 2}
  T.cross_entropy(x, y):backward()
  local p = T.softmax(x:detach(), 2)
  local onehot = T.zeros(4, 3)
  for i, c in ipairs(y) do onehot:set(i, c, 1) end
  near(x.grad, (p - onehot) / 4, 1e-15)
  x.grad = nil
  T.cross_entropy(x, y, {reduction = "sum"}):backward()
  near(x.grad, p - onehot, 1e-15)
  x.grad = nil
  T.cross_entropy(x, y, {reduction = "none"}):backward(T.tensor{1, 0, 2, 0})
  local w = T.tensor{{1}, {0}, {2}, {0}}
  near(x.grad, (p - onehot) * w, 1e-15)
end)

test("nll picks minus the labelled entry, whatever the input", function()
  local x = T.tensor{{0.1, 0.2, 0.7}, {5, -1, 2}}:requires_grad()
  near(T.nll(x, {3, 1}, {reduction = "none"}), {-0.7, -5})
  near(T.nll(x, {3, 1}), (-0.7 - 5) / 2)
  near(T.nll(x, T.tensor{3, 1}, {reduction = "sum"}), -5.7)
  T.nll(x, {3, 1}):backward()
  eq(x.grad:totable(), {{0, 0, -0.5}, {-0.5, 0, 0}})
end)

test("cross_entropy is stable for huge logits and exact for -inf ones", function()
  local x = T.tensor{{1000, 0, -1000}, {-1e300, 1e300, 0}}:requires_grad()
  local l = T.cross_entropy(x, {1, 2}, {reduction = "none"})
  near(l, {0, 0})
  l:sum():backward()
  near(x.grad, T.zeros(2, 3))
  local z = T.tensor{{0, -math.huge, 0}}:requires_grad()
  local lz = T.cross_entropy(z, {1})
  near(lz, math.log(2), 1e-15)
  lz:backward()
  near(z.grad, {-0.5, 0, 0.5}, 1e-15)
  -- a label on a class with probability zero: an infinite loss, not a crash
  eq(T.cross_entropy(T.tensor{{0, -math.huge}}, {2}):item(), math.huge)
  -- the cross-entropy of equal logits is log C
  near(T.cross_entropy(T.zeros(3, 7), {1, 4, 7}), math.log(7), 1e-15)
end)

test("labels may be a table or a tensor, and are not changed", function()
  local x = R:normal(0, 1, {3, 4})
  local lt = T.tensor{4, 1, 2}
  near(T.cross_entropy(x, lt), T.cross_entropy(x, {4, 1, 2}), 0)
  eq(lt:totable(), {4, 1, 2})
  near(T.cross_entropy(x, lt:view(3, 1):select(2, 1)), T.cross_entropy(x, {4, 1, 2}), 0)
  raises(function() T.cross_entropy(x, T.tensor{{4, 1, 2}}) end, "one label per row")
  raises(function() T.cross_entropy(x, T.tensor{4, 1, 2.0000001}) end, "2.0000001")
end)

test("the labels tensor can change after the loss without breaking backward", function()
  local x = P{2, 3}
  local lab = T.tensor{1, 3}
  local l = T.cross_entropy(x, lab)
  lab:fill(2)
  l:backward()
  local p = T.softmax(x:detach(), 2)
  near(x.grad, (p - T.tensor{{1, 0, 0}, {0, 0, 1}}) / 2, 1e-15)
end)

test("mse: gradient 2 (a - b) / n, and minus that for the target", function()
  local a, b = P{3, 4}, P{3, 4}
  T.mse(a, b):backward()
  local d = (a:detach() - b:detach()) * (2 / 12)
  near(a.grad, d, 1e-15)
  near(b.grad, -d, 1e-15)
  -- reduction none: one loss per sample, summed over the other dims
  local c = T.tensor{{{1, 2}, {3, 4}}, {{0, 1}, {0, 0}}}
  near(T.mse(c, T.zeros(2, 2, 2), {reduction = "none"}), {30, 1})
  near(T.mse(T.tensor{1, 2, 3}, T.zeros(3), {reduction = "none"}), {1, 4, 9})
  near(T.mse(T.tensor{1, 2, 3}, 1), 5 / 3, 1e-15)
end)

test("bce_with_logits: gradient (sigmoid(x) - y) / n, and -x / n for the target", function()
  local x, y = P({2, 3}, -3, 3), P({2, 3}, 0, 1)
  T.bce_with_logits(x, y):backward()
  near(x.grad, (x:detach():sigmoid() - y:detach()) / 6, 1e-15)
  near(y.grad, -x:detach() / 6, 1e-15)
  near(T.bce_with_logits(T.zeros(4), T.ones(4)), math.log(2), 1e-15)
  near(T.bce_with_logits(T.tensor{{1, 2}, {3, 4}}, T.zeros(2, 2), {reduction = "none"}),
       {math.log(1 + math.exp(1)) + math.log(1 + math.exp(2)),
        math.log(1 + math.exp(3)) + math.log(1 + math.exp(4))}, 1e-14)
end)

test("losses accept non-contiguous inputs", function()
  local x = R:normal(0, 1, {4, 3})
  near(T.cross_entropy(x:t(), {1, 2, 3}), T.cross_entropy(x:t():contiguous(), {1, 2, 3}), 1e-15)
  local a, b = R:normal(0, 1, {3, 5}), R:normal(0, 1, {5, 3})
  near(T.mse(a, b:t()), T.mse(a, b:t():contiguous()), 1e-15)
  near(T.bce_with_logits(a, b:t():sigmoid()), T.bce_with_logits(a, b:t():sigmoid():contiguous()), 1e-15)
end)

test("losses on empty batches do not crash", function()
  local x = T.zeros(0, 3):requires_grad()
  local l = T.cross_entropy(x, {}, {reduction = "sum"})
  eq(l:item(), 0)
  l:backward()
  eq(x.grad:shape(), {0, 3})
  local m = T.mse(T.zeros(0):requires_grad(), T.zeros(0), {reduction = "sum"})
  eq(m:item(), 0)
end)

test("errors raised while reading arguments leak nothing", function()
  collectgarbage(); collectgarbage()
  local m0 = entro.mem()
  for _ = 1, 50 do
    raises(function() T.mse(T.ones(2), 0.5, {reduction = "bad"}) end, "mse: reduction")
    raises(function() T.bce_with_logits(T.ones(2), 1, {reduction = 7}) end, "bce_with_logits: reduction")
    raises(function() T.cross_entropy(T.ones(2, 3), {1, 9}) end, "outside 1..3")
    raises(function() T.cross_entropy(T.ones(2, 3), {1, "x"}) end, "expected a number")
    raises(function() T.cross_entropy(T.ones(2, 3), {1, 2}, {reduction = "x"}) end, "reduction")
    raises(function() T.where(T.ones(2), 1, "x") end, "where")
  end
  collectgarbage(); collectgarbage()
  eq(entro.mem(), m0)
end)
