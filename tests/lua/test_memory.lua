-- Memory: a long training loop holds steady (tensor memory, storage allocations, process RSS),
-- and an allocation that cannot be satisfied is a Lua error naming the size, after which the
-- session goes on.

local function rss()   -- resident bytes, from /proc/self/statm
  local f = io.open("/proc/self/statm")
  if not f then return nil end
  local s = f:read("l")
  f:close()
  return tonumber(s:match("^%d+%s+(%d+)")) * 4096
end

local function settle()
  collectgarbage("collect")
  collectgarbage("collect")
end

test("10^5 training steps keep tensor memory and RSS flat", function()
  local g = tensor.rng(1)
  local X, Y = data.teacher{n = 64, din = 4, dout = 1, hidden = {4}, rng = g}
  local net = nn.mlp{4, 8, 1, rng = g}
  local opt = optim.sgd(net:parameters(), {lr = 0.01, momentum = 0.9})
  local at = {}
  for step, xb, yb in data.loader(X, Y, {batch = 8, steps = 100000, rng = g, progress = false}) do
    local loss = nn.mse(net(xb), yb)
    opt:zero_grad(); loss:backward(); opt:step()
    if step == 10000 or step == 100000 then
      settle()
      local live, m = entro.mem()
      at[step] = {live = live, allocs = m.allocs, cached = m.cached, rss = rss(), lua = collectgarbage("count")}
    end
  end
  local a, b = at[10000], at[100000]
  eq(b.live, a.live, "tensor bytes alive")
  if a.cached > 0 then   -- (a fuzzing build frees storage at once and has no cache)
    -- a few, when the collector lets more garbage pile up than before; a leak needs many
    ok(b.allocs - a.allocs < 1000, string.format("%d storages from malloc over 90000 steps", b.allocs - a.allocs))
  end
  ok(b.lua < a.lua + 256, string.format("Lua heap grew from %.0f to %.0f KiB", a.lua, b.lua))
  if a.rss and not os.getenv("ENTRO_ASAN") and not os.getenv("ENTRO_VALGRIND") then   -- their allocators keep freed memory
    ok(b.rss - a.rss < 2 * 2^20, string.format("RSS grew by %d KiB over 90000 steps", (b.rss - a.rss) // 1024))
  end
end)

test("an allocation that cannot be satisfied is an error naming the size; the session goes on", function()
  local asan = os.getenv("ENTRO_ASAN")
  if asan and not (os.getenv("ASAN_OPTIONS") or ""):find("allocator_may_return_null=1") then
    skip("ASan aborts on huge mallocs without allocator_may_return_null=1")
  end
  settle()
  local before = entro.mem()
  local big = 2^40   -- 8 TiB of doubles: more than any machine here
  local cases = {
    {function() return tensor.zeros(big) end, "8796093022208 bytes"},
    {function() return tensor.randn(big) end, "8796093022208 bytes"},
    {function() return tensor.ones(3):expand(big, 3):contiguous() end, "26388279066624 bytes"},
    {function() return tensor.ones(2^20, 1):matmul(tensor.ones(1, 2^20)) end, "8796093022208 bytes"},
    {function() return tensor.zeros(2^62, 4) end, "4611686018427387904x4"},
    {function() return tensor.ones(2):expand(big, 2) + 1 end, "bytes"},
    {function() return nn.Linear(1 << 21, 1 << 21) end, "bytes"},
  }
  for i, c in ipairs(cases) do
    local err = raises(c[1], c[2])
    ok(err:find("allocate", 1, true), "case " .. i .. ": " .. err)
  end
  settle()
  eq(entro.mem(), before, "nothing left behind")
  -- and the session goes on
  local x = tensor.ones(3, 3)
  eq((x:matmul(x)):sum(), 27.0)
end)
