-- help.lua -- help(x): a short doc for any public function or module.
--
--   help()                  an overview: the modules and how to ask
--   help(tensor.zeros)      one function, found by identity (x.matmul, g.randn alike)
--   help("tensor.zeros")    the same by name; help("zeros") finds it by its last part
--   help(plot)              a module: its functions with one-line summaries
--   help(x)                 a tensor, a generator or an object: what it is and its methods
--
-- The docs of the C tensor module, its methods, the generators and the entro table are here
-- (a binding may add docs for new tensor functions in tensor._help). Every other module
-- documents itself with a `_help` table of "signature -- summary" strings
-- (`plot._help = {figure = "plot.figure{...} -- a new figure"}`), as may any table inside
-- it (tensor.linalg, nn.init). The registry that maps values and names to docs is built on
-- the first call and rebuilt whenever a module has been loaded since.
--
-- help.text(x) returns what help(x) prints, and whether a doc was found; help.refresh()
-- rebuilds the registry (it notices newly loaded modules by itself, not new docs).
local help = {}

local WIDTH = 92

---------------------------------------------------------------------------------------------
-- The tensor module: module functions and tensor methods share one entry when they share a
-- name (tensor.exp(x) is x:exp()). In-place forms x:op_() are derived from x:op unless given.

local CATEGORIES = {
  {"Creating", {"zeros", "ones", "empty", "full", "zeros_like", "ones_like", "full_like", "eye",
                "arange", "linspace", "tensor", "is_tensor"}},
  {"Random", {"rand", "randn", "normal", "uniform", "randint", "bernoulli", "perm", "rng",
              "default_rng", "manual_seed", "is_rng"}},
  {"Shape and access", {"shape", "size", "stride", "dim", "numel", "nelement", "is_contiguous",
                        "get", "set", "item", "totable", "storage_offset", "same_storage"}},
  {"Views and copies", {"narrow", "select", "t", "transpose", "permute", "view", "reshape",
                        "expand", "expand_as", "squeeze", "unsqueeze", "flatten", "contiguous",
                        "clone", "copy", "fill", "close", "detach"}},
  {"Arithmetic", {"add", "sub", "mul", "div", "pow", "maximum", "minimum", "atan2", "fmod",
                  "affine", "axpy_", "where"}},
  {"Comparisons", {"eq", "ne", "lt", "le", "gt", "ge", "isnan"}},
  {"Elementwise math", {"neg", "exp", "log", "sqrt", "abs", "sign", "tanh", "sigmoid", "relu",
                        "sin", "cos", "floor", "ceil", "round", "reciprocal", "square", "log1p",
                        "expm1", "softplus", "gelu", "leaky_relu", "clamp"}},
  {"Reductions", {"sum", "mean", "prod", "max", "min", "argmax", "argmin", "var", "std",
                  "norm", "logsumexp", "cumsum"}},
  {"Products", {"matmul", "dot", "outer"}},
  {"Indexing and joining", {"index_select", "gather", "scatter_add_", "masked_select", "cat",
                            "stack"}},
  {"Autograd", {"requires_grad", "backward", "zero_grad", "grad", "no_grad", "enable_grad",
                "is_grad_enabled", "set_grad_enabled", "gradcheck"}},
  {"Layers and losses", {"linear", "softmax", "log_softmax", "layer_norm", "mse",
                         "cross_entropy", "nll", "bce_with_logits"}},
  {"Saving", {"save", "load", "dumps", "loads"}},
  {"Printing", {"set_printoptions"}},
}

