-- Tests for stdlib/entro/plot.lua: golden gnuplot scripts for every figure kind, real renders
-- (PNG, SVG, PDF, text), injection safety, errors for misuse, and a 10^6-point figure.
-- Golden scripts live in tests/lua/golden/plot_*.gp; after an intended change, rewrite them
-- with ENTRO_UPDATE_GOLDEN=1 and read the diff.
local plot = require "entro.plot"
local log = require "entro.log"

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "tests/lua"
local golden_dir = here .. "/golden"
local update = os.getenv("ENTRO_UPDATE_GOLDEN") == "1"

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

local function write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

local function exists(path) return read(path) ~= nil end

local function wall()
  local p = io.popen("date +%s.%N")
  local t = tonumber(p:read("a"))
  p:close()
  return t
end

local function golden(name, script)
  local path = golden_dir .. "/plot_" .. name .. ".gp"
  if update then
    os.execute("mkdir -p '" .. golden_dir .. "'")
    write(path, script)
    return
  end
  local want = read(path)
  ok(want, "golden file " .. path .. " is missing; run with ENTRO_UPDATE_GOLDEN=1")
  if script ~= want then
    write(tmp .. "/got.gp", script)
    local p = io.popen("diff '" .. path .. "' '" .. tmp .. "/got.gp' | head -20")
    local d = p:read("a")
    p:close()
    error("script differs from " .. path .. ":\n" .. d)
  end
end

-- deterministic data
local xs, ys = {}, {}
for i = 1, 8 do xs[i] = i / 4; ys[i] = math.sin(i / 4) end

