-- platonic_blocks.lua -- PAPER.md section 3's figure (claim 10c): layer-by-layer similarity
-- between two independently trained networks built of MLP blocks and attention blocks. The
-- paper reports that the MLP blocks align strongly across the two networks (>= 0.73 for most
-- pairs) and the attention blocks much less. The paper's networks and data are not given, so
-- this is a small [surrogate] of the same measurement.
--
-- Setup: a synthetic sequence task -- sequences of T = 8 tokens drawn uniformly from a
-- vocabulary of 6; at every position, predict how many times that position's token occurs in
-- the sequence (a class 1..8; it needs attention across positions and an MLP to read the
-- count out). Each network: nn.Embedding(6, 16) -> 3 x nn.TransformerBlock(16, 2 heads,
-- MLP ratio 4; pre-norm, residual) -> nn.Linear(16, 8), cross-entropy on every position.
-- Two networks per draw, with different initial weights and different data streams (fresh
-- batches of 32 sequences per step), trained independently with the same optimizer; three
-- draws per optimizer. Optimizers: SGD with momentum 0.9 (lr 0.03, 2000 steps) -- the
-- optimizer the paper's theory is about -- and Adam (lr 3e-3, 1000 steps), the usual one for
-- transformers. Both reach ~100% accuracy.
-- Measurement: diag.layer_similarity between the two nets with layers = the block outputs,
-- i.e. the outputs of each TransformerBlock's children `attn` and `mlp` (the sublayer outputs
-- that are added to the residual stream), on 256 fixed held-out sequences. Every token is a
-- sample: a (B, T, D) output becomes a (B*T, D) matrix and linear CKA compares those rows.
-- (diag.activations has no "tokens as rows" mode, so the metric passed to layer_similarity
-- reshapes the (B, T, D) outputs that tokens = "keep" returns.)
--
-- What to look for in platonic_blocks.png: for each optimizer, the MLP-vs-MLP heatmap (rows:
-- net 1's blocks, columns: net 2's) against the attention-vs-attention one, both means of
-- three draws on the same colour scale. The claim passes when the MLP blocks are more similar
-- than the attention blocks on average over all block pairs, for both optimizers; the number
-- of MLP pairs >= 0.73 is reported beside it.
--
-- Run: ./entro scripts/paper/platonic_blocks.lua [quick|full|test]

local report = require "entro.report"

local VOCAB, T, D, HEADS, BLOCKS = 6, 8, 16, 2, 3
local EVAL_N, BATCH = 256, 32

local cfg = report.pick{
  quick = {draws = 1, scale = 0.5},
  full = {draws = 3, scale = 1},
  test = {draws = 1, scale = 0.25},
}
local OPTIMIZERS = {
  {name = "SGD (momentum 0.9)", short = "SGD+momentum", key = "sgd", steps = math.floor(2000 * cfg.scale),
   make = function(params) return optim.sgd(params, {lr = 0.03, momentum = 0.9}) end},
  {name = "Adam", short = "Adam", key = "adam", steps = math.floor(1000 * cfg.scale),
   make = function(params) return optim.adam(params, {lr = 3e-3}) end},
}

-- The counting task: ids (B x T, 1..VOCAB) and, per position, the count of its token.
local VOCAB_IDS = tensor.arange(1, VOCAB + 1):view(1, 1, VOCAB)
local function batch(B, g)
  local ids = g:uniform(0, VOCAB, B, T):floor() + 1
  local onehot = ids:view(B, T, 1):eq(VOCAB_IDS)                   -- B x T x VOCAB
  local counts = onehot:matmul(onehot:transpose(2, 3)):sum(3)      -- B x T, in 1..T
  return ids, counts
end

local CountNet = nn.Module:extend("CountNet")
function CountNet:init(rng)
  self.embed = nn.Embedding(VOCAB, D, {rng = rng})
  self.blocks = nn.Sequential()
  for _ = 1, BLOCKS do self.blocks:add(nn.TransformerBlock(D, HEADS, {rng = rng})) end
  self.head = nn.Linear(D, T, {rng = rng})
end
function CountNet:forward(ids) return self.head(self.blocks(self.embed(ids))) end

local function accuracy(net, ids, counts)
  local logits = tensor.no_grad(function() return net(ids) end):reshape(-1, T)
  return logits:argmax(2):reshape(-1):eq(counts:reshape(-1)):mean()
end

-- Linear CKA with every token a sample: (B, T, D) -> (B*T, D).
local function token_cka(X, Y)
  return diag.cka(X:reshape(-1, X:size(-1)), Y:reshape(-1, Y:size(-1)))
end

local attn_layers, mlp_layers, labels = {}, {}, {}
for b = 1, BLOCKS do
  attn_layers[b] = "blocks." .. b .. ".attn"
  mlp_layers[b] = "blocks." .. b .. ".mlp"
  labels[b] = "block " .. b
end

