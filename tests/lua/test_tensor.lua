-- test_tensor.lua -- the tensor module (issue 2) against naive Lua loops: constructors,
-- access, views, broadcasting arithmetic, math, reductions, matmul, indexing, joining,
-- printing and memory. Inputs come in every layout a view can make: contiguous,
-- transposed, narrowed, permuted, expanded, with 0- and 1-sized dimensions.
local T = tensor
math.randomseed(20240611)

---------------------------------------------------------------------------------------
-- reference helpers: plain Lua, reading tensors only through totable and get
---------------------------------------------------------------------------------------

local function numel(shape)
  local n = 1
  for _, s in ipairs(shape) do n = n * s end
  return n
end

-- calls fn(idx) for every 1-based multi-index of shape, in row-major order
local function each_index(shape, fn)
  local n = #shape
  for _, s in ipairs(shape) do if s == 0 then return end end
  local idx = {}
  for i = 1, n do idx[i] = 1 end
  while true do
    fn(idx)
    local d = n
    while d >= 1 do
      idx[d] = idx[d] + 1
      if idx[d] <= shape[d] then break end
      idx[d] = 1
      d = d - 1
    end
    if d < 1 then return end
  end
end

-- flat values in row-major order, through totable (itself checked against get below)
local function flat(x)
  if x:dim() == 0 then return {x:item()} end
  local shape, out = x:shape(), {}
  local function walk(t, d)
    if d > #shape then out[#out + 1] = t; return end
    for i = 1, shape[d] do walk(t[i], d + 1) end
  end
  walk(x:totable(), 1)
  return out
end

local function lin(shape, idx)   -- 1-based row-major position of idx in shape
  local o = 0
  for d = 1, #shape do o = o * shape[d] + (idx[d] - 1) end
  return o + 1
end

local function rvals(n, lo, hi)   -- n random numbers in [lo, hi)
  lo, hi = lo or -2, hi or 2
  local v = {}
  for i = 1, n do v[i] = lo + (hi - lo) * math.random() end
  return v
end

