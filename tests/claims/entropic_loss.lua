-- Claim 7 (PAPER.md §6) at reduced size, on the two-valley loss of
-- scripts/paper/entropic_loss.lua: ℓ_i(x, y) = (x² − 1)²/4 + ½((x + 2) y − ε_i)².
-- One GD step matches gradient flow on L to O(η²) and flow on L + (η/4)‖∇L‖² to O(η³);
-- the entropic terms of diag.entropic_force and diag.noise match their closed forms here.

local TwoValleys = nn.Module:extend("TwoValleysTest")
function TwoValleys:init(x, y)
  self.x = nn.Parameter(tensor.tensor({x}))
  self.y = nn.Parameter(tensor.tensor({y}))
  self.e1, self.e2 = tensor.tensor({{1, 0}}), tensor.tensor({{0, 1}})
end
function TwoValleys:forward(eps)
  local x, y = self.x, self.y
  return ((x * x - 1) * (1 / math.sqrt(2))) * self.e1 + ((x + 2) * y - eps) * self.e2
end

local N, sigma = 16, 0.5
local eps = tensor.rng(70):randn(N, 1)
eps = eps - eps:mean()
eps = eps * (sigma / eps:square():mean() ^ 0.5)
local zeros = tensor.zeros(N, 2)
local net = TwoValleys(0.5, 1.5)
local params = net:parameters()
local full = function() return nn.mse(net(eps), zeros) end

local function at(theta) net:set_flat_parameters(theta) end
local function grad_L(theta) at(theta); return diag.flatten(tensor.grad(full, params)) end
-- ∇(L + c‖∇L‖²) with c = lr/4, through diag.entropic_force (its discretization part only)
local function grad_mod(lr)
  return function(theta)
    local g = grad_L(theta)
    local _, f = diag.entropic_force(net, nn.mse, eps, zeros, {lr = lr, batch = N, replacement = false})
    return g + f
  end
end
local function flow(field, theta, T, n)
  local h = T / n
  for _ = 1, n do
    local k1 = field(theta)
    local k2 = field(theta - k1 * (h / 2))
    local k3 = field(theta - k2 * (h / 2))
    local k4 = field(theta - k3 * h)
    theta = theta - (k1 + k2 * 2 + k3 * 2 + k4) * (h / 6)
  end
  return theta
end
local theta0 = tensor.tensor({0.5, 1.5})

test("the entropic terms match their closed forms on the two-valley loss", function()
  at(theta0)
  local x, y = 0.5, 1.5
  local s2 = eps:square():mean()
  local nz = diag.noise(net, nn.mse, eps, zeros)
  near(nz.trace, s2 * (y * y + (x + 2) ^ 2), 1e-12)
  -- H ∇L from the closed-form Hessian of L = (x²−1)²/4 + ½(x+2)²y² + const
  local gx, gy = x ^ 3 - x + (x + 2) * y * y, (x + 2) ^ 2 * y
  local hxx, hxy, hyy = 3 * x * x - 1 + y * y, 2 * (x + 2) * y, (x + 2) ^ 2
  local lr, B = 0.1, 2
  local _, disc = diag.entropic_force(net, nn.mse, eps, zeros, {lr = lr, batch = N, replacement = false})
  near(disc, {lr / 2 * (hxx * gx + hxy * gy), lr / 2 * (hxy * gx + hyy * gy)}, 1e-10)
  -- the noise part: (η/4B) ∇Tr Σ = (η/4B) σ̂² (2(x+2), 2y)
  local _, both = diag.entropic_force(net, nn.mse, eps, zeros, {lr = lr, batch = B})
  near(both - disc, {lr / (4 * B) * s2 * 2 * (x + 2), lr / (4 * B) * s2 * 2 * y}, 1e-10)
end)

test("claim 7: one GD step vs flow on L ~ eta^2, vs flow on L + (eta/4)|grad L|^2 ~ eta^3", function()
  local function errs(lr, field_of)
    local gd = theta0 - grad_L(theta0) * lr
    return (gd - flow(field_of(lr), theta0, lr, 16)):norm()
  end
  local plain = function() return grad_L end
  local a, b = 1e-3, 1e-2
  local s_plain = math.log(errs(b, plain) / errs(a, plain)) / math.log(b / a)
  local s_mod = math.log(errs(b, grad_mod) / errs(a, grad_mod)) / math.log(b / a)
  ok(math.abs(s_plain - 2) < 0.1, "slope against flow on L: " .. s_plain)
  ok(math.abs(s_mod - 3) < 0.15, "slope against the modified flow: " .. s_mod)
  -- control: the wrong coefficient, L + (eta/2)|grad L|^2, is only O(eta^2)
  local wrong = function(lr) return grad_mod(2 * lr) end
  local s_wrong = math.log(errs(b, wrong) / errs(a, wrong)) / math.log(b / a)
  ok(math.abs(s_wrong - 2) < 0.15, "the wrong coefficient should give slope 2, got " .. s_wrong)
end)

test("two valleys: flow on L goes sharp; GD and the modified flow go flat (eta 0.1, from (0.5, 1.5))", function()
  local lr, T = 0.1, 15
  local fl = flow(grad_L, theta0, T, 300)
  local fm = flow(grad_mod(lr), theta0, T, 300)
  at(theta0)
  local opt = optim.sgd(params, {lr = lr})
  for _ = 1, math.floor(T / lr) do
    local loss = full()
    opt:zero_grad(); loss:backward(); opt:step()
  end
  local gd = net:flat_parameters()
  near(fl, {1, 0}, 1e-3, "flow on L")
  near(fm, {-1, 0}, 1e-3, "modified flow")
  near(gd, {-1, 0}, 1e-3, "GD")
end)
