-- data: what experiments train on -- minibatch loaders, synthetic data from teachers and
-- mixtures, Fashion-MNIST and other IDX files, and CSV in and out.
--
--   local g = tensor.rng(7)
--   local X, Y, T = data.teacher{n = 2048, din = 20, dout = 1, noise = 0.5, rng = g}
--   local loader = data.loader(X, Y, {batch = 32, steps = 10000, rng = g})
--   for step, xb, yb in loader do
--     local loss = nn.mse(net(xb), yb)
--     ...
--     loader:report{loss = loss}      -- shown on the progress line
--   end
--
-- Samples are the rows (first dimension) of X and Y. Everything random takes a generator
-- (`rng = g`, default: tensor.default_rng()), so a run is a function of its seeds.
-- Labels of classification data are 1-based class numbers held as doubles.
local tensor = require "entro.tensor"
local C = require "entro.data_c"
local progress = require "entro.progress"
local util = require "entro.util"

local M = {}
local is_tensor = tensor.is_tensor
local check_options = util.check_options

local fail = util.fail

-- Calls a C function, dropping the "data.lua:NN:" position its errors would carry: the
-- message names the operation and the file already.
local function ccall(f, ...)
  local okk, r = pcall(f, ...)
  if not okk then error((tostring(r):gsub("^[^\n]-data%.lua:%d+: ", "", 1)), 0) end
  return r
end

local function shape_str(t)
  local s = t:shape()
  if #s == 0 then return "scalar" end
  for i = 1, #s do s[i] = tostring(s[i]) end
  return table.concat(s, "x")
end

local function show(v)
  if type(v) == "string" then return string.format("%q", v) end
  if is_tensor(v) then return "a tensor of shape " .. shape_str(v) end
  return tostring(v)
end

local function is_int(v)
  if math.type(v) == "integer" then return true end
  return type(v) == "number" and math.abs(v) < 2^53 and v == math.floor(v)
end

-- An integer option >= min; `default` when nil (or an error when default is nil).
local function int_opt(op, name, v, min, default)
  if v == nil then
    if default == nil then fail("%s: option %s (an integer >= %d) is required", op, name, min) end
    return default
  end
  if not is_int(v) or v < min then fail("%s: %s must be an integer >= %d, got %s", op, name, min, show(v)) end
  return math.tointeger(v)
end

local function num_opt(op, name, v, min, default)
  if v == nil then return default end
  if type(v) ~= "number" or not (v >= min) or v == math.huge then
    fail("%s: %s must be a finite number >= %g, got %s", op, name, min, show(v))
  end
  return v
end

local function bool_opt(op, name, v, default)
  if v == nil then return default end
  if type(v) ~= "boolean" then fail("%s: %s must be true or false, got %s", op, name, show(v)) end
  return v
end

local function rng_opt(op, v)
  if v == nil then return tensor.default_rng() end
  if not tensor.is_rng(v) then fail("%s: rng must be a generator (tensor.rng(seed)), got %s", op, show(v)) end
  return v
end

---------------------------------------------------------------------------------------------
-- Minibatch loader

local Loader = {}
Loader.__index = Loader

local LOADER_OPTS = {batch = true, steps = true, epochs = true, shuffle = true, replacement = true,
                     drop_last = true, rng = true, label_noise = true, progress = true, label = true}

-- A buffer shaped like t with `rows` rows.
local function rows_like(t, rows)
  local s = t:shape()
  s[1] = rows
  return tensor.empty(s)
end

