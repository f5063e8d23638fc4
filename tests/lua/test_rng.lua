-- test_rng.lua -- explicit generators (tensor.rng): reproducibility, serialisable state,
-- split streams, the distributions' moments within a few standard errors at large n, and
-- the default generator seeded by --seed / ENTRO_SEED.
local T = tensor

local function values(x) return x:contiguous():view(-1):totable() end

local function moments(x)   -- mean, variance (biased), third and fourth central moments
  local v = values(x)
  local n, s = #v, 0
  for i = 1, n do s = s + v[i] end
  local m = s / n
  local m2, m3, m4 = 0, 0, 0
  for i = 1, n do
    local d = v[i] - m
    m2 = m2 + d * d; m3 = m3 + d * d * d; m4 = m4 + d * d * d * d
  end
  return m, m2 / n, m3 / n, m4 / n, v
end

-- |got - want| within k standard errors
local function within(got, want, se, k, what)
  k = k or 6
  ok(math.abs(got - want) <= k * se,
     string.format("%s: %.6g, expected %.6g +- %d x %.3g", what or "statistic", got, want, k, se))
end

local N = 200000

test("the same seed gives the same numbers; different seeds differ", function()
  local a, b, c = T.rng(42), T.rng(42), T.rng(43)
  local x, y, z = a:randn(1000), b:randn(1000), c:randn(1000)
  eq(values(x), values(y))
  ok(x:ne(z):sum() > 990)
  eq(values(a:rand(3, 4)), values(b:rand{3, 4}))
  eq(values(a:normal(2, 3, 50)), values(b:normal(2, 3, 50)))
  eq(values(a:randint(1, 6, 50)), values(b:randint(1, 6, 50)))
  eq(values(a:perm(30)), values(b:perm(30)))
  eq(values(a:bernoulli(0.3, 50)), values(b:bernoulli(0.3, 50)))
  eq(values(a:uniform(-1, 1, 9)), values(b:uniform(-1, 1, 9)))
  eq(a:rand(), b:rand()); eq(a:randn(), b:randn())
  eq(a:randint(1, 100), b:randint(1, 100))
  -- nearby seeds are decorrelated (splitmix64 seeding)
  for s = 0, 5 do
    local p, q = T.rng(s):rand(2000), T.rng(s + 1):rand(2000)
    local r = ((p - 0.5) * (q - 0.5)):mean() * 12
    within(r, 0, 1 / math.sqrt(2000), 6, "correlation of seeds " .. s .. ", " .. (s + 1))
  end
  -- integral floats are the same seed; seed() restarts
  eq(values(T.rng(7.0):rand(5)), values(T.rng(7):rand(5)))
  local g = T.rng(9)
  local first = values(g:rand(5))
  ok(rawequal(g:seed(9), g))
  eq(values(g:rand(5)), first)
  eq(values(T.rng(-1):rand(3)), values(T.rng(-1):rand(3)))
  eq(values(T.rng():rand(3)), values(T.rng(0):rand(3)))
end)

test("scalar draws and tensor draws come from one stream", function()
  local a, b = T.rng(5), T.rng(5)
  local s = {a:randn(), a:randn(), a:randn()}
  eq(values(b:randn(3)), s)
  ok(type(a:rand()) == "number")
  local u = T.rng(3)
  for i = 1, 100 do
    local v = u:rand()
    ok(v >= 0 and v < 1)
    local k = u:randint(-2, 2)
    ok(math.type(k) == "integer" and k >= -2 and k <= 2)
    local bb = u:bernoulli(0.5)
    ok(bb == 0 or bb == 1)
  end
  eq(T.rng(1):rand({}):dim(), 0)
  eq(T.rng(1):randn(0):numel(), 0)
  eq(T.rng(1):randn(2, 0, 3):shape(), {2, 0, 3})
end)

