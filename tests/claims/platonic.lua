-- Claim 10 (PAPER.md section 3) at reduced size, with the pieces of scripts/paper/platonic.lua:
-- CKA's invariances on really trained deep linear nets, and SGD vs exact population GD on the
-- predicted-kernel CKA (the GD control must fail the SGD assertion).
local P = assert(loadfile("scripts/paper/platonic.lua"))("module")

-- A random orthogonal d x d matrix (QR of a Gaussian one).
local function orthogonal(d, g)
  local Q = tensor.linalg.qr(g:randn(d, d))
  return Q
end

-- Replaces (W1, W2) of two consecutive bias-free layers by (A W1, W2 A^-1): the same function,
-- a hidden layer h1 -> h1 A^T.
local function transform(net, A)
  local l1, l2 = net.layers[1], net.layers[2]
  tensor.no_grad(function()
    l1.weight:copy(A:matmul(l1.weight))
    l2.weight:copy(l2.weight:matmul(tensor.linalg.inv(A)))
  end)
end

local trained   -- one briefly trained SGD pair, shared by the invariance tests
local function pair()
  trained = trained or P.run{kind = "linear", method = "sgd", seed = 1, steps = 5000}
  return trained
end

test("rotating a trained hidden layer leaves its CKA with the other net unchanged", function()
  local h = pair()
  local a = P.ARCH.linear
  local opts = {layers = a.layers_a, layers_b = a.layers_b}
  local S0 = diag.layer_similarity(h.netA, h.netB, h.ev.views[1], h.ev.views[2], opts)
  local out0 = tensor.no_grad(function() return h.netA(h.ev.views[1]) end)
  local h1 = select(2, diag.activations(h.netA, h.ev.views[1]))["layers.1"]
  local hb = select(2, diag.activations(h.netB, h.ev.views[2]))["layers.1"]
  local knn0 = diag.mutual_knn(h1, hb, {k = 10})
  local Q = orthogonal(6, tensor.rng(11))
  transform(h.netA, Q)
  local S1 = diag.layer_similarity(h.netA, h.netB, h.ev.views[1], h.ev.views[2], opts)
  local out1 = tensor.no_grad(function() return h.netA(h.ev.views[1]) end)
  local h1q = select(2, diag.activations(h.netA, h.ev.views[1]))["layers.1"]
  near(out1, out0, 1e-12, "the rotation keeps the function")
  near(h1q, h1:matmul(Q:t()), 1e-12, "the hidden layer is rotated")
  ok((h1q - h1):abs():max() > 0.1, "the hidden layer really moved")
  near(S1, S0, 1e-10, "every CKA entry is unchanged")
  near(diag.mutual_knn(h1q, hb, {k = 10}), knn0, 1e-12, "mutual k-NN is unchanged")
  transform(h.netA, Q:t())   -- undo
end)

test("a non-orthogonal double rotation keeps the function but changes the CKA", function()
  local h = pair()
  local a = P.ARCH.linear
  local opts = {layers = a.layers_a, layers_b = a.layers_b}
  local S0 = diag.layer_similarity(h.netA, h.netB, h.ev.views[1], h.ev.views[2], opts)
  local out0 = tensor.no_grad(function() return h.netA(h.ev.views[1]) end)
  -- A = Q diag(s) with s spread over [0.3, 3]: not orthogonal, well conditioned
  local s = tensor.tensor{0.3, 0.6, 1, 1.5, 2.2, 3}
  local A = orthogonal(6, tensor.rng(12)) * s:view(1, 6)
  transform(h.netA, A)
  local S1 = diag.layer_similarity(h.netA, h.netB, h.ev.views[1], h.ev.views[2], opts)
  near(tensor.no_grad(function() return h.netA(h.ev.views[1]) end), out0, 1e-10, "same function")
  ok(math.abs(S1:get(1, 1) - S0:get(1, 1)) > 0.02,
     string.format("h1 vs B's hidden layer should move: %.4f -> %.4f", S0:get(1, 1), S1:get(1, 1)))
  near(S1:get(3, 2), S0:get(3, 2), 1e-10, "the outputs' CKA is unchanged")
  transform(h.netA, tensor.linalg.inv(A))   -- undo
end)

-- Reduced run: SGD (1e5 steps) vs population GD (3000 steps, converged) on seeds 1-3.
local SEEDS, SGD_STEPS, GD_STEPS = {1, 2, 3}, 100000, 3000

-- The SGD assertion: mean over draws of the worst hidden layer's predicted-kernel CKA > 0.95
-- and of the worst cross-network pair > 0.97.
local function aligned(runs)
  local pred, cross = {}, {}
  for i, h in ipairs(runs) do
    pred[i], cross[i] = P.min(h.final.predicted), P.min(h.final.cross)
  end
  return P.mean(pred) > 0.95 and P.mean(cross) > 0.97, P.mean(pred), P.mean(cross)
end

test("SGD aligns to the predicted kernel; population GD does not", function()
  local sgd, gd = {}, {}
  for i, seed in ipairs(SEEDS) do
    sgd[i] = P.run{kind = "linear", method = "sgd", seed = seed, steps = SGD_STEPS, knn = false}
    gd[i] = P.run{kind = "linear", method = "gd", seed = seed, steps = GD_STEPS, knn = false}
  end
  local s_ok, s_pred, s_cross = aligned(sgd)
  local g_ok, g_pred, g_cross = aligned(gd)
  ok(s_ok, string.format("SGD: predicted-kernel CKA %.4f, cross-CKA %.4f", s_pred, s_cross))
  ok(not g_ok, string.format("GD control passed the SGD assertion: %.4f, %.4f", g_pred, g_cross))
  ok(s_pred - g_pred > 0.15, string.format("margin SGD - GD = %.4f", s_pred - g_pred))
  -- GD has converged: its population gradient is numerically zero
  local pop = P.population_loss(gd[1].lt, 1)
  local grads = tensor.grad(function() return pop(gd[1].netA) end, gd[1].netA:parameters())
  local gn = 0
  for _, g in ipairs(grads) do gn = gn + (g * g):sum() end
  ok(math.sqrt(gn) < 1e-8, "population GD has converged: |grad| = " .. math.sqrt(gn))
end)
