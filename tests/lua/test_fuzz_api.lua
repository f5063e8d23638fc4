-- The Lua API under random use: sequences of calls with random shapes (0-sized and
-- enormous), wrong types, NaN and infinities, views of views, in-place writes through views,
-- backward through odd graphs, layers, optimizers and diagnostics fed junk. Every outcome
-- must be a value or a Lua error with a message, never a signal, and nothing may leak: once
-- the pool of values is dropped, tensor memory returns to where it started. Then every fuzz
-- corpus and regression file, and mutations of them, go through every file reader.
--
-- `make test` runs a fixed seed and a fixed count; `make fuzz` runs a fresh seed and more
-- operations under ASan and UBSan. Environment:
--   ENTRO_FUZZ_SEED     the seed (default fixed)
--   ENTRO_FUZZ_OPS      how many operations (default 20000)
--   ENTRO_FUZZ_VERBOSE  1: print each operation before running it (to find a crashing one),
--                       its outcome, and the errors counted as unchecked arguments
local readers = dofile "tests/fuzz/readers.lua"

local SEED = math.tointeger(tonumber(os.getenv("ENTRO_FUZZ_SEED") or "")) or 20251128
local OPS = math.tointeger(tonumber(os.getenv("ENTRO_FUZZ_OPS") or "")) or 20000
local VERBOSE = (os.getenv("ENTRO_FUZZ_VERBOSE") or "") ~= ""
local MAX_NUMEL = 4096          -- results bigger than this are not kept in the pool
local BUDGET = 20000000         -- Lua instructions one operation may take

-- A generator of our own (xorshift64*), so the sequence depends on the seed alone.
local state = SEED ~ 0x2545F4914F6CDD1D
if state == 0 then state = 1 end
local function rnd(n)   -- 1..n
  state = state ~ (state << 13)
  state = state ~ (state >> 7)
  state = state ~ (state << 17)
  return (state >> 11) % n + 1
