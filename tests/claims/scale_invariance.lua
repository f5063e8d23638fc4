-- Claim 3 (PAPER.md §6) at reduced size: a scale-invariant loss (a normalised linear unit
-- f = a·xᵀθ/‖θ‖) has gradients orthogonal to θ, so one SGD step gives exactly
-- ‖θ_{t+1}‖² = (1 − 2ηγ)²‖θ_t‖² + η²‖g_t‖², and at stationarity γ E‖θ‖² = (η/4) E‖g‖² / (1 − ηγ).
-- A plain linear unit (no normalisation) is the control: neither holds.
-- The full experiment is scripts/paper/scale_invariance.lua.

local Unit = nn.Module:extend("Unit")
function Unit:init(d, normalised, rng)
  self.normalised = normalised
  self.theta = nn.Parameter(rng:randn(d, 1) * (1 / math.sqrt(d)))
end
function Unit:forward(x)
  local y = x:matmul(self.theta) * 2
  if self.normalised then y = y / self.theta:square():sum():sqrt() end
  return y
end

local d, N, lr, B = 10, 500, 0.1, 8
local rng = tensor.rng(31)
local star = rng:randn(d, 1)
local X = rng:randn(N, d)
local Y = X:matmul(star) * (2 / star:norm()) + rng:randn(N, 1) * 0.5

-- returns the largest per-step error of the norm law (relative to ‖θ‖²) and the
-- second-half ratio γ<‖θ‖²> / ((η/4)<‖g‖²>)
local function run(normalised, gamma, steps, seed)
  local net = Unit(d, normalised, tensor.rng(seed))
  local opt = optim.sgd(net:parameters(), {lr = lr, weight_decay = gamma})
  local c = (1 - 2 * lr * gamma) ^ 2
  local th = diag.weight_norms(net).total
  local maxerr, st, sg = 0, 0, 0
  for step, xb, yb in data.loader(X, Y, {batch = B, steps = steps, rng = tensor.rng(seed + 1),
                                         progress = false}) do
    local loss = nn.mse(net(xb), yb) * 0.5
    opt:zero_grad(); loss:backward()
    local g2 = diag.grad_norms(net).total
    if step > steps // 2 then st, sg = st + th, sg + g2 end
    opt:step()
    local th_new = diag.weight_norms(net).total
    maxerr = math.max(maxerr, math.abs(th_new - (c * th + lr * lr * g2)) / th_new)
    th = th_new
  end
  return maxerr, gamma * st / (lr / 4 * sg)
end

test("claim 3: |theta_{t+1}|^2 = (1-2 eta gamma)^2 |theta_t|^2 + eta^2 |g_t|^2 for a scale-invariant loss", function()
  for _, gamma in ipairs{0, 0.01} do
    local err = run(true, gamma, 500, 3)
    ok(err < 1e-10, string.format("gamma %g: error %.3g", gamma, err))
  end
end)

test("claim 3: the control (no normalisation) breaks the norm law", function()
  local err = run(false, 0, 200, 3)
  ok(err > 1e-3, string.format("a plain linear unit should not follow the law (error %.3g)", err))
end)

test("claim 3: with weight decay, gamma |theta|^2 -> (eta/4) E|g|^2 (ratio ~1)", function()
  for _, seed in ipairs{3, 7, 11} do
    local _, ratio = run(true, 0.03, 4000, seed)
    ok(math.abs(ratio * (1 - lr * 0.03) - 1) < 0.05, string.format("seed %d: ratio %.4f", seed, ratio))
  end
  local _, control = run(false, 0.03, 4000, 3)
  ok(math.abs(control - 1) > 0.3, string.format("control ratio %.3f should be far from 1", control))
end)
