-- symmetry.lua -- claim 9 of PAPER.md §6: SGD's entropic term keeps discrete and orthogonal
-- symmetries and breaks the non-orthogonal ones.
--
-- The entropic term of SGD with Λ = ηI is S(θ) = (η/4)‖∇L‖² + (η/4B) Tr Σ (diag.entropic_loss's
-- discretization and noise parts). A symmetry g of the loss, ℓ(gθ) = ℓ(θ), maps gradients
-- by g^{-T}; S is unchanged exactly when g preserves gradient norms (PAPER.md §2):
--
--   part 1  two identical hidden neurons of a tanh MLP receive identical gradients on every
--           batch, so they stay identical under SGD, bitwise (the permutation swapping them
--           is kept). A copy perturbed by 1e-6 is shown for contrast: it is not protected.
--   part 2  on a two-layer linear net, L is unchanged by W₁ → AW₁, W₂ → W₂A⁻¹ for every
--           invertible A, but S only for orthogonal A: for rotations R(s) = Cayley(sΩ) the
--           relative change of S stays at rounding level (~1e-15) for every angle, for
--           stretches A(s) = exp(sK) (K symmetric) it grows like s, to O(1). Permutations of
--           the hidden units of a tanh MLP keep both L and S.
--
-- Figures: symmetry_neurons.png (part 1), symmetry_entropic.png (part 2).
local report = require "entro.report"

local size = report.size()
local dir = report.dir()
local t_start = os.clock()
local linalg = tensor.linalg

local function maxabs(t) return tensor.no_grad(function() return t:abs():max() end) end

---------------------------------------------------------------------------------------------
-- Part 1: identical neurons stay identical under SGD.

local N, din, width = 256, 5, 8
local X, Y = data.teacher{n = N, din = din, dout = 1, hidden = {6}, act = "tanh", noise = 0.5,
                          rng = tensor.rng(90)}
local steps = report.pick{quick = 4000, full = 20000, test = 1000}
local lr, B = 0.05, 4

-- A tanh MLP whose neuron 2 is a copy of neuron 1 (plus `perturb` times a random direction).
local function twin_net(perturb)
  local net = nn.mlp{din, width, 1, act = "tanh", rng = tensor.rng(91)}
  local l1, l2 = net:layers()[1], net:layers()[2]
  tensor.no_grad(function()
    l1.weight:select(1, 2):copy(l1.weight:select(1, 1))
    l1.bias:narrow(1, 2, 1):copy(l1.bias:narrow(1, 1, 1))
    l2.weight:select(2, 2):copy(l2.weight:select(2, 1))
    if perturb > 0 then
      l1.weight:select(1, 2):add_(tensor.rng(92):randn(din) * perturb)
    end
  end)
  return net
end

-- max |difference| between hidden neurons i and j: incoming row, bias, outgoing weight
local function neuron_gap(net, i, j)
  local l1, l2 = net:layers()[1], net:layers()[2]
  return math.max(maxabs(l1.weight:select(1, i) - l1.weight:select(1, j)),
                  maxabs(l1.bias:narrow(1, i, 1) - l1.bias:narrow(1, j, 1)),
                  maxabs(l2.weight:select(2, i) - l2.weight:select(2, j)))
end

local twins = {exact = twin_net(0), perturbed = twin_net(1e-6)}
local opts = {}
for k, net in pairs(twins) do opts[k] = optim.sgd(net:parameters(), {lr = lr}) end
local curves = {exact = {x = {}, y = {}}, perturbed = {x = {}, y = {}}, other = {x = {}, y = {}}}
local max_exact = 0
local loaders = {exact = data.loader(X, Y, {batch = B, steps = steps, rng = tensor.rng(93), progress = false}),
                 perturbed = data.loader(X, Y, {batch = B, steps = steps, rng = tensor.rng(93), progress = false})}
