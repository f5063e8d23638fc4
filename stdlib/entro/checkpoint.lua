-- checkpoint.lua -- entro.checkpoint and entro.restore: everything a training run needs to
-- continue where it stopped, in one file.
--
--   entro.checkpoint("run/ckpt", {net = net, opt = opt, rng = g, step = step, loader = ld,
--                                 monitor = mon, extra = {best = best}})
--   local step, extra = entro.restore("run/ckpt", {net = net, opt = opt, rng = g, loader = ld,
--                                                  monitor = mon})
--   local saved = entro.restore("run/ckpt")      -- the saved table itself, to inspect
--
-- What is saved: the parameters (net:state_dict()), the optimizer's buffers, step counts and
-- generator states (opt:state_dict()), the state of each generator given as rng (one, or a
-- table of them by name or position), the default generator's state, the loader's position
-- (ld:state()), the monitor's rows, the step, and `extra` (any value tensor.save takes).
-- Restoring into objects puts all of it back, the default generator included, so the run
-- continues bitwise as if it had never stopped; a monitor writing a CSV log gets its rows
-- rewritten there. Everything is checked first, and a restore that fails half-way puts back
-- what it had changed, so an error leaves the objects as they were. A monitor's running
-- averages (the EMA behind "balance") are not part of it: they start afresh.
--
-- The file is tensor.save's format (a format version and a CRC-32 over everything), with a
-- checkpoint version inside; it is written to `path.tmp.<pid>` next to the target, fsynced
-- and renamed over it, so the previous checkpoint survives a crash or a kill at any moment
-- (a killed writer can leave its temporary file behind, never anything elsewhere). A
-- corrupt, truncated or foreign file is refused with an error that says which.
local tensor = require "entro.tensor"

local M = {}

local FORMAT = "entro.checkpoint"
local VERSION = 1
local SPEC = {net = true, opt = true, rng = true, step = true, loader = true, monitor = true,
              extra = true}
local INTO = {net = true, opt = true, rng = true, loader = true, monitor = true}

local function fail(op, fmt, ...) error(op .. ": " .. string.format(fmt, ...), 0) end

local function describe(v)
  if tensor.is_tensor(v) then return "a tensor" end
  if tensor.is_rng(v) then return "a generator" end
  local t = type(v)
  if t == "nil" then return "nil" end
  if t == "table" or t == "userdata" then
    local mt = getmetatable(v)
    local name = type(mt) == "table" and rawget(mt, "__name")
    if type(name) == "string" then return "a " .. name end
  end
  return (t:match("^[aeiou]") and "an " or "a ") .. t
end

