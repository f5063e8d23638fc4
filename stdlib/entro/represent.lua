-- represent.lua -- representation alignment (PAPER.md sections 3 and 5): CKA, kernel
-- alignment, mutual k-NN, CKNNA, SVCCA and orthogonal Procrustes over row-paired matrices
-- X (n x p) and Y (n x q); permutation nulls; every layer's activations; and the
-- layer-by-layer similarity of two networks (the Net A vs Net B heatmaps). diag re-exports
-- every field of this table.
--
-- The numerics are C (entro.metrics_c over bindings/core/metrics.c, on BLAS/LAPACK); this
-- file checks options, keeps the registry of metrics and arranges the calls. Every metric is
-- a function (X, Y, opts) -> number, so user metrics fit the same slots (register).
local tensor = require "entro.tensor"
local nn = require "entro.nn"
local C = require "entro.metrics_c"

local M = {}
local H = {}   -- help texts, merged into diag._help

------------------------------------------------------------------------------------------
-- argument checks

local function sorted_keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = tostring(k) end
  table.sort(ks)
  return ks
end

-- opts must be nil or a table whose keys are all in `known` (a set).
local function options(op, opts, known)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    error(string.format("%s: options must be a table, got %s", op, type(opts)), 3)
  end
  for k in pairs(opts) do
    if not known[k] then
      error(string.format("%s: unknown option '%s' (known: %s)", op, tostring(k),
                          table.concat(sorted_keys(known), ", ")), 3)
    end
  end
  return opts
end

local function matrix(op, what, v)
  if not tensor.is_tensor(v) then
    error(string.format("%s: %s must be a tensor (rows x features), got %s", op, what, type(v)), 3)
  end
end

local function integer(op, what, v, lo)
  if math.type(v) == "float" and v == math.floor(v) and v > -2^53 and v < 2^53 then
    v = math.tointeger(v)
  end
  if math.type(v) ~= "integer" or v < lo then
    error(string.format("%s: %s must be an integer >= %d, got %s", op, what, lo, tostring(v)), 3)
  end
  return v
end

local function choice(op, what, v, allowed)
  for _, a in ipairs(allowed) do if v == a then return v end end
  error(string.format("%s: %s must be one of %s, got %s", op, what,
                      table.concat(allowed, ", "), tostring(v)), 3)
end

------------------------------------------------------------------------------------------
-- metrics

-- cka(X, Y, {kernel = "linear"|"rbf", sigma, unbiased = false, method = "auto"})
function M.cka(X, Y, opts)
  opts = options("cka", opts, {kernel = true, sigma = true, unbiased = true, method = true})
  matrix("cka", "X", X); matrix("cka", "Y", Y)
  local kernel = choice("cka", "kernel", opts.kernel or "linear", {"linear", "rbf"})
  local unbiased = opts.unbiased and true or false
  if kernel == "linear" then
    if opts.sigma ~= nil then error("cka: sigma applies to kernel = 'rbf'", 2) end
    local method = choice("cka", "method", opts.method or "auto", {"auto", "feature", "gram"})
    return C.linear_cka(X, Y, true, unbiased, method, "cka")
  end
  if opts.method ~= nil then error("cka: method applies to kernel = 'linear'", 2) end
  local sx, sy
  if type(opts.sigma) == "table" then
    sx, sy = opts.sigma[1], opts.sigma[2]
  else
    sx, sy = opts.sigma, opts.sigma
  end
  for _, s in ipairs{sx or 1, sy or 1} do
    if type(s) ~= "number" then
      error("cka: sigma must be a number or a pair {sigma_x, sigma_y}, got " .. tostring(s), 2)
    end
  end
  sx = sx or C.median_distance(X, "cka", "X")
  sy = sy or C.median_distance(Y, "cka", "Y")
  return C.rbf_cka(X, Y, sx, sy, unbiased, "cka")
end
H.cka = "diag.cka(X, Y, {kernel = 'linear'|'rbf', sigma, unbiased = false, method = 'auto'|'feature'|'gram'}) -> linear CKA |Y_c^T X_c|_F^2 / (|X_c^T X_c|_F |Y_c^T Y_c|_F) of row-paired n x p and n x q matrices (1 for X vs XQ, cX, X + offsets). 'feature' works with p x q products, 'gram' with n x n kernels; 'auto' takes the cheaper (feature space when p + q <= n). kernel = 'rbf': exp(-|a-b|^2 / (2 sigma^2)), sigma a number or {sigma_x, sigma_y}, by default each side's median distance between rows. unbiased: Song et al. 2012's unbiased HSIC (can be slightly negative). NaN when a side has no variance."

