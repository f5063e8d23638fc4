-- run.lua -- `make bench`: entro against PyTorch on the same machine in the same run, with
-- plain-C and OpenBLAS references, as ratios. Writes out/bench/results.{txt,csv} and
-- out/bench/ratios.png; bench/README.md says what each figure means.
--
-- A workload is one entry of W below: an entro function (builds its tensors, returns run(n)
-- doing n calls), a function of the same name in bench/torch_ref.py, and optionally a `ref`
-- for the C helper (bench/cref.c). Adding a workload = one entry here + one function there.
--
-- The machine is shared and its speed drifts, so the three sides are interleaved: each of
-- ROUNDS rounds times every workload once on each side (in an order that rotates), and a
-- figure is the median over rounds with its min-max. Each sample is preceded by a warm-up
-- that doubles the call count until a sample lasts MIN_TIME seconds.
--
-- Environment: BENCH_ROUNDS (default 7), BENCH_ONLY (a Lua pattern on workload names),
-- BENCH_PYTHON (default /usr/bin/python3), ENTRO_BENCH_CREF (default build/bench/cref).
local log = require "entro.log"

local ROUNDS = math.tointeger(tonumber(os.getenv("BENCH_ROUNDS") or "7")) or 7
local ONLY = os.getenv("BENCH_ONLY")
local MIN_TIME = 0.05
local PYTHON = os.getenv("BENCH_PYTHON") or "/usr/bin/python3"
local CREF = os.getenv("ENTRO_BENCH_CREF") or "build/bench/cref"
local OUT = "out/bench"

local clock = entro.clock
local function allocs() return select(2, entro.mem()).allocs end
local function randn(...) return tensor.rng(1):randn(...) end

-- median, min, max of a list of numbers (nil when empty)
local function stats(xs)
  if not xs or #xs == 0 then return nil end
  local s = {}
  for i, x in ipairs(xs) do s[i] = x end
  table.sort(s)
  local n = #s
  local med = n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
  return {median = med, min = s[1], max = s[n], n = n}
end

---------------------------------------------------------------------------------------------
-- workloads: name, what entro and torch run, unit of the figure (GFLOP/s and GB/s from
-- `work` flops or bytes per call; a time per call otherwise: ns/call, us/step, ms/call,
-- s/call, s/epoch), entro = setup returning run(n) (and optionally probe(), a figure of the
-- last call), torch = false when torch_ref.py has no match, ref = "kind:n" for cref.