local function names(set)
  local out = {}
  for k in pairs(set) do out[#out + 1] = k end
  table.sort(out)
  return table.concat(out, ", ")
end

-- Refuses keys other than those in `known` (a typo would otherwise save or restore nothing).
local function check_keys(op, t, known, what)
  for k in pairs(t) do
    if not known[k] then
      fail(op, "unknown %s '%s' (known: %s)", what, tostring(k), names(known))
    end
  end
end

local function has_method(v, name)
  if type(v) ~= "table" and type(v) ~= "userdata" then return false end
  local ok, f = pcall(function() return v[name] end)
  return ok and type(f) == "function"
end

local function is_monitor(v)
  return type(v) == "table" and has_method(v, "rows") and type(rawget(v, "list")) == "table"
    and type(rawget(v, "cols")) == "table"
end

---------------------------------------------------------------------------------------------
-- generators: one, or a table of them

local function rng_states(op, rng)
  if tensor.is_rng(rng) then return rng:state() end
  if type(rng) ~= "table" or next(rng) == nil then
    fail(op, "rng must be a generator or a table of generators, got %s", describe(rng))
  end
  local states = {}
  for k, g in pairs(rng) do
    if not tensor.is_rng(g) then
      fail(op, "rng[%s] must be a generator, got %s", tostring(k), describe(g))
    end
    states[k] = g:state()
  end
  return states
end

-- Checks that saved states fit the generators given; returns the pairs to set.
local function rng_pairs(op, rng, saved)
  if tensor.is_rng(rng) then
    if type(saved) ~= "string" then
      fail(op, "rng is one generator, but the checkpoint saved %s",
           type(saved) == "table" and "a table of generators" or describe(saved))
    end
    return {{rng, saved}}
  end
  rng_states(op, rng)   -- the same checks as when saving
  if type(saved) ~= "table" then
    fail(op, "rng is a table of generators, but the checkpoint saved %s",
         type(saved) == "string" and "one generator" or describe(saved))
  end
  local out = {}
  for k, g in pairs(rng) do
    if type(saved[k]) ~= "string" then fail(op, "the checkpoint has no state for rng[%s]", tostring(k)) end
    out[#out + 1] = {g, saved[k]}
  end
  for k in pairs(saved) do
    if rng[k] == nil then fail(op, "the checkpoint has a state for rng[%s], which was not given", tostring(k)) end
  end
  return out
end

---------------------------------------------------------------------------------------------
-- monitor rows (diag.monitor keeps them as a list of rows and as columns)

local function copy_rows(rows)
  local out = {}
  for i, row in ipairs(rows) do
    local r = {}
    for k, v in pairs(row) do r[k] = v end
    out[i] = r
  end
  return out
end

local function check_rows(op, rows)
  if type(rows) ~= "table" then fail(op, "the checkpoint's monitor rows are %s", describe(rows)) end
  for i, row in ipairs(rows) do
    if type(row) ~= "table" or math.type(row.step) ~= "integer" then
      fail(op, "the checkpoint's monitor row %d has no integer step", i)
    end
    for k, v in pairs(row) do
      if type(k) ~= "string" or type(v) ~= "number" then
        fail(op, "the checkpoint's monitor row %d holds %s at key %s", i, describe(v), tostring(k))
      end
    end
  end
end

-- Puts the rows into a monitor that has none, columns and CSV log included.
local function load_rows(mon, rows)
  local list, cols = {}, {}
  for i, row in ipairs(rows) do
    list[i] = row
    for k, v in pairs(row) do
      local col = cols[k]
      if not col then
        col = {}
        for j = 1, i - 1 do col[j] = 0 / 0 end   -- a column that appears late
        cols[k] = col
      end
      col[i] = v
    end
    for k, col in pairs(cols) do
      if row[k] == nil then col[i] = 0 / 0 end
    end
  end
  local w = rawget(mon, "writer")
  if w then for _, row in ipairs(list) do w:write(row) end end
  mon.list, mon.cols = list, cols
end

---------------------------------------------------------------------------------------------
-- entro.checkpoint(path, {net, opt, rng, step, loader, monitor, extra})

function M.checkpoint(path, spec)
  local op = "entro.checkpoint"
  if type(path) ~= "string" or path == "" then fail(op, "path must be a file name, got %s", describe(path)) end
  if type(spec) ~= "table" then
    fail(op, "expected a table like {net = net, opt = opt, rng = g, step = step}, got %s", describe(spec))
  end
  check_keys(op, spec, SPEC, "entry")
  local rec = {format = FORMAT, version = VERSION, default_rng = tensor.default_rng():state()}
  if spec.step ~= nil then
    if math.type(spec.step) ~= "integer" or spec.step < 0 then
      fail(op, "step must be a non-negative integer, got %s", tostring(spec.step))
    end
    rec.step = spec.step
  end
  if spec.net ~= nil then
    if not has_method(spec.net, "state_dict") then
      fail(op, "net must be an nn module, got %s", describe(spec.net))
    end
    rec.net = spec.net:state_dict()
  end
  if spec.opt ~= nil then
    if not has_method(spec.opt, "state_dict") then
      fail(op, "opt must be an optimizer, got %s", describe(spec.opt))
    end
    rec.opt = spec.opt:state_dict()
  end
  if spec.rng ~= nil then rec.rng = rng_states(op, spec.rng) end
  if spec.loader ~= nil then
    if not has_method(spec.loader, "state") or not has_method(spec.loader, "set_state") then
      fail(op, "loader must be a data.loader, got %s", describe(spec.loader))
    end
    rec.loader = spec.loader:state()
  end
  if spec.monitor ~= nil then
    if not is_monitor(spec.monitor) then fail(op, "monitor must be a diag.monitor, got %s", describe(spec.monitor)) end
    rec.monitor = {rows = copy_rows(spec.monitor:rows())}
  end
  rec.extra = spec.extra
  local okk, err = pcall(tensor.save, path, rec)
  if not okk then error((tostring(err):gsub("^tensor%.save: ", op .. ": ")), 0) end
end

---------------------------------------------------------------------------------------------
-- entro.restore(path [, {net, opt, rng, loader, monitor}])

local function read(op, path)
  if type(path) ~= "string" or path == "" then fail(op, "path must be a file name, got %s", describe(path)) end
  local okk, rec = pcall(tensor.load, path)
  if not okk then error((tostring(rec):gsub("^tensor%.load: ", op .. ": ")), 0) end
  if type(rec) ~= "table" or rec.format ~= FORMAT then
    fail(op, "'%s' is an entro file but not a checkpoint (written by tensor.save?)", path)
  end
  if math.type(rec.version) ~= "integer" or rec.version < 1 then
    fail(op, "'%s' is corrupt (checkpoint version %s)", path, tostring(rec.version))
  end
  if rec.version > VERSION then
    fail(op, "'%s' was written by a newer entro (checkpoint version %d, this reads up to %d)",
         path, rec.version, VERSION)
  end
  return rec
end

-- What each object is now, to put back if a later part of the restore fails.
local function snapshot(into)
  local s = {}
  if into.net then
    s.net = {}
    for k, v in pairs(into.net:state_dict()) do s.net[k] = v:detach():clone() end
  end
  if into.opt then s.opt = into.opt:state_dict() end
  if into.loader then s.loader = into.loader:state() end
  s.default_rng = tensor.default_rng():state()
  return s
end

function M.restore(path, into)
  local op = "entro.restore"
  local rec = read(op, path)
  if into == nil then return rec end
  if type(into) ~= "table" then
    fail(op, "expected a table like {net = net, opt = opt, rng = g}, got %s", describe(into))
  end
  check_keys(op, into, INTO, "entry")
  local saved = {}
  for k in pairs(SPEC) do if rec[k] ~= nil then saved[k] = true end end
  for k in pairs(into) do
    if rec[k] == nil then
      fail(op, "'%s' has no %s (it holds: %s)", path, k, next(saved) and names(saved) or "nothing")
    end
  end

  -- everything that can be checked without changing anything
  if into.net and not (has_method(into.net, "state_dict") and has_method(into.net, "load_state_dict")) then
    fail(op, "net must be an nn module, got %s", describe(into.net))
  end
  if into.opt and not (has_method(into.opt, "state_dict") and has_method(into.opt, "load_state_dict")) then
    fail(op, "opt must be an optimizer, got %s", describe(into.opt))
  end
  if into.loader and not (has_method(into.loader, "state") and has_method(into.loader, "set_state")) then
    fail(op, "loader must be a data.loader, got %s", describe(into.loader))
  end
  local rngs = into.rng and rng_pairs(op, into.rng, rec.rng) or {}
  local mon = into.monitor
  if mon then
    if not is_monitor(mon) then fail(op, "monitor must be a diag.monitor, got %s", describe(mon)) end
    if #mon:rows() > 0 then
      fail(op, "the monitor already has %d rows; restore into a new one", #mon:rows())
    end
    if type(rec.monitor) ~= "table" then fail(op, "'%s' is corrupt (its monitor entry)", path) end
    check_rows(op, rec.monitor.rows)
  end
  if type(rec.default_rng) ~= "string" then fail(op, "'%s' is corrupt (no default generator state)", path) end

  -- then the changes, undone if one fails
  local before = snapshot(into)
  local rng_before = {}
  for i, p in ipairs(rngs) do rng_before[i] = p[1]:state() end
  local okk, err = pcall(function()
    if into.net then into.net:load_state_dict(rec.net) end
    if into.opt then into.opt:load_state_dict(rec.opt) end
    for _, p in ipairs(rngs) do p[1]:set_state(p[2]) end
    if into.loader then into.loader:set_state(rec.loader) end
    tensor.default_rng():set_state(rec.default_rng)
    if mon then load_rows(mon, copy_rows(rec.monitor.rows)) end
  end)
  if not okk then
    if before.net then into.net:load_state_dict(before.net) end
    if before.opt then into.opt:load_state_dict(before.opt) end
    for i, p in ipairs(rngs) do p[1]:set_state(rng_before[i]) end
    if before.loader then into.loader:set_state(before.loader) end
    tensor.default_rng():set_state(before.default_rng)
    err = tostring(err):gsub("^[^:]*:%d+: ", "")
    fail(op, "'%s' does not fit: %s", path, err)
  end
  return rec.step, rec.extra
end

M._help = {
  checkpoint = "entro.checkpoint(path, {net, opt, rng, step, loader, monitor, extra}) -- saves "
    .. "everything needed to continue a run (parameters, optimizer state, generator states, the "
    .. "loader's position, the monitor's rows), atomically, with a checksum",
  restore = "entro.restore(path [, {net, opt, rng, loader, monitor}]) -> step, extra (into "
    .. "objects) | the saved table (without them) -- continues a run from entro.checkpoint",
}

return M
