-- Claim 8 (PAPER.md §6) at reduced size: the mean over minibatches of ‖∇L_B‖² − ‖∇L‖² is
-- Tr Σ / B with replacement and Tr Σ (N − B)/(B (N − 1)) without, Σ the per-sample gradient
-- covariance (diag.noise). The full experiment is scripts/paper/noise.lua.

local N = 64
local X, Y = data.teacher{n = N, din = 5, dout = 1, hidden = {8}, noise = 0.5, rng = tensor.rng(8)}
local net = nn.mlp{5, 16, 1, act = "tanh", rng = tensor.rng(9)}
local opt = optim.sgd(net:parameters(), {lr = 0.05})
for _, xb, yb in data.loader(X, Y, {batch = 8, steps = 300, rng = tensor.rng(10), progress = false}) do
  local loss = nn.mse(net(xb), yb)
  opt:zero_grad(); loss:backward(); opt:step()
end
local params = net:parameters()
local nz = diag.noise(net, nn.mse, X, Y)

local function excess(B, replacement, M, seed)
  local sum, sumsq = 0, 0
  for _, xb, yb in data.loader(X, Y, {batch = B, steps = M, replacement = replacement,
                                      rng = tensor.rng(seed), progress = false}) do
    local g = tensor.grad(function() return nn.mse(net(xb), yb) end, params)
    local s = 0
    for _, t in ipairs(g) do local v = t:reshape(-1); s = s + v:dot(v) end
    local e = s - nz.grad_sq
    sum, sumsq = sum + e, sumsq + e * e
  end
  local mean = sum / M
  return mean, math.sqrt((sumsq - M * mean * mean) / (M - 1) / M)
end

test("claim 8: Tr Sigma from per-sample gradients (fast path) equals the per-sample loop", function()
  local slow = diag.noise(net, nn.mse, X, Y, {method = "loop"})
  near(nz.trace, slow.trace, 1e-10)
  near(nz.grad_sq, slow.grad_sq, 1e-10)
end)

test("claim 8: B = 1 without replacement over whole epochs is exact", function()
  local mean = excess(1, false, 4 * N, 1)
  ok(math.abs(mean - nz.trace) < 1e-10 * nz.trace, string.format("%.17g vs %.17g", mean, nz.trace))
end)

test("claim 8: the excess matches Tr Sigma/B (with) and Tr Sigma (N-B)/(B(N-1)) (without)", function()
  local M = 2048
  for _, B in ipairs{1, 4, 16} do
    local with_pred = nz.trace / B
    local without_pred = nz.trace * (N - B) / (B * (N - 1))
    local m, se = excess(B, true, M, 20 + B)
    ok(math.abs(m - with_pred) < 3 * se, string.format("B %d with: z = %.2f", B, (m - with_pred) / se))
    if B > 1 then
      local m2, se2 = excess(B, false, M, 40 + B)
      ok(math.abs(m2 - without_pred) < 3 * se2,
         string.format("B %d without: z = %.2f", B, (m2 - without_pred) / se2))
      if B == 16 then   -- the wrong factor is detectably wrong
        ok(math.abs(m - without_pred) > 3 * se, "with replacement should not match (N-B)/(B(N-1))")
        ok(math.abs(m2 - with_pred) > 3 * se2, "without replacement should not match 1/B")
      end
    end
  end
end)
