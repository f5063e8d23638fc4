-- Tests for tensor.save / tensor.load / tensor.dumps / tensor.loads (bindings/lua/lio.c over
-- bindings/core/serialize.c): round trips of every value type, identity of shared objects,
-- the byte format itself, atomic writes, and clean errors on every kind of bad input.

local tmp = os.tmpname()
os.remove(tmp)
assert(os.execute("mkdir -p '" .. tmp .. "'"))

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local function listdir(dir)
  local names = {}
  local p = io.popen("ls -A '" .. dir .. "'")
  for l in p:lines() do names[#names + 1] = l end
  p:close()
  table.sort(names)
  return names
end

local function roundtrip(v) return tensor.loads(tensor.dumps(v)) end

-- The exact bits of a tensor's elements in logical order, as 8-byte strings.
local function bits(t)
  local out = {}
  local function walk(x)
    if type(x) == "table" then for _, y in ipairs(x) do walk(y) end
    else out[#out + 1] = string.pack("<d", x) end
  end
  walk(t:totable())
  return out
end

-- CRC-32 (zlib's polynomial), written independently of the C side, to forge valid files.
local function crc32(s)
  local crc = 0xFFFFFFFF
  for i = 1, #s do
    crc = crc ~ s:byte(i)
    for _ = 1, 8 do crc = (crc >> 1) ~ (0xEDB88320 & -(crc & 1)) end
  end
  return crc ~ 0xFFFFFFFF
end

-- A well-formed entro file around the given payload (records), with a correct checksum.
local function forge(payload, version, flags)
  local body = "ENTRO\0" .. string.pack("<I4I4I8", version or 1, flags or 0, #payload) .. payload
  return body .. string.pack("<I4", crc32(body))
end

local function I(v) return "i" .. string.pack("<i8", v) end
local function S(s) return "s" .. string.pack("<I8", #s) .. s end

---------------------------------------------------------------------------------------------
-- the format

test("format: header, one record, CRC-32 of everything before it", function()
  local s = tensor.dumps(1)
  local body = "ENTRO\0" .. string.pack("<I4I4I8", 1, 0, 9) .. I(1)
  eq(s, body .. string.pack("<I4", crc32(body)))
  local t = tensor.dumps(tensor.tensor{{1, 2}, {3, 4}}:t())   -- logical order: 1 3 2 4
  eq(t:sub(23, -5), "x\2" .. string.pack("<i8i8dddd", 2, 2, 1, 3, 2, 4))
  eq(tensor.dumps{true}:sub(23, -5), "{" .. I(1) .. "b\1}")
end)

test("format: a file written by save is the same bytes as dumps", function()
  local v = {w = tensor.arange(6):view(2, 3), name = "net", steps = 10, lr = 0.1}
  tensor.save(tmp .. "/same.bin", v)
  eq(read(tmp .. "/same.bin"), tensor.dumps(v))
end)

---------------------------------------------------------------------------------------------
-- round trips

test("tensors: shapes from 0-d to 4-d and empty ones", function()
  local cases = {
    tensor.tensor(3.25),
    tensor.tensor{1, 2, 3},
    tensor.arange(24):view(2, 3, 4),
    tensor.arange(120):view(2, 3, 4, 5) * 0.5,
    tensor.zeros(0, 3),
    tensor.zeros(0),
    tensor.zeros(2, 0, 5),
  }
  for i, t in ipairs(cases) do
    local r = roundtrip(t)
    ok(tensor.is_tensor(r), "case " .. i)
    eq(r:shape(), t:shape(), "shape of case " .. i)
    eq(bits(r), bits(t), "values of case " .. i)
    ok(not r:same_storage(t), "a copy, case " .. i)
  end
end)

test("tensors: views are saved in logical order and load contiguous", function()
  local a = tensor.arange(12):view(3, 4)
  local views = {
    a:t(),
    a:narrow(2, 2, 2),
    a:select(2, 3),
    tensor.tensor{1, 2, 3}:view(1, 3):expand(4, 3),
    tensor.tensor(7):expand(2, 2),
    a:view(3, 4, 1):permute(3, 2, 1),
  }
  for i, v in ipairs(views) do
    local r = roundtrip(v)
    eq(r:shape(), v:shape(), "shape of view " .. i)
    eq(bits(r), bits(v), "values of view " .. i)
    ok(r:is_contiguous(), "contiguous, view " .. i)
  end
end)

test("tensors: doubles are kept bit for bit (-0, NaN payloads, Inf, subnormals)", function()
  local nan1 = string.unpack("<d", "\1\0\0\0\0\0\xf8\x7f")
  local nan2 = string.unpack("<d", "\x2a\0\0\0\0\0\xf8\xff")
  local vals = {-0.0, 0.0, 1 / 0, -1 / 0, 0 / 0, nan1, nan2, 5e-324, -5e-324,
                2.2250738585072009e-308, 1.7976931348623157e308, math.pi}
  local t = tensor.zeros(#vals)
  for i, x in ipairs(vals) do t:set(i, x) end
  local r = roundtrip(t)
  for i, x in ipairs(vals) do
    eq(string.pack("<d", r:get(i)), string.pack("<d", x), "element " .. i)
  end
  -- and as plain Lua numbers
  local back = roundtrip(vals)
  for i, x in ipairs(vals) do
    eq(string.pack("<d", back[i]), string.pack("<d", x), "number " .. i)
  end
end)

test("big tensors go through the file in pieces, strided ones too", function()
  local big = tensor.arange(600 * 500):view(600, 500)   -- 2.4 MB: several buffer flushes
  local v = {big = big, tr = big:t()}
  tensor.save(tmp .. "/big.bin", v)
  local r = tensor.load(tmp .. "/big.bin")
  eq(r.big:shape(), {600, 500})
  eq(r.tr:shape(), {500, 600})
  eq(r.big:sum(), big:sum())
  eq(r.tr:get(500, 600), big:get(600, 500))
  eq(r.tr:get(3, 7), big:get(7, 3))
  eq(r.tr:get(499, 2), big:get(2, 499))
  eq(tensor.dumps(r.tr), tensor.dumps(big:t()))
end)

test("scalars at the top level", function()
  eq(roundtrip(42), 42)
  eq(math.type(roundtrip(42)), "integer")
  eq(math.type(roundtrip(42.0)), "float")
  eq(roundtrip("hi"), "hi")
  eq(roundtrip(false), false)
  eq(roundtrip(true), true)
end)

test("nested tables with every value and key type", function()
  local long = string.rep("0123456789abcdef", 6000)   -- 96 KB, longer than one piece
  local v = {
    ints = {1, -2, 0, math.maxinteger, math.mininteger},
    floats = {1.0, -2.5, 2 ^ 53, 1e300, -0.0},
    strs = {"", "a\0b\255\n", long},
    flags = {t = true, f = false},
    deep = {a = {b = {c = {d = {"bottom"}}}}},
    w = tensor.ones(2, 2),
    [1] = "one", [-7] = "minus seven", [1.5] = "one and a half", [true] = "yes",
    [false] = "no", ["with space"] = 1, [math.maxinteger] = "max",
  }
  local r = roundtrip(v)
  eq(r.ints, v.ints)
  eq(r.floats, v.floats)
  eq(r.strs[2], "a\0b\255\n")
  eq(r.strs[1], "")
  ok(r.strs[3] == long, "long string")
  eq(r.flags, {t = true, f = false})
  eq(r.deep.a.b.c.d[1], "bottom")
  eq(r.w:totable(), {{1, 1}, {1, 1}})
  eq(r[1], "one"); eq(r[-7], "minus seven"); eq(r[1.5], "one and a half")
  eq(r[true], "yes"); eq(r[false], "no"); eq(r["with space"], 1); eq(r[math.maxinteger], "max")
  local n = 0
  for _ in pairs(r) do n = n + 1 end
  eq(n, 13)
end)

test("integers and floats stay distinct (math.type), as values and as keys", function()
  local v = {1, 1.0, 0, 0.0, -0.0, 2 ^ 63, 3, 3.5, math.maxinteger, 1e15}
  local r = roundtrip(v)
  for i = 1, #v do
    eq(math.type(r[i]), math.type(v[i]), "element " .. i)
    ok(r[i] == v[i], "value " .. i)
  end
  eq(string.pack("<d", r[5]), string.pack("<d", -0.0), "-0.0 keeps its sign")
  local k = roundtrip{[2.5] = "f", [2] = "i"}
  eq(k[2.5], "f"); eq(k[2], "i")
  for key in pairs(k) do
    if key == 2 then eq(math.type(key), "integer") else eq(math.type(key), "float") end
  end
end)

test("a table reached twice loads as one table; a cycle survives", function()
  local shared = {1, 2, 3}
  local r = roundtrip{a = shared, b = shared, c = {shared}}
  ok(r.a == r.b, "a and b are one table")
  ok(r.c[1] == r.a, "and c[1] too")
  r.a[1] = 99
  eq(r.b[1], 99)

  local cyc = {name = "loop"}
  cyc.self = cyc
  cyc.child = {parent = cyc}
  local c = roundtrip(cyc)
  ok(c.self == c, "self-reference")
  ok(c.child.parent == c, "back-reference")
  eq(c.name, "loop")
end)

test("a tensor reached twice is written once and loads as one tensor; views do not", function()
  local w = tensor.arange(1000)
  local once = #tensor.dumps{a = w}
  local twice = tensor.dumps{a = w, b = w}
  ok(#twice < once + 40, "written once (" .. #twice .. " vs " .. once .. ")")
  local r = tensor.loads(twice)
  ok(r.a == r.b, "one object")
  local v = roundtrip{a = w, b = w:view(10, 100)}
  ok(v.a ~= v.b and not v.a:same_storage(v.b), "two views load as two tensors")
  eq(v.b:get(3, 4), w:get(204))
end)

test("nesting up to 200 tables is fine, 201 is an error (not a C stack overflow)", function()
  local function nest(n)
    local root = {}
    local t = root
    for _ = 2, n do t.x = {}; t = t.x end
    return root
  end
  local r = roundtrip(nest(200))
  local d = 0
  while r do d = d + 1; r = r.x end
  eq(d, 200)
  local err = raises(function() tensor.dumps(nest(201)) end, "tables nested deeper than 200")
  ok(err:find("at key 'x.x.x", 1, true), err)
  raises(function() tensor.dumps(nest(100000)) end, "deeper than 200")
end)

---------------------------------------------------------------------------------------------
-- what cannot be saved

test("unsupported values are errors naming the key path", function()
  raises(function() tensor.dumps{foo = {bar = print}} end, "cannot save a function (at key 'foo.bar')")
  raises(function() tensor.dumps{layers = {{}, {w = coroutine.create(print)}}} end,
         "cannot save a thread (at key 'layers[2].w')")
  raises(function() tensor.dumps{["a b"] = {[1.5] = {[true] = print}}} end,
         "(at key '[\"a b\"][1.5][true]')")
  raises(function() tensor.dumps{g = tensor.rng(1)} end, "cannot save an entro.Generator (at key 'g')")
  raises(function() tensor.dumps{f = io.stdout} end, "cannot save a FILE* (at key 'f')")
  raises(function() tensor.dumps(print) end, "tensor.dumps: cannot save a function")
  raises(function() tensor.dumps(nil) end, "cannot save nil")
  raises(function() tensor.dumps{a = {[{}] = 1}} end, "cannot save a table as a key (in 'a')")
  raises(function() tensor.dumps{[tensor.ones(1)] = 1} end, "cannot save an entro.Tensor as a key")
  local t = tensor.ones(2)
  t:close()
  raises(function() tensor.dumps{t} end, "cannot save a closed tensor (at key '[1]')")
  raises(function() tensor.save(tmp .. "/x.bin") end, "bad argument #2")
  raises(function() tensor.loads() end, "bad argument #1")
end)

---------------------------------------------------------------------------------------------
-- files: errors and atomicity

test("files: errors name the file and the OS reason", function()
  raises(function() tensor.save(tmp .. "/no/such/dir/x.bin", 1) end,
         "tensor.save: cannot write '" .. tmp .. "/no/such/dir/x.bin': No such file or directory")
  raises(function() tensor.load(tmp .. "/missing.bin") end,
         "tensor.load: cannot open '" .. tmp .. "/missing.bin': No such file or directory")
  raises(function() tensor.load(tmp) end, "Is a directory")
  -- saving over a directory fails at the rename and leaves nothing behind
  assert(os.execute("mkdir -p '" .. tmp .. "/adir'"))
  raises(function() tensor.save(tmp .. "/adir", 1) end, "cannot write '" .. tmp .. "/adir'")
  eq(listdir(tmp .. "/adir"), {})
  for _, name in ipairs(listdir(tmp)) do ok(not name:find(".tmp.", 1, true), "left behind: " .. name) end
end)

test("atomic: a failed save leaves the old file intact and no temporary file", function()
  local dir = tmp .. "/atomic"
  assert(os.execute("mkdir -p '" .. dir .. "'"))
  local path = dir .. "/ckpt.bin"
  tensor.save(path, {step = 1, w = tensor.ones(3)})
  local before = read(path)
  raises(function() tensor.save(path, {step = 2, w = tensor.zeros(3), hook = print}) end,
         "cannot save a function (at key 'hook')")
  eq(read(path), before, "old contents kept")
  eq(tensor.load(path).step, 1)
  eq(listdir(dir), {"ckpt.bin"})
  raises(function() tensor.save(dir .. "/new.bin", {print}) end, "cannot save a function")
  ok(not exists(dir .. "/new.bin"), "no half file for a new path")
  tensor.save(path, {step = 3})
  eq(tensor.load(path).step, 3)
  eq(listdir(dir), {"ckpt.bin"})
end)

test("load: empty, foreign and newer files", function()
  write(tmp .. "/empty.bin", "")
  raises(function() tensor.load(tmp .. "/empty.bin") end, "is empty, not an entro file")
  raises(function() tensor.load("/etc/passwd") end, "tensor.load: '/etc/passwd' is not an entro file")
  local png = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\1\0\0\0\1\8\6\0\0\0\x1f\x15\xc4\x89"
  write(tmp .. "/img.png", png)
  raises(function() tensor.load(tmp .. "/img.png") end, "'" .. tmp .. "/img.png' is not an entro file")
  raises(function() tensor.loads(png) end, "tensor.loads: the string is not an entro file")
  raises(function() tensor.loads(forge(I(1), 7)) end,
         "was written by a newer entro (format 7, this reads up to 1)")
  raises(function() tensor.loads(forge(I(1), 0)) end, "not an entro file")
  raises(function() tensor.loads(forge(I(1), 1, 4)) end, "flags 0x4")
  eq(tensor.loads(forge(I(5))), 5, "a forged file is accepted")
end)

test("load: every truncation of a file is a clean 'truncated' error", function()
  local s = tensor.dumps{w = tensor.arange(3), [2] = {1.5, "ab", true}, k = 7}
  raises(function() tensor.loads("") end, "empty")
  for n = 1, #s - 1 do
    raises(function() tensor.loads(s:sub(1, n)) end, "truncated")
  end
  write(tmp .. "/cut.bin", s:sub(1, #s - 3))
  raises(function() tensor.load(tmp .. "/cut.bin") end,
         "'" .. tmp .. "/cut.bin' is truncated (" .. (#s - 3) .. " of " .. #s .. " bytes)")
  raises(function() tensor.loads(s .. "\0") end, "1 extra bytes after the end")
end)

test("load: every flipped bit is caught, by the checksum past the header", function()
  local s = tensor.dumps{w = tensor.arange(2), name = "n", [1] = false}
  for i = 1, #s do
    for b = 0, 7 do
      local bad = s:sub(1, i - 1) .. string.char(s:byte(i) ~ (1 << b)) .. s:sub(i + 1)
      local err = raises(function() tensor.loads(bad) end)
      if i > 22 then ok(err:find("checksum mismatch", 1, true), err) end
    end
  end
  write(tmp .. "/flip.bin", s:sub(1, 30) .. "Z" .. s:sub(32))
  raises(function() tensor.load(tmp .. "/flip.bin") end,
         "checksum mismatch: '" .. tmp .. "/flip.bin' is corrupt")
end)

test("load: forged files with absurd sizes are rejected before allocating", function()
  collectgarbage(); collectgarbage()
  local live = entro.mem()
  local function bad(payload, msg) raises(function() tensor.loads(forge(payload)) end, msg) end
  bad("x\1" .. string.pack("<i8", 10 ^ 18), "a tensor of shape 1000000000000000000 with only 0 bytes left")
  bad("x\2" .. string.pack("<i8i8", 1 << 40, 1 << 40) .. string.rep("\0", 100), "with only 100 bytes left")
  bad("x\3" .. string.pack("<i8i8i8", 1 << 62, 0, 1 << 62), "an empty tensor of shape 4611686018427387904x0x")
  eq(tensor.loads(forge("x\3" .. string.pack("<i8i8i8", 1 << 20, 0, 1 << 20))):shape(), {1 << 20, 0, 1 << 20})
  bad("x\3" .. string.pack("<i8i8i8", 2, -3, 2), "a tensor with size -3")
  bad("x\9" .. string.rep("\0", 72), "a tensor with 9 dimensions, at most 8")
  bad("x\2" .. string.pack("<i8", 2), "a record runs past the end")
  bad("s" .. string.pack("<I8", -1) .. "abc", "a string of 18446744073709551615 bytes with 3 left")
  bad("@" .. string.pack("<I8", 0), "a reference to object 0 of 0")
  bad("{" .. I(1) .. "@" .. string.pack("<I8", 5) .. "}", "a reference to object 5 of 1")
  bad("Q", "unknown record type 0x51, at byte 22")
  bad("", "there is no value")
  bad("{" .. I(1), "the data ends inside a table")
  bad("{" .. I(1) .. "}", "a key without a value")
  bad("}", "a table end outside any table")
  bad("{{}" .. I(1) .. "}", "a table as a key")
  bad("{x\0" .. string.pack("<d", 1) .. I(1) .. "}", "a tensor as a key")
  bad("{n" .. string.pack("<d", 0 / 0) .. I(1) .. "}", "a NaN key")
  bad("b\2", "a boolean 2")
  bad(I(1) .. I(2), "9 bytes after the value")
  bad(string.rep("{" .. I(1), 5000), "tables nested deeper than 200")
  bad(string.rep("{" .. I(1), 201) .. I(0) .. string.rep("}", 201), "tables nested deeper than 200")
  local x = tensor.loads(forge(string.rep("{" .. I(1), 200) .. I(0) .. string.rep("}", 200)))
  for _ = 1, 200 do x = x[1] end
  eq(x, 0, "200 levels are fine")
  collectgarbage(); collectgarbage()
  eq(entro.mem(), live, "no tensor memory kept")
end)

test("load: a failure after a tensor was read leaks nothing", function()
  collectgarbage(); collectgarbage()
  local live = entro.mem()
  for _ = 1, 20 do
    raises(function()
      tensor.loads(forge("{" .. I(1) .. "x\1" .. string.pack("<i8", 1000) .. string.rep("\0", 8000)
                         .. I(2) .. "Q}"))
    end, "unknown record type")
  end
  collectgarbage(); collectgarbage()
  eq(entro.mem(), live)
end)

os.execute("rm -rf '" .. tmp .. "'")
