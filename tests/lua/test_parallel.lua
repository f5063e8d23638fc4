-- test_parallel.lua -- big elementwise runs split over threads give the same bits as one
-- thread; stateful kernels (generators) and overlapping copies stay on one thread; products
-- split between threads agree with one thread.
local T = tensor
local N = 3000000   -- above the split threshold

local function same(a, b) return (a - b):abs():max() == 0 and a:numel() == b:numel() end

test("elementwise maps and reductions agree bitwise on 1 and 2 threads", function()
  local x = T.rng(1):randn(N)
  local y = T.rng(2):randn(N)
  local one = with_threads(1, function()
    return {x:exp(), x * y + 1, x:affine(3, -1), x:sum(), x:norm(), (x:relu() - y):square()}
  end)
  local two = with_threads(2, function()
    return {x:exp(), x * y + 1, x:affine(3, -1), x:sum(), x:norm(), (x:relu() - y):square()}
  end)
  for i, a in ipairs(one) do
    if type(a) == "number" then eq(a, two[i], "reduction " .. i)
    else ok(same(a, two[i]), "map " .. i .. " differs") end
  end
end)

test("matrix products split between threads by rows or by columns agree with one thread", function()
  local g = T.rng(3)
  local cases = {
    {g:randn(300, 200), g:randn(200, 90)},             -- taller than wide: rows
    {g:randn(70, 300), g:randn(300, 333)},             -- wider than tall: columns
    {g:randn(250, 130):t(), g:randn(170, 250):t()},    -- both transposed
  }
  for i, c in ipairs(cases) do
    local a, b = c[1], c[2]
    local one = with_threads(1, function() return a:matmul(b) end)
    local two = with_threads(2, function() return a:matmul(b) end)
    -- the last bits may differ (OpenBLAS treats a range's edges its own way)
    ok((one - two):abs():max() <= 1e-13 * one:abs():max(), "product " .. i .. " differs")
    for r = 1, a:size(1), 7 do   -- and each is the product
      for s = 1, b:size(2), 29 do
        local want = a:select(1, r):dot(b:select(2, s))
        ok(math.abs(two:get(r, s) - want) <= 1e-12 * (1 + math.abs(want)),
           "product " .. i .. " wrong at " .. r .. "," .. s)
      end
    end
  end
end)

test("full reductions: chunks on the threads, the same bits on 1 and 2, and the naive values", function()
  local n = 300001   -- five chunks of 2^16 and a bit
  local x = T.rng(8):randn(n)
  x:set(123457, 9.5)   -- a clear maximum in the third chunk, a clear minimum in the fifth
  x:set(270000, -9.5)
  local function all(v)
    return {v:sum(), v:mean(), v:var(), v:std(), v:norm(), v:norm(1), v:norm(3), v:norm(math.huge),
            v:max(), v:min(), v:argmax(), v:argmin(), v:logsumexp(), (v * 1e-6 + 1):prod()}
  end
  local one = with_threads(1, function() return all(x) end)
  local two = with_threads(2, function() return all(x) end)
  for i = 1, #one do eq(two[i], one[i], "reduction " .. i) end
  local s, s2, a, c3, lse_m = 0, 0, 0, 0, 9.5
  local lse, prod = 0, 1
  for i = 1, n do
    local v = x:get(i)
    s = s + v; a = a + math.abs(v); c3 = c3 + math.abs(v) ^ 3; s2 = s2 + v * v
    lse = lse + math.exp(v - lse_m); prod = prod * (v * 1e-6 + 1)
  end
  local mean = s / n
  local m2 = 0
  for i = 1, n do m2 = m2 + (x:get(i) - mean) ^ 2 end
  local want = {s, mean, m2 / (n - 1), math.sqrt(m2 / (n - 1)), math.sqrt(s2), a, c3 ^ (1 / 3), 9.5,
                9.5, -9.5, 123457, 270000, lse_m + math.log(lse), prod}
  for i, w in ipairs(want) do
    ok(math.abs(two[i] - w) <= 1e-10 * (1 + math.abs(w)), string.format("reduction %d: %.17g vs %.17g", i, two[i], w))
  end
end)

test("long dot products: the same bits on 1 and 2 threads, and the sum of products", function()
  local g = T.rng(5)
  for _, n in ipairs{65536, 65537, 300001} do
    local a, b = g:randn(n), g:randn(n)
    local one = with_threads(1, function() return a:dot(b) end)
    local two = with_threads(2, function() return a:dot(b) end)
    eq(one, two, "n = " .. n)
    ok(math.abs(two - (a * b):sum()) <= 1e-12 * n, "n = " .. n .. ": " .. two)
  end
  local m = g:randn(1000, 300)   -- strided: a column against a column
  eq(with_threads(1, function() return m:select(2, 3):dot(m:select(2, 7)) end),
     with_threads(2, function() return m:select(2, 3):dot(m:select(2, 7)) end))
end)

test("generator fills are one stream whatever the thread count", function()
  local a = with_threads(1, function() return T.rng(7):randn(N) end)
  local b = with_threads(2, function() return T.rng(7):randn(N) end)
  ok(same(a, b))
end)

test("an overlapping copy moves the data as one pass would", function()
  local x = T.arange(0, N)
  with_threads(2, function() x:narrow(1, 2, N - 1):copy(x:narrow(1, 1, N - 1)) end)
  eq(x:get(1), 0)
  eq(x:get(2), 0)
  eq(x:get(N), N - 2)
  eq(x:get(N // 2 + 1), N // 2 - 1)
end)

test("entro.set_threads rejects nonsense", function()
  raises(function() entro.set_threads(0) end, "set_threads")
  ok(entro.blas().threads >= 1)
end)