test("state round-trips mid-stream, including a pending normal", function()
  local g = T.rng(2024)
  g:rand(17)
  for odd = 1, 3, 2 do
    for _ = 1, odd do g:randn() end      -- an odd count leaves a spare normal in the state
    local st = g:state()
    ok(type(st) == "string")
    local after = values(g:randn(11))
    local h = T.rng(0)
    ok(rawequal(h:set_state(st), h))
    eq(h:state(), st)
    eq(values(h:randn(11)), after)
    eq(h:state(), g:state())
  end
  g:randn(3)                             -- a tensor fill of odd length, too
  local st = g:state()
  local a = {g:randn(), values(g:rand(4)), g:randint(1, 1000)}
  g:set_state(st)
  eq({g:randn(), values(g:rand(4)), g:randint(1, 1000)}, a)
  -- the state is text that survives a round trip through a string
  local again = T.rng(1):set_state(("%s"):format(st))
  eq(again:state(), st)
  local cur = g:state()
  raises(function() g:set_state("garbage") end, "rng:set_state: not a generator state string")
  raises(function() g:set_state(st .. " 1") end, "not a generator state string")
  raises(function() g:set_state(st:gsub(" 1 ", " 7 ")) end, "not a generator state string")
  raises(function() g:set_state("xoshiro256** 0 0 0 0 0 0") end, "not a generator state string")
  raises(function() g:set_state() end, "string expected")
  eq(g:state(), cur)                     -- a failed set_state changes nothing
end)

test("split gives an independent, reproducible stream", function()
  local g = T.rng(11)
  local c = g:split()
  ok(T.is_rng(c))
  local pv, cv = g:rand(5000), c:rand(5000)
  ok(pv:ne(cv):sum() == 5000)
  local r = ((pv - 0.5) * (cv - 0.5)):mean() * 12
  within(r, 0, 1 / math.sqrt(5000), 6, "parent/child correlation")
  -- the same seed and the same calls give the same two streams
  local g2 = T.rng(11)
  local c2 = g2:split()
  eq(values(g2:rand(5000)), values(pv))
  eq(values(c2:rand(5000)), values(cv))
  -- splitting again gives yet another stream
  local d = g:split()
  ok(d:rand(100):ne(c:rand(100)):sum() == 100)
  -- clone copies the state
  local k = g:clone()
  eq(values(k:randn(7)), values(g:randn(7)))
end)

test("rand and uniform: range, mean and variance", function()
  local g = T.rng(101)
  local x = g:rand(N)
  ok(x:min() >= 0 and x:max() < 1)
  local m, v = moments(x)
  within(m, 0.5, math.sqrt(1 / 12 / N), 6, "rand mean")
  within(v, 1 / 12, math.sqrt((1 / 80 - 1 / 144) / N), 6, "rand variance")
  local u = g:uniform(-3, 5, N)
  ok(u:min() >= -3 and u:max() < 5)
  m, v = moments(u)
  within(m, 1, 8 * math.sqrt(1 / 12 / N), 6, "uniform mean")
  within(v, 64 / 12, 64 * math.sqrt((1 / 80 - 1 / 144) / N), 6, "uniform variance")
  -- equal-width bins are equally full
  local counts = {}
  for i = 1, 10 do counts[i] = 0 end
  for _, s in ipairs(values(x)) do local b = math.floor(s * 10) + 1; counts[b] = counts[b] + 1 end
  for i = 1, 10 do within(counts[i], N / 10, math.sqrt(N * 0.1 * 0.9), 6, "bin " .. i) end
end)

test("randn and normal: mean, variance, skew, kurtosis and tails", function()
  local g = T.rng(202)
  local x = g:randn(N)
  local m, v, m3, m4, vals = moments(x)
  within(m, 0, 1 / math.sqrt(N), 6, "randn mean")
  within(v, 1, math.sqrt(2 / N), 6, "randn variance")
  within(m3, 0, math.sqrt(15 / N), 6, "randn third moment")
  within(m4, 3, math.sqrt(96 / N), 6, "randn fourth moment")
  local tail = 0
  for _, s in ipairs(vals) do if math.abs(s) > 2 then tail = tail + 1 end end
  local p2 = 0.04550026389635842
  within(tail / N, p2, math.sqrt(p2 * (1 - p2) / N), 6, "P(|z| > 2)")
  local y = g:normal(3, 0.5, 400, 500)
  eq(y:shape(), {400, 500})
  m, v = moments(y)
  within(m, 3, 0.5 / math.sqrt(N), 6, "normal mean")
  within(v, 0.25, 0.25 * math.sqrt(2 / N), 6, "normal variance")
  eq(g:normal(1, 0, 5):totable(), {1, 1, 1, 1, 1})
  -- the module-level forms use the default generator
  eq(T.randn(4):shape(), {4}); eq(T.rand(2, 2):shape(), {2, 2})
  eq(T.normal(0, 1, {3}):shape(), {3})
end)

