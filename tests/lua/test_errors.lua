-- test_errors.lua -- every misuse of the tensor module is a Lua error that names the
-- operation and the offending shapes or values; none crashes, leaks or half-writes. The
-- last test throws random junk at every function and must simply survive (run it under
-- `make asan` to see that it also stays clean).
local T = tensor

local asan = os.getenv("ENTRO_ASAN")
local may_return_null = (os.getenv("ASAN_OPTIONS") or ""):find("allocator_may_return_null=1")

test("absurd sizes say how many bytes they could not allocate", function()
  -- under ASan a failed malloc aborts unless allocator_may_return_null=1
  if asan and not may_return_null then skip("ASan aborts on huge mallocs without allocator_may_return_null=1") end
  raises(function() T.zeros(1e9, 1e9) end,
         "cannot allocate 8000000000000000000 bytes for a tensor of shape 1000000000x1000000000")
  raises(function() T.ones(1e9, 1e9) end, "cannot allocate 8000000000000000000 bytes")
  raises(function() T.rng(1):randn(1e9, 1e9) end, "cannot allocate")
  raises(function() T.ones(1):expand(1e9, 1e9):clone() end, "cannot allocate")
  raises(function() T.ones(1):expand(1e9, 1e9):contiguous() end, "cannot allocate")
  raises(function() T.ones(1):expand(1e9, 1e9):sum() end, "cannot allocate")
  raises(function() return T.ones(1):expand(1e9, 1e9) + 1 end, "cannot allocate")
  raises(function() T.arange(0, 1e15) end, "cannot allocate")
  raises(function() T.linspace(0, 1, 1e18) end, "cannot allocate")
  raises(function() T.eye(1e9) end, "cannot allocate")
end)

test("sizes that overflow, or are negative or not integers, are refused before allocating", function()
  raises(function() T.zeros(1e10, 1e10) end, "zeros: cannot allocate a tensor of shape 10000000000x10000000000")
  raises(function() T.zeros(2 ^ 62, 4) end, "zeros: cannot allocate")
  raises(function() T.ones(3, -1) end, "ones: negative size -1 in dimension 2")
  raises(function() T.zeros{-5} end, "zeros: negative size -5 in dimension 1")
  raises(function() T.full({2, -2}, 1) end, "full: negative size -2 in dimension 2")
  raises(function() T.zeros(2.5) end, "zeros: a size must be an integer, got 2.5")
  raises(function() T.zeros(0 / 0) end, "zeros: a size must be an integer")
  raises(function() T.zeros(1 / 0) end, "zeros: a size must be an integer")
  raises(function() T.zeros("x") end, "zeros: a size must be an integer, got string")
  raises(function() T.zeros(2, "3") end, "zeros: a size must be an integer, got string")
  raises(function() T.zeros(2, T.ones(1)) end, "zeros: a size must be an integer, got entro.Tensor")
  raises(function() T.zeros(2, true) end, "zeros: a size must be an integer, got boolean")
  raises(function() T.zeros{2, "a"} end, "zeros: a size must be an integer, got string")
  raises(function() T.zeros(1, 1, 1, 1, 1, 1, 1, 1, 1) end, "zeros: more than 8 dimensions")
  raises(function() T.zeros{1, 1, 1, 1, 1, 1, 1, 1, 1} end, "zeros: 9 dimensions (at most 8)")
  raises(function() T.eye(-1) end, "eye: negative size -1")
  raises(function() T.eye(1.5) end, "eye: the size must be an integer")
  raises(function() T.linspace(0, 1, 2.5) end, "linspace: the count must be an integer")
  raises(function() T.arange(0, 0 / 0) end, "arange: bad range")
  raises(function() T.arange(0, 1e300, 1e-300) end, "arange")
  raises(function() T.full(3, 1) end, "table expected")
  raises(function() T.full({2}, "x") end, "number expected")
  -- views overflow too: numel must fit
  raises(function() T.ones(1):expand(1e10, 1e10) end, "expand")
  raises(function() T.ones(1):expand(2 ^ 40, 2 ^ 40, 2 ^ 40) end, "expand")
  raises(function() T.zeros(4):view(2 ^ 40, 2 ^ 40, 2 ^ 40) end, "view: cannot view shape 4")
  raises(function() T.zeros(4):view(2 ^ 62, 4, -1) end, "view")
  raises(function() T.zeros(0):view(2 ^ 40, 2 ^ 40, 0) end, "view")   -- its strides overflow
  raises(function() T.zeros(0, 2 ^ 40, 2 ^ 40) end, "zeros: cannot allocate")
  eq(T.zeros(0):view(2 ^ 20, 2 ^ 20, 0):shape(), {2 ^ 20, 2 ^ 20, 0})
  raises(function() T.zeros(4):reshape(-1, 2 ^ 62, 8) end, "reshape")
end)

