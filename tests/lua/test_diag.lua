-- test_diag.lua -- balance and conserved quantities (diag/balance.lua) and the training
-- monitor (diag/monitor.lua): norms against direct sums, the running averages of balance
-- worked by hand over three steps, the charges, the exact one-step identities of PAPER.md §6
-- claims 1 and 4 checked through diag.charges, and the monitor's columns, rows and CSV.
local T = tensor
local log = require "entro.log"

-- (under no_grad: on a parameter, dot would record and give a tensor)
local function sq(t) return T.no_grad(function() local v = t:reshape(-1); return v:dot(v) end) end

-- An MLP with the given sizes (every option passed through), seeded.
local function mlp(sizes, opts)
  local spec = {rng = T.rng(opts and opts.seed or 1)}
  for k, v in pairs(opts or {}) do if k ~= "seed" then spec[k] = v end end
  for i, v in ipairs(sizes) do spec[i] = v end
  return nn.mlp(spec)
end

-- Fills every parameter's .grad with seeded normals.
local function set_grads(net, g)
  for _, p in ipairs(net:parameters()) do p.grad = g:randn(p:shape()) end
end

local function tmpfile(name)
  local path = os.tmpname()
  os.remove(path)
  return path .. "-" .. name
end

---------------------------------------------------------------------------------------------
-- norms

test("grad_norms and weight_norms: squared Frobenius norms per parameter, per layer, total", function()
  local net = mlp({3, 4, 2})
  local X, Y = T.rng(2):randn(5, 3), T.rng(3):randn(5, 2)
  net:zero_grad()
  nn.mse(net(X), Y):backward()
  local g, w = diag.grad_norms(net), diag.weight_norms(net)
  local names, total_g, total_w = 0, 0, 0
  for name, p in net:named_parameters() do
    names = names + 1
    near(g.params[name], sq(p.grad), 1e-15)
    near(w.params[name], sq(p), 1e-15)
    total_g, total_w = total_g + sq(p.grad), total_w + sq(p)
  end
  eq(names, 4)
  near(g.total, total_g, 1e-15)
  near(w.total, total_w, 1e-15)
  local l1, l2 = net.layers[1], net.layers[3]
  eq(g.params["layers.1.weight"], sq(l1.weight.grad))
  near(g.layers["layers.1"], sq(l1.weight.grad) + sq(l1.bias.grad), 1e-15)
  near(g.layers["layers.3"], sq(l2.weight.grad) + sq(l2.bias.grad), 1e-15)
  near(w.layers["layers.1"], sq(l1.weight) + sq(l1.bias), 1e-15)
  near(w.layers["layers.3"], sq(l2.weight) + sq(l2.bias), 1e-15)
  local n = 0
  for _ in pairs(g.layers) do n = n + 1 end
  eq(n, 2)
  -- before any backward the gradient norms are 0, not an error
  local fresh = mlp({3, 4, 2})
  eq(diag.grad_norms(fresh).total, 0)
  -- the names are cached, but a change to the module tree is seen
  net.layers:add(nn.Linear(2, 2, {rng = T.rng(6)}))
  local w2 = diag.weight_norms(net)
  near(w2.layers["layers.4"], sq(net.layers[4].weight) + sq(net.layers[4].bias), 1e-15)
  near(w2.params["layers.4.bias"], sq(net.layers[4].bias), 1e-15)
  near(w2.total, total_w + w2.layers["layers.4"], 1e-14)
  net.layers[4] = nn.Linear(2, 2, {bias = false, rng = T.rng(7)})
  local w3 = diag.weight_norms(net)
  near(w3.layers["layers.4"], sq(net.layers[4].weight), 1e-15)
  eq(w3.params["layers.4.bias"], nil)
  -- a deep linear net: no biases
  local dl = nn.deep_linear{2, 3, 2, rng = T.rng(4)}
  near(diag.weight_norms(dl).layers["layers.1"], sq(dl.layers[1].weight), 1e-15)
end)

---------------------------------------------------------------------------------------------
-- balance

-- The running averages diag.balance keeps, redone by hand: the first step's value, then
-- e <- beta e + (1 - beta) x.
local function by_hand(steps, beta)
  local e
  for _, x in ipairs(steps) do
    if e == nil then e = x
    elseif type(x) == "number" then e = beta * e + (1 - beta) * x
    else e = e * beta + x * (1 - beta) end
  end
  return e