local function render(fig, ext, size)
  local path = tmp .. "/fig." .. ext
  os.remove(path)
  fig:save(path)
  local s = read(path)
  ok(s and #s > 0, "nothing written to " .. path)
  return s, path
end

local function png_size(s)
  ok(s:sub(1, 8) == "\137PNG\r\n\26\n", "not a PNG signature")
  ok(s:sub(13, 16) == "IHDR", "no IHDR chunk")
  return (string.unpack(">I4", s, 17)), (string.unpack(">I4", s, 21))
end

-- SVG text with the XML escapes undone
local function svg_text(s)
  return (s:gsub("&#(%d+);", function(n) return utf8.char(tonumber(n)) end)
           :gsub("&lt;", "<"):gsub("&gt;", ">"):gsub("&quot;", '"'):gsub("&apos;", "'")
           :gsub("&amp;", "&"))
end

---------------------------------------------------------------------------------------------
-- golden scripts

test("golden: line", function()
  local fig = plot.figure{title = "sine", xlabel = "x", ylabel = "sin x", logy = false,
                          xrange = {0, 2}, yrange = {nil, 1.5}, size = {640, 480}, out = "fig.png"}
  local r = fig:line(xs, ys, {label = "sin", width = 2})
  ok(r == fig, "line returns the figure")
  fig:line(ys, {label = "against index", style = "dashed", color = "#1f77b4"})
  golden("line", fig:script())
end)

test("golden: scatter", function()
  local fig = plot.figure{title = "points", logx = true, out = "fig.svg"}
  fig:scatter(xs, ys, {label = "pts", size = 1, marker = "square", color = "red"})
  golden("scatter", fig:script())
end)

test("golden: errorbars", function()
  local err = {}
  for i = 1, #xs do err[i] = 0.05 * i end
  local fig = plot.figure{title = "means", out = "fig.pdf", size = {6, 4}}
  fig:errorbars(xs, ys, err, {label = "mean +- sd"}):errorbars(xs, ys, 0.1, {lines = true})
  golden("errorbars", fig:script())
end)

test("golden: hist", function()
  local v = {}
  for i = 1, 100 do v[i] = ((i * 37) % 101) / 101 end
  v[101] = 0 / 0   -- left out
  local fig = plot.figure{title = "histogram", out = "fig.png"}
  fig:hist(v, {bins = 5, label = "u"}):hist(v, {bins = {0, 0.5, 1}, density = true, color = "gray"})
  golden("hist", fig:script())
end)

test("golden: heatmap", function()
  local M = {{1, 0.5, 0}, {0.5, 1, 0.25}}
  local fig = plot.figure{title = "similarity", out = "fig.png"}
  fig:heatmap(M, {xlabels = {"a", "b", "c"}, ylabels = {"layer 1", "layer 2"}, palette = "coolwarm",
                  zrange = {-1, 1}})
  golden("heatmap", fig:script())
end)

test("golden: hline and vline", function()
  local fig = plot.figure{title = "sharpness", xlabel = "step", out = "fig.png"}
  fig:line(xs, ys, {label = "top eigenvalue"}):hline(2 / 0.01, {label = "2/eta"})
     :vline(1, {label = "warmup end", style = "dotted", color = "gray"}):hline(0)
  golden("rules", fig:script())
end)

test("golden: grid", function()
  local g = plot.grid{rows = 2, cols = 2, out = "grid.png", title = "four panels"}
  local a = g:panel(1, 1){title = "a", xlabel = "x"}
  ok(a:line(xs, ys) == a, "panel methods chain")
  g:figure(1, 2, {title = "b", logy = true}):scatter(xs, xs)
  -- (2, 1) left empty
  g:panel(2, 2){title = "d"}:heatmap({{1, 2}, {3, 4}})
  golden("grid", g:script())
  eq(a:script(), g:script(), "a panel's script is its grid's")
end)

test("golden: csv", function()
  local path = tmp .. "/run.csv"
  write(path, '# entro {"script":"x.lua"}\nstep,loss,acc,name\n1,1.5,0.1,a\n2,0.75,,b\n3,0.5,0.3,c\n')
  local fig = plot.csv(path, {y = {"loss", "acc"}, logy = true, out = "run.png", save = false})
  golden("csv", fig:script())
  -- defaults: x is step, y every other numeric column
  local f2 = plot.csv(path, {out = "run.png", save = false})
  eq(#f2.series, 2, "numeric columns besides step")
end)

---------------------------------------------------------------------------------------------
-- script details

test("data are written with full precision in datablocks; NaN and inf as NaN", function()
  local s = plot.figure{out = "x.png"}:line({0.1, 1 / 3, 2, 3, 4}, {1e-300, 0 / 0, math.huge, -math.huge, 5}):script()
  ok(s:find("$d1 << EOD\n0.10000000000000001 1e-300\n", 1, true), "full precision")
  ok(s:find("0.33333333333333331 NaN\n2 NaN\n3 NaN\n4 5\nEOD\n", 1, true), "NaN for non-finite:\n" .. s)
  ok(not s:find("inf", 1, true) and not s:find("nan", 1, true), "no inf/nan tokens")
end)

test("the script names no temp file and no date", function()
  local s = plot.figure{title = "t", out = "a.png"}:line(xs, ys):script()
  ok(not s:find("/tmp", 1, true), "no temp path")
  ok(not s:find(os.date("%Y"), 1, true), "no date")
end)

test("tensors are read through is_tensor, dim, numel and totable", function()
  local saved = package.loaded["entro.tensor"]
  local T = {}
  local mt = {__index = {}}
  function mt.__index:dim() return #self.shape end
  function mt.__index:numel() local n = 1; for _, s in ipairs(self.shape) do n = n * s end; return n end
  function mt.__index:size(d) return self.shape[d] end
  function mt.__index:totable() return self.data end
  function mt.__index:get(i, j) if j then return self.data[i][j] end return self.data[i] end
  function T.is_tensor(v) return getmetatable(v) == mt end
  local function t(data, shape) return setmetatable({data = data, shape = shape}, mt) end
  package.loaded["entro.tensor"] = T
  local okk, err = pcall(function()
    local fig = plot.figure{out = "x.png"}
    fig:line(t({1, 2, 3}, {3}), t({4, 5, 6}, {3}))
    fig:heatmap(t({{1, 2}, {3, 4}}, {2, 2}))
    local s = fig:script()
    ok(s:find("1 4\n2 5\n3 6\n", 1, true), "1-D tensors")
    ok(s:find("1 2\n3 4\nEOD", 1, true), "2-D tensor")
    raises(function() fig:line(t({{1}}, {1, 1}), t({1}, {1})) end, "plot.line: x must be a 1-D tensor (got 2-D)")
    raises(function() plot.figure{}:heatmap(t({1, 2}, {2})) end, "plot.heatmap: the matrix must be a 2-D tensor (got 1-D)")
  end)
  package.loaded["entro.tensor"] = saved
  if not okk then error(err, 0) end
end)

test("figures without out: text in a terminal, out/<script>.png otherwise", function()
  local saved = plot.interactive
  plot.interactive = true
  local s = plot.figure{title = "t"}:line(xs, ys):script()
  ok(s:find("set terminal dumb", 1, true) and not s:find("set output", 1, true), "dumb to stdout")
  plot.interactive = false
  local fig = plot.figure{title = "t"}:line(xs, ys)
  local base = (arg and arg[0] or "plot"):match("([^/]+)$"):gsub("%.lua$", "")
  local path = fig:script():match("set output '([^']*)'")
  ok(path and path:match("^out/" .. base:gsub("%p", "%%%0") .. "[-%d]*%.png$"), "default path: " .. tostring(path))
  eq(fig:script():match("set output '([^']*)'"), path, "a figure keeps its default path")
  local fig2 = plot.figure{title = "u"}:line(xs, ys)
  ok(fig2:script():match("set output '([^']*)'") ~= path, "a second figure gets another name")
  plot.interactive = saved
end)

test("fig{...} sets options; tostring names the figure", function()
  local fig = plot.figure{out = "a.png"}
  ok(fig{title = "renamed"} == fig, "call returns the figure")
  ok(tostring(fig):find("renamed", 1, true), tostring(fig))
end)

---------------------------------------------------------------------------------------------
-- renders

test("PNG render: signature and IHDR size", function()
  local fig = plot.figure{title = "png", size = {640, 360}}:line(xs, ys, {label = "s"})
  local s = render(fig, "png")
  local w, h = png_size(s)
  eq({w, h}, {640, 360}, "PNG size")
  local d = render(plot.figure{}:line(xs, ys), "png")
  eq({png_size(d)}, {800, 600}, "default size")
end)

test("SVG render: well formed, title and size", function()
  local fig = plot.figure{title = "svg title here", xlabel = "eta_x^2", size = {500, 400}}
  local s = render(fig:line(xs, ys, {label = "series {a}"}), "svg")
  ok(s:match("^%s*<%?xml") or s:match("^%s*<svg"), "SVG start")
  ok(s:find("</svg>", 1, true), "SVG end")
  local t = svg_text(s)
  ok(t:find("svg title here", 1, true), "title")
  ok(t:find("eta_x^2", 1, true), "label verbatim (noenhanced)")
  ok(t:find("series {a}", 1, true), "series label verbatim")
  ok(s:find('width="500"', 1, true) and s:find('height="400"', 1, true), "size")
end)

test("PDF render", function()
  local s = render(plot.figure{title = "pdf", size = {4, 3}}:line(xs, ys), "pdf")
  eq(s:sub(1, 4), "%PDF", "PDF magic")
  raises(function() plot.figure{size = {800, 600}}:line(xs, ys):save(tmp .. "/big.pdf") end,
         "pdf size is in inches")
end)

test("text render (.txt, the dumb terminal) holds the title", function()
  local s = render(plot.figure{title = "dumb title", size = {70, 20}}:line(xs, ys), "txt")
  ok(s:find("dumb title", 1, true), s)
end)

test("every figure kind renders", function()
  local v = {}
  for i = 1, 500 do v[i] = math.sin(i) * math.cos(1.7 * i) end
  local g = plot.grid{rows = 2, cols = 3, title = "all kinds", size = {900, 500}}
  g:panel(1, 1){title = "line"}:line(xs, ys)
  g:panel(1, 2){title = "scatter"}:scatter(xs, ys)
  g:panel(1, 3){title = "errorbars"}:errorbars(xs, ys, 0.1)
  g:panel(2, 1){title = "hist"}:hist(v, {density = true})
  g:panel(2, 2){title = "heatmap"}:heatmap({{1, 2, 3}, {4, 5, 6}})
  g:panel(2, 3){title = "rules"}:hline(1, {label = "h"}):vline(2):line(xs, ys)
  local s = render(g, "png")
  eq({png_size(s)}, {900, 500}, "grid size")
  render(plot.figure{}:vline(3), "svg")   -- only an unlabelled rule: still a valid plot
end)

-- Run `code` in a child interpreter (the one running these tests), in directory `dir`, and
-- return what it printed (stdout and stderr). Relative paths are made absolute first.
local function run_child(code, dir)
  local i = -1
  while arg and arg[i - 1] do i = i - 1 end
  local interp, cwd = arg and arg[i], os.getenv("PWD")
  if not interp or not cwd then skip("cannot tell which interpreter runs the tests") end
  local function abs(p) return (p:sub(1, 1) == "/" or not p:find("/", 1, true)) and p or (cwd .. "/" .. p) end
  local paths = {}
  for e in package.path:gmatch("[^;]+") do paths[#paths + 1] = abs(e) end
  local child = dir .. "/child.lua"
  write(child, string.format("package.path = %q\n", table.concat(paths, ";")) .. code)
  local p = io.popen("cd '" .. dir .. "' && '" .. abs(interp) .. "' child.lua 2>&1")
  local out = p:read("a")
  p:close()
  return out
end

test("interactive: drawn as text on stdout", function()
  local out = run_child([[
local plot = require "entro.plot"
plot.interactive = true
plot.figure{title = "terminal title"}:line({1, 2, 3}, {1, 4, 9}):save()
]], tmp)
  ok(out:find("terminal title", 1, true), "dumb output on stdout:\n" .. out)
  ok(out:find("+---", 1, true), "a text frame")
end)

test("non-interactive: out/<script>.png, path printed", function()
  local out = run_child([[
local plot = require "entro.plot"
plot.interactive = false
plot.figure{title = "first"}:line({1, 2, 3}, {1, 4, 9}):save()
plot.figure{title = "second"}:line({1, 2, 3}, {1, 4, 9}):save()
]], tmp)
  ok(out:find("plot: wrote out/child.png\n", 1, true), out)
  ok(out:find("plot: wrote out/child-2.png\n", 1, true), out)
  png_size(read(tmp .. "/out/child.png"))
  png_size(read(tmp .. "/out/child-2.png"))
end)

---------------------------------------------------------------------------------------------
-- injection safety

local marker = tmp .. "/pwned"
local payloads = {
  'a"; system("touch ' .. marker .. '"); "',
  "b`touch " .. marker .. "`",
  "c'; system('touch " .. marker .. "'); '",
  "d$(touch " .. marker .. ") @mac x^2_i {z} <&> \\",
}

test("titles, labels and series labels are literal", function()
  for i, p in ipairs(payloads) do
    local fig = plot.figure{title = "T" .. p, xlabel = "X" .. p, ylabel = "Y" .. p}
    fig:line(xs, ys, {label = "L" .. p}):hline(0, {label = "H" .. p}):vline(1, {label = "V" .. p})
    fig:hist({1, 2, 3}, {label = "S" .. p})
    local s = svg_text(render(fig, "svg"))
    ok(not exists(marker), "payload " .. i .. " ran a command")
    for _, pre in ipairs{"T", "X", "Y", "L", "H", "V", "S"} do
      ok(s:find(pre .. p, 1, true), "payload " .. i .. " not verbatim in " .. pre)
    end
  end
  local g = plot.grid{rows = 1, cols = 1, title = "G" .. payloads[2]}
  g:panel(1, 1, {title = "P" .. payloads[1]}):heatmap({{1, 2}}, {xlabels = {"x" .. payloads[1], "y" .. payloads[2]}})
  local path = tmp .. "/grid.svg"
  g:save(path)
  local s = svg_text(read(path))
  ok(not exists(marker), "grid payload ran a command")
  for _, t in ipairs{"G" .. payloads[2], "P" .. payloads[1], "x" .. payloads[1], "y" .. payloads[2]} do
    ok(s:find(t, 1, true), "grid text not verbatim: " .. t)
  end
end)

test("newlines in labels become spaces", function()
  local fig = plot.figure{title = "two\nlines", out = "x.png"}:line(xs, ys)
  ok(fig:script():find("set title 'two lines'", 1, true), "newline replaced")
end)

test("output file names are literal", function()
  local names = {
    tmp .. '/a"; system("touch ' .. marker .. '"); ".svg',
    tmp .. "/b`touch " .. marker .. "`.svg",
    tmp .. "/c'$(touch " .. marker .. ")'.svg",
    tmp .. "/new dir `touch " .. marker .. "` '$(touch " .. marker .. ")'/d.svg",
  }
  for i, name in ipairs(names) do
    plot.figure{title = "file " .. i, out = name}:line(xs, ys):save()
    ok(not exists(marker), "file name " .. i .. " ran a command")
    local s = read(name)
    ok(s and s:find("</svg>", 1, true), "file " .. i .. " written under its literal name")
  end
end)

---------------------------------------------------------------------------------------------
-- errors

test("errors for misuse name the operation", function()
  local x10, y9 = {}, {}
  for i = 1, 10 do x10[i] = i end
  for i = 1, 9 do y9[i] = i end
  local fig = plot.figure{}
  raises(function() fig:line(x10, y9) end, "plot.line: x has 10 points, y has 9")
  raises(function() fig:scatter(x10, y9) end, "plot.scatter: x has 10 points, y has 9")
  raises(function() fig:errorbars(x10, x10, y9) end, "plot.errorbars: y has 10 points, err has 9")
  raises(function() fig:line({}, {}) end, "plot.line: no data")
  raises(function() fig:line({}) end, "plot.line: no data")
  raises(function() fig:hist({}) end, "plot.hist: no data")
  raises(function() fig:hist({0 / 0}) end, "plot.hist: no finite values")
  raises(function() fig:heatmap({}) end, "plot.heatmap: no data")
  raises(function() fig:heatmap({{1, 2}, {3}}) end, "plot.heatmap: row 2 has 1 values, row 1 has 2")
  raises(function() fig:line({1, 2}, {1, "two"}) end, "plot.line: y[2] is a string, not a number")
  raises(function() fig:line({1, true}, {1, 2}) end, "plot.line: x[2] is a boolean, not a number")
  raises(function() fig:line("abc") end, "plot.line: y must be a tensor or an array of numbers")
  raises(function() plot.figure{out = "f.jpg"} end, "plot.figure: out 'f.jpg' has extension .jpg")
  raises(function() plot.figure{out = "noext"} end, "plot.figure: out 'noext' has no extension")
  raises(function() plot.figure{}:line(xs, ys):save("f.gif") end, "out 'f.gif' has extension .gif")
  raises(function() plot.figure{titel = "x"} end, "plot.figure: unknown option 'titel'")
  raises(function() fig:line(xs, ys, {lable = "x"}) end, "plot.line: unknown option 'lable'")
  raises(function() fig:line(xs, ys, {style = "wiggly"}) end, "plot.line: style 'wiggly'")
  raises(function() fig:heatmap({{1}}, {palette = "jet"}) end, "plot.heatmap: palette 'jet'")
  raises(function() fig:heatmap({{1, 2}}, {xlabels = {"a"}}) end, "plot.heatmap: xlabels must be an array of 2 names")
  raises(function() fig:hline(0 / 0) end, "plot.hline: y must be a finite number")
  raises(function() plot.figure{xrange = {0, math.huge}} end, "plot.figure: xrange[2] must be a finite number")
  raises(function() plot.figure{key = "top; system('ls')"} end, "plot.figure: key position word")
  raises(function() plot.figure{out = "a.png"}:save() end, "plot.save: figure 'a.png' has nothing to plot")
  raises(function() plot.grid{rows = 2, cols = 2}:panel(3, 1) end, "plot.grid: panel (3, 1) is outside the 2x2 grid")
  raises(function() plot.grid{rows = 1, cols = 1}:panel(1, 1){out = "x.png"} end, "a grid panel takes no 'out'")
  raises(function() plot.grid{rows = 1, cols = 2}:script() end, "plot.grid: the grid has no panel")
end)

test("plot.csv errors name the file and column", function()
  local path = tmp .. "/e.csv"
  write(path, "step,loss,name\n1,2,a\n")
  raises(function() plot.csv(path, {y = "lss", save = false}) end, "plot.csv: no column 'lss' in " .. path .. " (columns: step, loss, name)")
  raises(function() plot.csv(path, {y = "name", save = false}) end, "plot.csv: column 'name' of " .. path .. " is not numeric")
  raises(function() plot.csv(tmp .. "/missing.csv", {save = false}) end, "log.read_csv: cannot open")
end)

test("gnuplot errors become Lua errors naming the figure", function()
  local err = raises(function()
    plot.figure{title = "bad colour"}:line(xs, ys, {color = "no-such-colour"}):save(tmp .. "/c.png")
  end, "plot.save: gnuplot failed on 'bad colour' (" .. tmp .. "/c.png)")
  ok(err:find("no-such-colour", 1, true) or err:find("color", 1, true), err)
  ok(not err:find('"/tmp/', 1, true), "no temp script name in the message: " .. err)
  raises(function() plot.figure{title = "nowhere"}:line(xs, ys):save("/proc/no/such/dir/x.png") end,
         "gnuplot failed on 'nowhere' (/proc/no/such/dir/x.png)")
end)

test("a missing gnuplot says how to install it", function()
  local saved = plot.gnuplot
  plot.gnuplot = "gnuplot-not-installed-anywhere"
  local okk, err = pcall(function() plot.figure{}:line(xs, ys):save(tmp .. "/m.png") end)
  plot.gnuplot = saved
  ok(not okk, "expected an error")
  eq(err, "plot: gnuplot not found; install it with `apt-get install gnuplot-nox` (or `make deps`)")
end)

---------------------------------------------------------------------------------------------
-- speed

test("10^6 points to PNG in seconds", function()
  local n = 1000000
  local x, y = {}, {}
  for i = 1, n do x[i] = i * 1e-6; y[i] = math.sin(i * 1e-4) + 0.1 * math.sin(i * 0.37) end
  local t0, c0 = wall(), os.clock()
  local s = render(plot.figure{title = "a million points"}:line(x, y), "png")
  local dt = wall() - t0
  io.write(string.format("  10^6-point line to PNG: %.2fs wall (%.2fs in Lua)\n", dt, os.clock() - c0))
  png_size(s)
  ok(dt < 30, "took " .. dt .. "s")
end)

os.execute("rm -rf '" .. tmp .. "'")