local TENSOR = {
  -- creating
  zeros = "tensor.zeros(d1, d2, ...) | tensor.zeros{d1, d2, ...} -> tensor -- a new tensor of "
    .. "zeros of that shape; no sizes gives a 0-dim tensor\ne.g. tensor.zeros(2, 3)",
  ones = "tensor.ones(d1, d2, ...) | tensor.ones{...} -> tensor -- a new tensor of ones",
  empty = "tensor.empty(d1, d2, ...) -> tensor -- a new tensor of that shape (zero-filled: entro "
    .. "never hands out uninitialised memory)",
  full = "tensor.full({d1, d2, ...}, v) -> tensor -- a new tensor with every element v",
  zeros_like = "tensor.zeros_like(x) -> tensor -- zeros of x's shape",
  ones_like = "tensor.ones_like(x) -> tensor -- ones of x's shape",
  full_like = "tensor.full_like(x, v) -> tensor -- v everywhere, in x's shape",
  eye = "tensor.eye(n [, m]) -> tensor -- the n x m (default n x n) identity matrix",
  arange = "tensor.arange([start = 0,] stop [, step = 1]) -> tensor -- start, start + step, ... "
    .. "up to but excluding stop, as numpy.arange\ne.g. tensor.arange(5) is [0 1 2 3 4]",
  linspace = "tensor.linspace(a, b, n) -> tensor -- n evenly spaced values from a to b, both "
    .. "included",
  tensor = "tensor.tensor(nested table | number | tensor) -> tensor -- a tensor from nested "
    .. "Lua tables (booleans become 0/1), a 0-dim tensor from a number, or a copy of a tensor"
    .. "\ne.g. tensor.tensor{{1, 2}, {3, 4}}",
  is_tensor = "tensor.is_tensor(v) -> boolean -- whether v is a tensor",
  -- random
  rand = "tensor.rand(d1, d2, ...) | g:rand(...) -> tensor -- uniform on [0, 1) from the "
    .. "default generator (or g); no sizes gives one number",
  randn = "tensor.randn(d1, d2, ...) | g:randn(...) -> tensor -- standard normal samples from "
    .. "the default generator (or g); no sizes gives one number\ne.g. tensor.rng(7):randn(3, 2)",
  normal = "tensor.normal(mean, std [, d1, d2, ...]) | g:normal(...) -> tensor or number -- "
    .. "normal samples with that mean and standard deviation",
  uniform = "tensor.uniform(lo, hi [, d1, d2, ...]) | g:uniform(...) -> tensor or number -- "
    .. "uniform samples on [lo, hi)",
  randint = "tensor.randint(lo, hi [, d1, d2, ...]) | g:randint(...) -> tensor or integer -- "
    .. "integers from lo to hi, both included",
  bernoulli = "tensor.bernoulli(p [, d1, d2, ...]) | g:bernoulli(...) -> tensor or number -- "
    .. "1 with probability p, else 0",
  perm = "tensor.perm(n) | g:perm(n) -> tensor -- a random permutation of 1..n",
  rng = "tensor.rng([seed = 0]) -> generator -- a new random generator with its own state; "
    .. "everything random takes one (rng = g) so runs are reproducible; help(tensor.rng(0)) "
    .. "lists its methods",
  default_rng = "tensor.default_rng() -> generator -- the generator tensor.rand/randn/... use, "
    .. "seeded from --seed or ENTRO_SEED (default 0)",
  manual_seed = "tensor.manual_seed(seed) -> generator -- reseeds the default generator",
  is_rng = "tensor.is_rng(v) -> boolean -- whether v is a random generator",
  -- shape and access
  shape = "x:shape() -> {d1, d2, ...} -- the sizes, as a new table",
  size = "x:size([dim]) -> table or integer -- the shape, or the size of dimension dim "
    .. "(1-based; negative counts from the end)",
  stride = "x:stride([dim]) -> table or integer -- the strides in elements, or one of them",
  dim = "x:dim() -> integer -- the number of dimensions",
  numel = "x:numel() -> integer -- the number of elements (also x:nelement())",
  nelement = "x:nelement() -> integer -- the number of elements (as x:numel())",
  is_contiguous = "x:is_contiguous() -> boolean -- whether x is dense in row-major order",
  get = "x:get(i, j, ...) -> number -- the element at 1-based indices, one per dimension "
    .. "(negative from the end)",
  set = "x:set(i, j, ..., v) -> x -- writes one element at 1-based indices",
  item = "x:item() -> number -- the value of a one-element tensor",
  totable = "x:totable() -> table -- the elements as nested Lua tables",
  storage_offset = "x:storage_offset() -> integer -- where x starts in its storage (1-based)",
  same_storage = "x:same_storage(y) -> boolean -- whether x and y are views of one storage",
  -- views and copies
  narrow = "x:narrow(dim, start, len) -> view -- elements start .. start + len - 1 along dim "
    .. "(negative start counts from the end); shares x's storage",
  select = "x:select(dim, i) -> view -- the slice at index i along dim, with that dimension "
    .. "removed",
  t = "x:t() -> view -- the transpose of a matrix (vectors and scalars unchanged)",
  transpose = "x:transpose(d1, d2) -> view -- dimensions d1 and d2 swapped (no copy)",
  permute = "x:permute(p1, ..., pn) -> view -- the dimensions reordered: dimension i of the "
    .. "result is dimension p_i of x",
  view = "x:view(d1, d2, ...) -> view -- the same elements in a new shape, sharing storage; one "
    .. "size may be -1; x's strides must allow it (else use reshape)",
  reshape = "x:reshape(d1, d2, ...) -> tensor -- as view when the strides allow, else a copy",
  expand = "x:expand(d1, d2, ...) -> view -- size-1 dimensions repeated with stride 0 (no copy); "
    .. "-1 keeps a size",
  expand_as = "x:expand_as(y) -> view -- x expanded to y's shape",
  squeeze = "x:squeeze([dim]) -> view -- without size-1 dimensions (all, or just dim)",
  unsqueeze = "x:unsqueeze(dim) -> view -- with a new size-1 dimension at position dim",
  flatten = "x:flatten([from = 1 [, to = -1]]) -> tensor -- dimensions from..to merged into one",
  contiguous = "x:contiguous() -> tensor -- x itself when contiguous, else a contiguous copy",
  clone = "x:clone() -> tensor -- a contiguous copy with storage of its own",
  copy = "x:copy(src) -> x -- copies src (a tensor broadcast to x's shape, or a number) into x",
  copy_ = "x:copy_(src) -> x -- as x:copy(src)",
  fill = "x:fill(v) -> x -- sets every element of x to v (also x:fill_(v))",
  fill_ = "x:fill_(v) -> x -- sets every element of x to v",
  close = "x:close() -- frees x's storage now rather than at garbage collection (also done by "
    .. "`local x <close> = ...`); x is unusable after",
  detach = "x:detach() | tensor.detach(x) -> view -- x's values outside the autograd graph: no "
    .. "gradient flows through it",
  -- arithmetic
  add = "x:add(y [, out]) | tensor.add(x, y) -> tensor -- x + y elementwise with broadcasting; "
    .. "y may be a number; the result goes into out (a tensor or {out = t}) when given; also x + y",
  sub = "x:sub(y [, out]) -> tensor -- x - y elementwise with broadcasting; also x - y",
  mul = "x:mul(y [, out]) -> tensor -- x * y elementwise with broadcasting (matmul is the "
    .. "matrix product); also x * y",
  div = "x:div(y [, out]) -> tensor -- x / y elementwise with broadcasting; also x / y",
  pow = "x:pow(y [, out]) -> tensor -- x ^ y elementwise with broadcasting; also x ^ y",
  maximum = "x:maximum(y [, out]) -> tensor -- the larger of x and y elementwise",
  minimum = "x:minimum(y [, out]) -> tensor -- the smaller of x and y elementwise",
  atan2 = "x:atan2(y [, out]) -> tensor -- atan2(x, y) elementwise",
  fmod = "x:fmod(y [, out]) -> tensor -- the remainder of x / y with the sign of x (C fmod)",
  affine = "x:affine(alpha [, beta = 0 [, out]]) -> tensor -- alpha * x + beta in one pass",
  axpy_ = "x:axpy_(alpha, y) -> x -- x += alpha * y in place (y broadcast to x's shape)",
  where = "tensor.where(cond, a, b [, out]) | cond:where(a, b) -> tensor -- a where cond is "
    .. "nonzero, else b; a and b may be numbers; broadcasts",
  -- comparisons
  eq = "x:eq(y) -> tensor -- 1 where x == y, else 0 (y a tensor or a number)",
  ne = "x:ne(y) -> tensor -- 1 where x ~= y, else 0",
  lt = "x:lt(y) -> tensor -- 1 where x < y, else 0",
  le = "x:le(y) -> tensor -- 1 where x <= y, else 0",
  gt = "x:gt(y) -> tensor -- 1 where x > y, else 0",
  ge = "x:ge(y) -> tensor -- 1 where x >= y, else 0",
  isnan = "x:isnan([out]) -> tensor -- 1 where x is NaN, else 0",
  -- elementwise math
  neg = "x:neg([out]) -> tensor -- -x; also -x",
  exp = "x:exp([out]) | tensor.exp(x) -> tensor -- e^x elementwise",
  log = "x:log([out]) -> tensor -- the natural logarithm elementwise",
  sqrt = "x:sqrt([out]) -> tensor -- the square root elementwise",
  abs = "x:abs([out]) -> tensor -- |x| elementwise",
  sign = "x:sign([out]) -> tensor -- -1, 0 or 1 elementwise",
  tanh = "x:tanh([out]) -> tensor -- tanh elementwise",
  sigmoid = "x:sigmoid([out]) -> tensor -- 1 / (1 + e^-x) elementwise",
  relu = "x:relu([out]) -> tensor -- max(x, 0) elementwise",
  sin = "x:sin([out]) -> tensor -- sine elementwise",
  cos = "x:cos([out]) -> tensor -- cosine elementwise",
  floor = "x:floor([out]) -> tensor -- rounded down elementwise",
  ceil = "x:ceil([out]) -> tensor -- rounded up elementwise",
  round = "x:round([out]) -> tensor -- rounded to the nearest integer, halves away from zero",
  reciprocal = "x:reciprocal([out]) -> tensor -- 1 / x elementwise",
  square = "x:square([out]) -> tensor -- x^2 elementwise",
  log1p = "x:log1p([out]) -> tensor -- log(1 + x), accurate for small x",
  expm1 = "x:expm1([out]) -> tensor -- e^x - 1, accurate for small x",
  softplus = "x:softplus([out]) -> tensor -- log(1 + e^x), computed without overflow",
  gelu = "x:gelu([out]) -> tensor -- x * Phi(x), the exact (erf) GELU",
  leaky_relu = "x:leaky_relu([slope = 0.01 [, out]]) -> tensor -- x where x > 0, else slope * x",
  clamp = "x:clamp(lo, hi [, out]) -> tensor -- x limited to [lo, hi]; either bound may be nil",
  -- reductions
  sum = "x:sum([dim [, keepdim]]) -> number or tensor -- the sum of all elements (a number), or "
    .. "along dim (a tensor; keepdim keeps dim with size 1)",
  mean = "x:mean([dim [, keepdim]]) -> number or tensor -- the mean, of all or along dim",
  prod = "x:prod([dim [, keepdim]]) -> number or tensor -- the product, of all or along dim",
  max = "x:max([dim [, keepdim]]) -> number, or values and 1-based indices along dim -- the "
    .. "largest element (as torch.max)",
  min = "x:min([dim [, keepdim]]) -> number, or values and 1-based indices along dim -- the "
    .. "smallest element",
  argmax = "x:argmax([dim [, keepdim]]) -> integer or tensor -- the 1-based index of the "
    .. "largest element (flat, or along dim)",
  argmin = "x:argmin([dim [, keepdim]]) -> integer or tensor -- the 1-based index of the "
    .. "smallest element",
  var = "x:var([dim [, keepdim]] [, {unbiased = true}]) -> number or tensor -- the variance, "
    .. "dividing by n - 1 (n with unbiased = false)",
  std = "x:std([dim [, keepdim]] [, {unbiased = true}]) -> number or tensor -- the standard "
    .. "deviation",
  norm = "x:norm([p = 2 [, dim [, keepdim]]]) -> number or tensor -- the p-norm of all "
    .. "elements (as one vector) or along dim; p = 'inf' (or math.huge) is the largest |x|; "
    .. "matrix norms are tensor.linalg.norm",
  logsumexp = "x:logsumexp([dim [, keepdim]]) -> number or tensor -- log(sum(exp(x))) without "
    .. "overflow",
  cumsum = "x:cumsum([dim = 1 [, out]]) -> tensor -- running sums along dim",
  -- products
  matmul = "a:matmul(b [, out]) | tensor.matmul(a, b) -> tensor -- the matrix product, as "
    .. "torch.matmul: vector . vector is a 0-dim tensor, vectors act as rows or columns, "
    .. "leading (batch) dimensions broadcast; runs on BLAS dgemm; Ctrl-C stops a long one"
    .. "\ne.g. tensor.ones(2, 3):matmul(tensor.ones(3, 4))",
  dot = "a:dot(b) -> number -- the inner product of two vectors of one length",
  outer = "a:outer(b [, out]) -> tensor -- the outer product of two vectors (n x m)",
  -- indexing and joining
  index_select = "x:index_select(dim, idx) -> tensor -- the slices along dim at the 1-based "
    .. "indices idx (a table or a tensor), copied",
  gather = "x:gather(dim, idx) -> tensor -- out[i][j] = x[i][idx[i][j]] for dim 2 (and so on), "
    .. "as torch.gather with 1-based indices",
  scatter_add_ = "x:scatter_add_(dim, idx, src) -> x -- adds src's elements into x at the "
    .. "1-based indices idx along dim, in place",
  masked_select = "x:masked_select(mask) -> tensor -- the elements where mask is nonzero, as a "
    .. "vector",
  cat = "tensor.cat({a, b, ...} [, dim = 1]) -> tensor -- the tensors joined along dim",
  stack = "tensor.stack({a, b, ...} [, dim = 1]) -> tensor -- same-shape tensors stacked along "
    .. "a new dimension dim",
  -- autograd
  requires_grad = "x:requires_grad([flag = true]) -> x -- marks a leaf tensor as a parameter: "
    .. "backward() accumulates d loss / d x into x.grad (see also x.grad, x.is_leaf)",
  backward = "loss:backward([grad] [, {retain_graph = false}]) | tensor.backward(loss) -- "
    .. "accumulates the gradient of loss into the .grad of every leaf that requires grad; a "
    .. "non-scalar loss needs grad (the vector of the vector-Jacobian product); the graph is "
    .. "freed unless retain_graph\ne.g. w = tensor.randn(3):requires_grad(); "
    .. "(w * w):sum():backward(); print(w.grad)",
  zero_grad = "x:zero_grad() -> x -- sets x.grad to zeros in place (keeping its storage)",
  grad = "tensor.grad(f, params [, {retain_graph, create_graph, grad_outputs}]) -> {g1, g2, ...}, "
    .. "loss -- the gradients of f() (a scalar tensor; or pass the loss itself) with respect to "
    .. "params, without touching their .grad. tensor.grad({y1, y2, ...}, params, {grad_outputs "
    .. "= {v1, v2, ...}}) -> {g1, ...}: the gradients of sum_i <y_i, v_i> in one backward pass "
    .. "(torch.autograd.grad's grad_outputs; outputs that do not depend on params add nothing); "
    .. "create_graph records the pass so the gradients can be differentiated again",
  no_grad = "tensor.no_grad(f, ...) -> f(...) -- runs f with gradient recording off",
  enable_grad = "tensor.enable_grad(f, ...) -> f(...) -- runs f with gradient recording on",
  is_grad_enabled = "tensor.is_grad_enabled() -> boolean -- whether ops are being recorded",
  set_grad_enabled = "tensor.set_grad_enabled(flag) -- turns gradient recording on or off",
  gradcheck = "tensor.gradcheck(f, inputs, {eps = 1e-6, tol = 1e-6, raise = false}) -> ok, "
    .. "max_error, report -- compares the gradients of f(inputs...) with respect to the inputs "
    .. "that require grad against central differences",
  -- layers and losses
  linear = "tensor.linear(x, W [, b]) -> tensor -- x W^T + b, one fused differentiable op "
    .. "(W is out x in)",
  softmax = "x:softmax([dim = last]) | tensor.softmax(x, dim) -> tensor -- exp(x) normalised "
    .. "to sum 1 along dim",
  log_softmax = "x:log_softmax([dim = last]) -> tensor -- log(softmax(x)), computed stably",
  layer_norm = "tensor.layer_norm(x [, w [, b]] [, eps = 1e-5]) -> tensor -- x normalised to "
    .. "mean 0 and variance 1 over its last dimension, then scaled by w and shifted by b",
  mse = "tensor.mse(pred, target [, {reduction = 'mean'|'sum'|'none'}]) -> tensor -- the "
    .. "squared error; target may be a number",
  cross_entropy = "tensor.cross_entropy(logits, labels [, {reduction}]) -> tensor -- softmax "
    .. "cross-entropy of rows of logits against labels 1..C (a table or a tensor), fused",
  nll = "tensor.nll(logp, labels [, {reduction}]) -> tensor -- the negative log-likelihood of "
    .. "labels 1..C under rows of log-probabilities",
  bce_with_logits = "tensor.bce_with_logits(logits, targets [, {reduction}]) -> tensor -- "
    .. "binary cross-entropy of targets in [0, 1] against sigmoid(logits), computed stably",
  -- saving
  save = "tensor.save(path, value) -- writes value (tensors, numbers, strings, booleans and "
    .. "tables of them; shared tables and cycles are kept) to path, atomically (a temporary "
    .. "file renamed over path)\ne.g. tensor.save('run.entro', {W = W, step = 100})",
  load = "tensor.load(path) -> value -- reads what tensor.save wrote; tensors come back "
    .. "contiguous, without requires_grad",
  dumps = "tensor.dumps(value) -> string -- the bytes tensor.save would write",
  loads = "tensor.loads(s) -> value -- the value tensor.dumps encoded in s",
  -- printing
  set_printoptions = "tensor.set_printoptions{threshold = 1000, edgeitems = 3} -- tensors with "
    .. "more than threshold elements print only edgeitems at each end of a dimension",
}

