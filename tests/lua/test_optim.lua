-- test_optim.lua -- optim: update rules against hand-computed steps and PyTorch trajectories,
-- Langevin sampling the Gibbs distribution, gradient noise, parameter groups, elementwise
-- learning rates, state dictionaries, schedules, zero allocation per step, and bad input.
local optim = require "entro.optim"

-- A parameter with a fixed gradient set by hand (no autograd needed).
local function param(values, grad)
  local p = tensor.tensor(values):requires_grad()
  if grad then p.grad = tensor.tensor(grad) end
  return p
end

local function flat(t) return t:contiguous():view(-1):totable() end

---------------------------------------------------------------------------------------------
-- single steps by hand

test("sgd: one plain step is theta - lr*grad", function()
  local p = param({1, 2, 3}, {0.5, -1, 2})
  optim.sgd({p}, {lr = 0.1}):step()
  near(p, {1 - 0.05, 2 + 0.1, 3 - 0.2}, 1e-15)
end)

test("sgd: momentum buffer starts as the gradient, then heavy ball with dampening", function()
  local p = param({1}, {2})
  local opt = optim.sgd(p, {lr = 0.1, momentum = 0.9, dampening = 0.5})
  opt:step()                                   -- buf = 2
  near(p, {1 - 0.2}, 1e-15)
  opt:step()                                   -- buf = 0.9*2 + 0.5*2 = 2.8
  near(p, {0.8 - 0.28}, 1e-15)
  near(opt.state[p].momentum_buffer, {2.8}, 1e-15)
end)

test("sgd: nesterov uses grad + momentum*buf", function()
  local p = param({0}, {1})
  local opt = optim.sgd({p}, {lr = 1, momentum = 0.5, nesterov = true})
  opt:step()                                   -- buf = 1, d = 1 + 0.5
  near(p, {-1.5}, 1e-15)
  opt:step()                                   -- buf = 1.5, d = 1 + 0.75
  near(p, {-3.25}, 1e-15)
end)

test("weight decay: the paper's gamma|theta|^2 by default, PyTorch's on request", function()
  local p = param({2}, {0})
  optim.sgd({p}, {lr = 0.1, weight_decay = 0.25}):step()        -- gradient 2*0.25*2 = 1
  near(p, {2 - 0.1}, 1e-15)
  local q = param({2}, {0})
  optim.sgd({q}, {lr = 0.1, weight_decay = 0.25, decay_convention = "torch"}):step()
  near(q, {2 - 0.05}, 1e-15)
  local r = param({2}, {0})                                     -- AdamW: decoupled, PyTorch's
  optim.adamw({r}, {lr = 0.1, weight_decay = 0.25}):step()      -- zero grad: no Adam move
  near(r, {2 * (1 - 0.025)}, 1e-15)
  ok(optim._help.sgd:find("2*gamma*theta", 1, true), "help states the convention")
  ok(optim._help.adamw:find("decoupled", 1, true), "help states AdamW's decay")
end)

test("adam: the first step moves every coordinate by about lr", function()
  local p = param({1, 1, 1}, {1e-3, -5, 100})
  optim.adam({p}, {lr = 0.01}):step()
  near(p, {0.99, 1.01, 0.99}, 1e-7)
end)

test("parameters without a gradient are skipped and get no state", function()
  local a, b = param({1}, {1}), param({1})
  local opt = optim.adam({a, b}, {lr = 0.1})
  opt:step()
  eq(b:item(), 1)
  eq(next(opt.state[b]), nil)
  eq(opt.state[a].step, 1)
end)

test("zero_grad fills in place; set_to_none drops", function()
  local p = param({1, 2}, {3, 4})
  local g = p.grad
  local opt = optim.sgd({p}, {lr = 1})
  opt:zero_grad()
  eq(flat(g), {0, 0})
  ok(p.grad:same_storage(g), "same storage")
  opt:zero_grad{set_to_none = true}
  eq(p.grad, nil)
end)

test("step(closure) calls it first and returns its value", function()
  local p = param({1}, {0})
  local opt = optim.sgd({p}, {lr = 0.5})
  local v = opt:step(function() p.grad = tensor.tensor{2}; return 42 end)
  eq(v, 42)
  near(p, {0}, 0)
end)

---------------------------------------------------------------------------------------------
-- groups and matrix learning rates