function M.unbiased_cka(X, Y, opts)
  local o = {}
  for k, v in pairs(options("unbiased_cka", opts, {kernel = true, sigma = true, method = true})) do o[k] = v end
  o.unbiased = true
  return M.cka(X, Y, o)
end
H.unbiased_cka = "diag.unbiased_cka(X, Y, opts) -> diag.cka with unbiased = true"

-- kernel_alignment(X, Y, {method}): uncentred <K, L>_F / (|K|_F |L|_F), K = X X^T
function M.kernel_alignment(X, Y, opts)
  opts = options("kernel_alignment", opts, {method = true})
  matrix("kernel_alignment", "X", X); matrix("kernel_alignment", "Y", Y)
  local method = choice("kernel_alignment", "method", opts.method or "auto", {"auto", "feature", "gram"})
  return C.linear_cka(X, Y, false, false, method, "kernel_alignment")
end
H.kernel_alignment = "diag.kernel_alignment(X, Y, {method = 'auto'}) -> uncentred <K, L>_F / (|K|_F |L|_F) with K = X X^T, L = Y Y^T, computed as |X^T Y|_F^2 / (|X^T X|_F |Y^T Y|_F) in feature space; 1 iff K = cL"

-- mutual_knn(X, Y, {k = 10})
function M.mutual_knn(X, Y, opts)
  opts = options("mutual_knn", opts, {k = true})
  matrix("mutual_knn", "X", X); matrix("mutual_knn", "Y", Y)
  return C.mutual_knn(X, Y, integer("mutual_knn", "k", opts.k or 10, 1))
end
H.mutual_knn = "diag.mutual_knn(X, Y, {k = 10}) -> mean over rows i of |S_X(i) & S_Y(i)| / k (Huh et al. 2024): rows L2-normalised, S(i) the k nearest other rows by inner product (ties to the lower index); 1 for identical neighbourhoods, about k/(n-1) by chance"

-- cknna(X, Y, {k = 10, normalize = true})
function M.cknna(X, Y, opts)
  opts = options("cknna", opts, {k = true, normalize = true})
  matrix("cknna", "X", X); matrix("cknna", "Y", Y)
  return C.cknna(X, Y, integer("cknna", "k", opts.k or 10, 2), opts.normalize ~= false)
end
H.cknna = "diag.cknna(X, Y, {k = 10, normalize = true}) -> CKA restricted to mutual-kNN pairs, as the platonic-rep repository computes it (metrics.py, unbiased = True): K = X X^T, L = Y Y^T of the L2-normalised rows, M_ij = 1 when j is among the k nearest others of i in both, score = HSIC_u(M.K, M.L) / sqrt(HSIC_u(M_K.K, M_K.K) HSIC_u(M_L.L, M_L.L)) with Song et al.'s unbiased HSIC applied to the masked kernels exactly as their hsic_unbiased does. (The paper's appendix writes the same idea with explicitly row-centred kernels; this follows the code, whose numbers are the published ones.)"

-- svcca(X, Y, {dims = d | {dx, dy}, variance = f})
function M.svcca(X, Y, opts)
  opts = options("svcca", opts, {dims = true, variance = true})
  matrix("svcca", "X", X); matrix("svcca", "Y", Y)
  if opts.dims ~= nil and opts.variance ~= nil then
    error("svcca: give dims or variance, not both", 2)
  end
  if opts.variance ~= nil then
    local f = opts.variance
    if type(f) ~= "number" or not (f > 0 and f <= 1) then
      error("svcca: variance must be a fraction in (0, 1], got " .. tostring(f), 2)
    end
    local score, rho, dx, dy = C.svcca(X, Y, 1, 1, f)
    return score, {rho = rho, dims = {dx, dy}}
  end
  local dx, dy
  if type(opts.dims) == "table" then
    dx = integer("svcca", "dims[1]", opts.dims[1], 1)
    dy = integer("svcca", "dims[2]", opts.dims[2], 1)
  elseif opts.dims ~= nil then
    dx = integer("svcca", "dims", opts.dims, 1)
    dy = dx
  else
    local n = X:dim() == 2 and X:size(1) or 2
    dx = math.max(1, math.min(10, n - 1, X:dim() == 2 and X:size(2) or 1))
    dy = math.max(1, math.min(10, n - 1, Y:dim() == 2 and Y:size(2) or 1))
  end
  local score, rho, ux, uy = C.svcca(X, Y, dx, dy, 0)
  return score, {rho = rho, dims = {ux, uy}}
