-- fashion_mnist.lua -- a 784-256-10 ReLU MLP trained on Fashion-MNIST with SGD + momentum:
-- data.fashion_mnist, data.loader, nn.mlp and optim.sgd end to end. It prints the test
-- accuracy after every epoch and passes 88% within 10 epochs (about 30 s on two cores).
--
--   ./entro scripts/examples/fashion_mnist.lua [epochs] [path]
--
-- `path` is a directory in the MNIST layout (default: Debian's dataset-fashion-mnist), so
-- the same script trains on MNIST too.
local epochs = tonumber(arg and arg[1]) or 10
local path = arg and arg[2]

local t0 = entro.clock()
local X, Y = data.fashion_mnist{split = "train", path = path}
local Xt, Yt = data.fashion_mnist{split = "test", path = path}
print(string.format("loaded %d training and %d test images in %.2fs", X:size(1), Xt:size(1),
                    entro.clock() - t0))

-- standardise the pixels with the training set's mean and standard deviation
local mean, std = X:mean(), X:std()
X, Xt = (X - mean) / std, (Xt - mean) / std

local g = tensor.rng(1)
local batch = 128
local net = nn.mlp{784, 256, 10, act = "relu", rng = g}
local opt = optim.sgd(net:parameters(), {lr = 0.05, momentum = 0.9})
-- the learning rate falls to 0 along a half cosine over the whole run
local sched = optim.schedule.cosine(opt, {T = epochs * math.ceil(X:size(1) / batch)})

-- the fraction of (Xe, Ye) the network classifies correctly
local function accuracy(Xe, Ye)
  net:eval()
  local correct = 0
  tensor.no_grad(function()
    for _, xb, yb in data.loader(Xe, Ye, {batch = 1000, shuffle = false, progress = false}) do
      correct = correct + net(xb):argmax(2):eq(yb):sum()
    end
  end)
  net:train()
  return correct / Ye:size(1)
end

for epoch = 1, epochs do
  local loader = data.loader(X, Y, {batch = batch, epochs = 1, rng = g, label = "epoch " .. epoch})
  local total, count = 0, 0
  for step, xb, yb in loader do
    local loss = nn.cross_entropy(net(xb), yb)
    opt:zero_grad()
    loss:backward()
    opt:step()
    sched:step()
    total, count = total + loss:item(), count + 1
    if step % 20 == 0 then loader:report{loss = total / count} end
  end
  print(string.format("epoch %2d  train loss %.4f  test accuracy %.2f%%  (%.0fs)", epoch,
                      total / count, 100 * accuracy(Xt, Yt), entro.clock() - t0))
end
