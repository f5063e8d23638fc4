-- The Lua test runner: runs every test file given on the command line (or every
-- tests/lua/test_*.lua and tests/claims/*.lua) and ends with "N passed, N failed".
-- Each file sees the globals plus: test(name, fn), ok(cond, msg), eq(a, b, msg),
-- near(a, b, tol, msg), raises(fn, pattern) and skip(reason).
local passed, failed, skipped = 0, 0, 0
local failures = {}

local function fmt(v)
  if type(v) == "table" then
    local parts = {}
    for i, x in ipairs(v) do parts[i] = fmt(x) end
    return "{" .. table.concat(parts, ", ") .. "}"
  end
  return tostring(v)
end

local function deep_eq(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) ~= "table" then return a == b end
  for k, v in pairs(a) do if not deep_eq(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

local H = {}
function H.ok(cond, msg)
  if not cond then error(msg or "check failed", 2) end
end
function H.eq(a, b, msg)
  if not deep_eq(a, b) then
    error(string.format("%sexpected %s, got %s", msg and (msg .. ": ") or "", fmt(b), fmt(a)), 2)
  end
end
-- near(a, b, tol): numbers, or tensors (max absolute difference), or arrays of numbers;
-- tol is relative to max(1, |b|).
function H.near(a, b, tol, msg)
  tol = tol or 1e-12
  local function num(x)
    if type(x) == "number" then return {x} end
    if type(x) == "table" then return x end
    return x:contiguous():view(-1):totable()
  end
  local A, B = num(a), num(b)
  if #A ~= #B then error(string.format("%ssizes differ: %d vs %d", msg and (msg .. ": ") or "", #A, #B), 2) end
  for i = 1, #A do
    local scale = math.max(1, math.abs(B[i]))
    if not (math.abs(A[i] - B[i]) <= tol * scale) then
      error(string.format("%selement %d: %.17g vs %.17g (tol %g)", msg and (msg .. ": ") or "", i, A[i], B[i], tol), 2)
    end
  end
end
function H.raises(fn, pattern)
  local okk, err = pcall(fn)
  if okk then error("expected an error" .. (pattern and (" matching '" .. pattern .. "'") or ""), 2) end
  err = tostring(err)
  if pattern and not err:find(pattern, 1, true) then
    error(string.format("error '%s' does not contain '%s'", err, pattern), 2)
  end
  return err
end
-- f() with entro's thread count set to n, restored afterwards even when f raises
function H.with_threads(n, f)
  local before = entro.blas().threads
  entro.set_threads(n)
  local okk, r = pcall(f)
  entro.set_threads(before)
  if not okk then error(r, 0) end
  return r
end

local Skip = {}
function H.skip(reason) error(setmetatable({reason = reason}, Skip), 2) end

local current_file
function H.test(name, fn)
  local okk, err = xpcall(fn, function(e)
    if getmetatable(e) == Skip then return e end
    return debug.traceback(tostring(e), 2)
  end)
  if okk then
    passed = passed + 1
  elseif getmetatable(err) == Skip then
    skipped = skipped + 1
    io.write(string.format("skip %s: %s (%s)\n", current_file, name, err.reason))
  else
    failed = failed + 1
    failures[#failures + 1] = string.format("FAIL %s: %s\n  %s", current_file, name, err)
    io.write(failures[#failures], "\n")
  end
  io.flush()
end

local files = {}
for i = 1, #arg do files[#files + 1] = arg[i] end
if #files == 0 then
  for _, pat in ipairs{"tests/lua/test_*.lua", "tests/claims/*.lua"} do
    local p = io.popen("ls " .. pat .. " 2>/dev/null")
    for f in p:lines() do files[#files + 1] = f end
    p:close()
  end
end

for _, f in ipairs(files) do
  current_file = f
  local env = setmetatable({}, {__index = function(_, k)
    local v = H[k]; if v ~= nil then return v end; return _G[k]
  end})
  local chunk, err = loadfile(f, "t", env)
  local t0 = os.clock()
  if not chunk then
    failed = failed + 1
    io.write("FAIL ", f, ": cannot load: ", err, "\n")
  else
    local okk, e = xpcall(chunk, debug.traceback)
    if not okk then
      failed = failed + 1
      io.write("FAIL ", f, ": error outside a test: ", tostring(e), "\n")
    end
  end
  io.write(string.format("-- %s (%.2fs cpu)\n", f, os.clock() - t0))
end
io.write(string.format("%d passed, %d failed%s\n", passed, failed,
  skipped > 0 and string.format(", %d skipped", skipped) or ""))
io.stdout:flush()   -- before exit: a sanitizer's leak report ends the process unflushed
os.exit(failed == 0 and 0 or 1)