end
H.svcca = "diag.svcca(X, Y, {dims = d | {dx, dy}, variance = f}) -> mean canonical correlation, {rho = correlations (descending), dims = {dx, dy} used} (Raghu et al. 2017): each side's column-centred data cut to its top d left singular directions (default min(10, n - 1, features)), or to the fewest holding a fraction f of its variance, and to its numerical rank; then CCA, whose correlations are the singular values of U_X^T U_Y. 1 for X vs XA with A invertible at full dims. No per-feature standardisation."

-- procrustes(X, Y)
function M.procrustes(X, Y, opts)
  options("procrustes", opts, {})
  matrix("procrustes", "X", X); matrix("procrustes", "Y", Y)
  return C.procrustes(X, Y)
end
H.procrustes = "diag.procrustes(X, Y) -> orthogonal Procrustes similarity |X~^T Y~|_* (nuclear norm) = 1 - min_Q |X~ - Y~ Q|_F^2 / 2, with X~ = X_c / |X_c|_F (column-centred, unit Frobenius norm) and Q orthogonal (semi-orthogonal when p ~= q); in [0, 1], 1 iff X_c = c Y_c Q. The Procrustes distance is sqrt(2 - 2 score)."

-- knn(X, {k = 10, normalize = true}) -> n x k tensor of 1-based row indices
function M.knn(X, opts)
  opts = options("knn", opts, {k = true, normalize = true})
  matrix("knn", "X", X)
  return C.knn(X, integer("knn", "k", opts.k or 10, 1), opts.normalize ~= false)
end
H.knn = "diag.knn(X, {k = 10, normalize = true}) -> n x k tensor: row i holds the 1-based indices of the k nearest other rows by cosine similarity (inner product when normalize = false), best first, ties to the lower index"

------------------------------------------------------------------------------------------
-- registry

local registry = {}

-- register(name, fn, doc): fn(X, Y, opts) -> number; replaces a metric of the same name.
function M.register(name, fn, doc)
  if type(name) ~= "string" or name == "" then
    error("register: the name must be a non-empty string, got " .. tostring(name), 2)
  end
  if type(fn) ~= "function" then
    error(string.format("register: '%s' needs a function (X, Y, opts) -> number, got %s", name, type(fn)), 2)
  end
  if doc ~= nil and type(doc) ~= "string" then
    error(string.format("register: the doc of '%s' must be a string, got %s", name, type(doc)), 2)
  end
  registry[name] = {fn = fn, doc = doc or ""}
end
H.register = "diag.register(name, fn, doc) -- adds (or replaces) an alignment metric fn(X, Y, opts) -> number, usable by name in align, null and layer_similarity"

-- metrics() -> sorted names, name -> doc
function M.metrics()
  local names, docs = sorted_keys(registry), {}
  for _, k in ipairs(names) do docs[k] = registry[k].doc end
  return names, docs
end
H.metrics = "diag.metrics() -> the sorted names of the registered alignment metrics, and a name -> doc table"

local function resolve(op, metric)
  if type(metric) == "function" then return metric end
  local e = registry[metric]
  if not e then
    error(string.format("%s: unknown metric '%s' (known: %s)", op, tostring(metric),
                        table.concat(sorted_keys(registry), ", ")), 3)
  end
  return e.fn
end

-- align(metric, X, Y, opts): a metric by name (or a function)
function M.align(metric, X, Y, opts)
  return resolve("align", metric)(X, Y, opts)
end
H.align = "diag.align(metric, X, Y, opts) -> the named metric (see diag.metrics()) of X and Y; metric may also be a function (X, Y, opts)"

for _, name in ipairs{"cka", "unbiased_cka", "kernel_alignment", "mutual_knn", "cknna", "svcca",
                      "procrustes"} do
  M.register(name, M[name], H[name])
end

------------------------------------------------------------------------------------------
-- permutation null

-- Copies opts without the keys in drop.
local function without(opts, drop)
  local o = {}
  for k, v in pairs(opts or {}) do if not drop[k] then o[k] = v end end
  return next(o) and o or nil