test("bernoulli and randint: frequencies", function()
  local g = T.rng(303)
  for _, p in ipairs{0.1, 0.5, 0.93} do
    local b = g:bernoulli(p, N)
    eq(b:eq(0):sum() + b:eq(1):sum(), N)
    within(b:mean(), p, math.sqrt(p * (1 - p) / N), 6, "bernoulli(" .. p .. ") mean")
  end
  eq(g:bernoulli(0, 100):sum(), 0)
  eq(g:bernoulli(1, 100):sum(), 100)
  local r = g:randint(-2, 4, N)
  ok(r:min() == -2 and r:max() == 4)
  eq(r:floor():eq(r):sum(), N)
  local counts = {}
  for _, v in ipairs(values(r)) do counts[v] = (counts[v] or 0) + 1 end
  for v = -2, 4 do
    within(counts[v] or 0, N / 7, math.sqrt(N * (1 / 7) * (6 / 7)), 6, "randint count of " .. v)
  end
  eq(values(g:randint(5, 5, 4)), {5, 5, 5, 5})
  -- wide ranges stay exact integers in range
  local w = g:randint(-2 ^ 53, 2 ^ 53, 1000)
  eq(w:floor():eq(w):sum(), 1000)
  ok(w:abs():max() <= 2 ^ 53)
  within(w:mean() / 2 ^ 53, 0, 1 / math.sqrt(3 * 1000), 6, "wide randint mean")
end)

test("perm is a permutation of 1..n, uniformly", function()
  local g = T.rng(404)
  for _, n in ipairs{0, 1, 2, 7, 100} do
    local p = g:perm(n)
    eq(p:shape(), {n})
    local v = values(p)
    table.sort(v)
    for i = 1, n do eq(v[i], i) end
  end
  -- where 1 lands is uniform over 5 places; all 6 orders of 3 appear equally
  local pos, orders = {0, 0, 0, 0, 0}, {}
  local M = 30000
  for _ = 1, M do
    local p = values(g:perm(5))
    for i = 1, 5 do if p[i] == 1 then pos[i] = pos[i] + 1 end end
    local q = values(g:perm(3))
    local key = table.concat(q, "")
    orders[key] = (orders[key] or 0) + 1
  end
  for i = 1, 5 do within(pos[i], M / 5, math.sqrt(M * 0.2 * 0.8), 6, "position " .. i) end
  local kinds = 0
  for _, c in pairs(orders) do
    kinds = kinds + 1
    within(c, M / 6, math.sqrt(M / 6 * 5 / 6), 6, "order count")
  end
  eq(kinds, 6)
end)

test("fills write views in logical order and refuse expanded ones", function()
  local a, b = T.rng(8), T.rng(8)
  local x = a:randn(3, 4)
  local y = T.zeros(4, 3):t()
  ok(rawequal(b:normal_(y), y))
  eq(y:totable(), x:totable())
  local z = T.zeros(5, 6)
  local v = z:narrow(2, 2, 3)
  T.rng(1):uniform_(v, 10, 11)
  eq(z:narrow(2, 1, 1):sum() + z:narrow(2, 5, 2):sum(), 0)
  ok(v:min() >= 10 and v:max() < 11)
  local w = T.zeros(2, 2)
  ok(rawequal(T.rng(1):bernoulli_(w, 1), w))
  eq(w:sum(), 4)
  raises(function() T.rng(1):normal_(T.zeros(3, 1):expand(3, 4)) end, "normal: cannot write into an expanded view")
  raises(function() T.rng(1):uniform_(T.zeros(1):expand(2)) end, "rand: cannot write into an expanded view")
  raises(function() T.rng(1):bernoulli_(T.zeros(2), 2) end, "bernoulli: probability 2")
  raises(function() T.rng(1):normal_(T.zeros(2), 0, -1) end, "normal: standard deviation -1 is negative")
end)

