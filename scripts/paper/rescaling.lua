-- rescaling.lua -- claims 1 and 2 of PAPER.md §6: the rescaling symmetry of f = u·w·x.
--
-- The model is the smallest one with a rescaling symmetry: two scalar weights, f(x) = u w x,
-- loss ℓ = ½(u w x − y)², so (u, w) → (λu, w/λ) leaves every loss unchanged. Gradient flow
-- conserves D = u² − w²; one SGD step with weight decay γ multiplies it exactly by
-- (1 − 2ηγ)² − η² g_t², g_t = E_{x∈B}[(u w x − y) x] (PAPER.md §2).
--
--   claim 1  the identity D_{t+1} = D_t[(1 − 2ηγ)² − η² g_t²] at every step, for GD and SGD,
--            with and without weight decay: error relative to u² + w² at rounding level.
--   claim 2  N = 1000, x ~ N(0,1), y = x + N(0,1), start (u, w) = (2, 0.25), D₀ ≈ 3.94.
--            Full-batch GD (η = 0.1) drives g to 0, so D freezes (≈ 3.92); SGD (η = 0.1,
--            B = 8) keeps g noisy at the minimum and D decays below 0.05 D₀ in ~2,500 steps.
--            The e-folding time scales like B/η² (rate ≈ η² σ² E[x²] / B per step).
--
-- Figures (out/paper/):
--   rescaling_D.png         D/D₀ against step: GD flat, SGD decaying faster for small B, big η
--   rescaling_tau.png       the e-folding time against B/η², the two sweeps and the fits
--   rescaling_identity.png  claim 1's per-step error (max over windows), relative to u² + w²
--
-- Sizes: quick (make demo) uses fewer seeds and a shorter sweep; full adds seeds and points.
local report = require "entro.report"

local size = report.size()
local dir = report.dir()
local t_start = os.clock()

-- The data: N points, x ~ N(0,1), y = x + N(0,1) (the label noise the minimum cannot fit).
local N = 1000
local data_rng = tensor.rng(2025)
local X = data_rng:randn(N, 1)
local Y = X + data_rng:randn(N, 1)

-- The residual at the least-squares product β̂ = E[xy]/E[x²]: SGD's noise at the attractor.
local Exx = (X:square()):mean()
local beta = (X * Y):mean() / Exx
local resid = Y - X * beta
local sigma2 = resid:square():mean()
local r2x2 = (resid:square() * X:square()):mean()   -- E[r² x²] = Var(r x) at β̂
print(string.format("data: N = %d, E[x^2] = %.4f, beta_hat = %.4f, sigma^2 = %.4f, E[r^2 x^2] = %.4f",
                    N, Exx, beta, sigma2, r2x2))

-- One run of (S)GD on ℓ = ½(u w x − y)². opts: lr, batch (N = full-batch GD), weight_decay,
-- steps, seed, stop_ratio (stop once D ≤ stop_ratio·D₀; the step is returned as hit).
-- Returns D at every step (D[1] = D₀), the largest claim-1 error, and hit.
local function run(opts)
  local lr, B, gamma = opts.lr, opts.batch, opts.weight_decay or 0
  local u = tensor.tensor({2.0}):requires_grad()
  local w = tensor.tensor({0.25}):requires_grad()
  local opt = optim.sgd({u, w}, {lr = lr, weight_decay = gamma})
  local function charge()
    local a, b = u:item(), w:item()
    return a * a - b * b, a * a + b * b
  end
  local D0 = charge()
  local Ds, errs = {D0}, {}
  local maxerr, hit = 0, nil
  local decay2 = (1 - 2 * lr * gamma) ^ 2
  local loader = B == N and nil or data.loader(X, Y, {batch = B, steps = opts.steps,
                                                       rng = tensor.rng(opts.seed or 1),
                                                       progress = false})
  for step = 1, opts.steps do
    local xb, yb = X, Y
    if loader then xb, yb = select(2, loader()) end
    local loss = nn.mse(u * w * xb, yb) * 0.5
    opt:zero_grad(); loss:backward()
    -- g_t = E_B[(u w x − y) x], the gradient with respect to the product u w
    local gt = tensor.no_grad(function() return ((u * w * xb - yb) * xb):mean() end)
    local Dt = charge()
    opt:step()
    local Dn, S = charge()
    local err = math.abs(Dn - Dt * (decay2 - lr * lr * gt * gt)) / S
    errs[step] = err
    if err > maxerr then maxerr = err end
    Ds[step + 1] = Dn
    if opts.stop_ratio and not hit and Dn <= opts.stop_ratio * D0 then
      hit = step
      break
    end
  end
  return {D = Ds, D0 = D0, maxerr = maxerr, errs = errs, hit = hit}
