-- tests/fuzz/readers.lua -- every file reader of entro, driven from Lua on untrusted bytes:
-- tensor.loads / tensor.load (the entro format, also wrapped in a valid header and checksum
-- so the bytes reach the grammar), data.parse_idx / data.read_idx, data.read_csv (three ways)
-- and log.read_csv. Each outcome must be a well-formed value or a Lua error that names the
-- operation; anything else is returned as a finding.
--
--   local feed = dofile "tests/fuzz/readers.lua"
--   local findings = feed(bytes, path)          -- every reader; path holds the same bytes
--   local findings = feed(bytes, path, k)       -- reader k only (1 .. feed_count)
--
-- Used by the libFuzzer target tests/fuzz/target_lua.c (one reader per input, chosen by its
-- first byte) and by tests/lua/test_fuzz_api.lua (every corpus and regression file through
-- every reader).
local tensor = require "entro.tensor"
local data = require "entro.data"
local log = require "entro.log"

-- CRC-32 (zlib's polynomial), to give fuzzed payloads a header tensor.loads accepts.
local crc_table = {}
for i = 0, 255 do
  local c = i
  for _ = 1, 8 do c = (c & 1) ~= 0 and (0xEDB88320 ~ (c >> 1)) or (c >> 1) end
  crc_table[i] = c
end
local function crc32(s)
  local c = 0xFFFFFFFF
  for i = 1, #s do c = crc_table[(c ~ s:byte(i)) & 0xFF] ~ (c >> 8) end
  return c ~ 0xFFFFFFFF
end

-- The bytes as the payload of a well-formed entro file (format 1).
local function wrap(payload)
  local head = "ENTRO\0" .. string.pack("<I4I4I8", 1, 0, #payload)
  local body = head .. payload
  return body .. string.pack("<I4", crc32(body))
end

-- Walks a loaded value: every tensor is usable, every table can be traversed.
local function walk(v, seen, depth)
  if depth > 300 then return "nested deeper than the format allows" end
  if tensor.is_tensor(v) then
    local n = 1
    for _, s in ipairs(v:shape()) do n = n * s end
    if n ~= v:numel() then return "a tensor whose shape and numel disagree" end
    if v:numel() > 0 then
      local s = v:sum()
      if type(s) ~= "number" then return "a tensor whose sum is not a number" end
    end
    return nil
  end
  if type(v) == "table" then
    if seen[v] then return nil end
    seen[v] = true
    for k, x in pairs(v) do
      local why = walk(k, seen, depth + 1) or walk(x, seen, depth + 1)
      if why then return why end
    end
  end
  return nil
end

local function check_matrix(X, names)
  if not tensor.is_tensor(X) or X:dim() ~= 2 then return "read_csv did not return a matrix" end
  if names ~= nil then
    if type(names) ~= "table" then return "read_csv names are not a table" end
    if X:size(1) > 0 and #names ~= X:size(2) then return "read_csv names and columns disagree" end
  end
  return walk(X, {}, 0)
end

-- Each reader: its name (which an error must mention) and a call returning a finding or nil.
local readers = {
  {"tensor.loads", function(bytes) return walk(tensor.loads(wrap(bytes)), {}, 0) end},
  {"tensor.loads", function(bytes) return walk(tensor.loads(bytes), {}, 0) end},
  {"tensor.load", function(_, path) return walk(tensor.load(path), {}, 0) end},
  {"data.parse_idx", function(bytes) return walk(data.parse_idx(bytes), {}, 0) end},
  {"data.parse_idx", function(bytes) return walk(data.parse_idx(bytes, {n = #bytes % 3}), {}, 0) end},
  {"data.read_idx", function(_, path) return walk(data.read_idx(path), {}, 0) end},
  {"data.read_csv", function(_, path) return check_matrix(data.read_csv(path)) end},
  {"data.read_csv", function(_, path) return check_matrix(data.read_csv(path, {header = true})) end},
  {"data.read_csv", function(_, path) return check_matrix(data.read_csv(path, {header = false, sep = ";"})) end},
  {"log.read_csv", function(_, path)
    local cols, names = log.read_csv(path)
    if type(cols) ~= "table" or type(names) ~= "table" then return "log.read_csv returned no columns" end
    return nil
  end},
}

local M = {count = #readers}

-- Runs reader k (or all) on the bytes; returns a list of findings (empty when all is well).
function M.feed(bytes, path, k)
  local findings = {}
  for i = k or 1, k or #readers do
    local name, fn = readers[i][1], readers[i][2]
    local okk, why = pcall(fn, bytes, path)
    if okk and why then
      findings[#findings + 1] = string.format("%s (reader %d): %s", name, i, why)
    elseif not okk then
      if type(why) ~= "string" then
        findings[#findings + 1] = string.format("%s (reader %d): a %s as the error", name, i, type(why))
      elseif not why:find(name, 1, true) and not why:find("not enough memory", 1, true) then
        findings[#findings + 1] = string.format("%s (reader %d): an error that does not name it: %s",
                                                name, i, why)
      end
    end
  end
  return findings
end

M.wrap, M.crc32 = wrap, crc32
return M