test("wrong types name the function and the argument", function()
  local x = T.ones(2, 3)
  raises(function() T.sum(3) end, "entro.Tensor expected, got number")
  raises(function() x.sum(nil) end, "entro.Tensor expected, got nil")
  raises(function() x:matmul(3) end, "entro.Tensor expected, got number")
  raises(function() x:narrow("a", 1, 1) end, "narrow: the dimension must be an integer, got string")
  raises(function() x:narrow(1, 1.5, 1) end, "narrow: the start must be an integer, got 1.5")
  raises(function() x:select(1, nil) end, "select: an index must be an integer, got nil")
  raises(function() x:sum("a") end, "sum: the dimension must be an integer")
  raises(function() x:view("a") end, "view: a size must be an integer, got string")
  raises(function() x:view{2, "a"} end, "view: a size must be an integer, got string")
  raises(function() x:permute("a") end, "permute")
  raises(function() x:fill("a") end, "number expected")
  raises(function() x:copy("a") end, "entro.Tensor expected")
  raises(function() x:clamp("a") end, "number expected")
  raises(function() x:add_(nil) end, "add: expected a tensor or a number, got nil")
  raises(function() x:index_select(1, "a") end, "index_select: indices must be a tensor or a table, got string")
  raises(function() T.cat(x) end, "table expected")
  raises(function() T.where(1, x, x) end, "entro.Tensor expected, got number")
  raises(function() T.tensor("abc") end, "table expected")
  raises(function() T.tensor{1, {}} end, "tensor: element is a table")
  raises(function() T.tensor{x} end, "tensor: element is a entro.Tensor, expected a number")
  ok(not T.is_tensor(3)); ok(T.is_tensor(x)); ok(not T.is_tensor({}))
end)

test("shape errors name the op and both shapes", function()
  local a, b = T.ones(2, 3), T.ones(4, 5)
  raises(function() return a + b end, "add: shapes 2x3 and 4x5 do not broadcast (dimension 1: 2 vs 4)")
  raises(function() return a:maximum(b) end, "maximum: shapes 2x3 and 4x5")
  raises(function() a:matmul(b) end, "matmul: inner sizes differ (2x3 @ 4x5)")
  raises(function() a:matmul(T.ones(2)) end, "matmul: inner sizes differ (2x3 @ 2)")
  raises(function() T.ones(5, 2, 3):matmul(T.ones(4, 3, 1)) end, "matmul: shapes 5 and 4 do not broadcast")
  raises(function() a:dot(a) end, "dot: needs two vectors of one length (2x3 . 2x3)")
  raises(function() a:view(4) end, "view: cannot view shape 2x3 (6 elements) as 4")
  raises(function() a:reshape(5, -1) end, "reshape: cannot view shape 2x3 (6 elements) as 5x-1")
  raises(function() a:expand(3, 3) end, "expand: cannot expand shape 2x3 to 3x3")
  raises(function() a:copy(b) end, "copy: cannot copy shape 4x5 into shape 2x3")
  raises(function() a:add(1, b) end, "add: out has shape 4x5, the result has shape 2x3")
  raises(function() T.cat({a, b}, 1) end, "cat: tensor 2 has shape 4x5, tensor 1 has 2x3 (only dimension 1 may differ)")
  raises(function() T.stack{a, b} end, "stack: tensor 2 has shape 4x5, tensor 1 has 2x3")
  raises(function() a:masked_select(b) end, "masked_select: mask has shape 4x5, input 2x3")
  raises(function() a:gather(1, T.ones(2)) end, "gather: index has shape 2, input 2x3 (dimensions differ)")
  raises(function() a:scatter_add_(1, T.ones(2, 3), T.ones(3, 2)) end, "scatter_add: source has shape 3x2, index 2x3")
  raises(function() T.where(a, b, 0) end, "where: shapes")
  raises(function() a:outer(a) end, "outer: needs two vectors (2x3, 2x3)")
  raises(function() a:item() end, "item: tensor of shape 2x3 has 6 elements, not 1")
  raises(function() a:t():view(6) end, "view: shape 3x2 cannot be viewed as 6 without a copy")
end)