end

-- null(metric, X, Y, {perms = 20, rng = g, <metric options>}) -> {mean, std, values}
function M.null(metric, X, Y, opts)
  if opts ~= nil and type(opts) ~= "table" then
    error("null: options must be a table, got " .. type(opts), 2)
  end
  local fn = resolve("null", metric)
  matrix("null", "X", X); matrix("null", "Y", Y)
  opts = opts or {}
  local perms = integer("null", "perms", opts.perms or 20, 2)
  local rng = opts.rng or tensor.default_rng()
  if not tensor.is_rng(rng) then error("null: rng must be a generator (tensor.rng(seed))", 2) end
  local mopts = without(opts, {perms = true, rng = true})
  Y = Y:detach()   -- the shuffles need no graph
  local n, values, sum = Y:size(1), {}, 0
  for i = 1, perms do
    local v = fn(X, Y:index_select(1, rng:perm(n)), mopts)
    if type(v) ~= "number" then error("null: the metric returned a " .. type(v) .. ", not a number", 2) end
    values[i] = v
    sum = sum + v
  end
  local mean, ss = sum / perms, 0
  for i = 1, perms do ss = ss + (values[i] - mean)^2 end
  return {mean = mean, std = math.sqrt(ss / (perms - 1)), values = values}
end
H.null = "diag.null(metric, X, Y, {perms = 20, rng = g, ...metric options}) -> {mean, std (sample), values}: the metric with the rows of Y shuffled, the chance level to show beside a score"

------------------------------------------------------------------------------------------
-- activations

local function is_a(m, cls)
  local mt = getmetatable(m)
  while mt do
    if mt == cls then return true end
    local up = getmetatable(mt)
    mt = up and type(up.__index) == "table" and up.__index or nil
  end
  return false
end

-- (n, ...) outputs as (n, features) matrices.
local function flatten(t, tokens)
  local d = t:dim()
  if d == 1 then return t:reshape(t:size(1), 1) end
  if d == 2 or tokens == "keep" then return t end
  local B, D = t:size(1), t:size(d)
  if tokens == "flatten" then return t:reshape(B, -1) end
  t = t:reshape(B, -1, D)
  if tokens == "mean" then return t:mean(2) end
  return t:select(2, t:size(2))   -- "last"
end

