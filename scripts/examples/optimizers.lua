-- Optimizers, worked through: SGD, momentum, Adam and AdamW on one regression problem with
-- learning-rate schedules; Langevin dynamics sampling a Gibbs distribution; gradient noise
-- with a chosen covariance; and a run saved and resumed from its state_dict.
-- Writes out/examples/optimizers.png.
--
--   ./entro scripts/examples/optimizers.lua
local optim = require "entro.optim"
local plot = require "entro.plot"

local g = tensor.rng(7)

-- 1. Linear regression y = X w* + noise, one weight vector and a bias, full batch.
local X = g:randn(256, 10)
local wstar = g:randn(1, 10)
local Y = tensor.linear(X, wstar) + g:randn(256, 1) * 0.1

local function fresh()
  local rng = tensor.rng(1)
  return {rng:randn(1, 10):requires_grad(), tensor.zeros(1):requires_grad()}
end

local function loss_of(P) return tensor.mse(tensor.linear(X, P[1], P[2]), Y) end

local runs = {
  {"SGD lr 0.05", function(P) return optim.sgd(P, {lr = 0.05}) end},
  {"SGD momentum 0.9 + cosine", function(P)
     local opt = optim.sgd(P, {lr = 0.05, momentum = 0.9})
     return opt, optim.schedule.cosine(opt, {T = 200, min_lr = 1e-3}) end},
  {"Adam + warmup then cosine", function(P)
     local opt = optim.adam(P, {lr = 0.1})
     return opt, optim.schedule.warmup(opt, {steps = 20, after = optim.schedule.cosine(opt, {T = 180})}) end},
  -- weight_decay = gamma is the paper's gamma |theta|^2 (gradient 2 gamma theta) for SGD and
  -- Adam; AdamW's decay is PyTorch's decoupled theta <- theta - lr gamma theta
  {"AdamW decay 0.01", function(P) return optim.adamw(P, {lr = 0.1, weight_decay = 0.01}) end},
}

local fig = plot.figure{title = "full-batch regression", xlabel = "step", ylabel = "loss", logy = true}
for _, run in ipairs(runs) do
  local P = fresh()
  local opt, sched = run[2](P)
  local steps, losses = {}, {}
  for step = 1, 200 do
    opt:zero_grad()
    local loss = loss_of(P)
    loss:backward()
    opt:step()
    if sched then sched:step() end
    steps[step], losses[step] = step, loss:item()
  end
  print(string.format("%-28s final loss %.5f", run[1], losses[#losses]))
  fig:line(steps, losses, {label = run[1]})
end

-- 2. Langevin dynamics on L = sum_i k_i theta_i^2 / 2 samples exp(-L/T): each coordinate's
-- variance is T/k (exactly T/(k(1 - lr k/2)) for the discrete chain). 500 independent
-- coordinates per stiffness, averaged over time and over the coordinates.
local reps, ks = 500, {1, 4}
local kv = {}
for i = 1, #ks * reps do kv[i] = ks[(i - 1) // reps + 1] end
local k = tensor.tensor(kv)
local theta = tensor.zeros(#kv):requires_grad()
local x = theta:detach()                 -- a plain view of theta, for in-place arithmetic
theta.grad = tensor.zeros(#kv)
local lr, T = 0.01, 0.5
local sampler = optim.langevin({theta}, {lr = lr, temperature = T, rng = tensor.rng(3)})
local acc, n = tensor.zeros(#kv), 0
for step = 1, 21000 do
  theta.grad:copy_(x):mul_(k)            -- the gradient k * theta, without a graph
  sampler:step()
  if step > 1000 then acc:add_(x * x); n = n + 1 end
end
local var = (acc / n):totable()
for j, kj in ipairs(ks) do
  local v = 0
  for i = (j - 1) * reps + 1, j * reps do v = v + var[i] / reps end
  print(string.format("langevin k = %g: variance %.4f, T/k = %.4f, discrete chain %.4f", kj, v,
                      T / kj, T / (kj * (1 - lr * kj / 2))))
end

-- 3. Gradient noise with a chosen covariance over all parameters (here 3 numbers): with a
-- zero gradient and lr 1 every step moves by -xi, xi ~ N(0, C).
local C = tensor.tensor{{1, 0.8, 0}, {0.8, 1, 0}, {0, 0, 0.25}}
local a, b = tensor.zeros(2):requires_grad(), tensor.zeros(1):requires_grad()
a.grad, b.grad = tensor.zeros(2), tensor.zeros(1)
local noisy = optim.sgd({a, b}, {lr = 1, noise = {cov = C, rng = tensor.rng(5)}})
local S, m = tensor.zeros(3, 3), 20000
for _ = 1, m do
  local before = tensor.tensor{a:get(1), a:get(2), b:get(1)}
  noisy:step()
  local d = (tensor.tensor{a:get(1), a:get(2), b:get(1)} - before):view(3, 1)
  S:add_(d:matmul(d:t()))
end
print("empirical noise covariance (target C):")
print(S / m)

-- 4. Save and resume: the momentum buffers and step counts travel in a plain table.
local P = fresh()
local opt = optim.adam(P, {lr = 0.05})
for _ = 1, 50 do opt:zero_grad(); loss_of(P):backward(); opt:step() end
local path = os.tmpname()
tensor.save(path, {params = {P[1], P[2]}, optimizer = opt:state_dict()})
local saved = tensor.load(path)
os.remove(path)
local Q = {saved.params[1]:requires_grad(), saved.params[2]:requires_grad()}
local resumed = optim.adam(Q, {lr = 0.05})
resumed:load_state_dict(saved.optimizer)
for _ = 1, 50 do
  opt:zero_grad(); loss_of(P):backward(); opt:step()
  resumed:zero_grad(); loss_of(Q):backward(); resumed:step()
end
local diff = 0
for i = 1, 2 do
  local u, v = P[i]:detach():view(-1):totable(), Q[i]:detach():view(-1):totable()
  for j = 1, #u do diff = math.max(diff, math.abs(u[j] - v[j])) end
end
print(string.format("resumed run differs from the uninterrupted one by %g", diff))

fig:save("out/examples/optimizers.png")
print("wrote out/examples/optimizers.png")