end

---------------------------------------------------------------------------------------------
-- Claim 1: the exact per-step identity, for GD and SGD, with and without decay.

local id_steps = report.pick{quick = 3000, full = 6000, test = 500}
local id_runs = {
  {name = "SGD B=8, gamma=0", lr = 0.1, batch = 8, weight_decay = 0},
  {name = "SGD B=8, gamma=1e-3", lr = 0.1, batch = 8, weight_decay = 1e-3},
  {name = "GD, gamma=1e-3", lr = 0.1, batch = N, weight_decay = 1e-3},
}
local fig_id = plot.figure{title = "claim 1: D(t+1) = D(t)[(1-2 eta gamma)^2 - eta^2 g^2], every step",
                           xlabel = "step", ylabel = "|error| / (u^2 + w^2), max over 100 steps",
                           logy = true, yrange = {1e-17, 1e-13},
                           out = dir .. "/rescaling_identity.png"}
local worst1 = 0
print("\nclaim 1: the per-step identity for D = u^2 - w^2")
for _, r in ipairs(id_runs) do
  local res = run{lr = r.lr, batch = r.batch, weight_decay = r.weight_decay, steps = id_steps, seed = 11}
  worst1 = math.max(worst1, res.maxerr)
  local xs, ys = {}, {}
  for s = 1, id_steps, 100 do
    local m = 0
    for k = s, math.min(s + 99, id_steps) do m = math.max(m, res.errs[k]) end
    xs[#xs + 1], ys[#ys + 1] = s + 50, math.max(m, 1e-17)
  end
  fig_id:line(xs, ys, {label = r.name})
  print(string.format("  %-22s max error %.2e   D: %.4f -> %.3e", r.name, res.maxerr, res.D0,
                      res.D[#res.D]))
end
fig_id:hline(2.2e-16, {label = "machine epsilon"})
fig_id:save()
report.claim{id = "1", title = "rescaling: exact per-step law for D = u^2 - w^2",
             expected = "D_{t+1} = D_t[(1-2 eta gamma)^2 - eta^2 g_t^2] every step, error ~1e-15 relative to u^2 + w^2",
             measured = string.format("max error %.2e relative to u^2 + w^2 over %d steps x %d runs (SGD and GD, gamma = 0 and 1e-3)",
                                      worst1, id_steps, #id_runs),
             pass = worst1 < 1e-13, figures = {dir .. "/rescaling_identity.png"},
             numbers = {max_error = worst1, steps = id_steps}}

---------------------------------------------------------------------------------------------
-- Claim 2a: GD freezes D, SGD decays it.

local show_steps = report.pick{quick = 3000, full = 5000, test = 500}
local fig_D = plot.figure{title = "claim 2: D = u^2 - w^2 under GD and SGD (f = u w x, label noise)",
                          xlabel = "step", ylabel = "D / D0", logy = true, yrange = {1e-4, 2}, key = "outside right", size = {1000, 560},
                          out = dir .. "/rescaling_D.png"}
local function curve(res, every)
  local xs, ys = {}, {}
  for k = 1, #res.D, every do xs[#xs + 1], ys[#ys + 1] = k - 1, res.D[k] / res.D0 end
  return xs, ys
end
local gd = run{lr = 0.1, batch = N, steps = show_steps}
local gd_mid, gd_end = gd.D[show_steps // 2 + 1], gd.D[#gd.D]
fig_D:line(select(1, curve(gd, 10)), select(2, curve(gd, 10)), {label = "GD eta=0.1", width = 2.5})
local sgd_main
local shown = {{lr = 0.1, batch = 2}, {lr = 0.1, batch = 8}, {lr = 0.1, batch = 32},
               {lr = 0.05, batch = 8}, {lr = 0.2, batch = 8}}
for _, c in ipairs(shown) do
  local res = run{lr = c.lr, batch = c.batch, steps = show_steps, seed = 1}
  if c.lr == 0.1 and c.batch == 8 then sgd_main = res end
  local xs, ys = curve(res, 10)
  fig_D:line(xs, ys, {label = string.format("SGD eta=%g B=%d", c.lr, c.batch)})
end
fig_D:hline(0.05, {label = "0.05 D0"})
fig_D:save()

-- first step with D < 0.05 D₀ for SGD η = 0.1, B = 8, over a few seeds
local cross_seeds = report.pick{quick = 3, full = 8, test = 2}
local crosses = {}
for s = 1, cross_seeds do
  local res = run{lr = 0.1, batch = 8, steps = 20000, seed = 100 + s, stop_ratio = 0.05}
  crosses[s] = res.hit or math.huge
end
table.sort(crosses)
local cross_med = crosses[(#crosses + 1) // 2]
local cross_max = crosses[#crosses]
print(string.format("\nclaim 2: GD eta=0.1: D0 = %.4f, D(%d) = %.6f, D(%d) = %.6f (change over the 2nd half %.1e)",
                    gd.D0, show_steps // 2, gd_mid, show_steps, gd_end, math.abs(gd_end - gd_mid) / gd.D0))
print(string.format("  SGD eta=0.1 B=8: D(%d)/D0 = %.3e; first step with D < 0.05 D0 over %d seeds: %s",
                    show_steps, sgd_main.D[#sgd_main.D] / sgd_main.D0, cross_seeds,
                    table.concat(crosses, ", ")))

---------------------------------------------------------------------------------------------
-- Claim 2b: the e-folding time against B and η. τ = the first step with D ≤ D₀/e, averaged
-- over seeds; each sweep is fitted on log-log axes.

local seeds = report.pick{quick = 4, full = 12, test = 3}
local Bs = report.pick{quick = {2, 4, 8, 16, 32}, full = {2, 4, 8, 16, 32, 64}, test = {4, 8, 16}}
local lrs = report.pick{quick = {0.025, 0.035, 0.05, 0.07, 0.1, 0.14, 0.2},
                       full = {0.025, 0.035, 0.05, 0.07, 0.1, 0.14, 0.2}, test = {0.05, 0.07, 0.1}}

local function efold(lr, B)
  local sum, all = 0, {}
  for s = 1, seeds do
    local res = run{lr = lr, batch = B, steps = 200000, seed = 1000 * s + B, stop_ratio = math.exp(-1)}
    all[s] = res.hit
    sum = sum + res.hit
  end
  local mean = sum / seeds
  local var = 0
  for s = 1, seeds do var = var + (all[s] - mean) ^ 2 end
  return mean, math.sqrt(var / math.max(1, seeds - 1) / seeds)
end

-- least-squares slope and intercept of log y on log x
local function loglog_fit(xs, ys)
  local n, sx, sy, sxx, sxy = #xs, 0, 0, 0, 0
  for i = 1, n do
    local a, b = math.log(xs[i]), math.log(ys[i])
    sx, sy, sxx, sxy = sx + a, sy + b, sxx + a * a, sxy + a * b
  end
  local slope = (n * sxy - sx * sy) / (n * sxx - sx * sx)
  return slope, (sy - slope * sx) / n
end

print(string.format("\n  e-folding time tau (first step with D <= D0/e), mean over %d seeds:", seeds))
print(string.format("  %6s %4s %10s %10s %14s %12s", "eta", "B", "tau", "+-", "B/eta^2", "simple"))
local simple_c = 1 / (sigma2 * Exx)       -- τ ≈ B / (η² σ² E[x²])
local sweepB, sweepL = {x = {}, tau = {}, err = {}, ratio = {}}, {x = {}, tau = {}, err = {}, ratio = {}}
local function measure(lr, B, into, xval)
  local tau, se = efold(lr, B)
  local i = #into.x + 1
  into.x[i], into.tau[i], into.err[i], into.ratio[i] = xval, tau, se, B / lr ^ 2
  print(string.format("  %6.3f %4d %10.1f %10.1f %14.1f %12.1f", lr, B, tau, se, B / lr ^ 2,
                      simple_c * B / lr ^ 2))
end
for _, B in ipairs(Bs) do measure(0.1, B, sweepB, B) end
for _, lr in ipairs(lrs) do measure(lr, 8, sweepL, lr) end
local pB = loglog_fit(sweepB.x, sweepB.tau)
local pL = loglog_fit(sweepL.x, sweepL.tau)
print(string.format("  fitted exponents: tau ~ B^%.3f (eta = 0.1), tau ~ eta^%.3f (B = 8)", pB, pL))

local fig_tau = plot.figure{title = "claim 2: e-folding time of D under SGD scales like B/eta^2",
                            xlabel = "B / eta^2", ylabel = "steps for D to fall by e",
                            logx = true, logy = true, key = "top left",
                            xrange = {100, 2e4},
                            out = dir .. "/rescaling_tau.png"}
fig_tau:errorbars(sweepB.ratio, sweepB.tau, sweepB.err,
                  {label = string.format("B sweep at eta=0.1 (fit: B^%.2f)", pB)})
fig_tau:errorbars(sweepL.ratio, sweepL.tau, sweepL.err,
                  {label = string.format("eta sweep at B=8 (fit: eta^%.2f)", pL)})
local lo, hi = math.huge, 0
for _, s in ipairs{sweepB, sweepL} do
  for _, r in ipairs(s.ratio) do lo, hi = math.min(lo, r), math.max(hi, r) end
end
local xs, ys = {}, {}
for k = 0, 20 do
  local r = lo * (hi / lo) ^ (k / 20)
  xs[#xs + 1], ys[#ys + 1] = r, simple_c * r
end
fig_tau:line(xs, ys, {label = "B / (eta^2 sigma^2 E[x^2])", style = "dashed"})
fig_tau:save()

local crossed_ok = cross_med <= 3000
local gd_frozen = gd_end / gd.D0 > 0.99 and math.abs(gd_end - gd_mid) / gd.D0 < 1e-6
local exps_ok = math.abs(pB - 1) < 0.15 and pL > -2.4 and pL < -1.9
report.claim{id = "2", title = "rescaling: GD freezes D = u^2 - w^2, SGD decays it at rate ~ eta^2/B",
             expected = "GD eta=0.1: D freezes (~3.92); SGD eta=0.1 B=8: D < 0.05 D0 within ~2500 steps (median over seeds <= 3000); " ..
                        "e-folding time ~ B/eta^2: fitted exponents ~1.0 in B (within 0.15), ~-2.1 in eta (in (-2.4, -1.9): " ..
                        "the O(eta S) correction steepens it beyond -2)",
             measured = string.format("GD: D %.4f -> %.4f (%d steps, drift over 2nd half %.1e); SGD B=8: " ..
                                      "D < 0.05 D0 at step %d (median of %d seeds, max %d); fitted " ..
                                      "tau ~ B^%.2f, eta^%.2f",
                                      gd.D0, gd_end, show_steps, math.abs(gd_end - gd_mid) / gd.D0,
                                      cross_med, cross_seeds, cross_max, pB, pL),
             pass = crossed_ok and gd_frozen and exps_ok,
             figures = {dir .. "/rescaling_D.png", dir .. "/rescaling_tau.png"},
             numbers = {gd_D0 = gd.D0, gd_D_end = gd_end, sgd_cross_median = cross_med,
                        exponent_B = pB, exponent_eta = pL}}
print(string.format("\nrescaling.lua (%s) done in %.1f s", size, os.clock() - t_start))
