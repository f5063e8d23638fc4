-- entropic_loss.lua -- the entropic force made visible, and claim 7 of PAPER.md §6.
--
-- A 2-D loss with a sharp and a flat valley. θ = (x, y), N label-noise values ε_i (centred),
-- per-sample loss
--     ℓ_i(x, y) = (x² − 1)²/4 + ½((x + 2) y − ε_i)²,
-- so L = (x² − 1)²/4 + ½(x + 2)² y² + const has two minima at y = 0: x = +1, where the
-- Hessian is diag(2, 9) (the sharp valley), and x = −1, diag(2, 1) (the flat valley).
--
-- One GD step of size η on L follows gradient flow on the modified loss L + (η/4)‖∇L‖² to
-- O(η³) per step, but flow on L itself only to O(η²) (PAPER.md §1). SGD adds the noise part
-- (η/4B) Tr Σ, here (η/4B) σ̂² (y² + (x + 2)²), which also pushes towards small x.
--
--   trajectories  from (x, y) = (0.5, 1.5) with η = 0.1: gradient flow on L (RK4, small
--                 steps) goes to the sharp valley; GD and gradient flow on L + (η/4)‖∇L‖²
--                 (its extra force (η/2) H∇L from diag.entropic_force, exact HVPs) go to the
--                 flat one; SGD runs (B = 2) and the flow on the full entropic loss F, the
--                 noise part included, go flat too.
--   claim 7       the error of one GD step against each flow, for η from 3e-5 to 0.1: slopes 2
--                 (flow on L) and 3 (flow on the modified loss) on log-log axes.
--
-- Figures: entropic_loss_trajectories.png (the plane, and x against time t = step·η) and
-- entropic_loss_order.png.
local report = require "entro.report"

local size = report.size()
local dir = report.dir()
local t_start = os.clock()

-- The model: parameters x and y (one element each); the output row i is
-- [(x² − 1)/√2, (x + 2) y − ε_i], so nn.mse against zeros is the mean over i of ℓ_i.
local TwoValleys = nn.Module:extend("TwoValleys")
function TwoValleys:init(x, y)
  self.x = nn.Parameter(tensor.tensor({x}))
  self.y = nn.Parameter(tensor.tensor({y}))
  self.e1, self.e2 = tensor.tensor({{1, 0}}), tensor.tensor({{0, 1}})
end
function TwoValleys:forward(eps)
  local x, y = self.x, self.y
  return ((x * x - 1) * (1 / math.sqrt(2))) * self.e1 + ((x + 2) * y - eps) * self.e2
end

local N, sigma, B = 16, 0.5, 2
local eps = tensor.rng(70):randn(N, 1)
eps = (eps - eps:mean()) * (sigma / (eps - eps:mean()):square():mean() ^ 0.5)   -- mean 0, variance σ²
local zeros = tensor.zeros(N, 2)
local loss_fn = nn.mse

local net = TwoValleys(0.5, 1.5)
local params = net:parameters()
local full = function() return loss_fn(net(eps), zeros) end

-- Vector fields at θ (a flat 2-vector): the gradient of L, of L + (η/4)‖∇L‖², and of F.
local function at(theta) tensor.no_grad(function() net:set_flat_parameters(theta) end) end
local function grad_L(theta)
  at(theta)
  return diag.flatten(tensor.grad(full, params))
end
local function grad_modified(lr)
  return function(theta)
    local g = grad_L(theta)
    local _, force = diag.entropic_force(net, loss_fn, eps, zeros, {lr = lr, batch = N, replacement = false})
    return g + force
  end
end
local function grad_F(lr, batch)
  return function(theta)
    local g = grad_L(theta)
    local _, force = diag.entropic_force(net, loss_fn, eps, zeros, {lr = lr, batch = batch})
    return g + force
  end
end

