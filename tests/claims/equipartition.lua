-- Claims 4, 5 and 6 (PAPER.md §6) at reduced size: gradient balance across layers, neurons
-- and matrices. Gradient flow conserves C_l = W_l W_lᵀ − W_{l+1}ᵀ W_{l+1} (linear layers) and
-- each hidden neuron's ‖w_in‖² − ‖w_out‖² (ReLU layers); one SGD step changes them only by
-- η² times the step's gradient energies, exactly. With gradient noise at the minimum that η²
-- term balances the expected energies; GD keeps the charges. The full experiment, on
-- Fashion-MNIST for claim 6, is scripts/paper/equipartition.lua; here claim 6 uses a teacher
-- with fresh samples, which is cheaper.

-- The energies SGD with batch B sees at the current weights (diag.expected_balance) for
-- the ½-squared-error loss: layer energies E_B‖∇W_l‖² and the matrix residuals.
local function expected_energies(net, X, Y, B)
  local half_sq = function(p, y) return nn.mse(p, y, {reduction = "sum"}) * (0.5 / p:size(1)) end
  local r = diag.expected_balance(net, half_sq, X, Y, {batch = B, matrix = true})
  return r.energy, r.matrix_residual
end

------------------------------------------------------------------------------------------
-- Claim 4: the identity, step by step

-- Runs `steps` batch-8 SGD steps and returns the largest error of the identity for
-- C_l (linear nets: the whole matrix, relative to ‖W_lW_lᵀ‖ + ‖W_{l+1}ᵀW_{l+1}‖) or for
-- its diagonal (ReLU nets: per neuron, relative to ‖w_in‖² + ‖w_out‖²), plus the error of the
-- whole-matrix identity. `factor` replaces (1 − 2ηγ)² to check that a wrong one is caught.
local function identity_error(net, lr, gamma, steps, factor)
  local g = tensor.rng(3)
  local X, Y = g:randn(128, 4), g:randn(128, 2)
  local opt = optim.sgd(net:parameters(), {lr = lr, weight_decay = gamma})
  local layers = net:layers()
  local k = factor or (1 - 2 * lr * gamma) ^ 2
  local diag_err, full_err = 0, 0
  for _, xb, yb in data.loader(X, Y, {batch = 8, steps = steps, rng = g, progress = false}) do
    local before = diag.charges(net)
    opt:zero_grad(); (nn.mse(net(xb), yb, {reduction = "sum"}) * (0.5 / 8)):backward()
    local G = tensor.no_grad(function()
      local t = {}
      for l, layer in ipairs(layers) do
        local b = rawget(layer, "bias")
        t[l] = b and tensor.cat({layer.weight.grad, b.grad:unsqueeze(2)}, 2) or layer.weight.grad:clone()
      end
      return t
    end)
    opt:step()
    local after = diag.charges(net)
    tensor.no_grad(function()
      for l = 1, #layers - 1 do
        local Gn = layers[l + 1].weight.grad
        local b = rawget(layers[l], "bias")
        local Win = b and tensor.cat({layers[l].weight, b:unsqueeze(2)}, 2) or layers[l].weight
        local Wn = layers[l + 1].weight
        local full = before.matrices[l] * k + (G[l]:matmul(G[l]:t()) - Gn:t():matmul(Gn)) * lr ^ 2
        local scale = Win:matmul(Win:t()):norm() + Wn:t():matmul(Wn):norm()
        full_err = math.max(full_err, (after.matrices[l] - full):norm() / scale)
        local dg = before.neurons[l] * k + (G[l]:square():sum(2) - Gn:square():sum(1)) * lr ^ 2
        local nscale = Win:square():sum(2) + Wn:square():sum(1)
        diag_err = math.max(diag_err, ((after.neurons[l] - dg):abs() / nscale):max())
      end
    end)
  end
  return full_err, diag_err
end

test("claim 4: C_{l,t+1} = (1-2 eta gamma)^2 C_{l,t} + eta^2 (G_l G_l^T - G_{l+1}^T G_{l+1}), linear layers", function()
  for _, gamma in ipairs{0, 0.02} do
    local full = identity_error(nn.deep_linear{4, 6, 5, 2, rng = tensor.rng(1)}, 0.05, gamma, 60)
    ok(full < 1e-10, string.format("gamma = %g: error %.3g", gamma, full))
  end
  -- the identity is sharp: PyTorch's decay convention (1 - eta gamma)^2 misses it
  local wrong = identity_error(nn.deep_linear{4, 6, 5, 2, rng = tensor.rng(1)}, 0.05, 0.02, 10,
                               (1 - 0.05 * 0.02) ^ 2)
  ok(wrong > 1e-5, string.format("a wrong decay factor gives error %.3g", wrong))
end)

test("claim 4: its diagonal holds neuron by neuron for ReLU layers with biases", function()
  for _, gamma in ipairs{0, 0.02} do
    local full, dg = identity_error(nn.mlp{4, 6, 5, 2, act = "relu", rng = tensor.rng(1)}, 0.05, gamma, 60)
    ok(dg < 1e-10, string.format("gamma = %g: diagonal error %.3g", gamma, dg))
    -- off the diagonal the O(eta) cross terms do not cancel through a ReLU
    ok(full > 1e-5, string.format("gamma = %g: the whole-matrix identity misses only by %.3g", gamma, full))
  end
end)