end

test("balance: layer ratios, neuron balance and matrix residual over 3 steps, by hand", function()
  local net = mlp({2, 3, 4, 2})
  local L = net:layers()
  local beta = 0.7
  local g = T.rng(11)
  local energy = {{}, {}, {}}             -- energy[l][step]
  local gin, gout, ggin, ggout = {{}, {}}, {{}, {}}, {{}, {}}, {{}, {}}
  local r
  for step = 1, 3 do
    set_grads(net, g)
    for l = 1, 3 do energy[l][step] = sq(L[l].weight.grad) + sq(L[l].bias.grad) end
    for l = 1, 2 do
      local W, b, V = L[l].weight.grad, L[l].bias.grad, L[l + 1].weight.grad
      local vin, vout = {}, {}
      for j = 1, W:size(1) do
        vin[j] = sq(W:select(1, j)) + b:get(j) ^ 2     -- the bias joins the incoming group
        vout[j] = sq(V:select(2, j))
      end
      gin[l][step], gout[l][step] = T.tensor(vin), T.tensor(vout)
      local A = T.cat({W, b:reshape(-1, 1)}, 2)
      ggin[l][step], ggout[l][step] = A:matmul(A:t()), V:t():matmul(V)
    end
    r = diag.balance(net, {ema = beta, matrix = true})
    eq(r.steps, step)
  end
  local e = {}
  for l = 1, 3 do
    e[l] = by_hand(energy[l], beta)
    near(r.energy[l], e[l], 1e-14)
  end
  -- worked out explicitly for the first layer: x1, then 0.7 x1 + 0.3 x2, then again
  local x = energy[1]
  near(r.energy[1], 0.7 * (0.7 * x[1] + 0.3 * x[2]) + 0.3 * x[3], 1e-14)
  local maxr, sum_abs, count = 0, 0, 0
  for l = 1, 2 do
    local rho = e[l] / e[l + 1]
    near(r.ratios[l], rho, 1e-14)
    maxr = math.max(maxr, rho, 1 / rho)
    local a, b = by_hand(gin[l], beta), by_hand(gout[l], beta)
    local nb = (a - b) / (a + b)
    near(r.neurons[l], nb, 1e-14)
    eq(r.neurons[l]:numel(), L[l].weight:size(1))
    sum_abs, count = sum_abs + nb:abs():sum(), count + nb:numel()
    local A, B = by_hand(ggin[l], beta), by_hand(ggout[l], beta)
    near(r.matrix_residual[l], (A - B):norm() / (A:norm() + B:norm()), 1e-14)
    eq(r.dead[l], 0)
  end
  near(r.max_ratio, maxr, 1e-14)
  near(r.mean_abs_neuron, sum_abs / count, 1e-14)
  ok(r.max_ratio >= 1)
end)

