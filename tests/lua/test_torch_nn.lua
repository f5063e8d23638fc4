-- test_torch_nn.lua -- nn against PyTorch (Debian's python3-torch), in float64.
--
-- Each case builds a network in entro, writes its weights and batch into a Python script as
-- %.17g literals, and recomputes the loss in plain torch ops (F.linear, softmax(QK^T/sqrt d),
-- F.layer_norm, exact GELU, ...). One Python run serves every case; each test then requires
-- the loss, the output and every gradient (parameters and input) to agree to 1e-10,
-- relative to the largest magnitude of the tensor compared. Skipped without torch.
-- ENTRO_TEST_VERBOSE=1 prints the worst difference of each case.

local PY = "/usr/bin/python3"
local TOL = 1e-10
local verbose = os.getenv("ENTRO_TEST_VERBOSE")

local function val(v) return tensor.is_tensor(v) and v:item() or v end
local function flat(t) return t:contiguous():reshape(-1):totable() end

-- A Python literal for a tensor: T([v1, v2, ...], [shape]).
local function pylit(t)
  local vs = {}
  for i, v in ipairs(flat(t)) do vs[i] = string.format("%.17g", v) end
  return string.format("T([%s], [%s])", table.concat(vs, ", "), table.concat(t:shape(), ", "))
end

------------------------------------------------------------------------------------------
-- The reference, in plain torch ops. P maps entro's parameter names to tensors.

local PRELUDE = [[
import math, sys
import torch
import torch.nn.functional as F
torch.set_default_dtype(torch.float64)

def T(vals, shape):
    return torch.tensor(vals, dtype=torch.float64).reshape(shape)

ACTS = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
        "gelu": lambda h: F.gelu(h),                    # exact (erf) GELU
        "softplus": F.softplus, "leaky_relu": lambda h: F.leaky_relu(h, 0.01),
        "identity": lambda h: h}

def lin(P, pre, h):
    return F.linear(h, P[pre + "weight"], P.get(pre + "bias"))

def mlp(P, x, nlayers, act, pre="layers."):
    h = x
    for i in range(nlayers):
        h = lin(P, pre + "%d." % (2 * i + 1 if act != "identity" else i + 1), h)
        if i < nlayers - 1:
            h = ACTS[act](h)
    return h

def attention(P, x, pre, heads, causal):
    squeeze = x.dim() == 2
    if squeeze:
        x = x.unsqueeze(0)
    B, Tn, D = x.shape
    dh = D // heads
    split = lambda t: t.reshape(B, Tn, heads, dh).permute(0, 2, 1, 3)
    q, k, v = (split(lin(P, pre + n + ".", x)) for n in ("q", "k", "v"))
    s = q @ k.transpose(-1, -2) / math.sqrt(dh)
    if causal:
        s = s.masked_fill(torch.triu(torch.ones(Tn, Tn, dtype=torch.bool), 1), float("-inf"))
    y = (torch.softmax(s, -1) @ v).permute(0, 2, 1, 3).reshape(B, Tn, D)
    y = lin(P, pre + "out.", y)
    return y.squeeze(0) if squeeze else y

def layer_norm(P, pre, h):
    return F.layer_norm(h, (h.shape[-1],), P[pre + "weight"], P[pre + "bias"], 1e-5)

def block(P, x, pre, heads, causal=False):
    h = x + attention(P, layer_norm(P, pre + "ln1.", x), pre + "attn.", heads, causal)
    m = layer_norm(P, pre + "ln2.", h)
    m = lin(P, pre + "mlp.3.", F.gelu(lin(P, pre + "mlp.1.", m)))
    return h + m

def loss_of(kind, out, target, reduction):
    if kind == "mse":
        return F.mse_loss(out, target, reduction=reduction)
    if kind == "ce":
        return F.cross_entropy(out, target.long() - 1, reduction=reduction)
    if kind == "nll":
        return F.nll_loss(torch.log_softmax(out, -1), target.long() - 1, reduction=reduction)
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(out, target, reduction=reduction)

def show(case, key, t):
    t = t.detach().reshape(-1)
    print(case, key, " ".join("%.17g" % v for v in t.tolist()))

def run(case, P, x, forward, kind, target, reduction="mean"):
    for p in P.values():
        p.requires_grad_(True)
    if x.is_floating_point():
        x.requires_grad_(True)
    out = forward(P, x)
    loss = loss_of(kind, out, target, reduction)
    loss.backward()
    show(case, "loss", loss)
    show(case, "out", out)
    if x.grad is not None:
        show(case, "x", x.grad)
    for name, p in P.items():
        show(case, "grad:" + name, p.grad)
]]

