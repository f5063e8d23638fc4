-- log: experiment logs as CSV or JSON lines, each opened with a provenance record (script,
-- arguments, seed, entro version, date), and a CSV reader for plotting them back.
--
--   local log = require "entro.log"
--   local w <close> = log.csv("out/run.csv")        -- or log.csv(path, {columns = {...}})
--   for step = 1, n do ... w:write{step = step, loss = loss} end
--
-- CSV: the first line is "# entro {json}", then a header row, then one row per write. The
-- columns are the `columns` option, else the keys of the first row ("step" first, the rest
-- sorted); a later row with another key is an error, a missing key an empty cell. Numbers are
-- written with %.17g (integers as integers), NaN as nan and infinities as inf / -inf; strings
-- are quoted as RFC 4180 says when they hold a comma, quote or newline (or start with #).
-- JSON lines: the first line is {"entro": {json}}, then one object per write (keys free unless
-- `columns` is given; NaN and infinities become null). Every row is flushed as it is written,
-- so a crashed or interrupted run keeps its log.
local M = {}
local util = require "entro.util"
local fail, entro_field, is_tensor = util.fail, util.entro_field, util.is_tensor




-- A one-element tensor as a number (a loss, say); nil if v is not one.
local function scalar(v)
  if not is_tensor(v) or v:numel() ~= 1 then return nil end
  local t = v:totable()
  while type(t) == "table" do t = t[1] end
  return t
end

local function isfinite(v) return v == v and v ~= math.huge and v ~= -math.huge end

local function shq(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function mkdir_parent(path)
  local dir = path:match("^(.*)/[^/]*$")
  if dir and dir ~= "" and not os.rename(dir, dir) then
    os.execute("mkdir -p -- " .. shq(dir) .. " 2>/dev/null")
  end
end

---------------------------------------------------------------------------------------------
-- JSON (just enough to write)

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    local named = {['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t'}
    return named[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function sorted_keys(t, first)
  local keys = {}
  for k in pairs(t) do
    if type(k) ~= "string" then fail("log: row keys must be column names (strings), got %s", tostring(k)) end
    if k ~= first then keys[#keys + 1] = k end
  end
  table.sort(keys)
  if first and t[first] ~= nil then table.insert(keys, 1, first) end
  return keys
end

local function json_value(v, where)
  local s = scalar(v)
  if s then v = s elseif is_tensor(v) then v = v:totable() end
  local t = type(v)
  if t == "number" then
    if math.type(v) == "integer" then return string.format("%d", v) end
    return isfinite(v) and string.format("%.17g", v) or "null"
  elseif t == "string" then return json_string(v)
  elseif t == "boolean" then return tostring(v)
  elseif t == "nil" then return "null"
  elseif t == "table" then
    local n = #v
    if n > 0 or next(v) == nil then
      local parts = {}
      for i = 1, n do parts[i] = json_value(v[i], where) end
      return "[" .. table.concat(parts, ",") .. "]"
    end
    local parts = {}
    for _, k in ipairs(sorted_keys(v)) do parts[#parts + 1] = json_string(k) .. ":" .. json_value(v[k], where) end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  fail("%s: cannot write %s", where, t)
end

-- The provenance record, its keys in a fixed order.
local function provenance()
  local a = rawget(_G, "arg")
  local args = {}
  if type(a) == "table" then for i = 1, #a do args[i] = tostring(a[i]) end end
  local function field(k)
    local v = entro_field(k)
    if v == nil then return "unknown" end
    return v
  end
  local items = {
    {"script", type(a) == "table" and a[0] ~= nil and tostring(a[0]) or "unknown"},
    {"args", args},
    {"seed", field("seed")},
    {"version", field("version")},
    {"date", os.date("!%Y-%m-%dT%H:%M:%SZ")},
  }
  local parts = {}
  for i, kv in ipairs(items) do parts[i] = json_string(kv[1]) .. ":" .. json_value(kv[2], "log") end
  return "{" .. table.concat(parts, ",") .. "}"
end

---------------------------------------------------------------------------------------------
-- writers

local function csv_cell(v, where, col)
  local s = scalar(v)
  if s then v = s end
  local t = type(v)
  if t == "nil" then return "" end
  if t == "number" then
    if math.type(v) == "integer" then return string.format("%d", v) end
    if v ~= v then return "nan" end
    if v == math.huge then return "inf" end
    if v == -math.huge then return "-inf" end
    return string.format("%.17g", v)
  end
  if t == "boolean" then return tostring(v) end
  if t == "string" then
    if v:find('[,"\r\n]') or v:sub(1, 1) == "#" then return '"' .. v:gsub('"', '""') .. '"' end
    return v
  end
  fail("%s: column '%s' holds %s; a CSV cell takes a number, string or boolean", where, col,
       is_tensor(v) and "a tensor of several values" or ("a " .. t))
end

local Writer = {}
Writer.__index = Writer

local function open(op, kind, path, opts)
  if type(path) ~= "string" or path == "" then fail("%s: path must be a file name", op) end
  opts = opts or {}
  if type(opts) ~= "table" then fail("%s: options must be a table", op) end
  for k in pairs(opts) do
    if k ~= "columns" then fail("%s: unknown option '%s' (options: columns)", op, tostring(k)) end
  end
  local self = setmetatable({kind = kind, path = path, op = op}, Writer)
  if opts.columns ~= nil then
    if type(opts.columns) ~= "table" or #opts.columns == 0 then
      fail("%s: columns must be a non-empty array of names", op)
    end
    self:_set_columns(opts.columns)
  end
  mkdir_parent(path)
  local f, err = io.open(path, "w")
  if not f then fail("%s: cannot open %s: %s", op, path, tostring(err)) end
  self.f = f
  if kind == "csv" then
    f:write("# entro ", provenance(), "\n")
    if self.columns then self:_header() end
  else
    f:write('{"entro":', provenance(), "}\n")
  end
  f:flush()
  return self
end

function Writer:_set_columns(cols)
  self.columns, self.known = {}, {}
  for i, c in ipairs(cols) do
    if type(c) ~= "string" then fail("%s: column names must be strings (got %s)", self.op, tostring(c)) end
    if self.known[c] then fail("%s: column '%s' is given twice", self.op, c) end
    self.columns[i], self.known[c] = c, true
  end
end

function Writer:_header()
  local cells = {}
  for i, c in ipairs(self.columns) do cells[i] = csv_cell(c, self.op, c) end
  self.f:write(table.concat(cells, ","), "\n")
end

function M.csv(path, opts) return open("log.csv", "csv", path, opts) end
function M.jsonl(path, opts) return open("log.jsonl", "jsonl", path, opts) end

function Writer:write(row)
  local op = "log.write"
  if not self.f then fail("%s: %s is closed", op, self.path) end
  if type(row) ~= "table" then fail("%s: a row is a table keyed by column (got %s)", op, type(row)) end
  if self.kind == "csv" and not self.columns then
    local keys = sorted_keys(row, "step")
    if #keys == 0 then fail("%s: the first row of %s is empty", op, self.path) end
    self:_set_columns(keys)
    self:_header()
  end
  if self.known then
    local unknown = {}
    for k in pairs(row) do
      if not self.known[k] then unknown[#unknown + 1] = "'" .. tostring(k) .. "'" end
    end
    if #unknown > 0 then
      table.sort(unknown)
      fail("%s: %s has no column%s %s (columns: %s)", op, self.path, #unknown > 1 and "s" or "",
           table.concat(unknown, ", "), table.concat(self.columns, ", "))
    end
  end
  local line
  if self.kind == "csv" then
    local cells = {}
    for i, c in ipairs(self.columns) do cells[i] = csv_cell(row[c], op, c) end
    line = table.concat(cells, ",")
  else
    local keys = self.columns or sorted_keys(row, "step")
    local parts = {}
    for _, k in ipairs(keys) do
      if row[k] ~= nil then parts[#parts + 1] = json_string(k) .. ":" .. json_value(row[k], op) end
    end
    line = "{" .. table.concat(parts, ",") .. "}"
  end
  self.f:write(line, "\n")
  self.f:flush()
  return self
end

function Writer:close()
  if self.f then
    self.f:close()
    self.f = nil
  end
end
Writer.__close = Writer.close
Writer.__gc = function(self) pcall(Writer.close, self) end
Writer.__tostring = function(self)
  return string.format("log.%s '%s'%s", self.kind, self.path, self.f and "" or " (closed)")
end

---------------------------------------------------------------------------------------------
-- reading CSV back

-- Fields of one record starting at line i of `lines`; a quoted field may span lines.
-- Returns the fields and the index of the record's last line.
local function record(lines, i)
  local line = lines[i]
  if not line:find('"', 1, true) then
    local out = {}
    for f in (line .. ","):gmatch("([^,]*),") do out[#out + 1] = f end
    return out, i
  end
  local out, pos, buf = {}, 1, nil
  while true do
    if line:sub(pos, pos) == '"' then
      local acc = {}
      pos = pos + 1
      while true do
        local q = line:find('"', pos, true)
        if not q then
          acc[#acc + 1] = line:sub(pos) .. "\n"
          i = i + 1
          if lines[i] == nil then fail("log.read_csv: unterminated quoted field") end
          line, pos = lines[i], 1
        elseif line:sub(q + 1, q + 1) == '"' then
          acc[#acc + 1] = line:sub(pos, q)
          pos = q + 2
        else
          acc[#acc + 1] = line:sub(pos, q - 1)
          pos = q + 1
          break
        end
      end
      buf = table.concat(acc)
      local nxt = line:find(",", pos, true)
      out[#out + 1] = buf
      if not nxt then return out, i end
      pos = nxt + 1
    else
      local nxt = line:find(",", pos, true)
      out[#out + 1] = line:sub(pos, (nxt or 0) - 1)
      if not nxt then return out, i end
      pos = nxt + 1
    end
  end
end

local SPECIAL = {nan = 0 / 0, ["-nan"] = 0 / 0, NaN = 0 / 0, inf = math.huge, ["-inf"] = -math.huge,
                 Inf = math.huge, ["-Inf"] = -math.huge, ["+inf"] = math.huge}

-- log.read_csv(path) -> columns (name -> array), names (in file order), comments (the text of
-- the "#" lines). A column whose non-empty cells are all numbers comes back as numbers, with
-- empty cells as NaN; any other column as strings.
function M.read_csv(path)
  local op = "log.read_csv"
  if type(path) ~= "string" then fail("%s: path must be a file name", op) end
  local f, err = io.open(path, "r")
  if not f then fail("%s: cannot open %s: %s", op, path, tostring(err)) end
  local text = f:read("a")
  f:close()
  local lines = {}
  for l in text:gmatch("([^\n]*)\n?") do lines[#lines + 1] = l:gsub("\r$", "") end
  local comments, names, rows = {}, nil, {}
  local i = 1
  while i <= #lines do
    local l = lines[i]
    if l:sub(1, 1) == "#" then
      comments[#comments + 1] = l:gsub("^#%s?", "")
    elseif l ~= "" then
      local fields, last = record(lines, i)
      if not names then
        names = fields
      else
        if #fields > #names then
          fail("%s: %s line %d has %d fields, the header has %d", op, path, i, #fields, #names)
        end
        rows[#rows + 1] = fields
      end
      i = last
    end
    i = i + 1
  end
  if not names then fail("%s: %s has no header row", op, path) end
  local cols = {}
  for c, name in ipairs(names) do
    local col, numeric = {}, true
    for r, fields in ipairs(rows) do
      local cell = fields[c] or ""
      col[r] = cell
      if cell ~= "" and not tonumber(cell) and not SPECIAL[cell] then numeric = false end
    end
    if numeric then
      for r, cell in ipairs(col) do
        if cell == "" then col[r] = 0 / 0 else col[r] = tonumber(cell) or SPECIAL[cell] end
      end
    end
    cols[name] = col
  end
  return cols, names, comments
end

M._help = {
  csv = "log.csv(path, {columns = {...}}) -- a CSV log writer: w:write{step = 1, loss = 0.3}, " ..
        "w:close() (or local w <close> = ...); the first line records script, args, seed, version",
  jsonl = "log.jsonl(path, {columns = {...}}) -- a JSON-lines log writer, first line {\"entro\": {...}}",
  read_csv = "log.read_csv(path) -> columns by name, names in order, comment lines",
  write = "w:write(row) -- append a row (a table keyed by column) and flush it",
  close = "w:close() -- close the log (also done by <close> and the garbage collector)",
}

return M
