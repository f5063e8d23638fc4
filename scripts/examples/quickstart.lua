-- quickstart.lua -- entro in one screen: train the same network with minibatch SGD and with
-- full-batch GD on noisy teacher data, and watch what the noise does.
--
-- Gradient flow conserves ||w_in||^2 - ||w_out||^2 for every hidden ReLU neuron (the
-- rescaling symmetry); SGD's noise breaks that symmetry and drives every neuron towards
-- balance (PAPER.md §2, claims 4-6). The script starts from a deliberately unbalanced
-- network and prints, for SGD and GD, the loss, the mean |neuron charge| and the top
-- Hessian eigenvalue against the edge of stability 2/lr. It writes out/quickstart.png.
local g = tensor.rng(7)
local T = select(3, data.teacher{n = 1, din = 10, dout = 1, hidden = {16}, noise = 0.5, rng = g})
local X, Y = T:sample(512)
local lr, steps = 0.05, 3000

local fig = plot.figure{title = "SGD shrinks what gradient flow conserves",
                        xlabel = "step", ylabel = "mean |neuron charge|", logy = true,
                        out = "out/quickstart.png"}

print(string.format("%-10s %10s %14s %12s %10s", "run", "loss", "|charge|", "sharpness", "2/lr"))
for _, run in ipairs{{name = "SGD B=4", batch = 4}, {name = "GD", batch = 512}} do
  local net = nn.mlp{10, 32, 1, act = "relu", rng = tensor.rng(1)}
  nn.init.scale(net:layers()[1], 2.0)        -- unbalanced start: big incoming weights
  nn.init.scale(net:layers()[2], 0.5)
  local opt = optim.sgd(net:parameters(), {lr = lr})
  local steps_col, charge_col = {}, {}
  local loss
  for step, xb, yb in data.loader(X, Y, {batch = run.batch, steps = steps, rng = tensor.rng(2)}) do
    loss = nn.mse(net(xb), yb)
    opt:zero_grad(); loss:backward(); opt:step()
    if step % 100 == 0 then
      steps_col[#steps_col + 1] = step
      charge_col[#charge_col + 1] = diag.charges(net).neurons[1]:abs():mean()
    end
  end
  local full = function() return nn.mse(net(X), Y) end
  local top = diag.sharpness(full, net:parameters(), {maxiter = 20, rng = tensor.rng(3)}).max
  print(string.format("%-10s %10.4f %14.4f %12.3f %10.1f", run.name, full():item(),
                      charge_col[#charge_col], top, diag.edge_of_stability(lr)))
  fig:line(steps_col, charge_col, {label = run.name})
end
fig:save()
print("figure: out/quickstart.png")