local W = {}
local function workload(w) W[#W + 1] = w end

workload{name = "matmul_1024", unit = "GFLOP/s", work = 2 * 1024 ^ 3, ref = "dgemm:1024",
  what = "a:matmul(b, c), 1024x1024, out given", torch_what = "torch.mm(a, b, out=c)",
  entro = function()
    local a, b, c = randn(1024, 1024), randn(1024, 1024), tensor.zeros(1024, 1024)
    return function(n) for _ = 1, n do a:matmul(b, c) end end
  end}

-- a*x + b and sum over n contiguous doubles; bytes are those each kernel pass reads and writes
local A, B = 1.0000001, 1e-9
for _, size in ipairs{{1000000, "1e6"}, {10000000, "1e7"}} do
  local n, tag = size[1], size[2]
  workload{name = "mul_add_" .. tag, unit = "GB/s", work = 32 * n, ref = "mul_add:" .. n,
    what = "x:mul(a):add(b), allocating (2 passes)", torch_what = "x.mul(a).add(b)",
    entro = function()
      local x = randn(n)
      return function(k) for _ = 1, k do local _ = x:mul(A):add(B) end end
    end}
  workload{name = "mul_add_out_" .. tag, unit = "GB/s", work = 32 * n, ref = "mul_add:" .. n,
    what = "x:mul(a, t):add(b, y) (2 passes)",
    torch_what = "torch.add(torch.mul(x, a, out=t), b, out=y)",
    entro = function()
      local x, t, y = randn(n), tensor.zeros(n), tensor.zeros(n)
      return function(k) for _ = 1, k do x:mul(A, t):add(B, y) end end
    end}
  workload{name = "affine_out_" .. tag, unit = "GB/s", work = 16 * n, ref = "affine:" .. n,
    what = "x:affine(a, b, y) (1 pass)", torch_what = "torch.add(b0d, x, alpha=a, out=y)",
    entro = function()
      local x, y = randn(n), tensor.zeros(n)
      return function(k) for _ = 1, k do x:affine(A, B, y) end end
    end}
  workload{name = "sum_" .. tag, unit = "GB/s", work = 8 * n, ref = "sum:" .. n,
    what = "x:sum()", torch_what = "x.sum()",
    entro = function()
      local x = randn(n)
      return function(k) for _ = 1, k do local _ = x:sum() end end
    end}
end

-- memory bandwidth for judging the rows above: memcpy of 80 MB, one and two threads (C only)
workload{name = "memcpy_1e7", unit = "GB/s", work = 16e7, ref = "copy:10000000",
  what = "C memcpy, 10^7 doubles, 1 thread"}
workload{name = "memcpy2_1e7", unit = "GB/s", work = 16e7, ref = "copy2:10000000",
  what = "C memcpy, 10^7 doubles, 2 threads"}

-- per-op overhead on a 10-element tensor, called from Lua (from Python for torch)
workload{name = "add_out_10", unit = "ns/call", what = "a:add(b, c)",
  torch_what = "torch.add(a, b, out=c)",
  entro = function()
    local a, b, c = randn(10), randn(10), tensor.zeros(10)
    return function(n) for _ = 1, n do a:add(b, c) end end
  end}
workload{name = "add_alloc_10", unit = "ns/call", what = "a:add(b)", torch_what = "torch.add(a, b)",
  entro = function()
    local a, b = randn(10), randn(10)
    return function(n) for _ = 1, n do local _ = a:add(b) end end
  end}
workload{name = "sum_10", unit = "ns/call", what = "a:sum()", torch_what = "a.sum()",
  entro = function()
    local a = randn(10)
    return function(n) for _ = 1, n do local _ = a:sum() end end
  end}
workload{name = "get_10", unit = "ns/call", what = "a:get(1)", torch_what = "a[0].item()",
  entro = function()
    local a = randn(10)
    return function(n) for _ = 1, n do local _ = a:get(1) end end
  end}

-- Issue 8: training and diagnostics, written as a user writes them. Fields: target = the goal
-- for entro/torch (time ratio); step = true: a training step, whose storages from malloc
-- must be 0 after warm-up; warmup / calls: see sample(); rounds = in how many of the rounds
-- a long workload runs.
--
-- entro's training steps warm up for `steps` steps in their setup: its storage cache fills
-- only as the collector paces itself, over about 80 steps of the mid MLP (3 storages a step
-- until then); torch's allocator is warm after a step, which the protocol's warm-up gives.

-- Σ in·out over an MLP's layers, from the first layer on (from = 1) or after it (from = 2)
local function sum_in_out(sizes, from)
  local s = 0
  for i = from, #sizes - 1 do s = s + sizes[i] * sizes[i + 1] end
  return s
end

-- A ReLU MLP of these sizes, a batch X of B rows and targets Y (1-based class labels for
-- cross-entropy, N(0, 1) for mse), SGD with lr = 0.01.
local function mlp_setup(sizes, B, loss)
  local g = tensor.rng(1)
  local spec = {act = "relu", rng = g}
  for i, s in ipairs(sizes) do spec[i] = s end
  local net = nn.mlp(spec)
  local X = g:randn(B, sizes[1])
  local Y = loss == "mse" and g:randn(B, sizes[#sizes]) or g:randint(1, sizes[#sizes], B)
  return net, X, Y, optim.sgd(net:parameters(), {lr = 0.01}), nn[loss]
end

-- setup for a training step: forward, loss, zero_grad, backward, update
local function mlp_step(sizes, B, loss, warm)
  return function()
    local net, X, Y, opt, loss_fn = mlp_setup(sizes, B, loss)
    local function run(n)
      for _ = 1, n do
        local l = loss_fn(net(X), Y)
        opt:zero_grad(); l:backward(); opt:step()
      end
    end
    run(warm)
    return run
  end
end

-- torch runs these with OMP_WAIT_POLICY=passive, in a process of their own: by default its
-- OpenMP threads spin between ops and take the cores from OpenBLAS's threads (four busy
-- threads on two cores), which made its training steps 2-5x slower, erratically, and its
-- Hessian 3x (bench/README.md). The microbenchmarks above keep the default, which suits
-- back-to-back elementwise kernels.
local PASSIVE = "OMP_WAIT_POLICY=passive"

local TINY, MID, WIDE = {10, 32, 32, 1}, {784, 256, 256, 10}, {784, 1024, 1024, 10}
workload{name = "mlp_tiny_step", unit = "us/step", step = true, target = 0.1, torch_env = PASSIVE,
  what = "SGD step, MLP 10-32-32-1 ReLU, batch 16, nn.mse",
  torch_what = "the same step (nn.Sequential, F.mse_loss, optim.SGD)",
  entro = mlp_step(TINY, 16, "mse", 200)}
workload{name = "mlp_mid_step", unit = "us/step", step = true, target = 0.8, torch_env = PASSIVE,
  what = "SGD step, MLP 784-256-256-10 ReLU, batch 128, nn.cross_entropy",
  torch_what = "the same step (F.cross_entropy)",
  entro = mlp_step(MID, 128, "cross_entropy", 100)}

-- Per-layer gradient norms logged every step. One call is a plain step and a monitored step
-- (mon:record between backward and the update), in alternating order, each timed alone;
-- probe() gives the median over the sample's 50 pairs of monitored/plain - 1, which load
-- drifting between samples, or preempting a single step, hardly moves.
workload{name = "mlp_mid_monitor", unit = "us/pair", calls = 50, step = true, torch = false,
  target_overhead = 5,
  what = "mlp_mid_step, and the same step + diag.monitor(net, {every = 1, 'grad_norms'}):record",
  entro = function()
    local net, X, Y, opt, loss_fn = mlp_setup(MID, 128, "cross_entropy")
    local mon, step, ratios = diag.monitor(net, {every = 1, "grad_norms"}), 0, {}
    local function train(record)
      local t0 = clock()
      local l = loss_fn(net(X), Y)
      opt:zero_grad(); l:backward()
      if record then
        step = step + 1
        mon:record(step)
      end
      opt:step()
      return clock() - t0
    end
    local function run(n)
      ratios = {}
      for i = 1, n do
        local plain, monitored
        if i % 2 == 1 then plain = train(false); monitored = train(true)
        else monitored = train(true); plain = train(false) end
        ratios[i] = monitored / plain - 1
      end
    end
    run(50)
    return run, function() return stats(ratios).median end
  end}

-- The flops a step needs: forward 2·B·Σ in·out, dW as much, dX for every layer but the first
-- (the input needs no gradient; neither side computes it). Roofline: this rate over OpenBLAS
-- dgemm 1024²'s, measured by cref in the same round.
workload{name = "mlp_wide_step", unit = "us/step", step = true, target = 0.9, torch_env = PASSIVE,
  work = 2 * 256 * (2 * sum_in_out(WIDE, 1) + sum_in_out(WIDE, 2)),
  ref = "dgemm:1024", ref_work = 2 * 1024 ^ 3, target_roofline = 70,
  what = "SGD step, MLP 784-1024-1024-10 ReLU, batch 256, nn.cross_entropy",
  torch_what = "the same step (F.cross_entropy)",
  entro = mlp_step(WIDE, 256, "cross_entropy", 20)}

-- One epoch over Fashion-MNIST's 60000 training images. Both sides read the files each round
-- (torch runs in a fresh process; entro drops the 376 MB after its sample, lest they raise
-- its collector's full-collection mark for the rows after), warm up with 20 steps in the
-- setup, then time one epoch.
workload{name = "fmnist_epoch", unit = "s/epoch", warmup = 0, calls = 1, rounds = 3,
  target = 0.7, torch_env = PASSIVE,
  what = "1 epoch of Fashion-MNIST (60000x784), MLP 784-256-10 ReLU, batch 128, " ..
         "SGD lr 0.05 momentum 0.9, shuffled by data.loader",
  torch_what = "the same (data read from the IDX files by gzip + numpy; batches by randperm " ..
               "and indexing)",
  entro = function()
    local X, Y = data.fashion_mnist{split = "train"}
    local g = tensor.rng(1)
    local net = nn.mlp{784, 256, 10, act = "relu", rng = g}
    local opt = optim.sgd(net:parameters(), {lr = 0.05, momentum = 0.9})
    local function train(how)
      how.batch, how.rng, how.progress = 128, g, false
      for _, xb, yb in data.loader(X, Y, how) do
        local l = nn.cross_entropy(net(xb), yb)
        opt:zero_grad(); l:backward(); opt:step()
      end
    end
    train{steps = 20}
    return function(n) train{epochs = n} end
  end}

-- Top Hessian eigenvalue by 20 Lanczos iterations = 20 exact HVPs on both sides. Both warm
-- up with a 2-iteration run in the setup.
workload{name = "hessian_top", unit = "s/call", warmup = 0, calls = 1, rounds = 3,
  target = 0.7, torch_env = PASSIVE,
  what = "diag.sharpness(loss_fn, params, {maxiter = 20}), MLP 784-256-256-10, batch 1024, " ..
         "cross-entropy (the gradient once with create_graph, then one backward per HVP)",
  torch_what = "20-step Lanczos, full reorthogonalisation; PyHessian's HVPs: grads once with " ..
               "create_graph=True, then autograd.grad(grads, params, grad_outputs=v)",
  entro = function()
    local net, X, Y = mlp_setup(MID, 1024, "cross_entropy")
    local function loss_fn() return nn.cross_entropy(net(X), Y) end
    local params, g = net:parameters(), tensor.rng(2)
    diag.sharpness(loss_fn, params, {maxiter = 2, rng = g})
    return function(n)
      for _ = 1, n do diag.sharpness(loss_fn, params, {maxiter = 20, rng = g}) end
    end
  end}

workload{name = "cka_2048x256", unit = "ms/call", target = 1.0, torch_env = PASSIVE,
  what = "diag.cka(X, Y), linear, two 2048x256 matrices",
  torch_what = "numpy: centre, |Yc^T Xc|_F^2 / (|Xc^T Xc|_F |Yc^T Yc|_F)",
  entro = function()
    local X, Y = randn(2048, 256), tensor.rng(2):randn(2048, 256)
    return function(n) for _ = 1, n do diag.cka(X, Y) end end
  end}
workload{name = "mknn_1024x256", unit = "ms/call", torch_env = PASSIVE,
  what = "diag.mutual_knn(X, Y, {k = 10}), two 1024x256 matrices",
  torch_what = "normalise rows, X X^T, diagonal -inf, torch.topk, intersection of the sets",
  entro = function()
    local X, Y = randn(1024, 256), tensor.rng(2):randn(1024, 256)
    return function(n) for _ = 1, n do diag.mutual_knn(X, Y, {k = 10}) end end
  end}

if ONLY then
  local kept = {}
  for _, w in ipairs(W) do if w.name:match(ONLY) then kept[#kept + 1] = w end end
  W = kept
  if #W == 0 then error("bench: BENCH_ONLY='" .. ONLY .. "' matches no workload", 0) end
end

---------------------------------------------------------------------------------------------
-- measuring

local function timed(run, n)
  local t0 = clock()
  run(n)
  return clock() - t0
end

-- One sample: seconds per call, calls, storages taken from malloc per call. Warm-up: w.warmup
-- calls (default 1), then, unless w.calls fixes the count, doubling the calls until a sample
-- lasts MIN_TIME.
local function sample(run, w)
  if (w.warmup or 1) > 0 then run(w.warmup or 1) end
  local n = w.calls or 1
  while not w.calls and timed(run, n) < MIN_TIME do n = n * 2 end
  local a0 = allocs()
  local t = timed(run, n)
  return t / n, n, (allocs() - a0) / n
end

local function shq(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- Runs a helper; returns {info = {k = v}, time = {name = seconds}} or nil and its output.
local function helper(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local text = p:read("a")
  local ok = p:close()
  local r = {info = {}, time = {}}
  for line in text:gmatch("[^\n]+") do
    local k, v = line:match("^info (%S+) (.*)$")
    if k then r.info[k] = v end
    local name, s = line:match("^time (%S+) (%S+)")
    if name then r.time[name] = tonumber(s) end
  end
  if not ok then return nil, text end
  return r
end

local blas = entro.blas()
-- entro's own elementwise pool gets the thread count every side gets (by default it would take
-- every CPU, whatever OPENBLAS_NUM_THREADS says)
entro.set_threads(blas.threads)
local coretype = os.getenv("OPENBLAS_CORETYPE")   -- entro's choice, or the user's
local timeout = os.getenv("OPENBLAS_THREAD_TIMEOUT")   -- likewise (bindings/core/blas.c)
local env = string.format("OPENBLAS_NUM_THREADS=%d %s %s", blas.threads,
                          coretype and ("OPENBLAS_CORETYPE=" .. shq(coretype)) or "",
                          timeout and ("OPENBLAS_THREAD_TIMEOUT=" .. shq(timeout)) or "")

local samples = {}   -- samples[name][side] = array of seconds per call
local allocs_per_call = {}
local info = {torch = {}, ref = {}}
local trouble = {}   -- side -> message, once it failed (then it is skipped)

local function record(name, side, s)
  samples[name] = samples[name] or {}
  samples[name][side] = samples[name][side] or {}
  table.insert(samples[name][side], s)
end

local round = 0   -- the current round
-- whether w runs this round (w.rounds caps the rounds of a long workload)
local function active(w) return round <= (w.rounds or ROUNDS) end

-- The keys a helper process runs this round; for torch, those of one torch_env.
local function names_for(side, torch_env)
  local list, seen = {}, {}
  for _, w in ipairs(W) do
    -- torch_ref.py takes NAME:WARMUP:CALLS (CALLS 0: doubling to MIN_TIME)
    local key = active(w) and ((side == "torch" and w.entro and w.torch ~= false
                                and (w.torch_env or "") == torch_env
                                and string.format("%s:%d:%d", w.name, w.warmup or 1, w.calls or 0))
                               or (side == "ref" and w.ref))
    if key and not seen[key] then list[#list + 1], seen[key] = key, true end
  end
  return list
end

local function run_entro()
  for _, w in ipairs(W) do
    if w.entro and active(w) then
      local run, probe = w.entro()
      local s, _, a = sample(run, w)
      record(w.name, "entro", s)
      if probe then record(w.name, "probe", probe()) end
      allocs_per_call[w.name] = math.max(allocs_per_call[w.name] or 0, a)
      collectgarbage()
    end
  end
end

local function run_helper(side, cmd, list)
  if trouble[side] or #list == 0 then return end
  local r, err = helper(cmd .. " " .. table.concat(list, " "))
  if not r then
    trouble[side] = err:gsub("%s+$", "")
    io.stderr:write(string.format("bench: the %s side failed; skipping it:\n%s\n", side, trouble[side]))
    return
  end
  for k, v in pairs(r.info) do info[side][k] = v end
  for _, w in ipairs(W) do
    local key = side == "torch" and w.name or w.ref
    if key and r.time[key] and (side ~= "torch" or w.entro) then record(w.name, side, r.time[key]) end
  end
end

local sides = {
  entro = run_entro,
  -- one torch process per torch_env (in W's order)
  torch = function()
    local seen = {}
    for _, w in ipairs(W) do
      local e = w.torch_env or ""
      if not seen[e] then
        seen[e] = true
        run_helper("torch", string.format("%s %s %s bench/torch_ref.py --threads %d", env, e,
                                          shq(PYTHON), blas.threads), names_for("torch", e))
      end
    end
  end,
  ref = function() run_helper("ref", env .. " " .. shq(CREF), names_for("ref")) end,
}

-- CPU ticks: {busy, total} over all CPUs (/proc/stat), and this process's own with its
-- waited-for children (/proc/self/stat); nil where /proc is missing.
local function cpu_ticks()
  local f = io.open("/proc/stat")
  if not f then return nil end
  local v = {}
  for n in f:read("l"):gmatch("%d+") do v[#v + 1] = tonumber(n) end
  f:close()
  local total = 0
  for i = 1, 8 do total = total + (v[i] or 0) end
  local busy = total - (v[4] or 0) - (v[5] or 0)   -- all but idle and iowait
  local g = io.open("/proc/self/stat")
  if not g then return nil end
  local rest = g:read("l"):match("%)%s+(.*)$")
  g:close()
  local w = {}
  for x in rest:gmatch("%S+") do w[#w + 1] = x end
  local own = 0
  for i = 12, 15 do own = own + tonumber(w[i]) end   -- utime stime cutime cstime
  return {busy = busy, total = total, own = own}
end

local ticks_before = cpu_ticks()
local t_start = clock()
local order = {"entro", "torch", "ref"}
for r = 1, ROUNDS do
  round = r
  local this = {}
  for k = 0, 2 do this[#this + 1] = order[(r - 1 + k) % 3 + 1] end
  io.stderr:write(string.format("bench: round %d/%d (%s)\n", r, ROUNDS, table.concat(this, ", ")))
  for _, side in ipairs(this) do sides[side]() end
end
local ticks_after = cpu_ticks()
-- the share of all CPUs' time that other processes used while the bench ran
local others
if ticks_before and ticks_after and ticks_after.total > ticks_before.total then
  local busy = ticks_after.busy - ticks_before.busy
  local own = ticks_after.own - ticks_before.own
  others = math.max(0, busy - own) / (ticks_after.total - ticks_before.total)
end

---------------------------------------------------------------------------------------------
-- statistics and report

-- The figure in the workload's unit from seconds per call: a time, or a rate from w.work.
local PER_SECOND = {["ns/call"] = 1e9, ["us/step"] = 1e6, ["us/pair"] = 1e6, ["ms/call"] = 1e3,
                    ["s/call"] = 1, ["s/epoch"] = 1}
local function value(w, secs)
  if PER_SECOND[w.unit] then return secs * PER_SECOND[w.unit] end
  return w.work / secs / 1e9   -- GFLOP/s or GB/s
end

local function fmt(v) return v >= 100 and string.format("%.0f", v) or string.format("%.3g", v) end

-- "median [lo-hi]" in the unit (a rate's lo comes from the slowest sample)
local function cell(w, st)
  if not st then return "-" end
  local a, b, c = value(w, st.median), value(w, st.min), value(w, st.max)
  if b > c then b, c = c, b end
  return string.format("%s [%s-%s]", fmt(a), fmt(b), fmt(c))
end

local function cpuinfo()
  local model, ncpu, avx512 = "?", 0, false
  local f = io.open("/proc/cpuinfo")
  if f then
    for line in f:lines() do
      local m = line:match("^model name%s*:%s*(.-)%s*$")
      if m then model = m; ncpu = ncpu + 1 end
      if line:match("^flags") and line:match(" avx512f") then avx512 = true end
    end
    f:close()
  end
  return model, ncpu, avx512
end

-- How the C reference's figure is shown: in the row's unit, or as its own GFLOP/s when it
-- does other work than the row (w.ref_work flops per call)
local function ref_w(w) return w.ref_work and {unit = "GFLOP/s", work = w.ref_work} or w end

-- Per-round quotients a[i] / b[i] of two sides' samples (taken in the same round).
local function paired(a, b)
  local q = {}
  for i = 1, math.min(a and #a or 0, b and #b or 0) do q[i] = a[i] / b[i] end
  return stats(q)
end

local rows, by_name = {}, {}
for _, w in ipairs(W) do
  local s = samples[w.name] or {}
  local row = {w = w, entro = stats(s.entro), torch = stats(s.torch), ref = stats(s.ref),
               rounds_ratio = paired(s.entro, s.torch)}
  if row.entro and row.torch then row.ratio = row.entro.median / row.torch.median end
  -- the C reference's rate over entro's; w.ref_work when the reference does other work
  -- (the wide MLP step against dgemm: the fraction of the dgemm roofline)
  if row.entro and row.ref then
    row.pct = 100 * row.ref.median / row.entro.median * (w.ref_work and w.work / w.ref_work or 1)
  end
  if w.target_overhead then row.overhead = stats(s.probe) end
  rows[#rows + 1], by_name[w.name] = row, row
end

-- The issue-8 targets, one line each: {row, what, figure, target text, met}.
local checks = {}
for _, r in ipairs(rows) do
  local w = r.w
  local function check(what, figure, target, met)
    checks[#checks + 1] = {w.name, what, figure, target, met == nil and "not measured"
                           or (met and "met" or "MISSED")}
  end
  if w.target then
    local q = r.rounds_ratio
    check("entro/torch", r.ratio and string.format("%.2f [%.2f-%.2f]", r.ratio, q.min, q.max) or "-",
          string.format("<= %g", w.target), r.ratio and r.ratio <= w.target)
  end
  if w.target_roofline then
    check("% of dgemm peak", r.pct and string.format("%.0f%%", r.pct) or "-",
          string.format(">= %g%%", w.target_roofline), r.pct and r.pct >= w.target_roofline)
  end
  if w.target_overhead then
    local o = r.overhead
    local m = o and 100 * o.median
    check("logging overhead", o and string.format("%.1f%% [%.1f-%.1f]", m, 100 * o.min,
                                                  100 * o.max) or "-",
          string.format("<= %g%%", w.target_overhead), m and m <= w.target_overhead)
  end
  if w.step then
    local a = allocs_per_call[w.name]
    check("storages malloc'd per step", a and string.format("%.3g", a) or "-", "0",
          a and a == 0)
  end
end

local model, ncpu, avx512 = cpuinfo()
local L = {}
local function out(fmt_, ...) L[#L + 1] = string.format(fmt_, ...) end
out("entro bench, %s (%d rounds, %.0f s)", os.date("%Y-%m-%d %H:%M"), ROUNDS, clock() - t_start)
out("machine: %s, %d CPUs%s; other processes used %s of the CPU time during the run", model,
    ncpu, avx512 and ", AVX-512" or "", others and string.format("%.0f%%", 100 * others) or "?")
out("entro %s: OpenBLAS core %s%s, %d threads",
    entro.version, blas.core, blas.coretype_set_by_entro and " (OPENBLAS_CORETYPE set by entro)" or "",
    blas.threads)
if trouble.torch then
  out("torch: not measured (%s)", trouble.torch:match("[^\n]*"))
elseif next(info.torch) then
  out("torch %s: OpenBLAS core %s, %s OpenBLAS threads, %s intra-op threads (%s)",
      info.torch.torch_version or "?", info.torch.openblas_core or "?",
      info.torch.openblas_threads or "?", info.torch.torch_threads or "?", PYTHON)
end
if trouble.ref then
  out("C reference: not measured (%s)", trouble.ref:match("[^\n]*"))
elseif next(info.ref) then
  out("C reference (bench/cref.c): OpenBLAS core %s, %s threads; loops -O2 -march=native, 1 thread",
      info.ref.openblas_core or "?", info.ref.openblas_threads or "?")
end
if others and others > 0.1 then
  out("WARNING: the machine was busy; multi-threaded figures (dgemm, torch's elementwise ops)")
  out("may be far below their quiet values, and the spreads wide")
  if blas.threads > 1 then
    out("torch's intra-op threads meet at every op, so a busy machine slows its training steps")
    out("most (up to 10x), which flatters entro/torch: OPENBLAS_NUM_THREADS=1 compares one thread")
  end
end
out("each figure: median over rounds [min-max]; entro/torch = ratio of median times (lower is")
out("better); %% of C = entro's rate over the C reference's rate (higher is better)")
out("")
local head = string.format("%-16s %-8s %-22s %-22s %11s  %-22s %6s %7s",
                           "workload", "unit", "entro", "torch", "entro/torch", "C reference", "% of C",
                           "allocs")
out("%s", head)
out("%s", string.rep("-", #head))
for _, r in ipairs(rows) do
  local w = r.w
  local ref = cell(ref_w(w), r.ref) .. (w.ref_work and r.ref and " GF/s" or "")
  out("%-16s %-8s %-22s %-22s %11s  %-22s %6s %7s", w.name, w.unit, cell(w, r.entro),
      cell(w, r.torch), r.ratio and string.format("%.2f", r.ratio) or "-", ref,
      r.pct and string.format("%.0f", r.pct) or "-",
      allocs_per_call[w.name] and string.format("%.3g", allocs_per_call[w.name]) or "-")
end
out("")
out("allocs = storages entro took from malloc per call during the timed sample (max over rounds)")
if by_name.mlp_wide_step then
  out("mlp_wide_step: %% of C = its flop rate over OpenBLAS dgemm 1024^2's (the roofline)")
end
out("")
if #checks > 0 then
  out("targets (issue 8): median [min-max over rounds of the per-round figure]")
  for _, c in ipairs(checks) do out("  %-16s %-27s %-24s %-8s %s", c[1], c[2], c[3], c[4], c[5]) end
  out("")
end
out("workloads:")
for _, w in ipairs(W) do
  out("  %-16s entro: %s%s", w.name, w.what,
      w.torch_what and ("; torch: " .. w.torch_what) or "")
end
local text = table.concat(L, "\n") .. "\n"
io.write(text)
io.stdout:flush()

os.execute("mkdir -p " .. shq(OUT))
local f = assert(io.open(OUT .. "/results.txt", "w"))
f:write(text)
f:close()

local columns = {"workload", "unit", "work", "entro_median_s", "entro_min_s", "entro_max_s",
                 "torch_median_s", "torch_min_s", "torch_max_s", "ref_median_s", "ref_min_s",
                 "ref_max_s", "entro_value", "torch_value", "ref_value", "entro_over_torch",
                 "entro_pct_of_ref", "entro_allocs_per_call", "rounds", "cpu", "ncpu", "threads",
                 "entro_blas_core", "torch_blas_core", "others_cpu_share", "overhead_pct"}
do
  local csv <close> = log.csv(OUT .. "/results.csv", {columns = columns})
  for _, r in ipairs(rows) do
    local w = r.w
    local row = {workload = w.name, unit = w.unit, work = w.work, rounds = ROUNDS, cpu = model,
                 ncpu = ncpu, threads = blas.threads, entro_blas_core = blas.core,
                 torch_blas_core = info.torch.openblas_core, others_cpu_share = others}
    for _, side in ipairs{"entro", "torch", "ref"} do
      local st = r[side]
      if st then
        row[side .. "_median_s"], row[side .. "_min_s"], row[side .. "_max_s"] = st.median, st.min, st.max
        row[side .. "_value"] = value(side == "ref" and ref_w(w) or w, st.median)
      end
    end
    row.entro_over_torch, row.entro_pct_of_ref = r.ratio, r.pct
    row.entro_allocs_per_call = allocs_per_call[w.name]
    row.overhead_pct = r.overhead and 100 * r.overhead.median
    csv:write(row)
  end
end

local fig = plot.figure{title = "entro / torch, time per call (lower is better)",
                        xlabel = "workload", ylabel = "median time ratio", logy = true,
                        key = "outside right", size = {1100, 550}, out = OUT .. "/ratios.png"}
-- one point per workload at its median ratio, with a bar over the range of its samples
local COLORS = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                "#7f7f7f", "#bcbd22", "#17becf"}
local x, any = 0, false
for _, r in ipairs(rows) do
  if r.ratio then
    x = x + 1
    any = true
    local color = COLORS[(x - 1) % #COLORS + 1]
    local lo, hi = r.entro.min / r.torch.max, r.entro.max / r.torch.min
    fig:line({x, x}, {lo, hi}, {color = color, width = 1})
    fig:scatter({x}, {r.ratio}, {label = r.w.name, size = 1.5, color = color,
                                 marker = x > #COLORS and "square" or "circle"})
  end
end
if any then
  fig:set{xrange = {0, x + 1}}
  fig:hline(1, {label = "parity"})
  local ok, err = pcall(fig.save, fig)
  if not ok then io.stderr:write("bench: no plot: " .. tostring(err) .. "\n") end
end
io.stderr:write(string.format("bench: wrote %s/results.txt, results.csv%s\n", OUT,
                              any and ", ratios.png" or ""))