-- tensor fields, read as x.name
local FIELDS = {
  grad = "x.grad -> tensor or nil -- the gradient backward() accumulated into a leaf; may be "
    .. "assigned (a tensor of x's shape, or nil)",
  grad_fn = "x.grad_fn -> string or nil -- the name of the op that computed x, if recorded",
  is_leaf = "x.is_leaf -> boolean -- true unless x was computed by a recorded op",
  needs_grad = "x.needs_grad -> boolean -- whether gradients flow to x",
}

-- the random generator's own methods (rand, randn, ... are tensor's, above)
local GENERATOR = {
  normal_ = "g:normal_(t [, mean = 0 [, std = 1]]) -> t -- fills t with normal samples in place "
    .. "(no allocation)",
  uniform_ = "g:uniform_(t [, lo = 0 [, hi = 1]]) -> t -- fills t with uniform samples in place",
  bernoulli_ = "g:bernoulli_(t, p) -> t -- fills t with 0/1 samples, 1 with probability p",
  state = "g:state() -> string -- the generator's state, to restore with g:set_state",
  set_state = "g:set_state(s) -> g -- restores a state from g:state()",
  seed = "g:seed(s) -> g -- reseeds g",
  split = "g:split() -> generator -- a new generator with an independent stream (advances g)",
  clone = "g:clone() -> generator -- a copy of g in its current state",
}

