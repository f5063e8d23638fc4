-- Golden values: a few end-to-end numbers of fixed, seeded runs, pinned to the last bit, so
-- that an unintended numerical change anywhere on their path (kernels, autograd, optimizer,
-- generators, loader, Lanczos, CKA) is caught. The runs are small, so OpenBLAS computes them
-- on one thread whatever OPENBLAS_NUM_THREADS says.
--
-- The values are for this machine type (x86-64, Debian 12's OpenBLAS 0.3.21 with the kernels
-- entro selects, entro.blas().core, recorded as GOLDEN_CORE); another CPU or BLAS build may
-- differ in the last bits, so with other kernels (valgrind, for one, hides AVX-512 and
-- OpenBLAS picks Haswell's) the comparison is skipped. After an intended numerical change,
-- or on a new machine type, regenerate them with
--   ENTRO_UPDATE_GOLDEN=1 ./entro tests/lua/run.lua tests/lua/test_golden.lua
-- which rewrites the block below, and review the diff.

-- golden:begin
local GOLDEN_CORE = "SkylakeX"
local GOLDEN = {
  cka_hidden_input = 0.78430703303944338,
  hessian_trace = 14.811608480425656,
  langevin_norm = 1.7251941492665326,
  sgd_full_loss = 0.057819092836892953,
  sgd_last_batch_loss = 0.086929652854388209,
  sharpness = 5.0569590058944334,
}
-- golden:end

local function run()
  local X, Y = data.teacher{n = 128, din = 6, dout = 1, hidden = {12}, noise = 0.2, rng = tensor.rng(21)}
  local g = tensor.rng(22)
  local net = nn.mlp{6, 16, 16, 1, act = "tanh", rng = g}
  local opt = optim.sgd(net:parameters(), {lr = 0.05, momentum = 0.9, weight_decay = 1e-4,
                                           noise = {std = 1e-3, rng = tensor.rng(23)}})
  local loss
  for _, xb, yb in data.loader(X, Y, {batch = 8, steps = 300, rng = g, progress = false}) do
    loss = nn.mse(net(xb), yb)
    opt:zero_grad(); loss:backward(); opt:step()
  end
  local function full() return nn.mse(net(X), Y) end
  local out = {}
  out.sgd_last_batch_loss = loss:item()
  out.sgd_full_loss = full():item()
  out.sharpness = diag.sharpness(full, net:parameters(), {maxiter = 30, rng = tensor.rng(24)}).max
  out.hessian_trace = diag.hessian_trace(full, net:parameters(), {samples = 20, rng = tensor.rng(25)})
  local H = tensor.no_grad(function() return net.layers[2](net.layers[1](X)) end)
  out.cka_hidden_input = diag.cka(H, X)
  -- Langevin dynamics: the temperature's noise comes from its generator
  local w = tensor.rng(26):randn(5, 3):requires_grad()
  local lv = optim.langevin({w}, {lr = 0.01, temperature = 0.5, rng = tensor.rng(27)})
  for _ = 1, 50 do
    local l = (w:matmul(w:t()) - tensor.eye(5)):square():sum()
    lv:zero_grad(); l:backward(); lv:step()
  end
  out.langevin_norm = w:detach():norm()
  for k, v in pairs(out) do if tensor.is_tensor(v) then out[k] = v:item() end end
  return out
end

local function update(values)
  local path = debug.getinfo(1, "S").source:gsub("^@", "")
  local f = assert(io.open(path, "rb"))
  local src = f:read("a")
  f:close()
  local keys = {}
  for k in pairs(values) do keys[#keys + 1] = k end
  table.sort(keys)
  local lines = {"-- golden:begin", string.format("local GOLDEN_CORE = %q", entro.blas().core), "local GOLDEN = {"}
  for _, k in ipairs(keys) do lines[#lines + 1] = string.format("  %s = %.17g,", k, values[k]) end
  lines[#lines + 1] = "}"
  lines[#lines + 1] = "-- golden:end"
  local new, n = src:gsub("%-%- golden:begin\n.-%-%- golden:end", function() return table.concat(lines, "\n") end)
  assert(n == 1, "the golden block was not found in " .. path)
  f = assert(io.open(path, "wb"))
  f:write(new)
  f:close()
  io.write("  golden values written to ", path, "\n")
end

test("end-to-end numbers are unchanged to the last bit", function()
  local got = run()
  if os.getenv("ENTRO_UPDATE_GOLDEN") == "1" then return update(got) end
  local core = entro.blas().core
  if core ~= GOLDEN_CORE then
    skip(string.format("the golden values are for OpenBLAS's %s kernels, this run uses %s", GOLDEN_CORE, core))
  end
  local bad = {}
  for k, v in pairs(got) do
    if GOLDEN[k] == nil then bad[#bad + 1] = string.format("%s: no golden value (got %.17g)", k, v)
    elseif not (v == GOLDEN[k]) then
      bad[#bad + 1] = string.format("%s: %.17g, golden %.17g", k, v, GOLDEN[k])
    end
  end
  table.sort(bad)
  if #bad > 0 then
    error("numbers changed (if intended, see the top of this file to regenerate):\n  " .. table.concat(bad, "\n  "))
  end
end)

test("the golden run gives the same bits twice in one process", function()
  local a, b = run(), run()
  for k, v in pairs(a) do eq(b[k], v, k) end
end)
