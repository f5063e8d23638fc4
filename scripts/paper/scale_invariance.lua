-- scale_invariance.lua -- claim 3 of PAPER.md §6: the scale symmetry θ → λθ.
--
-- A weight vector that feeds a normalisation has a scale-invariant loss: here the model is
-- a normalised linear unit, f(x) = a·xᵀθ/‖θ‖, trained on y = a·xᵀθ*/‖θ*‖ + noise with
-- ½-squared loss. Its gradient is orthogonal to θ, so gradient flow keeps ‖θ‖ fixed, but a
-- discrete step cannot stay on the sphere:
--
--   without weight decay  ‖θ_{t+1}‖² = ‖θ_t‖² + η²‖g_t‖², exactly, every step: the norm grows
--                         (and the effective step η/‖θ‖² shrinks);
--   with weight decay γ   ‖θ_{t+1}‖² = (1−2ηγ)²‖θ_t‖² + η²‖g_t‖², whose stationary point is
--                         γ E‖θ‖² = (η/4) E‖g‖² / (1 − ηγ): the entropic force (outward)
--                         balances the decay (inward), "generalised equipartition".
--
-- What to look for: in scale_invariance_norm.png the γ = 0 norm grows like √t and sits on
-- the dashed curve ‖θ₀‖² + Σ η²‖g‖²; the γ > 0 norms level off. In
-- scale_invariance_ratio.png the ratio γ‖θ‖² / ((η/4)‖g‖²), averaged over time, goes to ~1
-- for every γ.
local report = require "entro.report"

local size = report.size()
local dir = report.dir()
local t_start = os.clock()

-- f(x) = a·xᵀθ/‖θ‖: scale-invariant in θ (the one parameter).
local NormalizedLinear = nn.Module:extend("NormalizedLinear")
function NormalizedLinear:init(d, a, rng)
  self.a = a
  self.theta = nn.Parameter(rng:randn(d, 1) * (1 / math.sqrt(d)))   -- |θ₀|² ≈ 1
end
function NormalizedLinear:forward(x)
  return x:matmul(self.theta) * (self.a / self.theta:square():sum():sqrt())
end

local d, N, a, noise = 10, 1000, 2.0, 0.5
local lr, B = 0.1, 8
local rng = tensor.rng(31)
local star = rng:randn(d, 1)
local X = rng:randn(N, d)
local Y = X:matmul(star) * (a / star:norm()) + rng:randn(N, 1) * noise

local steps = report.pick{quick = 20000, full = 60000, test = 2000}
local gammas = report.pick{quick = {1e-3, 1e-2}, full = {1e-3, 3e-3, 1e-2, 3e-2}, test = {1e-2}}