local function train(opt_spec, seed, k)
  local net = CountNet(tensor.rng(7000 + 10 * seed + k))
  local opt = opt_spec.make(net:parameters())
  local g = tensor.rng(8000 + 10 * seed + k)
  for _ = 1, opt_spec.steps do
    local ids, counts = batch(BATCH, g)
    local loss = nn.cross_entropy(net(ids):reshape(-1, T), counts:reshape(-1))
    opt:zero_grad(); loss:backward(); opt:step()
  end
  return net
end

local dir = report.dir()
os.execute("mkdir -p '" .. dir .. "'")
local eval_ids, eval_counts = batch(EVAL_N, tensor.rng(4242))
local grid = plot.grid{rows = #OPTIMIZERS, cols = 2, size = {1200, 500 * #OPTIMIZERS},
                       out = dir .. "/platonic_blocks.png",
                       title = string.format("Two independently trained %d-block transformers (counting task): CKA of block outputs, tokens as samples, mean of %d draws",
                                             BLOCKS, cfg.draws)}
local results, pass, lines = {}, true, {}
local t0 = os.clock()
for r, spec in ipairs(OPTIMIZERS) do
  local sum = {mlp = tensor.zeros(BLOCKS, BLOCKS), attn = tensor.zeros(BLOCKS, BLOCKS)}
  local accs = {}
  for d = 1, cfg.draws do
    local net1, net2 = train(spec, d, 1), train(spec, d, 2)
    accs[#accs + 1] = accuracy(net1, eval_ids, eval_counts)
    accs[#accs + 1] = accuracy(net2, eval_ids, eval_counts)
    for kind, layers in pairs{mlp = mlp_layers, attn = attn_layers} do
      local S = diag.layer_similarity(net1, net2, eval_ids, nil,
                                      {layers = layers, tokens = "keep", metric = token_cka})
      sum[kind] = sum[kind] + S
    end
  end
  local res = {accuracy = accs}
  for _, kind in ipairs{"mlp", "attn"} do
    local M = sum[kind] * (1 / cfg.draws)
    local vals, n73, diag_vals = {}, 0, {}
    for i = 1, BLOCKS do
      for j = 1, BLOCKS do
        vals[#vals + 1] = M:get(i, j)
        if M:get(i, j) >= 0.73 then n73 = n73 + 1 end
      end
      diag_vals[i] = M:get(i, i)
    end
    local mean = 0
    for _, v in ipairs(vals) do mean = mean + v end
    res[kind] = {matrix = M, mean = mean / #vals, n73 = n73, diagonal = diag_vals}
  end
  results[spec.key] = res
  local min_acc = math.huge
  for _, a in ipairs(accs) do min_acc = math.min(min_acc, a) end
  res.min_accuracy = min_acc
  grid:panel(r, 1, {title = string.format("%s, %d steps: MLP blocks (mean %.2f)", spec.short, spec.steps, res.mlp.mean),
                    xlabel = "net 2 MLP block", ylabel = "net 1 MLP block"})
      :heatmap(res.mlp.matrix, {xlabels = labels, ylabels = labels, zrange = {0, 1}})
  grid:panel(r, 2, {title = string.format("%s, %d steps: attention blocks (mean %.2f)", spec.short, spec.steps, res.attn.mean),
                    xlabel = "net 2 attention block", ylabel = "net 1 attention block"})
      :heatmap(res.attn.matrix, {xlabels = labels, ylabels = labels, zrange = {0, 1}})
  local function row(v) local s = {}; for i, x in ipairs(v) do s[i] = string.format("%.2f", x) end; return table.concat(s, " ") end
  lines[#lines + 1] = string.format("%s: MLP-MLP mean %.3f (same-depth %s; %d/%d pairs >= 0.73), attention-attention mean %.3f (same-depth %s; %d/%d >= 0.73), held-out accuracy >= %.3f",
                                    spec.name, res.mlp.mean, row(res.mlp.diagonal), res.mlp.n73, BLOCKS * BLOCKS,
                                    res.attn.mean, row(res.attn.diagonal), res.attn.n73, BLOCKS * BLOCKS, min_acc)
  print("  " .. lines[#lines])
  pass = pass and res.mlp.mean > res.attn.mean
end
grid:save()
print(string.format("platonic_blocks.lua: %.0f s", os.clock() - t0))

local numbers = {}
for key, res in pairs(results) do
  numbers[key] = {mlp_mean = res.mlp.mean, attn_mean = res.attn.mean, mlp_n073 = res.mlp.n73,
                  attn_n073 = res.attn.n73, min_accuracy = res.min_accuracy}
end
report.claim{
  id = "10c", title = "Platonic, blocks [surrogate]: MLP blocks align across networks more than attention blocks",
  expected = "in two independently trained networks of MLP and attention blocks, the MLP-vs-MLP similarity exceeds the attention-vs-attention similarity (the paper: MLP >= 0.73 for most pairs, attention much less)",
  measured = string.format("%d draws per optimizer, %d blocks. %s", cfg.draws, BLOCKS, table.concat(lines, "; ")),
  pass = pass,
  figures = {dir .. "/platonic_blocks.png"},
  numbers = numbers,
}