test("parameter groups: per-group options over the optimizer's", function()
  local a, b = param({1}, {1}), param({1}, {1})
  local opt = optim.sgd({{params = {a}, lr = 0.5}, {params = {b}, momentum = 0.9}}, {lr = 0.1})
  eq(opt.param_groups[1].momentum, 0)
  eq(opt.param_groups[2].lr, 0.1)
  opt:step(); opt:step()
  near(a, {1 - 2 * 0.5}, 1e-15)
  near(b, {1 - 0.1 - 0.1 * 1.9}, 1e-15)
  opt:add_param_group{params = {param({0}, {1})}, lr = 2}
  eq(#opt.param_groups, 3)
  opt:step()
  near(opt.param_groups[3].params[1], {-2}, 1e-15)
end)

test("lr as a tensor: an elementwise (diagonal matrix) learning rate", function()
  local p = param({{1, 1, 1}, {1, 1, 1}}, {{1, 2, 3}, {4, 5, 6}})
  local lr = tensor.tensor{{0, 0.1, 0.2}, {0.3, 0.4, 0.5}}
  optim.sgd({p}, {lr = lr}):step()
  near(p, {1, 0.8, 0.4, -0.2, -1, -2}, 1e-15)
  -- a group of two parameters: one flat vector over both, in order
  local a, b = param({1, 1}, {1, 1}), param({1}, {1})
  optim.adam({a, b}, {lr = tensor.tensor{0.1, 0, 0.2}}):step()
  near(a, {0.9, 1}, 1e-7)
  near(b, {0.8}, 1e-7)
  raises(function() optim.sgd({a, b}, {lr = tensor.tensor{1, 2}}) end, "one element per parameter element (3)")
  local bad = tensor.tensor{0.1, -1, 0.1}
  raises(function() optim.sgd({a, b}, {lr = bad}):step() end, "got -1 at element 2")
  eq(flat(a), flat(a))   -- nothing written by the failed step
  near(a, {0.9, 1}, 1e-7)
end)

---------------------------------------------------------------------------------------------
-- gradient noise

test("noise = {std}: N(0, std^2) added to the gradient, drawn over all parameters in order", function()
  local a, b = param({1, 2}, {0.5, 0.5}), param({3}, {1})
  optim.sgd({{params = {a}}, {params = {b}, lr = 0.2}}, {lr = 0.1, noise = {std = 0.3, rng = tensor.rng(5)}}):step()
  local z = tensor.rng(5):normal(0, 0.3, 3):totable()
  near(a, {1 - 0.1 * (0.5 + z[1]), 2 - 0.1 * (0.5 + z[2])}, 1e-15)
  near(b, {3 - 0.2 * (1 + z[3])}, 1e-15)
end)

test("noise = {cov}: xi = L z with L the Cholesky factor; its covariance is C", function()
  local A = tensor.tensor{{1, 0, 0}, {0.5, 1, 0}, {-0.3, 0.2, 0.5}}
  local C = A:matmul(A:t())
  local a, b = param({0, 0}, {0, 0}), param({0}, {0})
  local opt = optim.sgd({a, b}, {lr = 1, noise = {cov = C, rng = tensor.rng(9)}})
  opt:step()
  local xi = tensor.linalg.cholesky(C):matmul(tensor.rng(9):randn(3, 1)):view(-1):totable()
  near(tensor.tensor{a:get(1), a:get(2), b:get(1)}, {-xi[1], -xi[2], -xi[3]}, 1e-14)
  -- the covariance of many draws
  local n = 20000
  local S = tensor.zeros(3, 3)
  local prev = tensor.tensor{a:get(1), a:get(2), b:get(1)}
  for _ = 1, n do
    opt:step()
    local cur = tensor.tensor{a:get(1), a:get(2), b:get(1)}
    local d = (cur - prev):view(3, 1)
    S:add_(d:matmul(d:t()))
    prev = cur
  end
  S = S / n
  local err = tensor.tensor((S - C):abs():max()):item()
  ok(err < 0.05, "empirical covariance within 0.05 of C, max error " .. err)
end)

test("noise = {cov} singular (positive semidefinite): a square root, noise stays in range(C)", function()
  local v = tensor.tensor{{1}, {2}, {-1}}
  local p = param({0, 0, 0}, {0, 0, 0})
  local opt = optim.sgd({p}, {lr = 1, noise = {cov = v:matmul(v:t()), rng = tensor.rng(2)}})
  opt:step()
  local x = flat(p)
  near({x[2], x[3]}, {2 * x[1], -x[1]}, 1e-14)
  ok(math.abs(x[1]) > 0, "moved")
end)

test("noise = {factor}: F z with z ~ N(0, I_k)", function()
  local F = tensor.tensor{{1}, {-2}}
  local p = param({0, 0}, {0, 0})
  optim.sgd({p}, {lr = 1, noise = {factor = F, rng = tensor.rng(4)}}):step()
  local z = tensor.rng(4):randn(1):item()
  near(p, {-z, 2 * z}, 1e-15)
end)

---------------------------------------------------------------------------------------------
-- Langevin

-- Runs Langevin on L = sum k_i theta_i^2 / 2 and returns the time-averaged theta^2.
local function langevin_variance(k, lr, T, burn, steps, seed)
  local D = k:numel()
  local p = tensor.zeros(D):requires_grad()
  local x, g = p:detach(), tensor.zeros(D)   -- x: a plain view of p, for in-place arithmetic
  p.grad = g
  local opt = optim.langevin({p}, {lr = lr, temperature = T, rng = tensor.rng(seed)})
  local acc, sq = tensor.zeros(D), tensor.zeros(D)
  for s = 1, burn + steps do
    g:copy_(x):mul_(k)
    opt:step()
    if s > burn then x:mul(x, sq); acc:add_(sq) end
  end
  return (acc / steps):totable()
end

test("langevin samples the Gibbs distribution: variance T/k (exact discrete T/(k(1 - lr k/2)))", function()
  -- 4 stiffnesses x 100 replicas; lr*k from 0.01 to 0.1. The chain's exact stationary
  -- variance is T/(k(1 - lr k/2)); the continuous Gibbs value T/k is within 5% when lr k <= 0.05.
  local ks, reps, lr, T = {1, 2.5, 5, 10}, 100, 0.01, 0.5
  local kv = {}
  for i, k in ipairs(ks) do for r = 1, reps do kv[(i - 1) * reps + r] = k end end
  local var = langevin_variance(tensor.tensor(kv), lr, T, 1000, 20000, 11)
  for i, k in ipairs(ks) do
    local m = 0
    for r = 1, reps do m = m + var[(i - 1) * reps + r] end
    m = m / reps
    local exact, gibbs = T / (k * (1 - lr * k / 2)), T / k
    ok(math.abs(m / exact - 1) < 0.03, string.format("k = %g: variance %.5f, discrete %.5f", k, m, exact))
    if lr * k <= 0.05 then
      ok(math.abs(m / gibbs - 1) < 0.05, string.format("k = %g: variance %.5f, T/k %.5f", k, m, gibbs))
    end
  end
end)

test("preconditioned langevin (tensor lr) keeps the Gibbs variance", function()
  local D, k, T = 200, 4, 0.3
  local p = tensor.zeros(D):requires_grad()
  local x, g = p:detach(), tensor.zeros(D)
  p.grad = g
  local lrv = {}
  for i = 1, D do lrv[i] = i <= D / 2 and 0.005 or 0.02 end
  local opt = optim.langevin({p}, {lr = tensor.tensor(lrv), temperature = T, rng = tensor.rng(8)})
  local acc, sq = tensor.zeros(D), tensor.zeros(D)
  local burn, steps = 1000, 15000
  for s = 1, burn + steps do
    g:copy_(x):mul_(k)
    opt:step()
    if s > burn then x:mul(x, sq); acc:add_(sq) end
  end
  local v = (acc / steps):totable()
  for half = 0, 1 do
    local m = 0
    for i = 1, D / 2 do m = m + v[half * D / 2 + i] end
    m = m / (D / 2)
    local lr = half == 0 and 0.005 or 0.02
    local exact = T / (k * (1 - lr * k / 2))
    ok(math.abs(m / exact - 1) < 0.04, string.format("lr %g: variance %.5f, discrete %.5f", lr, m, exact))
  end
end)

test("langevin at T = 0 is gradient descent; same seed, same path", function()
  local p = param({1, -1}, {2, 3})
  optim.langevin({p}, {lr = 0.1, temperature = 0}):step()
  near(p, {0.8, -1.3}, 1e-15)
  local function run()
    local q = param({1, -1}, {2, 3})
    local opt = optim.langevin({q}, {lr = 0.1, temperature = 1, rng = tensor.rng(3)})
    for _ = 1, 5 do opt:step() end
    return flat(q)
  end
  eq(run(), run())
end)

---------------------------------------------------------------------------------------------
-- zero allocation per step

test("no storage is allocated after the first step", function()
  local a, b = param({{1, 2}, {3, 4}}, {{1, 1}, {1, 1}}), param({1, 2, 3}, {1, 1, 1})
  local C = tensor.eye(7) * 0.1
  local configs = {
    function() return optim.sgd({a, b}, {lr = 0.01, momentum = 0.9, nesterov = true, weight_decay = 0.1,
                                          noise = {std = 0.1, rng = tensor.rng(1)}}) end,
    function() return optim.adam({{params = {a}, lr = tensor.full({2, 2}, 0.01)}, {params = {b}}},
                                 {amsgrad = true, noise = {cov = C, rng = tensor.rng(1)}}) end,
    function() return optim.adamw({a, b}, {lr = 0.01}) end,
    function() return optim.langevin({a, b}, {lr = 0.01, temperature = 0.1, rng = tensor.rng(1)}) end,
  }
  for i, make in ipairs(configs) do
    local opt = make()
    opt:step()
    collectgarbage()
    local _, m0 = entro.mem()
    for _ = 1, 200 do opt:step(); opt:zero_grad() end
    local _, m1 = entro.mem()
    eq(m1.allocs, m0.allocs, "config " .. i .. ": storages from malloc")
    eq(m1.live, m0.live, "config " .. i .. ": live bytes")
  end
end)

---------------------------------------------------------------------------------------------
-- state dictionaries

-- A deterministic gradient for theta: d/dtheta of sum(theta^4)/4 + sum(sin(theta)),
-- computed from a detached view (a gradient that recorded a graph of p would hold p).
local function set_grads(ps)
  for _, p in ipairs(ps) do
    local x = p:detach()
    p.grad = x:pow(3) + x:cos()
  end
end

local function snapshot(ps)
  local out = {}
  for i, p in ipairs(ps) do out[i] = flat(p) end
  return out
end

local function clones(ps)
  local out = {}
  for i, p in ipairs(ps) do out[i] = p:detach():clone():requires_grad() end
  return out
end

test("state_dict survives tensor.dumps/loads and continues bitwise (adam, sgd, langevin)", function()
  local makers = {
    function(ps, seed) return optim.adam({{params = {ps[1]}, lr = 0.05}, {params = {ps[2]}}},
      {lr = 0.02, amsgrad = true, weight_decay = 0.01, noise = {std = 0.05, rng = tensor.rng(seed)}}) end,
    function(ps, seed) return optim.sgd(ps, {lr = 0.05, momentum = 0.9, dampening = 0.1,
      noise = {cov = tensor.eye(5) * 0.01, rng = tensor.rng(seed)}}) end,
    function(ps, seed) return optim.langevin(ps, {lr = 0.01, temperature = 0.2, rng = tensor.rng(seed)}) end,
  }
  for i, make in ipairs(makers) do
    local ps = {param({{0.5, -0.2}, {0.1, 0.9}}), param({-0.7})}
    local opt = make(ps, 1)
    for _ = 1, 5 do set_grads(ps); opt:step() end
    local saved = tensor.dumps(opt:state_dict())
    local qs = clones(ps)
    local opt2 = make(qs, 99)                     -- another seed: the state must bring its own
    opt2:load_state_dict(tensor.loads(saved))
    for _ = 1, 5 do set_grads(ps); opt:step(); set_grads(qs); opt2:step() end
    eq(snapshot(qs), snapshot(ps), "optimizer " .. i)
  end
end)

test("state_dict is a plain copy with the documented layout", function()
  local p = param({1, 2}, {1, 1})
  local opt = optim.sgd({p}, {lr = 0.1, momentum = 0.5})
  opt:step()
  local sd = opt:state_dict()
  eq(sd.optimizer, "sgd")
  eq(sd.param_groups[1].params, {1})
  eq(sd.param_groups[1].lr, 0.1)
  ok(tensor.is_tensor(sd.state[1].momentum_buffer), "momentum buffer")
  opt:step()
  eq(flat(sd.state[1].momentum_buffer), {1, 1}, "a copy, not the live buffer")
end)

test("load_state_dict refuses mismatched states, changing nothing", function()
  local p = param({1, 2}, {1, 1})
  local opt = optim.adam({p}, {lr = 0.1})
  opt:step()
  local sd = opt:state_dict()
  raises(function() optim.sgd({p}, {lr = 1}):load_state_dict(sd) end, "the state is for optim.adam")
  raises(function() optim.adam({{params = {p}}, {params = {param({1})}}}):load_state_dict(sd) end,
         "the state has 1 parameter groups, this optimizer 2")
  raises(function() optim.adam({p, param({1})}):load_state_dict(sd) end, "group 1 has 2 parameters here, 1")
  raises(function() optim.adam({param({1, 2, 3})}):load_state_dict(sd) end, "has shape 2, the parameter shape 3")
  raises(function() optim.adam({p}):load_state_dict("x") end, "expected a table")
  local bad = opt:state_dict()
  bad.state[1].velocity = tensor.zeros(2)
  raises(function() opt:load_state_dict(bad) end, "unknown entry 'velocity'")
  bad = opt:state_dict()
  bad.param_groups[1].lr = -1
  raises(function() opt:load_state_dict(bad) end, "lr must be a non-negative number, got -1")
  eq(opt.param_groups[1].lr, 0.1, "unchanged")
  bad = opt:state_dict()
  bad.state[1].step = 1.5
  raises(function() opt:load_state_dict(bad) end, "step must be a non-negative integer")
end)

---------------------------------------------------------------------------------------------
-- schedules

test("schedules: constant, step, milestones, exponential, cosine", function()
  local function lrs(make, n)
    local opt = optim.sgd({param({0})}, {lr = 0.8})
    local s = make(opt)
    local out = {opt.param_groups[1].lr}
    for _ = 1, n do s:step(); out[#out + 1] = s:lr() end
    return out
  end
  near(lrs(function(o) return optim.schedule.constant(o, {factor = 0.5}) end, 2), {0.4, 0.4, 0.4}, 1e-15)
  near(lrs(function(o) return optim.schedule.step(o, {every = 2, gamma = 0.5}) end, 4),
       {0.8, 0.8, 0.4, 0.4, 0.2}, 1e-15)
  near(lrs(function(o) return optim.schedule.step(o, {milestones = {1, 3}, gamma = 0.1}) end, 3),
       {0.8, 0.08, 0.08, 0.008}, 1e-15)
  near(lrs(function(o) return optim.schedule.exponential(o, {gamma = 0.5}) end, 2), {0.8, 0.4, 0.2}, 1e-15)
  near(lrs(function(o) return optim.schedule.cosine(o, {T = 4, min_lr = 0.2}) end, 5),
       {0.8, 0.2 + 0.6 * (1 + math.cos(math.pi / 4)) / 2, 0.5, 0.2 + 0.6 * (1 - math.cos(math.pi / 4)) / 2,
        0.2, 0.2}, 1e-15)
end)

test("warmup composes with another schedule; groups keep their own base", function()
  local opt = optim.adam({{params = {param({0})}, lr = 1}, {params = {param({0})}, lr = 0.1}})
  local s = optim.schedule.warmup(opt, {steps = 4, after = optim.schedule.cosine(opt, {T = 2})})
  local seen = {s:lr()}
  for _ = 1, 7 do s:step(); seen[#seen + 1] = s:lr() end
  near(seen, {0.25, 0.4375, 0.625, 0.8125, 1, 0.5, 0, 0}, 1e-15)
  near(s:lr(2), 0, 1e-15)
  local st = s:state_dict()
  local s2 = optim.schedule.warmup(opt, {steps = 4, start = 0})
  eq(opt.param_groups[1].lr, 0)
  s2:load_state_dict({t = 2})
  near(opt.param_groups[2].lr, 0.05, 1e-15)
  eq(st.t, 7)
end)

test("a scheduled optimizer's state_dict carries initial_lr; a second schedule starts from it", function()
  local opt = optim.sgd({param({0}, {1})}, {lr = 0.4, momentum = 0.5})
  local s = optim.schedule.step(opt, {every = 1, gamma = 0.5})
  s:step(); s:step()
  eq(opt.param_groups[1].lr, 0.1)
  local sd = tensor.loads(tensor.dumps(opt:state_dict()))
  local opt2 = optim.sgd({param({0}, {1})}, {lr = 1, momentum = 0.5})
  opt2:load_state_dict(sd)
  eq(opt2.param_groups[1].lr, 0.1)
  local s2 = optim.schedule.step(opt2, {every = 1, gamma = 0.5})
  s2:load_state_dict(s:state_dict())
  eq(opt2.param_groups[1].lr, 0.1)
  eq(optim.schedule.constant(opt2):lr(), 0.4, "based on initial_lr")
end)

test("a schedule scales a tensor lr without touching the user's tensor", function()
  local lr = tensor.tensor{1, 2}
  local opt = optim.sgd({param({0, 0}, {1, 1})}, {lr = lr})
  local s = optim.schedule.exponential(opt, {gamma = 0.5})
  s:step()
  eq(flat(opt.param_groups[1].lr), {0.5, 1})
  eq(flat(lr), {1, 2})
  opt:step()
  eq(flat(opt.param_groups[1].params[1]), {-0.5, -1})
end)

test("schedules: bad options", function()
  local opt = optim.sgd({param({0})}, {lr = 1})
  raises(function() optim.schedule.cosine(opt, {T = 0}) end, "optim.schedule.cosine: T must be a positive integer, got 0")
  raises(function() optim.schedule.cosine({}, {T = 3}) end, "expected an optimizer")
  raises(function() optim.schedule.exponential(opt, {gamma = -1}) end, "gamma must be a non-negative number")
  raises(function() optim.schedule.step(opt, {gamma = 0.1}) end, "every = n or milestones")
  raises(function() optim.schedule.step(opt, {milestones = {3, 2}}) end, "milestones must increase")
  raises(function() optim.schedule.warmup(opt, {steps = 3, after = 5}) end, "after must be a schedule")
  raises(function() optim.schedule.cosine(opt, {T = 3, Tmax = 2}) end, "unknown option 'Tmax'")
end)

---------------------------------------------------------------------------------------------
-- bad input

test("bad input: clear errors naming the option", function()
  local p = param({1}, {1})
  raises(function() optim.sgd({p}, {lr = -1}) end, "optim.sgd: lr must be a non-negative number, got -1")
  raises(function() optim.sgd({p}, {}) end, "optim.sgd: lr is required")
  raises(function() optim.sgd({p}, {lr = "big"}) end, "optim.sgd: lr must be a non-negative number, got big")
  raises(function() optim.sgd({p}, {lr = 1, momentum = 1}) end, "momentum must be a number in [0, 1), got 1")
  raises(function() optim.sgd({p}, {lr = 1, momentum = -0.1}) end, "momentum must be a number in [0, 1)")
  raises(function() optim.sgd({p}, {lr = 1, nesterov = true}) end, "nesterov needs momentum > 0")
  raises(function() optim.sgd({p}, {lr = 1, momentum = 0.9, dampening = 0.1, nesterov = true}) end, "dampening = 0")
  raises(function() optim.sgd({p}, {lr = 1, weight_decay = -1}) end, "weight_decay must be a non-negative number")
  raises(function() optim.sgd({p}, {lr = 1, decay_convention = "keras"}) end, "decay_convention must be")
  raises(function() optim.sgd({p}, {lr = 1, momentun = 0.9}) end, "optim.sgd: unknown option 'momentun'")
  raises(function() optim.adam({p}, {betas = {0.9, 1}}) end, "optim.adam: betas[2] must be a number in [0, 1), got 1")
  raises(function() optim.adam({p}, {betas = {-0.1, 0.9}}) end, "betas[1] must be a number in [0, 1)")
  raises(function() optim.adam({p}, {betas = 0.9}) end, "betas must be a table")
  raises(function() optim.adam({p}, {eps = -1}) end, "eps must be a non-negative number")
  raises(function() optim.adamw({p}, {decay_convention = "torch"}) end, "decoupled")
  raises(function() optim.langevin({p}, {lr = 0.1, temperature = -1}) end,
         "optim.langevin: temperature must be a non-negative number, got -1")
  raises(function() optim.langevin({p}, {lr = 0.1}) end, "temperature is required")
  raises(function() optim.langevin({p}, {lr = 0.1, temperature = 1, rng = 3}) end, "rng must be an entro.Generator")
  raises(function() optim.sgd(42, {lr = 1}) end, "params must be a list of tensors, got number")
  raises(function() optim.sgd({}, {lr = 1}) end, "optim.sgd: params is empty")
  raises(function() optim.sgd({w = p}, {lr = 1}) end, "must be a list")
  raises(function() optim.sgd({p, "x"}, {lr = 1}) end, "params[2] is not a tensor")
  raises(function() optim.sgd({tensor.zeros(2)}, {lr = 1}) end, "params[1] does not require grad")
  raises(function() optim.sgd(tensor.zeros(2), {lr = 1}) end, "params[1] does not require grad")
  raises(function() optim.sgd({p * 2}, {lr = 1}) end, "not a leaf")
  raises(function() optim.sgd({tensor.zeros(3, 4):t():requires_grad()}, {lr = 1}) end, "not contiguous")
  raises(function() optim.sgd({p, p}, {lr = 1}) end, "appears in more than one place")
  raises(function() optim.sgd({{params = {p}, noise = {std = 1}}}, {lr = 1}) end, "noise is an option of the whole optimizer")
  raises(function() optim.sgd({{params = {p}}, {params = {}}}, {lr = 1}) end, "params is empty in group 2")
  raises(function() optim.sgd({{params = {p}}, {params = {param({2})}, lr = -2}}, {lr = 1}) end,
         "optim.sgd: group 2: lr must be a non-negative number, got -2")
  raises(function() optim.sgd({p}, {lr = 1, noise = {std = -1}}) end, "noise.std must be a non-negative number")
  raises(function() optim.sgd({p}, {lr = 1, noise = {std = 1, cov = tensor.eye(1)}}) end, "exactly one of")
  raises(function() optim.sgd({p}, {lr = 1, noise = {cov = tensor.eye(2)}}) end, "noise.cov must be a 1x1 tensor")
  raises(function() optim.sgd({p}, {lr = 1, noise = {cov = tensor.tensor{{-1}}}}) end, "positive semidefinite")
  raises(function() optim.sgd({param({1, 1}, {0, 0})}, {lr = 1, noise = {cov = tensor.tensor{{1, 0.5}, {0, 1}}}}) end, "not symmetric")
  raises(function() optim.sgd({p}, {lr = 1, noise = {std = 1, rng = {}}}) end, "noise.rng must be an entro.Generator")
  raises(function() optim.sgd({p}, {lr = 1, noise = {sigma = 1}}) end, "unknown option 'sigma'")
  local withcov = optim.sgd({p}, {lr = 1, noise = {cov = tensor.eye(1)}})
  raises(function() withcov:add_param_group{params = {param({1})}} end, "noise covariance was made for 1")
  eq(#withcov.param_groups, 1, "nothing added")
  -- changed by hand after construction: caught at the next step
  local opt = optim.sgd({p}, {lr = 1})
  opt.param_groups[1].momentum = 2
  raises(function() opt:step() end, "momentum must be a number in [0, 1), got 2")
  -- a gradient that is not contiguous
  local q = param({{1, 2}, {3, 4}})
  q.grad = tensor.tensor{{1, 2}, {3, 4}}:t()
  q.name = "fc.weight"
  raises(function() optim.sgd({q}, {lr = 1}):step() end, "gradient (shape 2x2) is not contiguous (parameter 'fc.weight')")
end)

---------------------------------------------------------------------------------------------
-- against PyTorch: 100 steps on a small tanh network, to 1e-10

local function have_torch()
  local f = io.popen("/usr/bin/python3 -c 'import torch' 2>/dev/null && echo yes")
  if not f then return false end
  local out = f:read("a")
  f:close()
  return out:find("yes") ~= nil
end

local function literal(t)
  if t:dim() == 1 then
    local parts = {}
    for i, v in ipairs(t:totable()) do parts[i] = string.format("%.17g", v) end
    return "[" .. table.concat(parts, ", ") .. "]"
  end
  local rows = {}
  for i = 1, t:size(1) do rows[i] = literal(t:select(1, i)) end
  return "[" .. table.concat(rows, ", ") .. "]"
end

-- Each configuration: entro's constructor and PyTorch's, on params W1, b1, W2, b2.
local TORCH_CASES = {
  {"sgd", function(P) return optim.sgd(P, {lr = 0.05}) end,
   "torch.optim.SGD(P, lr=0.05)"},
  {"sgd momentum dampening decay(torch)", function(P)
     return optim.sgd(P, {lr = 0.05, momentum = 0.9, dampening = 0.1, weight_decay = 0.01, decay_convention = "torch"}) end,
   "torch.optim.SGD(P, lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)"},
  {"sgd nesterov decay(paper)", function(P)
     return optim.sgd(P, {lr = 0.05, momentum = 0.8, nesterov = true, weight_decay = 0.005}) end,
   "torch.optim.SGD(P, lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01)"},
  {"sgd groups", function(P)
     return optim.sgd({{params = {P[1], P[2]}, lr = 0.1}, {params = {P[3], P[4]}, momentum = 0.5}},
                      {lr = 0.03, momentum = 0.9}) end,
   "torch.optim.SGD([{'params': P[:2], 'lr': 0.1}, {'params': P[2:], 'momentum': 0.5}], lr=0.03, momentum=0.9)"},
  {"adam", function(P) return optim.adam(P, {lr = 0.01}) end,
   "torch.optim.Adam(P, lr=0.01)"},
  {"adam amsgrad decay(torch)", function(P)
     return optim.adam(P, {lr = 0.01, betas = {0.8, 0.99}, weight_decay = 0.01, decay_convention = "torch", amsgrad = true}) end,
   "torch.optim.Adam(P, lr=0.01, betas=(0.8, 0.99), weight_decay=0.01, amsgrad=True)"},
  {"adamw", function(P) return optim.adamw(P, {lr = 0.01, weight_decay = 0.1}) end,
   "torch.optim.AdamW(P, lr=0.01, weight_decay=0.1)"},
  {"adamw amsgrad eps", function(P) return optim.adamw(P, {lr = 0.02, eps = 1e-6, amsgrad = true}) end,
   "torch.optim.AdamW(P, lr=0.02, eps=1e-6, amsgrad=True)"},
}

test("trajectories match PyTorch's SGD, Adam and AdamW for 100 steps to 1e-10", function()
  if not have_torch() then skip("python3-torch not installed") end
  local g = tensor.rng(21)
  local init = {g:randn(5, 4) * 0.5, g:randn(5) * 0.1, g:randn(2, 5) * 0.5, g:randn(2) * 0.1}
  local X, Y = g:randn(16, 4), g:randn(16, 2)
  local steps = 100
  local py = {"import torch", "torch.set_default_dtype(torch.float64)",
              "X = torch.tensor(" .. literal(X) .. ")", "Y = torch.tensor(" .. literal(Y) .. ")"}
  for i, c in ipairs(TORCH_CASES) do
    py[#py + 1] = "P = [torch.tensor(v, requires_grad=True) for v in [" ..
                  literal(init[1]) .. ", " .. literal(init[2]) .. ", " .. literal(init[3]) .. ", " .. literal(init[4]) .. "]]"
    py[#py + 1] = "opt = " .. c[3]
    py[#py + 1] = "for _ in range(" .. steps .. "):"
    py[#py + 1] = "    opt.zero_grad()"
    py[#py + 1] = "    h = torch.tanh(torch.nn.functional.linear(X, P[0], P[1]))"
    py[#py + 1] = "    torch.nn.functional.mse_loss(torch.nn.functional.linear(h, P[2], P[3]), Y).backward()"
    py[#py + 1] = "    opt.step()"
    py[#py + 1] = "print(" .. i .. ", ' '.join(repr(v) for p in P for v in p.detach().flatten().tolist()))"
  end
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(table.concat(py, "\n"), "\n")
  f:close()
  local pipe = io.popen("/usr/bin/python3 " .. path .. " 2>&1")
  local out = pipe:read("a")
  pipe:close()
  os.remove(path)
  local ref = {}
  for line in out:gmatch("[^\n]+") do
    local i, rest = line:match("^(%d+) (.*)$")
    if i then
      local v = {}
      for x in rest:gmatch("%S+") do v[#v + 1] = tonumber(x) end
      ref[tonumber(i)] = v
    end
  end
  ok(#ref == #TORCH_CASES, "PyTorch ran: " .. out:sub(1, 400))
  local worst = 0
  for i, c in ipairs(TORCH_CASES) do
    local P = {}
    for j, t in ipairs(init) do P[j] = t:clone():requires_grad() end
    local opt = c[2](P)
    for _ = 1, steps do
      opt:zero_grad()
      local h = tensor.linear(X, P[1], P[2]):tanh()
      tensor.mse(tensor.linear(h, P[3], P[4]), Y):backward()
      opt:step()
    end
    local mine = {}
    for _, p in ipairs(P) do for _, v in ipairs(flat(p)) do mine[#mine + 1] = v end end
    near(mine, ref[i], 1e-10, c[1])
    for j = 1, #mine do worst = math.max(worst, math.abs(mine[j] - ref[i][j])) end
  end
  if os.getenv("ENTRO_VERBOSE") then print(string.format("  worst difference from PyTorch: %.3g", worst)) end
end)
