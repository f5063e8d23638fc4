-- plot: figures as values, drawn by gnuplot through a pipe.
--
--   local fig = plot.figure{title = "loss", xlabel = "step", logy = true, out = "loss.png"}
--   fig:line(steps, losses, {label = "SGD"}):hline(2 / lr, {label = "2/eta"}):save()
--
-- There is no global "current figure": every figure is a value, and its methods return it so
-- calls chain. fig:script() is the complete gnuplot script, data included, so a figure can be
-- redrawn (or restyled) with gnuplot alone.
--
-- Where a figure goes (fig:save(path), else its `out`, else):
--   * stdout is a terminal (REPL): drawn as text with gnuplot's `dumb` terminal;
--   * otherwise: out/<script>.png, <script> being the running script's name (arg[0] without
--     its directory and .lua), out/<script>-2.png for the second such figure, and so on; the
--     path is printed on stderr. "Terminal" is decided once with the shell's `test -t 1`;
--     set plot.interactive = true/false to decide it yourself.
-- Output kinds by extension: .png (pngcairo), .svg, .pdf (pdfcairo) and .txt (dumb, as text).
-- `size` is in pixels for png and svg (default 800x600), inches for pdf (default 8x6),
-- characters for txt (default 79x24).
--
-- Every piece of user text (titles, labels, file names) is written as a single-quoted gnuplot
-- string, in which only '' is special: no backquote command substitution, no @macros, no
-- escapes. Newlines and other control characters become spaces. Terminals are set
-- `noenhanced`, so ^ _ @ { } print as themselves. Data go to gnuplot at full precision (%.17g)
-- in named datablocks; NaN and infinities are written as NaN, which gnuplot treats as a
-- missing point (a line breaks there).
local M = {}
local util = require "entro.util"
local fail, entro_field, is_tensor = util.fail, util.entro_field, util.is_tensor
local check_options = util.check_options

M.interactive = nil     -- nil: detect once whether stdout is a terminal; true/false: override
M.gnuplot = "gnuplot"   -- the gnuplot command

local INSTALL = "plot: gnuplot not found; install it with `apt-get install gnuplot-nox` (or `make deps`)"

---------------------------------------------------------------------------------------------
-- small helpers




-- A gnuplot single-quoted string: only '' needs escaping; control characters become spaces.
local function q(s)
  s = tostring(s):gsub("%c", " ")
  return "'" .. s:gsub("'", "''") .. "'"
end

