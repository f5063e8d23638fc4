-- gradcheck.lua -- tensor.gradcheck: analytic gradients against central differences.
--
-- tensor.gradcheck(f, inputs, {eps = 1e-6, tol = 1e-6, raise = false}) calls f(inputs...)
-- and compares tensor.grad's gradients with respect to every input that requires grad
-- against (f(x + eps) - f(x - eps)) / (2 eps), element by element. A non-scalar output is
-- reduced with fixed random weights, so every output element's gradient is exercised.
-- Returns ok, max_error, and a report string naming the worst element.
local tensor = require "entro.tensor"

local function gradcheck(f, inputs, opts)
  opts = require("entro.util").options("gradcheck", opts)
  local eps, tol = opts.eps or 1e-6, opts.tol or 1e-6
  if type(f) ~= "function" then error("gradcheck: f must be a function", 2) end
  if type(inputs) ~= "table" then error("gradcheck: inputs must be a list of tensors", 2) end
  local params = {}
  for i, x in ipairs(inputs) do
    if tensor.is_tensor(x) and x.needs_grad then
      if not x:is_contiguous() then
        error(string.format("gradcheck: input %d must be contiguous", i), 2)
      end
      params[#params + 1] = x
    end
  end
  if #params == 0 then error("gradcheck: no input requires grad", 2) end
  local weights
  local function scalar(out)
    if not tensor.is_tensor(out) then return out end
    if out:numel() == 1 then return out:sum() end
    if not weights then weights = tensor.rng(12345):uniform(0.5, 1.5, out:shape()) end
    return (out * weights):sum()
  end
  local grads = tensor.grad(function() return scalar(f(table.unpack(inputs))) end, params)
  local function value()
    return tensor.no_grad(function()
      local v = scalar(f(table.unpack(inputs)))
      return tensor.is_tensor(v) and v:item() or v
    end)
  end
  local worst, where = 0, "none"
  for k, x in ipairs(params) do
    local flat, g = x:view(-1), grads[k]:contiguous():view(-1)
    tensor.no_grad(function()
      for i = 1, flat:numel() do
        local v = flat:get(i)
        flat:set(i, v + eps)
        local fp = value()
        flat:set(i, v - eps)
        local fm = value()
        flat:set(i, v)
        local num, ana = (fp - fm) / (2 * eps), g:get(i)
        local err = math.abs(num - ana) / math.max(1, math.abs(num))
        if err > worst or err ~= err then
          worst = err
          where = string.format("input %d element %d: analytic %.12g, numeric %.12g", k, i, ana, num)
        end
      end
    end)
  end
  local ok = worst <= tol
  local report = string.format("max relative error %.3g (tol %g) at %s", worst, tol, where)
  if not ok and opts.raise then error("gradcheck failed: " .. report, 2) end
  return ok, worst, report
end

return gradcheck