local ENTRO = {
  mem = "entro.mem() -> live bytes, {live, peak, cached, allocs} -- the memory held by tensors",
  mem_trim = "entro.mem_trim() -- returns the tensor memory cached for reuse to the system",
  clock = "entro.clock() -> seconds -- a monotonic clock, for timing",
  blas = "entro.blas() -> {core, config, threads} -- which OpenBLAS kernels run, and on how many "
    .. "threads entro splits products, LAPACK calls and big elementwise runs (ENTRO_NUM_THREADS, "
    .. "else OPENBLAS_NUM_THREADS, else every CPU)",
  set_threads = "entro.set_threads(n) -- the number of threads for products, LAPACK and entro's "
    .. "big elementwise runs",
  checkpoint = "entro.checkpoint(path, {net, opt, rng, loader, monitor, step, extra}) -- saves "
    .. "everything needed to continue a run, atomically, with a checksum",
  restore = "entro.restore(path [, {net, opt, rng, loader, monitor}]) -> the saved table, or "
    .. "loads it into the objects and returns step, extra",
  version = "entro.version -- the version string, as `entro --version` prints it",
  seed = "entro.seed -- the default generator's seed (--seed N or ENTRO_SEED, default 0)",
  quiet = "entro.quiet -- true under --quiet or ENTRO_QUIET=1 (no progress bars)",
  tensor = "entro.tensor -- the tensor module; entro.nn, entro.optim, ... are the others",
}