-- A POSIX shell single-quoted word.
local function shq(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function isfinite(v) return v == v and v ~= math.huge and v ~= -math.huge end

local function num(op, what, v)
  if type(v) ~= "number" or not isfinite(v) then
    fail("%s: %s must be a finite number (got %s)", op, what, tostring(v))
  end
  return string.format("%.17g", v)
end

local function describe(v)
  if is_tensor(v) then return "a tensor" end
  return "a " .. type(v)
end

-- Numbers from a 1-D tensor or a Lua array, copied (so later changes to a monitor column do not
-- reach an already drawn series).
local function numbers(op, name, v)
  if is_tensor(v) then
    if v:dim() ~= 1 then fail("%s: %s must be a 1-D tensor (got %d-D)", op, name, v:dim()) end
    v = v:totable()
  elseif type(v) ~= "table" then
    fail("%s: %s must be a tensor or an array of numbers (got %s)", op, name, describe(v))
  end
  local out, n = {}, #v
  for i = 1, n do
    local e = v[i]
    if type(e) ~= "number" then fail("%s: %s[%d] is %s, not a number", op, name, i, describe(e)) end
    out[i] = e
  end
  return out, n
end

-- Rows of numbers from a 2-D tensor or a Lua array of equal-length arrays.
local function matrix(op, M_)
  local rows
  if is_tensor(M_) then
    if M_:dim() ~= 2 then fail("%s: the matrix must be a 2-D tensor (got %d-D)", op, M_:dim()) end
    rows = M_:totable()
  elseif type(M_) == "table" then
    rows = M_
  else
    fail("%s: the matrix must be a 2-D tensor or an array of rows (got %s)", op, describe(M_))
  end
  local nr = #rows
  if nr == 0 then fail("%s: no data (the matrix is empty)", op) end
  local out, nc = {}, nil
  for r = 1, nr do
    if type(rows[r]) ~= "table" then fail("%s: row %d is %s, not an array", op, r, describe(rows[r])) end
    local row, n = numbers(op, "row " .. r, rows[r])
    if n == 0 then fail("%s: no data (row %d is empty)", op, r) end
    nc = nc or n
    if n ~= nc then fail("%s: row %d has %d values, row 1 has %d", op, r, n, nc) end
    out[r] = row
  end
  return out, nr, nc
end

local function set_of(...)
  local s = {}
  for _, k in ipairs{...} do s[k] = true end
  return s
end

---------------------------------------------------------------------------------------------
-- data blocks: full precision, formatted many rows per string.format call (10^6 points/s)

local ROWS = 64

local function emit_rows(parts, name, nrows, ncols, get)
  parts[#parts + 1] = name .. " << EOD\n"
  local rowfmt = string.rep("%.17g", ncols, " ") .. "\n"
  local full = string.rep(rowfmt, ROWS)
  local flat = {}
  for i = 1, nrows, ROWS do
    local j = math.min(nrows, i + ROWS - 1)
    local m = 0
    for r = i, j do
      for c = 1, ncols do m = m + 1; flat[m] = get(r, c) end
    end
    local s = string.format(j - i + 1 == ROWS and full or string.rep(rowfmt, j - i + 1),
                            table.unpack(flat, 1, m))
    -- %.17g writes non-finite values as nan, -nan, inf, -inf; no finite number has an "n".
    if s:find("n", 1, true) then s = s:gsub("%-?nan", "NaN"):gsub("%-?inf", "NaN") end
    parts[#parts + 1] = s
  end
  parts[#parts + 1] = "EOD\n"
end

local function emit_columns(parts, name, cols, n)
  emit_rows(parts, name, n, #cols, function(r, c) return cols[c][r] end)
end

---------------------------------------------------------------------------------------------
-- styles

local DASH = {solid = 1, dashed = 2, dotted = 3, dashdot = 4}
local LINESTYLE = {solid = "lines", dashed = "lines", dotted = "lines", dashdot = "lines",
                   linespoints = "linespoints", points = "points", steps = "steps"}
local MARKER = {circle = 7, ["open circle"] = 6, dot = 0, plus = 1, cross = 2, square = 5,
                triangle = 9, diamond = 13}
local KEYWORDS = set_of("top", "bottom", "left", "right", "center", "inside", "outside",
                        "horizontal", "vertical", "box", "nobox", "opaque")

local PALETTES = {
  viridis = "set palette defined (0 '#440154', 1 '#472c7a', 2 '#3b518b', 3 '#2c718e', " ..
            "4 '#21908d', 5 '#27ad81', 6 '#5cc863', 7 '#aadc32', 8 '#fde725')",
  magma   = "set palette defined (0 '#000004', 1 '#2c115f', 2 '#721f81', 3 '#b73779', " ..
            "4 '#f1605d', 5 '#feb078', 6 '#fcfdbf')",
  gray    = "set palette gray",
  hot     = "set palette rgbformulae 21,22,23",
  coolwarm = "set palette defined (0 '#3b4cc0', 1 '#dddddd', 2 '#b40426')",
}

local function color_part(op, c)
  if c == nil then return "" end
  if type(c) ~= "string" then fail("%s: color must be a string like 'red' or '#1f77b4'", op) end
  return " lc rgb " .. q(c)
end

local function title_part(label)
  if label == nil or label == false then return " notitle" end
  return " title " .. q(label)
end

---------------------------------------------------------------------------------------------
-- figures

local Figure = {}
Figure.__index = Figure

local FIG_OPTS = set_of("title", "xlabel", "ylabel", "logx", "logy", "xrange", "yrange", "size",
                        "out", "grid", "key")

local function check_range(op, name, r)
  if r == nil then return end
  if type(r) ~= "table" then fail("%s: %s must be {lo, hi} (either may be nil)", op, name) end
  for i = 1, 2 do if r[i] ~= nil then num(op, name .. "[" .. i .. "]", r[i]) end end
end

local function out_kind(op, path)
  if type(path) ~= "string" or path == "" then
    fail("%s: out must be a file name ending in .png, .svg, .pdf or .txt (got %s)", op, tostring(path))
  end
  local ext = path:match("%.([%w]+)$")
  ext = ext and ext:lower()
  if ext == "png" or ext == "svg" or ext == "pdf" then return ext end
  if ext == "txt" then return "dumb" end
  fail("%s: out '%s' has %s; use .png, .svg, .pdf or .txt", op, path,
       ext and ("extension ." .. ext) or "no extension")
end

local function apply_opts(self, op, opts)
  check_options(op, opts, FIG_OPTS)
  check_range(op, "xrange", opts.xrange)
  check_range(op, "yrange", opts.yrange)
  if opts.size ~= nil then
    if type(opts.size) ~= "table" then fail("%s: size must be {width, height}", op) end
    for i = 1, 2 do
      num(op, "size[" .. i .. "]", opts.size[i])
      if opts.size[i] <= 0 then fail("%s: size must be positive", op) end
    end
  end
  if opts.out ~= nil then
    if self._grid then fail("%s: a grid panel takes no 'out'; give it to plot.grid", op) end
    out_kind(op, opts.out)
  end
  if opts.key ~= nil and opts.key ~= false then
    if type(opts.key) ~= "string" then fail("%s: key must be a string like 'top left' or false", op) end
    for w in opts.key:gmatch("%S+") do
      if not KEYWORDS[w] then fail("%s: key position word '%s' is not one of top, bottom, left, " ..
                                   "right, center, inside, outside, horizontal, vertical, box", op, w) end
    end
  end
  for k, v in pairs(opts) do self[k] = v end
  return self
end

local function new_figure(opts, grid)
  local self = setmetatable({series = {}, _grid = grid}, Figure)
  return apply_opts(self, "plot.figure", opts or {})
end

function M.figure(opts) return new_figure(opts, nil) end

-- fig{title = ...} (and fig:set{...}) change a figure's options; both return the figure.
Figure.__call = function(self, opts) return apply_opts(self, "plot.figure", opts) end
function Figure:set(opts) return apply_opts(self, "plot.figure", opts) end

function Figure:__tostring()
  local name = self.title or self.out or "untitled"
  return string.format("plot.figure '%s' (%d series)", name, #self.series)
end

local function add(self, s)
  self.series[#self.series + 1] = s
  return self
end

-- fig:line(y) and fig:line(y, opts) plot y against 1..n.
local function xy_args(x, y, opts)
  if y == nil or (type(y) == "table" and not is_tensor(y) and y[1] == nil and next(y) ~= nil) then
    return nil, x, y
  end
  return x, y, opts
end

local function xy(op, x, y)
  local ys, ny = numbers(op, "y", y)
  local xs, nx
  if x == nil then
    xs, nx = {}, ny
    for i = 1, ny do xs[i] = i end
  else
    xs, nx = numbers(op, "x", x)
  end
  if nx ~= ny then fail("%s: x has %d points, y has %d", op, nx, ny) end
  if ny == 0 then fail("%s: no data (x and y are empty)", op) end
  return xs, ys, ny
end

local LINE_OPTS = set_of("label", "style", "width", "color")
function Figure:line(x, y, opts)
  x, y, opts = xy_args(x, y, opts)
  opts = check_options("plot.line", opts, LINE_OPTS)
  local xs, ys, n = xy("plot.line", x, y)
  local style = opts.style or "solid"
  if not LINESTYLE[style] then
    fail("plot.line: style '%s' is not one of solid, dashed, dotted, dashdot, linespoints, points, steps",
         tostring(style))
  end
  local w = "with " .. LINESTYLE[style] .. " lw " .. num("plot.line", "width", opts.width or 1.5)
  if DASH[style] and DASH[style] > 1 then w = w .. " dt " .. DASH[style] end
  if style == "linespoints" or style == "points" then w = w .. " pt 7 ps 0.6" end
  return add(self, {cols = {xs, ys}, n = n, using = "1:2",
                    with = w .. color_part("plot.line", opts.color), label = opts.label})
end

local SCATTER_OPTS = set_of("label", "size", "marker", "color")
function Figure:scatter(x, y, opts)
  x, y, opts = xy_args(x, y, opts)
  opts = check_options("plot.scatter", opts, SCATTER_OPTS)
  local xs, ys, n = xy("plot.scatter", x, y)
  local pt = MARKER[opts.marker or "circle"]
  if not pt then
    fail("plot.scatter: marker '%s' is not one of circle, open circle, dot, plus, cross, square, " ..
         "triangle, diamond", tostring(opts.marker))
  end
  local w = "with points pt " .. pt .. " ps " .. num("plot.scatter", "size", opts.size or 0.5)
  return add(self, {cols = {xs, ys}, n = n, using = "1:2",
                    with = w .. color_part("plot.scatter", opts.color), label = opts.label})
end

local ERR_OPTS = set_of("label", "color", "lines", "width")
function Figure:errorbars(x, y, err, opts)
  opts = check_options("plot.errorbars", opts, ERR_OPTS)
  local xs, ys, n = xy("plot.errorbars", x, y)
  local es, ne
  if type(err) == "number" then
    num("plot.errorbars", "err", err)
    es, ne = {}, n
    for i = 1, n do es[i] = err end
  else
    es, ne = numbers("plot.errorbars", "err", err)
  end
  if ne ~= n then fail("plot.errorbars: y has %d points, err has %d", n, ne) end
  local w = "with " .. (opts.lines and "yerrorlines" or "yerrorbars") ..
            " pt 7 ps 0.5 lw " .. num("plot.errorbars", "width", opts.width or 1.2)
  return add(self, {cols = {xs, ys, es}, n = n, using = "1:2:3",
                    with = w .. color_part("plot.errorbars", opts.color), label = opts.label})
end

local HIST_OPTS = set_of("bins", "range", "density", "label", "color")
function Figure:hist(values, opts)
  local op = "plot.hist"
  opts = check_options(op, opts, HIST_OPTS)
  local vs, n = numbers(op, "values", values)
  if n == 0 then fail("%s: no data (values is empty)", op) end
  local finite = {}
  for i = 1, n do if isfinite(vs[i]) then finite[#finite + 1] = vs[i] end end
  if #finite == 0 then fail("%s: no finite values among %d", op, n) end
  local edges = {}
  if type(opts.bins) == "table" then
    local e = numbers(op, "bins", opts.bins)
    if #e < 2 then fail("%s: bin edges need at least 2 values", op) end
    for i = 1, #e do
      num(op, "bins[" .. i .. "]", e[i])
      if i > 1 and e[i] <= e[i - 1] then fail("%s: bin edges must increase", op) end
      edges[i] = e[i]
    end
  else
    local nb = opts.bins or math.max(1, math.min(100, math.ceil(math.sqrt(#finite))))
    nb = math.tointeger(nb)
    if not nb or nb < 1 then
      fail("%s: bins must be a positive integer or an array of edges (got %s)", op, tostring(opts.bins))
    end
    local lo, hi
    if opts.range then
      check_range(op, "range", opts.range)
      lo, hi = opts.range[1], opts.range[2]
    end
    if lo == nil or hi == nil then
      local mn, mx = math.huge, -math.huge
      for _, v in ipairs(finite) do
        if v < mn then mn = v end
        if v > mx then mx = v end
      end
      lo, hi = lo or mn, hi or mx
    end
    if hi < lo then fail("%s: range is empty (%.17g > %.17g)", op, lo, hi) end
    if hi == lo then lo, hi = lo - 0.5, hi + 0.5 end
    for i = 0, nb do edges[i + 1] = lo + (hi - lo) * i / nb end
    edges[nb + 1] = hi
  end
  local nb = #edges - 1
  local counts = {}
  for i = 1, nb do counts[i] = 0 end
  local lo, hi = edges[1], edges[nb + 1]
  for _, v in ipairs(finite) do
    if v >= lo and v <= hi then
      -- binary search for the bin: edges[k] <= v < edges[k+1] (the last bin is closed)
      local a, b = 1, nb
      while a < b do
        local m = (a + b + 1) // 2
        if edges[m] <= v then a = m else b = m - 1 end
      end
      counts[a] = counts[a] + 1
    end
  end
  local centers, widths = {}, {}
  for i = 1, nb do
    centers[i] = (edges[i] + edges[i + 1]) / 2
    widths[i] = edges[i + 1] - edges[i]
    if opts.density then counts[i] = counts[i] / (#finite * widths[i]) end
  end
  return add(self, {cols = {centers, counts, widths}, n = nb, using = "1:2:3", hist = true,
                    with = "with boxes fs solid 0.5" .. color_part(op, opts.color),
                    label = opts.label})
end

local HEAT_OPTS = set_of("xlabels", "ylabels", "palette", "zrange", "label")
function Figure:heatmap(Mx, opts)
  local op = "plot.heatmap"
  opts = check_options(op, opts, HEAT_OPTS)
  for _, s in ipairs(self.series) do
    if s.rows then fail("%s: a figure holds one heatmap; use plot.grid for several", op) end
  end
  local rows, nr, nc = matrix(op, Mx)
  local pal = opts.palette or "viridis"
  if not PALETTES[pal] then
    fail("%s: palette '%s' is not one of viridis, magma, gray, hot, coolwarm", op, tostring(pal))
  end
  check_range(op, "zrange", opts.zrange)
  local pre = {
    -- cell (i, j) is centred on x = j, y = i, with row 1 at the top, as a matrix is printed
    string.format("set xrange [0.5:%.17g]", nc + 0.5),
    string.format("set yrange [%.17g:0.5]", nr + 0.5),
    "set tics out",
    PALETTES[pal],
  }
  if opts.zrange then
    local z = opts.zrange
    pre[#pre + 1] = string.format("set cbrange [%s:%s]", z[1] and num(op, "zrange[1]", z[1]) or "*",
                                  z[2] and num(op, "zrange[2]", z[2]) or "*")
  end
  for _, ax in ipairs{{"xlabels", "xtics", nc}, {"ylabels", "ytics", nr}} do
    local labels = opts[ax[1]]
    if labels ~= nil then
      if type(labels) ~= "table" or #labels ~= ax[3] then
        fail("%s: %s must be an array of %d names (got %s)", op, ax[1], ax[3],
             type(labels) == "table" and (#labels .. " names") or describe(labels))
      end
      local t, long = {}, false
      for i = 1, #labels do
        t[i] = q(labels[i]) .. " " .. i
        if #tostring(labels[i]) > 3 then long = true end
      end
      local rot = (ax[2] == "xtics" and (long or #labels > 10)) and " rotate by 45 right" or ""
      pre[#pre + 1] = "set " .. ax[2] .. " (" .. table.concat(t, ", ") .. ")" .. rot
    elseif ax[3] <= 20 then
      pre[#pre + 1] = "set " .. ax[2] .. " 1"
    end
  end
  -- gnuplot's image needs at least 2x2 cells; a single row or column is drawn as boxes
  local with = (nr >= 2 and nc >= 2) and "using ($1+1):($2+1):3 with image"
               or "using ($1+1):($2+1):(0.5):(0.5):3 with boxxyerror fs solid 1 noborder fc palette"
  return add(self, {rows = rows, nr = nr, nc = nc, pre = pre, using = "matrix",
                    with = with, label = opts.label})
end

local HLINE_OPTS = set_of("label", "color", "style", "width")
local function rule_style(op, opts)
  local style = opts.style or "dashed"
  if not DASH[style] then fail("%s: style '%s' is not one of solid, dashed, dotted, dashdot", op, tostring(style)) end
  return "lw " .. num(op, "width", opts.width or 1.5) .. " dt " .. DASH[style] ..
         " lc rgb " .. q(opts.color or "black")
end

-- A horizontal rule is drawn as a constant function, so autoscaling keeps it in view.
function Figure:hline(y, opts)
  opts = check_options("plot.hline", opts, HLINE_OPTS)
  local ys = num("plot.hline", "y", y)
  return add(self, {fn = ys, with = "with lines " .. rule_style("plot.hline", opts), label = opts.label})
end

-- A vertical rule is an arrow across the graph (clipped when outside the x range), with a key
-- entry for its label.
function Figure:vline(x, opts)
  opts = check_options("plot.vline", opts, HLINE_OPTS)
  local xs = num("plot.vline", "x", x)
  local st = rule_style("plot.vline", opts)
  return add(self, {x = x, arrow = string.format("set arrow from first %s, graph 0 to first %s, graph 1 nohead %s",
                                          xs, xs, st),
                    with = "with lines " .. st, label = opts.label})
end

---------------------------------------------------------------------------------------------
-- scripts

local function default_size(kind)
  if kind == "pdf" then return 8, 6 end
  if kind == "dumb" then
    return tonumber(os.getenv("COLUMNS") or "") or 79, tonumber(os.getenv("LINES") or "") or 24
  end
  return 800, 600
end

local function terminal(op, kind, size)
  local w, h = default_size(kind)
  if size then w, h = size[1], size[2] end
  if kind == "pdf" then
    if w > 100 or h > 100 then
      fail("%s: pdf size is in inches (got %gx%g)", op, w, h)
    end
    return string.format("set terminal pdfcairo size %sin,%sin noenhanced", num(op, "size", w), num(op, "size", h))
  end
  w, h = math.floor(w + 0.5), math.floor(h + 0.5)
  if kind == "png" then
    return string.format("set terminal pngcairo size %d,%d noenhanced background rgb 'white'", w, h)
  elseif kind == "svg" then
    return string.format("set terminal svg size %d,%d noenhanced background rgb 'white'", w, h)
  end
  return string.format("set terminal dumb size %d,%d noenhanced", w, h)
end

-- Data blocks of one figure, numbered from ctx.n.
local function emit_data(parts, fig, ctx)
  for _, s in ipairs(fig.series) do
    if s.cols or s.rows then
      ctx.n = ctx.n + 1
      s._block = "$d" .. ctx.n
      if s.rows then
        emit_rows(parts, s._block, s.nr, s.nc, function(r, c) return s.rows[r][c] end)
      else
        emit_columns(parts, s._block, s.cols, s.n)
      end
    end
  end
end

local function range(op, name, r)
  if r == nil then return nil end
  return string.format("set %s [%s:%s]", name, r[1] ~= nil and num(op, name, r[1]) or "*",
                       r[2] ~= nil and num(op, name, r[2]) or "*")
end

-- Settings and the plot command of one figure (its data blocks already emitted).
local function emit_body(parts, fig)
  local op = "plot.save"
  if #fig.series == 0 then
    fail("%s: figure '%s' has nothing to plot", op, fig.title or fig.out or "untitled")
  end
  local L = {}
  local function add_(s) if s then L[#L + 1] = s end end
  if fig.title then add_("set title " .. q(fig.title)) end
  if fig.xlabel then add_("set xlabel " .. q(fig.xlabel)) end
  if fig.ylabel then add_("set ylabel " .. q(fig.ylabel)) end
  local heat, labelled = false, false
  for _, s in ipairs(fig.series) do
    if s.rows then heat = true end
    if s.label ~= nil and s.label ~= false then labelled = true end
  end
  if fig.grid ~= false and not heat then add_("set grid") end
  if fig.logx then add_("set logscale x") end
  if fig.logy then add_("set logscale y") end
  if not labelled or fig.key == false then
    add_("unset key")
  elseif fig.key then
    add_("set key " .. fig.key)
  end
  local elems, zero = {}, false
  for _, s in ipairs(fig.series) do
    if s.hist and not fig.logy and not zero then
      zero = true
      add_("set yrange [0:*]")   -- bars stand on zero
    end
    if s.pre then for _, p in ipairs(s.pre) do add_(p) end end
    if s.arrow then
      add_(s.arrow)
      if s.label ~= nil and s.label ~= false then
        elems[#elems + 1] = "keyentry " .. s.with .. title_part(s.label)
      end
    elseif s.fn then
      elems[#elems + 1] = s.fn .. " " .. s.with .. title_part(s.label)
    else
      elems[#elems + 1] = s._block .. " " .. (s.using == "matrix" and "matrix" or ("using " .. s.using)) ..
                          " " .. s.with .. title_part(s.label)
    end
  end
  add_(range(op, "xrange", fig.xrange))
  add_(range(op, "yrange", fig.yrange))
  if #elems == 0 then
    -- only vertical rules without labels: give gnuplot something invisible to draw
    elems[1] = "NaN notitle"
    if not fig.xrange then
      local lo, hi = math.huge, -math.huge
      for _, s in ipairs(fig.series) do
        lo, hi = math.min(lo, s.x), math.max(hi, s.x)
      end
      add_(string.format("set xrange [%.17g:%.17g]", lo - 1, hi + 1))
    end
    if not fig.yrange then add_("set yrange [0:1]") end
  end
  add_("plot " .. table.concat(elems, ", "))
  parts[#parts + 1] = table.concat(L, "\n") .. "\n"
end

local HEADER = "# gnuplot script written by entro's plot module; redraw with: gnuplot <this file>\n"

local function script_parts(fig, kind, path)
  local parts = {HEADER}
  emit_data(parts, fig, {n = 0})
  parts[#parts + 1] = terminal("plot.save", kind, fig.size) .. "\n"
  if path then parts[#parts + 1] = "set output " .. q(path) .. "\n" end
  emit_body(parts, fig)
  if path then parts[#parts + 1] = "unset output\n" end
  return parts
end

---------------------------------------------------------------------------------------------
-- where a figure goes, and running gnuplot

local tty
function M.is_interactive()
  if M.interactive ~= nil then return M.interactive end
  if tty == nil then tty = os.execute("test -t 1") == true end
  return tty
end

local used = {}
local function default_path()
  local script = type(rawget(_G, "arg")) == "table" and arg[0] or nil
  local base = script and script:match("([^/]+)$") or "plot"
  base = base:gsub("%.lua$", "")
  if base == "" or base == "entro" or base == "lua" or base == "lua5.4" then base = "plot" end
  used[base] = (used[base] or 0) + 1
  return "out/" .. base .. (used[base] > 1 and ("-" .. used[base]) or "") .. ".png"
end

-- Where `fig` goes: kind ("png", "svg", "pdf", "dumb") and path (nil for the text terminal).
local function target(fig, path)
  if path ~= nil then return out_kind("plot.save", path), path end
  if fig.out then return out_kind("plot.save", fig.out), fig.out end
  if fig._default then return "png", fig._default end
  if M.is_interactive() then return "dumb", nil end
  fig._default = default_path()
  return "png", fig._default
end

local function mkdir_parent(path)
  local dir = path:match("^(.*)/[^/]*$")
  if dir and dir ~= "" and not os.rename(dir, dir) then
    os.execute("mkdir -p -- " .. shq(dir) .. " 2>/dev/null")
  end
end

local have_gnuplot = {}
local function check_gnuplot()
  local cmd = M.gnuplot
  if have_gnuplot[cmd] == nil then
    have_gnuplot[cmd] = os.execute("command -v " .. shq(cmd) .. " >/dev/null 2>&1") == true
  end
  if not have_gnuplot[cmd] then error(INSTALL, 0) end
end

-- The script goes to a temp file, and gnuplot, on a pipe, is told to load it: gnuplot reads a
-- pipe a byte at a time, four times slower than a file for big data blocks. gnuplot's stderr
-- goes to another temp file and becomes the Lua error (or, on success, warnings on stderr).
local function run(parts, name)
  check_gnuplot()
  local gp, errf = os.tmpname(), os.tmpname()
  local f = assert(io.open(gp, "w"))
  for _, s in ipairs(parts) do f:write(s) end
  f:close()
  io.stdout:flush()
  local p = assert(io.popen(string.format("%s -d 2>%s", shq(M.gnuplot), shq(errf)), "w"))
  p:write("load ", q(gp), "\n")
  local ok = p:close()
  f = io.open(errf, "r")
  local msg = f and f:read("a") or ""
  if f then f:close() end
  os.remove(errf)
  os.remove(gp)
  msg = msg:gsub('"' .. gp:gsub("%p", "%%%0") .. '"', "script"):gsub("^%s+", ""):gsub("%s+$", "")
  if not ok then
    if #msg > 4000 then msg = msg:sub(1, 4000) .. " ..." end
    fail("plot.save: gnuplot failed on %s:\n%s", name, msg ~= "" and msg or "(no message)")
  end
  if msg ~= "" and not entro_field("quiet") then
    for line in msg:gmatch("[^\n]+") do
      line = line:match("^%s*(.-)$")
      if line ~= "" then io.stderr:write("plot: gnuplot: ", line, "\n") end
    end
  end
end

local function figure_name(fig, path)
  local t = fig.title and ("'" .. tostring(fig.title) .. "'") or "untitled figure"
  return path and (t .. " (" .. path .. ")") or t
end

function Figure:script()
  if self._grid then return self._grid:script() end
  local kind, path = target(self, nil)
  return table.concat(script_parts(self, kind, path))
end

-- Renders a figure or grid (its script from parts_of) to path or its default target; a
-- default file name is printed, since the path is a result (--quiet keeps it).
local function render(self, path, parts_of)
  local defaulted = path == nil and self.out == nil and self._default == nil
  local kind, p = target(self, path)
  local parts = parts_of(self, kind, p)
  if p then mkdir_parent(p) end
  run(parts, figure_name(self, p))
  if p and defaulted and self._default then io.stderr:write("plot: wrote ", p, "\n") end
  return self
end

function Figure:save(path)
  if self._grid then
    if path ~= nil then fail("plot.save: save a grid panel through its grid (g:save())") end
    self._grid:save()
    return self
  end
  return render(self, path, script_parts)
end

---------------------------------------------------------------------------------------------
-- grids of panels (gnuplot multiplot)

local Grid = {}
Grid.__index = Grid
local GRID_OPTS = set_of("rows", "cols", "out", "size", "title")

function M.grid(opts)
  local op = "plot.grid"
  opts = check_options(op, opts or {}, GRID_OPTS)
  local rows, cols = opts.rows or 1, opts.cols or 1
  for _, v in ipairs{rows, cols} do
    if math.type(v) ~= "integer" or v < 1 then fail("%s: rows and cols must be positive integers", op) end
  end
  if opts.out ~= nil then out_kind(op, opts.out) end
  local size = opts.size
  if size ~= nil then
    if type(size) ~= "table" then fail("%s: size must be {width, height}", op) end
    num(op, "size[1]", size[1]); num(op, "size[2]", size[2])
  end
  return setmetatable({rows = rows, cols = cols, out = opts.out, size = size, title = opts.title,
                       panels = {}}, Grid)
end

-- g:panel(r, c [, opts]) returns the figure in row r, column c (made on first use); a figure
-- called with a table sets its options, so g:panel(1, 2){title = "b"} also works.
function Grid:panel(r, c, opts)
  if math.type(r) ~= "integer" or math.type(c) ~= "integer" or r < 1 or c < 1
     or r > self.rows or c > self.cols then
    fail("plot.grid: panel (%s, %s) is outside the %dx%d grid", tostring(r), tostring(c), self.rows, self.cols)
  end
  local k = (r - 1) * self.cols + c
  local fig = self.panels[k]
  if not fig then
    fig = new_figure(nil, self)
    self.panels[k] = fig
  end
  if opts then fig:set(opts) end
  return fig
end
Grid.figure = Grid.panel

function Grid:__tostring()
  return string.format("plot.grid %dx%d '%s'", self.rows, self.cols, self.title or self.out or "untitled")
end

local function grid_parts(g, kind, path)
  local parts = {HEADER}
  local ctx = {n = 0}
  for k = 1, g.rows * g.cols do
    if g.panels[k] then emit_data(parts, g.panels[k], ctx) end
  end
  local size = g.size
  if not size and kind ~= "pdf" and kind ~= "dumb" then size = {500 * g.cols, 400 * g.rows} end
  if not size and kind == "pdf" then size = {5 * g.cols, 4 * g.rows} end
  parts[#parts + 1] = terminal("plot.grid", kind, size) .. "\n"
  if path then parts[#parts + 1] = "set output " .. q(path) .. "\n" end
  parts[#parts + 1] = string.format("set multiplot layout %d,%d rowsfirst%s\n", g.rows, g.cols,
                                    g.title and (" title " .. q(g.title)) or "")
  local any = false
  for k = 1, g.rows * g.cols do
    local fig = g.panels[k]
    if fig and #fig.series > 0 then
      any = true
      parts[#parts + 1] = string.format("# panel %d,%d\n", (k - 1) // g.cols + 1, (k - 1) % g.cols + 1)
      emit_body(parts, fig)
      parts[#parts + 1] = "reset\n"
    else
      parts[#parts + 1] = "set multiplot next\n"
    end
  end
  if not any then fail("plot.grid: the grid has no panel with anything to plot") end
  parts[#parts + 1] = "unset multiplot\n"
  if path then parts[#parts + 1] = "unset output\n" end
  return parts
end

function Grid:script()
  local kind, path = target(self, nil)
  return table.concat(grid_parts(self, kind, path))
end

function Grid:save(path) return render(self, path, grid_parts) end

---------------------------------------------------------------------------------------------
-- CSV logs

local CSV_OPTS = set_of("x", "y", "save", "style")
for k in pairs(FIG_OPTS) do CSV_OPTS[k] = true end

function M.csv(path, opts)
  local op = "plot.csv"
  opts = check_options(op, opts, CSV_OPTS)
  if type(path) ~= "string" then fail("%s: path must be a file name (got %s)", op, describe(path)) end
  local cols, names = require("entro.log").read_csv(path)
  local function column(name)
    local c = cols[name]
    if c == nil then fail("%s: no column '%s' in %s (columns: %s)", op, tostring(name), path, table.concat(names, ", ")) end
    for i = 1, #c do
      if type(c[i]) ~= "number" then fail("%s: column '%s' of %s is not numeric (row %d: '%s')", op, name, path, i, tostring(c[i])) end
    end
    return c
  end
  local xname = opts.x or (cols.step and "step") or names[1]
  local ys = opts.y
  if type(ys) == "string" then ys = {ys} end
  if ys == nil then
    ys = {}
    for _, n in ipairs(names) do
      local numeric = true
      for _, v in ipairs(cols[n]) do if type(v) ~= "number" then numeric = false; break end end
      if n ~= xname and numeric then ys[#ys + 1] = n end
    end
    if #ys == 0 then fail("%s: %s has no numeric column besides '%s'", op, path, xname) end
  end
  local fopts = {}
  for k in pairs(FIG_OPTS) do fopts[k] = opts[k] end
  if fopts.title == nil then fopts.title = path:match("([^/]+)$") end
  if fopts.xlabel == nil then fopts.xlabel = xname end
  if fopts.ylabel == nil and #ys == 1 then fopts.ylabel = ys[1] end
  local fig = M.figure(fopts)
  local x = column(xname)
  for _, yn in ipairs(ys) do
    fig:line(x, column(yn), {label = #ys > 1 and yn or nil, style = opts.style})
  end
  if opts.save ~= false then fig:save() end
  return fig
end

M._help = {
  figure = "plot.figure{title, xlabel, ylabel, logx, logy, xrange = {lo, hi}, yrange, " ..
           "size = {w, h}, out = 'f.png'|'f.svg'|'f.pdf'|'f.txt', grid = true, key = 'top left'|false} " ..
           "-- a new figure; its methods return it so calls chain; fig{...} changes options",
  line = "fig:line([x,] y, {label, style = 'solid'|'dashed'|'dotted'|'dashdot'|'linespoints'|" ..
         "'points'|'steps', width, color}) -- a line through (x, y); x defaults to 1..n",
  scatter = "fig:scatter([x,] y, {label, size, marker = 'circle'|'dot'|'plus'|'cross'|'square'|" ..
            "'triangle'|'diamond', color}) -- points",
  errorbars = "fig:errorbars(x, y, err, {label, lines = false, width, color}) -- points with " ..
              "vertical error bars y +- err (err: array, tensor or one number)",
  hist = "fig:hist(values, {bins = n | {edges...}, range = {lo, hi}, density = false, label, color}) " ..
         "-- a histogram (non-finite values are left out; default bins: sqrt(n), at most 100)",
  heatmap = "fig:heatmap(M, {xlabels, ylabels, palette = 'viridis'|'magma'|'gray'|'hot'|'coolwarm', " ..
            "zrange = {lo, hi}}) -- a matrix as an image, row 1 at the top",
  hline = "fig:hline(y, {label, style = 'dashed', width, color = 'black'}) -- a horizontal rule " ..
          "(e.g. the 2/eta edge of stability); kept in view by autoscaling",
  vline = "fig:vline(x, {label, style = 'dashed', width, color = 'black'}) -- a vertical rule",
  save = "fig:save([path]) -- draw the figure: to path, else its out, else as text in a terminal " ..
         "or to out/<script>.png in a script",
  script = "fig:script() -- the complete gnuplot script, data included",
  grid = "plot.grid{rows, cols, out, size, title} -- several panels in one image; " ..
         "g:panel(r, c [, opts]) (or g:figure) gives a panel figure, g:save() draws them all",
  csv = "plot.csv(path, {x = 'step', y = {'loss', ...}, save = true, <figure options>}) -- plot " ..
        "columns of a CSV log (as written by log.csv) and return the figure",
  interactive = "plot.interactive = true|false|nil -- force or auto-detect (stdout a terminal) " ..
                "drawing figures without out as text",
}

return M