-- activations(net, X, {tokens = "flatten"}) -> list {{name, module, output}}, name -> output
function M.activations(net, X, opts)
  opts = options("activations", opts, {tokens = true})
  if not nn.is_module(net) then error("activations: expected a module, got " .. type(net), 2) end
  local tokens = choice("activations", "tokens", opts.tokens or "flatten",
                        {"flatten", "mean", "last", "keep"})
  local entries = {}
  local function walk(m, prefix)
    for k, c in m:named_children() do
      local name = prefix and (prefix .. "." .. tostring(k)) or tostring(k)
      entries[#entries + 1] = {name = name, module = c}
      walk(c, name)
    end
  end
  walk(net, nil)
  -- wrap every forward to record its output; restore the originals whatever happens
  local outputs, own = {}, {}
  for i, e in ipairs(entries) do
    local m, name = e.module, e.name
    own[i] = rawget(m, "forward")
    local forward = m.forward
    rawset(m, "forward", function(self, ...)
      local y = forward(self, ...)
      outputs[name] = y
      return y
    end)
  end
  local ok, err = pcall(tensor.no_grad, function() return net(X) end)
  for i = #entries, 1, -1 do rawset(entries[i].module, "forward", own[i]) end
  if not ok then error(err, 0) end
  local list, map = {}, {}
  for _, e in ipairs(entries) do
    local y = outputs[e.name]
    if tensor.is_tensor(y) then
      y = flatten(y, tokens)
      list[#list + 1] = {name = e.name, module = e.module, output = y}
      map[e.name] = y
    end
  end
  return list, map
end
H.activations = "diag.activations(net, X, {tokens = 'flatten'|'mean'|'last'|'keep'}) -> list {{name, module, output}, ...} in module order, and name -> output: every submodule's output for the batch X from one forward pass under no_grad (forward methods wrapped, restored even on error). Names are dotted paths below net ('layers.1'). Outputs become (n, features): 3-D (B, T, D) by default flattened to (B, T*D); 'mean' averages the tokens, 'last' takes the last one, 'keep' leaves shapes alone. A module run twice keeps its last output."

------------------------------------------------------------------------------------------
-- layer similarity

local activation_classes = {"ReLU", "Tanh", "Sigmoid", "GELU", "Softplus", "LeakyReLU", "Identity"}

-- The default ("hidden") layers: each TransformerBlock's attn and mlp sub-blocks; else the
-- activation modules (an MLP's hidden layers); else the weight layers (a deep linear net).
local function hidden(acts)
  local names, known = {}, {}
  for _, a in ipairs(acts) do known[a.name] = true end
  for _, a in ipairs(acts) do
    if is_a(a.module, nn.TransformerBlock) then
      for _, sub in ipairs{"attn", "mlp"} do
        if known[a.name .. "." .. sub] then names[#names + 1] = a.name .. "." .. sub end
      end
    end
  end
  if #names > 0 then return names end
  for _, a in ipairs(acts) do
    for _, c in ipairs(activation_classes) do
      if nn[c] and is_a(a.module, nn[c]) then names[#names + 1] = a.name; break end
    end
  end
  if #names > 0 then return names end
  for _, a in ipairs(acts) do
    if a.module.is_layer and rawget(a.module, "weight") then names[#names + 1] = a.name end
  end
  return names
end

local function select_layers(which, acts, map, spec)
  local all = {}
  for _, a in ipairs(acts) do all[#all + 1] = a.name end
  if spec == nil or spec == "hidden" then
    local names = hidden(acts)
    if #names == 0 then
      error(string.format("layer_similarity: net %s has no hidden layers to compare; pass layers", which), 3)
    end
    return names
  end
  if spec == "all" then return all end
  if type(spec) == "function" then
    local names = {}
    for _, a in ipairs(acts) do if spec(a.name, a.module) then names[#names + 1] = a.name end end
    return names
  end
  if type(spec) ~= "table" then
    error("layer_similarity: layers must be 'hidden', 'all', a list of names or a function, got " .. tostring(spec), 3)
  end
  local names = {}
  for i, name in ipairs(spec) do
    if type(name) ~= "string" then
      error(string.format("layer_similarity: layer %d of net %s must be a name, got %s", i, which, type(name)), 3)
    end
    name = name:gsub("^net%.", "")
    if not map[name] then
      error(string.format("layer_similarity: net %s has no layer output '%s' (known: %s)", which, name,
                          table.concat(all, ", ")), 3)
    end
    names[#names + 1] = name
  end
  return names
end

-- layer_similarity(netA, netB, XA, XB, {metric = "cka", layers, layers_b, tokens, ...})
--   -> matrix (#rows x #cols tensor), row names (A's layers), column names (B's layers)
function M.layer_similarity(netA, netB, XA, XB, opts)
  if opts ~= nil and type(opts) ~= "table" then
    error("layer_similarity: options must be a table, got " .. type(opts), 2)
  end
  opts = opts or {}
  local fn = resolve("layer_similarity", opts.metric or "cka")
  local mopts = without(opts, {metric = true, layers = true, layers_b = true, tokens = true})
  XB = XB or XA
  local acts_a, map_a = M.activations(netA, XA, {tokens = opts.tokens})
  local acts_b, map_b = M.activations(netB, XB, {tokens = opts.tokens})
  local rows = select_layers("A", acts_a, map_a, opts.layers)
  local b_spec = opts.layers_b
  if b_spec == nil then b_spec = opts.layers end
  local cols = select_layers("B", acts_b, map_b, b_spec)
  local S = tensor.zeros(#rows, #cols)
  for i, ra in ipairs(rows) do
    for j, cb in ipairs(cols) do
      local ok, v = pcall(fn, map_a[ra], map_b[cb], mopts)
      if not ok then
        error(string.format("layer_similarity: A's '%s' vs B's '%s': %s", ra, cb, tostring(v)), 2)
      end
      S:set(i, j, v)
    end
  end
  return S, rows, cols
end
H.layer_similarity = "diag.layer_similarity(netA, netB, XA, XB, {metric = 'cka', layers = 'hidden'|'all'|{names}|fn(name, module), layers_b, tokens, ...metric options}) -> S (rows = A's layers, cols = B's), row names, column names: the metric for every pair of layer outputs (XB defaults to XA). 'hidden': each TransformerBlock's attn and mlp outputs; else each activation's output (an MLP's hidden layers); else each weight layer's output (deep_linear)."

M._help = H
return M
