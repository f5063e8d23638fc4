-- Claims 1 and 2 (PAPER.md §6) at reduced size: the rescaling symmetry of f = u·w·x.
-- ℓ = ½(u w x − y)²; D = u² − w² obeys D_{t+1} = D_t[(1 − 2ηγ)² − η² g_t²] exactly, with
-- g_t = E_B[(u w x − y) x]. GD drives g to 0 and D freezes; SGD's noise decays D at a rate
-- ≈ η² σ² E[x²] / B per step. The full experiment is scripts/paper/rescaling.lua.

local N = 1000
local g0 = tensor.rng(2025)
local X = g0:randn(N, 1)
local Y = X + g0:randn(N, 1)

-- (S)GD from (u, w) = (2, 0.25); returns D per step, the largest identity error relative to
-- u² + w², and the first step with D ≤ stop·D₀.
local function run(lr, B, steps, seed, gamma, stop)
  gamma = gamma or 0
  local u = tensor.tensor({2.0}):requires_grad()
  local w = tensor.tensor({0.25}):requires_grad()
  local opt = optim.sgd({u, w}, {lr = lr, weight_decay = gamma})
  local loader = B < N and data.loader(X, Y, {batch = B, steps = steps, rng = tensor.rng(seed),
                                              progress = false})
  local function D() local a, b = u:item(), w:item(); return a * a - b * b, a * a + b * b end
  local D0 = D()
  local Ds, maxerr = {D0}, 0
  for step = 1, steps do
    local xb, yb = X, Y
    if loader then xb, yb = select(2, loader()) end
    local loss = nn.mse(u * w * xb, yb) * 0.5
    opt:zero_grad(); loss:backward()
    local gt = tensor.no_grad(function() return ((u * w * xb - yb) * xb):mean() end)
    local Dt = D()
    opt:step()
    local Dn, S = D()
    maxerr = math.max(maxerr, math.abs(Dn - Dt * ((1 - 2 * lr * gamma) ^ 2 - lr * lr * gt * gt)) / S)
    Ds[#Ds + 1] = Dn
    if stop and Dn <= stop * D0 then return Ds, maxerr, step end
  end
  return Ds, maxerr, nil
end

test("claim 1: D_{t+1} = D_t[(1-2 eta gamma)^2 - eta^2 g_t^2] at every step", function()
  for _, c in ipairs{{0.1, 8, 0}, {0.1, 8, 1e-3}, {0.2, 1, 0.01}, {0.1, N, 1e-3}, {0.1, N, 0}} do
    local _, err = run(c[1], c[2], 400, 5, c[3])
    ok(err < 1e-10, string.format("eta %g B %d gamma %g: error %.3g", c[1], c[2], c[3], err))
    ok(err < 1e-14, string.format("rounding level expected, got %.3g", err))
  end
end)

test("claim 1: the identity is not vacuous (D moves under SGD and with decay)", function()
  local Ds = run(0.1, 8, 400, 5, 0)
  ok(Ds[#Ds] < 0.9 * Ds[1], "SGD should have decayed D by 10% in 400 steps")
  local Dg = run(0.1, N, 400, 5, 0.01)
  ok(Dg[#Dg] < 0.5 * Dg[1], "weight decay shrinks D under GD too")
end)

test("claim 2: GD freezes D near 3.92", function()
  local Ds = run(0.1, N, 1000, 1)
  near(Ds[1], 3.9375, 1e-15)
  ok(math.abs(Ds[#Ds] - 3.92) < 0.01, "GD's final D " .. Ds[#Ds])
  ok(math.abs(Ds[#Ds] - Ds[501]) < 1e-9 * Ds[1], "D still moving under GD")
  -- the control: GD never gets below 0.05 D0
  local _, _, hit = run(0.1, N, 3000, 1, 0, 0.05)
  ok(hit == nil, "GD crossed 0.05 D0 at step " .. tostring(hit))
end)

test("claim 2: SGD (eta 0.1, B 8) drives D below 0.05 D0 within ~2500 steps", function()
  for _, seed in ipairs{1, 2, 3} do
    local _, _, hit = run(0.1, 8, 3000, seed, 0, 0.05)
    ok(hit and hit > 1500 and hit < 3000, "seed " .. seed .. ": crossed at " .. tostring(hit))
  end
end)

-- mean first step with D ≤ D₀/e over seeds
local function tau(lr, B, seeds)
  local s = 0
  for k = 1, seeds do
    local _, _, hit = run(lr, B, 100000, 100 * k + B, 0, math.exp(-1))
    s = s + hit
  end
  return s / seeds
end

test("claim 2: the e-folding time scales like B / eta^2", function()
  local rB = tau(0.1, 16, 3) / tau(0.1, 4, 3)      -- B x4: expect ~4
  ok(rB > 3.2 and rB < 5.0, string.format("tau(B=16)/tau(B=4) = %.3f, expected ~4", rB))
  local rL = tau(0.05, 8, 3) / tau(0.1, 8, 3)      -- eta /2: expect ~4 (a bit more: O(eta S))
  ok(rL > 3.5 and rL < 5.5, string.format("tau(eta=0.05)/tau(eta=0.1) = %.3f, expected ~4.5", rL))
end)
