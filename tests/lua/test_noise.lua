-- test_noise.lua -- gradient noise diagnostics (diag/noise.lua): per-sample gradient norms
-- (the one-backward identity for Linear nets against a backward per sample and against
-- tensor.grad of each sample's own loss), Tr Σ, the noise scale, the temperature, the
-- batch-excess formula against sampled minibatches (PAPER.md §6 claim 8), and the entropic
-- loss F and its force ∇F - ∇L against central differences of F itself.
local T = tensor
local LA = T.linalg

local function flat(list) return T.no_grad(diag.flatten, list) end
local function sq(v) return v:dot(v) end

-- A seeded MLP (Linear layers only, so the fast path applies) with data.
local function setup(spec)
  local g = T.rng(spec.seed or 1)
  local m = {act = spec.act or "relu", rng = g, bias = spec.bias}
  for i, v in ipairs(spec.sizes) do m[i] = v end
  local net = nn.mlp(m)
  local N, q = spec.n or 12, spec.sizes[#spec.sizes]
  local X = g:randn(N, spec.sizes[1])
  local Y = spec.classes and g:randint(1, q, N) or g:randn(N, q)
  return net, X, Y, spec.classes and nn.cross_entropy or nn.mse
end

-- Each sample's gradient as a flat vector, from tensor.grad of that sample's own loss taken
-- out of a reduction = "none" loss over the whole batch (an independent route: no slicing of
-- the data, one graph for all samples).
local function per_sample_grads(net, loss_fn, X, Y)
  local N = X:size(1)
  local q = loss_fn == nn.mse and Y:size(2) or 1   -- mse's mean runs over outputs too
  local out = {}
  for i = 1, N do
    local g = T.grad(function()
      return loss_fn(net(X), Y, {reduction = "none"}):select(1, i) * (1 / q)
    end, net:parameters())
    out[i] = flat(g)
  end
  return out
end

local CASES = {
  {name = "relu MLP, mse", sizes = {4, 5, 3}, seed = 1},
  {name = "tanh MLP, cross-entropy", sizes = {4, 6, 3}, act = "tanh", classes = true, seed = 2},
  {name = "deeper relu MLP without biases, mse", sizes = {3, 4, 4, 2}, bias = false, seed = 3},
}

for _, c in ipairs(CASES) do
  test("per-sample norms: fast identity = loop = tensor.grad per sample (" .. c.name .. ")", function()
    local net, X, Y, loss_fn = setup(c)
    local fast, info = diag.per_sample_sqnorms(net, loss_fn, X, Y, {method = "fast"})
    local loop, info2 = diag.per_sample_sqnorms(net, loss_fn, X, Y, {method = "loop"})
    local auto = diag.per_sample_sqnorms(net, loss_fn, X, Y)
    local gs = per_sample_grads(net, loss_fn, X, Y)
    local want = {}
    for i, gi in ipairs(gs) do want[i] = sq(gi) end
    local scale = math.max(table.unpack(want))
    near(fast, loop, 1e-10 * scale)
    near(fast, want, 1e-10 * scale)
    near(auto, fast, 0)
    -- the full-batch gradient and loss come back too, and the gradient is the mean of the
    -- per-sample gradients (the loss is a mean over samples)
    local full, loss = T.grad(function() return loss_fn(net(X), Y) end, net:parameters())
    near(flat(info.grad), flat(full), 1e-14)
    near(flat(info2.grad), flat(full), 1e-14)
    near(info.loss, loss:item(), 1e-15)
    local mean = T.zeros(gs[1]:numel())
    for _, gi in ipairs(gs) do mean:add_(gi) end
    near(mean * (1 / #gs), flat(full), 1e-13)
  end)
end

test("noise: grad_sq, Tr Σ, noise scale, temperature and batch excess", function()
  local net, X, Y, loss_fn = setup(CASES[1])
  local N = X:size(1)
  local gs = per_sample_grads(net, loss_fn, X, Y)
  local mean = T.zeros(gs[1]:numel())
  for _, gi in ipairs(gs) do mean:add_(gi * (1 / N)) end
  local trace = 0   -- Tr Σ = (1/N) Σ ||g_i - ḡ||²: the covariance's trace, directly
  for _, gi in ipairs(gs) do trace = trace + sq(gi - mean) / N end
  local r = diag.noise(net, loss_fn, X, Y, {batch = 4, lr = 0.05})
  near(r.grad_sq, sq(mean), 1e-13)
  near(r.trace, trace, 1e-12)
  ok(r.trace > 0)
  near(r.noise_scale, trace / sq(mean), 1e-12)
  near(r.temperature, 0.05 * trace / 4, 1e-13)
  near(r.batch_excess, trace / 4, 1e-13)
  eq(r.n, N)
  near(r.loss, loss_fn(net(X), Y):item(), 1e-15)
  local w = diag.noise(net, loss_fn, X, Y, {batch = 4, replacement = false})
  near(w.batch_excess, trace * (N - 4) / (4 * (N - 1)), 1e-13)
  eq(w.temperature, nil, "no lr, no temperature")
  near(diag.noise(net, loss_fn, X, Y, {batch = N, replacement = false}).batch_excess, 0, 1e-15)
  near(diag.noise(net, loss_fn, X, Y, {batch = 1, replacement = false}).batch_excess, trace, 1e-13)
  local plain = diag.noise(net, loss_fn, X, Y)
  eq(plain.batch_excess, nil)
  near(plain.trace, trace, 1e-12)
  -- the loop method gives the same numbers
  near(diag.noise(net, loss_fn, X, Y, {method = "loop"}).trace, trace, 1e-12)
end)

test("trace_from_batches inverts E||g_b||² = ||ḡ||² + Tr Σ / b", function()
  local gsq, tr = 0.7, 3.2
  local e = function(b) return gsq + tr / b end
  near(diag.trace_from_batches(2, e(2), 16, e(16)), tr, 1e-13)
  near(diag.trace_from_batches(1, e(1), 5, e(5)), tr, 1e-13)
  raises(function() diag.trace_from_batches(8, 1, 8, 1) end, "needs b1 < b2")
  raises(function() diag.trace_from_batches(16, 1, 8, 1) end, "needs b1 < b2")
end)

test("noise and per-sample norms: clear errors", function()
  local net, X, Y, loss_fn = setup(CASES[1])
  raises(function() diag.noise(net, loss_fn, X, Y, {batch = 0}) end,
         "diag.noise: batch must be an integer in 1..12, got 0")
  raises(function() diag.noise(net, loss_fn, X, Y, {batch = 13}) end, "batch must be an integer in 1..12")
  raises(function() diag.noise(net, loss_fn, X, Y, {batch = 2.5}) end, "got 2.5")
  raises(function() diag.noise(net, loss_fn, X, Y:narrow(1, 1, 5)) end, "diag.noise: X has 12 samples, Y has 5")
  raises(function() diag.noise(net, loss_fn, "X", Y) end, "diag.noise: X must be a tensor")
  raises(function() diag.noise(42, loss_fn, X, Y) end, "diag.noise: net must be an nn module, got number")
  raises(function() diag.noise(net, "mse", X, Y) end, "diag.noise: loss_fn must be a function")
  raises(function() diag.noise(net, loss_fn, X, Y, 4) end, "diag.noise: options must be a table")
  raises(function() diag.entropic_loss(nil, loss_fn, X, Y, {lr = 0.1}) end, "diag.entropic_loss: net must be")
  raises(function() diag.entropic_force(net, nil, X, Y, {lr = 0.1}) end, "diag.entropic_force: loss_fn must be")
  raises(function() diag.expected_balance(net, loss_fn, X, Y, true) end, "diag.expected_balance: options must be")
  raises(function() diag.per_sample_sqnorms({}, loss_fn, X, Y) end, "diag.per_sample_sqnorms: net must be")
  raises(function() diag.trace_from_batches(1, nil, 2, 3) end, "diag.trace_from_batches: argument 2 must be a number")
  raises(function() diag.trace_from_batches(4, 1, 2, 3) end, "diag.trace_from_batches: needs b1 < b2")
  raises(function() diag.per_sample_sqnorms(net, loss_fn, X, Y, {method = "quick"}) end,
         "method must be auto, fast or loop, got quick")
  -- the fast method needs Linear layers only; auto falls back to the loop
  local g = T.rng(5)
  local ln = nn.Sequential(nn.Linear(4, 4, {rng = g}), nn.LayerNorm(4), nn.Linear(4, 3, {rng = g}))
  raises(function() diag.per_sample_sqnorms(ln, loss_fn, X, Y, {method = "fast"}) end,
         "the fast method needs a net of Linear layers only")
  local a = diag.per_sample_sqnorms(ln, loss_fn, X, Y)
  local b = diag.per_sample_sqnorms(ln, loss_fn, X, Y, {method = "loop"})
  near(a, b, 0)
  -- 3-d inputs: a clear message from the fast method, and auto uses the loop
  local X3 = g:randn(12, 2, 4)
  local Y3 = g:randn(12, 2, 3)
  raises(function() diag.per_sample_sqnorms(net, loss_fn, X3, Y3, {method = "fast"}) end,
         "diag.per_sample_sqnorms: the fast method needs (samples x features) inputs")
  local s3 = diag.per_sample_sqnorms(net, loss_fn, X3, Y3)
  eq(s3:numel(), 12)
  -- the probes were removed again: the net runs as before and its forward is the class's
  for _, l in ipairs(net:layers()) do eq(rawget(l, "forward"), nil) end
  near(net(X), net(X), 0)
end)

---------------------------------------------------------------------------------------------
-- claim 8: E_B ||∇L_B||² - ||∇L||² = Tr Σ / B (with replacement), Tr Σ (N-B)/(B(N-1)) without

-- A linear regression at its least-squares solution (∇L = 0, so the sampled excess has no
-- ḡ·e cross term and its mean is measured sharply), and that model moved off the minimum.
local function regression(N, offset)
  local g = T.rng(31)
  local X, Y = g:randn(N, 3), g:randn(N, 2)
  local net = nn.Sequential(nn.Linear(3, 2, {rng = g}))
  local beta = LA.lstsq(T.cat({X, T.ones(N, 1)}, 2), Y)   -- 4 x 2
  T.no_grad(function()
    local lin = net:layers()[1]
    lin.weight:copy(beta:narrow(1, 1, 3):t())
    lin.bias:copy(beta:select(1, 4))
    if offset then lin.bias:add_(offset) end
  end)
  return net, X, Y
end

-- Mean and standard error of ||∇L_B||² - ||∇L||² over M sampled batches of size B.
local function sampled_excess(net, X, Y, B, replacement, M, rng)
  local N = X:size(1)
  local params = net:parameters()
  local full = flat((T.grad(function() return nn.mse(net(X), Y) end, params)))
  local s, s2 = 0, 0
  for _ = 1, M do
    local idx = replacement and rng:randint(1, N, B) or rng:perm(N):narrow(1, 1, B)
    local xb, yb = X:index_select(1, idx), Y:index_select(1, idx)
    local gb = flat((T.grad(function() return nn.mse(net(xb), yb) end, params)))
    local e = sq(gb) - sq(full)
    s, s2 = s + e, s2 + e * e
  end
  local mean = s / M
  return mean, math.sqrt((s2 / M - mean * mean) / (M - 1))
end

test("claim 8: sampled batch excess = Tr Σ/B with, Tr Σ(N-B)/(B(N-1)) without replacement", function()
  local N, M = 32, 1500
  local net, X, Y = regression(N)
  local r = diag.noise(net, nn.mse, X, Y)
  ok(r.grad_sq < 1e-20, "at the least-squares solution the full gradient vanishes")
  local rng = T.rng(99)
  for _, B in ipairs{4, 16} do
    local with, without = r.trace / B, r.trace * (N - B) / (B * (N - 1))
    near(diag.noise(net, nn.mse, X, Y, {batch = B}).batch_excess, with, 1e-14)
    near(diag.noise(net, nn.mse, X, Y, {batch = B, replacement = false}).batch_excess, without, 1e-14)
    local m1, se1 = sampled_excess(net, X, Y, B, true, M, rng)
    local m2, se2 = sampled_excess(net, X, Y, B, false, M, rng)
    ok(math.abs(m1 - with) <= 3 * se1,
       string.format("B=%d with replacement: %.5g vs %.5g (se %.2g)", B, m1, with, se1))
    ok(math.abs(m2 - without) <= 3 * se2,
       string.format("B=%d without: %.5g vs %.5g (se %.2g)", B, m2, without, se2))
    if B == 16 then   -- the wrong factor is detectably wrong
      ok(math.abs(m1 - without) > 3 * se1, "with replacement, the without-formula should be off")
      ok(math.abs(m2 - with) > 3 * se2, "without replacement, the with-formula should be off")
    end
  end
end)

test("claim 8 away from the minimum (the ḡ·e cross term averages out)", function()
  local N = 32
  local net, X, Y = regression(N, 0.3)
  local r = diag.noise(net, nn.mse, X, Y, {batch = 4})
  ok(r.grad_sq > 0.01, "off the minimum")
  local m, se = sampled_excess(net, X, Y, 4, true, 1500, T.rng(7))
  ok(math.abs(m - r.batch_excess) <= 3 * se,
     string.format("%.5g vs %.5g (se %.2g)", m, r.batch_excess, se))
end)

---------------------------------------------------------------------------------------------
-- entropic loss and force

-- f(x) = w2 tanh(w1 x + b1): three parameters, six samples
local function tiny()
  local g = T.rng(17)
  local net = nn.Sequential(nn.Linear(1, 1, {rng = g}), nn.Tanh(), nn.Linear(1, 1, {bias = false, rng = g}))
  T.no_grad(function()
    net:layers()[1].weight:fill(0.8); net:layers()[1].bias:fill(-0.3); net:layers()[2].weight:fill(1.3)
  end)
  local X = g:randn(6, 1)
  local Y = (X * 1.5):tanh() + g:randn(6, 1) * 0.3
  return net, X, Y
end

test("entropic_loss: L + γ||θ||² + (η/4)||∇L||² + noise part, with and without replacement", function()
  local net, X, Y, loss_fn = setup(CASES[1])
  local N = X:size(1)
  local nz = diag.noise(net, loss_fn, X, Y)
  local theta = flat(net:parameters())
  local e = diag.entropic_loss(net, loss_fn, X, Y, {lr = 0.1, batch = 4, weight_decay = 1e-3})
  near(e.loss, nz.loss, 1e-15)
  near(e.decay, 1e-3 * sq(theta), 1e-15)
  near(e.discretization, 0.1 / 4 * nz.grad_sq, 1e-15)
  near(e.noise, 0.1 / (4 * 4) * nz.trace, 1e-14)
  near(e.F, e.loss + e.decay + e.discretization + e.noise, 1e-15)
  near(e.trace, nz.trace, 1e-13)
  near(e.grad_sq, nz.grad_sq, 1e-15)
  local w = diag.entropic_loss(net, loss_fn, X, Y, {lr = 0.1, batch = 4, replacement = false})
  near(w.noise, 0.1 / 4 * nz.trace * (N - 4) / (4 * (N - 1)), 1e-14)
  eq(w.decay, 0)
  -- no batch: full-batch GD has only the discretization part
  local gd = diag.entropic_loss(net, loss_fn, X, Y, {lr = 0.1})
  eq(gd.noise, 0)
  near(gd.F, gd.loss + gd.discretization, 1e-15)
  raises(function() diag.entropic_loss(net, loss_fn, X, Y, {}) end,
         "diag.entropic_loss: lr must be a positive number, got nil")
  raises(function() diag.entropic_loss(net, loss_fn, X, Y, {lr = 0.1, batch = 99}) end,
         "diag.entropic_loss: batch must be an integer in 1..12, got 99")
  raises(function() diag.entropic_force(net, loss_fn, X, Y, {lr = -1}) end,
         "diag.entropic_force: lr must be a positive number")
  raises(function() diag.entropic_force(net, loss_fn, X, Y, {lr = 0.1, batch = 0}) end,
         "diag.entropic_force: batch must be an integer in 1..12")
end)

-- ∇ of a function of the parameters by central differences (step h), restoring them.
local function fd_grad(fn, params, h)
  local theta = flat(params)
  local n = theta:numel()
  local out = T.zeros(n)
  local function set(v)
    T.no_grad(function()
      local parts = diag.unflatten(v, params)
      for i, p in ipairs(params) do p:copy(parts[i]) end
    end)
  end
  for i = 1, n do
    local a, b = theta:clone(), theta:clone()
    a:set(i, theta:get(i) + h)
    b:set(i, theta:get(i) - h)
    set(a); local fa = fn()
    set(b); local fb = fn()
    out:set(i, (fa - fb) / (2 * h))
  end
  set(theta)
  return out
end

test("entropic_force = ∇F - ∇L - ∇(γ||θ||²) against central differences of F", function()
  local net, X, Y = tiny()
  local params = net:parameters()
  local configs = {
    {lr = 0.1, batch = 2},
    {lr = 0.1, batch = 2, replacement = false},
    {lr = 0.3, batch = 5, replacement = false, weight_decay = 0.01},
    {lr = 0.2},                                   -- full batch: discretization part only
  }
  for _, o in ipairs(configs) do
    local dF = fd_grad(function()
      local e = diag.entropic_loss(net, nn.mse, X, Y, o)
      return e.F - e.loss - e.decay
    end, params, 1e-5)
    local force, fv = diag.entropic_force(net, nn.mse, X, Y, o)
    eq(#force, #params)
    near(flat(force), fv, 0)
    local err = (fv - dF):norm() / dF:norm()
    ok(err < 1e-6, string.format("lr %g batch %s: relative error %.3g (|force| %.3g)", o.lr,
                                 tostring(o.batch), err, dF:norm()))
    -- and F - L minus the decay is what the force is the gradient of: the decay's own
    -- gradient is 2γθ, so ∇F - ∇L = force + 2γθ
    if o.weight_decay then
      local dFL = fd_grad(function()
        local e = diag.entropic_loss(net, nn.mse, X, Y, o)
        return e.F - e.loss
      end, params, 1e-5)
      near(dFL, fv + flat(params) * (2 * o.weight_decay), 1e-8)
    end
  end
  -- the parameters are unchanged by all of this
  near(flat(params), T.tensor{0.8, -0.3, 1.3}, 0)
end)

test("entropic_force: the noise part vanishes at B = N without replacement", function()
  local net, X, Y = tiny()
  local _, gd = diag.entropic_force(net, nn.mse, X, Y, {lr = 0.1})
  local _, full = diag.entropic_force(net, nn.mse, X, Y, {lr = 0.1, batch = 6, replacement = false})
  near(full, gd, 1e-15)
  local _, noisy = diag.entropic_force(net, nn.mse, X, Y, {lr = 0.1, batch = 1})
  ok((noisy - gd):norm() > 1e-6, "batch 1 adds a noise force")
end)

test("expected_balance: E_B||grad W_l||^2 at fixed weights equals the brute-force per-sample sum", function()
  local g = tensor.rng(4)
  local net = nn.mlp{5, 7, 6, 3, act = "relu", rng = g}
  local X, Y = g:randn(40, 5), g:randn(40, 3)
  local half_sq = function(p, y) return nn.mse(p, y, {reduction = "sum"}) * (0.5 / p:size(1)) end
  local params = net:parameters()
  local per = {}
  for i = 1, 40 do
    per[i] = tensor.grad(function() return half_sq(net(X:narrow(1, i, 1)), Y:narrow(1, i, 1)) end, params)
  end
  for _, B in ipairs{1, 4} do
    local r = diag.expected_balance(net, half_sq, X, Y, {batch = B, matrix = true})
    for l = 1, 3 do
      local w, b = 2 * l - 1, 2 * l
      local gw, gb, e = per[1][w] * 0, per[1][b] * 0, 0
      for i = 1, 40 do
        gw, gb = gw + per[i][w] * (1 / 40), gb + per[i][b] * (1 / 40)
        e = e + (per[i][w]:square():sum() + per[i][b]:square():sum()) / 40
      end
      local m = gw:square():sum() + gb:square():sum()
      near(r.energy[l], m + (e - m) / B, 1e-12, "layer " .. l .. ", B = " .. B)
    end
    ok(r.max_ratio >= 1 and r.matrix_residual[1] >= 0 and r.matrix_residual[1] <= 1)
    eq(r.neurons[1]:numel(), 7)
  end
  raises(function() diag.expected_balance(net, half_sq, X, Y, {batch = 0}) end, "batch")
end)
