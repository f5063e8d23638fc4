-- test_data.lua -- the data module: IDX and CSV files (good and bad), Fashion-MNIST, the
-- minibatch loader (order, shuffling, replacement, label noise, checkpoints, errors) and the
-- synthetic generators (teacher, linear teacher with views, Gaussian mixture, covariances).
local D = "tests/data/"
local C = require "entro.data_c"

local function tmpname(suffix)
  return os.tmpname() .. (suffix or "")
end

local function write_bytes(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

-- the bytes of an IDX file: shape, type byte, element format for string.pack
local function idx_bytes(shape, type_byte, fmt, values)
  local parts = {string.char(0, 0, type_byte, #shape)}
  for _, s in ipairs(shape) do parts[#parts + 1] = string.pack(">I4", s) end
  for _, v in ipairs(values) do parts[#parts + 1] = string.pack(fmt, v) end
  return table.concat(parts)
end

local function tolist(t) return t:contiguous():view(-1):totable() end

---------------------------------------------------------------------------------------------
-- IDX files

test("read_idx: a gzipped IDX file and a plain one", function()
  local X = data.read_idx(D .. "tiny-images-idx3-ubyte.gz")
  eq(X:shape(), {3, 2, 2})
  local want = {}
  for i = 1, 12 do want[i] = 20 * (i - 1) end
  eq(tolist(X), want)
  local Y = data.read_idx(D .. "tiny-labels-idx1-ubyte")
  eq(tolist(Y), {0, 9, 4})
end)

test("read_idx: n keeps the first entries", function()
  local X = data.read_idx(D .. "tiny-images-idx3-ubyte.gz", {n = 2})
  eq(X:shape(), {2, 2, 2})
  eq(X:get(2, 2, 2), 140)
  eq(data.read_idx(D .. "tiny-images-idx3-ubyte.gz", {n = 0}):shape(), {0, 2, 2})
  eq(data.read_idx(D .. "tiny-images-idx3-ubyte.gz", {n = 99}):shape(), {3, 2, 2})
  raises(function() data.read_idx(D .. "tiny-labels-idx1-ubyte", {n = -1}) end, "n must be an integer >= 0")
  raises(function() data.read_idx(D .. "tiny-labels-idx1-ubyte", {rows = 1}) end, "unknown option 'rows'")
end)

test("parse_idx: every IDX element type, big-endian", function()
  eq(tolist(data.parse_idx(idx_bytes({3}, 0x08, "B", {0, 128, 255}))), {0, 128, 255})
  eq(tolist(data.parse_idx(idx_bytes({3}, 0x09, "b", {-128, -1, 127}))), {-128, -1, 127})
  eq(tolist(data.parse_idx(idx_bytes({2, 2}, 0x0B, ">i2", {-32768, -2, 300, 32767}))), {-32768, -2, 300, 32767})
  eq(tolist(data.parse_idx(idx_bytes({2}, 0x0C, ">i4", {-2147483648, 123456789}))), {-2147483648, 123456789})
  eq(tolist(data.parse_idx(idx_bytes({2}, 0x0D, ">f", {0.5, -1.25}))), {0.5, -1.25})
  eq(tolist(data.parse_idx(idx_bytes({2}, 0x0E, ">d", {1 / 3, -1e300}))), {1 / 3, -1e300})
  eq(data.parse_idx(idx_bytes({0, 5}, 0x08, "B", {})):shape(), {0, 5})
end)

test("read_idx reads the same plain file its bytes parse to", function()
  local bytes = idx_bytes({2, 3}, 0x0E, ">d", {1, 2, 3, 4, 5, 1 / 7})
  local path = tmpname(".idx")
  write_bytes(path, bytes)
  local a, b = data.read_idx(path), data.parse_idx(bytes)
  os.remove(path)
  eq(tolist(a), tolist(b))
  eq(a:shape(), {2, 3})
end)

test("read_idx: bad files are errors naming the file", function()
  local cases = {
    {"truncated.idx.gz", "truncated"},
    {"bad-crc.idx.gz", "incorrect data check"},
    {"wrong-magic.idx", "not an IDX file"},
    {"short-data.idx", "promises 40 bytes of data (10x2x2 u8), it holds 12"},
    {"overflow.idx", "overflows"},
    {"trailing.idx", "bytes after the data"},
    {"does-not-exist.idx", "No such file"},
    {"mnist-like", "is a directory"},
  }
  for _, c in ipairs(cases) do
    local err = raises(function() data.read_idx(D .. c[1]) end, c[2])
    ok(err:find("data.read_idx: ", 1, true), err)
    ok(err:find(D .. c[1], 1, true), err)
  end
  raises(function() data.read_idx(42) end, "path must be a string")
end)

test("read_idx: a truncated gzip is an error at any cut", function()
  local f = assert(io.open(D .. "tiny-images-idx3-ubyte.gz", "rb"))
  local gz = f:read("a")
  f:close()
  local path = tmpname(".gz")
  for cut = 1, #gz - 1 do
    write_bytes(path, gz:sub(1, cut))
    local okk, err = pcall(data.read_idx, path)
    ok(not okk, "cut at " .. cut .. " was read")
    ok(tostring(err):find(path, 1, true), err)
  end
  os.remove(path)
end)

test("parse_idx: short headers, foreign bytes, lying headers", function()
  raises(function() data.parse_idx("") end, "is empty")
  raises(function() data.parse_idx("\0\0") end, "too short")
  raises(function() data.parse_idx("\0\0\8\2\0\0\0\3") end, "truncated inside its header")
  raises(function() data.parse_idx("\0\0\8\0") end, "declares 0 dimensions")
  raises(function() data.parse_idx("\0\0\8\9" .. string.rep("\0", 36)) end, "declares 9 dimensions")
  raises(function() data.parse_idx("\0\0\7\1\0\0\0\1x") end, "not an IDX file")
  raises(function() data.parse_idx(idx_bytes({4}, 0x0C, ">i4", {1, 2, 3})) end, "truncated")
  raises(function() data.parse_idx(idx_bytes({2^31, 2^31, 4}, 0x08, "B", {})) end, "overflows")
  raises(function() data.parse_idx(idx_bytes({2^20, 2^20}, 0x08, "B", {})) end, "truncated")
  raises(function() data.parse_idx({}) end, "expected a string")
end)

---------------------------------------------------------------------------------------------
-- Fashion-MNIST and copies in its layout

test("fashion_mnist: a copy in the MNIST layout (gzip and plain files)", function()
  local X, Y = data.fashion_mnist{path = D .. "mnist-like"}
  eq(X:shape(), {4, 6})
  eq(tolist(Y), {4, 1, 10, 2})
  near(X:get(1, 2), 10 / 255, 0)
  eq(X:get(4, 6), (230 % 256) / 255)
  local X2, Y2 = data.fashion_mnist{path = D .. "mnist-like", n = 2}
  eq(X2:shape(), {2, 6})
  eq(tolist(Y2), {4, 1})
  -- the test split there has 2 images but 3 labels
  local err = raises(function() data.fashion_mnist{path = D .. "mnist-like", split = "test"} end,
                     "holds 2 images but")
  ok(err:find("t10k-labels-idx1-ubyte' holds 3 labels", 1, true), err)
  -- with n = 2 both files agree
  local Xt = data.fashion_mnist{path = D .. "mnist-like", split = "test", n = 2}
  eq(tolist(Xt:narrow(1, 1, 1)), {1, 1, 1, 1, 1, 1})
end)

test("fashion_mnist: bad options and missing files", function()
  raises(function() data.fashion_mnist{split = "validation"} end, 'split must be "train" or "test"')
  raises(function() data.fashion_mnist{path = D .. "nowhere"} end, "no train-images-idx3-ubyte(.gz) in")
  raises(function() data.fashion_mnist{path = D} end, "no train-images")
  raises(function() data.fashion_mnist{n = -3, path = D .. "mnist-like"} end, "n must be an integer >= 0")
  raises(function() data.fashion_mnist{limit = 3} end, "unknown option 'limit'")
end)

test("fashion_mnist: Debian's dataset-fashion-mnist", function()
  local f = io.open(data.FASHION_MNIST_PATH .. "/t10k-labels-idx1-ubyte.gz", "rb")
  if not f then skip("dataset-fashion-mnist is not installed") end
  f:close()
  local X, Y = data.fashion_mnist{split = "test", n = 1000}
  eq(X:shape(), {1000, 784})
  eq(Y:shape(), {1000})
  eq(X:min(), 0)
  eq(X:max(), 1)
  eq(Y:min(), 1)
  eq(Y:max(), 10)
  eq(Y:get(1), 10)                 -- the first test image is an ankle boot
  eq(#data.FASHION_MNIST_CLASSES, 10)
  local Yall = data.fashion_mnist{split = "test"}
  eq(Yall:size(1), 10000)
end)

---------------------------------------------------------------------------------------------
-- The loader

-- X row i is (i, 10 i), Y row i is i: a batch shows which samples it holds
local function numbered(n)
  local X = tensor.arange(1, n + 1):view(n, 1) * tensor.tensor{{1, 10}}
  return X, tensor.arange(1, n + 1)
end

local function run(loader)
  local batches = {}
  for step, xb, yb in loader do
    batches[#batches + 1] = {step = step, x = xb and xb:clone(), y = yb and tolist(yb)}
  end
  return batches
end

test("loader in order: views of the data, a short last batch, drop_last", function()
  local X, Y = numbered(10)
  local seen = {}
  for step, xb, yb in data.loader(X, Y, {batch = 4, shuffle = false}) do
    ok(xb:same_storage(X) and yb:same_storage(Y), "in-order batches are views")
    seen[step] = tolist(yb)
  end
  eq(seen, {{1, 2, 3, 4}, {5, 6, 7, 8}, {9, 10}})
  local b = run(data.loader(X, Y, {batch = 4, shuffle = false, drop_last = true, epochs = 2}))
  eq(#b, 4)
  eq(b[3].y, {1, 2, 3, 4})
  eq(b[4].step, 4)
end)

test("loader shuffled: every epoch a permutation, rows stay paired, deterministic", function()
  local X, Y = numbered(10)
  local b = run(data.loader(X, Y, {batch = 3, epochs = 3, rng = tensor.rng(5)}))
  eq(#b, 12)                                  -- 4 batches per epoch, the last of 1
  local orders = {}
  for e = 0, 2 do
    local all = {}
    for k = 1, 4 do
      local batch = b[4 * e + k]
      for i, v in ipairs(batch.y) do
        all[#all + 1] = v
        eq(tolist(batch.x:narrow(1, i, 1)), {v, 10 * v})
      end
    end
    orders[e + 1] = table.concat(all, " ")
    table.sort(all)
    eq(all, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
  end
  ok(orders[1] ~= orders[2] or orders[2] ~= orders[3], "epochs are reshuffled")
  local again = run(data.loader(X, Y, {batch = 3, epochs = 3, rng = tensor.rng(5)}))
  for i = 1, #b do eq(again[i].y, b[i].y) end
  local other = run(data.loader(X, Y, {batch = 3, epochs = 3, rng = tensor.rng(6)}))
  local same = true
  for i = 1, #b do same = same and table.concat(other[i].y, " ") == table.concat(b[i].y, " ") end
  ok(not same, "another seed, other batches")
end)

test("loader shuffled: batches are gathered into reused buffers", function()
  local X, Y = numbered(8)
  local xs = {}
  for _, xb in data.loader(X, Y, {batch = 4, epochs = 2, rng = tensor.rng(1)}) do
    xs[#xs + 1] = xb
    ok(not xb:same_storage(X), "a gathered copy, not a view")
  end
  ok(rawequal(xs[1], xs[2]) or xs[1]:same_storage(xs[2]), "the buffer is reused")
end)

test("loader with replacement: i.i.d. draws, batch may exceed the data", function()
  local X, Y = numbered(4)
  local dup, counts, steps = false, {0, 0, 0, 0}, 400
  for _, _, yb in data.loader(X, Y, {batch = 6, steps = steps, replacement = true, rng = tensor.rng(2)}) do
    local seen = {}
    for _, v in ipairs(tolist(yb)) do
      counts[v] = counts[v] + 1
      if seen[v] then dup = true end
      seen[v] = true
    end
  end
  ok(dup, "draws repeat samples within a batch")
  for i = 1, 4 do near(counts[i] / (6 * steps), 0.25, 0.03) end
  raises(function() data.loader(X, Y, {batch = 5}) end, "batch 5 is larger than the data (4 samples)")
end)

test("loader: steps run across epochs; loader.epoch counts them", function()
  local X = numbered(10)
  local ld = data.loader(X, nil, {batch = 4, steps = 7, rng = tensor.rng(3)})
  local epochs = {}
  for step, xb, yb in ld do
    epochs[step] = ld.epoch
    ok(yb == nil, "no Y, no yb")
    ok(xb:size(1) == 4 or xb:size(1) == 2)
  end
  eq(epochs, {1, 1, 1, 2, 2, 2, 3})
  eq(ld.step, 7)
  eq(#run(data.loader(X, {batch = 4, steps = 0})), 0)
end)

test("loader label_noise: fresh noise on a copy of the targets", function()
  local n = 4000
  local X, Y = numbered(n)
  local Y2 = Y:view(n, 1):clone()
  local sum, sumsq, cnt = 0, 0, 0
  for _, xb, yb in data.loader(X, Y2, {batch = 100, epochs = 1, label_noise = 0.5, rng = tensor.rng(4)}) do
    local r = yb - xb:narrow(2, 1, 1)      -- row i of X starts with i = its label
    sum, sumsq, cnt = sum + r:sum(), sumsq + r:square():sum(), cnt + r:numel()
  end
  near(sum / cnt, 0, 0.03)
  near(math.sqrt(sumsq / cnt), 0.5, 0.03)
  eq(tolist(Y2:view(-1)), tolist(Y))       -- the data are untouched
  for _, _, yb in data.loader(X, Y2, {batch = 10, shuffle = false, steps = 1, label_noise = 1}) do
    ok(not yb:same_storage(Y2), "noisy targets are a copy even in order")
  end
  eq(tolist(Y2:view(-1)), tolist(Y))
end)

test("loader: state and set_state resume the same batches", function()
  local X, Y = numbered(10)
  local function first(ld, k)
    local out = {}
    for step, _, yb in ld do
      out[#out + 1] = table.concat(tolist(yb), " ")
      if step == k then break end
    end
    return out
  end
  local g = tensor.rng(9)
  local ld = data.loader(X, Y, {batch = 3, steps = 20, rng = g, label_noise = 0.1})
  first(ld, 6)                                 -- mid-epoch (4 batches per epoch)
  local s = ld:state()
  eq(s.step, 6)
  eq(s.epoch, 2)
  eq(type(s.rng), "string")
  eq(#s.perm, 10)
  eq(math.type(s.perm[1]), "integer")
  local s2 = tensor.loads(tensor.dumps(s))    -- a plain table: it survives a checkpoint
  local rest = first(ld, 20)
  local ld2 = data.loader(X, Y, {batch = 3, steps = 20, rng = tensor.rng(1234), label_noise = 0.1})
  ld2:set_state(s2)
  eq(first(ld2, 20), rest)
  -- restoring at an epoch boundary (no permutation drawn yet) works too
  local ld3 = data.loader(X, Y, {batch = 5, steps = 6, rng = tensor.rng(1)})
  first(ld3, 2)
  local s3 = ld3:state()
  local rest3 = first(ld3, 6)
  local ld4 = data.loader(X, Y, {batch = 5, steps = 6, rng = tensor.rng(7)})
  eq(first(ld4:set_state(s3), 6), rest3)
end)

test("loader:set_state refuses states that do not fit", function()
  local X, Y = numbered(10)
  local ld = data.loader(X, Y, {batch = 3, steps = 10, rng = tensor.rng(1)})
  local s = ld:state()
  local other = data.loader(X, Y, {batch = 4, steps = 10})
  raises(function() other:set_state(s) end, "the state is for 10 samples in batches of 3")
  raises(function() ld:set_state(42) end, "expected a table")
  local bad = ld:state(); bad.perm = {1, 2, 3}
  raises(function() ld:set_state(bad) end, "perm must be a permutation of 1..10")
  bad.perm = {1, 1, 2, 3, 4, 5, 6, 7, 8, 9}
  raises(function() ld:set_state(bad) end, "entry 2")
  bad = ld:state(); bad.step = 11
  raises(function() ld:set_state(bad) end, "beyond this loader's 10 steps")
  bad = ld:state(); bad.rng = "nonsense"
  raises(function() ld:set_state(bad) end, "loader:set_state")
end)

test("loader: report, finish and leaving a loop early", function()
  local X, Y = numbered(10)
  local ld = data.loader(X, Y, {batch = 2, steps = 10, progress = false})
  for step in ld do
    ld:report{loss = 1 / step}
    if step == 3 then break end
  end
  eq(ld.step, 3)
  ok(ld.bar == nil, "progress = false draws nothing")
  for step in data.loader(X, Y, {batch = 2, steps = 10}) do if step == 2 then break end end
  raises(function() ld:report(3) end, "loader:report: expected a table")
  ok(tostring(ld):find("step 3 of 10", 1, true))
end)

test("loader: bad arguments are errors naming the option", function()
  local X, Y = numbered(10)
  raises(function() data.loader(X, Y:narrow(1, 1, 9), {batch = 2}) end,
         "X has 10 samples (shape 10x2) but Y has 9 (shape 9)")
  raises(function() data.loader(X, Y, {batch = 11}) end, "batch 11 is larger than the data (10 samples)")
  raises(function() data.loader(X, Y, {}) end, "option batch (an integer >= 1) is required")
  raises(function() data.loader(X, Y, {batch = 0}) end, "batch must be an integer >= 1")
  raises(function() data.loader(X, Y, {batch = 2.5}) end, "batch must be an integer >= 1, got 2.5")
  raises(function() data.loader(X, Y, {batch = 2, bach = 3}) end, "unknown option 'bach'")
  raises(function() data.loader(X, Y, {batch = 2, steps = 3, epochs = 1}) end, "not both")
  raises(function() data.loader(X, Y, {batch = 2, steps = -1}) end, "steps must be an integer >= 0")
  raises(function() data.loader(X, Y, {batch = 2, replacement = true, shuffle = false}) end,
         "cannot be combined with shuffle = false")
  raises(function() data.loader(X, nil, {batch = 2, label_noise = 0.1}) end, "label_noise needs targets Y")
  raises(function() data.loader(X, Y, {batch = 2, label_noise = -1}) end, "label_noise must be")
  raises(function() data.loader(X, Y, {batch = 2, shuffle = "yes"}) end, "shuffle must be true or false")
  raises(function() data.loader(X, Y, {batch = 2, rng = 7}) end, "rng must be a generator")
  raises(function() data.loader({1, 2}, Y, {batch = 2}) end, "X must be a tensor")
  raises(function() data.loader(X, "y", {batch = 2}) end, "Y must be a tensor or nil")
  raises(function() data.loader(tensor.tensor(3), nil, {batch = 1}) end, "X is a scalar")
  raises(function() data.loader(tensor.zeros(0, 3), nil, {batch = 1}) end, "X holds no samples")
  raises(function() data.loader(X, Y, 5) end, "options must be a table")
end)

test("gather (the loader's kernel): range, shape and autograd checks", function()
  local X = tensor.arange(0, 12):view(4, 3)
  local out = tensor.zeros(2, 3)
  C.gather(out, X, {4, 1})
  eq(out:totable(), {{9, 10, 11}, {0, 1, 2}})
  raises(function() C.gather(out, X, {5, 1}) end, "index 5 outside 1..4")
  raises(function() C.gather(out, X, {0, 1}) end, "index 0 outside 1..4")
  raises(function() C.gather(out, X, {1.5, 1}) end, "outside")
  raises(function() C.gather(tensor.zeros(3, 3), X, {1, 2}) end, "cannot hold 2 rows")
  raises(function() C.gather(out, X:t(), {1, 2}) end, "cannot hold")
  local W = tensor.zeros(4, 3):requires_grad()
  raises(function() C.gather(out, W, {1, 2}) end, "requires grad")
  raises(function() C.gather(X:narrow(1, 1, 2), X, {3, 4}) end, "shares the source's storage")
end)

---------------------------------------------------------------------------------------------
-- Synthetic data

test("teacher: shapes, He initialisation, label noise, fresh samples", function()
  local X, Y, T = data.teacher{n = 3000, din = 50, dout = 2, hidden = {400, 30}, noise = 0.3, rng = tensor.rng(1)}
  eq(X:shape(), {3000, 50})
  eq(Y:shape(), {3000, 2})
  eq(#T.W, 3)
  eq(T.W[1]:shape(), {400, 50})
  eq(T.W[3]:shape(), {2, 30})
  near(T.W[1]:std(), math.sqrt(2 / 50), 0.003)
  near(T.W[2]:std(), math.sqrt(2 / 400), 0.003)
  near((Y - T:forward(X)):std(), 0.3, 0.02)
  local x, y = T:sample(5)
  eq(x:shape(), {5, 50})
  eq(y:shape(), {5, 2})
  local X2, Y2 = data.teacher{n = 3000, din = 50, dout = 2, hidden = {400, 30}, noise = 0.3, rng = tensor.rng(1)}
  eq(tolist(Y2), tolist(Y))
  local Xl, Yl, Tl = data.teacher{n = 10, din = 3, hidden = {}, act = "linear", rng = tensor.rng(2)}
  near(Yl, Xl:matmul(Tl.W[1]:t()), 1e-14)
  local Xt, Yt, Tt = data.teacher{n = 10, din = 3, hidden = {4}, act = "tanh", rng = tensor.rng(2)}
  near(Yt, Xt:matmul(Tt.W[1]:t()):tanh():matmul(Tt.W[2]:t()), 1e-14)
end)

test("teacher: bad options", function()
  raises(function() data.teacher{din = 3} end, "option n (an integer >= 1) is required")
  raises(function() data.teacher{n = 5} end, "option din")
  raises(function() data.teacher{n = 5, din = 3, act = "swish"} end, 'unknown act "swish"')
  raises(function() data.teacher{n = 5, din = 3, hidden = 8} end, "hidden must be a table")
  raises(function() data.teacher{n = 5, din = 3, hidden = {8, 0}} end, "hidden[2] must be an integer >= 1")
  raises(function() data.teacher{n = 5, din = 3, noise = -0.1} end, "noise must be")
  raises(function() data.teacher{n = 5, din = 3, nois = 0.1} end, "unknown option 'nois'")
  raises(function() data.teacher() end, "expected an options table")
end)

-- sample covariance of the rows of A (mean known to be zero)
local function cov(A) return A:t():matmul(A) / A:size(1) end

test("linear_teacher: the data of PAPER.md section 3", function()
  local g = tensor.rng(11)
  local Sx = tensor.tensor{{2, 0.5, 0}, {0.5, 1, 0.2}, {0, 0.2, 0.5}}
  local lt = data.linear_teacher{n = 40000, din = 3, dout = 3, input_cov = Sx,
                                 noise_cov = {1, 0.3, 0.1}, views = 2, rng = g}
  eq(lt.X:shape(), {40000, 3})
  eq(lt.V:shape(), {3, 3})
  eq(#lt.views, 2)
  eq(#lt.Z, 2)
  near(cov(lt.X), Sx, 0.05)
  near(cov(lt.Y - lt.X:matmul(lt.V:t())), tensor.tensor{{1, 0, 0}, {0, 0.3, 0}, {0, 0, 0.1}}, 0.02)
  near(lt.noise_cov, tensor.tensor{{1, 0, 0}, {0, 0.3, 0}, {0, 0, 0.1}}, 0)
  near(lt.input_cov, Sx, 0)
  for i = 1, 2 do
    near(lt.views[i], lt.X:matmul(lt.Z[i]:t()), 1e-13)
    local _, S = tensor.linalg.svd(lt.Z[i])
    ok(S:min() >= 0.5 - 1e-12 and S:max() <= 2 + 1e-12, "views are well conditioned")
    ok((lt.Z[i]:t():matmul(lt.Z[i]) - tensor.eye(3)):abs():max() > 1e-3, "and not orthogonal")
  end
  local x, y, views = lt:sample(4)
  eq(x:shape(), {4, 3})
  eq(y:shape(), {4, 3})
  near(views[2], x:matmul(lt.Z[2]:t()), 1e-13)
  local x2 = lt:sample(4)
  ok((x - x2):abs():max() > 0, "fresh samples at every call")
end)

test("linear_teacher: given V and views, no fixed data, defaults", function()
  local V = tensor.tensor{{1, 2, 3}, {4, 5, 6}}
  local lt = data.linear_teacher{V = V, views = {tensor.eye(3) * 2}, noise_cov = 0, rng = tensor.rng(1)}
  eq(lt.din, 3)
  eq(lt.dout, 2)
  ok(lt.X == nil, "n absent: no fixed data set")
  local x, y, views = lt:sample(5)
  near(y, x:matmul(V:t()), 1e-13)        -- zero label noise
  near(views[1], x * 2, 1e-15)
  local lt2 = data.linear_teacher{n = 20000, din = 4, dout = 1, input_cov = {power_law = 1}, rng = tensor.rng(2)}
  near(cov(lt2.X), data.power_law_cov(4, 1), 0.03)
  near(cov(lt2.Y - lt2.X:matmul(lt2.V:t())), tensor.tensor{{1}}, 0.03)
end)

test("linear_teacher: bad covariances, views and shapes", function()
  local g = tensor.rng(1)
  raises(function() data.linear_teacher{din = 2, dout = 1, input_cov = tensor.tensor{{1, 2}, {2, 1}}} end,
         "input_cov is not a covariance")
  raises(function() data.linear_teacher{din = 2, dout = 1, input_cov = tensor.tensor{{1, 0.5}, {0, 1}}} end,
         "input_cov is not symmetric")
  raises(function() data.linear_teacher{din = 2, dout = 1, input_cov = tensor.eye(3)} end, "input_cov must be 2x2")
  raises(function() data.linear_teacher{din = 2, dout = 2, noise_cov = {1, -1}} end, "negative")
  raises(function() data.linear_teacher{din = 2, dout = 2, noise_cov = {1}} end, "holds 1 variances, expected 2")
  raises(function() data.linear_teacher{din = 2, dout = 2, noise_cov = "big"} end, "noise_cov must be")
  raises(function() data.linear_teacher{din = 2, dout = 2, input_cov = {power_law = 1, x = 2}} end,
         "unknown option 'x'")
  raises(function() data.linear_teacher{din = 2, dout = 1, views = {tensor.zeros(2, 2)}, rng = g} end,
         "views[1] is singular")
  raises(function() data.linear_teacher{din = 2, dout = 1, views = {tensor.eye(3)}} end, "views[1] must be a 2x2")
  raises(function() data.linear_teacher{V = tensor.zeros(2, 3), din = 4} end, "V is 2x3 but din = 4")
  raises(function() data.linear_teacher{din = 2} end, "option dout")
end)

test("power_law_cov", function()
  near(data.power_law_cov(3, 2), tensor.tensor{{1, 0, 0}, {0, 1 / 4, 0}, {0, 0, 1 / 9}}, 1e-15)
  raises(function() data.power_law_cov(0, 1) end, "d must be an integer >= 1")
  raises(function() data.power_law_cov(3, 0 / 0) end, "alpha must be a finite number")
end)

test("gaussian_mixture: exact class sizes, separation, labels", function()
  local X, Y, info = data.gaussian_mixture{n = 1000, classes = 3, dim = 5, sep = 4,
                                           class_weights = {0.7, 0.2, 0.1}, rng = tensor.rng(3)}
  eq(X:shape(), {1000, 5})
  eq(info.counts, {700, 200, 100})
  local counts = {0, 0, 0}
  for _, v in ipairs(tolist(Y)) do counts[v] = counts[v] + 1 end
  eq(counts, {700, 200, 100})
  ok(tolist(Y)[1] ~= tolist(Y)[700] or tolist(Y)[701] ~= 2, "labels come in random order")
  local members = {{}, {}, {}}
  for i, v in ipairs(tolist(Y)) do table.insert(members[v], i) end
  for k = 1, 3 do
    near(info.means:select(1, k):norm(), 4, 1e-12)
    near(X:index_select(1, members[k]):mean(1), info.means:select(1, k), 0.35)
  end
  local _, _, i2 = data.gaussian_mixture{n = 10, classes = 3, dim = 2, class_weights = {1, 1, 1}, rng = tensor.rng(1)}
  eq(i2.counts, {4, 3, 3})
  raises(function() data.gaussian_mixture{n = 10, classes = 3, dim = 2, class_weights = {1, 1}} end,
         "class_weights must be a table of 3 numbers")
  raises(function() data.gaussian_mixture{n = 10, classes = 2, dim = 2, class_weights = {0, 0}} end, "all zero")
  raises(function() data.gaussian_mixture{n = 10, classes = 2, dim = 2, class_weights = {1, -1}} end,
         "class_weights[2] = -1")
  raises(function() data.gaussian_mixture{n = 10, classes = 0, dim = 2} end, "classes must be an integer >= 1")
end)

---------------------------------------------------------------------------------------------
-- CSV

test("read_csv: header detection, numbers, nan and inf", function()
  local X, names = data.read_csv(D .. "small.csv")
  eq(names, {"a", "b", "c"})
  eq(X:shape(), {2, 3})
  eq(X:get(2, 2), -1000)
  ok(X:get(2, 3) ~= X:get(2, 3), "nan is read")
  local X2, n2 = data.read_csv(D .. "small.csv", {header = true})
  eq(n2, names)
  eq(X2:get(1, 1), 1)
  raises(function() data.read_csv(D .. "small.csv", {header = false}) end, "line 1, column 1: \"a\" is not a number")
end)

test("write_csv and read_csv round-trip exactly", function()
  local path = tmpname(".csv")
  local X = tensor.tensor{{1 / 3, -0.0, 1e-300}, {math.huge, -math.huge, 12345678901234}}
  data.write_csv(path, X, {header = {"x", "y", "z"}})
  local R, names = data.read_csv(path)
  eq(names, {"x", "y", "z"})
  eq(R:totable(), X:totable())
  data.write_csv(path, tensor.tensor{1, 2, 3})
  local V, none = data.read_csv(path)
  ok(none == nil)
  eq(V:shape(), {3, 1})
  data.write_csv(path, tensor.tensor{{1, 2}}, {sep = ";"})
  eq(data.read_csv(path, {sep = ";"}):totable(), {{1, 2}})
  os.remove(path)
end)

test("read_csv and write_csv: bad files and options", function()
  raises(function() data.read_csv(D .. "ragged.csv") end, "ragged.csv' line 3 has 1 fields, expected 2")
  raises(function() data.read_csv(D .. "not-numbers.csv") end, "not-numbers.csv' line 2, column 2: \"x7\" is not a number")
  raises(function() data.read_csv(D .. "missing.csv") end, "missing.csv")
  raises(function() data.read_csv(D .. "mnist-like") end, "mnist-like")
  raises(function() data.read_csv(D .. "small.csv", {header = "yes"}) end, "header must be true or false")
  raises(function() data.read_csv(D .. "small.csv", {sep = ""}) end, "sep must be a non-empty string")
  raises(function() data.write_csv(tmpname(), tensor.zeros(2, 2), {header = {"a"}}) end,
         "header must be a table of 2 column names")
  raises(function() data.write_csv(tmpname(), tensor.zeros(2, 2, 2)) end, "X must be a vector or a matrix")
  raises(function() data.write_csv("/nonexistent-dir/x.csv", tensor.zeros(2)) end, "/nonexistent-dir/x.csv")
end)
