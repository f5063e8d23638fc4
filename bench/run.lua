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

---------------------------------------------------------------------------------------------
-- workloads: name, what entro and torch run, unit of the figure (GFLOP/s and GB/s from
-- `work` flops or bytes per call; ns/call without), entro = setup returning run(n),
-- torch = false when torch_ref.py has no match, ref = "kind:n" for cref.

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

-- One sample: seconds per call, calls, storages taken from malloc per call.
local function sample(run)
  run(1)
  local n = 1
  while timed(run, n) < MIN_TIME do n = n * 2 end
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
local coretype = os.getenv("OPENBLAS_CORETYPE")   -- entro's choice, or the user's
local env = string.format("OPENBLAS_NUM_THREADS=%d %s", blas.threads,
                          coretype and ("OPENBLAS_CORETYPE=" .. shq(coretype)) or "")

local samples = {}   -- samples[name][side] = array of seconds per call
local allocs_per_call = {}
local info = {torch = {}, ref = {}}
local trouble = {}   -- side -> message, once it failed (then it is skipped)

local function record(name, side, s)
  samples[name] = samples[name] or {}
  samples[name][side] = samples[name][side] or {}
  table.insert(samples[name][side], s)
end

local function names_for(side)
  local list, seen = {}, {}
  for _, w in ipairs(W) do
    local key = (side == "torch" and w.entro and w.torch ~= false and w.name)
                or (side == "ref" and w.ref)
    if key and not seen[key] then list[#list + 1], seen[key] = key, true end
  end
  return list
end

local function run_entro()
  for _, w in ipairs(W) do
    if w.entro then
      local s, _, a = sample(w.entro())
      record(w.name, "entro", s)
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
  torch = function()
    run_helper("torch", string.format("%s %s bench/torch_ref.py --threads %d", env, shq(PYTHON),
                                      blas.threads), names_for("torch"))
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

local function stats(xs)
  if not xs or #xs == 0 then return nil end
  local s = {}
  for i, x in ipairs(xs) do s[i] = x end
  table.sort(s)
  local n = #s
  local med = n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
  return {median = med, min = s[1], max = s[n], n = n}
end

-- The figure in the workload's unit from seconds per call.
local function value(w, secs)
  if w.unit == "ns/call" then return secs * 1e9 end
  if w.unit == "GFLOP/s" then return w.work / secs / 1e9 end
  return w.work / secs / 1e9   -- GB/s
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

local rows = {}
for _, w in ipairs(W) do
  local s = samples[w.name] or {}
  local row = {w = w, entro = stats(s.entro), torch = stats(s.torch), ref = stats(s.ref)}
  if row.entro and row.torch then row.ratio = row.entro.median / row.torch.median end
  if row.entro and row.ref then row.pct = 100 * row.ref.median / row.entro.median end
  rows[#rows + 1] = row
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
  out("%-16s %-8s %-22s %-22s %11s  %-22s %6s %7s", w.name, w.unit, cell(w, r.entro),
      cell(w, r.torch), r.ratio and string.format("%.2f", r.ratio) or "-", cell(w, r.ref),
      r.pct and string.format("%.0f", r.pct) or "-",
      allocs_per_call[w.name] and string.format("%.3g", allocs_per_call[w.name]) or "-")
end
out("")
out("allocs = storages entro took from malloc per call during the timed sample (max over rounds)")
out("")
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
                 "entro_blas_core", "torch_blas_core", "others_cpu_share"}
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
        row[side .. "_value"] = value(w, st.median)
      end
    end
    row.entro_over_torch, row.entro_pct_of_ref = r.ratio, r.pct
    row.entro_allocs_per_call = allocs_per_call[w.name]
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
