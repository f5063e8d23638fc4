-- progress: a one-line progress report on stderr for long loops.
--
--   local p = progress.new{total = steps, label = "train"}
--   for step = 1, steps do ... p:update(step, {loss = loss}) end
--   p:done()
--
-- The line (label, step/total, percent, steps/s, ETA and the given numbers) is redrawn in place
-- with \r at most ten times a second, so update() may be called every step. It is drawn only
-- when stderr is a terminal (the shell's `test -t 2`, asked once) and entro.quiet is not set;
-- otherwise update() and done() do nothing. Time comes from entro.clock (wall seconds) when the
-- host provides it, else os.clock() (processor time, which runs fast under multithreaded BLAS).
local M = {}
local util = require "entro.util"
local fail, entro_field, is_tensor = util.fail, util.entro_field, util.is_tensor



local tty
-- progress.enabled() -> whether progress lines are drawn (stderr a terminal, not quiet)
function M.enabled()
  if entro_field("quiet") then return false end
  if tty == nil then tty = os.execute("test -t 2") == true end
  return tty
end

local function default_clock()
  local c = entro_field("clock")
  if type(c) == "function" then return c() end
  return os.clock()
end

local function duration(s)
  if s ~= s or s == math.huge then return "?" end
  s = math.floor(s + 0.5)
  if s < 60 then return s .. "s" end
  if s < 3600 then return string.format("%dm%02ds", s // 60, s % 60) end
  return string.format("%dh%02dm", s // 3600, (s % 3600) // 60)
end

local function value(v)
  local T = package.loaded["entro.tensor"] or rawget(_G, "tensor")
  if type(T) == "table" and T.is_tensor and T.is_tensor(v) and v:numel() == 1 then
    v = v:totable()
    while type(v) == "table" do v = v[1] end
  end
  if type(v) == "number" then
    if math.type(v) == "integer" then return tostring(v) end
    return string.format("%.4g", v)
  end
  return tostring(v)
end

local P = {}
P.__index = P

local OPTS = {total = true, label = true, stream = true, enabled = true, clock = true, interval = true}

-- progress.new{total, label, interval = 0.1, stream = io.stderr, enabled, clock}
-- (stream, enabled and clock are for tests and special uses)
function M.new(opts)
  opts = opts or {}
  if type(opts) ~= "table" then fail("progress.new: options must be a table") end
  for k in pairs(opts) do
    if not OPTS[k] then fail("progress.new: unknown option '%s'", tostring(k)) end
  end
  if opts.total ~= nil and (type(opts.total) ~= "number" or opts.total < 0) then
    fail("progress.new: total must be a non-negative number")
  end
  local self = setmetatable({
    total = opts.total, label = opts.label and tostring(opts.label) or "progress",
    stream = opts.stream or io.stderr, clock = opts.clock or default_clock,
    interval = opts.interval or 0.1, step = 0, vals = nil, last = -math.huge, width = 0,
  }, P)
  if opts.enabled ~= nil then self.active = opts.enabled else self.active = M.enabled() end
  self.t0 = self.clock()
  return self
end

local function extras(vals)
  if not vals then return "" end
  local keys = {}
  for k in pairs(vals) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  local parts = {}
  for i, k in ipairs(keys) do parts[i] = k .. "=" .. value(vals[k]) end
  return #parts > 0 and ("  " .. table.concat(parts, " ")) or ""
end

function P:_draw(line, final)
  -- \27[K clears what a longer previous line left behind
  self.stream:write("\r", line, "\27[K", final and "\n" or "")
  if self.stream.flush then self.stream:flush() end
end

-- p:update(step [, vals]) -- record progress; redraws at most every `interval` seconds
function P:update(step, vals)
  if not self.active or self.finished then return self end
  if type(step) ~= "number" then fail("progress.update: step must be a number (got %s)", type(step)) end
  self.step, self.vals = step, vals or self.vals
  local now = self.clock()
  if now - self.last < self.interval then return self end
  self.last = now
  local elapsed = now - self.t0
  local rate = elapsed >= self.interval and step / elapsed or nil   -- too early to tell
  local s = self.label .. "  " .. (self.total and (step .. "/" .. self.total) or tostring(step))
  if self.total and self.total > 0 then
    s = s .. string.format("  %3d%%", math.floor(100 * step / self.total))
  end
  if rate then
    s = s .. string.format("  %.4g steps/s", rate)
    if self.total then s = s .. "  ETA " .. duration((self.total - step) / rate) end
  end
  self:_draw(s .. extras(self.vals), false)
  return self
end

-- p:done() -- draw the final line (steps, time, rate) and end it with a newline
function P:done()
  if not self.active or self.finished then return self end
  self.finished = true
  local elapsed = self.clock() - self.t0
  local s = string.format("%s  %s steps in %s", self.label, tostring(self.step), duration(elapsed))
  if elapsed > 0 then s = s .. string.format(" (%.4g steps/s)", self.step / elapsed) end
  self:_draw(s .. extras(self.vals), true)
  return self
end

M._help = {
  new = "progress.new{total = n, label = 'train'} -- a progress line on stderr (terminal only)",
  update = "p:update(step, {loss = 0.3}) -- report progress; cheap enough for every step",
  done = "p:done() -- finish the line with the total time and rate",
  enabled = "progress.enabled() -- true when progress lines are drawn (stderr a terminal, not --quiet)",
}

return M
