-- tests/reliability/repro_run.lua -- a run that touches every source of randomness and the
-- multithreaded BLAS paths, printing its results as exact hex floats; tests/lua/test_repro.lua
-- runs it in separate processes and compares the outputs. Explicit generators are fixed;
-- the default generator (net init, dropout, loader, noise) follows --seed.
local g = tensor.rng(3)
local X, Y = data.teacher{n = 512, din = 32, dout = 4, hidden = {64}, noise = 0.3, rng = g}
local net = nn.Sequential(nn.Linear(32, 128), nn.ReLU(), nn.Dropout(0.1), nn.Linear(128, 128),
                          nn.Tanh(), nn.Linear(128, 4))
local opt = optim.sgd(net:parameters(), {lr = 0.01, momentum = 0.9,
                                         noise = {std = 1e-3, rng = tensor.default_rng()}})
local loss
for _, xb, yb in data.loader(X, Y, {batch = 64, steps = 60, rng = tensor.default_rng(), progress = false}) do
  loss = nn.mse(net(xb), yb)
  opt:zero_grad(); loss:backward(); opt:step()
end
local A = tensor.randn(400, 300)
local gram = A:matmul(A:t())                      -- big enough for OpenBLAS to use its threads
net:eval()
local function full_loss() return nn.mse(net(X), Y) end
local sharp = diag.sharpness(full_loss, net:parameters(), {maxiter = 10, rng = tensor.rng(4)}).max
local cka = diag.cka(net[2](net[1](X)), X)
local out = {loss:item(), full_loss():item(), gram:sum(), gram:get(7, 9), sharp, cka,
             diag.flatten(net:parameters()):sum()}
for i, v in ipairs(out) do out[i] = string.format("%a", tensor.is_tensor(v) and v:item() or v) end
print(table.concat(out, " "))
