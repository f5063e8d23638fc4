-- equipartition.lua -- claims 4, 5 and 6 of PAPER.md §6: gradient balance ("equipartition")
-- across layers, neurons and matrices, which SGD's noise produces and gradient descent does not.
--
-- Rescaling a hidden neuron (w_in, w_out) → (λ w_in, w_out/λ), or inserting A between two
-- linear layers (W_{l+1}A⁻¹, A W_l), leaves the loss unchanged. Gradient flow therefore conserves
-- the charges ‖w_in‖² − ‖w_out‖² and C_l = W_l W_lᵀ − W_{l+1}ᵀ W_{l+1}; one SGD step changes them
-- only at order η², by the gradient energies of the step (PAPER.md §2). Where the minibatch
-- gradient stays noisy at the minimum, that η² term drives the net to the point of its orbit
-- where the expected energies balance: E‖g_in‖² = E‖g_out‖² for every neuron, E‖∇W_l‖² equal
-- across layers, E[G_l G_lᵀ] = E[G_{l+1}ᵀ G_{l+1}] for linear layers. GD has no noise there
-- and keeps whatever charges it started with.
--
--   claim 4  exact, every step: C_{l,t+1} = (1−2ηγ)² C_{l,t} + η²(G_l G_lᵀ − G_{l+1}ᵀ G_{l+1})
--            for a deep linear net (batch 8, with and without weight decay γ), and its diagonal,
--            neuron by neuron, for a ReLU MLP with biases (a bias is an incoming weight).
--            The off-diagonal of the ReLU identity is not exact; it is printed as a contrast.
--   claim 5  a deep linear net 3-6-5-3 on y = Vx + ε, ε ~ N(0, diag(1, .3, .1)), trained from
--            a deliberately unbalanced start (layer 1 ×2, layer 3 ×½) by batch-1 SGD on fresh
--            samples at η = 0.01 (½-loss), against exact population GD (the full expected
--            loss, which for x ~ N(0, I) is ½‖W₃W₂W₁ − V‖²_F + const). Statistic: the matrix
--            residual of §5 with E over single fresh samples at the current weights, the same
--            statistic for both runs. Look for: SGD's residual falls from ~0.6–0.9 to ~0.1,
--            GD's stays where its fit left it.
--   claim 6  a bias-free ReLU MLP 16-16-16-10 on Fashion-MNIST (inputs: the top 16
--            principal components of the images, standardised; targets: one-hot labels,
--            loss ½‖f(x) − y‖², so the residual the net cannot fit is the label noise),
--            N = 10,000 training points ≫ 672 parameters, so SGD cannot memorise the noise
--            away. Start: a Xavier-initialised net with layer 1 ×2 and layer 3 ×½ (the same
--            function, but charges far from balance). Batch-1 SGD (reshuffled epochs),
--            η = 0.05, against full-batch GD on the same N points and η. Statistic:
--            E_B‖∇_{W_l} L_B‖² for B = 1, evaluated exactly over the N points at the current
--            weights, for SGD and GD alike. GD costs 10,000 samples a step, so it runs a tenth
--            of SGD's steps; its charges stop moving long before it stops (their per-step
--            change is η² times full-batch gradient energies, which vanish as GD converges).
--            Every claim-6 figure is Fashion-MNIST; tests/claims/equipartition.lua checks the
--            same trend, cheaper, with a teacher and fresh samples.
--            Look for: SGD's layer energies meet within a factor ~1.1-1.3 and its neurons sit
--            on y = x; GD's stay a factor 5-15 apart. The charges: GD keeps them to <1%; SGD
--            moves them to where the energies balance, which is not zero. Hidden layer 1's
--            (which the start put far out) shrink ~4x within ~5·10⁴ steps, then drift back
--            up as hidden layer 2's balance point moves out (its charges grow throughout):
--            the balance holds all along, the charges follow it.
--
-- Figures (out/paper/):
--   equipartition_matrix.png   claim 5: matrix residual against step, SGD and GD, both pairs
--   equipartition_layers.png   claim 6: per-layer gradient energy against step (log-log);
--                              SGD's three layers meet, GD's stay apart
--   equipartition_neurons.png  claim 6: each hidden neuron's E‖g_in‖² against E‖g_out‖² at the
--                              end; SGD's points sit on y = x, GD's do not
--   equipartition_charges.png  claim 6: mean |‖w_in‖² − ‖w_out‖²| per hidden layer against
--                              step; GD's lines are flat, SGD's move to the balance point
--
-- Sizes: quick (make demo) runs shorter; full is the paper's 3·10⁵ steps for claim 5.
local report = require "entro.report"