test("indices out of range name the op, the index and the range", function()
  local x = T.ones(2, 3)
  raises(function() x:get(3, 1) end, "get: index 3 out of range 1..2")
  raises(function() x:get(1, -4) end, "get: index -4 out of range 1..3")
  raises(function() x:set(0, 1, 5) end, "set: index 0 out of range 1..2")
  raises(function() x:select(2, 4) end, "select: index 4 out of range 1..3")
  raises(function() x:narrow(2, 3, 2) end, "narrow: range 3..4 outside 1..3 of dimension 2")
  raises(function() x:narrow(2, 0, 2) end, "narrow: start 0 is not an index")
  raises(function() x:sum(3) end, "sum: dimension 3 out of range for a 2-d tensor")
  raises(function() x:max(-3) end, "max: dimension -3 out of range for a 2-d tensor")
  raises(function() x:transpose(1, 0) end, "transpose: dimension 0 out of range")
  raises(function() x:cumsum(5) end, "cumsum: dimension 5 out of range")
  raises(function() x:index_select(2, {1, 4}) end, "index_select: index 4 outside 1..3")
  raises(function() x:index_select(2, {0 / 0}) end, "index_select: index")
  raises(function() x:gather(1, T.tensor{{3, 1, 1}}) end, "gather: index 3 outside 1..2")
  raises(function() x:scatter_add_(2, T.tensor{{-1}}, T.ones(1, 1)) end, "scatter_add: index -1 outside 1..3")
  raises(function() T.stack({x, x}, 0) end, "stack: dimension 0 out of range")
  raises(function() x:squeeze(3) end, "squeeze: dimension 3 out of range")
  raises(function() x:unsqueeze(4) end, "unsqueeze: dimension 4 out of range for a 2-d tensor")
  raises(function() x:flatten(1, 3) end, "flatten: dimension 3 out of range")
  eq(x:sum(), 6)   -- nothing above wrote anything
end)

test("a failed op leaves its target untouched and leaks nothing", function()
  collectgarbage(); collectgarbage()
  local before = entro.mem()
  local x = T.tensor{1, 2, 3}
  for _ = 1, 200 do
    pcall(function() return x:add_(T.ones(2)) end)
    pcall(function() return x:add(1, T.zeros(4)) end)
    pcall(function() return x:index_select(1, {1, 9}) end)
    pcall(function() return x:gather(1, T.tensor{1, 7}) end)
    pcall(function() return x:scatter_add_(1, T.tensor{1, 7}, T.ones(2)) end)
    pcall(function() return T.cat({x, T.ones(2, 2)}, 1) end)
    pcall(function() return T.stack{x, T.ones(2)} end)
    pcall(function() return x:view(2, 2) end)
    pcall(function() return x:matmul(T.ones(4, 2)) end)
    pcall(function() return T.tensor{{1, 2}, {3}} end)
    pcall(function() return T.tensor{1, "a"} end)
    pcall(function() return x:index_select(1, {1, "a"}) end)
  end
  eq(x:totable(), {1, 2, 3})
  x = nil
  collectgarbage(); collectgarbage()
  eq(entro.mem(), before)
end)

