-- Tests for stdlib/entro/help.lua: every public function of the tensor module, its methods,
-- tensor.linalg, the generators and the entro table has a doc (a new function without one
-- fails here, by name); lookups by identity and by name; module listings from _help tables,
-- including modules loaded after the first call.
local help = require "entro.help"

local function text(...) return (help.text(...)) end
local function found(...) return select(2, help.text(...)) end

-- Every function-valued field of t whose doc is missing, as "prefix.name".
local function missing(t, prefix, out)
  local names = {}
  for k, v in pairs(t) do
    if type(k) == "string" and type(v) == "function" and not found(v) then names[#names + 1] = k end
  end
  table.sort(names)
  for _, k in ipairs(names) do out[#out + 1] = prefix .. k end
  return out
end

local function check_complete(t, prefix)
  local m = missing(t, prefix, {})
  if #m > 0 then error(#m .. " without help: " .. table.concat(m, ", "), 2) end
end

test("help is the global help and callable", function()
  eq(rawget(_G, "help"), help)
  local saved = io.write
  io.write = function() end
  local okk, err = pcall(help, tensor.zeros)
  io.write = saved
  ok(okk, tostring(err))
end)

test("every tensor module function has help", function()
  check_complete(tensor, "tensor.")
end)

test("every tensor method has help", function()
  check_complete(tensor.methods, "tensor.methods.")
end)

test("every tensor.linalg function has help", function()
  check_complete(tensor.linalg, "tensor.linalg.")
  ok(next(tensor.linalg) ~= nil, "tensor.linalg has functions")
end)

test("every generator method has help", function()
  local g = tensor.rng(0)
  local index = getmetatable(g).__index
  ok(type(index) == "table", "the generator's __index is a table")
  check_complete(index, "g:")
  ok(found(g.randn) and found(g.normal_) and found(g.split), "g.randn, g.normal_, g.split")
end)

test("every entro function has help, and its fields", function()
  local fns = {}
  for k, v in pairs(entro) do if type(v) == "function" then fns[k] = v end end
  check_complete(fns, "entro.")
  for _, k in ipairs{"version", "seed", "quiet", "mem", "clock", "blas", "set_threads", "mem_trim"} do
    ok(found("entro." .. k), "entro." .. k)
  end
end)

test("the missing-doc check itself can fail", function()
  local m = missing({documented = tensor.zeros, undocumented_fn = function() end}, "t.", {})
  eq(m, {"t.undocumented_fn"})
end)

test("help(f) prints the signature and a sentence", function()
  local s = text(tensor.zeros)
  ok(s:match("^tensor%.zeros%("), s)
  ok(s:find("\n  %u"), "an indented sentence: " .. s)
  ok(select(2, s:gsub("\n", "")) <= 6, "short: " .. s)
  ok(text(tensor.linalg.eigh):find("eigh%("), text(tensor.linalg.eigh))
  ok(text(tensor.save):find("tensor.save(path, value)", 1, true))
  ok(text(tensor.loads):find("tensor.loads", 1, true))
end)

test("a method found from a tensor, the methods table and the module alike", function()
  local x = tensor.zeros(2)
  local a, b, c = text(x.matmul), text(tensor.methods.matmul), text(tensor.matmul)
  ok(a:find("matmul"), a)
  eq(a, b)
  eq(a, c)
  ok(text(x.narrow):find("x:narrow(dim, start, len)", 1, true), text(x.narrow))
end)

test("in-place forms are documented as such", function()
  local s = text(tensor.methods.exp_)
  ok(s:find("x:exp_()", 1, true) and s:find("In place"), s)
  ok(text(tensor.methods.clamp_):find("x:clamp_(lo, hi)", 1, true), text(tensor.methods.clamp_))
end)

test("help by name", function()
  eq(text("tensor.zeros"), text(tensor.zeros))
  eq(text("tensor.linalg.svd"), text(tensor.linalg.svd))
  eq(text("x:matmul"), text(tensor.methods.matmul))
  ok(text("narrow"):find("x:narrow", 1, true), "by the last part of the name")
  ok(text("entro.mem"):find("entro.mem()", 1, true))
  ok(text("x.grad"):find("x.grad", 1, true))
  ok(found("tensor"), "a module by name")
end)

test("help() is an overview of the modules", function()
  local s = text()
  ok(s:find("tensor") and s:find("help%(") , s)
  for _, m in ipairs{"nn", "optim", "diag", "plot", "data"} do
    if package.preload["entro." .. m] then ok(s:find("\n  " .. m .. " "), m .. " in " .. s) end
  end
end)

test("help(module) lists its functions with one-line summaries", function()
  local s = text(tensor.linalg)
  ok(s:find("\n  eigh ") and s:find("\n  svd "), s)
  for line in s:gmatch("[^\n]+") do ok(#line <= 100, "line too long: " .. line) end
  local t = text(tensor)
  ok(t:find("zeros") and t:find("matmul") and t:find("linalg"), t)
  local m = text(tensor.methods)
  ok(m:find("\n  narrow ") and m:find("\n  grad "), m)
  ok(not m:find("\n  exp_ "), "in-place forms are not listed one by one")
  local g = text(tensor.rng(1))
  ok(g:find("\n  split ") and g:find("\n  randn "), g)
end)

test("modules document themselves with _help", function()
  local plot = require "entro.plot"
  local s = text(plot)
  ok(s:find("\n  figure ") and s:find("\n  line "), s)
  ok(text(plot.figure):find("plot.figure", 1, true), text(plot.figure))
  ok(found("plot.line"), "an entry that is a method, by name")
  if package.preload["entro.nn"] then
    local nn = require "entro.nn"
    if type(nn.init) == "table" and nn.init._help then
      ok(text(nn.init):find("\n  orthogonal "), "a table inside a module with its own _help")
    end
  end
end)

test("a module loaded after the first call is picked up", function()
  text(tensor.zeros)   -- the registry is built
  local name = "entro.test_help_fake"
  local M = {f = function() end, _help = {f = "fake.f(a) -- does nothing, carefully"}}
  package.loaded[name] = M
  local okk, err = pcall(function()
    ok(text(M.f):find("fake.f(a)", 1, true), text(M.f))
    ok(text(M):find("\n  f "), text(M))
    ok(text("test_help_fake.f"):find("Does nothing", 1, true))
  end)
  package.loaded[name] = nil
  if not okk then error(err, 0) end
  ok(not found(M.f), "forgotten once unloaded")
end)

test("a binding documents a new tensor function in tensor._help", function()
  local f, saved = function() end, rawget(tensor, "_help")
  local docs = {test_help_new_fn = "tensor.test_help_new_fn(x) -- new, and documented"}
  for k, v in pairs(saved or {}) do docs[k] = v end
  rawset(tensor, "test_help_new_fn", f)
  rawset(tensor, "_help", docs)
  help.refresh()
  local s, has = help.text(f)
  rawset(tensor, "test_help_new_fn", nil)
  rawset(tensor, "_help", saved)
  help.refresh()
  ok(has and s:find("tensor.test_help_new_fn(x)", 1, true), s)
  ok(found(tensor.zeros) and not found(f), "back to normal")
end)

test("help(object) lists its methods, documented by its module's _help", function()
  local plot = require "entro.plot"
  local s = text(plot.figure{})
  ok(s:find("^a plot object") and s:find("\n  line +a line through"), s)
  local t = text(setmetatable({}, {__index = {frobnicate = function() end, twiddle = function() end}}))
  ok(t:find("\n  frobnicate\n") and t:find("\n  twiddle\n"), t)
end)

test("help(x) for tensors, generators and unknown values", function()
  local s = text(tensor.zeros(2, 3))
  ok(s:find("2x3") and s:find("help%(tensor.methods%)"), s)
  ok(text(tensor.rng(3)):find("split"), "a generator")
  local f = function() end
  local u, f_found = help.text(f)
  eq(f_found, false)
  eq(u, "no help for " .. tostring(f) .. "\n")
  eq(text("no_such_thing_anywhere"), "no help for no_such_thing_anywhere\n")
  eq(text(nil), "no help for nil\n")
  eq(text(42), "no help for 42\n")
end)

test("help prints to standard output and returns nothing", function()
  local saved = io.write
  local got = {}
  io.write = function(...) for _, v in ipairs{...} do got[#got + 1] = v end end
  local okk, n = pcall(function() return select("#", help(tensor.ones)) end)
  io.write = saved
  ok(okk, tostring(n))
  eq(n, 0)
  eq(table.concat(got), text(tensor.ones))
end)