-- data.loader(X [, Y], opts) -> loader, nil, nil, loader
--
-- The loader is the iterator of a generic for: `for step, xb, yb in data.loader(...) do`.
-- Steps count from 1 over the whole run, across epochs. Options:
--   batch        samples per batch (required)
--   steps | epochs   how long to run (default: one epoch); an epoch is ceil(n / batch)
--                batches, floor(n / batch) with drop_last
--   shuffle      true (default): a fresh random permutation per epoch; false: in order
--   replacement  true: every batch is `batch` samples drawn i.i.d. uniformly (default false)
--   drop_last    without replacement, skip an epoch's last, smaller batch (default false)
--   rng          the generator for permutations, draws and label noise
--   label_noise  sigma: yb is a copy of the batch's targets plus fresh N(0, sigma^2) noise
--   progress     false: never draw a progress line; label: its label (default "data")
--
-- Batches in order are views of X and Y (no copy). Shuffled batches are gathered into buffers
-- the loader reuses, so xb and yb are valid until the next step: clone them to keep them.
-- The progress line (terminal only, not with entro.quiet) shows steps/s, the ETA and what
-- loader:report{...} last received. Returning the loader also as the for loop's closing value
-- ends that line when the loop is left early.
function M.loader(X, Y, opts)
  local op = "data.loader"
  if opts == nil and type(Y) == "table" and not is_tensor(Y) then Y, opts = nil, Y end
  if not is_tensor(X) then fail("%s: X must be a tensor, got %s", op, show(X)) end
  if X:dim() < 1 then fail("%s: X is a scalar; its first dimension must index the samples", op) end
  if Y ~= nil and not is_tensor(Y) then fail("%s: Y must be a tensor or nil, got %s", op, show(Y)) end
  local n = X:size(1)
  if Y and (Y:dim() < 1 or Y:size(1) ~= n) then
    fail("%s: X has %d samples (shape %s) but Y has %d (shape %s)", op, n, shape_str(X),
         Y:dim() < 1 and 0 or Y:size(1), shape_str(Y))
  end
  if n == 0 then fail("%s: X holds no samples (shape %s)", op, shape_str(X)) end
  opts = check_options(op, opts, LOADER_OPTS)
  local B = int_opt(op, "batch", opts.batch, 1)
  local replacement = bool_opt(op, "replacement", opts.replacement, false)
  local shuffle = bool_opt(op, "shuffle", opts.shuffle, true)
  local drop_last = bool_opt(op, "drop_last", opts.drop_last, false)
  if replacement and not shuffle then
    fail("%s: replacement = true draws random batches; it cannot be combined with shuffle = false", op)
  end
  if B > n and not replacement then
    fail("%s: batch %d is larger than the data (%d samples); use a smaller batch or replacement = true",
         op, B, n)
  end
  local per_epoch = drop_last and n // B or (n + B - 1) // B
  if per_epoch < 1 then per_epoch = 1 end   -- with replacement and batch > n
  if opts.steps ~= nil and opts.epochs ~= nil then fail("%s: give steps or epochs, not both", op) end
  local steps
  if opts.steps ~= nil then steps = int_opt(op, "steps", opts.steps, 0)
  else steps = int_opt(op, "epochs", opts.epochs, 0, 1) * per_epoch end
  local sigma = num_opt(op, "label_noise", opts.label_noise, 0, 0)
  if sigma > 0 and not Y then fail("%s: label_noise needs targets Y", op) end
  if opts.progress ~= nil and type(opts.progress) ~= "boolean" then
    fail("%s: progress must be true or false, got %s", op, show(opts.progress))
  end
  local random = shuffle or replacement
  local self = setmetatable({
    X = random and X:contiguous() or X, Y = Y and (random and Y:contiguous() or Y), n = n,
    batch = B, steps = steps, per_epoch = per_epoch, shuffle = shuffle, replacement = replacement,
    drop_last = drop_last, rng = rng_opt(op, opts.rng), label_noise = sigma,
    show_progress = opts.progress ~= false, label = opts.label and tostring(opts.label) or "data",
    step = 0, epoch = 1, batch_in_epoch = 0, perm = nil, vals = nil, bar = nil,
  }, Loader)
  if random then
    self.bx = rows_like(self.X, B)
    self.by = Y and rows_like(self.Y, B)
  end
  if sigma > 0 then self.bn = rows_like(Y, B) end
  return self, nil, nil, self
end

-- The rows of buffer buf for a batch of len samples.
local function head(buf, len, B)
  if len == B then return buf end
  return buf:narrow(1, 1, len)
end

-- One step: returns step, xb, yb, or nil when the run is over.
function Loader:__call()
  if self.step >= self.steps then
    self:finish()
    return nil
  end
  if self.step == 0 and not self.bar and self.show_progress then
    self.bar = progress.new{total = self.steps, label = self.label}
  end
  if self.batch_in_epoch == self.per_epoch then
    self.epoch, self.batch_in_epoch, self.perm = self.epoch + 1, 0, nil
  end
  local B, xb, yb = self.batch, nil, nil
  if self.replacement then
    local idx = self.rng:randint(1, self.n, B)
    xb = C.gather(self.bx, self.X, idx, "data.loader")
    yb = self.Y and C.gather(self.by, self.Y, idx, "data.loader")
  else
    local start = self.batch_in_epoch * B + 1
    local len = math.min(B, self.n - start + 1)
    if self.shuffle then
      if not self.perm then self.perm = self.rng:perm(self.n) end
      local idx = self.perm:narrow(1, start, len)
      xb = C.gather(head(self.bx, len, B), self.X, idx, "data.loader")
      yb = self.Y and C.gather(head(self.by, len, B), self.Y, idx, "data.loader")
    else
      xb = self.X:narrow(1, start, len)
      yb = self.Y and self.Y:narrow(1, start, len)
    end
  end
  if self.label_noise > 0 then
    local noisy = head(self.bn, yb:size(1), B)
    self.rng:normal_(noisy, 0, self.label_noise)
    yb = noisy:add_(yb)
  end
  self.batch_in_epoch = self.batch_in_epoch + 1
  self.step = self.step + 1
  if self.bar then self.bar:update(self.step, self.vals) end
  return self.step, xb, yb
