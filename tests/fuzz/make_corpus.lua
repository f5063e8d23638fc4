-- tests/fuzz/make_corpus.lua -- writes the seed corpus of the fuzz targets into
-- tests/fuzz/corpus/{serialize,idx,lua}/: small valid and nearly valid inputs of each format,
-- so the fuzzers start past the magic numbers. The files are committed; rerun this after a
-- format change:   ./entro tests/fuzz/make_corpus.lua
local tensor = require "entro.tensor"
local readers = dofile "tests/fuzz/readers.lua"

local root = "tests/fuzz/corpus"
local function put(dir, name, bytes)
  os.execute("mkdir -p " .. root .. "/" .. dir)
  local f = assert(io.open(root .. "/" .. dir .. "/" .. name, "wb"))
  f:write(bytes)
  f:close()
end

-- entro files: whole files, and their payloads alone (the target also wraps its input)
local shared = {1, 2}
local cyclic = {name = "c"}
cyclic.self = cyclic
local values = {
  number = 2.5, integer = math.mininteger, string = "hi\0there", boolean = false,
  scalar = tensor.tensor(3.25),
  matrix = tensor.tensor{{1, 2, 3}, {4, 5, 6}}:t(),
  empty = tensor.zeros(0, 3),
  special = tensor.tensor{0 / 0, 1 / 0, -1 / 0, -0.0, 5e-324},
  nested = {a = {b = {c = {tensor.ones(2, 1, 2)}}}, [1.5] = true, [true] = "t"},
  shared = {x = shared, y = shared},
  cyclic = cyclic,
  checkpoint = {format = "entro.checkpoint", version = 1, step = 10,
                net = {["1.weight"] = tensor.ones(2, 3), ["1.bias"] = tensor.zeros(2)},
                rng = {default = tensor.rng(1):state()}},
}
for name, v in pairs(values) do
  local bytes = tensor.dumps(v)
  put("serialize", name .. ".entro", bytes)
  put("serialize", name .. ".payload", bytes:sub(23, -5))
end

-- IDX: every element type, a scalar, an empty dimension, and the test fixtures
local function idx(type_byte, dims, body)
  local h = string.pack("BBBB", 0, 0, type_byte, #dims)
  for _, d in ipairs(dims) do h = h .. string.pack(">I4", d) end
  return h .. body
end
local idx_files = {
  u8 = idx(0x08, {2, 3}, "\1\2\3\4\5\255"),
  i8 = idx(0x09, {4}, "\1\255\128\127"),
  i16 = idx(0x0B, {2}, string.pack(">i2>i2", -300, 300)),
  i32 = idx(0x0C, {1, 2}, string.pack(">i4>i4", -70000, 70000)),
  f32 = idx(0x0D, {2}, string.pack(">f>f", 1.5, -0.25)),
  f64 = idx(0x0E, {1}, string.pack(">d", 3.141592653589793)),
  scalar = idx(0x08, {}, "\7"),
  empty = idx(0x08, {0, 5}, ""),
}
for name, bytes in pairs(idx_files) do put("idx", name .. ".idx", bytes) end
for _, name in ipairs{"overflow.idx", "short-data.idx", "trailing.idx", "wrong-magic.idx",
                      "tiny-labels-idx1-ubyte", "tiny-images-idx3-ubyte.gz", "truncated.idx.gz"} do
  local f = assert(io.open("tests/data/" .. name, "rb"))
  put("idx", name, f:read("a"))
  f:close()
end

-- the Lua target: first byte = reader (0-based, modulo the count), then the file
local csvs = {
  "a,b,c\n1,2,3\n4.5,-1e3,nan\n",
  "1;2\n3;inf\n",
  "x\n\n1\r\n-0\n0x10\n",
  "# entro {\"script\":\"t\"}\nstep,loss,name\n1,0.5,\"a,b\"\n2,,\"q\"\"uote\"\n",
}
local k = 0
for i = 1, readers.count do
  local samples
  if i <= 3 then samples = {values.checkpoint, values.nested}
  elseif i <= 6 then samples = {idx_files.u8, idx_files.f32}
  else samples = csvs end
  for j, s in ipairs(samples) do
    local bytes = type(s) == "table" and tensor.dumps(s) or s
    if i == 1 then bytes = bytes:sub(23, -5) end   -- reader 1 wraps a payload
    k = k + 1
    put("lua", string.format("%02d-reader%d-%d", k, i, j), string.char(i - 1) .. bytes)
  end
end
print("corpus written to " .. root)