local function record(step)
  local ge, gp, go = neuron_gap(twins.exact, 1, 2), neuron_gap(twins.perturbed, 1, 2), neuron_gap(twins.exact, 1, 3)
  max_exact = math.max(max_exact, ge)
  for k, v in pairs{exact = ge, perturbed = gp, other = go} do
    local c = curves[k]
    c.x[#c.x + 1], c.y[#c.y + 1] = step, v
  end
end
record(0)
for step = 1, steps do
  for _, k in ipairs{"exact", "perturbed"} do
    local _, xb, yb = loaders[k]()
    local loss = nn.mse(twins[k](xb), yb)
    opts[k]:zero_grad(); loss:backward(); opts[k]:step()
  end
  if step % 20 == 0 then record(step) end
end
local final_loss = nn.mse(twins.exact(X), Y):item()
print(string.format("part 1: tanh MLP %d-%d-1, SGD lr %g B %d, %d steps (final loss %.4f)", din, width, lr, B,
                    steps, final_loss))
print(string.format("  identical pair: max |difference| over training = %.3g", max_exact))
print(string.format("  pair perturbed by 1e-6: difference %.3g -> %.3g", curves.perturbed.y[1],
                    curves.perturbed.y[#curves.perturbed.y]))
print(string.format("  a generic pair (neurons 1, 3): difference %.3g", curves.other.y[#curves.other.y]))

local floor = 1e-18
local fig1 = plot.figure{title = "claim 9: two identical hidden neurons stay identical under SGD",
                         xlabel = "step", ylabel = "max |difference| between the two neurons' weights",
                         logy = true, yrange = {floor / 3, 10}, key = "right center",
                         out = dir .. "/symmetry_neurons.png"}
local ye = {}
for i, v in ipairs(curves.exact.y) do ye[i] = math.max(v, floor) end
fig1:line(curves.other.x, curves.other.y, {label = "a generic pair (neurons 1 and 3)"})
fig1:line(curves.perturbed.x, curves.perturbed.y, {label = "a copy perturbed by 1e-6"})
fig1:line(curves.exact.x, ye, {label = max_exact == 0 and "an exact copy (exactly 0, drawn at 1e-18)"
                                                        or "an exact copy", width = 3})
fig1:save()

---------------------------------------------------------------------------------------------
-- Part 2: the entropic term under symmetries of L.

local sl, sB = 0.1, 8                  -- the η and B of the entropic term
local NL, dl, hl, ol = 128, 5, 8, 3
local rng = tensor.rng(94)
local XL = rng:randn(NL, dl)
local YL = XL:matmul(rng:randn(dl, ol)) + rng:randn(NL, ol) * 0.5
local lin = nn.deep_linear{dl, hl, ol, rng = tensor.rng(95)}
local W1, W2 = lin:layers()[1].weight:clone(), lin:layers()[2].weight:clone()

local function entropic(net, Xd, Yd)
  local e = diag.entropic_loss(net, nn.mse, Xd, Yd, {lr = sl, batch = sB})
  return e.loss, e.discretization + e.noise, e
end
local L0, S0, e0 = entropic(lin, XL, YL)
print(string.format("\npart 2: linear net %d-%d-%d, N = %d; L = %.6f, S = (eta/4)|grad L|^2 + (eta/4B) Tr Sigma " ..
                    "= %.6g + %.6g (eta %g, B %d)", dl, hl, ol, NL, L0, e0.discretization, e0.noise, sl, sB))

-- relative changes of L and S after W₁ → A W₁, W₂ → W₂ A⁻¹
local function transformed(A)
  local Ainv = linalg.inv(A)
  tensor.no_grad(function()
    lin:layers()[1].weight:copy(A:matmul(W1))
    lin:layers()[2].weight:copy(W2:matmul(Ainv))
  end)
  local L, S = entropic(lin, XL, YL)
  tensor.no_grad(function()
    lin:layers()[1].weight:copy(W1)
    lin:layers()[2].weight:copy(W2)
  end)
  return math.abs(L - L0) / L0, math.abs(S - S0) / S0
end

local Z = rng:randn(hl, hl)
local Omega = (Z - Z:t()) * 0.5                   -- antisymmetric: generates rotations
local Z2 = rng:randn(hl, hl)
local K = (Z2 + Z2:t()) * (0.5 / linalg.norm((Z2 + Z2:t()) * 0.5, 2))   -- symmetric, |K|_2 = 1
local I = tensor.eye(hl)
local function cayley(s)   -- (I − sΩ/2)⁻¹(I + sΩ/2): orthogonal for every s
  return linalg.solve(I - Omega * (s / 2), I + Omega * (s / 2))
end

local ss = {}
for k = 0, report.pick{quick = 12, full = 24, test = 6} do
  ss[#ss + 1] = 10 ^ (-2 + 2.5 * k / report.pick{quick = 12, full = 24, test = 6})
end
local rot = {L = {}, S = {}}
local str = {L = {}, S = {}}
local worst_rot_S, worst_L, min_str_S_big = 0, 0, math.huge
print(string.format("  %8s %14s %14s %14s %14s", "s", "rot: dL/L", "rot: dS/S", "stretch: dL/L", "stretch: dS/S"))
for i, s in ipairs(ss) do
  local R = cayley(s)
  local A = linalg.expm(K * s)
  local rl, rs = transformed(R)
  local al, as = transformed(A)
  rot.L[i], rot.S[i], str.L[i], str.S[i] = rl, rs, al, as
  worst_rot_S = math.max(worst_rot_S, rs)
  worst_L = math.max(worst_L, rl, al)
  if s >= 0.5 then min_str_S_big = math.min(min_str_S_big, as) end
  print(string.format("  %8.3g %14.2e %14.2e %14.2e %14.2e", s, rl, rs, al, as))
end
local orth_err = maxabs(cayley(1):matmul(cayley(1):t()) - I)
print(string.format("  (|R R^T - I|max = %.1e for the Cayley rotation at s = 1)", orth_err))

-- a random rotation (QR of a Gaussian) and a random invertible A, once each
local Rq = linalg.qr(rng:randn(hl, hl))
local Ar = rng:randn(hl, hl) * (1 / math.sqrt(hl)) + I
local rqL, rqS = transformed(Rq)
local arL, arS = transformed(Ar)
print(string.format("  random orthogonal R (QR):   dL/L = %.2e, dS/S = %.2e", rqL, rqS))
print(string.format("  random invertible A (I+G):  dL/L = %.2e, dS/S = %.2e", arL, arS))
worst_rot_S, worst_L = math.max(worst_rot_S, rqS), math.max(worst_L, rqL, arL)

-- permutations of the hidden units of a tanh MLP with biases
local mlp = nn.mlp{din, width, 1, act = "tanh", rng = tensor.rng(96)}
local Lp0, Sp0 = entropic(mlp, X, Y)
local perm = tensor.rng(97):perm(width)
local l1, l2 = mlp:layers()[1], mlp:layers()[2]
tensor.no_grad(function()
  local w1, b1, w2 = l1.weight:index_select(1, perm), l1.bias:index_select(1, perm), l2.weight:index_select(2, perm)
  l1.weight:copy(w1); l1.bias:copy(b1); l2.weight:copy(w2)
end)
local Lp, Sp = entropic(mlp, X, Y)
local permL, permS = math.abs(Lp - Lp0) / Lp0, math.abs(Sp - Sp0) / Sp0
print(string.format("  permutation of a tanh MLP's %d hidden units: dL/L = %.2e, dS/S = %.2e (S = %.6g)",
                    width, permL, permS, Sp0))

local fig2 = plot.figure{title = "claim 9: W1 -> A W1, W2 -> W2 A^-1 keeps L; S only if A is orthogonal",
                         xlabel = "s (rotation R = Cayley(s Omega); stretch A = exp(s K), |K| = 1)",
                         ylabel = "relative change (exact zeros drawn at 1e-17)", logx = true, logy = true,
                         xrange = {ss[1], ss[#ss]}, yrange = {3e-18, 1e3},
                         key = "right center", out = dir .. "/symmetry_entropic.png"}
local function floored(v) local o = {} for i, x in ipairs(v) do o[i] = math.max(x, 1e-17) end return o end
fig2:line(ss, floored(str.S), {label = "stretch: S (entropic term)", style = "linespoints", width = 2})
fig2:line(ss, floored(rot.S), {label = "rotation: S (entropic term)", style = "linespoints", width = 2})
fig2:line(ss, floored(str.L), {label = "stretch: L", style = "dashed"})
fig2:line(ss, floored(rot.L), {label = "rotation: L", style = "dashed"})
fig2:hline(2.2e-16, {label = "machine epsilon", style = "dotted"})
fig2:save()

local kept = max_exact == 0 and worst_rot_S < 1e-12 and worst_L < 1e-12 and permS < 1e-12 and permL < 1e-12
local broken = min_str_S_big > 1e-2 and arS > 1e-2
report.claim{id = "9", title = "discrete and orthogonal symmetries kept by the entropic term, others broken",
             expected = "identical neurons stay identical under SGD; S = (eta/4)|grad L|^2 + (eta/4B) Tr Sigma unchanged " ..
                        "(~1e-15) under permutations and W1 -> R W1, W2 -> W2 R^T, changed O(1) by non-orthogonal A; L unchanged by all",
             measured = string.format("identical neurons: max difference %.3g over %d SGD steps; dS/S: permutation %.1e, " ..
                                      "rotations <= %.1e, stretches %.2g..%.2g (s = %.2g..%.2g), random A %.2f; " ..
                                      "dL/L <= %.1e for all",
                                      max_exact, steps, permS, worst_rot_S, str.S[1], str.S[#str.S], ss[1], ss[#ss],
                                      arS, math.max(worst_L, permL)),
             pass = kept and broken,
             figures = {dir .. "/symmetry_neurons.png", dir .. "/symmetry_entropic.png"},
             numbers = {identical_gap = max_exact, perm_dS = permS, rot_dS = worst_rot_S, random_A_dS = arS,
                        max_dL = math.max(worst_L, permL)}}
print(string.format("\nsymmetry.lua (%s) done in %.1f s", size, os.clock() - t_start))