test("closed tensors: the tensor is an error, its views still work", function()
  local x = T.arange(6):view(2, 3)
  local v = x:t()
  x:close()
  raises(function() x:sum() end, "tensor was closed")
  raises(function() x:get(1, 1) end, "tensor was closed")
  raises(function() return x * 2 end, "tensor was closed")
  raises(function() return -x end, "tensor was closed")
  raises(function() return #x end, "tensor was closed")
  raises(function() v:copy(x) end, "tensor was closed")
  raises(function() v:matmul(x) end, "tensor was closed")
  raises(function() T.stack{v, x} end, "tensor was closed")
  raises(function() T.where(v, x, 0) end, "tensor was closed")
  raises(function() v:index_select(1, x) end, "tensor was closed")
  raises(function() v:add(1, x) end, "tensor was closed")
  ok(T.is_tensor(x))
  eq(tostring(x), "[entro.Tensor (closed)]")
  eq(v:totable(), {{0, 3}, {1, 4}, {2, 5}})
end)

test("expanded views cannot be written, by any path", function()
  local e = T.ones(3, 1):expand(3, 4)
  local writes = {
    function() e:fill(0) end, function() e:zero_() end, function() e:copy(T.zeros(3, 4)) end,
    function() e:set(1, 1, 0) end, function() e:add_(1) end, function() e:mul_(e) end,
    function() e:clamp_(0, 1) end, function() e:relu_() end, function() e:axpy_(1, e) end,
    function() e:cumsum(1, e) end, function() T.ones(3, 4):add(1, e) end,
    function() T.ones(3, 4):matmul(T.ones(4, 4), e) end,
    function() e:scatter_add_(1, T.ones(1, 4), T.ones(1, 4)) end,
    function() T.rng(1):normal_(e) end, function() T.rng(1):bernoulli_(e, 0.5) end,
    function() T.where(e, e, e, e) end,
  }
  for i, w in ipairs(writes) do
    local okk = pcall(w)
    ok(not okk, "write " .. i .. " succeeded")
  end
  eq(e:sum(), 12)
end)

test("NaN arguments are refused where a number must be meaningful", function()
  local nan = 0 / 0
  local x = T.ones(3)
  raises(function() x:get(nan) end, "get: an index must be an integer")
  raises(function() x:narrow(1, 1, nan) end, "narrow: the length must be an integer")
  raises(function() x:sum(nan) end, "sum: the dimension must be an integer")
  raises(function() T.rng(1):bernoulli(nan, 3) end, "bernoulli: probability")
  raises(function() T.rng(1):normal(0, nan, 3) end, "normal: standard deviation")
  raises(function() T.rng(nan) end, "rng: the seed is NaN")
  raises(function() T.arange(nan) end, "arange: bad range")
  raises(function() T.eye(nan) end, "eye: the size must be an integer")
  -- but NaN data is fine
  local y = T.full({2}, nan)
  ok(y:sum() ~= y:sum())
  ok(tostring(y):find("nan"))
end)

-- values thrown at every function by the fuzz test below; sizes stay tiny so that
-- nothing legitimate takes long or allocates much
local function junk(g)
  local pool = {
    function() return nil end, function() return -1 end, function() return 0 end,
    function() return 1 end, function() return 2 end, function() return 1.5 end,
    function() return 0 / 0 end, function() return 1 / 0 end, function() return "a" end,
    function() return "2" end, function() return {} end, function() return {1, 2} end,
    function() return {out = T.zeros(2, 3)} end, function() return {unbiased = false} end,
    function() return true end, function() return T.ones(2, 3) end,
    function() return T.arange(6):view(3, 2):t() end, function() return T.ones(3) end,
    function() return T.tensor(2) end, function() return T.zeros(0, 3) end,
    function() return T.ones(1, 3):expand(2, 3) end, function() return math.maxinteger end,
    function() return math.mininteger end, function() return -2 ^ 63 end,
    function() local c = T.ones(2, 3); c:close(); return c end,
    function() return T.rng(1) end, function() return print end,
  }
  return pool[g:randint(1, #pool)]()
end

local METHODS = {
  "shape", "size", "stride", "dim", "numel", "get", "set", "item", "totable", "narrow", "select",
  "t", "transpose", "permute", "view", "reshape", "expand", "expand_as", "squeeze", "unsqueeze",
  "flatten", "contiguous", "clone", "copy", "fill", "close", "add", "sub", "mul", "div", "pow",
  "add_", "sub_", "mul_", "div_", "pow_", "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge",
  "exp", "log", "sqrt", "abs", "sign", "tanh", "sigmoid", "relu", "sin", "cos", "floor", "clamp",
  "clamp_", "exp_", "axpy_", "affine", "where", "sum", "mean", "max", "min", "argmax", "argmin",
  "var", "std", "norm", "prod", "cumsum", "dot", "matmul", "outer", "index_select", "gather",
  "scatter_add_", "masked_select", "is_contiguous",
}
local MODULE = {
  "zeros", "ones", "full", "eye", "arange", "linspace", "tensor", "zeros_like", "ones_like",
  "cat", "stack", "where", "rand", "randn", "normal", "randint", "perm", "bernoulli", "rng",
  "uniform",
}

test("random junk never crashes: every error is a string naming something", function()
  local g = T.rng(77)
  local calls, errors = 0, 0
  local function try(f, ...)
    calls = calls + 1
    local okk, err = pcall(f, ...)
    if not okk then
      errors = errors + 1
      ok(type(err) == "string" and #err > 0, "error is not a message: " .. tostring(err))
      ok(not err:find("invalid option", 1, true), "a bad format in an error: " .. err)
    end
  end
  for _, name in ipairs(METHODS) do
    for _ = 1, 60 do
      local self = g:randint(1, 4) == 1 and junk(g) or T.arange(6):view(2, 3):add_(0.5)
      local n = g:randint(0, 3)
      local args = {}
      for i = 1, n do args[i] = junk(g) end
      local f = T.methods[name]
      ok(f, "no method " .. name)
      try(f, self, table.unpack(args, 1, n))
    end
  end
  for _, name in ipairs(MODULE) do
    for _ = 1, 60 do
      local n = g:randint(0, 4)
      local args = {}
      for i = 1, n do args[i] = junk(g) end
      if name == "cat" or name == "stack" then args[1] = {junk(g), junk(g)} end
      try(T[name], table.unpack(args, 1, n))
    end
  end
  -- the metamethods
  for _ = 1, 300 do
    local a, b = junk(g), junk(g)
    if g:randint(1, 2) == 1 then a = T.ones(2, 3) end
    for _, mm in ipairs{"__add", "__sub", "__mul", "__div", "__pow", "__unm", "__len",
                        "__tostring"} do
      local f = getmetatable(T.ones(1))[mm]
      try(f, a, b)
    end
  end
  ok(calls > 5000)
  ok(errors > 1000)
  collectgarbage()
end)
