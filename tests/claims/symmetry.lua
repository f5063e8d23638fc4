-- Claim 9 (PAPER.md §6) at reduced size: identical hidden neurons stay identical under SGD,
-- and the entropic term S = (η/4)‖∇L‖² + (η/4B) Tr Σ (diag.entropic_loss) is invariant under
-- permutations and orthogonal W₁ → RW₁, W₂ → W₂Rᵀ, but not under a general invertible A
-- (which keeps L). The full experiment is scripts/paper/symmetry.lua.

local linalg = tensor.linalg
local function maxabs(t) return tensor.no_grad(function() return t:abs():max() end) end

local X, Y = data.teacher{n = 128, din = 5, dout = 1, hidden = {6}, act = "tanh", noise = 0.5,
                          rng = tensor.rng(90)}

-- a tanh MLP with neuron 2 a copy of neuron 1; copy_out = false copies only the incoming side
local function twin_net(seed, copy_out)
  local net = nn.mlp{5, 8, 1, act = "tanh", rng = tensor.rng(seed)}
  local l1, l2 = net:layers()[1], net:layers()[2]
  tensor.no_grad(function()
    l1.weight:select(1, 2):copy(l1.weight:select(1, 1))
    l1.bias:narrow(1, 2, 1):copy(l1.bias:narrow(1, 1, 1))
    if copy_out then l2.weight:select(2, 2):copy(l2.weight:select(2, 1)) end
  end)
  return net
end
local function gap(net)
  local l1, l2 = net:layers()[1], net:layers()[2]
  return math.max(maxabs(l1.weight:select(1, 1) - l1.weight:select(1, 2)),
                  maxabs(l1.bias:narrow(1, 1, 1) - l1.bias:narrow(1, 2, 1)),
                  maxabs(l2.weight:select(2, 1) - l2.weight:select(2, 2)))
end
local function train(net, steps, seed)
  local opt = optim.sgd(net:parameters(), {lr = 0.05})
  for _, xb, yb in data.loader(X, Y, {batch = 4, steps = steps, rng = tensor.rng(seed), progress = false}) do
    local loss = nn.mse(net(xb), yb)
    opt:zero_grad(); loss:backward(); opt:step()
  end
end

test("claim 9: two identical hidden neurons stay identical under SGD", function()
  for _, seed in ipairs{91, 92, 93} do
    local net = twin_net(seed, true)
    train(net, 1500, seed + 10)
    ok(gap(net) < 1e-12, string.format("seed %d: neurons drifted apart by %.3g", seed, gap(net)))
  end
  -- control: copying only the incoming weights is not a symmetric point; the pair separates
  local net = twin_net(91, false)
  train(net, 1500, 101)
  ok(maxabs(net:layers()[1].weight:select(1, 1) - net:layers()[1].weight:select(1, 2)) > 1e-3,
     "the half-copied pair should separate")
end)

test("claim 9: S is kept by permutations and rotations, broken by a general A; L is kept by all", function()
  local rng = tensor.rng(94)
  local XL = rng:randn(64, 5)
  local YL = XL:matmul(rng:randn(5, 3)) + rng:randn(64, 3) * 0.5
  local lin = nn.deep_linear{5, 8, 3, rng = tensor.rng(95)}
  local W1, W2 = lin:layers()[1].weight:clone(), lin:layers()[2].weight:clone()
  local function LS(net, Xd, Yd)
    local e = diag.entropic_loss(net, nn.mse, Xd, Yd, {lr = 0.1, batch = 8})
    return e.loss, e.discretization + e.noise
  end
  local L0, S0 = LS(lin, XL, YL)
  local function changes(A)
    tensor.no_grad(function()
      lin:layers()[1].weight:copy(A:matmul(W1))
      lin:layers()[2].weight:copy(W2:matmul(linalg.inv(A)))
    end)
    local L, S = LS(lin, XL, YL)
    return math.abs(L - L0) / L0, math.abs(S - S0) / S0
  end
  local R = linalg.qr(rng:randn(8, 8))
  local A = rng:randn(8, 8) * (1 / math.sqrt(8)) + tensor.eye(8)
  local rL, rS = changes(R)
  local aL, aS = changes(A)
  ok(rL < 1e-12 and aL < 1e-12, string.format("L should be kept: %.3g, %.3g", rL, aL))
  ok(rS < 1e-12, string.format("rotation changed S by %.3g", rS))
  ok(aS > 1e-2, string.format("a general A should change S, got %.3g", aS))

  local mlp = nn.mlp{5, 8, 1, act = "tanh", rng = tensor.rng(96)}
  local Lp0, Sp0 = LS(mlp, X, Y)
  local perm = tensor.rng(97):perm(8)
  local l1, l2 = mlp:layers()[1], mlp:layers()[2]
  tensor.no_grad(function()
    local w1, b1, w2 = l1.weight:index_select(1, perm), l1.bias:index_select(1, perm), l2.weight:index_select(2, perm)
    l1.weight:copy(w1); l1.bias:copy(b1); l2.weight:copy(w2)
  end)
  local Lp, Sp = LS(mlp, X, Y)
  ok(math.abs(Lp - Lp0) < 1e-12 * Lp0 and math.abs(Sp - Sp0) < 1e-12 * Sp0,
     string.format("permutation: dL %.3g, dS %.3g", Lp - Lp0, Sp - Sp0))
end)