-- a contiguous tensor of shape holding vals (flat, row-major)
local function make(shape, vals)
  local t = T.zeros(shape)
  local k = 0
  each_index(shape, function(idx)
    k = k + 1
    local args = {table.unpack(idx)}
    args[#args + 1] = vals[k]
    t:set(table.unpack(args))
  end)
  return t
end

local function copy_list(t) local r = {} for i, v in ipairs(t) do r[i] = v end return r end

local function inverse_perm(p)
  local q = {}
  for i, v in ipairs(p) do q[v] = i end
  return q
end

local function shuffled(n)
  local p = {}
  for i = 1, n do p[i] = i end
  for i = n, 2, -1 do local j = math.random(i); p[i], p[j] = p[j], p[i] end
  return p
end

-- Tensors of the given logical shape holding vals, in several memory layouts:
-- contiguous, reversed strides (transposed), narrowed out of a larger padded tensor, and
-- a random permutation of a contiguous buffer. Each entry is {name, tensor}.
local function layouts(shape, vals)
  local n = #shape
  local c = make(shape, vals)
  local out = {{"contiguous", c}}
  if n >= 2 then
    local rev = {}
    for i = 1, n do rev[i] = n + 1 - i end
    out[#out + 1] = {"transposed", c:permute(rev):contiguous():permute(rev)}
    local p = shuffled(n)
    out[#out + 1] = {"permuted", c:permute(p):contiguous():permute(inverse_perm(p))}
  end
  if n >= 1 then
    local big = {}
    for i = 1, n do big[i] = shape[i] + 3 end
    local b = T.full(big, 777)
    local v = b
    for d = 1, n do v = v:narrow(d, 2, shape[d]) end
    v:copy(c)
    out[#out + 1] = {"narrowed", v}
  end
  return out
end

local function rshape(nd, maxsize, allow0)
  local s = {}
  for i = 1, nd do s[i] = math.random(allow0 and 0 or 1, maxsize or 4) end
  return s
end

local function same_values(x, vals, msg, tol)
  local f = flat(x)
  if #f ~= #vals then error(string.format("%s: %d values, expected %d", msg or "", #f, #vals), 2) end
  for i = 1, #f do
    local a, b = f[i], vals[i]
    local good
    if b ~= b then good = a ~= a
    elseif tol then good = math.abs(a - b) <= tol * math.max(1, math.abs(b))
    else good = a == b end
    if not good then
      error(string.format("%s: element %d is %.17g, expected %.17g", msg or "", i, a, b), 2)
    end
  end
end

-- near() that also accepts NaN for NaN
local function nnear(a, b, tol, msg)
  if b ~= b then
    if a == a then error(string.format("%s: %.17g, expected nan", msg or "", a), 2) end
    return
  end
  if not (math.abs(a - b) <= tol * math.max(1, math.abs(b))) then
    error(string.format("%s: %.17g, expected %.17g", msg or "", a, b), 2)
  end
end

local function broadcast(sa, sb)
  local n = math.max(#sa, #sb)
  local r = {}
  for i = 1, n do
    local a = sa[i - (n - #sa)] or 1
    local b = sb[i - (n - #sb)] or 1
    if a ~= b and a ~= 1 and b ~= 1 then return nil end
    r[i] = a == 1 and b or a
  end
  return r
end

-- value of flat array vals (shape s) at result index idx under broadcasting
local function bget(vals, s, idx)
  local lead = #idx - #s
  local o = 0
  for d = 1, #s do
    local i = s[d] == 1 and 1 or idx[d + lead]
    o = o * s[d] + (i - 1)
  end
  return vals[o + 1]
end

-- a random pair of broadcast-compatible shapes
local function bshapes()
  local full = rshape(math.random(0, 4), 4, math.random() < 0.2)
  local function derive()
    local k = math.random(0, #full)
    local s = {}
    for i = #full - k + 1, #full do s[#s + 1] = math.random() < 0.35 and 1 or full[i] end
    return s
  end
  if math.random() < 0.5 then return full, derive() end
  return derive(), full
end

---------------------------------------------------------------------------------------
-- constructors
---------------------------------------------------------------------------------------

test("zeros and ones take sizes as varargs or a table", function()
  local a, b = T.zeros(2, 3), T.zeros{2, 3}
  eq(a:shape(), {2, 3}); eq(b:shape(), {2, 3})
  same_values(a, {0, 0, 0, 0, 0, 0})
  same_values(T.ones{3}, {1, 1, 1})
  eq(T.ones(2, 1, 2):shape(), {2, 1, 2})
  local s = T.zeros()
  eq(s:dim(), 0); eq(s:numel(), 1); eq(s:item(), 0)
  eq(T.zeros(0):numel(), 0)
  eq(T.zeros(3, 0, 2):shape(), {3, 0, 2})
  eq(T.zeros(1, 1, 1, 1, 1, 1, 1, 1):dim(), 8)
end)

test("full, eye, zeros_like and ones_like", function()
  same_values(T.full({2, 2}, 7.5), {7.5, 7.5, 7.5, 7.5})
  eq(T.full({}, 3):item(), 3)
  local e = T.eye(3)
  eq(e:shape(), {3, 3})
  each_index({3, 3}, function(i) eq(e:get(i[1], i[2]), i[1] == i[2] and 1 or 0) end)
  local r = T.eye(2, 4)
  eq(r:shape(), {2, 4})
  same_values(r, {1, 0, 0, 0, 0, 1, 0, 0})
  eq(T.eye(0):shape(), {0, 0})
  local x = T.ones(2, 3):t()
  eq(T.zeros_like(x):shape(), {3, 2})
  same_values(T.ones_like(x), {1, 1, 1, 1, 1, 1})
  same_values(T.full_like(x, -2), {-2, -2, -2, -2, -2, -2})
end)

test("arange with one, two and three arguments", function()
  same_values(T.arange(5), {0, 1, 2, 3, 4})
  same_values(T.arange(2, 6), {2, 3, 4, 5})
  same_values(T.arange(1, 2, 0.25), {1, 1.25, 1.5, 1.75})
  same_values(T.arange(5, 0, -2), {5, 3, 1})
  eq(T.arange(3, 3):numel(), 0)
  eq(T.arange(3, 1):numel(), 0)
  eq(T.arange(0, 1, 0.1):numel(), 10)
  raises(function() T.arange(0, 1, 0) end, "arange")
  raises(function() T.arange(0, 1 / 0) end, "arange")
end)

test("linspace includes both ends exactly", function()
  local x = T.linspace(-1, 1, 5)
  same_values(x, {-1, -0.5, 0, 0.5, 1})
  local y = T.linspace(0, 0.3, 7)
  eq(y:get(1), 0); eq(y:get(7), 0.3)
  for i = 1, 7 do near(y:get(i), 0.3 * (i - 1) / 6, 1e-15) end
  same_values(T.linspace(2, 5, 1), {2})
  eq(T.linspace(2, 5, 0):numel(), 0)
  raises(function() T.linspace(0, 1, -1) end, "linspace")
end)

test("tensor{} from nested tables", function()
  local x = T.tensor{{1, 2, 3}, {4, 5, 6}}
  eq(x:shape(), {2, 3})
  eq(x:get(2, 1), 4)
  eq(x:totable(), {{1, 2, 3}, {4, 5, 6}})
  local y = T.tensor{{{1}, {2}}, {{3}, {4}}}
  eq(y:shape(), {2, 2, 1})
  same_values(y, {1, 2, 3, 4})
  eq(T.tensor{}:shape(), {0})
  eq(T.tensor{{}, {}}:shape(), {2, 0})
  eq(T.tensor(2.5):dim(), 0)
  eq(T.tensor(2.5):item(), 2.5)
  same_values(T.tensor{true, false}, {1, 0})
  local c = T.tensor(x)          -- a copy, not a view
  c:set(1, 1, 100)
  eq(x:get(1, 1), 1)
end)

test("tensor{} rejects ragged and non-numeric tables", function()
  raises(function() T.tensor{{1, 2}, {3}} end, "ragged")
  raises(function() T.tensor{{1, 2}, 3} end, "ragged")
  raises(function() T.tensor{1, {2}} end, "tensor: element is a table")
  raises(function() T.tensor{1, "x"} end, "tensor: element is a string")
  raises(function() T.tensor{{{{{{{{{1}}}}}}}}} end, "more than 8")
end)

---------------------------------------------------------------------------------------
-- shape and element access
---------------------------------------------------------------------------------------

test("shape, size, dim, numel and #", function()
  local x = T.zeros(4, 3, 2)
  eq(x:shape(), {4, 3, 2})
  eq(x:size(), {4, 3, 2})
  eq(x:size(1), 4); eq(x:size(3), 2); eq(x:size(-1), 2); eq(x:size(-3), 4)
  eq(x:dim(), 3); eq(x:numel(), 24); eq(#x, 4)
  eq(#T.zeros(), 0)
  raises(function() x:size(4) end, "size: dimension 4 out of range")
  raises(function() x:size(0) end, "size: dimension 0 out of range")
end)

test("get and set are 1-based, negative from the end", function()
  local x = T.zeros(3, 4)
  local v = 0
  for i = 1, 3 do for j = 1, 4 do v = v + 1; ok(rawequal(x:set(i, j, v), x)) end end
  eq(x:get(1, 1), 1); eq(x:get(3, 4), 12); eq(x:get(2, 3), 7)
  eq(x:get(-1, -1), 12); eq(x:get(-3, 2), 2)
  x:set(-1, 1, 99)
  eq(x:get(3, 1), 99)
  raises(function() x:get(0, 1) end, "get: index 0 out of range 1..3")
  raises(function() x:get(4, 1) end, "get: index 4 out of range 1..3")
  raises(function() x:get(1, 5) end, "get: index 5 out of range 1..4")
  raises(function() x:get(1) end, "get: 1 indices for a 2-d tensor")
  raises(function() x:get(1, 1, 1) end, "get: 3 indices")
  raises(function() x:get(1.5, 1) end, "get: an index must be an integer")
  raises(function() x:set(1, 1) end, "set: 1 indices for a 2-d tensor")
  raises(function() x:set(1, 9, 0) end, "set: index 9 out of range 1..4")
  raises(function() x:set(1, 1, "a") end, "number expected")
  local s = T.tensor(4)
  eq(s:get(), 4)
  s:set(5)
  eq(s:item(), 5)
end)

test("item and totable", function()
  eq(T.tensor{{3}}:item(), 3)
  eq(T.ones(1, 1, 1):item(), 1)
  raises(function() T.ones(2):item() end, "item: tensor of shape 2 has 2 elements, not 1")
  raises(function() T.ones(0):item() end, "item: tensor of shape 0 has 0 elements")
  eq(T.tensor(7):totable(), 7)
  eq(T.zeros(2, 0):totable(), {{}, {}})
  -- totable agrees with get on every layout
  local shape = {2, 3, 4}
  local vals = rvals(24)
  for _, l in ipairs(layouts(shape, vals)) do
    local t = l[2]:totable()
    each_index(shape, function(i)
      eq(t[i[1]][i[2]][i[3]], l[2]:get(i[1], i[2], i[3]), l[1])
      eq(t[i[1]][i[2]][i[3]], vals[lin(shape, i)], l[1])
    end)
  end
end)

---------------------------------------------------------------------------------------
-- views
---------------------------------------------------------------------------------------

test("narrow and select share storage and read the right elements", function()
  for trial = 1, 20 do
    local shape = rshape(math.random(1, 4), 5)
    local vals = rvals(numel(shape))
    for _, l in ipairs(layouts(shape, vals)) do
      local x = l[2]
      local d = math.random(#shape)
      local start = math.random(shape[d])
      local len = math.random(0, shape[d] - start + 1)
      local v = x:narrow(d, start, len)
      ok(v:same_storage(x), "narrow copies")
      local vs = copy_list(shape); vs[d] = len
      eq(v:shape(), vs)
      local exp = {}
      each_index(vs, function(i)
        local j = copy_list(i); j[d] = j[d] + start - 1
        exp[#exp + 1] = vals[lin(shape, j)]
      end)
      same_values(v, exp, "narrow " .. l[1])
      local k = math.random(shape[d])
      local s = x:select(d, k)
      ok(s:same_storage(x))
      local ss = copy_list(shape); table.remove(ss, d)
      eq(s:shape(), ss)
      exp = {}
      each_index(ss, function(i)
        local j = copy_list(i); table.insert(j, d, k)
        exp[#exp + 1] = vals[lin(shape, j)]
      end)
      same_values(s, exp, "select " .. l[1])
      same_values(x:select(d, -1), flat(x:select(d, shape[d])))
    end
  end
  local x = T.arange(10)
  same_values(x:narrow(1, -3, 3), {7, 8, 9})
  raises(function() x:narrow(1, 9, 3) end, "narrow")
  raises(function() x:narrow(1, 0, 1) end, "narrow")
  raises(function() x:narrow(2, 1, 1) end, "narrow: dimension 2 out of range")
  raises(function() x:narrow(1, 1, -1) end, "narrow")
  raises(function() x:select(1, 11) end, "select: index 11 out of range 1..10")
  raises(function() T.tensor(1):select(1, 1) end, "select: dimension 1 out of range")
end)

test("writes through a view land in the base tensor", function()
  local x = T.zeros(3, 4)
  x:narrow(2, 2, 2):fill(5)
  x:select(1, 3):set(4, 9)
  x:t():select(1, 1):copy(T.tensor{1, 2, 3})
  eq(x:totable(), {{1, 5, 5, 0}, {2, 5, 5, 0}, {3, 5, 5, 9}})
  local y = T.zeros(2, 3, 4)
  y:permute(3, 1, 2):select(1, 4):fill(1)
  eq(y:sum(), 6)
  eq(y:get(2, 3, 4), 1)
end)

test("t, transpose and permute against index maps", function()
  for trial = 1, 20 do
    local nd = math.random(2, 4)
    local shape = rshape(nd, 4, true)
    local vals = rvals(numel(shape))
    local x = layouts(shape, vals)[math.random(1, 3)][2]
    local a, b = math.random(nd), math.random(nd)
    local tr = x:transpose(a, b)
    ok(tr:same_storage(x))
    local ts = copy_list(shape); ts[a], ts[b] = shape[b], shape[a]
    eq(tr:shape(), ts)
    each_index(ts, function(i)
      local j = copy_list(i); j[a], j[b] = i[b], i[a]
      eq(tr:get(table.unpack(i)), vals[lin(shape, j)])
    end)
    local p = shuffled(nd)
    local pm = x:permute(p)
    local ps = {}
    for i = 1, nd do ps[i] = shape[p[i]] end
    eq(pm:shape(), ps)
    each_index(ps, function(i)
      local j = {}
      for k = 1, nd do j[p[k]] = i[k] end
      eq(pm:get(table.unpack(i)), vals[lin(shape, j)])
    end)
    eq(x:permute(table.unpack(p)):shape(), ps)   -- varargs form
  end
  local m = T.tensor{{1, 2, 3}, {4, 5, 6}}
  eq(m:t():totable(), {{1, 4}, {2, 5}, {3, 6}})
  eq(m:t():stride(), {1, 3})
  eq(m:transpose(-1, -2):totable(), {{1, 4}, {2, 5}, {3, 6}})
  eq(T.arange(3):t():totable(), {0, 1, 2})
  raises(function() T.zeros(2, 2, 2):t() end, "t: needs a tensor of at most 2 dimensions, got 2x2x2")
  raises(function() m:permute(1, 1) end, "permute: not a permutation")
  raises(function() m:permute(1) end, "permute: 1 dimensions given for a 2-d tensor")
  raises(function() m:permute(1, 3) end, "permute")
  raises(function() m:transpose(1, 3) end, "transpose: dimension 3 out of range")
end)

test("view splits and merges contiguous runs without copying", function()
  local x = T.arange(24)
  local v = x:view(2, 3, 4)
  ok(v:same_storage(x)); eq(v:shape(), {2, 3, 4}); eq(v:get(2, 1, 3), 14)
  eq(x:view{4, -1}:shape(), {4, 6})
  eq(x:view(-1, 2, 3):shape(), {4, 2, 3})
  eq(x:view(24, 1, 1):shape(), {24, 1, 1})
  local t = v:transpose(1, 2)          -- 3x2x4: the last dim is still contiguous
  local w = t:view(3, 2, 2, 2)
  ok(w:same_storage(x))
  each_index({3, 2, 2, 2}, function(i)
    eq(w:get(i[1], i[2], i[3], i[4]), t:get(i[1], i[2], (i[3] - 1) * 2 + i[4]))
  end)
  raises(function() t:view(6, 4) end, "view: shape 3x2x4 cannot be viewed as 6x4 without a copy")
  raises(function() t:view(-1) end, "use reshape")
  -- a narrowed row block stays viewable; narrowed columns merge only within a row
  local n = T.arange(20):view(4, 5):narrow(1, 2, 2)
  same_values(n:view(10), flat(n))
  local c = T.arange(20):view(4, 5):narrow(2, 1, 4)
  same_values(c:view(4, 2, 2), flat(c))
  raises(function() c:view(16) end, "without a copy")
  -- size-1 dims with odd strides do not block a view
  local s = T.arange(6):view(2, 3):narrow(1, 2, 1)  -- 1x3
  same_values(s:view(3), {3, 4, 5})
  same_values(s:t():view(3), {3, 4, 5})
  same_values(s:unsqueeze(1):view(1, 3, 1), {3, 4, 5})
  -- 0-sized tensors view freely
  eq(T.zeros(0, 3):view(3, 0, 5):shape(), {3, 0, 5})
  eq(T.zeros(4, 0):t():view(-1, 2):shape(), {0, 2})
  eq(T.tensor(5):view(1, 1):shape(), {1, 1})
  eq(T.zeros(1, 1):view():dim(), 0)
  raises(function() x:view(5, 5) end, "view: cannot view shape 24 (24 elements) as 5x5")
  raises(function() x:view(-1, -1) end, "view: more than one -1")
  raises(function() x:view(-1, 5) end, "view")
  raises(function() x:view(-2, 12) end, "view: negative size")
  raises(function() T.zeros(0):view(-1, 0) end, "view")
end)

test("reshape views when it can and copies when it must", function()
  for trial = 1, 20 do
    local shape = rshape(math.random(1, 4), 4, math.random() < 0.2)
    local vals = rvals(numel(shape))
    for _, l in ipairs(layouts(shape, vals)) do
      local r = l[2]:reshape(-1)
      same_values(r, vals, "reshape " .. l[1])
      if l[2]:is_contiguous() then ok(r:same_storage(l[2])) end
      local r2 = l[2]:reshape(numel(shape), 1)
      same_values(r2, vals)
      same_values(l[2]:flatten(), vals, "flatten " .. l[1])
    end
  end
  local x = T.arange(6):view(2, 3):t()
  local r = x:reshape(6)
  ok(not r:same_storage(x))
  same_values(r, {0, 3, 1, 4, 2, 5})
  r:set(1, 100)
  eq(x:get(1, 1), 0)    -- the copy is independent
  raises(function() x:reshape(4) end, "reshape: cannot view shape 3x2 (6 elements) as 4")
end)

test("flatten ranges of dimensions", function()
  local x = T.zeros(2, 3, 4, 5)
  eq(x:flatten():shape(), {120})
  eq(x:flatten(2):shape(), {2, 60})
  eq(x:flatten(2, 3):shape(), {2, 12, 5})
  eq(x:flatten(-2, -1):shape(), {2, 3, 20})
  eq(x:flatten(3, 3):shape(), {2, 3, 4, 5})
  eq(T.tensor(3):flatten():shape(), {1})
  raises(function() x:flatten(3, 2) end, "flatten: start dimension 3 after end dimension 2")
  local p = T.arange(24):view(2, 3, 4):permute(3, 1, 2)
  same_values(p:flatten(2), flat(p))
end)

test("expand makes stride-0 views and refuses writes", function()
  local x = T.tensor{{1}, {2}, {3}}
  local e = x:expand(3, 4)
  ok(e:same_storage(x))
  eq(e:shape(), {3, 4}); eq(e:stride(), {1, 0})
  eq(e:totable(), {{1, 1, 1, 1}, {2, 2, 2, 2}, {3, 3, 3, 3}})
  local e2 = x:expand(2, 3, -1)
  eq(e2:shape(), {2, 3, 1}); eq(e2:stride(1), 0)
  eq(T.tensor{1, 2}:expand{3, 2}:totable(), {{1, 2}, {1, 2}, {1, 2}})
  eq(x:expand(3, 0):shape(), {3, 0})
  eq(T.tensor(4):expand(2, 2):totable(), {{4, 4}, {4, 4}})
  eq(x:expand_as(T.zeros(2, 3, 5)):shape(), {2, 3, 5})
  raises(function() e:fill(0) end, "fill: cannot write into an expanded view")
  raises(function() e:set(1, 1, 0) end, "set: cannot write into an expanded view")
  raises(function() e:copy(T.zeros(3, 4)) end, "copy: cannot write into an expanded view")
  raises(function() e:add_(1) end, "add: cannot write into an expanded view")
  raises(function() e:exp_() end, "exp: cannot write into an expanded view")
  raises(function() e:axpy_(1, T.ones(3, 4)) end, "axpy: cannot write into an expanded view")
  raises(function() T.rng(1):normal_(e) end, "cannot write into an expanded view")
  raises(function() e:scatter_add_(1, T.ones(1, 4), T.ones(1, 4)) end, "scatter_add: cannot write")
  raises(function() T.ones(3, 4):add(1, e) end, "add: cannot write into an expanded view")
  raises(function() x:expand(2, 3, 4):mul_(2) end, "cannot write into an expanded view")
  eq(x:totable(), {{1}, {2}, {3}})        -- nothing was written
  -- a 1-sized expanded dimension is still writable
  local one = T.zeros(1, 3):expand(1, 3)
  one:fill(2)
  raises(function() x:expand(3, 5, 2) end, "expand: cannot expand shape 3x1 to 3x5x2")
  raises(function() x:expand(4) end, "expand: cannot expand shape 3x1 to 4")
  raises(function() x:expand(-1, -1, 2) end, "expand")
  -- a contiguous copy of an expanded view is writable and independent
  local c = e:contiguous()
  ok(not c:same_storage(x))
  c:add_(1)
  eq(c:totable(), {{2, 2, 2, 2}, {3, 3, 3, 3}, {4, 4, 4, 4}})
end)

test("squeeze and unsqueeze", function()
  local x = T.zeros(1, 3, 1, 2)
  eq(x:squeeze():shape(), {3, 2})
  eq(x:squeeze(1):shape(), {3, 1, 2})
  eq(x:squeeze(3):shape(), {1, 3, 2})
  eq(x:squeeze(2):shape(), {1, 3, 1, 2})     -- not size 1: unchanged
  eq(x:squeeze(-2):shape(), {1, 3, 2})
  eq(T.zeros(1, 1):squeeze():dim(), 0)
  local y = T.arange(6):view(2, 3)
  for d = 1, 3 do
    local u = y:unsqueeze(d)
    ok(u:same_storage(y))
    local s = {2, 3}; table.insert(s, d, 1)
    eq(u:shape(), s)
    same_values(u, flat(y))
    same_values(u:squeeze(d), flat(y))
  end
  eq(y:unsqueeze(-1):shape(), {2, 3, 1})
  eq(y:unsqueeze(-3):shape(), {1, 2, 3})
  eq(y:t():unsqueeze(2):shape(), {3, 1, 2})
  same_values(y:t():unsqueeze(2), flat(y:t()))
  eq(T.tensor(1):unsqueeze(1):shape(), {1})
  raises(function() y:unsqueeze(4) end, "unsqueeze: dimension 4 out of range")
  raises(function() y:unsqueeze(0) end, "unsqueeze")
  raises(function() T.zeros(1, 1, 1, 1, 1, 1, 1, 1):unsqueeze(1) end, "unsqueeze")
  raises(function() x:squeeze(5) end, "squeeze: dimension 5 out of range")
end)

test("contiguous, clone, copy and fill", function()
  local x = T.arange(12):view(3, 4)
  ok(rawequal(x:contiguous(), x))
  local t = x:t()
  ok(not t:is_contiguous())
  local c = t:contiguous()
  ok(c:is_contiguous()); ok(not c:same_storage(x))
  same_values(c, flat(t))
  local k = x:clone()
  ok(not k:same_storage(x))
  k:fill(1)
  eq(x:get(1, 2), 1)
  eq(k:sum(), 12)
  -- copy with broadcasting of the source, into non-contiguous destinations
  local d = T.zeros(4, 3):t()
  ok(rawequal(d:copy(T.tensor{1, 2, 3, 4}), d))
  eq(d:totable(), {{1, 2, 3, 4}, {1, 2, 3, 4}, {1, 2, 3, 4}})
  d:copy(5)
  eq(d:sum(), 60)
  d:copy(x)
  eq(d:totable(), x:totable())
  raises(function() d:copy(T.zeros(4, 3)) end, "copy: cannot copy shape 4x3 into shape 3x4")
  raises(function() T.zeros(3):copy(T.zeros(2, 3)) end, "copy: cannot copy shape 2x3 into shape 3")
  ok(rawequal(d:fill(0), d))
  eq(d:sum(), 0)
  -- copies between overlapping views of one storage behave as if through a buffer
  local s = T.arange(6)
  s:narrow(1, 2, 5):copy(s:narrow(1, 1, 5):clone())
  same_values(s, {0, 0, 1, 2, 3, 4})
end)

test("close releases a tensor; its views keep the storage alive", function()
  local x = T.arange(6)
  local v = x:view(2, 3)
  local n = x:narrow(1, 2, 2)
  x:close()
  x:close()                                       -- closing twice is harmless
  eq(v:totable(), {{0, 1, 2}, {3, 4, 5}})
  v:set(1, 1, 42)
  eq(n:get(1), 1)
  collectgarbage(); collectgarbage()
  eq(v:sum(), 57)
  raises(function() x:sum() end, "closed")
  raises(function() return x + 1 end, "closed")
  raises(function() return 1 - x end, "closed")
  raises(function() return v + x end, "closed")
  raises(function() x:view(6) end, "closed")
  raises(function() v:add(x) end, "closed")
  raises(function() T.cat{v, x} end, "closed")
  ok(tostring(x):find("closed"))
  do
    local y <close> = T.ones(3)
    eq(y:sum(), 3)
  end
end)

---------------------------------------------------------------------------------------
-- arithmetic and broadcasting
---------------------------------------------------------------------------------------

local BINOPS = {
  {"add", function(a, b) return a + b end},
  {"sub", function(a, b) return a - b end},
  {"mul", function(a, b) return a * b end},
  {"div", function(a, b) return a / b end},
  {"pow", function(a, b) return a ^ b end, 1e-15},
  {"maximum", function(a, b) return (a >= b or a ~= a) and a or b end},
  {"minimum", function(a, b) return (a <= b or a ~= a) and a or b end},
  {"eq", function(a, b) return a == b and 1 or 0 end},
  {"ne", function(a, b) return a ~= b and 1 or 0 end},
  {"lt", function(a, b) return a < b and 1 or 0 end},
  {"le", function(a, b) return a <= b and 1 or 0 end},
  {"gt", function(a, b) return a > b and 1 or 0 end},
  {"ge", function(a, b) return a >= b and 1 or 0 end},
}

-- values in a small integer-ish set so that comparisons hit equality often; positive
-- bases for pow
local function opvals(n, name)
  local v = {}
  for i = 1, n do
    if name == "pow" then v[i] = 0.25 + 2 * math.random()
    else v[i] = math.random(-3, 3) * 0.5 end
  end
  return v
end

test("binary ops broadcast like numpy, in every layout, against naive loops", function()
  for trial = 1, 150 do
    local sa, sb = bshapes()
    local rs = broadcast(sa, sb)
    for _, op in ipairs(BINOPS) do
      local va, vb = opvals(numel(sa), op[1]), opvals(numel(sb), op[1])
      if op[1] == "div" then for i, x in ipairs(vb) do if x == 0 then vb[i] = 0.5 end end end
      local exp = {}
      each_index(rs, function(i) exp[#exp + 1] = op[2](bget(va, sa, i), bget(vb, sb, i)) end)
      local la, lb = layouts(sa, va), layouts(sb, vb)
      local a, b = la[math.random(#la)][2], lb[math.random(#lb)][2]
      local r = a[op[1]](a, b)
      eq(r:shape(), rs, op[1])
      same_values(r, exp, op[1], op[3])
      same_values(T[op[1]](a, b), exp, op[1], op[3])
    end
  end
end)

test("broadcasting against expanded (stride-0) operands", function()
  for trial = 1, 30 do
    local shape = rshape(math.random(1, 4), 4)
    local small = {}
    for i, s in ipairs(shape) do small[i] = math.random() < 0.5 and 1 or s end
    local vs = rvals(numel(small))
    local e = make(small, vs):expand(shape)
    local vo = rvals(numel(shape))
    local o = layouts(shape, vo)
    o = o[math.random(#o)][2]
    local exp = {}
    each_index(shape, function(i) exp[#exp + 1] = bget(vs, small, i) * vo[lin(shape, i)] end)
    same_values(e * o, exp)
    same_values(o * e, exp)
    same_values(e:clone(), (function()
      local r = {}
      each_index(shape, function(i) r[#r + 1] = bget(vs, small, i) end)
      return r
    end)())
  end
end)

test("scalars on either side, and the metamethods", function()
  local x = T.tensor{{1, 2}, {3, 4}}
  same_values(x + 1, {2, 3, 4, 5}); same_values(1 + x, {2, 3, 4, 5})
  same_values(x - 1, {0, 1, 2, 3}); same_values(10 - x, {9, 8, 7, 6})
  same_values(x * 2, {2, 4, 6, 8}); same_values(2 * x, {2, 4, 6, 8})
  same_values(x / 2, {0.5, 1, 1.5, 2}); same_values(12 / x, {12, 6, 4, 3})
  same_values(x ^ 2, {1, 4, 9, 16}); same_values(2 ^ x, {2, 4, 8, 16})
  same_values(x ^ 0.5, {1, math.sqrt(2), math.sqrt(3), 2}, "sqrt", 1e-15)
  same_values(-x, {-1, -2, -3, -4})
  same_values(x + x, {2, 4, 6, 8})
  same_values(x - x:t(), {0, -1, 1, 0})
  same_values(x * T.tensor{10, 100}, {10, 200, 30, 400})
  same_values(x / T.tensor{{1}, {2}}, {1, 2, 1.5, 2})
  same_values(x:add(1), {2, 3, 4, 5})
  same_values(x:sub(T.tensor(1)), {0, 1, 2, 3})
  same_values(x:gt(2), {0, 0, 1, 1})
  same_values(x:le(T.tensor{1, 4}), {1, 1, 0, 1})
  same_values(T.maximum(x, 2.5), {2.5, 2.5, 3, 4})
  same_values(x:atan2(1), {math.atan(1, 1), math.atan(2, 1), math.atan(3, 1), math.atan(4, 1)})
  same_values(x:fmod(3), {1, 2, 0, 1})
  -- 0-dim tensors broadcast like scalars
  local s = T.tensor(3)
  eq((s + x):shape(), {2, 2}); eq((s * s):dim(), 0); eq((s * s):item(), 9)
  raises(function() return x + "a" end, "add: expected a tensor or a number, got string")
  raises(function() return x * {} end, "mul: expected a tensor or a number, got table")
  raises(function() return x:add(nil) end, "add")
  raises(function() return T.add(1, 2) end, "add")
end)

test("broadcast failures name the op and both shapes", function()
  local a, b = T.zeros(2, 3), T.zeros(4)
  raises(function() return a + b end, "add: shapes 2x3 and 4 do not broadcast (dimension 2: 3 vs 4)")
  raises(function() return a - b end, "sub: shapes 2x3 and 4 do not broadcast")
  raises(function() return a * T.zeros(3, 3) end, "mul: shapes 2x3 and 3x3 do not broadcast (dimension 1: 2 vs 3)")
  raises(function() return a / b end, "div: shapes 2x3 and 4")
  raises(function() return a ^ b end, "pow: shapes 2x3 and 4")
  raises(function() return a:eq(b) end, "eq: shapes 2x3 and 4")
  raises(function() return T.zeros(0) + T.zeros(2) end, "add: shapes 0 and 2 do not broadcast")
  eq((T.zeros(0) + T.zeros(1)):shape(), {0})
  eq((T.zeros(3, 0) + T.zeros(1, 0)):shape(), {3, 0})
  eq((T.zeros(2, 1, 0) + T.zeros(4, 1)):shape(), {2, 4, 0})
end)

test("out= forms write into the given tensor and return it", function()
  for _, op in ipairs(BINOPS) do
    local a, b = T.tensor{{1, 2, 3}, {4, 5, 6}}, T.tensor{2, 1, 3}
    local exp = flat(a[op[1]](a, b))
    local o = T.full({2, 3}, -1)
    ok(rawequal(a[op[1]](a, b, o), o), op[1])
    same_values(o, exp, op[1])
    local o2 = T.zeros(3, 2):t()                   -- a non-contiguous out
    ok(rawequal(a[op[1]](a, b, {out = o2}), o2), op[1])
    same_values(o2, exp, op[1])
    ok(rawequal(T[op[1]](a, b, o), o))
  end
  local x, o = T.tensor{1, 4, 9}, T.zeros(3)
  ok(rawequal(x:sqrt(o), o)); same_values(o, {1, 2, 3})
  ok(rawequal(x:exp({out = o}), o))
  ok(rawequal(x:clamp(2, 5, o), o)); same_values(o, {2, 4, 5})
  ok(rawequal(x:affine(2, 1, o), o)); same_values(o, {3, 9, 19})
  ok(rawequal(T.where(x:gt(3), x, 0, o), o)); same_values(o, {0, 4, 9})
  raises(function() x:add(1, T.zeros(2)) end, "add: out has shape 2, the result has shape 3")
  raises(function() x:add(T.zeros(2, 1), T.zeros(3)) end, "add: out has shape 3, the result has shape 2x3")
  raises(function() x:exp(T.zeros(3, 1)) end, "exp: out has shape 3x1, the result has shape 3")
end)

test("in-place forms return the very same object", function()
  for _, op in ipairs(BINOPS) do
    local x = T.tensor{{1, 2}, {3, 4}}
    local exp = flat(x[op[1]](x, T.tensor{2, 1}))
    ok(rawequal(x[op[1] .. "_"](x, T.tensor{2, 1}), x), op[1])
    same_values(x, exp, op[1])
  end
  local x = T.tensor{1, 2, 3}
  ok(rawequal(x:add_(1), x)); same_values(x, {2, 3, 4})
  ok(rawequal(x:mul_(2), x)); same_values(x, {4, 6, 8})
  ok(rawequal(x:sub_(T.tensor{1, 1, 1}), x)); same_values(x, {3, 5, 7})
  ok(rawequal(x:div_(2), x)); same_values(x, {1.5, 2.5, 3.5})
  ok(rawequal(x:pow_(2), x)); same_values(x, {2.25, 6.25, 12.25})
  ok(rawequal(x:sqrt_(), x)); same_values(x, {1.5, 2.5, 3.5})
  ok(rawequal(x:neg_(), x)); same_values(x, {-1.5, -2.5, -3.5})
  ok(rawequal(x:abs_(), x)); same_values(x, {1.5, 2.5, 3.5})
  ok(rawequal(x:floor_(), x)); same_values(x, {1, 2, 3})
  ok(rawequal(x:clamp_(1.5, 2.5), x)); same_values(x, {1.5, 2, 2.5})
  ok(rawequal(x:axpy_(2, T.tensor{1, 1, 1}), x)); same_values(x, {3.5, 4, 4.5})
  ok(rawequal(x:axpy_(-1, T.tensor(0.5)), x)); same_values(x, {3, 3.5, 4})
  ok(rawequal(x:fill_(0), x)); ok(rawequal(x:copy_(T.tensor{7, 8, 9}), x))
  same_values(x, {7, 8, 9})
  -- in place on a non-contiguous view changes exactly the viewed elements
  local m = T.zeros(3, 4)
  local v = m:t():narrow(1, 2, 2)      -- 2x3, strides 1, 4
  ok(rawequal(v:add_(T.tensor{1, 2, 3}), v))
  eq(m:totable(), {{0, 1, 1, 0}, {0, 2, 2, 0}, {0, 3, 3, 0}})
  -- an in-place op cannot change the shape of its target
  raises(function() T.zeros(3, 1):add_(T.zeros(1, 4)) end, "add: out has shape 3x1, the result has shape 3x4")
  raises(function() T.zeros(3):axpy_(1, T.zeros(2, 3)) end, "axpy: cannot add shape 2x3 into shape 3")
  raises(function() T.zeros(3):axpy_(1, T.zeros(4)) end, "axpy")
end)

---------------------------------------------------------------------------------------
-- elementwise math
---------------------------------------------------------------------------------------

local function lua_tanh(x)
  if x > 20 then return 1 elseif x < -20 then return -1 end
  local e = math.exp(2 * x)
  return (e - 1) / (e + 1)
end

local UNOPS = {
  {"exp", math.exp}, {"log", math.log, "pos"}, {"sqrt", math.sqrt, "pos"}, {"abs", math.abs},
  {"sign", function(x) return x > 0 and 1 or x < 0 and -1 or 0 end},
  {"tanh", lua_tanh, nil, 1e-14},
  {"sigmoid", function(x) return 1 / (1 + math.exp(-x)) end, nil, 1e-15},
  {"relu", function(x) return x > 0 and x or 0 end},
  {"sin", math.sin}, {"cos", math.cos}, {"floor", math.floor},
  {"ceil", math.ceil}, {"neg", function(x) return -x end},
  {"square", function(x) return x * x end}, {"reciprocal", function(x) return 1 / x end},
  {"log1p", function(x) return math.log(1 + x) end, "pos", 1e-14},
  {"expm1", function(x) return math.exp(x) - 1 end, nil, 1e-14},
  {"softplus", function(x) return math.log(1 + math.exp(x)) end, nil, 1e-14},
}

test("unary math against Lua's math library, in every layout", function()
  for trial = 1, 10 do
    local shape = rshape(math.random(0, 4), 4, math.random() < 0.2)
    for _, op in ipairs(UNOPS) do
      local vals = op[3] == "pos" and rvals(numel(shape), 0.01, 5) or rvals(numel(shape), -4, 4)
      local exp = {}
      for i, v in ipairs(vals) do exp[i] = op[2](v) end
      for _, l in ipairs(layouts(shape, vals)) do
        same_values(l[2][op[1]](l[2]), exp, op[1] .. " " .. l[1], op[4] or 1e-15)
        same_values(T[op[1]](l[2]), exp, op[1], op[4] or 1e-15)
        local c = l[2]:clone()
        ok(rawequal(c[op[1] .. "_"](c), c))
        same_values(c, exp, op[1] .. "_", op[4] or 1e-15)
      end
    end
  end
  same_values(T.tensor{-1, 0, 2}:pow(3), {-1, 0, 8})
  same_values(T.tensor{1.5, -1.5, -0.5}:floor(), {1, -2, -1})
  same_values(T.tensor{-3, 0.5, 3}:relu(), {0, 0.5, 3})
  same_values(T.tensor{-1000, 1000}:sigmoid(), {0, 1})
  same_values(T.tensor{-1000, 1000}:softplus(), {0, 1000})
  same_values(T.tensor{-1000, 1000}:tanh(), {-1, 1})
  same_values(T.tensor{0, -1}:log(), {-math.huge, 0 / 0})
end)

test("clamp, where and comparisons", function()
  local x = T.tensor{{-2, -1, 0}, {1, 2, 3}}
  same_values(x:clamp(-1, 2), {-1, -1, 0, 1, 2, 2})
  same_values(x:clamp(0), {0, 0, 0, 1, 2, 3})
  same_values(x:clamp(nil, 0), {-2, -1, 0, 0, 0, 0})
  same_values(x:t():clamp(-1, 1), {-1, 1, -1, 1, 0, 1})
  raises(function() x:clamp(2, 1) end, "clamp: lower bound 2 exceeds upper bound 1")
  local c = x:gt(0)
  same_values(c, {0, 0, 0, 1, 1, 1})
  same_values(T.where(c, x, -x), {2, 1, 0, 1, 2, 3})
  same_values(T.where(c, 1, 0), {0, 0, 0, 1, 1, 1})
  same_values(x:where(10, 20), {10, 10, 20, 10, 10, 10})    -- nonzero is true
  -- where broadcasts all three operands
  local w = T.where(T.tensor{1, 0, 1}, T.tensor{{1}, {2}}, T.tensor(9))
  eq(w:totable(), {{1, 9, 1}, {2, 9, 2}})
  raises(function() T.where(T.ones(2), T.ones(3), 0) end, "where: shapes 2 and 3 do not broadcast")
  raises(function() T.where(T.ones(4), T.ones(3), 0) end, "where: shapes 4 and 3 do not broadcast")
  -- comparisons against naive loops on random layouts
  for trial = 1, 10 do
    local sa, sb = bshapes()
    local va, vb = opvals(numel(sa)), opvals(numel(sb))
    local a = layouts(sa, va)[1][2]
    local b = layouts(sb, vb)
    b = b[#b][2]
    local rs = broadcast(sa, sb)
    local exp = {}
    each_index(rs, function(i)
      exp[#exp + 1] = bget(va, sa, i) > bget(vb, sb, i) and bget(va, sa, i) or bget(vb, sb, i)
    end)
    same_values(T.where(a:gt(b), a, b), exp)
  end
end)

test("NaN propagates through math, comparisons and clamps", function()
  local nan = 0 / 0
  local x = T.tensor{nan, 1, -1}
  local isn = function(v) return v ~= v end
  ok(isn((x + 1):get(1))); ok(isn((x * 0):get(1)))
  ok(isn(x:exp():get(1))); ok(isn(x:abs():get(1))); ok(isn(x:tanh():get(1)))
  ok(isn(x:sigmoid():get(1))); ok(isn(x:relu():get(1))); ok(isn(x:sign():get(1)))
  ok(isn(x:clamp(0, 0.5):get(1)))
  same_values(x:isnan(), {1, 0, 0})
  same_values(x:eq(x), {0, 1, 1})
  same_values(x:ne(x), {1, 0, 0})
  same_values(x:gt(0), {0, 1, 0})
  ok(isn(x:maximum(0):get(1))); ok(isn(T.tensor(0):maximum(x):get(1)))
  ok(isn(x:minimum(0):get(1))); ok(isn(T.tensor(0):minimum(x):get(1)))
  ok(isn(x:sum())); ok(isn(x:mean())); ok(isn(x:prod())); ok(isn(x:var()))
  ok(isn(x:max())); ok(isn(x:min()))
  eq(x:argmax(), 1); eq(x:argmin(), 1)
  local y = T.tensor{1, nan, 3}
  ok(isn(y:max())); ok(isn(y:min())); eq(y:argmax(), 2); eq(y:argmin(), 2)
  for _, p in ipairs{1, 2, 3, math.huge} do
    ok(isn(y:norm(p)), "norm " .. p)
    ok(isn(T.tensor{0, nan}:norm(p)), "norm of {0, nan}, p = " .. p)
    ok(isn(T.tensor{1 / 0, nan}:norm(p)), "norm of {inf, nan}, p = " .. p)
  end
  local m = T.tensor{{1, nan}, {2, 3}}
  local v, i = m:max(2)
  ok(isn(v:get(1))); eq(v:get(2), 3); eq(i:totable(), {2, 2})
  ok(isn(m:sum(1):get(2)))
  ok(isn(m:cumsum(2):get(1, 2)))
  ok(tostring(x):find("nan"))
end)

---------------------------------------------------------------------------------------
-- reductions
---------------------------------------------------------------------------------------

local function ref_reduce(name, v, opt)
  local n = #v
  if name == "sum" then local s = 0 for _, x in ipairs(v) do s = s + x end return s end
  if name == "mean" then return ref_reduce("sum", v) / n end
  if name == "prod" then local s = 1 for _, x in ipairs(v) do s = s * x end return s end
  if name == "max" or name == "argmax" then
    local b, bi = v[1], 1
    for i = 2, n do if v[i] > b then b, bi = v[i], i end end
    return name == "max" and b or bi
  end
  if name == "min" or name == "argmin" then
    local b, bi = v[1], 1
    for i = 2, n do if v[i] < b then b, bi = v[i], i end end
    return name == "min" and b or bi
  end
  if name == "var" or name == "std" then
    local m, s = ref_reduce("mean", v), 0
    for _, x in ipairs(v) do s = s + (x - m) ^ 2 end
    local ddof = (opt and opt.unbiased == false) and 0 or 1
    local r = n - ddof > 0 and s / (n - ddof) or 0 / 0
    return name == "var" and r or math.sqrt(r)
  end
  if name == "norm" then
    local p = opt or 2
    local s = 0
    if p == math.huge then for _, x in ipairs(v) do s = math.max(s, math.abs(x)) end return s end
    for _, x in ipairs(v) do s = s + math.abs(x) ^ p end
    return s ^ (1 / p)
  end
  if name == "logsumexp" then
    local s = 0
    for _, x in ipairs(v) do s = s + math.exp(x) end
    return math.log(s)
  end
  error("no reference for " .. name)
end

local REDUCTIONS = {"sum", "mean", "prod", "max", "min", "argmax", "argmin", "var", "std",
                    "logsumexp"}

-- along dim d of shape with values vals: {result shape (keepdim), flat expected}
local function ref_along(name, shape, vals, d, opt)
  local ks = copy_list(shape); ks[d] = 1
  local exp = {}
  each_index(ks, function(i)
    local run = {}
    for k = 1, shape[d] do
      local j = copy_list(i); j[d] = k
      run[k] = vals[lin(shape, j)]
    end
    exp[#exp + 1] = ref_reduce(name, run, opt)
  end)
  return ks, exp
end

test("reductions over all elements, in every layout", function()
  for trial = 1, 15 do
    local shape = rshape(math.random(1, 4), 4)
    local vals = rvals(numel(shape), 0.5, 1.5)
    for _, l in ipairs(layouts(shape, vals)) do
      for _, name in ipairs(REDUCTIONS) do
        local got, exp = l[2][name](l[2]), ref_reduce(name, vals)
        if name == "argmax" or name == "argmin" then eq(got, exp, name .. " " .. l[1])
        else nnear(got, exp, 1e-12, name .. " " .. l[1]) end
      end
      nnear(l[2]:var({unbiased = false}), ref_reduce("var", vals, {unbiased = false}), 1e-12)
      nnear(l[2]:std({unbiased = false}), ref_reduce("std", vals, {unbiased = false}), 1e-12)
      for _, p in ipairs{1, 2, 3, math.huge} do
        near(l[2]:norm(p), ref_reduce("norm", vals, p), 1e-12, "norm " .. p .. " " .. l[1])
      end
      near(l[2]:norm(), ref_reduce("norm", vals, 2), 1e-12)
      near(l[2]:norm("inf"), ref_reduce("norm", vals, math.huge), 1e-12)
    end
  end
end)

test("reductions along each dimension, with and without keepdim", function()
  for trial = 1, 25 do
    local nd = math.random(1, 4)
    local shape = rshape(nd, 4)
    local vals = rvals(numel(shape), 0.5, 1.5)
    local ls = layouts(shape, vals)
    for _, l in ipairs(ls) do
      local x = l[2]
      for d = 1, nd do
        for _, name in ipairs(REDUCTIONS) do
          local ks, exp = ref_along(name, shape, vals, d)
          local rk = x[name](x, d, true)
          eq(rk:shape(), ks, name .. " keepdim")
          local r = x[name](x, d)
          local sq = copy_list(shape); table.remove(sq, d)
          eq(r:shape(), sq, name)
          local tol = (name == "argmax" or name == "argmin") and 0 or 1e-12
          same_values(rk, exp, name .. " dim " .. d .. " " .. l[1], tol)
          same_values(r, exp, name .. " dim " .. d .. " " .. l[1], tol)
          same_values(x[name](x, d - nd - 1), exp, name .. " negative dim", tol)
        end
        for _, p in ipairs{1, 2, 3, math.huge} do
          local _, exp = ref_along("norm", shape, vals, d, p)
          same_values(x:norm(p, d), exp, "norm " .. p, 1e-12)
          eq(x:norm(p, d, true):dim(), nd)
        end
        local _, exp = ref_along("var", shape, vals, d, {unbiased = false})
        same_values(x:var(d, {unbiased = false}), exp, "var biased", 1e-12)
        same_values(x:var(d, true, {unbiased = false}), exp, "var biased keepdim", 1e-12)
        _, exp = ref_along("std", shape, vals, d, {unbiased = true})
        same_values(x:std(d, {unbiased = true}), exp, "std unbiased", 1e-12)
      end
    end
  end
end)

test("max and min along a dim return values and 1-based indices", function()
  local x = T.tensor{{3, 9, 1}, {7, 2, 8}}
  local v, i = x:max(2)
  eq(v:totable(), {9, 8}); eq(i:totable(), {2, 3})
  v, i = x:min(1)
  eq(v:totable(), {3, 2, 1}); eq(i:totable(), {1, 2, 1})
  v, i = x:max(1, true)
  eq(v:shape(), {1, 3}); eq(i:totable(), {{2, 1, 2}})
  v, i = x:t():min(2)
  eq(v:totable(), {3, 2, 1}); eq(i:totable(), {1, 2, 1})
  eq(x:argmax(2):totable(), {2, 3})
  eq(x:argmin(), 3); eq(x:argmax(), 2)
  eq(x:max(), 9); eq(x:min(), 1)
  -- ties pick the first
  eq(T.tensor{1, 5, 5}:argmax(), 2)
  eq(select(2, T.tensor{{2, 2}}:max(2)):totable(), {1})
  -- on larger random inputs, the indices point at the values
  for trial = 1, 10 do
    local shape = rshape(3, 5)
    local vals = rvals(numel(shape))
    local l = layouts(shape, vals)
    local t = l[math.random(#l)][2]
    for d = 1, 3 do
      local mv, mi = t:max(d, true)
      each_index(mv:shape(), function(ix)
        local j = copy_list(ix); j[d] = mi:get(table.unpack(ix))
        eq(t:get(table.unpack(j)), mv:get(table.unpack(ix)))
      end)
    end
  end
end)

test("var and std: unbiased by default, {unbiased = false} divides by n", function()
  local x = T.tensor{1, 2, 3, 4}
  near(x:var(), 5 / 3, 1e-15)
  near(x:var({unbiased = false}), 1.25, 1e-15)
  near(x:std(), math.sqrt(5 / 3), 1e-15)
  near(x:std({unbiased = false}), math.sqrt(1.25), 1e-15)
  local m = T.tensor{{1, 2}, {3, 5}}
  same_values(m:var(1), {2, 4.5})
  same_values(m:var(2, {unbiased = false}), {0.25, 1})
  ok(T.tensor{5}:var() ~= T.tensor{5}:var())     -- one sample, unbiased: NaN
  eq(T.tensor{5}:var({unbiased = false}), 0)
  -- a large offset does not destroy precision (two-pass algorithm)
  near(T.tensor{1e9 + 1, 1e9 + 2, 1e9 + 3}:var(), 1, 1e-9)
end)

test("norm p = 1, 2, inf, 3 and 0", function()
  local x = T.tensor{3, -4, 0}
  eq(x:norm(1), 7); eq(x:norm(), 5); eq(x:norm(2), 5); eq(x:norm(math.huge), 4)
  near(x:norm(3), (27 + 64) ^ (1 / 3), 1e-15)
  eq(x:norm(0), 2)
  -- 2-norm does not overflow or underflow
  near(T.tensor{1e200, 1e200}:norm(), math.sqrt(2) * 1e200, 1e-15)
  near(T.tensor{1e-200, 1e-200}:norm(), math.sqrt(2) * 1e-200, 1e-15)
  same_values(T.tensor{{3, 4}, {6, 8}}:norm(2, 2), {5, 10})
  same_values(T.tensor{{3, 4}, {6, 8}}:norm(1, 1), {9, 12})
  same_values(T.tensor{{3, 4}, {6, 8}}:norm("inf", 1, true), {6, 8})
  eq(T.zeros(0):norm(), 0)
end)

test("reductions of empty tensors", function()
  local e = T.zeros(0)
  eq(e:sum(), 0); eq(e:prod(), 1)
  ok(e:mean() ~= e:mean())
  raises(function() e:max() end, "max: the tensor is empty")
  raises(function() e:argmin() end, "argmin: the tensor is empty")
  local m = T.zeros(3, 0)
  same_values(m:sum(2), {0, 0, 0})
  same_values(m:prod(2), {1, 1, 1})
  eq(m:sum(1):shape(), {0})
  eq(m:max(1):shape(), {0})
  raises(function() m:max(2) end, "max: dimension 2 of shape 3x0 is empty")
  raises(function() m:sum(3) end, "sum: dimension 3 out of range")
  raises(function() T.tensor(1):sum(1) end, "sum: dimension 1 out of range")
  eq(T.tensor(4):sum(), 4)
end)

test("sum of a large tensor is accurate", function()
  local n = 1000003
  local x = T.ones(n):mul_(0.1)
  near(x:sum(), n * 0.1, 1e-12)
  near(x:mean(), 0.1, 1e-13)
  local m = T.ones(1001, 999)
  same_values(m:sum(1), flat(T.full({999}, 1001)))
  same_values(m:t():sum(2), flat(T.full({999}, 1001)))
end)

test("cumsum along each dimension", function()
  for trial = 1, 15 do
    local nd = math.random(1, 4)
    local shape = rshape(nd, 4, math.random() < 0.2)
    local vals = rvals(numel(shape))
    for _, l in ipairs(layouts(shape, vals)) do
      for d = 1, nd do
        local exp = {}
        each_index(shape, function(i)
          local s = 0
          for k = 1, i[d] do
            local j = copy_list(i); j[d] = k
            s = s + vals[lin(shape, j)]
          end
          exp[#exp + 1] = s
        end)
        local c = l[2]:cumsum(d)
        eq(c:shape(), shape)
        same_values(c, exp, "cumsum " .. d .. " " .. l[1], 1e-12)
      end
    end
  end
  same_values(T.tensor{1, 2, 3}:cumsum(), {1, 3, 6})
  eq(T.tensor(5):cumsum():item(), 5)
  local o = T.zeros(3)
  ok(rawequal(T.tensor{1, 2, 3}:cumsum(1, o), o))
  same_values(o, {1, 3, 6})
  local x = T.tensor{1, 2, 3}
  x:cumsum(1, x)                       -- in place
  same_values(x, {1, 3, 6})
  raises(function() x:cumsum(2) end, "cumsum: dimension 2 out of range")
end)

test("dot of vectors in any layout", function()
  for trial = 1, 10 do
    local n = math.random(0, 40)
    local va, vb = rvals(n), rvals(n)
    local s = 0
    for i = 1, n do s = s + va[i] * vb[i] end
    local a = layouts({n}, va)
    local b = layouts({n}, vb)
    for _, x in ipairs(a) do for _, y in ipairs(b) do near(x[2]:dot(y[2]), s, 1e-12) end end
    near(T.dot(a[1][2], T.full({n}, 2)), 2 * ref_reduce("sum", va), 1e-12)
  end
  local m = T.arange(12):view(3, 4)
  near(m:select(2, 2):dot(m:select(2, 3)), 1 * 2 + 5 * 6 + 9 * 10, 0)
  near(T.tensor(2):expand(5):dot(T.ones(5)), 10, 0)
  raises(function() T.ones(3):dot(T.ones(4)) end, "dot: needs two vectors of one length (3 . 4)")
  raises(function() T.ones(3, 1):dot(T.ones(3)) end, "dot: needs two vectors of one length (3x1 . 3)")
end)

---------------------------------------------------------------------------------------
-- matrix products
---------------------------------------------------------------------------------------

local function naive_mm(a, b)   -- 2-D tensors -> flat array, read through get
  local m, k, n = a:size(1), a:size(2), b:size(2)
  local out = {}
  for i = 1, m do
    for j = 1, n do
      local s = 0
      for p = 1, k do s = s + a:get(i, p) * b:get(p, j) end
      out[#out + 1] = s
    end
  end
  return out
end

-- a random m x n matrix in a random layout (contiguous, transposed, narrowed rows or
-- columns, a column-of-a-bigger-matrix, expanded)
local function rmat(m, n)
  local kind = math.random(6)
  if kind == 1 then return T.tensor(rvals(m * n)):view(m, n)
  elseif kind == 2 then return T.tensor(rvals(m * n)):view(n, m):t()
  elseif kind == 3 then return T.tensor(rvals(m * (n + 3))):view(m, n + 3):narrow(2, 2, n)
  elseif kind == 4 then return T.tensor(rvals((m + 2) * n)):view(n, m + 2):t():narrow(1, 3, m)
  elseif kind == 5 then return T.tensor(rvals(m)):view(m, 1):expand(m, n)
  else return T.tensor(rvals(m * n * 2)):view(m, n, 2):select(3, 2) end
end

test("matmul of matrices in every layout against naive loops", function()
  for trial = 1, 120 do
    local m, k, n = math.random(0, 7), math.random(0, 7), math.random(0, 7)
    if trial % 10 == 0 then m, k, n = math.random(20, 40), math.random(20, 40), math.random(1, 40) end
    local a, b = rmat(m, k), rmat(k, n)
    local c = a:matmul(b)
    eq(c:shape(), {m, n})
    same_values(c, naive_mm(a, b), string.format("%dx%d @ %dx%d", m, k, k, n), 1e-12)
    same_values(T.matmul(a, b), flat(c))
  end
end)

test("matmul with vectors: mat @ vec, vec @ mat, vec @ vec", function()
  for trial = 1, 30 do
    local m, k = math.random(0, 6), math.random(0, 6)
    local A = rmat(m, k)
    local vk = rvals(k)
    local v = layouts({k}, vk)
    v = v[math.random(#v)][2]
    local r = A:matmul(v)
    eq(r:shape(), {m})
    same_values(r, naive_mm(A, T.tensor(vk):view(k, 1)), "mat @ vec", 1e-12)
    local vm = rvals(m)
    local u = layouts({m}, vm)
    u = u[math.random(#u)][2]
    local s = u:matmul(A)
    eq(s:shape(), {k})
    same_values(s, naive_mm(T.tensor(vm):view(1, m), A), "vec @ mat", 1e-12)
    local w = T.tensor(rvals(k))
    local d = v:matmul(w)
    eq(d:dim(), 0)
    near(d:item(), v:dot(w), 1e-12)
  end
  -- a column of a matrix as the vector, and an expanded vector
  local M = T.tensor{{1, 2}, {3, 4}}
  same_values(M:matmul(M:select(2, 1)), {7, 15})
  same_values(M:matmul(T.tensor(1):expand(2)), {3, 7})
  raises(function() M:matmul(T.ones(3)) end, "matmul: inner sizes differ (2x2 @ 3)")
  raises(function() T.ones(3):matmul(M) end, "matmul: inner sizes differ (3 @ 2x2)")
  raises(function() T.ones(3):matmul(T.ones(2)) end, "matmul: inner sizes differ (3 @ 2)")
  raises(function() T.tensor(1):matmul(M) end, "matmul: needs tensors of at least one dimension")
end)

test("batched matmul broadcasts the batch dimensions", function()
  local function bmm_ref(a, b)    -- a: ... x m x k, b: ... x k x n (equal batch shapes)
    local bs = a:shape(); table.remove(bs); table.remove(bs)
    local out = {}
    each_index(bs, function(i)
      local x, y = a, b
      for _, v in ipairs(i) do x = x:select(1, v); y = y:select(1, v) end
      for _, v in ipairs(naive_mm(x, y)) do out[#out + 1] = v end
    end)
    return out
  end
  local cases = {
    {{3, 2, 4}, {3, 4, 5}, {3, 2, 5}},
    {{3, 2, 4}, {4, 5}, {3, 2, 5}},
    {{2, 4}, {3, 4, 5}, {3, 2, 5}},
    {{1, 2, 4}, {3, 4, 5}, {3, 2, 5}},
    {{2, 1, 3, 4}, {5, 4, 2}, {2, 5, 3, 2}},
    {{2, 1, 3, 4}, {1, 3, 4, 2}, {2, 3, 3, 2}},
    {{0, 2, 3}, {3, 4}, {0, 2, 4}},
    {{2, 0, 3}, {2, 3, 4}, {2, 0, 4}},
    {{2, 3, 0}, {2, 0, 4}, {2, 3, 4}},
    {{4}, {2, 4, 3}, {2, 3}},
    {{2, 3, 4}, {4}, {2, 3}},
  }
  for _, c in ipairs(cases) do
    for rep = 1, 3 do
      local function build(s)
        local vals = rvals(numel(s))
        local l = layouts(s, vals)
        return l[math.random(#l)][2]
      end
      local a, b = build(c[1]), build(c[2])
      local r = a:matmul(b)
      eq(r:shape(), c[3])
      -- reference: expand both to the full batch shape and loop
      local A = #c[1] == 1 and a:view(1, -1) or a
      local B = #c[2] == 1 and b:view(-1, 1) or b
      local bs = copy_list(c[3])
      if #c[1] == 1 then table.insert(bs, #bs, 1) end
      if #c[2] == 1 then bs[#bs + 1] = 1 end
      local batch = copy_list(bs); table.remove(batch); table.remove(batch)
      local as, bsh = copy_list(batch), copy_list(batch)
      as[#as + 1] = A:size(-2); as[#as + 1] = A:size(-1)
      bsh[#bsh + 1] = B:size(-2); bsh[#bsh + 1] = B:size(-1)
      same_values(r, bmm_ref(A:expand(as), B:expand(bsh)), "batched", 1e-12)
    end
  end
  raises(function() T.zeros(2, 3, 4):matmul(T.zeros(3, 4, 5)) end,
         "matmul: shapes 2 and 3 do not broadcast")
  raises(function() T.zeros(2, 3, 4):matmul(T.zeros(2, 5, 4)) end,
         "matmul: inner sizes differ (2x3x4 @ 2x5x4)")
end)

test("matmul into out=, and transposed operands are not copied", function()
  local a, b = T.tensor(rvals(12)):view(4, 3), T.tensor(rvals(15)):view(5, 3)
  local o = T.zeros(4, 5)
  ok(rawequal(a:matmul(b:t(), o), o))
  same_values(o, naive_mm(a, b:t()), "out", 1e-12)
  ok(rawequal(T.matmul(a, b:t(), {out = o}), o))
  raises(function() a:matmul(b:t(), T.zeros(5, 4)) end, "matmul: out has shape 5x4, the result has shape 4x5")
  local A3, B3, O3 = T.tensor(rvals(24)):view(2, 3, 4), T.tensor(rvals(20)):view(4, 5), T.zeros(2, 3, 5)
  ok(rawequal(A3:matmul(B3, O3), O3))
  same_values(O3:select(1, 2), naive_mm(A3:select(1, 2), B3), "batched out", 1e-12)
  local ov = T.zeros(4)
  ok(rawequal(a:matmul(T.ones(3), ov), ov))
  same_values(ov, flat(a:sum(2)), "mat @ vec out", 1e-12)
  raises(function() a:matmul(b:t(), T.zeros(5, 4):t()) end, "matmul: out must be contiguous")
  -- both operands transposed, and narrowed with a leading dimension: no storage is made
  local A = T.tensor(rvals(60 * 50)):view(60, 50)
  local B = T.tensor(rvals(70 * 60)):view(70, 60)
  local out = T.zeros(40, 70)
  local at, bt = A:t():narrow(1, 3, 40), B:t()
  entro.mem_trim()
  local before = select(2, entro.mem()).allocs
  at:matmul(bt, out)
  eq(select(2, entro.mem()).allocs, before, "storages allocated by matmul of transposed views")
  same_values(out, naive_mm(at, bt), "transposed", 1e-12)
end)

test("outer products", function()
  local a, b = T.tensor{1, 2, 3}, T.tensor{4, 5}
  eq(a:outer(b):totable(), {{4, 5}, {8, 10}, {12, 15}})
  eq(T.outer(b, a):shape(), {2, 3})
  local m = T.arange(6):view(2, 3)
  eq(m:select(1, 2):outer(m:select(2, 1)):totable(), {{0, 9}, {0, 12}, {0, 15}})
  eq(T.zeros(0):outer(a):shape(), {0, 3})
  local o = T.zeros(3, 2)
  ok(rawequal(a:outer(b, o), o))
  raises(function() a:outer(m) end, "outer: needs two vectors (3, 2x3)")
end)

---------------------------------------------------------------------------------------
-- indexing and joining
---------------------------------------------------------------------------------------

test("index_select picks 1-based indices along each dimension", function()
  for trial = 1, 20 do
    local nd = math.random(1, 4)
    local shape = rshape(nd, 4)
    local vals = rvals(numel(shape))
    local l = layouts(shape, vals)
    local x = l[math.random(#l)][2]
    local d = math.random(nd)
    local idx = {}
    for i = 1, math.random(0, 6) do idx[i] = math.random(shape[d]) end
    local rs = copy_list(shape); rs[d] = #idx
    local exp = {}
    each_index(rs, function(i)
      local j = copy_list(i); j[d] = idx[i[d]]
      exp[#exp + 1] = vals[lin(shape, j)]
    end)
    local r = x:index_select(d, idx)
    eq(r:shape(), rs)
    same_values(r, exp)
    same_values(x:index_select(d, T.tensor(idx)), exp)
    if #idx > 0 then
      local ti = T.zeros(#idx, 2):select(2, 2):copy(T.tensor(idx))   -- strided indices
      same_values(T.index_select(x, d, ti), exp)
    end
  end
  local x = T.arange(6):view(2, 3)
  eq(x:index_select(2, {3, 1, 3}):totable(), {{2, 0, 2}, {5, 3, 5}})
  raises(function() x:index_select(2, {0}) end, "index_select: index 0 outside 1..3")
  raises(function() x:index_select(2, {4}) end, "index_select: index 4 outside 1..3")
  raises(function() x:index_select(1, {1.5}) end, "index_select: index 1.5 outside 1..2")
  raises(function() x:index_select(1, {"a"}) end, "index_select: index 1 is a string")
  raises(function() x:index_select(1, T.ones(1, 1)) end, "index_select: indices must be a vector")
  raises(function() x:index_select(3, {1}) end, "index_select: dimension 3 out of range")
  raises(function() x:index_select(1, 5) end, "index_select: indices must be a tensor or a table")
end)

test("gather and scatter_add_ along each dimension", function()
  for trial = 1, 20 do
    local nd = math.random(1, 3)
    local shape = rshape(nd, 4)
    local vals = rvals(numel(shape))
    local l = layouts(shape, vals)
    local x = l[math.random(#l)][2]
    local d = math.random(nd)
    local is = {}
    for i = 1, nd do is[i] = i == d and math.random(0, 5) or math.random(0, shape[i]) end
    local iv = {}
    for i = 1, numel(is) do iv[i] = math.random(shape[d]) end
    local idx = make(is, iv)
    local exp = {}
    each_index(is, function(i)
      local j = copy_list(i); j[d] = iv[lin(is, i)]
      exp[#exp + 1] = vals[lin(shape, j)]
    end)
    local g = x:gather(d, idx)
    eq(g:shape(), is)
    same_values(g, exp, "gather")
    -- scatter_add_ is gather's adjoint: accumulates duplicates
    local sv = rvals(numel(is))
    local src = layouts(is, sv)
    src = src[math.random(#src)][2]
    local acc = copy_list(vals)
    each_index(is, function(i)
      local j = copy_list(i); j[d] = iv[lin(is, i)]
      local p = lin(shape, j)
      acc[p] = acc[p] + sv[lin(is, i)]
    end)
    local y = x:clone()
    ok(rawequal(y:scatter_add_(d, idx, src), y))
    same_values(y, acc, "scatter_add_", 1e-14)
  end
  local x = T.tensor{{1, 2}, {3, 4}}
  eq(x:gather(2, T.tensor{{2, 1}, {1, 1}}):totable(), {{2, 1}, {3, 3}})
  eq(x:gather(1, T.tensor{{2, 1}}):totable(), {{3, 2}})
  raises(function() x:gather(2, T.tensor{{3, 1}, {1, 1}}) end, "gather: index 3 outside 1..2")
  raises(function() x:gather(2, T.tensor{{0, 1}, {1, 1}}) end, "gather: index 0 outside 1..2")
  raises(function() x:gather(2, T.ones(2)) end, "gather: index has shape 2, input 2x2 (dimensions differ)")
  eq(x:gather(1, T.ones(3, 2)):totable(), {{1, 2}, {1, 2}, {1, 2}})   -- any length along dim
  raises(function() x:gather(1, T.ones(1, 3)) end, "gather: index shape 1x3 exceeds input shape 2x2 in dimension 2")
  local y = T.zeros(2, 2)
  raises(function() y:scatter_add_(1, T.ones(1, 2), T.ones(2, 2)) end, "scatter_add: source has shape 2x2, index 1x2")
  raises(function() y:scatter_add_(1, T.ones(1, 2):mul(5), T.ones(1, 2)) end, "scatter_add: index 5 outside 1..2")
  eq(y:sum(), 0)     -- a failed scatter writes nothing
  y:scatter_add_(1, T.tensor{{1, 1}, {1, 2}}, T.tensor{{1, 2}, {3, 4}})
  eq(y:totable(), {{4, 2}, {0, 4}})
end)

test("cat and stack along each dimension", function()
  for trial = 1, 20 do
    local nd = math.random(1, 4)
    local shape = rshape(nd, 3)
    local d = math.random(nd)
    local parts, pv, sizes = {}, {}, {}
    for p = 1, math.random(1, 4) do
      local s = copy_list(shape); s[d] = math.random(0, 3)
      local v = rvals(numel(s))
      local l = layouts(s, v)
      parts[p], pv[p], sizes[p] = l[math.random(#l)][2], v, s
    end
    local rs = copy_list(shape); rs[d] = 0
    for _, s in ipairs(sizes) do rs[d] = rs[d] + s[d] end
    local exp = {}
    each_index(rs, function(i)
      local k, p = i[d], 1
      while k > sizes[p][d] do k = k - sizes[p][d]; p = p + 1 end
      local j = copy_list(i); j[d] = k
      exp[#exp + 1] = pv[p][lin(sizes[p], j)]
    end)
    local c = T.cat(parts, d)
    eq(c:shape(), rs)
    same_values(c, exp, "cat dim " .. d)
    same_values(T.cat(parts, d - nd - 1), exp, "cat negative dim")
    -- stack: equal shapes, a new dimension at each position
    local sp, sv = {}, {}
    for p = 1, 3 do
      sv[p] = rvals(numel(shape))
      local l = layouts(shape, sv[p])
      sp[p] = l[math.random(#l)][2]
    end
    for sd = 1, nd + 1 do
      local ss = copy_list(shape); table.insert(ss, sd, 3)
      local st = T.stack(sp, sd)
      eq(st:shape(), ss)
      local e2 = {}
      each_index(ss, function(i)
        local j = copy_list(i); local p = table.remove(j, sd)
        e2[#e2 + 1] = sv[p][lin(shape, j)]
      end)
      same_values(st, e2, "stack dim " .. sd)
    end
  end
  local a, b = T.ones(2, 3), T.zeros(2, 4)
  eq(T.cat({a, b}, 2):shape(), {2, 7})
  eq(T.cat{a, a}:shape(), {4, 3})
  eq(T.stack{a, a}:shape(), {2, 2, 3})
  eq(T.stack({a, a}, -1):shape(), {2, 3, 2})
  eq(T.stack{T.tensor(1), T.tensor(2)}:totable(), {1, 2})
  raises(function() T.cat({a, b}, 1) end, "cat: tensor 2 has shape 2x4, tensor 1 has 2x3 (only dimension 1 may differ)")
  raises(function() T.cat({a, T.ones(3)}, 1) end, "cat: tensor 2 has shape 3")
  raises(function() T.cat({a, b}, 3) end, "cat: dimension 3 out of range")
  raises(function() T.cat{} end, "cat: no tensors given")
  raises(function() T.cat{a, 1} end, "cat: element 2 is a number, expected a tensor")
  raises(function() T.stack{a, b} end, "stack: tensor 2 has shape 2x4, tensor 1 has 2x3")
  raises(function() T.stack({a, a}, 4) end, "stack: dimension 4 out of range")
  raises(function() T.cat{T.tensor(1)} end, "cat")
end)

test("masked_select picks where the mask is nonzero, in order", function()
  for trial = 1, 10 do
    local shape = rshape(math.random(1, 3), 4)
    local vals = rvals(numel(shape))
    local l = layouts(shape, vals)
    local x = l[math.random(#l)][2]
    local mask = x:gt(0)
    local exp = {}
    for _, v in ipairs(vals) do if v > 0 then exp[#exp + 1] = v end end
    local r = x:masked_select(mask)
    eq(r:shape(), {#exp})
    same_values(r, exp)
    local rev = {}
    for i = 1, mask:dim() do rev[i] = mask:dim() + 1 - i end
    same_values(x:masked_select(mask:permute(rev):contiguous():permute(rev)), exp)
  end
  eq(T.ones(3):masked_select(T.zeros(3)):shape(), {0})
  raises(function() T.ones(3):masked_select(T.ones(2)) end, "masked_select: mask has shape 2, input 3")
end)

test("0-sized tensors can be written, viewed and reduced", function()
  -- contiguous strides of a 2x0x3 tensor are 0 before the empty dim: still writable
  local z = T.zeros(2, 0, 3)
  ok(rawequal(z:fill(1), z))
  ok(rawequal(z:add_(1), z))
  ok(rawequal(z:copy(T.ones(3)), z))
  ok(rawequal(z:exp_(), z))
  eq(z:clone():shape(), {2, 0, 3})
  eq((z + T.ones(3)):shape(), {2, 0, 3})
  eq(z:add(1, T.zeros(2, 0, 3)):shape(), {2, 0, 3})
  eq(z:sum(2):totable(), {{0, 0, 0}, {0, 0, 0}})
  eq(z:sum(1):shape(), {0, 3})
  eq(z:view(6, 0):shape(), {6, 0})
  eq(z:permute(3, 1, 2):contiguous():shape(), {3, 2, 0})
  eq(z:cumsum(2):shape(), {2, 0, 3})
  eq(T.rng(1):randn(2, 0, 3):shape(), {2, 0, 3})
  eq(T.cat({z, z}, 2):shape(), {2, 0, 3})
  eq(T.stack{z, z}:shape(), {2, 2, 0, 3})
  eq(z:index_select(3, {1, 1}):shape(), {2, 0, 2})
  eq(T.zeros(3, 0):matmul(T.zeros(0, 4)):totable(), {{0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}})
end)

test("reductions, cumsum, matmul and joins read expanded (stride-0) inputs", function()
  for trial = 1, 20 do
    local shape = rshape(math.random(1, 4), 4)
    local small = {}
    for i, s in ipairs(shape) do small[i] = math.random() < 0.5 and 1 or s end
    local e = make(small, rvals(numel(small))):expand(shape)
    local c = e:contiguous()
    ok(not c:same_storage(e) or e:is_contiguous())
    nnear(e:sum(), c:sum(), 1e-12); nnear(e:var(), c:var(), 1e-12)
    near(e:norm(3), c:norm(3), 1e-12)
    eq(e:argmax(), c:argmax())
    for d = 1, #shape do
      for _, name in ipairs{"sum", "mean", "prod", "max", "min", "argmax", "std"} do
        same_values(e[name](e, d), flat(c[name](c, d)), name .. " of expanded", 1e-12)
      end
      same_values(e:cumsum(d), flat(c:cumsum(d)), "cumsum of expanded", 1e-12)
      same_values(T.cat({e, c}, d), flat(T.cat({c, c}, d)), "cat of expanded")
      same_values(e:index_select(d, {1, shape[d]}), flat(c:index_select(d, {1, shape[d]})))
    end
    if #shape == 2 then
      local m = T.tensor(rvals(shape[2] * 3)):view(shape[2], 3)
      same_values(e:matmul(m), flat(c:matmul(m)), "matmul of expanded", 1e-12)
      same_values(m:t():matmul(e:t()), flat(m:t():matmul(c:t())), "matmul by expanded", 1e-12)
    end
  end
end)

---------------------------------------------------------------------------------------
-- printing
---------------------------------------------------------------------------------------

local function lines(s)
  local r = {}
  for l in (s .. "\n"):gmatch("(.-)\n") do r[#r + 1] = l end
  return r
end

test("printing ends with a footer naming the shape", function()
  ok(tostring(T.zeros(64, 10)):find("%[entro%.Tensor 64x10%]$"))
  ok(tostring(T.zeros(2, 3, 4)):find("\n%[entro%.Tensor 2x3x4%]$"))
  ok(tostring(T.tensor(3)):find("%[entro%.Tensor scalar%]$"))
  eq(tostring(T.zeros(0)), "[]\n[entro.Tensor 0]")
  eq(tostring(T.zeros(2, 0)), "[]\n[entro.Tensor 2x0]")
  eq(tostring(T.tensor{1, 2, 3}), "[1 2 3]\n[entro.Tensor 3]")
  eq(tostring(T.tensor{{1, -2}, {300, 4}}), "[[  1  -2]\n [300   4]]\n[entro.Tensor 2x2]")
  eq(tostring(T.tensor(2.5)), "2.5000\n[entro.Tensor scalar]")
  eq(tostring(T.tensor{0.5, -1.25}), "[ 0.5000 -1.2500]\n[entro.Tensor 2]")
end)

test("printing aligns columns and chooses a number format", function()
  local m = T.tensor{{1.5, -22.25, 3}, {100.125, 0, -0.5}}
  local ls = lines(tostring(m))
  eq(#ls, 3)
  eq(#ls[1] + 1, #ls[2])     -- the last row closes the outer bracket
  -- every column ends at the same position in each row
  local p1 = {}
  for pos in ls[1]:gmatch("[%d]()[ %]]") do p1[#p1 + 1] = pos end
  local p2 = {}
  for pos in ls[2]:gmatch("[%d]()[ %]]") do p2[#p2 + 1] = pos end
  eq(p1, p2)
  eq(#p1, 3)
  ok(tostring(T.tensor{1e-6, 1}):find("e%-06"))       -- scientific for wide ranges
  ok(tostring(T.tensor{1e6, 1.5}):find("e%+06"))
  ok(tostring(T.tensor{0 / 0, 1 / 0, -1 / 0, 1}):find("nan"))
  ok(tostring(T.tensor{0 / 0, 1 / 0, -1 / 0, 1}):find("%-inf"))
  -- a transposed view prints its logical order
  eq(tostring(T.tensor{{1, 2}, {3, 4}}:t()), "[[1 3]\n [2 4]]\n[entro.Tensor 2x2]")
  -- a 3-D tensor separates its blocks with a blank line
  eq(tostring(T.arange(8):view(2, 2, 2)),
     "[[[0 1]\n  [2 3]]\n\n [[4 5]\n  [6 7]]]\n[entro.Tensor 2x2x2]")
end)

test("printing elides the middle of large tensors", function()
  local s = tostring(T.arange(2000))
  eq(s, "[   0    1    2 ... 1997 1998 1999]\n[entro.Tensor 2000]")
  local m = tostring(T.arange(1200):view(40, 30))
  local ls = lines(m)
  eq(#ls, 8)
  eq(ls[4], " ...")
  eq(ls[1], "[[   0    1    2 ...   27   28   29]")
  eq(ls[7], " [1170 1171 1172 ... 1197 1198 1199]]")
  eq(ls[8], "[entro.Tensor 40x30]")
  for i = 2, 6 do if i ~= 4 then eq(#ls[i], #ls[1]) end end
  -- 3-D: the elided block marker sits between blank lines, like numpy
  local c = lines(tostring(T.arange(8000):view(20, 20, 20)))
  local at
  for i, l in ipairs(c) do if l == " ..." then at = i end end
  ok(at, "an elision line for the first dimension")
  eq(c[at - 1], ""); eq(c[at + 1], "")
  ok(c[at + 2]:find("^ %[%[6800"))
  -- small tensors are printed whole; the threshold is an option
  ok(not tostring(T.arange(1000)):find("...", 1, true))
  T.set_printoptions{threshold = 5, edgeitems = 2}
  eq(tostring(T.arange(6)), "[0 1 ... 4 5]\n[entro.Tensor 6]")
  T.set_printoptions{threshold = 1000, edgeitems = 3}
  eq(tostring(T.arange(6)), "[0 1 2 3 4 5]\n[entro.Tensor 6]")
end)

---------------------------------------------------------------------------------------
-- memory
---------------------------------------------------------------------------------------

test("entro.mem() reports live tensor bytes", function()
  collectgarbage(); collectgarbage()
  local m0 = entro.mem()
  local x = T.zeros(1000)
  eq(entro.mem() - m0, 8000)
  local v = x:view(10, 100):t()         -- views add no storage
  eq(entro.mem() - m0, 8000)
  local _, info = entro.mem()
  ok(info.live >= 8000 and info.peak >= info.live)
  x, v = nil, nil
  collectgarbage(); collectgarbage()
  eq(entro.mem(), m0)
  local y = T.zeros(500)
  y:close()
  eq(entro.mem(), m0)
end)

test("a loop that makes and drops tensors keeps memory flat without collectgarbage", function()
  collectgarbage(); collectgarbage()
  local base, peak = entro.mem(), 0
  for i = 1, 20000 do
    local x = T.zeros(1000)
    local y = x + 1
    local z = y:view(10, 100):t():sum(1)
    if i % 50 == 0 then peak = math.max(peak, entro.mem() - base) end
  end
  ok(peak < 50e6, string.format("live bytes reached %.1f MB", peak / 1e6))
  -- larger tensors: storage reused from the cache counts as allocation for the collector
  -- too, or dead tensors pile up between cycles; each loop below allocates 480 MB in all
  peak = 0
  for i = 1, 300 do
    local x = T.zeros(100000)
    local y = x:mul(2)
    peak = math.max(peak, entro.mem() - base)
  end
  ok(peak < 100e6, string.format("live bytes reached %.1f MB", peak / 1e6))
  peak = 0
  for i = 1, 60 do
    local x = T.zeros(1000000)
    peak = math.max(peak, entro.mem() - base)
  end
  ok(peak < 100e6, string.format("live bytes reached %.1f MB", peak / 1e6))
end)