test("balance: ema = 0 is the current step; reset, per-net state, and option changes", function()
  local net = mlp({2, 3, 2})
  local g = T.rng(5)
  set_grads(net, g)
  diag.balance(net, {ema = 0.9})
  set_grads(net, g)
  local L = net:layers()
  local now = (sq(L[1].weight.grad) + sq(L[1].bias.grad)) / (sq(L[2].weight.grad) + sq(L[2].bias.grad))
  local r = diag.balance(net, {ema = 0})
  eq(r.steps, 1, "a different ema starts over")
  near(r.ratios[1], now, 1e-14)
  local r2 = diag.balance(net, {ema = 0})
  eq(r2.steps, 2)
  near(r2.ratios[1], now, 1e-14)
  eq(diag.balance(net, {ema = 0, reset = true}).steps, 1)
  -- another net keeps its own averages
  local other = mlp({2, 3, 2}, {seed = 9})
  set_grads(other, g)
  eq(diag.balance(other, {ema = 0}).steps, 1)
  eq(diag.balance(net, {ema = 0}).steps, 2)
  -- matrix = true is a different tracker as well
  local rm = diag.balance(net, {ema = 0, matrix = true})
  eq(rm.steps, 1)
  ok(rm.matrix_residual[1] >= 0 and rm.matrix_residual[1] <= 1)
  eq(#diag.balance(net, {ema = 0}).matrix_residual, 0, "no matrix residual unless asked")
end)

test("balance: dead ReLU neurons count as balanced and stay out of the mean", function()
  local net = mlp({2, 3, 1})
  local L = net:layers()
  T.no_grad(function()   -- neuron 1 never fires: zero incoming weights, negative bias
    L[1].weight:select(1, 1):fill(0)
    L[1].bias:set(1, -1)
    L[1].bias:set(2, 2)
    L[1].bias:set(3, 2)
  end)
  local X, Y = T.rng(3):randn(8, 2), T.rng(4):randn(8, 1)
  net:zero_grad()
  nn.mse(net(X), Y):backward()
  local r = diag.balance(net, {ema = 0.5})
  eq(r.neurons[1]:get(1), 0)
  eq(r.dead[1], 1)
  ok(r.mean_abs_neuron == r.mean_abs_neuron, "mean_abs_neuron is not NaN")
  local live = (r.neurons[1]:abs():sum()) / 2
  near(r.mean_abs_neuron, live, 1e-15)
end)

test("balance and charges: clear errors", function()
  local net = mlp({2, 3, 2})
  raises(function() diag.balance(net, {ema = 1}) end, "diag.balance: ema must be in [0, 1), got 1")
  raises(function() diag.balance(net, {ema = -0.1}) end, "ema must be in [0, 1)")
  raises(function() diag.balance(net, {ema = "x"}) end, "ema must be in [0, 1), got x")
  raises(function() diag.balance(net, {ema = 0.5, reset = true}) end, "has no gradient yet")
  local one = nn.Sequential(nn.Linear(2, 2))
  raises(function() diag.balance(one) end, "diag.balance: needs at least two weight layers")
  local bad = nn.Sequential(nn.Linear(2, 3), nn.Linear(4, 2))
  raises(function() diag.balance(bad) end, "has 3 outputs but")
  raises(function() diag.charges(bad) end, "diag.charges:")
  raises(function() diag.charges(42) end, "diag.charges: net must be an nn module, got number")
  raises(function() diag.balance({}) end, "diag.balance: net must be an nn module, got table")
  raises(function() diag.balance(net, 0.9) end, "diag.balance: options must be a table, got number")
  raises(function() diag.charges(net, "x") end, "diag.charges: options must be a table")
  raises(function() diag.grad_norms(nil) end, "diag.grad_norms: net must be an nn module, got nil")
  raises(function() diag.weight_norms(tensor.ones(2)) end, "diag.weight_norms: net must be an nn module, got a tensor")
end)

---------------------------------------------------------------------------------------------
-- charges

test("charges: neuron charges, C_l matrices and norms, scale groups", function()
  local net = mlp({3, 4, 5, 2})
  local L = net:layers()
  local c = diag.charges(net, {scale_groups = {{L[1].weight}, {L[2].weight, L[2].bias}}})
  for l = 1, 2 do
    local W, b, V = L[l].weight, L[l].bias, L[l + 1].weight
    local want = {}
    for j = 1, W:size(1) do want[j] = sq(W:select(1, j)) + b:get(j) ^ 2 - sq(V:select(2, j)) end
    near(c.neurons[l], want, 1e-15)
    local A = T.cat({W, b:reshape(-1, 1)}, 2)
    local C = A:matmul(A:t()) - V:t():matmul(V)
    near(c.matrices[l], C, 1e-15)
    near(c.norms[l], C:norm(), 1e-15)
    -- the diagonal of C_l is the neuron charges
    for j = 1, W:size(1) do near(c.matrices[l]:get(j, j), want[j], 1e-14) end
  end
  eq(#c.neurons, 2)
  near(c.scale[1], sq(L[1].weight), 1e-15)
  near(c.scale[2], sq(L[2].weight) + sq(L[2].bias), 1e-15)
  eq(#diag.charges(net).scale, 0)
end)

-- One SGD step with weight decay γ (paper convention: gradient 2γθ) on the loss; returns the
-- loss gradients of every layer's weight and bias taken before the step.
local function sgd_step(net, opt, X, Y)
  opt:zero_grad()
  local loss = nn.mse(net(X), Y) * 0.5
  loss:backward()
  local G = {}
  for l, layer in ipairs(net:layers()) do
    G[l] = {w = layer.weight.grad:clone(), b = rawget(layer, "bias") and layer.bias.grad:clone()}
  end
  opt:step()
  return G
end

local function incoming(Gl) return Gl.b and T.cat({Gl.w, Gl.b:reshape(-1, 1)}, 2) or Gl.w end

test("claim 4: C_{t+1} = (1-2ηγ)² C_t + η²(G_l G_lᵀ - G_{l+1}ᵀG_{l+1}) for linear nets", function()
  local g = T.rng(21)
  local X, Y = g:randn(64, 3), g:randn(64, 2)
  local nets = {
    nn.deep_linear{3, 5, 4, 2, rng = g},
    nn.Sequential(nn.Linear(3, 4, {rng = g}), nn.Linear(4, 4, {rng = g}), nn.Linear(4, 2, {rng = g})),
  }
  for k, net in ipairs(nets) do
    for _, c in ipairs{{0.05, 0}, {0.05, 0.01}, {0.2, 0.05}} do
      local lr, gamma = c[1], c[2]
      local opt = optim.sgd(net:parameters(), {lr = lr, weight_decay = gamma})
      local worst, move = 0, 0
      for step = 1, 10 do
        local xb, yb = X:narrow(1, 1 + 6 * (step - 1), 8), Y:narrow(1, 1 + 6 * (step - 1), 8)
        local before = diag.charges(net)
        local wn = diag.weight_norms(net).layers
        local G = sgd_step(net, opt, xb, yb)
        local after = diag.charges(net)
        local L = net:layers()
        for l = 1, #L - 1 do
          local A, B = incoming(G[l]), G[l + 1].w
          local kick = A:matmul(A:t()) - B:t():matmul(B)
          local want = before.matrices[l] * (1 - 2 * lr * gamma) ^ 2 + kick * (lr * lr)
          local scale = wn[(L[l]:path():gsub("^net%.", ""))] + wn[(L[l + 1]:path():gsub("^net%.", ""))]
          worst = math.max(worst, (after.matrices[l] - want):norm() / scale)
          move = math.max(move, (after.matrices[l] - before.matrices[l]):norm() / scale)
        end
      end
      ok(worst < 1e-12, string.format("net %d lr %g gamma %g: error %.3g", k, lr, gamma, worst))
      ok(move > 1e-6, "the charges moved: " .. move)
    end
  end
end)

test("claim 1 through diag.charges: D_{t+1} = D_t[(1-2ηγ)² - η² g_t²] for f = u w x", function()
  local g = T.rng(24)
  local X = g:randn(200, 1)
  local Y = X + g:randn(200, 1)
  for _, c in ipairs{{0.1, 0}, {0.1, 1e-3}, {0.2, 0.01}} do
    local lr, gamma = c[1], c[2]
    local net = nn.Sequential(nn.Linear(1, 1, {bias = false}), nn.Linear(1, 1, {bias = false}))
    local L = net:layers()
    T.no_grad(function() L[1].weight:fill(2); L[2].weight:fill(0.25) end)
    local opt = optim.sgd(net:parameters(), {lr = lr, weight_decay = gamma})
    local worst = 0
    local D0 = diag.charges(net).neurons[1]:get(1)
    near(D0, 4 - 0.0625, 1e-15)
    for step = 1, 50 do
      local xb, yb = X:narrow(1, 1 + 3 * (step - 1), 8), Y:narrow(1, 1 + 3 * (step - 1), 8)
      local u, w = L[1].weight:item(), L[2].weight:item()
      local gt = T.no_grad(function() return ((xb * (u * w) - yb) * xb):mean() end)
      local D = diag.charges(net).neurons[1]:get(1)
      sgd_step(net, opt, xb, yb)
      local Dn = diag.charges(net).neurons[1]:get(1)
      local S = L[1].weight:item() ^ 2 + L[2].weight:item() ^ 2
      worst = math.max(worst, math.abs(Dn - D * ((1 - 2 * lr * gamma) ^ 2 - lr * lr * gt * gt)) / S)
    end
    ok(worst < 1e-14, string.format("lr %g gamma %g: error %.3g", lr, gamma, worst))
    ok(math.abs(diag.charges(net).neurons[1]:get(1) - D0) > 1e-3, "D moved")
  end
end)

test("claim 4 for ReLU layers: the diagonal holds neuron by neuron (biases included)", function()
  local g = T.rng(22)
  local X, Y = g:randn(40, 3), g:randn(40, 2)
  local net = mlp({3, 6, 5, 2}, {seed = 23})
  local lr, gamma = 0.1, 0.02
  local opt = optim.sgd(net:parameters(), {lr = lr, weight_decay = gamma})
  local worst, worst_no_kick = 0, 0
  for step = 1, 15 do
    local xb, yb = X:narrow(1, 1 + 2 * (step - 1), 8), Y:narrow(1, 1 + 2 * (step - 1), 8)
    local L = net:layers()
    local before = diag.charges(net)
    local sizes = {}
    for l = 1, #L - 1 do   -- ||w_in||² + ||w_out||² per neuron: the scale of the error
      sizes[l] = T.no_grad(function()
        return L[l].weight:square():sum(2) + L[l].bias:square() + L[l + 1].weight:square():sum(1)
      end)
    end
    local G = sgd_step(net, opt, xb, yb)
    local after = diag.charges(net)
    for l = 1, #L - 1 do
      local gin = G[l].w:square():sum(2) + G[l].b:square()
      local gout = G[l + 1].w:square():sum(1)
      local decayed = before.neurons[l] * (1 - 2 * lr * gamma) ^ 2
      local want = decayed + (gin - gout) * (lr * lr)
      worst = math.max(worst, ((after.neurons[l] - want):abs() / sizes[l]):max())
      worst_no_kick = math.max(worst_no_kick, ((after.neurons[l] - decayed):abs() / sizes[l]):max())
    end
  end
  ok(worst < 1e-13, string.format("neuron identity error %.3g", worst))
  ok(worst_no_kick > 1e-6, "the η² term matters: " .. worst_no_kick)
end)

test("balance tracks SGD: the ratio equals a running average of the layers' gradient energy", function()
  local g = T.rng(30)
  local X, Y = g:randn(32, 3), g:randn(32, 2)
  local net = mlp({3, 4, 2}, {seed = 31})
  local opt = optim.sgd(net:parameters(), {lr = 0.05})
  local e1, e2
  local r
  for step = 1, 6 do
    local xb, yb = X:narrow(1, 1 + 4 * (step - 1), 4), Y:narrow(1, 1 + 4 * (step - 1), 4)
    opt:zero_grad()
    nn.mse(net(xb), yb):backward()
    local L = net:layers()
    local x1 = sq(L[1].weight.grad) + sq(L[1].bias.grad)
    local x2 = sq(L[2].weight.grad) + sq(L[2].bias.grad)
    e1 = e1 and 0.8 * e1 + 0.2 * x1 or x1
    e2 = e2 and 0.8 * e2 + 0.2 * x2 or x2
    r = diag.balance(net, {ema = 0.8})
    opt:step()
  end
  near(r.ratios[1], e1 / e2, 1e-13)
  eq(r.steps, 6)
end)

---------------------------------------------------------------------------------------------
-- monitor

test("monitor: rows every k steps, columns, and a CSV that has every row before close", function()
  local g = T.rng(40)
  local X, Y = g:randn(16, 3), g:randn(16, 2)
  local net = mlp({3, 5, 2}, {seed = 41, act = "tanh"})
  T.no_grad(function() net.layers[3].weight:narrow(2, 1, 2):mul_(4) end)   -- charges of both signs
  local params = net:parameters()
  local f = function() return nn.mse(net(X), Y) end
  local path = tmpfile("monitor.csv")
  local mon = diag.monitor(net, {every = 3, file = path, ema = 0.9, loss_fn = f,
                                 sharpness_iter = 32, rng = T.rng(1),
                                 "loss", "grad_norms", "balance", "charges", "sharpness"})
  local opt = optim.sgd(params, {lr = 0.05})
  local expect = {}
  local e1, e2
  for step = 1, 10 do
    opt:zero_grad()
    local loss = f()
    loss:backward()
    local row = mon:record(step, {loss = loss, lr = 0.05})
    if (step - 1) % 3 == 0 then
      ok(row ~= nil, "step " .. step .. " is recorded")
      local gn = diag.grad_norms(net)
      local ch = diag.charges(net)
      local L = net:layers()
      local x1 = sq(L[1].weight.grad) + sq(L[1].bias.grad)
      local x2 = sq(L[2].weight.grad) + sq(L[2].bias.grad)
      e1 = e1 and 0.9 * e1 + 0.1 * x1 or x1   -- the average runs over recorded steps
      e2 = e2 and 0.9 * e2 + 0.1 * x2 or x2
      local H = diag.hessian(f, params)
      local top = T.linalg.eigvalsh(H):totable()
      expect[#expect + 1] = {step = step, loss = loss:item(), total = gn.total,
                             l1 = gn.layers["layers.1"], norm1 = ch.norms[1],
                             neuron1 = ch.neurons[1]:abs():mean(), ratio = e1 / e2,
                             sharp = top[#top]}
    else
      eq(row, nil, "step " .. step .. " is skipped")
    end
    opt:step()
  end
  eq(#mon:rows(), 4)
  eq(mon:column("step"), {1, 4, 7, 10})
  for i, e in ipairs(expect) do
    local row = mon:rows()[i]
    eq(row.step, e.step)
    near(row.loss, e.loss, 1e-15)
    near(row["grad_norms.total"], e.total, 1e-15)
    near(row["grad_norms.layers.1"], e.l1, 1e-15)
    near(row["charges.norm.1"], e.norm1, 1e-15)
    near(row["charges.neuron_mean_abs.1"], e.neuron1, 1e-15)
    near(row["balance.ratio.1"], e.ratio, 1e-13)
    near(row["balance.max_ratio"], math.max(e.ratio, 1 / e.ratio), 1e-13)
    near(row.sharpness, e.sharp, 1e-8)
    eq(row.lr, 0.05)
  end
  near(mon:column("loss"), {expect[1].loss, expect[2].loss, expect[3].loss, expect[4].loss}, 1e-15)
  eq(mon:last(), mon:rows()[4])
  -- the file has every row already, without close: read it back
  local cols, names = log.read_csv(path)
  eq(names[1], "step")
  eq(#names, #mon:columns())
  for _, name in ipairs(mon:columns()) do
    ok(cols[name], "column " .. name .. " in the file")
    near(cols[name], mon:column(name), 1e-15, name)
  end
  mon:close()
  mon:close()   -- twice is fine
  os.remove(path)
end)

test("monitor: force, late columns, extras, and no file", function()
  local net = mlp({2, 3, 2})
  local mon = diag.monitor(net, {every = 5, "grad_norms"})
  set_grads(net, T.rng(1))
  eq(mon:record(2), nil)
  ok(mon:record(2, {acc = 0.5}, true), "force records off schedule")
  mon:record(6, {other = T.tensor{3}})
  eq(#mon:rows(), 2)
  local acc = mon:column("acc")
  eq(acc[1], 0.5)
  ok(acc[2] ~= acc[2], "a missing value is NaN")
  local other = mon:column("other")
  ok(other[1] ~= other[1], "a column that appears late is NaN before")
  eq(other[2], 3)
  eq(mon:column("step"), {2, 6})
end)

test("monitor: a CSV row with a new column is refused and not kept", function()
  local net = mlp({2, 3, 2})
  set_grads(net, T.rng(1))
  local path = tmpfile("late.csv")
  local mon <close> = diag.monitor(net, {file = path, "grad_norms"})
  mon:record(1)
  raises(function() mon:record(2, {late = 1}) end, "late")
  eq(#mon:rows(), 1, "the refused row is not in memory either")
  mon:record(3)
  local cols = log.read_csv(path)
  eq(cols.step, {1, 3})
  mon:close()
  os.remove(path)
end)

test("monitor: clear errors", function()
  local net = mlp({2, 3, 2})
  raises(function() diag.monitor(net, {"los"}) end, "diag.monitor: unknown diagnostic 'los' (known: ")
  raises(function() diag.monitor(net, {every = 0}) end, "diag.monitor: every must be a positive integer, got 0")
  raises(function() diag.monitor(net, {every = 1.5}) end, "every must be a positive integer")
  local mon = diag.monitor(net, {"loss"})
  raises(function() mon:record(1.5) end, "monitor:record: step must be an integer, got 1.5")
  raises(function() mon:record(1) end, "\"loss\" was asked for; pass it in the extras")
  raises(function() mon:record(1, {loss = "low"}) end, "'loss' is a string, expected a number")
  raises(function() mon:record(1, {loss = T.ones(2)}) end, "tensor of several elements")
  eq(#mon:rows(), 0)
  mon:record(1, {loss = 0.25})
  raises(function() mon:column("nope") end, "monitor:column: no column 'nope' (have: loss, step)")
  local ms = diag.monitor(net, {"sharpness"})
  set_grads(net, T.rng(2))
  raises(function() ms:record(1) end, "\"sharpness\" needs a loss_fn option")
end)