local size = report.size()
local dir = report.dir()
local t_start = entro.clock()
-- Every tensor here is thin (at most 10,000 x 16): one thread (for BLAS and for entro's own
-- elementwise kernels) runs a GD step faster than two, several times faster on a busy machine.
entro.set_threads(1)

-- The gradient energies SGD with batch B sees at the current weights, exactly
-- (diag.expected_balance), for the ½-squared-error loss the script trains with.
local function half_sq(pred, y) return nn.mse(pred, y, {reduction = "sum"}) * (0.5 / pred:size(1)) end
local function expected_energies(net, X, Y, opts)
  local r = diag.expected_balance(net, half_sq, X, Y, opts)
  r.residual = r.matrix_residual
  return r
end

-- Steps at which to record: about k log-spaced ones and k evenly spaced ones, from 1 to T.
local function record_steps(T, k)
  local set, list = {}, {}
  for i = 0, k do
    set[math.max(1, math.floor(T ^ (i / k) + 0.5))] = true
    set[math.max(1, math.floor(T * i / k + 0.5))] = true
  end
  for s in pairs(set) do list[#list + 1] = s end
  table.sort(list)
  local is = {}
  for _, s in ipairs(list) do is[s] = true end
  return is
end

-- The mean of ys over the entries whose step is at least `from`.
local function tail_mean(steps, ys, from)
  local s, c = 0, 0
  for i, st in ipairs(steps) do if st >= from then s, c = s + ys[i], c + 1 end end
  return s / c
end

------------------------------------------------------------------------------------------
-- Claim 4: the per-step identity, exactly.

print("claim 4: the per-step charge identity")
local function identity_errors(net, lr, gamma, steps, relu)
  local g = tensor.rng(41)
  local X, Y = g:randn(256, 5), g:randn(256, 3)
  local opt = optim.sgd(net:parameters(), {lr = lr, weight_decay = gamma})
  local layers = net:layers()
  local k = (1 - 2 * lr * gamma) ^ 2
  local worst, worst_offdiag = 0, 0
  for _, xb, yb in data.loader(X, Y, {batch = 8, steps = steps, rng = g, progress = false}) do
    local before = diag.charges(net)
    local loss = nn.mse(net(xb), yb, {reduction = "sum"}) * (0.5 / 8)
    opt:zero_grad(); loss:backward()
    -- the batch gradients G_l (with the bias as a last column) before the step moves them
    local G = {}
    tensor.no_grad(function()
      for l, layer in ipairs(layers) do
        local b = rawget(layer, "bias")
        G[l] = b and tensor.cat({layer.weight.grad, b.grad:unsqueeze(2)}, 2) or layer.weight.grad:clone()
      end
    end)
    opt:step()
    local after = diag.charges(net)
    tensor.no_grad(function()
      for l = 1, #layers - 1 do
        local Gn = G[l + 1]:narrow(2, 1, layers[l + 1].weight:size(2))
        local ggt, gtg = G[l]:matmul(G[l]:t()), Gn:t():matmul(Gn)
        local Wl = layers[l].weight
        local b = rawget(layers[l], "bias")
        local Win = b and tensor.cat({Wl, b:unsqueeze(2)}, 2) or Wl
        local Wn = layers[l + 1].weight
        if relu then
          -- neuron by neuron: the diagonal, relative to ‖w_in‖² + ‖w_out‖²
          local pred = before.neurons[l] * k + (G[l]:square():sum(2) - Gn:square():sum(1)) * (lr * lr)
          local scale = Win:square():sum(2) + Wn:square():sum(1)
          local e = ((after.neurons[l] - pred):abs() / scale):max()
          if e > worst then worst = e end
          -- the whole matrix is not exact for ReLU layers: the O(η) cross terms survive
          local full = before.matrices[l] * k + (ggt - gtg) * (lr * lr)
          local off = (after.matrices[l] - full):norm() / (Win:matmul(Win:t()):norm() + Wn:t():matmul(Wn):norm())
          if off > worst_offdiag then worst_offdiag = off end
        else
          local pred = before.matrices[l] * k + (ggt - gtg) * (lr * lr)
          local scale = Win:matmul(Win:t()):norm() + Wn:t():matmul(Wn):norm()
          local e = (after.matrices[l] - pred):norm() / scale
          if e > worst then worst = e end
        end
      end
    end)
  end
  return worst, worst_offdiag
end

local c4_steps = report.pick{quick = 100, full = 500, test = 50}
local c4 = {}
for _, gamma in ipairs{0, 0.01} do
  local lin = identity_errors(nn.deep_linear{5, 7, 6, 3, rng = tensor.rng(1)}, 0.05, gamma, c4_steps, false)
  local relu, off = identity_errors(nn.mlp{5, 7, 6, 3, act = "relu", rng = tensor.rng(1)}, 0.05, gamma,
                                    c4_steps, true)
  c4[#c4 + 1] = {gamma = gamma, linear = lin, relu = relu, relu_offdiag = off}
  print(string.format("  gamma = %-5g linear: max error %.2e   ReLU diagonal: %.2e   " ..
                      "(ReLU full matrix, not an identity: %.2e)", gamma, lin, relu, off))
end
local c4_lin, c4_relu, c4_off = 0, 0, math.huge
for _, r in ipairs(c4) do
  c4_lin, c4_relu, c4_off = math.max(c4_lin, r.linear), math.max(c4_relu, r.relu), math.min(c4_off, r.relu_offdiag)
end
report.claim{
  id = "4", title = "deep linear: C_{l,t+1} = (1-2 eta gamma)^2 C_{l,t} + eta^2 (G_l G_l^T - G_{l+1}^T G_{l+1})",
  expected = "exact at every step for linear layers (~1e-12 of the size of the terms); its diagonal " ..
             "exact neuron by neuron for ReLU layers (~1e-15 of ||w_in||^2 + ||w_out||^2)",
  measured = string.format("%d steps each, gamma in {0, 0.01}: linear max error %.1e, ReLU diagonal " ..
                           "max error %.1e (the ReLU off-diagonal misses by %.1e, as it should)",
                           c4_steps, c4_lin, c4_relu, c4_off),
  pass = c4_lin < 1e-12 and c4_relu < 1e-13,
  numbers = {linear = c4_lin, relu_diagonal = c4_relu, relu_offdiagonal = c4_off, steps = c4_steps},
}

------------------------------------------------------------------------------------------
-- Claim 5: matrix balance in a deep linear net, SGD against exact population GD.

local c5_T = report.pick{quick = 60000, full = 300000, test = 20000}
local c5_eval = report.pick{quick = 30000, full = 100000, test = 20000}
print(string.format("claim 5: deep linear 3-6-5-3, %d steps, residual from %d fresh samples", c5_T, c5_eval))
local lt = data.linear_teacher{din = 3, dout = 3, noise_cov = {1, 0.3, 0.1}, rng = tensor.rng(105)}
local Xe, Ye = lt:sample(c5_eval, tensor.rng(999))
-- The population loss E½‖f(x) − y‖² is, up to a constant, ½‖(P − V) Σx^½‖²_F: a "batch" whose
-- rows are those of Σx^½ with targets Σx^½ Vᵀ, so exact GD is full-batch GD on three rows.
local S_half = tensor.linalg.sqrtm(lt.input_cov)
local Xpop, Ypop = S_half, S_half:matmul(lt.V:t())

local function deep_linear_run(kind)
  local net = nn.deep_linear{3, 6, 5, 3, rng = tensor.rng(1)}
  local L = net:layers()
  nn.init.scale(L[1], 2); nn.init.scale(L[3], 0.5)
  local opt = optim.sgd(net:parameters(), {lr = 0.01})
  local at = record_steps(c5_T, 40)
  local steps, res = {}, {{}, {}}
  local g = tensor.rng(5)
  local t0 = entro.clock()
  for step = 1, c5_T do
    local xb, yb = Xpop, Ypop
    if kind == "SGD" then xb, yb = lt:sample(1, g) end
    local loss = nn.mse(net(xb), yb, {reduction = "sum"}) * 0.5
    opt:zero_grad(); loss:backward(); opt:step()
    if at[step] then
      local r = expected_energies(net, Xe, Ye, {batch = 1, matrix = true}).residual
      steps[#steps + 1] = step
      res[1][#steps], res[2][#steps] = r[1], r[2]
    end
  end
  print(string.format("  %-3s residuals at the end %.3f %.3f  (%.1f s)", kind, res[1][#steps],
                      res[2][#steps], entro.clock() - t0))
  return {steps = steps, res = res}
end

local c5_sgd, c5_gd = deep_linear_run("SGD"), deep_linear_run("GD")
local fig5 = plot.figure{title = "Claim 5: matrix balance in a deep linear net (3-6-5-3, label noise)",
                         xlabel = "step", ylabel = "matrix residual  |E[G_l G_l^T] - E[G_(l+1)^T G_(l+1)]| / (sum of norms)",
                         logx = true, logy = true, xrange = {1, c5_T}, key = "bottom left",
                         out = dir .. "/equipartition_matrix.png"}
local colors = {"#1f77b4", "#d62728", "#2ca02c"}
for l = 1, 2 do
  fig5:line(c5_sgd.steps, c5_sgd.res[l], {label = string.format("SGD, B = 1, layers %d-%d", l, l + 1), color = colors[l]})
  fig5:line(c5_gd.steps, c5_gd.res[l], {label = string.format("population GD, layers %d-%d", l, l + 1),
                                        color = colors[l], style = "dashed"})
end
fig5:save()

-- SGD: the mean over the last fifth of the run (the residual at the current weights jitters with
-- them); GD: its value after the fit (at 1% of the run) against its value at the end.
local c5 = {sgd_end = {}, gd_fit = {}, gd_end = {}, start = {}}
local fit_step = c5_T // 100
for l = 1, 2 do
  c5.sgd_end[l] = tail_mean(c5_sgd.steps, c5_sgd.res[l], 0.8 * c5_T)
  c5.gd_end[l] = c5_gd.res[l][#c5_gd.steps]
  for i, s in ipairs(c5_gd.steps) do if s >= fit_step then c5.gd_fit[l] = c5_gd.res[l][i]; break end end
  c5.start[l] = c5_sgd.res[l][1]
end
local sgd_max = math.max(c5.sgd_end[1], c5.sgd_end[2])
local gd_min = math.min(c5.gd_end[1], c5.gd_end[2])
local gd_drift = math.max(math.abs(c5.gd_end[1] / c5.gd_fit[1] - 1), math.abs(c5.gd_end[2] / c5.gd_fit[2] - 1))
report.claim{
  id = "5", title = "matrix balance: SGD with label noise drives the deep linear matrix residual down, GD keeps it",
  expected = "batch-1 SGD, fresh samples, eta = 0.01, 3e5 steps: residual from ~0.5-0.9 to ~0.05-0.2; " ..
             "exact population GD: stays put",
  measured = string.format("%d steps; SGD residual (layer pairs 1-2, 2-3) %.2f, %.2f at step 1 -> %.3f, %.3f " ..
                           "(mean over the last fifth); population GD %.3f, %.3f after its fit (step %d) -> " ..
                           "%.3f, %.3f at the end",
                           c5_T, c5.start[1], c5.start[2], c5.sgd_end[1], c5.sgd_end[2],
                           c5.gd_fit[1], c5.gd_fit[2], fit_step, c5.gd_end[1], c5.gd_end[2]),
  pass = sgd_max < 0.2 and gd_min > 2 * sgd_max and gd_drift < 0.05,
  figures = {dir .. "/equipartition_matrix.png"},
  numbers = {steps = c5_T, sgd_end = c5.sgd_end, gd_fit = c5.gd_fit, gd_end = c5.gd_end},
}

------------------------------------------------------------------------------------------
-- Claim 6: layer and neuron balance in a ReLU MLP on Fashion-MNIST.

local N = 10000
local c6_T = report.pick{quick = 60000, full = 200000, test = 20000}
local c6_gd_T = report.pick{quick = 1000, full = 20000, test = 1000}
print(string.format("claim 6: Fashion-MNIST, N = %d, MLP 16-16-16-10 (no biases), SGD %d steps, GD %d steps",
                    N, c6_T, c6_gd_T))
local images, labels = data.fashion_mnist{split = "train", n = N}
-- the top 16 principal components of the N images, each scaled to unit variance
local Z = tensor.no_grad(function()
  local mu = images:mean(1)
  local centred = images - mu
  local _, vecs = tensor.linalg.eigh(centred:t():matmul(centred) / N)   -- ascending
  local proj = centred:matmul(vecs:narrow(2, 784 - 16 + 1, 16))
  return proj / proj:std(1)
end)
local onehot = tensor.eye(10):index_select(1, labels)

local function mlp_run(kind)
  local net = nn.mlp{16, 16, 16, 10, act = "relu", bias = false, init = "xavier_uniform", rng = tensor.rng(1)}
  local L = net:layers()
  -- the same function (ReLU is positively homogeneous), far from balance
  nn.init.scale(L[1], 2); nn.init.scale(L[3], 0.5)
  local opt = optim.sgd(net:parameters(), {lr = 0.05})
  local T = kind == "SGD" and c6_T or c6_gd_T
  local at = record_steps(T, 40)
  local rec = {steps = {}, energy = {{}, {}, {}}, charge = {{}, {}}, loss = {}}
  local function record(step)
    local e = expected_energies(net, Z, onehot, {batch = 1})
    local ch = diag.charges(net)
    local k = #rec.steps + 1
    rec.steps[k] = step
    for l = 1, 3 do rec.energy[l][k] = e.energy[l] end
    for l = 1, 2 do rec.charge[l][k] = ch.neurons[l]:abs():mean() end
    rec.last, rec.charges = e, ch
  end
  record(0)
  rec.charges0 = rec.charges
  local t0 = entro.clock()
  local loader = kind == "SGD" and data.loader(Z, onehot, {batch = 1, steps = T, rng = tensor.rng(2), progress = false})
  for step = 1, T do
    local xb, yb = Z, onehot
    if loader then xb, yb = select(2, loader()) end
    local loss = nn.mse(net(xb), yb, {reduction = "sum"}) * (0.5 / xb:size(1))
    opt:zero_grad(); loss:backward(); opt:step()
    if at[step] then record(step) end
  end
  -- each hidden neuron's ||w_in||^2 + ||w_out||^2, the scale of its charge
  rec.norms = tensor.no_grad(function()
    local t = {}
    for l = 1, 2 do t[l] = L[l].weight:square():sum(2) + L[l + 1].weight:square():sum(1) end
    return t
  end)
  rec.loss = tensor.no_grad(function() return (net(Z) - onehot):square():sum() * (0.5 / N) end)
  rec.acc = tensor.no_grad(function() return net(Z):argmax(2):eq(labels):sum() / N end)
  local e = rec.last.energy
  print(string.format("  %-3s train loss %.4f, accuracy %.3f, E||grad W_l||^2 = %.3f %.3f %.3f  (%.1f s)",
                      kind, rec.loss, rec.acc, e[1], e[2], e[3], entro.clock() - t0))
  return rec
end

local c6_sgd, c6_gd = mlp_run("SGD"), mlp_run("GD")

-- per-layer energy against step
local fig6a = plot.figure{title = "Claim 6: layer balance, ReLU MLP on Fashion-MNIST (solid SGD B = 1, dashed GD)",
                          xlabel = "step", ylabel = "E_B |grad_W_l L_B|^2  (B = 1, exact at the current weights)",
                          logx = true, logy = true, xrange = {1, c6_T}, key = "top right",
                          out = dir .. "/equipartition_layers.png"}
local function drop0(steps, ys)   -- log x: the step-0 point goes
  local xs, vs = {}, {}
  for i, s in ipairs(steps) do if s > 0 then xs[#xs + 1], vs[#vs + 1] = s, ys[i] end end
  return xs, vs
end
for l = 1, 3 do
  local xs, ys = drop0(c6_sgd.steps, c6_sgd.energy[l])
  fig6a:line(xs, ys, {label = "SGD, layer " .. l, color = colors[l]})
end
for l = 1, 3 do
  local xs, ys = drop0(c6_gd.steps, c6_gd.energy[l])
  fig6a:line(xs, ys, {label = "GD, layer " .. l, color = colors[l], style = "dashed"})
end
fig6a:save()

-- neuron scatter at the end, in log10 coordinates (the energies span several decades, down to
-- neurons that are almost never active -- and those sit on the line too under SGD)
local fig6b = plot.figure{title = "Claim 6: neuron balance at the end (each point one hidden neuron)",
                          xlabel = "log10 E |g_in|^2   (incoming weights)",
                          ylabel = "log10 E |g_out|^2   (outgoing weights)",
                          key = "top left", out = dir .. "/equipartition_neurons.png"}
local function log10s(v)
  local out = {}
  for i, x in ipairs(v:totable()) do out[i] = x > 0 and math.log(x, 10) or 0 / 0 end
  return out
end
local lo, hi = math.huge, -math.huge
for _, rec in ipairs{c6_sgd, c6_gd} do
  for l = 1, 2 do
    for _, v in ipairs{rec.last.g_in[l], rec.last.g_out[l]} do
      for _, x in ipairs(log10s(v)) do
        if x == x then lo, hi = math.min(lo, x), math.max(hi, x) end
      end
    end
  end
end
lo, hi = math.floor(lo), math.ceil(hi)
fig6b:set{xrange = {lo, hi}, yrange = {lo, hi}}
fig6b:line({lo, hi}, {lo, hi}, {label = "y = x (balance)", color = "black", style = "dotted"})
local markers = {SGD = {"circle", "square"}, GD = {"triangle", "diamond"}}
for _, run in ipairs{{"SGD", c6_sgd}, {"GD", c6_gd}} do
  for l = 1, 2 do
    fig6b:scatter(log10s(run[2].last.g_in[l]), log10s(run[2].last.g_out[l]),
                  {label = string.format("%s, hidden layer %d", run[1], l), color = colors[l],
                   marker = markers[run[1]][l], size = 1})
  end
end
fig6b:save()

-- charges against step
local fig6c = plot.figure{title = "Claim 6: what gradient flow conserves (solid SGD, dashed GD)",
                          xlabel = "step", ylabel = "mean over neurons of | |w_in|^2 - |w_out|^2 |",
                          logx = true, xrange = {1, c6_T}, yrange = {0, nil}, key = "center left",
                          out = dir .. "/equipartition_charges.png"}
for l = 1, 2 do
  local xs, ys = drop0(c6_sgd.steps, c6_sgd.charge[l])
  fig6c:line(xs, ys, {label = "SGD, hidden layer " .. l, color = colors[l]})
  xs, ys = drop0(c6_gd.steps, c6_gd.charge[l])
  fig6c:line(xs, ys, {label = "GD, hidden layer " .. l, color = colors[l], style = "dashed"})
end
fig6c:save()

-- The verdict. Layer balance: max/min of the three layer energies. Neuron balance: the mean
-- over hidden neurons of |E g_in - E g_out| / (E g_in + E g_out). Charges: each run's mean
-- change of a neuron's charge relative to its ||w_in||^2 + ||w_out||^2 -- GD must keep them,
-- SGD must move them. Where SGD moves them is the balance point, which need not be zero: the
-- measured text reports the mean |charge| of each hidden layer (layer 1 is the one the start
-- put far from balance) at the start, at layer 1's smallest and at the end.
local function spread(e) return math.max(e[1], e[2], e[3]) / math.min(e[1], e[2], e[3]) end
local function neuron_imbalance(last)
  local s, c = 0, 0
  for l = 1, 2 do
    local a, b = last.g_in[l], last.g_out[l]
    local v = ((a - b):abs() / (a + b)):totable()
    for _, x in ipairs(v) do if x == x then s, c = s + x, c + 1 end end
  end
  return s / c
end
local function charge_drift(rec)
  local s, c = 0, 0
  for l = 1, 2 do
    local ch0, ch = rec.charges0.neurons[l], rec.charges.neurons[l]
    s = s + tensor.no_grad(function() return ((ch - ch0):abs() / rec.norms[l]):sum() end)
    c = c + ch:numel()
  end
  return s / c
end
local q1_min, q1_min_step = math.huge, 0
for i, q in ipairs(c6_sgd.charge[1]) do
  if q < q1_min then q1_min, q1_min_step = q, c6_sgd.steps[i] end
end
local c6 = {
  spread0 = spread({c6_sgd.energy[1][1], c6_sgd.energy[2][1], c6_sgd.energy[3][1]}),
  spread_sgd = spread(c6_sgd.last.energy), spread_gd = spread(c6_gd.last.energy),
  nb_sgd = neuron_imbalance(c6_sgd.last), nb_gd = neuron_imbalance(c6_gd.last),
  drift_gd = charge_drift(c6_gd), drift_sgd = charge_drift(c6_sgd),
  q1_start = c6_sgd.charge[1][1], q1_min = q1_min, q1_min_step = q1_min_step,
  q1_sgd = c6_sgd.charge[1][#c6_sgd.steps], q2_start = c6_sgd.charge[2][1],
  q2_sgd = c6_sgd.charge[2][#c6_sgd.steps],
  loss_sgd = c6_sgd.loss, loss_gd = c6_gd.loss,
}
report.claim{
  id = "6", title = "layer and neuron balance in a ReLU MLP (Fashion-MNIST): SGD balances, GD keeps its charges",
  expected = "SGD drives E_B|grad W_l|^2 to equal values across layers and E|g_in|^2 = E|g_out|^2 per neuron, " ..
             "moving the charges |w_in|^2 - |w_out|^2 (shrinking those started far from balance); GD keeps them",
  measured = string.format("layer energies max/min %.1f at the start -> SGD %.2f (%d steps), GD %.2f (%d steps); " ..
                           "mean neuron imbalance SGD %.3f, GD %.3f; mean |charge change| / (|w_in|^2 + |w_out|^2) " ..
                           "SGD %.2f, GD %.1e. Mean |charge|, hidden layer 1: %.2f -> %.2f at step %d -> %.2f at " ..
                           "the end; layer 2: %.2f -> %.2f (its balance point lies further out and keeps moving)",
                           c6.spread0, c6.spread_sgd, c6_T, c6.spread_gd, c6_gd_T, c6.nb_sgd, c6.nb_gd,
                           c6.drift_sgd, c6.drift_gd, c6.q1_start, c6.q1_min, c6.q1_min_step, c6.q1_sgd,
                           c6.q2_start, c6.q2_sgd),
  pass = c6.spread_sgd < 1.5 and c6.spread_gd > 2 and c6.nb_sgd < 0.25 and c6.nb_gd > 2 * c6.nb_sgd
         and c6.drift_gd < 0.02 and c6.drift_sgd > 10 * c6.drift_gd and c6.q1_min < 0.5 * c6.q1_start,
  figures = {dir .. "/equipartition_layers.png", dir .. "/equipartition_neurons.png",
             dir .. "/equipartition_charges.png"},
  numbers = c6,
}

print(string.format("equipartition.lua (%s): %.1f s", size, entro.clock() - t_start))
