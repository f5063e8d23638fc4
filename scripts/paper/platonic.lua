-- platonic.lua -- PAPER.md claim 10 (sections 3 and 5): SGD makes two different deep linear
-- networks, trained on different views of the same data, learn the same representation --
-- the one of section 3's predicted kernel -- while full-batch (population) GD does not.
--
-- Setup (one "draw" = one teacher and one pair of networks):
--   x ~ N(0, Sigma_x) in R^3 (a fixed anisotropic Sigma_x, so its factors in the predicted
--   kernel matter), y = V x + eps with V ~ N(0, 1/3) per draw and label noise
--   eps ~ N(0, diag(1, .3, .1)). Net A = nn.deep_linear{3, 6, 5, 3} sees the view
--   x_A = Z_A x, net B = nn.deep_linear{3, 8, 3} sees x_B = Z_B x (data.linear_teacher with
--   views = 2: random invertible Z, condition number <= 4). Weights start N(0, 1/fan_in), so
--   the end-to-end map starts at O(1) and gradient flow keeps an arbitrary layer imbalance
--   (the default PyTorch-uniform start is so small that flow from it is nearly balanced
--   already, which would hide the effect).
--   SGD: batch 1, one fresh sample per step (lt:sample(1)) fed to both nets, eta = 0.01 on
--   the paper's loss 1/2 |f - y|^2. nn.mse is the MEAN of squares over the 3 outputs, so
--   1/2 |f - y|^2 = 1.5 nn.mse; we write the loss as 0.5 * nn.mse(..., {reduction = "sum"})
--   and keep lr = 0.01, which is the paper's eta exactly.
--   GD: exact population gradient descent from the same start, same eta. For a deep linear
--   net the end-to-end map W = W_D ... W_1 is all that matters, and with y = V_A x_A + eps
--   (V_A = V Z_A^-1, Sigma_A = Z_A Sigma_x Z_A^T the view's covariance)
--       L(W) = 1/2 E|W x_A - y|^2 = 1/2 tr((W - V_A) Sigma_A (W - V_A)^T) + 1/2 tr Sigma_eps.
--   net(I_3) = W^T, so autograd through this closed form gives the exact population
--   gradient of every layer: no sampling, no minibatch noise, no entropic noise term.
--   Prediction (section 3): every hidden layer's kernel tends to
--       k(x, x') = x^T K x',  K = Sigma_x^-1/2 N^1/2 Sigma_x^-1/2,
--       N = Sigma_x^1/2 V^T Sigma_eps V Sigma_x^1/2,
--   written in the underlying x, where it is the same for both views (the Z's cancel).
--   Features with that kernel: P = X L with L = Sigma_x^-1/2 N^1/4 (L L^T = K), so "CKA with
--   the predicted kernel" is diag.cka(h(X), X L) on a fixed evaluation set of n = 512 x's,
--   each net fed its own view of them.
-- Measured at log-spaced steps: cross-network linear CKA between every hidden layer of A and
-- of B (we plot the smallest pair), CKA of each hidden layer with the predicted features,
-- mutual k-NN (k = 10) with its permutation null (rows shuffled), and at the end the Net A vs
-- Net B layer-similarity heatmap (hidden layers and outputs).
-- In 3 dimensions a GD solution can be aligned partly by chance (per-draw cross-CKA is
-- scattered, from ~0.4 to ~0.9 over our draws; PAPER.md's reference runs saw 0.2-0.96), so
-- SGD and GD are compared by averages over draws, and by the predicted-kernel CKA, which
-- separates them more sharply. PAPER.md warns that some draws need 10^6 SGD steps; with this
-- setup every draw we ran had converged by 3e5.
-- Second part (claim 10b, a [surrogate]): the same for two ReLU MLPs 3-16-16-3 and 3-24-3
-- (with biases). Section 3 lists nonlinearity among the breakers of exact alignment; there is
-- no closed-form population loss, so "GD" is full-batch GD on a fixed set of 2048 samples.
-- The MLP- vs attention-block heatmaps (claim 10c) are in platonic_blocks.lua.
--
-- What to look for: platonic_cka.png -- SGD's cross-CKA and predicted-kernel CKA climb to ~1
-- and stay there; GD's freeze within a few thousand steps at draw-dependent values; mutual
-- k-NN far above its null band for both. platonic_predicted.png -- per layer, SGD's points sit
-- at ~1, GD's are spread. platonic_heatmap.png -- SGD's hidden-layer block is uniformly ~1,
-- GD's is not (the output row/column is ~1 for both: both fit V). platonic_mlp.png -- the
-- ReLU version.
--
-- Run: ./entro scripts/paper/platonic.lua [quick|full|test]. tests/claims/platonic.lua loads
-- this file with the argument "module" and gets the table P of the pieces below.

local P = {}

P.SIGMA_X = tensor.tensor{{1.0, 0.3, 0.1}, {0.3, 0.7, -0.2}, {0.1, -0.2, 0.5}}
P.NOISE = {1, 0.3, 0.1}
P.LR = 0.01
P.EVAL_N = 512
P.ARCH = {
  linear = {A = {3, 6, 5, 3}, B = {3, 8, 3},
            layers_a = {"layers.1", "layers.2", "layers.3"}, layers_b = {"layers.1", "layers.2"},
            hidden_a = 2, hidden_b = 1},
  relu = {A = {3, 16, 16, 3}, B = {3, 24, 3},
          layers_a = {"layers.2", "layers.4", "layers.5"}, layers_b = {"layers.2", "layers.3"},
          hidden_a = 2, hidden_b = 1},
}
P.GD_TRAIN_N = 2048   -- the fixed training set of full-batch GD for ReLU nets

-- Weights N(0, 1/fan_in): an O(1) end-to-end map, unbalanced layers.
function P.init(t, o)
  return nn.init.kaiming_normal(t, {nonlinearity = "linear", rng = o.rng})
end

function P.teacher(seed)
  return data.linear_teacher{din = 3, dout = 3, input_cov = P.SIGMA_X, noise_cov = P.NOISE,
                             views = 2, rng = tensor.rng(1000 + seed)}
end

-- The two nets of a draw; the same seed gives the same start for SGD and GD.
function P.nets(kind, seed)
  local a = P.ARCH[kind]
  local function build(sizes, s)
    local spec = {rng = tensor.rng(s), init = P.init}
    for i, w in ipairs(sizes) do spec[i] = w end
    if kind == "linear" then return nn.deep_linear(spec) end
    spec.act = "relu"
    return nn.mlp(spec)
  end
  return build(a.A, 2000 + 2 * seed), build(a.B, 2001 + 2 * seed)
end

-- Features X L whose linear kernel is section 3's prediction, for inputs X (rows, in x).
function P.predicted_features(lt, X)
  local Sh = tensor.linalg.sqrtm(lt.input_cov)
  local N = Sh:matmul(lt.V:t()):matmul(lt.noise_cov):matmul(lt.V):matmul(Sh)
  N = (N + N:t()) * 0.5
  local L = tensor.linalg.inv_sqrtm(lt.input_cov):matmul(tensor.linalg.sqrtm(tensor.linalg.sqrtm(N)))
  return X:matmul(L)
end

-- The exact population loss of a deep linear net on view k (see the header).
function P.population_loss(lt, k)
  local Z = lt.Z[k]
  local VAt = lt.V:matmul(tensor.linalg.inv(Z)):t():contiguous()
  local SA = Z:matmul(lt.input_cov):matmul(Z:t())
  SA = (SA + SA:t()) * 0.5
  local I = tensor.eye(3)
  return function(net)
    local D = net(I) - VAt             -- (W - V_A)^T
    return (D * SA:matmul(D)):sum() * 0.5
  end
end

-- Log-spaced checkpoints 1, 1.5, 2, 3, 5, 7, 10, ... up to steps (and steps itself).
function P.checkpoints(steps)
  local cs, seen = {}, {}
  for e = 0, 8 do
    for _, m in ipairs{1, 1.5, 2, 3, 5, 7} do
      local s = math.floor(m * 10 ^ e + 0.5)
      if s <= steps and not seen[s] then cs[#cs + 1] = s; seen[s] = true end
    end
  end
  if not seen[steps] then cs[#cs + 1] = steps end
  table.sort(cs)
  return cs
end

local function list_min(t) local m = math.huge; for _, v in ipairs(t) do m = math.min(m, v) end; return m end
local function list_max(t) local m = -math.huge; for _, v in ipairs(t) do m = math.max(m, v) end; return m end
local function list_mean(t) local s = 0; for _, v in ipairs(t) do s = s + v end; return s / #t end
P.min, P.max, P.mean = list_min, list_max, list_mean

-- The representation measurements of one pair of nets on the evaluation set.
--   cross: CKA of every (A hidden, B hidden) pair; predicted: CKA of each hidden layer with
--   the predicted features (A's layers, then B's); mknn: mutual k-NN of every hidden pair;
--   null: permutation null of the mutual k-NN of A's last and B's last hidden layers;
--   S: CKA of all listed layers (hidden and output), rows A, columns B.
function P.measure(kind, netA, netB, ev, opts)
  opts = opts or {}
  local a = P.ARCH[kind]
  local S = diag.layer_similarity(netA, netB, ev.views[1], ev.views[2],
                                  {layers = a.layers_a, layers_b = a.layers_b})
  local _, mapA = diag.activations(netA, ev.views[1])
  local _, mapB = diag.activations(netB, ev.views[2])
  local r = {S = S, cross = {}, mknn = {}, predicted = {}}
  for i = 1, a.hidden_a do
    for j = 1, a.hidden_b do
      r.cross[#r.cross + 1] = S:get(i, j)
      if opts.knn ~= false then
        r.mknn[#r.mknn + 1] = diag.mutual_knn(mapA[a.layers_a[i]], mapB[a.layers_b[j]], {k = 10})
      end
    end
  end
  if ev.P then
    for i = 1, a.hidden_a do r.predicted[#r.predicted + 1] = diag.cka(mapA[a.layers_a[i]], ev.P) end
    for j = 1, a.hidden_b do r.predicted[#r.predicted + 1] = diag.cka(mapB[a.layers_b[j]], ev.P) end
  end
  if opts.null_perms then
    r.null = diag.null("mutual_knn", mapA[a.layers_a[a.hidden_a]], mapB[a.layers_b[a.hidden_b]],
                       {perms = opts.null_perms, rng = opts.rng, k = 10})
  end
  return r
end

-- One draw, one method: trains both nets and measures them at the checkpoints.
--   run{kind = "linear"|"relu", method = "sgd"|"gd", seed, steps, checkpoints, null_perms,
--       knn = true} -> {steps, cross_min, cross_mean, predicted_min, mknn, null_mean,
--       null_std, final (the last measurement), netA, netB, lt, ev, seconds}
function P.run(o)
  local lt = P.teacher(o.seed)
  local netA, netB = P.nets(o.kind, o.seed)
  local nets = {netA, netB}
  local opts = {optim.sgd(netA:parameters(), {lr = P.LR}), optim.sgd(netB:parameters(), {lr = P.LR})}
  local ev = {}
  local X, _, views = lt:sample(P.EVAL_N, tensor.rng(3000 + o.seed))
  ev.X, ev.views = X, views
  if o.kind == "linear" then ev.P = P.predicted_features(lt, ev.X) end
  local step_fn
  if o.method == "sgd" then
    step_fn = function()
      local _, y, v = lt:sample(1)
      for k = 1, 2 do
        local loss = nn.mse(nets[k](v[k]), y, {reduction = "sum"}) * 0.5   -- 1/2 |f - y|^2
        opts[k]:zero_grad(); loss:backward(); opts[k]:step()
      end
    end
  elseif o.kind == "linear" then
    local pop = {P.population_loss(lt, 1), P.population_loss(lt, 2)}
    step_fn = function()
      for k = 1, 2 do
        local loss = pop[k](nets[k])
        opts[k]:zero_grad(); loss:backward(); opts[k]:step()
      end
    end
  else
    local _, Y, V = lt:sample(P.GD_TRAIN_N, tensor.rng(4000 + o.seed))
    local scale = 0.5 / P.GD_TRAIN_N
    step_fn = function()
      for k = 1, 2 do
        local loss = nn.mse(nets[k](V[k]), Y, {reduction = "sum"}) * scale   -- mean 1/2 |f - y|^2
        opts[k]:zero_grad(); loss:backward(); opts[k]:step()
      end
    end
  end
  local h = {steps = {}, cross_min = {}, cross_mean = {}, predicted_min = {}, mknn = {},
             null_mean = {}, null_std = {}}
  local null_rng = tensor.rng(5000 + o.seed)
  local cps = o.checkpoints or {o.steps}
  local t0, c = os.clock(), 1
  for step = 1, o.steps do
    step_fn()
    if step == cps[c] then
      local m = P.measure(o.kind, netA, netB, ev, {null_perms = o.null_perms, rng = null_rng, knn = o.knn})
      local i = #h.steps + 1
      h.steps[i] = step
      h.cross_min[i], h.cross_mean[i] = list_min(m.cross), list_mean(m.cross)
      if #m.predicted > 0 then h.predicted_min[i] = list_min(m.predicted) end
      if #m.mknn > 0 then h.mknn[i] = list_mean(m.mknn) end
      if m.null then h.null_mean[i], h.null_std[i] = m.null.mean, m.null.std end
      h.final = m
      c = c + 1
    end
  end
  h.seconds = os.clock() - t0
  h.netA, h.netB, h.lt, h.ev = netA, netB, lt, ev
  return h
end

if ... == "module" then return P end

------------------------------------------------------------------------------------------
-- The experiment

local report = require "entro.report"
local size = report.size()
local cfg = report.pick{
  quick = {draws = 3, steps = 100000, gd_steps = 10000, mlp_draws = 1, mlp_steps = 50000, mlp_gd_steps = 3000},
  full = {draws = 8, steps = 300000, gd_steps = 30000, mlp_draws = 3, mlp_steps = 300000, mlp_gd_steps = 10000},
  test = {draws = 2, steps = 100000, gd_steps = 3000, mlp_draws = 1, mlp_steps = 50000, mlp_gd_steps = 2000},
}
local dir = report.dir()
os.execute("mkdir -p '" .. dir .. "'")
local NULL_PERMS = 10
local SGD_COLOR, GD_COLOR = "#1f77b4", "#d62728"
local SGD_LIGHT, GD_LIGHT = "#9ecae1", "#f4a6a6"

print(string.format("platonic.lua (%s): %d draws, SGD %d steps, GD %d steps", size, cfg.draws,
                    cfg.steps, cfg.gd_steps))

-- Runs every draw of one kind with both methods.
local function run_all(kind, draws, steps, gd_steps)
  local res = {sgd = {}, gd = {}}
  for d = 1, draws do
    for _, method in ipairs{"sgd", "gd"} do
      local n = method == "sgd" and steps or gd_steps
      local h = P.run{kind = kind, method = method, seed = d, steps = n,
                      checkpoints = P.checkpoints(n), null_perms = NULL_PERMS}
      res[method][d] = h
      local f = h.final
      local cross = {}
      for i, v in ipairs(f.cross) do cross[i] = string.format("%.4f", v) end
      print(string.format("  %s draw %d %-3s %7d steps %5.1f s: cross-CKA %s%s", kind, d, method, n,
                          h.seconds, table.concat(cross, " "),
                          #f.predicted > 0 and string.format("  predicted-kernel CKA min %.4f",
                                                             list_min(f.predicted)) or ""))
    end
  end
  return res
end

-- Mean over draws of the histories' field (same checkpoints in every draw).
local function mean_curve(hs, field)
  local out = {}
  for i = 1, #hs[1][field] do
    local s = 0
    for _, h in ipairs(hs) do s = s + h[field][i] end
    out[i] = s / #hs
  end
  return out
end

-- Mean over draws of the final layer-similarity matrices.
local function mean_matrix(hs)
  local M = hs[1].final.S:clone()
  for d = 2, #hs do M = M + hs[d].final.S end
  return M * (1 / #hs)
end

local function curves(fig, res, field, what)
  for _, method in ipairs{"sgd", "gd"} do
    local light = method == "sgd" and SGD_LIGHT or GD_LIGHT
    for d, h in ipairs(res[method]) do
      fig:line(h.steps, h[field], {color = light, width = 1,
                                   label = d == 1 and (method:upper() .. ", each draw") or nil})
    end
  end
  for _, method in ipairs{"sgd", "gd"} do
    fig:line(res[method][1].steps, mean_curve(res[method], field),
             {color = method == "sgd" and SGD_COLOR or GD_COLOR, width = 3,
              label = method:upper() .. ", mean of " .. #res[method] .. " draws" .. (what or "")})
  end
end

local function null_band(fig, res)
  -- the permutation null of mutual k-NN: its mean over every draw and checkpoint, and +3 sd
  local s, sd, n = 0, 0, 0
  for _, method in ipairs{"sgd", "gd"} do
    for _, h in ipairs(res[method]) do
      for i = 1, #h.null_mean do s = s + h.null_mean[i]; sd = math.max(sd, h.null_std[i]); n = n + 1 end
    end
  end
  fig:hline(s / n, {label = string.format("permutation null (mean %.3f)", s / n), color = "gray50",
                    style = "solid"})
  fig:hline(s / n + 3 * sd, {label = "null + 3 sd", color = "gray50", style = "dashed"})
  return s / n, sd
end

------------------------------------------------------------------------------------------
-- Part 1: deep linear networks

local T0 = os.clock()
local lin = run_all("linear", cfg.draws, cfg.steps, cfg.gd_steps)

local g = plot.grid{rows = 1, cols = 3, size = {1800, 560}, out = dir .. "/platonic_cka.png",
                    title = "Deep linear nets 3-6-5-3 (view A) vs 3-8-3 (view B): SGD aligns them, population GD does not"}
local f1 = g:panel(1, 1, {title = "cross-network CKA (worst hidden-layer pair)", xlabel = "step",
                          ylabel = "linear CKA", logx = true, yrange = {0, 1.02}, xrange = {1, cfg.steps},
                          key = "bottom right"})
curves(f1, lin, "cross_min")
f1:hline(0.98, {label = "0.98", color = "black"})
local f2 = g:panel(1, 2, {title = "CKA with the predicted kernel (worst hidden layer)", xlabel = "step",
                          ylabel = "linear CKA", logx = true, yrange = {0, 1.02}, xrange = {1, cfg.steps},
                          key = "bottom right"})
curves(f2, lin, "predicted_min")
f2:hline(0.95, {label = "0.95", color = "black"})
local f3 = g:panel(1, 3, {title = "mutual k-NN (k = 10, n = 512), mean over hidden pairs", xlabel = "step",
                          ylabel = "mutual k-NN", logx = true, yrange = {0, 1.02}, xrange = {1, cfg.steps},
                          key = "bottom right opaque"})
curves(f3, lin, "mknn")
local null_mean, null_sd = null_band(f3, lin)
g:save()

-- predicted-kernel CKA per hidden layer, every draw
local layer_names = {"A h1 (6)", "A h2 (5)", "B h1 (8)"}
local fp = plot.figure{title = "Each hidden layer's CKA with the predicted kernel of section 3 (end of training)",
                       xlabel = "hidden layer: 1 = A h1 (width 6), 2 = A h2 (width 5), 3 = B h1 (width 8)",
                       ylabel = "linear CKA with X L", xrange = {0.5, 3.5}, yrange = {0, 1.05},
                       key = "bottom left", size = {900, 560}, out = dir .. "/platonic_predicted.png"}
for _, method in ipairs{"sgd", "gd"} do
  local xs, ys, means, mx = {}, {}, {}, {}
  local off = method == "sgd" and -0.12 or 0.12
  for l = 1, 3 do
    local vals = {}
    for d, h in ipairs(lin[method]) do
      xs[#xs + 1] = l + off + (d - (#lin[method] + 1) / 2) * 0.02
      ys[#ys + 1] = h.final.predicted[l]
      vals[#vals + 1] = h.final.predicted[l]
    end
    means[l], mx[l] = list_mean(vals), l + off
  end
  fp:scatter(xs, ys, {color = method == "sgd" and SGD_LIGHT or GD_LIGHT, size = 1.2,
                      label = method:upper() .. ", each draw"})
  fp:line(mx, means, {color = method == "sgd" and SGD_COLOR or GD_COLOR, style = "linespoints",
                      width = 2, label = method:upper() .. ", mean"})
end
fp:hline(0.95, {label = "0.95", color = "black"})
fp:save()

-- Net A vs Net B heatmaps, mean over draws
local ha = {"A h1 (6)", "A h2 (5)", "A out (3)"}
local hb = {"B h1 (8)", "B out (3)"}
local gh = plot.grid{rows = 1, cols = 2, size = {1200, 520}, out = dir .. "/platonic_heatmap.png",
                     title = string.format("Net A vs Net B linear CKA, mean of %d draws", cfg.draws)}
local S_sgd, S_gd = mean_matrix(lin.sgd), mean_matrix(lin.gd)
gh:panel(1, 1, {title = string.format("SGD, %d steps", cfg.steps), xlabel = "net B layer", ylabel = "net A layer"})
  :heatmap(S_sgd, {xlabels = hb, ylabels = ha, zrange = {0, 1}})
gh:panel(1, 2, {title = string.format("population GD, %d steps", cfg.gd_steps), xlabel = "net B layer", ylabel = "net A layer"})
  :heatmap(S_gd, {xlabels = hb, ylabels = ha, zrange = {0, 1}})
gh:save()

-- numbers
local function finals(res, method, field, reduce)
  local t = {}
  for d, h in ipairs(res[method]) do t[d] = reduce(h.final[field]) end
  return t
end
local sgd_cross, gd_cross = finals(lin, "sgd", "cross", list_min), finals(lin, "gd", "cross", list_min)
local sgd_pred, gd_pred = finals(lin, "sgd", "predicted", list_min), finals(lin, "gd", "predicted", list_min)
local sgd_knn, gd_knn = finals(lin, "sgd", "mknn", list_mean), finals(lin, "gd", "mknn", list_mean)
local function count(t, thr) local n = 0; for _, v in ipairs(t) do if v > thr then n = n + 1 end end; return n end
local function fmt_list(t) local s = {}; for i, v in ipairs(t) do s[i] = string.format("%.3f", v) end; return table.concat(s, ", ") end
local n_cross, n_pred = count(sgd_cross, 0.98), count(sgd_pred, 0.95)
local gd_n_cross, gd_n_pred = count(gd_cross, 0.98), count(gd_pred, 0.95)
print("  SGD cross-CKA (worst pair) per draw: " .. fmt_list(sgd_cross))
print("  GD  cross-CKA (worst pair) per draw: " .. fmt_list(gd_cross))
print("  SGD predicted-kernel CKA (worst layer) per draw: " .. fmt_list(sgd_pred))
print("  GD  predicted-kernel CKA (worst layer) per draw: " .. fmt_list(gd_pred))
print(string.format("  mutual k-NN: SGD %.3f, GD %.3f, null %.3f (sd <= %.3f)", list_mean(sgd_knn),
                    list_mean(gd_knn), null_mean, null_sd))

local pass = list_mean(sgd_cross) > 0.98 and list_mean(sgd_pred) > 0.95
             and list_mean(sgd_pred) - list_mean(gd_pred) > 0.1
             and list_mean(sgd_cross) > list_mean(gd_cross)
report.claim{
  id = "10", title = "Platonic: SGD aligns two deep linear nets on different views; population GD does not",
  expected = "batch-1 SGD (eta = 0.01, label noise diag(1, .3, .1)) over ~3e5 steps: cross-network hidden-layer CKA > 0.98 and every hidden layer's CKA with the predicted kernel > 0.95 (means over draws); exact population GD clearly lower on the predicted-kernel CKA (per-draw cross-CKA scattered, chance alignment in 3-D)",
  measured = string.format("%d draws. SGD (%d steps): cross-CKA (worst hidden pair) mean %.4f, min %.4f, %d/%d draws > 0.98; predicted-kernel CKA (worst layer) mean %.4f, min %.4f, %d/%d draws > 0.95. Population GD (%d steps): cross-CKA mean %.3f (range %.3f-%.3f, %d/%d > 0.98); predicted-kernel CKA mean %.3f (range %.3f-%.3f, %d/%d > 0.95). Mutual k-NN: SGD %.3f, GD %.3f, permutation null %.3f",
                           cfg.draws, cfg.steps, list_mean(sgd_cross), list_min(sgd_cross), n_cross, cfg.draws,
                           list_mean(sgd_pred), list_min(sgd_pred), n_pred, cfg.draws, cfg.gd_steps,
                           list_mean(gd_cross), list_min(gd_cross), list_max(gd_cross),
                           gd_n_cross, cfg.draws, list_mean(gd_pred), list_min(gd_pred),
                           list_max(gd_pred),
                           gd_n_pred, cfg.draws, list_mean(sgd_knn), list_mean(gd_knn), null_mean),
  pass = pass,
  figures = {dir .. "/platonic_cka.png", dir .. "/platonic_predicted.png", dir .. "/platonic_heatmap.png"},
  numbers = {draws = cfg.draws, steps = cfg.steps, gd_steps = cfg.gd_steps,
             sgd_cross = sgd_cross, gd_cross = gd_cross, sgd_predicted = sgd_pred, gd_predicted = gd_pred,
             sgd_mknn = sgd_knn, gd_mknn = gd_knn, mknn_null = null_mean,
             sgd_draws_cross_gt_098 = n_cross, sgd_draws_predicted_gt_095 = n_pred},
}
local T1 = os.clock()

------------------------------------------------------------------------------------------
-- Part 2: ReLU MLPs (claim 10b)

print(string.format("ReLU MLPs: %d draws, SGD %d steps, full-batch GD (n = %d) %d steps", cfg.mlp_draws,
                    cfg.mlp_steps, P.GD_TRAIN_N, cfg.mlp_gd_steps))
local mlp = run_all("relu", cfg.mlp_draws, cfg.mlp_steps, cfg.mlp_gd_steps)
local gm = plot.grid{rows = 1, cols = 3, size = {1800, 560}, out = dir .. "/platonic_mlp.png",
                     title = "ReLU MLPs 3-16-16-3 (view A) vs 3-24-3 (view B)"}
local m1 = gm:panel(1, 1, {title = "cross-network CKA (worst hidden-layer pair)", xlabel = "step",
                           ylabel = "linear CKA", logx = true, yrange = {0, 1.02}, xrange = {1, cfg.mlp_steps},
                           key = "bottom right"})
curves(m1, mlp, "cross_min")
local ma = {"A h1 (16)", "A h2 (16)", "A out (3)"}
local mb = {"B h1 (24)", "B out (3)"}
local M_sgd, M_gd = mean_matrix(mlp.sgd), mean_matrix(mlp.gd)
gm:panel(1, 2, {title = string.format("SGD, %d steps (mean of %d draws)", cfg.mlp_steps, cfg.mlp_draws),
                xlabel = "net B layer", ylabel = "net A layer"})
  :heatmap(M_sgd, {xlabels = mb, ylabels = ma, zrange = {0, 1}})
gm:panel(1, 3, {title = string.format("full-batch GD, %d steps (mean of %d draws)", cfg.mlp_gd_steps, cfg.mlp_draws),
                xlabel = "net B layer", ylabel = "net A layer"})
  :heatmap(M_gd, {xlabels = mb, ylabels = ma, zrange = {0, 1}})
gm:save()
local msgd, mgd = finals(mlp, "sgd", "cross", list_min), finals(mlp, "gd", "cross", list_min)
local msgd_mean = finals(mlp, "sgd", "cross", list_mean)
local mgd_mean = finals(mlp, "gd", "cross", list_mean)
report.claim{
  id = "10b", title = "Platonic, nonlinear [surrogate]: two ReLU MLPs on different views",
  expected = "alignment no longer exact (section 3 lists nonlinearity as a breaker), but SGD should still align the hidden layers more than full-batch GD (mean over draws of the worst-pair cross-CKA)",
  measured = string.format("%d draws. SGD (%d steps): cross-CKA worst pair %s (mean over pairs %s); full-batch GD (%d steps): worst pair %s (mean over pairs %s)",
                           cfg.mlp_draws, cfg.mlp_steps, fmt_list(msgd), fmt_list(msgd_mean), cfg.mlp_gd_steps,
                           fmt_list(mgd), fmt_list(mgd_mean)),
  pass = list_mean(msgd) > list_mean(mgd),
  figures = {dir .. "/platonic_mlp.png"},
  numbers = {draws = cfg.mlp_draws, sgd_cross = msgd, gd_cross = mgd, sgd_cross_mean = msgd_mean,
             gd_cross_mean = mgd_mean},
}
print(string.format("platonic.lua: deep linear %.0f s, ReLU MLPs %.0f s", T1 - T0, os.clock() - T1))
