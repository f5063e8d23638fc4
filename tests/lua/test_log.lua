-- Tests for stdlib/entro/log.lua (CSV and JSON-lines logs, the CSV reader) and
-- stdlib/entro/progress.lua (the progress line).
local log = require "entro.log"
local progress = require "entro.progress"

local tmp = os.tmpname()
os.remove(tmp)
os.execute("mkdir -p '" .. tmp .. "'")

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function lines(path)
  local t = {}
  for l in (read(path) or ""):gmatch("([^\n]*)\n") do t[#t + 1] = l end
  return t
end

-- Run fn with _G.entro holding the given fields (the real table, if any, is put back after).
local function with_entro(fields, fn)
  local saved = rawget(_G, "entro")
  local e = {}
  if type(saved) == "table" then for k, v in pairs(saved) do e[k] = v end end
  for k, v in pairs(fields) do e[k] = v end
  _G.entro = e
  local okk, err = pcall(fn)
  _G.entro = saved
  if not okk then error(err, 0) end
end

---------------------------------------------------------------------------------------------
-- CSV

test("csv: provenance line, header and rows", function()
  local path = tmp .. "/a.csv"
  with_entro({seed = 42, version = "0.1.0"}, function()
    local w = log.csv(path)
    w:write{step = 1, loss = 0.5, acc = 0.25}
    w:write{step = 2, loss = 0.25}
    w:close()
  end)
  local L = lines(path)
  ok(L[1]:match("^# entro {"), L[1])
  ok(L[1]:find('"seed":42', 1, true), L[1])
  ok(L[1]:find('"version":"0.1.0"', 1, true), L[1])
  ok(L[1]:find('"args":[', 1, true), L[1])
  local script = arg and arg[0] or "unknown"
  ok(L[1]:find('"script":"' .. script .. '"', 1, true), L[1])
  eq(L[2], "step,acc,loss", "step first, then sorted")
  eq(L[3], "1,0.25,0.5")
  eq(L[4], "2,,0.25", "a missing key is an empty cell")
  eq(#L, 4)
end)

test("csv: seed and version are 'unknown' without an entro table", function()
  local saved = rawget(_G, "entro")
  local saved_pkg = package.loaded["entro"]
  _G.entro, package.loaded["entro"] = nil, nil
  local path = tmp .. "/u.csv"
  local okk, err = pcall(function() log.csv(path):close() end)
  _G.entro, package.loaded["entro"] = saved, saved_pkg
  if not okk then error(err, 0) end
  local first = lines(path)[1]
  ok(first:find('"seed":"unknown"', 1, true) and first:find('"version":"unknown"', 1, true), first)
end)

test("csv: round trip through read_csv is exact", function()
  local path = tmp .. "/r.csv"
  local rows = {
    {step = 1, loss = 0.1, ratio = 1 / 3, tiny = 1e-300, name = "plain", flag = true},
    {step = 2, loss = 0 / 0, ratio = math.huge, tiny = -math.huge, name = 'has, comma "and" quotes', flag = false},
    {step = 3, loss = -2.5e10, ratio = 2 ^ 60, name = "two\nlines"},
    {step = 4, loss = 7, name = "#not a comment"},
  }
  local w = log.csv(path, {columns = {"step", "loss", "ratio", "tiny", "name", "flag"}})
  for _, r in ipairs(rows) do w:write(r) end
  w:close()
  local cols, names, comments = log.read_csv(path)
  eq(names, {"step", "loss", "ratio", "tiny", "name", "flag"})
  ok(comments[1]:match("^entro {"), comments[1])
  eq(cols.step, {1, 2, 3, 4})
  eq(cols.loss[1], 0.1)
  ok(cols.loss[2] ~= cols.loss[2], "NaN comes back as NaN")
  eq(cols.loss[3], -2.5e10)
  eq(cols.ratio[1], 1 / 3, "full precision")
  eq(cols.ratio[2], math.huge)
  eq(cols.ratio[3], 2 ^ 60)
  ok(cols.ratio[4] ~= cols.ratio[4], "an empty numeric cell is NaN")
  eq(cols.tiny[1], 1e-300)
  eq(cols.tiny[2], -math.huge)
  eq(cols.name, {"plain", 'has, comma "and" quotes', "two\nlines", "#not a comment"})
  eq(cols.flag, {"true", "false", "", ""})
end)

test("csv: rows are flushed as written", function()
  local path = tmp .. "/f.csv"
  local w = log.csv(path)
  w:write{step = 1, x = 2}
  eq(lines(path)[3], "1,2", "row visible before close")
  w:close()
end)

test("csv: unknown later keys are an error naming them", function()
  local path = tmp .. "/k.csv"
  local w = log.csv(path)
  w:write{step = 1, loss = 1}
  raises(function() w:write{step = 2, loss = 1, lss = 3, acc = 1} end,
         "log.write: " .. path .. " has no columns 'acc', 'lss' (columns: step, loss)")
  local w2 = log.csv(tmp .. "/k2.csv", {columns = {"a", "b"}})
  raises(function() w2:write{c = 1} end, "has no column 'c' (columns: a, b)")
  w:close(); w2:close()
  raises(function() w:write{step = 3} end, "log.write: " .. path .. " is closed")
end)

test("csv: bad values and options", function()
  local w = log.csv(tmp .. "/b.csv")
  raises(function() w:write{x = {1, 2}} end, "log.write: column 'x' holds a table")
  raises(function() w:write(5) end, "log.write: a row is a table")
  w:close()
  raises(function() log.csv(tmp .. "/c.csv", {colums = {}}) end, "log.csv: unknown option 'colums'")
  raises(function() log.csv("/proc/no/such/dir/x.csv") end, "log.csv: cannot open")
end)

test("csv: <close> closes the file; parent directories are made", function()
  local path = tmp .. "/sub dir/it's/c.csv"
  local handle
  do
    local w <close> = log.csv(path)
    handle = w
    w:write{step = 1}
  end
  ok(handle.f == nil, "closed at the end of the block")
  eq(lines(path)[3], "1")
  ok(tostring(handle):find("closed", 1, true), tostring(handle))
end)

test("read_csv: quoted fields, comments, ragged rows, errors", function()
  local path = tmp .. "/q.csv"
  local f = io.open(path, "w")
  f:write('# a comment\n"x","y"\n1,"a ""quoted"" word"\n# another\n2,"multi\nline"\n3\n')
  f:close()
  local cols, names, comments = log.read_csv(path)
  eq(names, {"x", "y"})
  eq(comments, {"a comment", "another"})
  eq(cols.x, {1, 2, 3})
  eq(cols.y, {'a "quoted" word', "multi\nline", ""})
  f = io.open(path, "w"); f:write("a,b\n1,2,3\n"); f:close()
  raises(function() log.read_csv(path) end, "log.read_csv: " .. path .. " line 2 has 3 fields, the header has 2")
  f = io.open(path, "w"); f:write("# only a comment\n"); f:close()
  raises(function() log.read_csv(path) end, "has no header row")
  raises(function() log.read_csv(tmp .. "/none.csv") end, "log.read_csv: cannot open")
end)

---------------------------------------------------------------------------------------------
-- JSON lines

test("jsonl: provenance object first, then one object per row", function()
  local path = tmp .. "/a.jsonl"
  with_entro({seed = 7, version = "dev"}, function()
    local w = log.jsonl(path)
    w:write{step = 1, loss = 0.5, note = 'say "hi"\n', bad = 0 / 0, v = {1, 2.5}, ok = true}
    w:write{step = 2, extra = "free keys"}
    w:close()
  end)
  local L = lines(path)
  ok(L[1]:match('^{"entro":{"script":'), L[1])
  ok(L[1]:find('"seed":7', 1, true) and L[1]:find('"version":"dev"', 1, true), L[1])
  eq(L[2], '{"step":1,"bad":null,"loss":0.5,"note":"say \\"hi\\"\\n","ok":true,"v":[1,2.5]}')
  eq(L[3], '{"step":2,"extra":"free keys"}')
  eq(#L, 3)
end)

test("jsonl: columns fix the keys and their order", function()
  local path = tmp .. "/c.jsonl"
  local w = log.jsonl(path, {columns = {"step", "loss"}})
  w:write{loss = 1.5, step = 3}
  raises(function() w:write{acc = 1} end, "has no column 'acc'")
  w:close()
  eq(lines(path)[2], '{"step":3,"loss":1.5}')
end)

---------------------------------------------------------------------------------------------
-- progress

local function fake_stream()
  local s = {out = {}}
  function s:write(...) for _, x in ipairs{...} do self.out[#self.out + 1] = x end end
  function s:flush() end
  function s:text() return table.concat(self.out) end
  return s
end

test("progress: draws at most every interval, with rate, ETA and values", function()
  local t = 0
  local st = fake_stream()
  local p = progress.new{total = 100, label = "train", stream = st, enabled = true,
                         clock = function() return t end}
  t = 0.5; p:update(10, {loss = 0.123456})
  local first = st:text()
  ok(first:find("\rtrain  10/100   10%  20 steps/s  ETA 5s  loss=0.1235", 1, true), first)
  t = 0.55; p:update(11)   -- too soon: not drawn
  eq(st:text(), first, "rate limited")
  t = 0.7; p:update(14, {loss = 0.1})
  ok(st:text():find("14/100", 1, true) and st:text():find("loss=0.1", 1, true), st:text())
  t = 5; p:update(100)
  t = 5; p:done()
  local all = st:text()
  ok(all:find("train  100 steps in 5s (20 steps/s)  loss=0.1\27[K\n", 1, true), all)
  local n = #st.out
  p:update(101); p:done()
  eq(#st.out, n, "nothing after done")
end)

test("progress: without total, and disabled", function()
  local t = 0
  local st = fake_stream()
  local p = progress.new{stream = st, enabled = true, clock = function() return t end}
  t = 2; p:update(50)
  ok(st:text():find("progress  50  25 steps/s", 1, true) and not st:text():find("ETA", 1, true), st:text())
  local st2 = fake_stream()
  local q = progress.new{total = 10, stream = st2, enabled = false}
  q:update(1); q:done()
  eq(#st2.out, 0, "a disabled progress writes nothing")
  raises(function() progress.new{totl = 3} end, "progress.new: unknown option 'totl'")
end)

test("progress.enabled: a boolean, false when entro.quiet", function()
  eq(type(progress.enabled()), "boolean")
  with_entro({quiet = true}, function()
    eq(progress.enabled(), false)
    local st = fake_stream()
    progress.new{total = 3, stream = st}:update(1):done()
    eq(#st.out, 0, "quiet: nothing written")
  end)
end)

test("help strings", function()
  for _, m in ipairs{log, progress, (require "entro.plot")} do
    ok(type(m._help) == "table", "a _help table")
    for k, v in pairs(m._help) do ok(type(v) == "string" and #v > 10, "help for " .. k) end
  end
end)

os.execute("rm -rf '" .. tmp .. "'")