------------------------------------------------------------------------------------------
-- Claim 5: matrix balance in a deep linear net (checked on 6 seeds: SGD's residual 0.06-0.15,
-- GD's 0.40-0.71)

-- y = Vx + ε, ε ~ N(0, diag(1, .3, .1)); net 3-6-5-3 from an unbalanced start (layer 1 ×2,
-- layer 3 ×½); batch-1 SGD on fresh samples or exact population GD, η = 0.02, 2·10⁴ steps.
-- Returns the mean over the last fifth of the run of the two pairs' matrix residuals.
local function matrix_residuals(kind, seed)
  local lt = data.linear_teacher{din = 3, dout = 3, noise_cov = {1, 0.3, 0.1}, rng = tensor.rng(100 + seed)}
  local Xe, Ye = lt:sample(20000, tensor.rng(999))
  local net = nn.deep_linear{3, 6, 5, 3, rng = tensor.rng(seed)}
  local L = net:layers()
  nn.init.scale(L[1], 2); nn.init.scale(L[3], 0.5)
  local opt = optim.sgd(net:parameters(), {lr = 0.02})
  local g, T = tensor.rng(seed + 7), 20000
  local sum, count = {0, 0}, 0
  for step = 1, T do
    -- population loss: for x ~ N(0, I) it is ½‖P − V‖²_F + const, a batch of the rows of I
    local xb, yb = tensor.eye(3), lt.V:t()
    if kind == "SGD" then xb, yb = lt:sample(1, g) end
    opt:zero_grad(); (nn.mse(net(xb), yb, {reduction = "sum"}) * 0.5):backward(); opt:step()
    if step > 0.8 * T and step % 400 == 0 then
      local _, r = expected_energies(net, Xe, Ye, 1)
      sum[1], sum[2], count = sum[1] + r[1], sum[2] + r[2], count + 1
    end
  end
  return math.max(sum[1], sum[2]) / count
end

test("claim 5: SGD with label noise balances E[G_l G_l^T] = E[G_{l+1}^T G_{l+1}]; population GD does not", function()
  local balanced = function(r) return r < 0.25 end
  for _, seed in ipairs{1, 2} do
    local sgd, gd = matrix_residuals("SGD", seed), matrix_residuals("GD", seed)
    ok(balanced(sgd), string.format("seed %d: SGD's matrix residual %.3f", seed, sgd))
    ok(not balanced(gd), string.format("seed %d: the GD control passes the SGD test: residual %.3f", seed, gd))
  end
end)

------------------------------------------------------------------------------------------
-- Claim 6: layer and neuron balance in a ReLU MLP (checked on 6 seeds: SGD keeps 15-26% of
-- the layer-1 charge and ends with layer energies within a factor 1.1-2.1, GD keeps 100% and
-- a factor 3.4-8.5)

-- A bias-free ReLU teacher 10-16-1 with label noise 0.5; the student 10-16-16-1 (bias-free)
-- starts with layer 1 ×2 and layer 3 ×½ (the same function, unbalanced charges). Batch-1
-- SGD on fresh samples against full-batch GD on 1024 fixed samples, η = 0.05. Returns the
-- hidden-layer-1 mean |charge| at the end over that at the start, and max/min of the three
-- layer energies E‖∇W_l‖² (B = 1, exact at the final weights: over 20000 fresh samples for
-- SGD, over GD's own 1024 samples for GD).
local function relu_balance(kind, seed)
  local _, _, T = data.teacher{n = 1, din = 10, dout = 1, hidden = {16}, noise = 0.5, rng = tensor.rng(100 + seed)}
  local Xg, Yg = T:sample(1024, tensor.rng(8))
  local net = nn.mlp{10, 16, 16, 1, act = "relu", bias = false, init = "xavier_uniform", rng = tensor.rng(seed)}
  local L = net:layers()
  nn.init.scale(L[1], 2); nn.init.scale(L[3], 0.5)
  local q0 = diag.charges(net).neurons[1]:abs():mean()
  local opt = optim.sgd(net:parameters(), {lr = 0.05})
  local g = tensor.rng(seed + 7)
  for _ = 1, kind == "SGD" and 20000 or 2000 do
    local xb, yb = Xg, Yg
    if kind == "SGD" then xb, yb = T:sample(1, g) end
    opt:zero_grad(); (nn.mse(net(xb), yb, {reduction = "sum"}) * (0.5 / xb:size(1))):backward(); opt:step()
  end
  local Xe, Ye = Xg, Yg
  if kind == "SGD" then Xe, Ye = T:sample(20000, tensor.rng(7)) end
  local e = expected_energies(net, Xe, Ye, 1)
  return diag.charges(net).neurons[1]:abs():mean() / q0, math.max(e[1], e[2], e[3]) / math.min(e[1], e[2], e[3])
end

test("claim 6: SGD shrinks the ReLU charges and balances the layer energies; GD keeps them", function()
  local balanced = function(q, spread) return q < 0.4 and spread < 2.5 end
  for _, seed in ipairs{1, 2} do
    local q, spread = relu_balance("SGD", seed)
    ok(balanced(q, spread), string.format("seed %d: SGD kept %.3f of the charge, layer energy spread %.3f",
                                          seed, q, spread))
    local qg, spread_g = relu_balance("GD", seed)
    ok(math.abs(qg - 1) < 1e-3, string.format("seed %d: GD changed the charges: kept %.6f", seed, qg))
    ok(not balanced(qg, spread_g), string.format("seed %d: the GD control passes the SGD test: %.3f, %.3f",
                                                 seed, qg, spread_g))
  end
end)