-- Gradient flow dθ/dt = −field(θ) for time T by classical RK4 with n steps; calls
-- visit(t, θ) after every step when given.
local function flow(field, theta, T, n, visit)
  local h = T / n
  theta = theta:clone()
  for k = 1, n do
    local k1 = field(theta)
    local k2 = field(theta - k1 * (h / 2))
    local k3 = field(theta - k2 * (h / 2))
    local k4 = field(theta - k3 * h)
    theta = theta - (k1 + k2 * 2 + k3 * 2 + k4) * (h / 6)
    if visit then visit(k * h, theta) end
  end
  return theta
end

local theta0 = tensor.tensor({0.5, 1.5})

---------------------------------------------------------------------------------------------
-- Claim 7: the order check.

local etas = {}
local n_eta = report.pick{quick = 10, full = 16, test = 6}
for k = 0, n_eta - 1 do etas[#etas + 1] = 3e-5 * (0.1 / 3e-5) ^ (k / (n_eta - 1)) end
local e_plain, e_mod = {}, {}
print("claim 7: one GD step from (0.5, 1.5) against gradient flow for time eta")
print(string.format("  %10s %16s %16s", "eta", "|GD - flow L|", "|GD - flow L_eta|"))
for i, lr in ipairs(etas) do
  local gd = theta0 - grad_L(theta0) * lr
  local fl = flow(grad_L, theta0, lr, 32)
  local fm = flow(grad_modified(lr), theta0, lr, 32)
  e_plain[i], e_mod[i] = (gd - fl):norm(), (gd - fm):norm()
  print(string.format("  %10.3g %16.6e %16.6e", lr, e_plain[i], e_mod[i]))
end
local function loglog_slope(xs, ys, upto)
  local n, sx, sy, sxx, sxy = 0, 0, 0, 0, 0
  for i = 1, #xs do
    if xs[i] <= upto then
      local a, b = math.log(xs[i]), math.log(ys[i])
      n, sx, sy, sxx, sxy = n + 1, sx + a, sy + b, sxx + a * a, sxy + a * b
    end
  end
  local slope = (n * sxy - sx * sy) / (n * sxx - sx * sx)
  return slope, (sy - slope * sx) / n
end
local fit_upto = 0.01     -- the asymptotic range; the largest η show where O(η⁴) terms enter
local s_plain, c_plain = loglog_slope(etas, e_plain, fit_upto)
local s_mod, c_mod = loglog_slope(etas, e_mod, fit_upto)
local s_plain_all = loglog_slope(etas, e_plain, 1)
local s_mod_all = loglog_slope(etas, e_mod, 1)
print(string.format("  log-log slopes for eta <= %g: %.3f (flow on L), %.3f (flow on L + (eta/4)|grad L|^2)",
                    fit_upto, s_plain, s_mod))
print(string.format("  over the whole range (to 0.1): %.3f, %.3f", s_plain_all, s_mod_all))

local fig_o = plot.figure{title = "claim 7: one GD step vs gradient flow for time eta, from (0.5, 1.5)",
                          xlabel = "eta", ylabel = "|theta_GD - theta_flow|", logx = true, logy = true,
                          xrange = {2e-5, 0.15}, key = "bottom right", out = dir .. "/entropic_loss_order.png"}
fig_o:scatter(etas, e_plain, {label = string.format("flow on L (fitted slope %.2f)", s_plain), size = 1.2})
fig_o:scatter(etas, e_mod, {label = string.format("flow on L + (eta/4)|grad L|^2 (fitted slope %.2f)", s_mod),
                            size = 1.2, marker = "square"})
local fx, f2, f3 = {}, {}, {}
for i, lr in ipairs(etas) do
  fx[i], f2[i], f3[i] = lr, math.exp(c_plain) * lr ^ 2, math.exp(c_mod) * lr ^ 3
end
fig_o:line(fx, f2, {label = "fit ~ eta^2", style = "dashed", color = "black"})
fig_o:line(fx, f3, {label = "fit ~ eta^3", style = "dotted", color = "black"})
fig_o:save()

---------------------------------------------------------------------------------------------
-- Trajectories in the two-valley landscape.

local lr = 0.1
local T = report.pick{quick = 30, full = 40, test = 10}
local gd_steps = math.floor(T / lr + 0.5)
local sub = report.pick{quick = 4, full = 8, test = 2}        -- RK4 steps per η of time
local traj = {}

local function record_flow(name, field, n)
  local xs, ys, ts = {theta0:get(1)}, {theta0:get(2)}, {0}
  local final = flow(field, theta0, T, n, function(t, th)
    xs[#xs + 1], ys[#ys + 1], ts[#ts + 1] = th:get(1), th:get(2), t
  end)
  traj[name] = {x = xs, y = ys, t = ts, final = final}
end
record_flow("flow on L", grad_L, gd_steps * sub)
record_flow("flow on L + (eta/4)|grad L|^2", grad_modified(lr), gd_steps * sub)
record_flow("flow on F (with the noise part, B=2)", grad_F(lr, B), gd_steps * report.pick{quick = 1, full = 2, test = 1})

-- GD and SGD with optim.sgd on the module; SGD samples batches with replacement (so the noise
-- part is exactly (η/4B) Tr Σ).
local function descend(batch, seed)
  at(theta0)
  local opt = optim.sgd(params, {lr = lr})
  local xs, ys, ts = {theta0:get(1)}, {theta0:get(2)}, {0}
  local loader = batch < N and data.loader(eps, zeros, {batch = batch, steps = gd_steps, replacement = true,
                                                        rng = tensor.rng(seed), progress = false})
  for step = 1, gd_steps do
    local eb, zb = eps, zeros
    if loader then eb, zb = select(2, loader()) end
    local loss = loss_fn(net(eb), zb)
    opt:zero_grad(); loss:backward(); opt:step()
    local th = net:flat_parameters()
    xs[#xs + 1], ys[#ys + 1], ts[#ts + 1] = th:get(1), th:get(2), step * lr
  end
  return {x = xs, y = ys, t = ts, final = net:flat_parameters()}
end
traj.GD = descend(N)
local sgd_runs = report.pick{quick = 8, full = 20, test = 4}
local sgd_flat = 0
local sgd = {}
for s = 1, sgd_runs do
  sgd[s] = descend(B, 200 + s)
  if sgd[s].final:get(1) < 0 then sgd_flat = sgd_flat + 1 end
end

print(string.format("\ntrajectories from (0.5, 1.5), eta = %g, time %g (%d GD steps), sigma = %g, N = %d:",
                    lr, T, gd_steps, sigma, N))
local order = {"flow on L", "flow on L + (eta/4)|grad L|^2", "GD", "flow on F (with the noise part, B=2)"}
for _, name in ipairs(order) do
  local f = traj[name].final
  print(string.format("  %-38s ends at (%7.4f, %7.4f): %s valley", name, f:get(1), f:get(2), f:get(1) > 0 and "sharp" or "flat"))
end
print(string.format("  SGD (B = %d, %d runs): %d end in the flat valley", B, sgd_runs, sgd_flat))

local grid = plot.grid{rows = 1, cols = 2, size = {1300, 560}, out = dir .. "/entropic_loss_trajectories.png",
                       title = "sharp valley (x=1, Hessian diag(2,9)) vs flat valley (x=-1, diag(2,1)); eta = 0.1"}
local plane = grid:panel(1, 1, {title = "trajectories in the (x, y) plane", xlabel = "x", ylabel = "y",
                                xrange = {-1.6, 1.6}, yrange = {-1.6, 1.8}, key = "bottom right"})
local xt = grid:panel(1, 2, {title = "x against time (t = step * eta)", xlabel = "t", ylabel = "x",
                             yrange = {-1.6, 1.6}, key = "right center"})
local style = {
  ["flow on L"] = {color = "black", width = 2.5},
  ["flow on L + (eta/4)|grad L|^2"] = {color = "#1f77b4", width = 2.5, style = "dashed"},
  ["GD"] = {color = "#d62728", width = 1.5},
  ["flow on F (with the noise part, B=2)"] = {color = "#2ca02c", width = 2.5, style = "dashed"},
}
for s = 1, math.min(sgd_runs, 6) do
  local label = s == 1 and string.format("SGD B=%d (%d of %d runs end flat)", B, sgd_flat, sgd_runs) or nil
  plane:line(sgd[s].x, sgd[s].y, {label = label, color = "#bbbbbb", width = 0.8})
  xt:line(sgd[s].t, sgd[s].x, {label = label, color = "#bbbbbb", width = 0.8})
end
for _, name in ipairs(order) do
  local tr, st = traj[name], style[name]
  plane:line(tr.x, tr.y, {label = name, color = st.color, width = st.width, style = st.style})
  xt:line(tr.t, tr.x, {label = name, color = st.color, width = st.width, style = st.style})
end
plane:scatter({1, -1}, {0, 0}, {label = "minima", marker = "diamond", size = 2, color = "black"})
plane:scatter({theta0:get(1)}, {theta0:get(2)}, {label = "start", marker = "circle", size = 2, color = "black"})
grid:save()

---------------------------------------------------------------------------------------------
-- Where the valleys' basins meet: start at (x0, 1.5) for a range of x0 and record which
-- valley each dynamics ends in (SGD: the fraction of runs ending flat).

local x0s = {}
local dx = report.pick{quick = 0.04, full = 0.02, test = 0.1}
for x0 = 0.40, 0.76 + 1e-9, dx do x0s[#x0s + 1] = x0 end
local basin_runs = report.pick{quick = 16, full = 40, test = 4}
local basin_T = 30
local bsteps = math.floor(basin_T / lr + 0.5)
local curves = {flowL = {}, mod = {}, F = {}, GD = {}, SGD = {}, SGDe = {}}
local function ends_flat(field, x0, n)
  return flow(field, tensor.tensor({x0, 1.5}), basin_T, n):get(1) < 0 and 1 or 0
end
local function descend_from(x0, batch, seed)
  at(tensor.tensor({x0, 1.5}))
  local opt = optim.sgd(params, {lr = lr})
  local loader = batch < N and data.loader(eps, zeros, {batch = batch, steps = bsteps, replacement = true,
                                                        rng = tensor.rng(seed), progress = false})
  for _ = 1, bsteps do
    local eb, zb = eps, zeros
    if loader then eb, zb = select(2, loader()) end
    local loss = loss_fn(net(eb), zb)
    opt:zero_grad(); loss:backward(); opt:step()
  end
  return net:flat_parameters():get(1) < 0 and 1 or 0
end
print(string.format("\nbasins: start (x0, 1.5), eta %g, time %g; 1 = ends in the flat valley (SGD: fraction of %d runs)",
                    lr, basin_T, basin_runs))
print(string.format("  %6s %8s %8s %8s %8s %8s", "x0", "flow L", "flow Lmod", "flow F", "GD", "SGD"))
for i, x0 in ipairs(x0s) do
  curves.flowL[i] = ends_flat(grad_L, x0, bsteps * 2)
  curves.mod[i] = ends_flat(grad_modified(lr), x0, bsteps * 2)
  curves.F[i] = ends_flat(grad_F(lr, B), x0, bsteps)
  curves.GD[i] = descend_from(x0, N, 0)
  local k = 0
  for s = 1, basin_runs do k = k + descend_from(x0, B, 500 + s) end
  local p = k / basin_runs
  curves.SGD[i], curves.SGDe[i] = p, math.sqrt(math.max(p * (1 - p), 1 / basin_runs) / basin_runs)
  print(string.format("  %6.2f %8d %8d %8d %8d %8.3f", x0, curves.flowL[i], curves.mod[i], curves.F[i],
                      curves.GD[i], p))
end
-- the first x0 at which each dynamics no longer ends flat (the basin boundary, to within dx)
local function boundary(c)
  for i = 1, #x0s do if c[i] < 0.5 then return x0s[i] end end
  return 0 / 0
end
local bounds = {flowL = boundary(curves.flowL), mod = boundary(curves.mod), F = boundary(curves.F),
                GD = boundary(curves.GD), SGD = boundary(curves.SGD)}
print(string.format("  basin boundary (first x0 ending sharp): flow L %.2f, flow on L+(eta/4)|grad L|^2 %.2f, " ..
                    "flow on F %.2f, GD %.2f, SGD (half of runs) %.2f", bounds.flowL, bounds.mod, bounds.F,
                    bounds.GD, bounds.SGD))
local fig_b = plot.figure{title = "which valley? start (x0, 1.5), eta = 0.1: the entropic terms move the basin boundary",
                          xlabel = "x0", ylabel = "fraction ending in the flat valley", yrange = {-0.05, 1.05},
                          xrange = {0.38, 1.0}, key = "right center", out = dir .. "/entropic_loss_basins.png"}
fig_b:line(x0s, curves.flowL, {label = "flow on L", color = "black", width = 2.5, style = "steps"})
fig_b:line(x0s, curves.mod, {label = "flow on L + (eta/4)|grad L|^2", color = "#1f77b4", width = 2.5, style = "steps"})
fig_b:line(x0s, curves.F, {label = "flow on F (noise part too, B=2)", color = "#2ca02c", width = 2.5, style = "steps"})
fig_b:line(x0s, curves.GD, {label = "GD", color = "#d62728", width = 2.5, style = "steps"})
fig_b:errorbars(x0s, curves.SGD, curves.SGDe, {label = string.format("SGD B=2 (%d runs each)", basin_runs),
                                              color = "#7f7f7f", lines = true})
fig_b:save()

local flow_sharp = traj["flow on L"].final:get(1) > 0
local mod_flat = traj["flow on L + (eta/4)|grad L|^2"].final:get(1) < 0
local gd_flat = traj.GD.final:get(1) < 0
report.claim{id = "7", title = "one GD step = gradient flow on L + (eta/4)|grad L|^2 up to O(eta^3)",
             expected = "error of one GD step against flow on L ~ eta^2, against flow on L + (eta/4)|grad L|^2 ~ eta^3 (log-log slopes 2 and 3)",
             measured = string.format("slopes %.3f and %.3f (eta in [3e-5, %g]; %.2f and %.2f up to 0.1). Trajectories " ..
                                      "from (0.5, 1.5), eta 0.1: flow on L -> %s valley, flow on the modified loss -> %s, " ..
                                      "GD -> %s, SGD B=%d: %d/%d flat. Basin boundary x0 (first ending sharp): flow on L %.2f, " ..
                                      "modified %.2f, flow on F %.2f, GD %.2f, SGD %.2f",
                                      s_plain, s_mod, fit_upto, s_plain_all, s_mod_all,
                                      flow_sharp and "sharp" or "flat", mod_flat and "flat" or "sharp",
                                      gd_flat and "flat" or "sharp", B, sgd_flat, sgd_runs,
                                      bounds.flowL, bounds.mod, bounds.F, bounds.GD, bounds.SGD),
             pass = math.abs(s_plain - 2) < 0.1 and math.abs(s_mod - 3) < 0.15,
             figures = {dir .. "/entropic_loss_order.png", dir .. "/entropic_loss_trajectories.png",
                        dir .. "/entropic_loss_basins.png"},
             numbers = {slope_flow = s_plain, slope_modified = s_mod, etas = etas, err_flow = e_plain,
                        err_modified = e_mod, sgd_flat = sgd_flat, sgd_runs = sgd_runs, basin_boundaries = bounds}}
print(string.format("\nentropic_loss.lua (%s) done in %.1f s", size, os.clock() - t_start))
