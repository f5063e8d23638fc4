-- entro.checkpoint / entro.restore: a run stopped and restored finishes bitwise as if it had
-- never stopped; corrupt, truncated and foreign files are refused with a clear error; a
-- failed save or restore changes nothing; files go only where the user said.

local log = require "entro.log"

local function tmpdir()
  local p = os.tmpname()
  os.remove(p)
  assert(os.execute("mkdir -p '" .. p .. "'"))
  return p
end

local function listing(dir)
  local p = io.popen("ls -A '" .. dir .. "'")
  local out = {}
  for l in p:lines() do out[#out + 1] = l end
  p:close()
  table.sort(out)
  return out
end

local function rmdir(dir) os.execute("rm -rf '" .. dir .. "'") end

local function read_file(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function write_file(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

local function same_bits(a, b)
  return tensor.dumps(a:contiguous()) == tensor.dumps(b:contiguous())
end

-- A small run with every kind of state: momentum buffers, gradient noise (its own
-- generator), a shuffling loader, dropout on the default generator, a monitor.
local X, Y = data.teacher{n = 64, din = 3, dout = 1, hidden = {4}, noise = 0.1, rng = tensor.rng(11)}

local function make_run(csv)
  local g = tensor.rng(5)
  local net = nn.Sequential(nn.Linear(3, 6, {rng = g}), nn.Tanh(), nn.Dropout(0.2), nn.Linear(6, 1, {rng = g}))
  local opt = optim.sgd(net:parameters(), {lr = 0.05, momentum = 0.9,
                                           noise = {std = 0.01, rng = tensor.rng(6)}})
  local ld = data.loader(X, Y, {batch = 8, steps = 40, rng = g, progress = false})
  local mon = diag.monitor(net, {every = 5, file = csv, "loss", "grad_norms"})
  return {net = net, opt = opt, rng = g, loader = ld, monitor = mon}
end

local function train(run, upto, on_step)
  for step, xb, yb in run.loader do
    local loss = nn.mse(run.net(xb), yb)
    run.opt:zero_grad(); loss:backward()
    run.monitor:record(step, {loss = loss})
    run.opt:step()
    if on_step then on_step(step) end
    if upto and step == upto then break end
  end
end

test("a restored run finishes bitwise like an uninterrupted one", function()
  local dir = tmpdir()
  tensor.manual_seed(3)
  local a = make_run(dir .. "/a.csv")
  train(a)
  local a_default = tensor.default_rng():state()
  tensor.manual_seed(3)
  local b = make_run()
  train(b, 17)
  entro.checkpoint(dir .. "/ckpt", {net = b.net, opt = b.opt, rng = b.rng, loader = b.loader,
                                    monitor = b.monitor, step = 17, extra = {note = "mid", t = tensor.ones(2)}})
  train(b, 23)   -- moves on past the checkpoint, then is "killed"
  b.monitor:close()
  tensor.manual_seed(99)   -- the default generator elsewhere
  local c = make_run(dir .. "/c.csv")
  local step, extra = entro.restore(dir .. "/ckpt", {net = c.net, opt = c.opt, rng = c.rng,
                                                    loader = c.loader, monitor = c.monitor})
  eq(step, 17)
  eq(extra.note, "mid")
  ok(same_bits(extra.t, tensor.ones(2)))
  train(c)
  local pa, pc = a.net:parameters(), c.net:parameters()
  for i = 1, #pa do ok(same_bits(pa[i], pc[i]), "parameter " .. i .. " differs") end
  local sa, sc = a.opt:state_dict(), c.opt:state_dict()
  for i, s in pairs(sa.state) do ok(same_bits(s.momentum_buffer, sc.state[i].momentum_buffer)) end
  eq(a.rng:state(), c.rng:state())
  eq(tensor.default_rng():state(), a_default, "the default generator (dropout) is where it would be")
  eq(c.monitor:column("step"), a.monitor:column("step"))
  eq(c.monitor:column("loss"), a.monitor:column("loss"))
  a.monitor:close(); c.monitor:close()
  -- the restored run's CSV log holds every row, as the uninterrupted run's does
  local la, lc = log.read_csv(dir .. "/a.csv"), log.read_csv(dir .. "/c.csv")
  eq(lc.step, la.step)
  eq(lc.loss, la.loss)
  rmdir(dir)
end)

test("restore without objects returns the saved table", function()
  local dir = tmpdir()
  local r = make_run()
  train(r, 3)
  entro.checkpoint(dir .. "/ck", {net = r.net, rng = {main = r.rng, other = tensor.rng(1)}, step = 3})
  local saved = entro.restore(dir .. "/ck")
  eq(saved.format, "entro.checkpoint")
  eq(saved.version, 1)
  eq(saved.step, 3)
  eq(saved.rng.main, r.rng:state())
  eq(type(saved.default_rng), "string")
  ok(same_bits(saved.net["1.weight"], r.net:state_dict()["1.weight"]))
  r.monitor:close()
  rmdir(dir)
end)

test("generators: one, or a table of them, must match what was saved", function()
  local dir = tmpdir()
  local g1, g2 = tensor.rng(1), tensor.rng(2)
  entro.checkpoint(dir .. "/ck", {rng = {g1, g2}, step = 0})
  local s1, s2 = g1:state(), g2:state()
  g1:randn(5); g2:randn(5)
  eq(entro.restore(dir .. "/ck", {rng = {g1, g2}}), 0)
  eq(g1:state(), s1)
  eq(g2:state(), s2)
  raises(function() entro.restore(dir .. "/ck", {rng = g1}) end, "rng is one generator, but the checkpoint saved a table")
  raises(function() entro.restore(dir .. "/ck", {rng = {g1}}) end, "has a state for rng[2], which was not given")
  raises(function() entro.checkpoint(dir .. "/ck", {rng = {g1, 5}}) end, "rng[2] must be a generator, got a number")
  rmdir(dir)
end)

test("corrupt, truncated and foreign files are refused", function()
  local dir = tmpdir()
  local path = dir .. "/ck"
  entro.checkpoint(path, {net = nn.Linear(2, 2, {rng = tensor.rng(1)}), step = 1})
  local good = read_file(path)
  local flipped = good:sub(1, 40) .. string.char(good:byte(41) ~ 1) .. good:sub(42)
  write_file(path, flipped)
  raises(function() entro.restore(path) end, "entro.restore: checksum mismatch: '" .. path .. "' is corrupt")
  write_file(path, good:sub(1, #good - 7))
  raises(function() entro.restore(path) end, "is truncated")
  write_file(path, "")
  raises(function() entro.restore(path) end, "is empty, not an entro file")
  write_file(path, "step,loss\n1,2\n")
  raises(function() entro.restore(path) end, "is not an entro file")
  tensor.save(path, {a = 1})
  raises(function() entro.restore(path) end, "is an entro file but not a checkpoint")
  tensor.save(path, {format = "entro.checkpoint", version = 99})
  raises(function() entro.restore(path) end, "written by a newer entro (checkpoint version 99")
  raises(function() entro.restore(dir .. "/missing") end, "entro.restore: cannot open")
  raises(function() entro.restore(dir) end, "entro.restore: cannot read")
  rmdir(dir)
end)

test("mistakes in a checkpoint call are errors naming the entry", function()
  raises(function() entro.checkpoint() end, "entro.checkpoint: path must be a file name")
  raises(function() entro.checkpoint("x") end, "entro.checkpoint: expected a table")
  raises(function() entro.checkpoint("x", {nett = 1}) end, "unknown entry 'nett'")
  raises(function() entro.checkpoint("x", {step = 1.5}) end, "step must be a non-negative integer")
  raises(function() entro.checkpoint("x", {step = -1}) end, "step must be a non-negative integer")
  raises(function() entro.checkpoint("x", {net = 3}) end, "net must be an nn module, got a number")
  raises(function() entro.checkpoint("x", {opt = {}}) end, "opt must be an optimizer")
  raises(function() entro.checkpoint("x", {loader = tensor.ones(1)}) end, "loader must be a data.loader, got a tensor")
  raises(function() entro.checkpoint("x", {monitor = {}}) end, "monitor must be a diag.monitor")
  raises(function() entro.restore("x", 5) end, "entro.restore")
end)

test("a failed save leaves the previous checkpoint and no temporary file", function()
  local dir = tmpdir()
  local path = dir .. "/ck"
  entro.checkpoint(path, {step = 1})
  local before = read_file(path)
  local err = raises(function() entro.checkpoint(path, {step = 2, extra = {f = print}}) end,
                     "entro.checkpoint: cannot save a function")
  ok(err:find("extra.f", 1, true), err)
  eq(read_file(path), before)
  eq(listing(dir), {"ck"})
  raises(function() entro.checkpoint(dir .. "/no/such/dir/ck", {step = 1}) end,
         "entro.checkpoint: cannot write '" .. dir .. "/no/such/dir/ck'")
  eq(listing(dir), {"ck"})
  entro.checkpoint(path, {step = 2})
  eq(listing(dir), {"ck"})   -- the temporary file was next to it, and is gone
  eq(entro.restore(path).step, 2)
  rmdir(dir)
end)

test("a restore that does not fit changes nothing", function()
  local dir = tmpdir()
  local r = make_run()
  train(r, 4)
  entro.checkpoint(dir .. "/ck", {net = r.net, opt = r.opt, rng = r.rng, loader = r.loader, step = 4})
  train(r, 6)
  -- a wider net with the same structure: the optimizer and generator would fit, the net not
  local g = tensor.rng(5)
  local net = nn.Sequential(nn.Linear(3, 7, {rng = g}), nn.Tanh(), nn.Dropout(0.2), nn.Linear(7, 1, {rng = g}))
  local opt = optim.sgd(net:parameters(), {lr = 0.05, momentum = 0.9, noise = {std = 0.01, rng = tensor.rng(6)}})
  local w = net:state_dict()["1.weight"]:clone()
  local gstate, dstate = g:state(), tensor.default_rng():state()
  local err = raises(function() entro.restore(dir .. "/ck", {net = net, opt = opt, rng = g}) end,
                     "entro.restore: '" .. dir .. "/ck' does not fit")
  ok(err:find("shape", 1, true), err)
  ok(same_bits(net:state_dict()["1.weight"], w))
  eq(g:state(), gstate)
  eq(tensor.default_rng():state(), dstate)
  -- an object the checkpoint does not hold, and a monitor that already has rows
  raises(function() entro.restore(dir .. "/ck", {monitor = r.monitor}) end, "has no monitor (it holds: loader, net, opt, rng, step)")
  entro.checkpoint(dir .. "/ck2", {monitor = r.monitor})
  raises(function() entro.restore(dir .. "/ck2", {monitor = r.monitor}) end, "the monitor already has 2 rows")
  raises(function() entro.restore(dir .. "/ck", {nett = net}) end, "unknown entry 'nett'")
  raises(function() entro.restore(dir .. "/ck", {net = {}}) end, "net must be an nn module, got a table")
  raises(function() entro.restore(dir .. "/ck", {opt = {}}) end, "opt must be an optimizer")
  raises(function() entro.restore(dir .. "/ck", {loader = 1}) end, "loader must be a data.loader, got a number")
  r.monitor:close()
  rmdir(dir)
end)