-- One SGD run; records ‖θ‖² and ‖g‖² every step, and the per-step error of
-- ‖θ_{t+1}‖² = (1−2ηγ)²‖θ_t‖² + η²‖g_t‖² relative to ‖θ_{t+1}‖².
local function run(gamma, seed)
  local net = NormalizedLinear(d, a, tensor.rng(seed))
  local opt = optim.sgd(net:parameters(), {lr = lr, weight_decay = gamma})
  local th2, g2, maxerr = {diag.weight_norms(net).total}, {}, 0
  local c = (1 - 2 * lr * gamma) ^ 2
  for step, xb, yb in data.loader(X, Y, {batch = B, steps = steps, rng = tensor.rng(seed + 1),
                                         progress = false}) do
    local loss = nn.mse(net(xb), yb) * 0.5
    opt:zero_grad(); loss:backward()
    g2[step] = diag.grad_norms(net).total          -- the loss gradient (the decay is the optimizer's)
    opt:step()
    th2[step + 1] = diag.weight_norms(net).total
    local err = math.abs(th2[step + 1] - (c * th2[step] + lr * lr * g2[step])) / th2[step + 1]
    if err > maxerr then maxerr = err end
  end
  return th2, g2, maxerr
end

local fig_n = plot.figure{title = "claim 3: |theta|^2 of a scale-invariant weight under SGD (eta=0.1, B=8)",
                          xlabel = "step", ylabel = "|theta|^2", logx = true, logy = true,
                          xrange = {1, steps}, key = "top left", out = dir .. "/scale_invariance_norm.png"}
local fig_r = plot.figure{title = "claim 3: equipartition gamma |theta|^2 = (eta/4) E|g|^2 under SGD with decay",
                          xlabel = "step t", ylabel = "gamma <|theta|^2> / ((eta/4) <|g|^2>), means over (t/2, t]",
                          logx = true, xrange = {10, steps}, yrange = {0, 2}, key = "bottom right",
                          out = dir .. "/scale_invariance_ratio.png"}
-- log-spaced steps to draw (about 60 per decade)
local marks = {}
do
  local last = 0
  for k = 0, math.huge do
    local t = math.floor(10 ^ (k / 60))
    if t > steps then break end
    if t > last then marks[#marks + 1], last = t, t end
  end
end

print(string.format("normalised linear unit: d = %d, N = %d, eta = %g, B = %d, %d steps", d, N, lr, B, steps))
local th0, g0, err0 = run(0, 5)
do
  local xs, ys, cs, cum = {}, {}, {}, {th0[1]}
  for t = 1, steps do cum[t + 1] = cum[t] + lr * lr * g0[t] end
  for _, t in ipairs(marks) do xs[#xs + 1], ys[#ys + 1], cs[#cs + 1] = t, th0[t + 1], cum[t + 1] end
  fig_n:line(xs, ys, {label = "gamma = 0", width = 3})
  fig_n:line(xs, cs, {label = "gamma = 0: |theta_0|^2 + sum eta^2 |g|^2", style = "dashed", color = "black"})
  print(string.format("gamma = 0:    |theta|^2 %.4f -> %.4f; max per-step error %.2e (relative to |theta|^2)",
                      th0[1], th0[#th0], err0))
end

local worst_err, worst_dev, ratios = err0, 0, {}
for i, gamma in ipairs(gammas) do
  local th2, g2, err = run(gamma, 5)     -- same start and batches: only gamma differs
  worst_err = math.max(worst_err, err)
  -- time averages over the second half (the relaxation time is ~1/(4ηγ) steps)
  local st, sg = 0, 0
  local from = steps // 2
  for t = from + 1, steps do st, sg = st + th2[t], sg + g2[t] end
  local ratio = gamma * st / (lr / 4 * sg)
  local predicted = 1 / (1 - lr * gamma)
  ratios[i] = ratio
  worst_dev = math.max(worst_dev, math.abs(ratio / predicted - 1))
  print(string.format("gamma = %-5g |theta|^2 -> %.4f; second-half ratio gamma E|theta|^2 / ((eta/4) E|g|^2) = %.4f " ..
                      "(exact stationary value 1/(1-eta gamma) = %.4f); max per-step error %.2e",
                      gamma, st / (steps - from), ratio, predicted, err))
  local xs, ys, rx, ry = {}, {}, {}, {}
  local ct, cg = {[0] = 0}, {[0] = 0}        -- cumulative sums, for window means
  for t = 1, steps do ct[t], cg[t] = ct[t - 1] + th2[t], cg[t - 1] + g2[t] end
  for _, t in ipairs(marks) do
    xs[#xs + 1], ys[#ys + 1] = t, th2[t + 1]
    if t >= 10 then
      local h = t // 2
      rx[#rx + 1], ry[#ry + 1] = t, gamma * (ct[t] - ct[h]) / (lr / 4 * (cg[t] - cg[h]))
    end
  end
  fig_n:line(xs, ys, {label = string.format("gamma = %g", gamma)})
  fig_r:line(rx, ry, {label = string.format("gamma = %g", gamma)})
end
fig_r:hline(1, {label = "equipartition: ratio 1"})
fig_n:save()
fig_r:save()

local parts = {}
for i, gamma in ipairs(gammas) do parts[i] = string.format("%.3f (gamma %g)", ratios[i], gamma) end
report.claim{id = "3", title = "scale symmetry: norm growth by eta^2|g|^2 per step; equilibrium with decay",
             expected = "|theta_{t+1}|^2 = |theta_t|^2 + eta^2|g_t|^2 exactly (gamma = 0); with gamma > 0, " ..
                        "gamma |theta|^2 / ((eta/4) E|g|^2) -> ~1 (exactly 1/(1 - eta gamma) at stationarity)",
             measured = string.format("max per-step error %.2e relative to |theta|^2; ratios %s; largest " ..
                                      "deviation from 1/(1-eta gamma) %.1f%%",
                                      worst_err, table.concat(parts, ", "), 100 * worst_dev),
             pass = worst_err < 1e-13 and worst_dev < 0.1,
             figures = {dir .. "/scale_invariance_norm.png", dir .. "/scale_invariance_ratio.png"},
             numbers = {max_error = worst_err, ratios = ratios, gammas = gammas}}
print(string.format("\nscale_invariance.lua (%s) done in %.1f s", size, os.clock() - t_start))