test("bad arguments name the generator function", function()
  local g = T.rng(1)
  raises(function() g:bernoulli(1.5, 3) end, "bernoulli: probability 1.5 outside [0, 1]")
  raises(function() g:bernoulli(-0.1) end, "bernoulli: probability")
  raises(function() g:bernoulli(0 / 0, 2) end, "bernoulli: probability")
  raises(function() g:normal(0, -2, 3) end, "normal: standard deviation -2.0 is negative")
  raises(function() g:normal(0, 0 / 0, 3) end, "normal: standard deviation")
  raises(function() g:randint(5, 4, 3) end, "randint: empty range 5..4")
  raises(function() g:randint(1.5, 4) end, "randint: the lower bound must be an integer, got 1.5")
  raises(function() g:randint(math.mininteger, math.maxinteger, 3) end, "randint: range")
  raises(function() g:randint(0, 2 ^ 60) end, "exceeds")
  raises(function() g:perm(-1) end, "perm: negative size -1")
  raises(function() g:perm(2.5) end, "perm: the size must be an integer")
  raises(function() g:randn(-2) end, "randn: negative size -2 in dimension 1")
  raises(function() g:rand(2, "x") end, "rand: a size must be an integer, got string")
  raises(function() g:rand(1e10, 1e10) end, "rand: cannot allocate")
  raises(function() T.rng(0 / 0) end, "rng: the seed is NaN")
  raises(function() T.rng("x") end, "number expected")
  eq(tostring(g):match("^entro%.Generator"), "entro.Generator")
end)

-- the binary under test: the one running this file when the runner says so
local function entro_bin()
  return os.getenv("ENTRO") or (arg and arg[-1]) or "./entro"
end

local function run(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  p:close()
  return out
end

test("the default generator is seeded by --seed and ENTRO_SEED (0 when unset)", function()
  local bin = entro_bin()
  local code = "io.write(string.format('%.17g', tensor.randn(2):sum()))"
  local function want(seed) return string.format("%.17g", T.rng(seed):randn(2):sum()) end
  eq(run(bin .. " --seed 3 -e \"" .. code .. "\""), want(3))
  eq(run(bin .. " --seed=3 -e \"" .. code .. "\""), want(3))
  eq(run("ENTRO_SEED=5 " .. bin .. " -e \"" .. code .. "\""), want(5))
  eq(run("env -u ENTRO_SEED " .. bin .. " -e \"" .. code .. "\""), want(0))
  ok(want(3) ~= want(5))
  -- an unchanged script gives bitwise-identical results
  eq(run(bin .. " --seed 3 -e \"" .. code .. "\""), run(bin .. " --seed 3 -e \"" .. code .. "\""))
  -- manual_seed reseeds the default generator in process
  T.manual_seed(3)
  eq(string.format("%.17g", T.randn(2):sum()), want(3))
  local d = T.default_rng()
  ok(T.is_rng(d))
  T.manual_seed(12)
  local a = values(T.rand(4))
  d:seed(12)
  eq(values(T.rand(4)), a)
  eq(values(T.rand(d, 4)), values(T.rng(12):rand(8):narrow(1, 5, 4)))
end)

test("module functions take the generator from a trailing {rng = g}", function()
  local a = tensor.randn(2, 3, {rng = tensor.rng(5)})
  local b = tensor.rng(5):randn(2, 3)
  eq((a - b):abs():max(), 0)
  eq(tensor.rand(4, {rng = tensor.rng(1)}):totable(), tensor.rng(1):rand(4):totable())
  raises(function() tensor.randn(2, {rng = 3}) end, "entro.Generator")
end)