local ABOUT = {
  tensor = "float64 tensors: creation, math, reductions, autograd, saving",
  ["tensor.linalg"] = "LAPACK linear algebra on matrices",
  ["tensor.methods"] = "the methods of every tensor: x:name(...)",
  nn = "layers, modules and losses",
  optim = "optimizers with noise: sgd, adam, adamw, langevin",
  diag = "diagnostics: gradient noise, balance, curvature, monitors",
  plot = "figures drawn by gnuplot",
  data = "synthetic and real data sets, and loaders",
  log = "CSV and JSON-lines logs",
  progress = "progress lines on stderr",
  entro = "the version, memory, clock and BLAS settings",
  help = "this help",
}

local HELP_DOC = "help([x]) -- a short doc for a function or module: help(tensor.zeros), "
  .. "help(x.matmul), help('zeros'), help(plot); help() for an overview"

---------------------------------------------------------------------------------------------
-- the registry

local by_value      -- value -> list of entries {name, doc}
local by_name       -- name -> entry
local entries       -- every entry, in registration order
local listings      -- module table -> {title, items = {entry...}, intro}
local built_for     -- the set of loaded modules the registry was built for, as a string

-- Registers doc under name (and value, if any); key is how listings show it (default: the
-- last part of the name). Returns the entry, appended to list when given.
local function add(value, name, doc, list, key)
  local e = by_name[name]
  if not e then
    e = {name = name, doc = doc, value = value, key = key or name:match("[%w_]+$") or name}
    by_name[name] = e
    entries[#entries + 1] = e
  end
  if value ~= nil and (type(value) == "function" or type(value) == "table") then
    local l = by_value[value]
    if not l then l = {}; by_value[value] = l end
    local dup = false
    for _, x in ipairs(l) do dup = dup or x.doc == e.doc end
    if not dup then l[#l + 1] = e end
  end
  if list then list[#list + 1] = e end
  return e
end

local function alias(name, e)
  if not by_name[name] then by_name[name] = e end
end

-- docs[k], or for an in-place op x:op_() without an entry of its own, one derived from x:op.
local function doc_of(docs, k)
  if docs[k] then return docs[k] end
  local base = k:match("^(.-)_$")
  if not (base and docs[base]) then return nil end
  local sig = docs[base]:match("^x:[%w_]+%b()")
  if not sig then return nil end
  local inplace = sig:gsub("%s*%[,? ?out%]", ""):gsub("^x:" .. base .. "%(", "x:" .. k .. "(")
  return string.format("%s -> x -- in place: %s with the result written into x, which is "
    .. "returned", inplace, sig:gsub("%s*%[,? ?out%]", ""))
end

local function registry_metatable(name)
  local ok, reg = pcall(debug.getregistry)
  local mt = ok and type(reg) == "table" and reg[name] or nil
  return type(mt) == "table" and mt or nil
end

local function register_tensor(T)
  local methods = rawget(T, "methods")
  if type(methods) ~= "table" then methods = {} end
  -- the docs here, and any the C glue adds in tensor._help for functions not covered here
  local docs = {}
  local extra = rawget(T, "_help")
  if type(extra) == "table" then
    for k, v in pairs(extra) do if type(k) == "string" and type(v) == "string" then docs[k] = v end end
  end
  for k, v in pairs(TENSOR) do docs[k] = v end
  local mod_items, meth_items = {}, {}
  local function one(k)
    local doc = doc_of(docs, k)
    if not doc then return end
    local fm, mm = rawget(T, k), rawget(methods, k)
    local e
    if type(fm) == "function" then e = add(fm, "tensor." .. k, doc, mod_items) end
    if type(mm) == "function" then
      if e and mm == fm then
        meth_items[#meth_items + 1] = e
      else
        e = add(mm, "tensor.methods." .. k, doc, meth_items)
      end
      alias("tensor.methods." .. k, e)
      alias("Tensor:" .. k, e)
      alias("x:" .. k, e)
    end
  end
  local seen = {}
  for k in pairs(T) do if type(k) == "string" then seen[k] = true end end
  for k in pairs(methods) do if type(k) == "string" then seen[k] = true end end
  local keys = {}
  for k in pairs(seen) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do one(k) end
  for k, doc in pairs(FIELDS) do
    local e = add(nil, "x." .. k, doc, meth_items)
    alias("tensor.methods." .. k, e)
    alias("Tensor." .. k, e)
  end
  table.sort(meth_items, function(a, b) return a.name:match("[%w_]+$") < b.name:match("[%w_]+$") end)
  listings[T] = {title = "tensor", items = mod_items, categories = CATEGORIES}
  listings[methods] = {title = "tensor.methods", items = meth_items, footer = "Most also have "
    .. "an in-place form x:op_(...). help(x.matmul) or help(tensor.methods.matmul) for one."}
  -- generators: their methods table is the __index of their metatable
  local gmt = registry_metatable("entro.Generator")
  if not gmt and type(rawget(T, "rng")) == "function" then
    local ok, g = pcall(T.rng, 0)
    if ok then gmt = getmetatable(g) end
  end
  local gm = gmt and rawget(gmt, "__index")
  if type(gm) == "table" then
    local items = {}
    local gkeys = {}
    for k in pairs(gm) do if type(k) == "string" then gkeys[#gkeys + 1] = k end end
    table.sort(gkeys)
    for _, k in ipairs(gkeys) do
      local v, e = gm[k], nil
      if GENERATOR[k] then
        e = add(v, "Generator:" .. k, GENERATOR[k], items)
      elseif by_value[v] then
        e = by_value[v][1]
        items[#items + 1] = e
      end
      if e then alias("Generator:" .. k, e); alias("g:" .. k, e) end
    end
    listings[gm] = {title = "generator methods (g = tensor.rng(seed))", items = items,
                    footer = "help(g.randn) for one of them."}
  end
end

local function register_entro(E)
  local items = {}
  local keys = {}
  for k in pairs(ENTRO) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v = rawget(E, k)
    if type(v) == "function" then add(v, "entro." .. k, ENTRO[k], items)
    else add(nil, "entro." .. k, ENTRO[k], items) end
  end
  listings[E] = {title = "entro", items = items}
end

-- A module (or a table in one) with a _help table: its entries, then its tables that have
-- their own _help (nn.init, tensor.linalg).
local function register_docs(M, title, visited)
  if visited[M] then return end
  visited[M] = true
  local h = rawget(M, "_help")
  if type(h) ~= "table" then return end
  local items = listings[M] and listings[M].items or {}
  local keys = {}
  for k, doc in pairs(h) do
    if type(k) == "string" and type(doc) == "string" and k:sub(1, 1) ~= "_" then keys[#keys + 1] = k end
  end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v = rawget(M, k)
    if v == nil and title ~= "entro" then
      local ok, x = pcall(function() return M[k] end)
      if ok then v = x end
    end
    local e = add(v, title .. "." .. k, h[k], nil, k)
    local present = false
    for _, x in ipairs(items) do present = present or x == e end
    if not present then items[#items + 1] = e end
  end
  if not listings[M] then listings[M] = {title = title, items = items} end
  for k, v in pairs(M) do
    if type(k) == "string" and type(v) == "table" and type(rawget(v, "_help")) == "table" then
      register_docs(v, title .. "." .. k, visited)
    end
  end
end

local function loaded_modules()
  local names = {}
  for name, M in pairs(package.loaded) do
    if type(name) == "string" and type(M) == "table" and
       (name == "entro" or name:sub(1, 6) == "entro." or type(rawget(M, "_help")) == "table") then
      names[#names + 1] = name
    end
  end
  table.sort(names)
  return names
end

local function build()
  local names = loaded_modules()
  local key = table.concat(names, " ")
  if key == built_for then return end
  by_value, by_name, entries, listings = {}, {}, {}, {}
  add(help, "help", HELP_DOC)
  local visited = {}
  local T = package.loaded["entro.tensor"]
  if type(T) == "table" then
    register_tensor(T)
    local linalg = rawget(T, "linalg")
    if type(linalg) == "table" then register_docs(linalg, "tensor.linalg", visited) end
    visited[T] = true
  end
  local E = package.loaded["entro"]
  if type(E) == "table" then register_entro(E); visited[E] = true end
  for _, name in ipairs(names) do
    local M = package.loaded[name]
    if M ~= help then register_docs(M, (name:gsub("^entro%.", "")), visited) end
  end
  built_for = key
end

---------------------------------------------------------------------------------------------
-- formatting

local function wrap(text, indent, width)
  local out, line = {}, indent
  for word in text:gmatch("%S+") do
    if #line > #indent and #line + 1 + #word > width then
      out[#out + 1] = line
      line = indent .. word
    elseif #line > #indent then
      line = line .. " " .. word
    else
      line = line .. word
    end
  end
  if #line > #indent then out[#out + 1] = line end
  return table.concat(out, "\n")
end

-- "signature -- description\nexample" as a signature line, the wrapped description, and the
-- example indented.
local function format_doc(doc)
  local first, rest = doc:match("^([^\n]*)\n?(.*)$")
  local sig, desc = first:match("^(.-) %-%- (.*)$")
  local parts = {}
  if sig then
    parts[1] = wrap(sig, "", WIDTH):gsub("\n", "\n    ")
    parts[2] = wrap(desc:sub(1, 1):upper() .. desc:sub(2) .. (desc:match("[.!?]$") and "" or "."),
                    "  ", WIDTH)
  else
    parts[1] = wrap(first, "", WIDTH)
  end
  if rest ~= "" then
    for l in rest:gmatch("[^\n]+") do parts[#parts + 1] = "  " .. l end
  end
  return table.concat(parts, "\n") .. "\n"
end

-- One line for a listing: the description's first clause, else the signature.
local function summary(e, width)
  local sig, desc = e.doc:match("^([^\n]-) %-%- ([^\n]*)")
  local s = desc or e.doc:match("^[^\n]-%) %-> (.*)") or e.doc:match("^[^\n]*")
  local depth = 0   -- cut at the first "; " outside parentheses
  for i = 1, #s - 1 do
    local c = s:sub(i, i)
    if c == "(" or c == "[" or c == "{" then depth = depth + 1
    elseif c == ")" or c == "]" or c == "}" then depth = depth - 1
    elseif c == ";" and depth == 0 and s:sub(i + 1, i + 1) == " " then s = s:sub(1, i - 1); break end
  end
  if #s > width then s = s:sub(1, width - 3):gsub("%s*%S*$", "") .. "..." end
  return s, sig
end

local function short_name(e)
  return e.key
end

local function listing_text(l)
  local parts = {}
  local about = ABOUT[l.title]
  parts[#parts + 1] = l.title .. (about and (" -- " .. about) or "")
  if l.categories then
    local known = {}
    for _, e in ipairs(l.items) do known[short_name(e)] = true end
    local placed = {}
    for _, c in ipairs(l.categories) do
      local present = {}
      for _, k in ipairs(c[2]) do
        if known[k] or (l.title == "tensor" and by_name["x:" .. k]) then
          present[#present + 1] = k
          placed[k] = true
        end
      end
      if #present > 0 then
        parts[#parts + 1] = wrap(c[1] .. ": " .. table.concat(present, " "), "  ", WIDTH)
                              :gsub("\n  ", "\n      ")
      end
    end
    local other = {}
    for _, e in ipairs(l.items) do
      local k = short_name(e)
      if not placed[k] and not k:match("_$") then other[#other + 1] = k end
    end
    if #other > 0 then parts[#parts + 1] = wrap("Other: " .. table.concat(other, " "), "  ", WIDTH) end
    parts[#parts + 1] = wrap("Most ops are both tensor.op(x, ...) and x:op(...), and have an "
      .. "in-place x:op_(...). help(tensor.zeros) or help('zeros') for one function; "
      .. "help(tensor.methods) lists the methods with summaries; help(tensor.linalg) for "
      .. "linear algebra.", "", WIDTH)
    return table.concat(parts, "\n") .. "\n"
  end
  local items = {}
  for _, e in ipairs(l.items) do
    local base = short_name(e):match("^(.-)_$")   -- in-place forms go without saying
    if not (base and l.footer and by_name[l.title .. "." .. base]) then items[#items + 1] = e end
  end
  table.sort(items, function(a, b) return short_name(a) < short_name(b) end)
  local w = 0
  for _, e in ipairs(items) do w = math.max(w, #short_name(e)) end
  w = math.min(w, 20)
  for _, e in ipairs(items) do
    local k = short_name(e)
    local s = summary(e, WIDTH - w - 4)
    parts[#parts + 1] = "  " .. k .. string.rep(" ", math.max(1, w - #k + 2)) .. s
  end
  if #items == 0 then parts[#parts + 1] = "  (no documented functions)" end
  parts[#parts + 1] = l.footer or ("help(" .. l.title .. ".<name>) for one of them.")
  return table.concat(parts, "\n") .. "\n"
end

local function overview()
  build()
  local parts = {}
  local E = package.loaded["entro"]
  local version = type(E) == "table" and rawget(E, "version") or "?"
  parts[#parts + 1] = "entro " .. tostring(version) .. " -- a laboratory for the thermodynamics "
    .. "of learning (Lua 5.4)."
  parts[#parts + 1] = "Modules (globals; also require \"entro.<name>\"):"
  local shown, names = {}, {}
  for _, n in ipairs{"tensor", "nn", "optim", "diag", "plot", "data"} do
    if package.loaded["entro." .. n] or package.preload["entro." .. n] then
      names[#names + 1] = n; shown[n] = true
    end
  end
  local more = {}
  for n in pairs(package.preload) do
    local m = type(n) == "string" and n:match("^entro%.([%w_]+)$")
    if m and not shown[m] and ABOUT[m] and m ~= "help" then more[#more + 1] = m end
  end
  for n, M in pairs(package.loaded) do   -- others that document themselves
    local m = type(n) == "string" and n:match("^entro%.([%w_]+)$")
    if m and type(M) == "table" and not shown[m] and not ABOUT[m] and type(rawget(M, "_help")) == "table" then
      more[#more + 1] = m
    end
  end
  table.sort(more)
  for _, n in ipairs(more) do if not shown[n] then names[#names + 1] = n; shown[n] = true end end
  for _, n in ipairs(names) do
    local global = rawget(_G, n) ~= nil and rawget(_G, n) == package.loaded["entro." .. n]
    parts[#parts + 1] = string.format("  %-9s %s%s", n, ABOUT[n] or "",
      global and "" or string.format(" (require \"entro.%s\")", n))
  end
  parts[#parts + 1] = "  entro     " .. ABOUT.entro .. " (entro.version, entro.mem(), ...)"
  parts[#parts + 1] = wrap("help(module) lists a module's functions; help(f), e.g. "
    .. "help(tensor.zeros) or help(x.matmul), or help('zeros') by name, prints one; help(x) "
    .. "describes a tensor or generator x. In the REPL, Tab completes names and Ctrl-C stops "
    .. "a computation.", "", WIDTH)
  return table.concat(parts, "\n") .. "\n"
end

local function is_tensor(v)
  local T = package.loaded["entro.tensor"]
  return type(T) == "table" and type(rawget(T, "is_tensor")) == "function" and T.is_tensor(v)
end

local function is_rng(v)
  local T = package.loaded["entro.tensor"]
  return type(T) == "table" and type(rawget(T, "is_rng")) == "function" and T.is_rng(v)
end

local function docs_text(l)
  local parts = {}
  for i, e in ipairs(l) do parts[i] = format_doc(e.doc) end
  return table.concat(parts)
end

-- An object's methods: its own function fields and those along its __index chain (or a
-- tensor-like __methods table), documented from the listing that shares the most names with
-- them (a plot figure's from plot's _help).
local function object_text(v)
  local methods, names = {}, {}
  local function take(t)
    for k, f in pairs(t) do
      if type(k) == "string" and type(f) == "function" and k:sub(1, 1) ~= "_" and not methods[k] then
        methods[k] = f
        names[#names + 1] = k
      end
    end
  end
  if type(v) == "table" then take(v) end
  local mt = getmetatable(v)
  local t = type(mt) == "table" and (rawget(mt, "__methods") or rawget(mt, "__index")) or nil
  for _ = 1, 8 do
    if type(t) ~= "table" then break end
    take(t)
    local up = getmetatable(t)
    t = type(up) == "table" and rawget(up, "__index") or nil
  end
  if #names == 0 then return nil end
  table.sort(names)
  local best, score = nil, 0
  for _, l in pairs(listings) do
    local n = 0
    for _, e in ipairs(l.items) do if methods[e.key] then n = n + 1 end end
    if n > score then best, score = l, n end
  end
  if score < 2 or 2 * score < #names then best = nil end   -- too few in common to be its docs
  local kind = type(mt) == "table" and rawget(mt, "__name")
  kind = kind and ("a " .. tostring(kind)) or (best and ("a " .. best.title .. " object"))
    or ("a " .. type(v))
  local parts = {kind .. "; its methods:"}
  local w = 0
  for _, k in ipairs(names) do w = math.max(w, #k) end
  w = math.min(w, 20)
  for _, k in ipairs(names) do
    local e = by_value[methods[k]] and by_value[methods[k]][1]
    if not e and best then
      for _, x in ipairs(best.items) do if x.key == k then e = x end end
    end
    parts[#parts + 1] = "  " .. k .. (e and (string.rep(" ", math.max(1, w - #k + 2))
      .. summary(e, WIDTH - w - 4)) or "")
  end
  return table.concat(parts, "\n") .. "\n"
end

-- A value from a dotted path in the globals ("tensor.linalg.eigh", "x:matmul"), or nil.
local function resolve(path)
  local v = _G
  for part in path:gmatch("[^.:]+") do
    if type(v) ~= "table" and type(v) ~= "userdata" then return nil end
    local ok, x = pcall(function() return v[part] end)
    if not ok or x == nil then return nil end
    v = x
  end
  return v ~= _G and v or nil
end

local text_of

local function name_text(s)
  local e = by_name[s]
  if e then return format_doc(e.doc), true end
  local M = package.loaded["entro." .. s]
  if M == nil and package.preload["entro." .. s] then
    local ok, m = pcall(require, "entro." .. s)
    if ok then M = m; build() end
  end
  if type(M) == "table" then return text_of(M) end
  local v = resolve(s)
  if v ~= nil and (type(v) == "function" or type(v) == "table" or type(v) == "userdata") then
    local t, found = text_of(v)
    if found then return t, found end
  end
  -- by the last part of the name: "zeros" finds tensor.zeros
  local last = s:match("[%w_]+$")
  if last then
    local hits, seen = {}, {}
    for _, x in ipairs(entries) do
      local k = x.name:match("[%w_]+$")
      if k == last and not seen[x.doc] then hits[#hits + 1] = x; seen[x.doc] = true end
    end
    if #hits > 0 then return docs_text(hits), true end
  end
  return nil, false
end

function text_of(v)
  build()
  if type(v) == "string" then
    local t, found = name_text(v)
    if found then return t, true end
  elseif v ~= nil then
    if listings[v] then return listing_text(listings[v]), true end
    local l = by_value[v]
    if l then return docs_text(l), true end
    if is_tensor(v) then
      local ok, shape = pcall(function() return table.concat(v:shape(), "x") end)
      return string.format("a tensor%s\n%s", ok and string.format(" of shape %s (%d elements)%s",
          shape == "" and "() (0-dim)" or shape, v:numel(), v.needs_grad and ", requiring grad" or "")
          or " (closed)",
        wrap("Its methods: help(tensor.methods) lists them, help(x.matmul) prints one; "
          .. "fields: x.grad, x.grad_fn, x.is_leaf, x.needs_grad.", "", WIDTH) .. "\n"), true
    end
    if is_rng(v) then
      local gm = getmetatable(v).__index
      if listings[gm] then return listing_text(listings[gm]), true end
    end
    local t = object_text(v)
    if t then return t, true end
  end
  return string.format("no help for %s\n", type(v) == "string" and v or tostring(v)), false
end

-- help.refresh(): rebuild the registry at the next call (after docs were added by hand)
function help.refresh() built_for = nil end

-- help.text(x) -> the text help(x) prints, and whether x was found
function help.text(...)
  if select("#", ...) == 0 then return overview(), true end
  return text_of((...))
end

setmetatable(help, {
  __call = function(_, ...)
    io.write((help.text(...)))
  end,
})

return help