end

-- loader:report{loss = l, ...} -- numbers (or one-element tensors) for the progress line
function Loader:report(vals)
  if type(vals) ~= "table" or is_tensor(vals) then
    fail("loader:report: expected a table like {loss = l}, got %s", show(vals))
  end
  self.vals = vals
  return self
end

-- loader:finish() -- ends the progress line (also done when the run ends or the loop is left)
function Loader:finish()
  if self.bar then self.bar:done() end
  return self
end
Loader.__close = Loader.finish

-- loader:state() -> a plain table: where the loader is (for checkpoints)
function Loader:state()
  local perm
  if self.perm then
    perm = self.perm:totable()
    for i = 1, #perm do perm[i] = math.tointeger(perm[i]) end
  end
  return {step = self.step, epoch = self.epoch, batch_in_epoch = self.batch_in_epoch,
          n = self.n, batch = self.batch, perm = perm, rng = self.rng:state()}
end

-- loader:set_state(s) -- continue from a state(): the next step is s.step + 1, with the same
-- batches (and the generator's state restored) as the run that saved it
function Loader:set_state(s)
  local op = "loader:set_state"
  if type(s) ~= "table" then fail("%s: expected a table from loader:state(), got %s", op, show(s)) end
  if s.n ~= self.n or s.batch ~= self.batch then
    fail("%s: the state is for %s samples in batches of %s; this loader has %d in batches of %d",
         op, tostring(s.n), tostring(s.batch), self.n, self.batch)
  end
  local step = int_opt(op, "step", s.step, 0)
  if step > self.steps then
    fail("%s: the state is at step %d, beyond this loader's %d steps", op, step, self.steps)
  end
  local epoch = int_opt(op, "epoch", s.epoch, 1)
  local bie = int_opt(op, "batch_in_epoch", s.batch_in_epoch, 0)
  if bie > self.per_epoch then
    fail("%s: batch_in_epoch %d exceeds the %d batches of an epoch", op, bie, self.per_epoch)
  end
  local perm
  if s.perm ~= nil then
    if type(s.perm) ~= "table" or #s.perm ~= self.n then
      fail("%s: perm must be a permutation of 1..%d", op, self.n)
    end
    local seen = {}
    for i = 1, self.n do
      local v = s.perm[i]
      if not is_int(v) or v < 1 or v > self.n or seen[v] then
        fail("%s: perm must be a permutation of 1..%d (entry %d is %s)", op, self.n, i, show(v))
      end
      seen[v] = true
    end
    perm = tensor.tensor(s.perm)
  end
  if type(s.rng) ~= "string" then
    fail("%s: rng must be a generator state string, got %s", op, show(s.rng))
  end
  local okk, err = pcall(self.rng.set_state, self.rng, s.rng)
  if not okk then fail("%s: %s", op, tostring(err)) end
  self.step, self.epoch, self.batch_in_epoch, self.perm = step, epoch, bie, perm
  return self
end

function Loader:__tostring()
  return string.format("data.loader: %d samples, batch %d, step %d of %d, epoch %d%s", self.n,
                       self.batch, self.step, self.steps, self.epoch,
                       self.replacement and ", with replacement" or (self.shuffle and ", shuffled" or ""))
end

---------------------------------------------------------------------------------------------
-- Covariances

local function diag(v)
  local d = v:size(1)
  return tensor.eye(d) * v:view(1, d)
end

-- data.power_law_cov(d, alpha) -> d x d diagonal covariance with eigenvalues i^-alpha
function M.power_law_cov(d, alpha)
  local op = "data.power_law_cov"
  d = int_opt(op, "d", d, 1)
  if type(alpha) ~= "number" or alpha ~= alpha or math.abs(alpha) == math.huge then
    fail("%s: alpha must be a finite number, got %s", op, show(alpha))
  end
  return diag(tensor.arange(1, d + 1):pow(-alpha))
end

-- Reads a covariance option for vectors of size d: nil (the identity), a number (isotropic
-- variance), a vector or Lua array of variances, a d x d symmetric PSD matrix, or
-- {power_law = alpha}. Returns the d x d matrix and a function mapping N(0, I) rows to rows
-- with that covariance.
local function covariance(op, name, v, d)
  local vars
  if v == nil then
    return tensor.eye(d), function(z) return z end
  elseif type(v) == "number" then
    vars = tensor.full({d}, num_opt(op, name, v, 0))
  elseif is_tensor(v) and v:dim() == 2 then
    if v:size(1) ~= d or v:size(2) ~= d then
      fail("%s: %s must be %dx%d, got %s", op, name, d, d, shape_str(v))
    end
    local scale = math.max(1, v:abs():max())
    if not ((v - v:t()):abs():max() <= 1e-12 * scale) then fail("%s: %s is not symmetric", op, name) end
    local okk, half = pcall(tensor.linalg.sqrtm, v)
    if not okk then fail("%s: %s is not a covariance: %s", op, name, tostring(half)) end
    return v:clone(), function(z) return z:matmul(half) end
  elseif is_tensor(v) and v:dim() == 1 then
    if v:size(1) ~= d then fail("%s: %s holds %d variances, expected %d", op, name, v:size(1), d) end
    vars = v:clone()
  elseif type(v) == "table" and v.power_law ~= nil then
    check_options(op .. " " .. name, v, {power_law = true})
    return covariance(op, name, M.power_law_cov(d, v.power_law), d)
  elseif type(v) == "table" and not is_tensor(v) then
    if #v ~= d then fail("%s: %s holds %d variances, expected %d", op, name, #v, d) end
    for i = 1, d do
      if type(v[i]) ~= "number" then fail("%s: %s[%d] is %s, not a number", op, name, i, show(v[i])) end
    end
    vars = tensor.tensor(v)
  else
    fail("%s: %s must be a number, a vector of variances, a %dx%d matrix or {power_law = alpha}, got %s",
         op, name, d, d, show(v))
  end
  if not (vars:min() >= 0) or vars:max() == math.huge then
    fail("%s: %s has a variance that is negative, infinite or NaN", op, name)
  end
  local sd = vars:sqrt():view(1, d)
  return diag(vars), function(z) return z * sd end
end

---------------------------------------------------------------------------------------------
-- Teachers

local ACTS = {relu = true, tanh = true, sigmoid = true, gelu = true, softplus = true, linear = false}

local Teacher = {}
Teacher.__index = Teacher

-- T:forward(x) -> the teacher's noise-free outputs for inputs x (B x din)
function Teacher:forward(x)
  local h, L = x, #self.W
  for l = 1, L do
    h = tensor.linear(h, self.W[l])
    if l < L and ACTS[self.act] then h = h[self.act](h) end
  end
  return h
end

-- T:sample(B [, rng]) -> fresh inputs x (B x din) and noisy targets y (B x dout)
function Teacher:sample(B, rng)
  B = int_opt("teacher:sample", "B", B, 1)
  rng = rng and rng_opt("teacher:sample", rng) or self.rng
  local x = self.input(rng:randn(B, self.din))
  local y = self:forward(x)
  if self.noise > 0 then y:add_(rng:randn(B, self.dout):mul_(self.noise)) end
  return x, y
end

local TEACHER_OPTS = {n = true, din = true, dout = true, hidden = true, act = true, noise = true,
                      rng = true, input_cov = true}

-- data.teacher{n, din, dout = 1, hidden = {32}, act = "relu", noise = 0, input_cov, rng}
--   -> X (n x din), Y (n x dout), T
-- A random bias-free MLP teacher, He-initialised (weights N(0, 2/fan_in), the output layer
-- N(0, 1/fan_in)), inputs N(0, input_cov), targets its outputs plus N(0, noise^2) noise.
-- T = {W = {W1, ...} (out x in), act, noise, din, dout}, with T:forward(x) and T:sample(B)
-- for fresh samples; the weights are plain tensors that no gradient reaches.
function M.teacher(opts)
  local op = "data.teacher"
  if opts == nil then fail("%s: expected an options table {n = ..., din = ...}", op) end
  opts = check_options(op, opts, TEACHER_OPTS)
  local n = int_opt(op, "n", opts.n, 1)
  local din = int_opt(op, "din", opts.din, 1)
  local dout = int_opt(op, "dout", opts.dout, 1, 1)
  local hidden = opts.hidden == nil and {32} or opts.hidden
  if type(hidden) ~= "table" or is_tensor(hidden) then
    fail("%s: hidden must be a table of layer widths, got %s", op, show(hidden))
  end
  local act = opts.act == nil and "relu" or opts.act
  if ACTS[act] == nil then
    fail("%s: unknown act %s (relu, tanh, sigmoid, gelu, softplus or linear)", op, show(act))
  end
  local rng = rng_opt(op, opts.rng)
  local sizes = {din}
  for i, w in ipairs(hidden) do sizes[#sizes + 1] = int_opt(op, "hidden[" .. i .. "]", w, 1) end
  sizes[#sizes + 1] = dout
  local _, input = covariance(op, "input_cov", opts.input_cov, din)
  local W = {}
  for l = 1, #sizes - 1 do
    local gain = l < #sizes - 1 and 2 or 1
    W[l] = rng:randn(sizes[l + 1], sizes[l]):mul_(math.sqrt(gain / sizes[l]))
  end
  local T = setmetatable({W = W, act = act, noise = num_opt(op, "noise", opts.noise, 0, 0),
                          din = din, dout = dout, input = input, rng = rng}, Teacher)
  local X, Y = T:sample(n)
  return X, Y, T
end

-- A random invertible d x d matrix U diag(s) W^T: U, W Haar orthogonal, s log-uniform in
-- [1/2, 2], so it is well conditioned (cond <= 4) but not orthogonal.
local function random_view(d, rng)
  local function orthogonal()
    local Q, R = tensor.linalg.qr(rng:randn(d, d))
    local signs = {}
    for i = 1, d do signs[i] = R:get(i, i) < 0 and -1 or 1 end
    return Q * tensor.tensor(signs):view(1, d)
  end
  local U, W = orthogonal(), orthogonal()
  local s = rng:uniform(-math.log(2), math.log(2), d):exp()
  return (U * s:view(1, d)):matmul(W:t())
end

local LinearTeacher = {}
LinearTeacher.__index = LinearTeacher

-- lt:sample(B [, rng]) -> x (B x din), y = x V^T + noise (B x dout), views {x Z1^T, ...}
function LinearTeacher:sample(B, rng)
  B = int_opt("linear_teacher:sample", "B", B, 1)
  rng = rng and rng_opt("linear_teacher:sample", rng) or self.rng
  local x = self._input(rng:randn(B, self.din))
  local y = x:matmul(self._Vt):add_(self._noise(rng:randn(B, self.dout)))
  local views = {}
  for i, Zt in ipairs(self._Zt) do views[i] = x:matmul(Zt) end
  return x, y, views
end

local LT_OPTS = {n = true, din = true, dout = true, V = true, input_cov = true, noise_cov = true,
                 views = true, rng = true}

-- data.linear_teacher{n, din, dout, V, input_cov, noise_cov, views = k, rng} -> lt
-- Linear regression data y = V x + eps, x ~ N(0, input_cov), eps ~ N(0, noise_cov), seen
-- through k random invertible views x_i = Z_i x (PAPER.md section 3). V (dout x din) is
-- N(0, 1/din) unless given; covariances as in `covariance` above (default: identities);
-- views a count or a table of din x din matrices. lt holds X, Y, views = {X Z1^T, ...}
-- (n samples; none when n is 0 or absent), Z, V, input_cov, noise_cov (matrices), din, dout,
-- and lt:sample(B) gives fresh x, y, views at every call.
function M.linear_teacher(opts)
  local op = "data.linear_teacher"
  if opts == nil then fail("%s: expected an options table {din = ..., dout = ...}", op) end
  opts = check_options(op, opts, LT_OPTS)
  local rng = rng_opt(op, opts.rng)
  local n = int_opt(op, "n", opts.n, 0, 0)
  local V, din, dout = opts.V, nil, nil
  if V ~= nil then
    if not is_tensor(V) or V:dim() ~= 2 then
      fail("%s: V must be a dout x din matrix, got %s", op, show(V))
    end
    din, dout = V:size(2), V:size(1)
    if (opts.din and opts.din ~= din) or (opts.dout and opts.dout ~= dout) then
      fail("%s: V is %s but din = %s, dout = %s", op, shape_str(V), tostring(opts.din), tostring(opts.dout))
    end
    V = V:clone()
  else
    din = int_opt(op, "din", opts.din, 1)
    dout = int_opt(op, "dout", opts.dout, 1)
    V = rng:randn(dout, din):mul_(1 / math.sqrt(din))
  end
  local Sx, input = covariance(op, "input_cov", opts.input_cov, din)
  local Se, noise = covariance(op, "noise_cov", opts.noise_cov, dout)
  local Z = {}
  if type(opts.views) == "table" and not is_tensor(opts.views) then
    for i, z in ipairs(opts.views) do
      if not is_tensor(z) or z:dim() ~= 2 or z:size(1) ~= din or z:size(2) ~= din then
        fail("%s: views[%d] must be a %dx%d matrix, got %s", op, i, din, din, show(z))
      end
      local sign = tensor.linalg.slogdet(z)
      if sign == 0 then fail("%s: views[%d] is singular", op, i) end
      Z[i] = z:clone()
    end
  else
    for i = 1, int_opt(op, "views", opts.views, 0, 0) do Z[i] = random_view(din, rng) end
  end
  local Zt = {}
  for i, z in ipairs(Z) do Zt[i] = z:t():contiguous() end
  local lt = setmetatable({V = V, Z = Z, input_cov = Sx, noise_cov = Se, din = din, dout = dout,
                           rng = rng, _input = input, _noise = noise, _Vt = V:t():contiguous(),
                           _Zt = Zt}, LinearTeacher)
  if n > 0 then lt.X, lt.Y, lt.views = lt:sample(n) end
  return lt
end

local GM_OPTS = {n = true, classes = true, dim = true, sep = true, class_weights = true, rng = true}

-- data.gaussian_mixture{n, classes, dim, sep = 3, class_weights, rng} -> X, Y, info
-- Class k's mean is a random direction of length sep; its samples add N(0, I) noise, so sep
-- is the distance of each mean from the origin in noise standard deviations. Class sizes are
-- n * class_weights[k] / sum (rounded to sum to n; default: equal), in random order.
-- Y holds 1-based labels; info = {means = classes x dim, counts = {...}}.
function M.gaussian_mixture(opts)
  local op = "data.gaussian_mixture"
  if opts == nil then fail("%s: expected an options table {n = ..., classes = ..., dim = ...}", op) end
  opts = check_options(op, opts, GM_OPTS)
  local n = int_opt(op, "n", opts.n, 1)
  local K = int_opt(op, "classes", opts.classes, 1)
  local dim = int_opt(op, "dim", opts.dim, 1)
  local sep = num_opt(op, "sep", opts.sep, 0, 3)
  local rng = rng_opt(op, opts.rng)
  local w = opts.class_weights
  if w == nil then
    w = {}
    for k = 1, K do w[k] = 1 end
  elseif type(w) ~= "table" or #w ~= K then
    fail("%s: class_weights must be a table of %d numbers, got %s", op, K, show(w))
  end
  local total = 0
  for k = 1, K do
    if type(w[k]) ~= "number" or not (w[k] >= 0) or w[k] == math.huge then
      fail("%s: class_weights[%d] = %s is not a weight (a finite number >= 0)", op, k, show(w[k]))
    end
    total = total + w[k]
  end
  if not (total > 0) then fail("%s: class_weights are all zero", op) end
  -- largest remainder: floor the exact shares, then hand out what is left by fraction
  local counts, order, given = {}, {}, 0
  for k = 1, K do
    counts[k] = math.floor(n * w[k] / total)
    given = given + counts[k]
    order[k] = k
  end
  table.sort(order, function(a, b)
    local fa, fb = n * w[a] / total - counts[a], n * w[b] / total - counts[b]
    if fa ~= fb then return fa > fb end
    return a < b
  end)
  for i = 1, n - given do counts[order[i]] = counts[order[i]] + 1 end
  local labels, pos = {}, 0
  local perm = rng:perm(n):totable()
  for k = 1, K do
    for _ = 1, counts[k] do
      pos = pos + 1
      labels[perm[pos]] = k
    end
  end
  local means = rng:randn(K, dim)
  local norms = means:square():sum(2):sqrt():view(K, 1)
  means = means / norms * sep
  local Y = tensor.tensor(labels)
  local X = means:index_select(1, Y):add_(rng:randn(n, dim))
  return X, Y, {means = means, counts = counts}
end

---------------------------------------------------------------------------------------------
-- Files

-- data.read_idx(path, {n}) -> a tensor of the file's shape (gzip or plain IDX); n keeps the
-- first n entries of the first dimension
function M.read_idx(path, opts)
  local op = "data.read_idx"
  if type(path) ~= "string" then fail("%s: path must be a string, got %s", op, show(path)) end
  opts = check_options(op, opts, {n = true})
  return ccall(C.read_idx, path, opts.n and int_opt(op, "n", opts.n, 0), 1, op)
end

-- data.parse_idx(bytes, {n}) -> a tensor, from the bytes of an (uncompressed) IDX file
function M.parse_idx(bytes, opts)
  local op = "data.parse_idx"
  if type(bytes) ~= "string" then fail("%s: expected a string of bytes, got %s", op, show(bytes)) end
  opts = check_options(op, opts, {n = true})
  return ccall(C.parse_idx, bytes, opts.n and int_opt(op, "n", opts.n, 0), 1, op)
end

M.FASHION_MNIST_CLASSES = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                           "Shirt", "Sneaker", "Bag", "Ankle boot"}
M.FASHION_MNIST_PATH = "/usr/share/datasets/fashion-mnist"

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- data.fashion_mnist{split = "train" | "test", path = dir, n} -> X (n x 784, in [0, 1]),
-- Y (1-based labels 1..10, see data.FASHION_MNIST_CLASSES). path (default: Debian's
-- dataset-fashion-mnist) may hold any copy in the MNIST layout: {train,t10k}-{images-idx3,
-- labels-idx1}-ubyte, gzipped or not; n reads only the first n samples.
function M.fashion_mnist(opts)
  local op = "data.fashion_mnist"
  opts = check_options(op, opts, {split = true, path = true, n = true})
  local split = opts.split or "train"
  local prefix = ({train = "train", test = "t10k"})[split]
  if not prefix then fail("%s: split must be \"train\" or \"test\", got %s", op, show(split)) end
  local dir = opts.path or M.FASHION_MNIST_PATH
  if type(dir) ~= "string" then fail("%s: path must be a directory name, got %s", op, show(dir)) end
  local n = opts.n and int_opt(op, "n", opts.n, 0)
  local function find(stem)
    for _, name in ipairs{stem .. ".gz", stem} do
      local p = dir .. "/" .. name
      if exists(p) then return p end
    end
    fail("%s: no %s(.gz) in '%s'%s", op, stem, dir, opts.path and ""
         or " (install Debian's dataset-fashion-mnist, or pass path = a directory in the MNIST layout)")
  end
  local ipath, lpath = find(prefix .. "-images-idx3-ubyte"), find(prefix .. "-labels-idx1-ubyte")
  local images = ccall(C.read_idx, ipath, n, 255, op)
  local labels = ccall(C.read_idx, lpath, n, 1, op)
  if images:dim() ~= 3 then fail("%s: '%s' holds a %s array, not images", op, ipath, shape_str(images)) end
  if labels:dim() ~= 1 then fail("%s: '%s' holds a %s array, not labels", op, lpath, shape_str(labels)) end
  if images:size(1) ~= labels:size(1) then
    fail("%s: '%s' holds %d images but '%s' holds %d labels", op, ipath, images:size(1), lpath,
         labels:size(1))
  end
  local N = images:size(1)
  return images:view(N, images:size(2) * images:size(3)), labels:add_(1)
end

local SPECIAL = {nan = 0 / 0, ["-nan"] = 0 / 0, inf = math.huge, ["+inf"] = math.huge,
                 ["-inf"] = -math.huge, infinity = math.huge, ["-infinity"] = -math.huge}

local function split_line(line, sep)
  local fields, start = {}, 1
  while true do
    local i = string.find(line, sep, start, true)
    if not i then
      fields[#fields + 1] = line:sub(start)
      return fields
    end
    fields[#fields + 1] = line:sub(start, i - 1)
    start = i + #sep
  end
end

local function check_sep(op, sep)
  if type(sep) ~= "string" or sep == "" then
    fail("%s: sep must be a non-empty string, got %s", op, show(sep))
  end
end

local function csv_number(s)
  local v = tonumber(s)
  if v then return v end
  return SPECIAL[s:match("^%s*(.-)%s*$"):lower()]
end

-- data.read_csv(path, {header, sep = ","}) -> X (rows x columns), names (or nil)
-- header: true (the first line names the columns), false (all lines are numbers), or absent
-- (a header when the first line has a field that is not a number). Blank lines are skipped;
-- nan and inf are read; quoting is not supported.
function M.read_csv(path, opts)
  local op = "data.read_csv"
  if type(path) ~= "string" then fail("%s: path must be a string, got %s", op, show(path)) end
  opts = check_options(op, opts, {header = true, sep = true})
  local header = opts.header
  if header ~= nil and type(header) ~= "boolean" then
    fail("%s: header must be true or false, got %s", op, show(header))
  end
  local sep = opts.sep or ","
  check_sep(op, sep)
  local f, err = io.open(path, "rb")
  if not f then fail("%s: cannot open %s", op, err) end
  local text, rerr = f:read("a")
  f:close()
  if not text then fail("%s: cannot read '%s': %s", op, path, tostring(rerr)) end
  local rows, names, ncol, lineno = {}, nil, nil, 0
  for line in (text .. "\n"):gmatch("(.-)\r?\n") do
    lineno = lineno + 1
    if line:find("%S") then
      local fields = split_line(line, sep)
      if not names and #rows == 0 then
        local is_header = header
        if is_header == nil then
          is_header = false
          for _, s in ipairs(fields) do if not csv_number(s) then is_header = true end end
        end
        if is_header then
          names = {}
          for i, s in ipairs(fields) do names[i] = s:match("^%s*\"?(.-)\"?%s*$") end
          ncol = #names
          goto continue
        end
      end
      if ncol and #fields ~= ncol then
        fail("%s: '%s' line %d has %d fields, expected %d", op, path, lineno, #fields, ncol)
      end
      ncol = #fields
      local row = {}
      for j, s in ipairs(fields) do
        local v = csv_number(s)
        if not v then fail("%s: '%s' line %d, column %d: %q is not a number", op, path, lineno, j, s) end
        row[j] = v
      end
      rows[#rows + 1] = row
    end
    ::continue::
  end
  if #rows == 0 then return tensor.zeros(0, ncol or 0), names end
  return tensor.tensor(rows), names
end

local function csv_format(v)
  if v ~= v then return "nan" end
  if v == math.huge then return "inf" end
  if v == -math.huge then return "-inf" end
  if v == 0 and 1 / v < 0 then return "-0" end
  if v == math.floor(v) and math.abs(v) < 2^53 then return string.format("%d", v) end
  return string.format("%.17g", v)
end

-- data.write_csv(path, X, {header = {names...}, sep = ","}) -- X a vector (one column) or a
-- matrix; numbers are written exactly (17 significant digits)
function M.write_csv(path, X, opts)
  local op = "data.write_csv"
  if type(path) ~= "string" then fail("%s: path must be a string, got %s", op, show(path)) end
  if not is_tensor(X) or X:dim() < 1 or X:dim() > 2 then
    fail("%s: X must be a vector or a matrix, got %s", op, show(X))
  end
  opts = check_options(op, opts, {header = true, sep = true})
  local sep = opts.sep or ","
  check_sep(op, sep)
  local M2 = X:dim() == 1 and X:view(X:size(1), 1) or X
  local ncol = M2:size(2)
  local lines = {}
  if opts.header ~= nil then
    local h = opts.header
    if type(h) ~= "table" or #h ~= ncol then
      fail("%s: header must be a table of %d column names, got %s", op, ncol, show(h))
    end
    local names = {}
    for i = 1, ncol do names[i] = tostring(h[i]) end
    lines[1] = table.concat(names, sep)
  end
  local rows = M2:totable()
  for _, row in ipairs(rows) do
    for j = 1, ncol do row[j] = csv_format(row[j]) end
    lines[#lines + 1] = table.concat(row, sep)
  end
  local f, err = io.open(path, "wb")
  if not f then fail("%s: cannot open %s", op, err) end
  local okk, werr = f:write(table.concat(lines, "\n"), "\n")
  local cok, cerr = f:close()
  if not okk or not cok then fail("%s: cannot write '%s': %s", op, path, tostring(werr or cerr)) end
end

M._help = {
  loader = "data.loader(X, Y, {batch = 32, steps = n | epochs = k, shuffle = true, replacement = false, "
    .. "drop_last = false, rng = g, label_noise = sigma}) -- `for step, xb, yb in ...`; "
    .. "loader:report{loss = l}, loader:state(), loader:set_state(s)",
  teacher = "data.teacher{n, din, dout = 1, hidden = {32}, act = 'relu', noise = 0, input_cov, rng} "
    .. "-> X, Y, T -- a random MLP teacher; T:sample(B) gives fresh samples",
  linear_teacher = "data.linear_teacher{n, din, dout, V, input_cov, noise_cov, views = k, rng} -> lt "
    .. "-- y = Vx + eps seen through k invertible views; lt:sample(B) -> x, y, views",
  gaussian_mixture = "data.gaussian_mixture{n, classes, dim, sep = 3, class_weights, rng} -> X, Y, info",
  power_law_cov = "data.power_law_cov(d, alpha) -> d x d diagonal covariance, eigenvalues i^-alpha",
  fashion_mnist = "data.fashion_mnist{split = 'train' | 'test', path = dir, n} -> X (n x 784 in [0, 1]), "
    .. "Y (labels 1..10)",
  read_idx = "data.read_idx(path, {n}) -> tensor of an IDX file (gzip or plain)",
  parse_idx = "data.parse_idx(bytes, {n}) -> tensor of IDX bytes held in a string",
  read_csv = "data.read_csv(path, {header, sep = ','}) -> X, names",
  write_csv = "data.write_csv(path, X, {header = {...}, sep = ','})",
}

return M