end
local function chance(p) return rnd(1000000) <= p * 1000000 end
local function pick(list) return list[rnd(#list)] end

---------------------------------------------------------------------------------------------
-- values

local SPECIAL = {0 / 0, math.huge, -math.huge, -0.0, 5e-324, 1e-300, 1e300, -1e300, 2^53,
                 math.maxinteger, math.mininteger, 2^62, 2^45, -2^45, 0.5, -1.5, 1e-8}
local SMALL = {-2, -1, 0, 1, 1, 2, 2, 3, 4}
local SIZES = {0, 1, 1, 2, 2, 3, 3, 4, 5}
local STRINGS = {"", "abc", "1", "2.5", "sum", "mean", "none", "relu", "linear", "\0", ("x"):rep(300)}

local pool = {}   -- tensors
local POOL_MAX = 48

local function describe(v)
  if tensor.is_tensor(v) then
    local okk, s = pcall(function() return "tensor(" .. table.concat(v:shape(), "x") .. ")" end)
    return okk and s or "tensor(closed)"
  end
  if type(v) == "string" then return string.format("%q", #v > 20 and v:sub(1, 20) .. "..." or v) end
  if type(v) == "number" then return string.format(math.type(v) == "integer" and "%d" or "%.17g", v) end
  if type(v) == "table" then return "table" end
  return tostring(v):gsub(":.*", "")
end

local function numel_of(t)
  local okk, n = pcall(t.numel, t)
  return okk and n or nil
end

local function keep(v)
  if not tensor.is_tensor(v) then return end
  local n = numel_of(v)
  if not n or n > MAX_NUMEL then return end
  if #pool < POOL_MAX then pool[#pool + 1] = v else pool[rnd(POOL_MAX)] = v end
end

local function some_tensor()
  if #pool == 0 then return tensor.zeros(2) end
  return pick(pool)
end

local function fresh_tensor()
  local nd = rnd(5) - 1
  local shape = {}
  for i = 1, nd do shape[i] = pick(SIZES) end
  local t = tensor.randn(shape)
  local n = t:numel()
  if n > 0 and chance(0.3) then
    local flat = t:view(-1)
    for _ = 1, rnd(3) do flat:set(rnd(n), pick(SPECIAL) + 0.0) end
  end
  if chance(0.3) then t:requires_grad() end
  return t
end

local function some_table()
  local r = rnd(12)
  if r == 1 then return {} end
  if r == 2 then return {pick(SIZES), pick(SIZES)} end
  if r == 3 then return {{1, 2}, {3, 4}} end
  if r == 4 then return {{1}, {2, 3}} end
  if r == 5 then return {out = some_tensor()} end
  if r == 6 then return {retain_graph = chance(0.5), create_graph = chance(0.5)} end
  if r == 7 then return {reduction = pick{"sum", "mean", "none", "bogus"}} end
  if r == 8 then local c = {}; c[1] = c; return c end
  if r == 9 then return {some_tensor(), some_tensor()} end
  if r == 10 then return {{{{{}}}}} end
  if r == 11 then return {k = pick(SMALL), maxiter = 3, rng = tensor.rng(rnd(100)), dim = pick(SMALL)} end
  return {1, "a", true, some_tensor()}
end

local FUNCS = {
  function() return some_tensor() end,
  function() error("boom") end,
  function(...) return ... end,
  function() return nil end,
  function() return some_tensor():sum() end,
}

local function some_arg()
  local r = rnd(100)
  if r <= 30 then return some_tensor() end
  if r <= 60 then return pick(SMALL) end
  if r <= 70 then return pick(SPECIAL) end
  if r <= 75 then return pick(STRINGS) end
  if r <= 82 then return some_table() end
  if r <= 85 then return chance(0.5) end
  if r <= 88 then return nil end
  if r <= 91 then return pick(FUNCS) end
  if r <= 94 then return tensor.rng(rnd(1000)) end
  if r <= 96 then return io.stdout end
  if r <= 98 then return coroutine.create(function() end) end
  return fresh_tensor()
end

local function some_args(max)
  local args, n = {}, rnd(max + 1) - 1
  for i = 1, n do args[i] = some_arg() end
  return args, n
end

---------------------------------------------------------------------------------------------
-- what to call

local function sorted_functions(t, exclude)
  local names = {}
  for k, v in pairs(t) do
    if type(k) == "string" and type(v) == "function" and not (exclude and exclude[k]) then
      names[#names + 1] = k
    end
  end
  table.sort(names)
  return names
end

local METHODS = sorted_functions(tensor.methods)
-- not: files (they would write where we stand), and global switches other tests rely on
local MODULE_FNS = sorted_functions(tensor, {save = true, load = true, set_grad_enabled = true,
                                             set_printoptions = true})
local LINALG = sorted_functions(tensor.linalg)
local INPLACE = {}
for _, m in ipairs(METHODS) do
  if m:sub(-1) == "_" or m == "fill" or m == "copy" or m == "set" or m == "zero_grad" then
    INPLACE[#INPLACE + 1] = m
  end
end
local STDLIB = {}
for _, spec in ipairs{
  {"nn", nn, {}},
  {"optim", optim, {}},
  {"diag", diag, {register = true, monitor = true}},
  {"data", data, {fashion_mnist = true, read_csv = true, read_idx = true, write_csv = true}},
} do
  for _, k in ipairs(sorted_functions(spec[2], spec[3])) do
    STDLIB[#STDLIB + 1] = {spec[1] .. "." .. k, spec[2][k]}
  end
end
local UNARY = {"exp", "log", "sqrt", "abs", "tanh", "sigmoid", "relu", "sin", "square", "neg",
               "softplus", "gelu", "reciprocal", "log1p", "sum", "mean", "t", "contiguous",
               "clone", "cumsum", "softmax", "log_softmax", "logsumexp", "norm", "max", "var"}
local BINARY = {"add", "sub", "mul", "div", "pow", "maximum", "minimum", "matmul", "atan2", "dot",
                "outer"}

-- A valid view of t (or t itself when none applies), so views of views get built.
local function view_of(t)
  local okk, v = pcall(function()
    local nd = t:dim()
    local r = rnd(9)
    if nd == 0 then return r <= 4 and t:unsqueeze(1) or t:expand(pick{1, 3}) end
    local d = rnd(nd)
    local n = t:size(d)
    if r == 1 then return t:t() end
    if r == 2 and n > 0 then local s = rnd(n); return t:narrow(d, s, rnd(n - s + 1) - 1) end
    if r == 3 and n > 0 then return t:select(d, rnd(n)) end
    if r == 4 then return t:unsqueeze(rnd(nd + 1)) end
    if r == 5 then return t:squeeze() end
    if r == 6 and nd >= 2 then return t:transpose(d, rnd(nd)) end
    if r == 7 then
      local shape = t:shape()
      if shape[d] == 1 then shape[d] = pick{0, 1, 3} end
      return t:expand(shape)
    end
    if r == 8 then
      local p = {}
      for i = 1, nd do p[i] = i end
      for i = nd, 2, -1 do local j = rnd(i); p[i], p[j] = p[j], p[i] end
      return t:permute(p)
    end
    return t:reshape(-1)
  end)
  if okk then return v end
  return t
end

---------------------------------------------------------------------------------------------
-- operations: each returns a description; the caller runs it under pcall

local ops = {}

ops[#ops + 1] = {28, function()
  local name, t = pick(METHODS), some_tensor()
  local args, n = some_args(3)
  return "x:" .. name, function() return t[name](t, table.unpack(args, 1, n)) end, {t, table.unpack(args, 1, n)}
end}

ops[#ops + 1] = {16, function()
  local name = pick(MODULE_FNS)
  local args, n = some_args(4)
  return "tensor." .. name, function() return tensor[name](table.unpack(args, 1, n)) end, args
end}

ops[#ops + 1] = {4, function()
  local name = pick(LINALG)
  local args, n = some_args(2)
  if chance(0.5) then args[1], n = view_of(some_tensor()), math.max(n, 1) end
  return "tensor.linalg." .. name, function() return tensor.linalg[name](table.unpack(args, 1, n)) end, args
end}

ops[#ops + 1] = {10, function()
  local t = some_tensor()
  return "views", function()
    local v = t
    for _ = 1, rnd(4) do v = view_of(v) end
    return v
  end, {t}
end}

ops[#ops + 1] = {10, function()
  local t, name = some_tensor(), pick(INPLACE)
  local args, n = some_args(2)
  return "view:" .. name, function()
    local v = view_of(view_of(t))
    return v[name](v, table.unpack(args, 1, n))
  end, {t, table.unpack(args, 1, n)}
end}

ops[#ops + 1] = {12, function()
  local x = fresh_tensor()
  return "backward", function()
    if not x.is_leaf then x = x:detach() end
    x:requires_grad()
    local y = x
    for _ = 1, rnd(5) do
      local r = rnd(9)
      if r <= 4 then
        local u = pick(UNARY)
        y = y[u](y)
      elseif r <= 6 then
        local b = pick(BINARY)
        y = y[b](y, chance(0.5) and x or view_of(y))
      elseif r <= 8 then
        y = view_of(y)
      else
        y = y:clone()
        local v = view_of(y)
        v[pick{"mul_", "add_", "relu_", "exp_", "fill_"}](v, 2)   -- in place on a non-leaf view
      end
    end
    local loss = y
    if not tensor.is_tensor(loss) or loss:numel() ~= 1 then loss = tensor.is_tensor(y) and y:sum() or y end
    if type(loss) == "number" then return loss end
    local how = rnd(4)
    if how == 1 then
      loss:backward({retain_graph = true})
      loss:backward()
      return x.grad
    elseif how == 2 then
      local g = tensor.grad(loss, {x}, {create_graph = true})
      local s = g[1]:sum()
      if tensor.is_tensor(s) then s:backward() end
      return x.grad
    elseif how == 3 then
      loss:backward(some_arg())
      return x.grad
    end
    loss:backward()
    loss:backward()   -- the graph is freed: an error
  end, {x}
end}

ops[#ops + 1] = {6, function()
  local sizes = {pick{1, 2, 3}, pick{1, 2, 3}, pick{1, 2}}
  if chance(0.05) then sizes[rnd(3)] = pick{0, -1, 2^45} end
  local kind = rnd(4)
  local input = chance(0.3) and fresh_tensor() or nil
  local rows = pick{0, 1, 2, 3}
  return "nn/optim", function()
    input = input or view_of(tensor.randn(rows, sizes[1]))
    local net = nn.mlp{sizes[1], sizes[2], sizes[3], act = pick{"relu", "tanh", "gelu"}, rng = tensor.rng(1)}
    local params = net:parameters()
    local opt
    if kind == 1 then opt = optim.sgd(params, {lr = pick{0.1, 0 / 0, -1, 1e300}, momentum = pick{0, 0.9}})
    elseif kind == 2 then opt = optim.adam(params, {lr = pick{1e-3, math.huge}})
    elseif kind == 3 then opt = optim.langevin(params, {lr = 0.01, temperature = pick{0, 1, -1}, rng = tensor.rng(2)})
    else opt = optim.sgd(params, {lr = 0.1, noise = {std = pick{0.1, 0 / 0}, rng = tensor.rng(3)}}) end
    local out = net(input)
    local loss = nn.mse(out, tensor.is_tensor(out) and out:detach() * 0.5 or out)
    opt:zero_grad()
    loss:backward()
    opt:step()
    local sd = opt:state_dict()
    opt:load_state_dict(sd)
    return diag.grad_norms(net).total, net(input)
  end, {input}
end}

ops[#ops + 1] = {4, function()
  local X, Y = view_of(some_tensor()), view_of(some_tensor())
  local metric = pick{"cka", "unbiased_cka", "kernel_alignment", "procrustes", "svcca", "mutual_knn", "cknna"}
  local opts = chance(0.5) and some_table() or nil
  return "diag." .. metric, function() return diag[metric](X, Y, opts) end, {X, Y}
end}

ops[#ops + 1] = {3, function()
  local w = fresh_tensor()
  local what = pick{"sharpness", "hvp", "hessian", "hessian_trace", "spectral_density"}
  return "diag." .. what, function()
    if not w.is_leaf then w = w:detach() end
    w:requires_grad()
    local fn = function() return (w * w):sum() * 0.5 + w:sum() end
    local opts = {maxiter = 3, samples = 2, steps = 3, probes = 1, rng = tensor.rng(4)}
    if what == "hvp" then return diag.hvp(fn, {w}, {some_tensor()}) end
    return diag[what](fn, {w}, opts)
  end, {w}
end}

ops[#ops + 1] = {5, function()
  local entry = pick(STDLIB)
  local args, n = some_args(3)
  return entry[1], function() return entry[2](table.unpack(args, 1, n)) end, args
end}

ops[#ops + 1] = {4, function()
  local v = chance(0.5) and view_of(some_tensor()) or some_table()
  return "dumps/loads", function()
    local s = tensor.dumps(v)
    local back = tensor.loads(s)
    if tensor.is_tensor(v) and tensor.dumps(back) ~= s then error("fuzz: a tensor did not round-trip") end
    -- and a damaged copy: a value or an error
    local i = rnd(#s)
    local bad = s:sub(1, i - 1) .. string.char(rnd(256) - 1) .. s:sub(i + 1)
    pcall(tensor.loads, bad)
    pcall(tensor.loads, readers.wrap(bad:sub(23, -5)))
    return back
  end, {v}
end}

ops[#ops + 1] = {2, function()
  local t = some_tensor()
  return "close", function()
    local v = view_of(t)
    v:close()
    v:close()   -- twice is fine
    return pcall(v.sum, v)
  end, {t}
end}

-- A leaf written in place (under no_grad) after an op saved it, then backward; a tensor
-- closed while a graph holds it; a view of a leaf written in place.
ops[#ops + 1] = {4, function()
  local x = fresh_tensor()
  local how = rnd(4)
  return "stale graph", function()
    x = x.is_leaf and x or x:detach()
    x:requires_grad()
    local y = (x * x):sum()
    if how == 1 then tensor.no_grad(function() x:mul_(2) end)
    elseif how == 2 then tensor.no_grad(function() view_of(x):fill_(pick(SPECIAL) + 0.0) end)
    elseif how == 3 then x:close()
    else view_of(x):add_(1) end   -- refused: a leaf that requires grad
    if tensor.is_tensor(y) then y:backward() end
    return x.grad
  end, {x}
end}

-- Layers beyond the MLP, on inputs of random shapes.
ops[#ops + 1] = {4, function()
  local dim, heads = pick{1, 2, 4}, pick{1, 2, 3}
  local which = rnd(5)
  local x = chance(0.5) and fresh_tensor() or nil
  local shape = {pick{0, 1, 2}, pick{1, 3}, dim}
  return "layers", function()
    local g = tensor.rng(7)
    local m
    if which == 1 then m = nn.SelfAttention(dim, heads, {rng = g, causal = chance(0.5)})
    elseif which == 2 then m = nn.TransformerBlock(dim, heads, {rng = g})
    elseif which == 3 then m = nn.LayerNorm(dim)
    elseif which == 4 then m = nn.Embedding(pick{1, 5}, dim, {rng = g})
    else m = nn.Residual(nn.Linear(dim, dim, {rng = g})) end
    local input = x or (which == 4 and tensor.tensor{1, 2, 5} or tensor.randn(shape))
    local y = m(input)
    if tensor.is_tensor(y) and y:numel() > 0 then y:sum():backward() end
    return y
  end, {x}
end}

-- State dictionaries and loader states, damaged: a value or an error, and a refused load
-- leaves the object working.
ops[#ops + 1] = {4, function()
  local which = rnd(3)
  local junk = {pick(SMALL), pick(STRINGS), some_table(), some_tensor()}
  return "load state", function()
    local net = nn.mlp{2, 3, 1, rng = tensor.rng(1)}
    local opt = optim.adam(net:parameters(), {lr = 0.01})
    net(tensor.ones(4, 2)):sum():backward()
    opt:step()
    local sd
    if which == 1 then sd = opt:state_dict() elseif which == 2 then sd = net:state_dict()
    else
      local ld = data.loader(tensor.ones(6, 2), {batch = 2, steps = 5, rng = tensor.rng(2), progress = false})
      ld()
      sd = ld:state()
      local function damage(t, depth)
        for k, v in pairs(t) do
          if type(v) == "table" and depth < 3 and chance(0.5) then damage(v, depth + 1)
          elseif chance(0.3) then t[k] = pick(junk) end
        end
      end
      damage(sd, 0)
      pcall(ld.set_state, ld, sd)
      return ld()
    end
    for k in pairs(sd) do if chance(0.3) then sd[k] = pick(junk) end end
    if chance(0.3) then sd[pick(STRINGS)] = pick(junk) end
    local target = which == 1 and opt or net
    pcall(target.load_state_dict, target, sd)
    net(tensor.ones(4, 2)):sum():backward()
    opt:step()
    return net(tensor.ones(1, 2))
  end, {}
end}

-- Checkpoints of random things, and damaged checkpoint files.
local ckdir = os.tmpname()
os.remove(ckdir)
os.execute("mkdir -p '" .. ckdir .. "'")
ops[#ops + 1] = {2, function()
  local extra = chance(0.5) and some_table() or some_arg()
  local cut = rnd(200)
  return "checkpoint", function()
    local path = ckdir .. "/ck"
    local net = nn.mlp{2, 2, rng = tensor.rng(3)}
    entro.checkpoint(path, {net = net, rng = tensor.rng(4), step = 3, extra = extra})
    local f = assert(io.open(path, "rb"))
    local bytes = f:read("a")
    f:close()
    local i = math.min(cut, #bytes)
    f = assert(io.open(path, "wb"))
    f:write(chance(0.5) and bytes:sub(1, i) or bytes:sub(1, i - 1) .. string.char(rnd(256) - 1) .. bytes:sub(i + 1))
    f:close()
    return entro.restore(path, {net = net, rng = tensor.rng(5)})
  end, {extra}
end}

local TOTAL = 0
for _, o in ipairs(ops) do TOTAL = TOTAL + o[1] end
local function pick_op()
  local r = rnd(TOTAL)
  for _, o in ipairs(ops) do
    r = r - o[1]
    if r <= 0 then return o[2] end
  end
end

---------------------------------------------------------------------------------------------
-- running

-- An error we expect: a string (from an argument check, an engine failure, a bad callback).
-- Errors from Lua itself inside entro's modules ("attempt to index a nil value") mean an
-- argument was not checked: they are counted (and listed with ENTRO_FUZZ_VERBOSE), not failed.
local INTERNAL = {"attempt to ", "stack overflow"}

local function run_ops()
  local findings, internal, counts = {}, {}, {ok = 0, err = 0, slow = 0}
  local baseline = entro.mem()
  local default_state = tensor.default_rng():state()
  for i = 1, OPS do
    local desc, fn, args = pick_op()()
    local shown = {}
    for j = 1, #args do shown[j] = describe(args[j]) end
    local where = string.format("op %d (seed %d): %s(%s)", i, SEED, desc, table.concat(shown, ", "))
    if VERBOSE then io.stderr:write(where, "\n"); io.stderr:flush() end
    local steps = 0
    debug.sethook(function()
      steps = steps + 1000
      if steps > BUDGET then error("fuzz: the operation ran too long", 0) end
    end, "", 1000)
    local res = table.pack(pcall(fn))
    debug.sethook()
    if VERBOSE then
      io.stderr:write("  -> ", res[1] and "ok" or ("error: " .. tostring(res[2]):sub(1, 160)), "\n")
    end
    if res[1] then
      counts.ok = counts.ok + 1
      for j = 2, res.n do keep(res[j]) end
    else
      counts.err = counts.err + 1
      local e = res[2]
      if type(e) ~= "string" then
        findings[#findings + 1] = where .. ": an error that is not a message but " .. describe(e)
      elseif e:find("fuzz: the operation ran too long", 1, true) then
        counts.slow = counts.slow + 1
      elseif e:find("fuzz: ", 1, true) then
        findings[#findings + 1] = where .. ": " .. e
      elseif not e:find("test_fuzz_api.lua:", 1, true) then   -- not from this file's own code
        for _, p in ipairs(INTERNAL) do
          if e:find(p, 1, true) then internal[#internal + 1] = where .. ": " .. e end
        end
      end
    end
    if not tensor.is_grad_enabled() then
      findings[#findings + 1] = where .. ": left grad mode off"
      tensor.set_grad_enabled(true)
    end
    if chance(0.2) then pool[#pool + 1 > POOL_MAX and rnd(POOL_MAX) or #pool + 1] = fresh_tensor() end
  end
  pool = {}
  tensor.default_rng():set_state(default_state)   -- the files after this one start as usual
  collectgarbage("collect")
  collectgarbage("collect")
  local after = entro.mem()
  return findings, internal, counts, baseline, after
end

test(string.format("%d random API operations: values or errors, no leak (seed %d)", OPS, SEED), function()
  local t0 = os.clock()
  local findings, internal, counts, before, after = run_ops()
  if VERBOSE then
    for i = 1, #internal do io.write("  note: unchecked argument? ", internal[i], "\n") end
  end
  io.write(string.format("  fuzz: %d operations, %d values, %d errors (%d from Lua inside a module: "
                         .. "unchecked arguments%s), %d over budget, %.1fs cpu\n", OPS, counts.ok,
                         counts.err, #internal, VERBOSE and "" or ", ENTRO_FUZZ_VERBOSE=1 lists them",
                         counts.slow, os.clock() - t0))
  if #findings > 0 then
    error(#findings .. " findings:\n  " .. table.concat(findings, "\n  ", 1, math.min(#findings, 20)))
  end
  eq(after, before, "tensor bytes alive after dropping everything")
end)
os.execute("rm -rf '" .. ckdir .. "'")

---------------------------------------------------------------------------------------------
-- what the API fuzz found, as direct tests

test("regression: svcca of a constant side returns a tensor of its own", function()
  -- rho was released before it was returned (a use after free the storage cache hid)
  local _, info = diag.svcca(tensor.zeros(4, 2), tensor.randn(4, 2), {variance = 0.9})
  local keep_busy = {}
  for i = 1, 50 do keep_busy[i] = tensor.ones(i % 5 + 1, 2) end
  eq(info.rho:shape(), {0})
  eq(info.rho:numel(), 0)
end)

test("regression: narrow with extreme starts is an error, not an overflow", function()
  local x = tensor.ones(3, 4)
  raises(function() return x:narrow(2, math.mininteger, 1) end, "narrow: range")
  raises(function() return x:narrow(2, math.maxinteger, 2) end, "narrow: range")
  raises(function() return x:narrow(2, 2, math.maxinteger) end, "narrow: range")
  raises(function() return x:narrow(2, 0, 1) end, "start 0 is not an index")
  eq(x:narrow(2, -2, 2):shape(), {3, 2})
end)

---------------------------------------------------------------------------------------------
-- the file readers, on the fuzz corpus and regressions and on mutations of them

local function files_under(dir)
  local p = io.popen("find '" .. dir .. "' -type f 2>/dev/null | sort")
  local out = {}
  for l in p:lines() do out[#out + 1] = l end
  p:close()
  return out
end

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local tmp = os.tmpname()
local function feed_all(bytes, findings, label)
  local f = assert(io.open(tmp, "wb"))
  f:write(bytes)
  f:close()
  for _, why in ipairs(readers.feed(bytes, tmp)) do findings[#findings + 1] = label .. ": " .. why end
end

test("the fuzz corpus and regressions through every reader", function()
  local files = files_under("tests/fuzz/corpus")
  for _, f in ipairs(files_under("tests/fuzz/regressions")) do files[#files + 1] = f end
  ok(#files > 40, "the corpus is there")
  local findings = {}
  for _, path in ipairs(files) do
    local bytes = slurp(path)
    if path:find("/lua/", 1, true) then bytes = bytes:sub(2) end   -- its first byte picks a reader
    feed_all(bytes, findings, path)
  end
  collectgarbage("collect")
  collectgarbage("collect")
  local before = entro.mem()
  -- mutations: flipped bytes, cuts, and tokens the parsers care about
  local TOKENS = {",", "\n", "\r\n", ";", "nan", "-inf", "1e309", "0x10", "\"", "#", "\0", "\255",
                  "{", "}", "x", "@", "s", "ENTRO\0", "\0\0\8\1"}
  for k = 1, 400 do
    local src = slurp(pick(files))
    local r = rnd(4)
    local i = rnd(#src + 1)
    if r == 1 then src = src:sub(1, i - 1)
    elseif r == 2 then src = src:sub(1, i - 1) .. string.char(rnd(256) - 1) .. src:sub(i + 1)
    elseif r == 3 then src = src:sub(1, i - 1) .. pick(TOKENS) .. src:sub(i)
    else src = src:sub(1, i - 1) .. src:sub(i, i + rnd(8)):rep(rnd(50)) .. src:sub(i + 1) end
    feed_all(src, findings, "mutation " .. k)
  end
  os.remove(tmp)
  collectgarbage("collect")
  collectgarbage("collect")
  eq(entro.mem(), before, "tensor bytes alive after the readers")
  if #findings > 0 then error(#findings .. " findings:\n  " .. table.concat(findings, "\n  ", 1, math.min(#findings, 20))) end
end)
