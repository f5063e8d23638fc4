-- sharpness.lua -- PAPER.md §4 and claim 11: the sharpness paradox. SGD does not prefer flat
-- minima as such, only small gradient fluctuations, so the data's noise decides how sharp the
-- solution gets: isotropic label noise gives a flat one, anisotropic noise a sharp one, up to
-- the edge of stability λ_max = 2/η.
--
-- Setup (the §4 surrogate). f(x) = W₂W₁x with W₁, W₂ ∈ R^{2×2} (nn.deep_linear{2, 2, 2});
-- x ~ N(0, I₂), y = x + ε with ε ~ N(0, diag(1, a)); loss ½‖f − y‖², fresh samples every step;
-- start at W₁ = W₂ = I, where λ_max = 2. Every product W₂W₁ = I is a global minimum, and along
-- that orbit (W₂ = A, W₁ = A⁻¹) the loss is flat but the SGD noise Tr Σ is not: its minimum,
-- the entropic optimum, has λ*(a) = √((1+a)/(2a)) + √(2/(1+a)) — 2 at a = 1 (isotropic noise,
-- the flattest point of the orbit), growing like 1/√(2a) as the noise gets more lopsided.
--
-- λ_max is the top Hessian eigenvalue of the *population* loss at the current weights. For
-- x ~ N(0, I) it has a closed form, E ½‖Mx − y‖² = ½‖M − I‖²_F + ½(1 + a) with M = W₂W₁, so
-- diag.sharpness (Lanczos on HVPs) runs on that closed form: exact, smooth, and about 0.3 ms
-- for the 8 parameters, against the noise a finite evaluation batch would add.
--
-- Two experiments:
--   1. batch-1 SGD, η = 0.02, from W = I, for several a: λ_max against steps (progressive
--      sharpening for a < 1), and its average over the second half of the run against λ*(a).
--      Claim 11: within 10% of λ*(a) for a ∈ {0.125, 0.3}, and decreasing with a.
--   2. the (η, a) phase diagram of η·λ_max over η ∈ [0.3, 0.7] × a ∈ [0, 0.4]. Batch-1 SGD
--      diverges there (measured at a = 0.3: within 3·10³ steps at η = 0.15 for 3 of 3 seeds,
--      none at η = 0.1), so these runs use batch 64: at batch 32 a rare batch of large inputs
--      kicks η = 0.7 runs over the edge (in trial runs 8 of 12 runs at η = 0.7, a ∈ {0, 0.1,
--      0.3}, diverged within 4·10⁴ steps; at batch 64 none did). The entropic drift scales like
--      η²/B, so batch 64 at η ≥ 0.3 still drifts faster than batch 1 at η = 0.02.
--      The colour is η·λ_max, whose ceiling 2 is the edge of stability λ_max = 2/η. Drawn in:
--      the theory boundary a = η²/2 (as read off the paper's figure), the η → 0 boundary of
--      this surrogate, η·λ*(a) = 2 (not quite the same curve: for small a, λ* ≈ 1/√(2a) gives
--      a ≈ η²/8 with the ½-loss, η²/2 for a loss without the ½; the two meet near η = 0.7),
--      and the measured boundary, the contour η·λ_max = 1.9.
--
-- What to look for: in the top panels λ_max climbs from 2 to a plateau set by a — the more
-- lopsided the noise, the sharper — and the plateaus sit within ~5% of λ*(a) for
-- 0.05 ≤ a ≤ 0.5 (a little below it for the smallest a); at a = 1 λ* = 2 is the orbit's
-- minimum, so SGD's jitter can only land above it. In the bottom panels η·λ_max grows with η
-- and shrinks with a, and reaches the edge of stability only in a thin low-a, high-η corner,
-- far smaller at these finite η than the η → 0 theory boundary: every cell with a > 0 stays
-- below the η → 0 prediction min(η·λ*(a), 2) (dashed, bottom right).
--
--   ./entro scripts/paper/sharpness.lua [quick|full]      (writes out/paper/sharpness.png)
local report = require "entro.report"

local size = report.size()
local cfg = report.pick{
  quick = {steps = 150000, seeds = 1, avals = {0.05, 0.125, 0.3, 1.0},
           etas = {0.3, 0.4, 0.5, 0.6, 0.7}, pd_a = {0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4},
           pd_steps = 20000},
  full  = {steps = 400000, seeds = 2, avals = {0.03, 0.05, 0.08, 0.125, 0.2, 0.3, 0.5, 1.0},
           etas = {0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7},
           pd_a = {0, 0.025, 0.05, 0.075, 0.1, 0.125, 0.15, 0.175, 0.2, 0.225, 0.25, 0.275, 0.3,
                   0.325, 0.35, 0.375, 0.4},
           pd_steps = 30000},
  test  = {steps = 40000, seeds = 1, avals = {0.05, 0.125, 0.3, 1.0},
           etas = {0.3, 0.5, 0.7}, pd_a = {0, 0.2, 0.4}, pd_steps = 5000},
}
local LR, EVERY = 0.02, 1000          -- experiment 1: η and how often λ_max is measured
local PD_BATCH, PD_EVERY = 64, 100    -- experiment 2
local CONTOUR = 1.9                   -- the measured boundary: where η·λ_max reaches this

local function lambda_star(a) return math.sqrt((1 + a) / (2 * a)) + math.sqrt(2 / (1 + a)) end

-- The a at which η·λ*(a) = 2 (λ* decreases in a on (0, 1]): bisection.
local function theory_a(eta)
  local lo, hi = 1e-9, 1
  if eta * lambda_star(hi) >= 2 then return hi end
  for _ = 1, 100 do
    local mid = 0.5 * (lo + hi)
    if eta * lambda_star(mid) > 2 then lo = mid else hi = mid end
  end
  return 0.5 * (lo + hi)
end

local I2 = tensor.eye(2)

-- One SGD run from W = I. Returns λ_max sampled every `every` steps (steps, values), its mean
-- over the second half, and the step at which the run diverged (nil if it did not).
local function run(a, lr, batch, steps, seed, every)
  local g = tensor.rng(seed)
  local net = nn.deep_linear{2, 2, 2, rng = g}
  local params = net:parameters()          -- {W₁, W₂}
  tensor.no_grad(function() for _, p in ipairs(params) do p:copy(I2) end end)
  local opt = optim.sgd(params, {lr = lr})
  local noise_sd = tensor.tensor{{1, math.sqrt(a)}}
  local function population_loss()
    local M = params[2]:matmul(params[1])
    return (M - I2):square():sum() * 0.5 + 0.5 * (1 + a)
  end
  local xs, ls, sum, n = {}, {}, 0, 0
  for step = 1, steps do
    local x = g:randn(batch, 2)
    local y = x + g:randn(batch, 2) * noise_sd
    -- nn.mse averages over the 2 outputs too, so for 2-d outputs it is ½‖f − y‖² per sample
    local loss = nn.mse(net(x), y)
    opt:zero_grad(); loss:backward(); opt:step()
    if step % every == 0 then
      local w = params[1]:detach():norm() + params[2]:detach():norm()
      if not (w < 1e6) then return {steps = xs, values = ls}, 0 / 0, step end
      local lam = diag.sharpness(population_loss, params, {rng = g}).max
      xs[#xs + 1], ls[#ls + 1] = step, lam
      if step > steps / 2 then sum, n = sum + lam, n + 1 end
    end
  end
  return {steps = xs, values = ls}, sum / n, nil
end

local t_start = os.clock()

---------------------------------------------------------------------------------------------
-- 1. batch-1 SGD at η = 0.02: λ_max against steps, and the plateau against λ*(a)

print(string.format("sharpness (%s): batch-1 SGD, lr %.2f, %d steps, %d seed(s), a = %s",
                    size, LR, cfg.steps, cfg.seeds, table.concat(cfg.avals, ", ")))
local curves, plateau, spread = {}, {}, {}
local t0 = os.clock()
for _, a in ipairs(cfg.avals) do
  local vals = {}
  for seed = 1, cfg.seeds do
    local tr, mean = run(a, LR, 1, cfg.steps, seed, EVERY)
    if seed == 1 then curves[a] = tr end
    vals[seed] = mean
  end
  local m, s2 = 0, 0
  for _, v in ipairs(vals) do m = m + v / #vals end
  for _, v in ipairs(vals) do s2 = s2 + (v - m) ^ 2 end
  plateau[a] = m
  spread[a] = #vals > 1 and math.sqrt(s2 / (#vals - 1) / #vals) or 0   -- standard error over seeds
  print(string.format("  a = %-5g  <λ_max> = %.3f ± %.3f   λ*(a) = %.3f   ratio %.3f",
                      a, m, spread[a], lambda_star(a), m / lambda_star(a)))
end
local sgd_steps = cfg.steps * #cfg.avals * cfg.seeds
local us_step1 = (os.clock() - t0) / sgd_steps * 1e6
print(string.format("  %.1f µs per batch-1 step (λ_max every %d steps included)", us_step1, EVERY))

---------------------------------------------------------------------------------------------
-- 2. the (η, a) phase diagram at batch 64

print(string.format("phase diagram: batch %d, %d steps per cell, %d η × %d a",
                    PD_BATCH, cfg.pd_steps, #cfg.etas, #cfg.pd_a))
t0 = os.clock()
local etal, diverged = {}, {}   -- etal[i][j]: η_j·<λ_max> at a_i
for i, a in ipairs(cfg.pd_a) do
  etal[i] = {}
  for j, eta in ipairs(cfg.etas) do
    local _, mean, dstep = run(a, eta, PD_BATCH, cfg.pd_steps, 1, PD_EVERY)
    etal[i][j] = eta * mean
    if dstep then diverged[#diverged + 1] = string.format("η=%g a=%g at step %d", eta, a, dstep) end
  end
end
local us_step64 = (os.clock() - t0) / (cfg.pd_steps * #cfg.etas * #cfg.pd_a) * 1e6
print("  η·<λ_max>  (rows a, columns η = " .. table.concat(cfg.etas, ", ") .. ")")
for i, a in ipairs(cfg.pd_a) do
  local row = {}
  for j = 1, #cfg.etas do row[j] = string.format("%6.3f", etal[i][j]) end
  print(string.format("  a = %-6g %s", a, table.concat(row, " ")))
end
print(string.format("  %.1f µs per batch-%d step; %d diverged cell(s)%s", us_step64, PD_BATCH,
                    #diverged, #diverged > 0 and (": " .. table.concat(diverged, "; ")) or ""))

-- The measured boundary at each η: the a where η·λ_max falls through CONTOUR, by linear
-- interpolation between grid rows (nil when even a = 0 stays below it).
local measured_a = {}
for j in ipairs(cfg.etas) do
  local col = {}
  for i in ipairs(cfg.pd_a) do col[i] = etal[i][j] end
  if col[1] >= CONTOUR then
    measured_a[j] = cfg.pd_a[#cfg.pd_a]
    for i = 2, #col do
      if not (col[i] >= CONTOUR) then
        local a0, a1, v0, v1 = cfg.pd_a[i - 1], cfg.pd_a[i], col[i - 1], col[i]
        measured_a[j] = (v1 == v1) and a0 + (a1 - a0) * (v0 - CONTOUR) / (v0 - v1) or a0
        break
      end
    end
  end
end

---------------------------------------------------------------------------------------------
-- verdicts

local decreasing = true
for k = 2, #cfg.avals do
  if not (plateau[cfg.avals[k]] < plateau[cfg.avals[k - 1]]) then decreasing = false end
end
local within = {}
for _, a in ipairs{0.125, 0.3} do
  within[a] = math.abs(plateau[a] / lambda_star(a) - 1) <= 0.10
end
local a_last = cfg.avals[#cfg.avals]
report.claim{
  id = "11", title = "sharpness: SGD settles at the entropic optimum λ*(a) of the noise",
  expected = "batch-1 SGD (η = 0.02, from W = I, λ = 2): time-averaged λ_max within 10% of " ..
             "λ*(a) = √((1+a)/(2a)) + √(2/(1+a)) for a ∈ {0.125, 0.3}, and decreasing with a",
  measured = string.format("<λ_max> = %.2f (λ* %.2f) at a = 0.125, %.2f (λ* %.2f) at a = 0.3; " ..
                           "%s with a (a = %g: %.2f ... a = %g: %.2f, λ* = %.2f); %d steps, %d seed(s)",
                           plateau[0.125], lambda_star(0.125), plateau[0.3], lambda_star(0.3),
                           decreasing and "decreasing" or "NOT decreasing", cfg.avals[1],
                           plateau[cfg.avals[1]], a_last, plateau[a_last], lambda_star(a_last),
                           cfg.steps, cfg.seeds),
  pass = within[0.125] and within[0.3] and decreasing,
  figures = {report.dir() .. "/sharpness.png"},
  numbers = {plateau = plateau, lambda_star = (function()
    local t = {}
    for _, a in ipairs(cfg.avals) do t[tostring(a)] = lambda_star(a) end
    return t
  end)()},
}

-- The phase diagram's shape: η·λ_max rises with η along every row and falls with a along every
-- column (allowing 0.05 of time-average jitter between neighbouring cells), reaches 1.9 in the
-- low-a, high-η corner, and its 1.9-contour lies inside the theory boundary a = η²/2.
local TOL = 0.05
local rises, falls = true, true
for i in ipairs(cfg.pd_a) do
  for j = 2, #cfg.etas do
    if not (etal[i][j] >= etal[i][j - 1] - TOL) then rises = false end
  end
end
for j in ipairs(cfg.etas) do
  for i = 2, #cfg.pd_a do
    if not (etal[i][j] <= etal[i - 1][j] + TOL) then falls = false end
  end
end
local corner = etal[1][#cfg.etas]
local below, cells = 0, 0      -- cells with a > 0 under the η → 0 prediction min(η·λ*(a), 2)
for i, a in ipairs(cfg.pd_a) do
  if a > 0 then
    for j, eta in ipairs(cfg.etas) do
      cells = cells + 1
      if etal[i][j] < math.min(eta * lambda_star(a), 2) then below = below + 1 end
    end
  end
end
local inside, bparts = true, {}
for j, eta in ipairs(cfg.etas) do
  local m = measured_a[j]
  if m and m > eta ^ 2 / 2 then inside = false end
  bparts[#bparts + 1] = string.format("η=%g: %s vs %.3f", eta, m and string.format("%.3f", m) or "none",
                                      eta ^ 2 / 2)
end
report.claim{
  id = "11b", title = "sharpness phase diagram: η·λ_max up with η, down with a, edge of stability in the corner",
  expected = "batch ≥ 32 over η ∈ [0.3, 0.7] × a ∈ [0, 0.4]: η·λ_max rises with η, falls with a, " ..
             "approaches 2 in the low-a, high-η corner; the measured corner (η·λ_max ≥ 1.9) is " ..
             "smaller than the η→0 theory boundary a = η²/2",
  measured = string.format("batch %d, %d steps/cell: rises with η: %s; falls with a: %s (tolerance %.2f); " ..
                           "corner (η=%g, a=0) η·λ_max = %.3f; measured boundary a(η·λ_max=%.1f) " ..
                           "vs η²/2: %s; %d of %d cells with a > 0 below min(η·λ*(a), 2); %d diverged cell(s)",
                           PD_BATCH, cfg.pd_steps, tostring(rises), tostring(falls), TOL,
                           cfg.etas[#cfg.etas], corner, CONTOUR, table.concat(bparts, ", "), below, cells,
                           #diverged),
  pass = rises and falls and corner >= CONTOUR and inside and #diverged == 0,
  figures = {report.dir() .. "/sharpness.png"},
  numbers = {etas = cfg.etas, a = cfg.pd_a, eta_lambda = etal, batch = PD_BATCH,
             measured_boundary = (function()
               local t = {}
               for j in ipairs(cfg.etas) do t[j] = measured_a[j] or "none" end
               return t
             end)()},
}

---------------------------------------------------------------------------------------------
-- the figure: 2 × 2 panels

local grid = plot.grid{rows = 2, cols = 2, size = {1400, 1050}, out = report.dir() .. "/sharpness.png",
                       title = string.format("Sharpness paradox in W₂W₁x with label noise diag(1, a) (%s size)", size)}
local COLORS = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f"}

-- (1,1) λ_max against steps for four values of a, with λ*(a) dashed
local show = {}
for _, a in ipairs{0.05, 0.125, 0.3, 1.0} do if curves[a] then show[#show + 1] = a end end
local p1 = grid:panel(1, 1){title = string.format("batch-1 SGD, η = %g, from W = I: λ_max of the population loss", LR),
                            xlabel = "step", ylabel = "λ_max", key = "top right horizontal",
                            yrange = {1.5, 6}}
for k, a in ipairs(show) do
  p1:line(curves[a].steps, curves[a].values, {label = string.format("a = %g", a), color = COLORS[k], width = 1})
end
for k, a in ipairs(show) do
  p1:hline(lambda_star(a), {color = COLORS[k], style = "dashed", width = 2,
                            label = k == 1 and "λ*(a), dashed" or nil})
end

-- (1,2) the plateau against λ*(a)
local ax, ay, ae, tx, ty = {}, {}, {}, {}, {}
for _, a in ipairs(cfg.avals) do ax[#ax + 1], ay[#ay + 1], ae[#ae + 1] = a, plateau[a], spread[a] end
for k = 0, 60 do
  local a = 0.02 * (1.5 / 0.02) ^ (k / 60)
  tx[#tx + 1], ty[#ty + 1] = a, lambda_star(a)
end
grid:panel(1, 2){title = "λ_max averaged over the second half of the run", xlabel = "label-noise balance a",
                 ylabel = "λ_max", logx = true, key = "top right", xrange = {0.015, 2}}
  :line(tx, ty, {label = "λ*(a) = √((1+a)/2a) + √(2/(1+a))", color = "black"})
  :errorbars(ax, ay, ae, {label = string.format("SGD, %d seed(s) (± s.e.)", cfg.seeds), color = "#d62728"})
  :hline(2, {label = "λ at W = I (start)", style = "dashed", color = "gray", width = 1})

-- (2,1) the phase diagram as a heatmap (the key sits above it, off the interesting corner): rows a (largest on top), columns η; curves are drawn
-- in cell coordinates (column j at x = j, row i at y = i).
local na, ne = #cfg.pd_a, #cfg.etas
local rows, ylabels, xlabels = {}, {}, {}
for r = 1, na do
  local i = na - r + 1
  rows[r] = etal[i]
  ylabels[r] = string.format("%g", cfg.pd_a[i])
end
for j, eta in ipairs(cfg.etas) do xlabels[j] = string.format("%g", eta) end
local e1, de = cfg.etas[1], cfg.etas[2] - cfg.etas[1]
local amax, da = cfg.pd_a[na], cfg.pd_a[2] - cfg.pd_a[1]
local function cx(eta) return 1 + (eta - e1) / de end
local function cy(a) return 1 + (amax - a) / da end
local bx, by_paper, by_exact = {}, {}, {}
for k = 0, 40 do
  local eta = e1 + (cfg.etas[ne] - e1) * k / 40
  bx[#bx + 1] = cx(eta)
  by_paper[#by_paper + 1] = cy(eta ^ 2 / 2)
  by_exact[#by_exact + 1] = cy(theory_a(eta))
end
local mx, my = {}, {}
for j, eta in ipairs(cfg.etas) do
  if measured_a[j] then mx[#mx + 1], my[#my + 1] = cx(eta), cy(measured_a[j]) end
end
local hm = grid:panel(2, 1){title = string.format("η·λ_max, batch %d, %d steps per cell (2 = edge of stability λ = 2/η)",
                                                  PD_BATCH, cfg.pd_steps),
                            xlabel = "learning rate η", ylabel = "label-noise balance a", key = "top outside horizontal"}
hm:heatmap(rows, {xlabels = xlabels, ylabels = ylabels, palette = "viridis", zrange = {0.6, 2.1}})
hm:line(bx, by_paper, {label = "theory a = η²/2", color = "#e31a1c", width = 2.5})
hm:line(bx, by_exact, {label = "η·λ*(a) = 2 (η→0, ½-loss)", color = "#ff7f0e", style = "dashed", width = 2})
if #mx > 0 then
  hm:line(mx, my, {label = string.format("measured η·λ_max = %.1f", CONTOUR), color = "black",
                   style = "linespoints", width = 2.5})
end

-- (2,2) η·λ_max against a for some η, with the ceiling 2 and the η→0 prediction min(η·λ*(a), 2)
local p4 = grid:panel(2, 2){title = "phase-diagram columns: η·λ_max against a (dashed: min(η·λ*(a), 2))",
                            xlabel = "label-noise balance a", ylabel = "η·λ_max", key = "top right horizontal",
                            yrange = {0.5, 2.9}}
local pick_eta = {}
for j, eta in ipairs(cfg.etas) do
  if math.abs((eta * 10) - math.floor(eta * 10 + 0.5)) < 1e-9 then pick_eta[#pick_eta + 1] = j end
end
for k, j in ipairs(pick_eta) do
  local eta, ys = cfg.etas[j], {}
  for i in ipairs(cfg.pd_a) do ys[i] = etal[i][j] end
  p4:line(cfg.pd_a, ys, {label = string.format("η = %g", eta), color = COLORS[k], style = "linespoints"})
  local txs, tys = {}, {}
  for q = 0, 40 do
    local a = 0.005 + (amax - 0.005) * q / 40
    txs[#txs + 1], tys[#tys + 1] = a, math.min(eta * lambda_star(a), 2)
  end
  p4:line(txs, tys, {color = COLORS[k], style = "dashed", width = 1})
end
p4:hline(2, {label = "edge of stability (λ = 2/η)", color = "black", style = "solid", width = 2})
grid:save()
print(string.format("wrote %s/sharpness.png (%.1f s cpu in all)", report.dir(), os.clock() - t_start))
