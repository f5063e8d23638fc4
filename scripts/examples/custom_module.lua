-- A module of your own, worked through: a gated residual block, y = x + g * tanh(W x + b),
-- with a learnable scalar gate g that starts at zero (so the block starts as the identity).
-- Children and parameters register themselves, in order, when assigned to fields.
--
--   ./entro scripts/examples/custom_module.lua

local GatedResidual = nn.Module:extend("GatedResidual")

function GatedResidual:init(dim, opts)
  self.dim = dim                                  -- a plain value: not registered
  self.proj = nn.Linear(dim, dim, opts)           -- a child module: proj.weight, proj.bias
  self.gate = nn.Parameter(tensor.zeros(1))       -- a parameter: gate
end

function GatedResidual:forward(x)
  return x + self.gate * self.proj(x):tanh()
end

function GatedResidual:describe() return string.format("GatedResidual(%d)", self.dim) end

-- Use it like any layer.
local g = tensor.rng(1)
local net = nn.Sequential(nn.Linear(4, 16, {rng = g}), GatedResidual(16, {rng = g}),
                          GatedResidual(16, {rng = g}), nn.Linear(16, 1, {rng = g}))
print(net)
for name, p in net:named_parameters() do
  print(string.format("  %-16s %s", name, table.concat(p:shape(), "x")))
end

-- Fit a smooth target with plain gradient descent.
local X = g:randn(256, 4)
local Y = (X:narrow(2, 1, 1) * X:narrow(2, 2, 1)):sin()
local lr = 0.05
for step = 1, 1500 do
  local loss = nn.mse(net(X), Y)
  net:zero_grad()
  loss:backward()
  tensor.no_grad(function()
    for _, p in ipairs(net:parameters()) do p:axpy_(-lr, p.grad) end
  end)
  if step == 1 or step % 500 == 0 then print(string.format("step %4d  loss %.4f", step, loss:item())) end
end
print(string.format("gates learned: %.3f, %.3f", net[2].gate:item(), net[3].gate:item()))

-- Bad input names where it went wrong.
print(select(2, pcall(net, tensor.zeros(8, 3))))
