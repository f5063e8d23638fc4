-- tests/reliability/train.lua DIR [resume] -- a small training run for the process-level
-- tests: it checkpoints to DIR/ckpt every 50 steps (with ballast, so that writes take long
-- enough to be killed in the middle), logs a monitor CSV to DIR/log.csv, prints "step N"
-- after each step (so a test can kill it at a chosen point of its progress), and at the end
-- saves its parameters as one tensor to DIR/final. With `resume` it first restores
-- DIR/ckpt when there is one. Run uninterrupted or killed and resumed any number of times,
-- DIR/final must come out byte for byte the same.
local dir, mode = arg[1], arg[2]
assert(dir, "usage: train.lua DIR [resume]")
os.execute("mkdir -p '" .. dir .. "'")
local ckpt = dir .. "/ckpt"

local X, Y = data.teacher{n = 256, din = 8, dout = 1, hidden = {16}, noise = 0.1, rng = tensor.rng(11)}
local g = tensor.rng(5)
local net = nn.Sequential(nn.Linear(8, 32, {rng = g}), nn.Tanh(), nn.Dropout(0.1),
                          nn.Linear(32, 32, {rng = g}), nn.Tanh(), nn.Linear(32, 1, {rng = g}))
local opt = optim.sgd(net:parameters(), {lr = 0.02, momentum = 0.9,
                                         noise = {std = 1e-3, rng = tensor.rng(6)}})
local ld = data.loader(X, Y, {batch = 16, steps = 1500, rng = g, progress = false})
local mon = diag.monitor(net, {every = 10, file = dir .. "/log.csv", "loss", "grad_norms"})
local ballast = tensor.zeros(300000)   -- 2.4 MB per checkpoint

if mode == "resume" and io.open(ckpt, "rb") then
  local step = entro.restore(ckpt, {net = net, opt = opt, rng = g, loader = ld, monitor = mon})
  io.write("resumed at step ", step, "\n")
end

for step, xb, yb in ld do
  local loss = nn.mse(net(xb), yb)
  opt:zero_grad()
  loss:backward()
  mon:record(step, {loss = loss})
  opt:step()
  if step % 50 == 0 then
    entro.checkpoint(ckpt, {net = net, opt = opt, rng = g, loader = ld, monitor = mon, step = step,
                            extra = {ballast = ballast}})
  end
  io.write("step ", step, "\n")
  io.flush()
end
mon:close()
tensor.save(dir .. "/final", diag.flatten(net:parameters()))
io.write("done\n")
