-- util.lua -- small helpers the Lua modules share (plot, log, progress, diag).
local M = {}

-- Raises a formatted message without position information (the message names the op).
function M.fail(fmt, ...) error(string.format(fmt, ...), 0) end

-- A field of the `entro` table (seed, version, quiet, clock), or nil outside entro.
function M.entro_field(k)
  local e = rawget(_G, "entro")
  if type(e) ~= "table" then e = package.loaded["entro"] end
  if type(e) == "table" then return e[k] end
  return nil
end

-- Whether v is an entro tensor (false when the tensor module is not loaded).
function M.is_tensor(v)
  local T = package.loaded["entro.tensor"] or rawget(_G, "tensor")
  return type(T) == "table" and T.is_tensor ~= nil and T.is_tensor(v) == true
end

-- opts itself when it is a table, {} for nil; anything else is an error naming op.
function M.options(op, opts)
  if opts == nil then return {} end
  if type(opts) ~= "table" or M.is_tensor(opts) then
    M.fail("%s: options must be a table, got %s", op, M.is_tensor(opts) and "a tensor" or type(opts))
  end
  return opts
end

-- Refuses what is not an nn module (a table with a parameters method).
function M.check_module(op, net, what)
  if type(net) ~= "table" or type(net.parameters) ~= "function" then
    M.fail("%s: %s must be an nn module, got %s", op, what or "net",
           M.is_tensor(net) and "a tensor" or type(net))
  end
  return net
end

-- Refuses options that are not keys of `known` (a set); returns opts, or {} for nil.
function M.check_options(op, opts, known)
  opts = M.options(op, opts)
  for k in pairs(opts) do
    if not known[k] then
      local names = {}
      for name in pairs(known) do names[#names + 1] = tostring(name) end
      table.sort(names)
      M.fail("%s: unknown option '%s' (known: %s)", op, tostring(k), table.concat(names, ", "))
    end
  end
  return opts
end

return M