------------------------------------------------------------------------------------------
-- Cases: each has an entro network, an input, a target, a loss, and the Python forward.

local cases = {}

local function add(case) cases[#cases + 1] = case end

local acts = {"relu", "tanh", "sigmoid", "gelu", "softplus", "leaky_relu"}
local seed = 100
for _, act in ipairs(acts) do
  for _, kind in ipairs{"mse", "ce"} do
    for _, bias in ipairs{true, false} do
      seed = seed + 1
      local g = tensor.rng(seed)
      local dout = kind == "mse" and 2 or 4
      add{name = string.format("mlp_%s_%s_%s", act, kind, bias and "bias" or "nobias"),
          net = nn.mlp{5, 7, 6, dout, act = act, bias = bias, rng = g},
          x = g:randn(9, 5) * 1.5,
          target = kind == "mse" and g:randn(9, dout) or g:randint(1, dout, {9}),
          kind = kind, py = string.format("lambda P, x: mlp(P, x, 3, %q)", act)}
    end
  end
end

do
  local g = tensor.rng(201)
  add{name = "mlp_tanh_mse_sum", net = nn.mlp{4, 8, 3, act = "tanh", rng = g},
      x = g:randn(6, 4), target = g:randn(6, 3), kind = "mse", reduction = "sum",
      py = 'lambda P, x: mlp(P, x, 2, "tanh")'}
  add{name = "mlp_relu_ce_sum", net = nn.mlp{4, 8, 3, rng = g},
      x = g:randn(6, 4), target = g:randint(1, 3, {6}), kind = "ce", reduction = "sum",
      py = 'lambda P, x: mlp(P, x, 2, "relu")'}
  add{name = "mlp_gelu_nll", net = nn.mlp{4, 8, 3, act = "gelu", rng = g},
      x = g:randn(6, 4), target = g:randint(1, 3, {6}), kind = "nll",
      py = 'lambda P, x: mlp(P, x, 2, "gelu")'}
  add{name = "mlp_softplus_bce", net = nn.mlp{4, 8, 1, act = "softplus", rng = g},
      x = g:randn(6, 4), target = g:randint(0, 1, {6, 1}), kind = "bce",
      py = 'lambda P, x: mlp(P, x, 2, "softplus")'}
  add{name = "deep_linear_mse", net = nn.deep_linear{3, 6, 5, 3, rng = g},
      x = g:randn(7, 3), target = g:randn(7, 3), kind = "mse",
      py = 'lambda P, x: mlp(P, x, 3, "identity")'}
end

do
  local g = tensor.rng(301)
  add{name = "attention_2heads", net = nn.SelfAttention(8, 2, {rng = g}),
      x = g:randn(3, 5, 8), target = g:randn(3, 5, 8), kind = "mse",
      py = 'lambda P, x: attention(P, x, "", 2, False)'}
  add{name = "attention_4heads_causal", net = nn.SelfAttention(8, 4, {rng = g, causal = true}),
      x = g:randn(2, 6, 8), target = g:randn(2, 6, 8), kind = "mse",
      py = 'lambda P, x: attention(P, x, "", 4, True)'}
  add{name = "attention_1head_nobias_unbatched", net = nn.SelfAttention(6, 1, {rng = g, bias = false}),
      x = g:randn(4, 6), target = g:randn(4, 6), kind = "mse",
      py = 'lambda P, x: attention(P, x, "", 1, False)'}
  local blk = nn.TransformerBlock(8, 2, {rng = g})
  -- LayerNorm starts at weight 1, bias 0; move them so their gradients are tested in general
  for _, ln in ipairs{blk.ln1, blk.ln2} do
    nn.init.normal(ln.weight, 0.3, {mean = 1, rng = g})
    nn.init.normal(ln.bias, 0.3, {rng = g})
  end
  add{name = "transformer_block_mse", net = blk,
      x = g:randn(2, 5, 8), target = g:randn(2, 5, 8), kind = "mse",
      py = 'lambda P, x: block(P, x, "", 2)'}
  -- the block's output as logits for every token, flattened: CE over (batch * tokens)
  local Flat = nn.Module:extend("Flat")
  function Flat:init(b) self.block = b end
  function Flat:forward(x) return self.block(x):reshape(-1, x:size(3)) end
  add{name = "transformer_block_ce", net = Flat(nn.TransformerBlock(6, 3, {rng = g, mlp_ratio = 2})),
      x = g:randn(2, 4, 6), target = g:randint(1, 6, {8}), kind = "ce",
      py = 'lambda P, x: block(P, x, "block.", 3).reshape(-1, x.shape[2])'}
  -- a tiny causal language model: embedding, a block, a final norm, a head
  local LM = nn.Module:extend("LM")
  function LM:init(vocab, dim, heads, rng)
    self.emb = nn.Embedding(vocab, dim, {rng = rng})
    self.block = nn.TransformerBlock(dim, heads, {rng = rng, causal = true})
    self.norm = nn.LayerNorm(dim)
    self.head = nn.Linear(dim, vocab, {rng = rng, bias = false})
  end
  function LM:forward(ids)
    local h = self.norm(self.block(self.emb(ids)))
    return self.head(h):reshape(-1, self.head.out_features)
  end
  add{name = "tiny_causal_lm", net = LM(7, 8, 2, g),
      x = g:randint(1, 7, {2, 5}), target = g:randint(1, 7, {10}), kind = "ce", ids = true,
      py = [[lambda P, ids: lin(P, "head.", layer_norm(P, "norm.",
               block(P, P["emb.weight"][ids.long() - 1], "block.", 2, causal=True))).reshape(-1, 7)]]}
end

------------------------------------------------------------------------------------------
-- Run entro, write the script, run Python once, and parse its output.

local function entro_side(c)
  local x = c.x
  if not c.ids then x = x:clone():requires_grad() end
  c.net:zero_grad()
  local out = c.net(x)
  local opts = c.reduction and {reduction = c.reduction} or nil
  local loss
  if c.kind == "mse" then loss = nn.mse(out, c.target, opts)
  elseif c.kind == "ce" then loss = nn.cross_entropy(out, c.target, opts)
  elseif c.kind == "nll" then loss = nn.nll(out:log_softmax(2), c.target, opts)
  else loss = nn.bce_with_logits(out, c.target, opts) end
  loss:backward()
  local got = {loss = {val(loss)}, out = flat(out:detach())}
  if not c.ids then got.x = flat(x.grad) end
  local names = {}
  for name, p in c.net:named_parameters() do
    names[#names + 1] = name
    got["grad:" .. name] = flat(p.grad)
  end
  return got, names
end

local function script_of(c)
  local lines = {"P = {}"}
  for name, p in c.net:named_parameters() do
    lines[#lines + 1] = string.format("P[%q] = %s", name, pylit(p:detach()))
  end
  lines[#lines + 1] = "x = " .. pylit(c.x)
  lines[#lines + 1] = "target = " .. pylit(c.target)
  lines[#lines + 1] = string.format("run(%q, P, x, %s, %q, target, %q)", c.name, c.py, c.kind,
                                    c.reduction or "mean")
  return table.concat(lines, "\n") .. "\n"
end

local reference   -- case name -> key -> array of numbers, or an error string
local function torch_results()
  if reference then return reference end
  if not os.execute(PY .. ' -c "import torch" >/dev/null 2>&1') then
    reference = "python3-torch is not installed"
    return reference
  end
  local parts = {PRELUDE}
  for _, c in ipairs(cases) do parts[#parts + 1] = script_of(c) end
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(table.concat(parts, "\n"))
  f:close()
  local p = io.popen(PY .. " " .. path .. " 2>&1")
  local text = p:read("a")
  local okk = p:close()
  os.remove(path)
  if not okk then error("the PyTorch reference failed:\n" .. text) end
  reference = {}
  for line in text:gmatch("[^\n]+") do
    local name, key, rest = line:match("^(%S+) (%S+) ?(.*)$")
    if not name then error("cannot parse the reference output: " .. line) end
    local vs = {}
    for w in rest:gmatch("%S+") do vs[#vs + 1] = assert(tonumber(w), w) end
    reference[name] = reference[name] or {}
    reference[name][key] = vs
  end
  return reference
end

local function maxabs(a)
  local m = 0
  for i = 1, #a do m = math.max(m, math.abs(a[i])) end
  return m
end

-- max |a - b| / max |b| over one tensor (0 when both are all zero)
local function rel_diff(a, b)
  local d = 0
  for i = 1, #b do d = math.max(d, math.abs(a[i] - b[i])) end
  if d == 0 then return 0 end
  return d / maxabs(b)
end

local worst_overall, compared = 0, 0
for _, c in ipairs(cases) do
  test("torch: " .. c.name, function()
    local ref = torch_results()
    if type(ref) == "string" then skip(ref) end
    local want = ref[c.name]
    ok(want, "no reference output for " .. c.name)
    local got, names = entro_side(c)
    -- every parameter has a gradient, and the reference lists exactly the same names
    local keys = {"loss", "out"}
    if not c.ids then keys[#keys + 1] = "x" end
    for _, n in ipairs(names) do keys[#keys + 1] = "grad:" .. n end
    local nref = 0
    for _ in pairs(want) do nref = nref + 1 end
    eq(nref, #keys, c.name .. ": number of compared tensors")
    -- A gradient that is zero in exact arithmetic (the key bias of softmax attention: it
    -- shifts every score of a row equally) is rounding noise in both; require it to be
    -- noise, relative to the case's largest gradient, instead of comparing the noise.
    local scale = 0
    for _, k in ipairs(keys) do scale = math.max(scale, maxabs(want[k] or {})) end
    local worst, where = 0, nil
    for _, k in ipairs(keys) do
      local a, b = got[k], want[k]
      ok(b, c.name .. ": reference lacks " .. k)
      eq(#a, #b, c.name .. ": size of " .. k)
      local r
      if maxabs(b) <= 1e-13 * scale then
        r = maxabs(a) / scale
        ok(k:match("^grad:.*k%.bias$"), c.name .. ": unexpected zero gradient " .. k)
      else
        r = rel_diff(a, b)
      end
      if r > worst then worst, where = r, k end
      ok(r <= TOL, string.format("%s: %s differs from PyTorch by %.3g relative", c.name, k, r))
      compared = compared + 1
    end
    ok(math.abs(got.loss[1]) > 0)
    worst_overall = math.max(worst_overall, worst)
    if verbose then
      io.write(string.format("  %-36s %2d tensors, worst %.2e (%s)\n", c.name, #keys, worst, where or "-"))
    end
  end)
end

test("torch: summary", function()
  if type(reference) == "string" then skip(reference) end
  ok(compared > 0)
  if verbose then
    io.write(string.format("  %d cases, %d tensors compared, worst relative difference %.2e\n",
                           #cases, compared, worst_overall))
  end
end)
