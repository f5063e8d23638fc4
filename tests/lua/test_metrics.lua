-- test_metrics.lua -- the representation metrics (entro.represent, re-exported by diag):
-- invariances (CKA(X, XQ) = 1 ...), agreement with naive Lua implementations and with
-- numpy, permutation nulls, activations and layer-by-layer similarity, and every misuse as
-- an error naming the metric.
local R = require "entro.represent"
local L = tensor.linalg

local function randn(seed, n, p) return tensor.rng(seed):randn(n, p) end
local function orthogonal(seed, p) return (L.qr(randn(seed, p, p))) end

------------------------------------------------------------------------------------------
-- naive references: Lua loops over get(), no BLAS

local function rows(X)
  local n, p, out = X:size(1), X:size(2), {}
  for i = 1, n do
    out[i] = {}
    for j = 1, p do out[i][j] = X:get(i, j) end
  end
  return out
end

local function gram(X)   -- K = X X^T as a Lua table
  local x, K = rows(X), {}
  for i = 1, #x do
    K[i] = {}
    for j = 1, #x do
      local s = 0
      for k = 1, #x[i] do s = s + x[i][k] * x[j][k] end
      K[i][j] = s
    end
  end
  return K
end

local function center(K)   -- H K H
  local n, r, t = #K, {}, 0
  for i = 1, n do
    r[i] = 0
    for j = 1, n do r[i] = r[i] + K[i][j] end
    r[i] = r[i] / n
    t = t + r[i] / n
  end
  local C = {}
  for i = 1, n do
    C[i] = {}
    for j = 1, n do C[i][j] = K[i][j] - r[i] - r[j] + t end
  end
  return C
end

local function frob(A, B)
  local s = 0
  for i = 1, #A do for j = 1, #A do s = s + A[i][j] * B[i][j] end end
  return s
end

local function hsic_b(K, L) return frob(center(K), center(L)) end

-- Song et al. 2012, eq. 5, with the transposed first term as platonic-rep writes it
local function hsic_u(K, L)
  local n = #K
  local t1, sk, sl, cross = 0, 0, 0, 0
  local colk, rowl = {}, {}
  for i = 1, n do colk[i], rowl[i] = 0, 0 end
  for i = 1, n do
    for j = 1, n do
      if i ~= j then
        t1 = t1 + K[i][j] * L[j][i]
        sk = sk + K[i][j]
        sl = sl + L[i][j]
        colk[j] = colk[j] + K[i][j]
        rowl[i] = rowl[i] + L[i][j]
      end
    end
  end
  for j = 1, n do cross = cross + colk[j] * rowl[j] end
  return (t1 + sk * sl / ((n - 1) * (n - 2)) - 2 * cross / (n - 2)) / (n * (n - 3))
end

local function naive_cka(K, L, h) return h(K, L) / math.sqrt(h(K, K) * h(L, L)) end

local function rbf(X, sigma)
  local x, K = rows(X), {}
  for i = 1, #x do
    K[i] = {}
    for j = 1, #x do
      local d = 0
      for k = 1, #x[i] do d = d + (x[i][k] - x[j][k])^2 end
      K[i][j] = math.exp(-d / (2 * sigma * sigma))
    end
  end
  return K
end

local function median_distance(X)
  local x, d = rows(X), {}
  for i = 1, #x do
    for j = i + 1, #x do
      local s = 0
      for k = 1, #x[i] do s = s + (x[i][k] - x[j][k])^2 end
      d[#d + 1] = math.sqrt(s)
    end
  end
  table.sort(d)
  local m = #d
  return m % 2 == 1 and d[(m + 1) // 2] or 0.5 * (d[m // 2] + d[m // 2 + 1])
end

local function cosine(X)
  local x = rows(X)
  for i = 1, #x do
    local s = 0
    for k = 1, #x[i] do s = s + x[i][k]^2 end
    for k = 1, #x[i] do x[i][k] = x[i][k] / math.sqrt(s) end
  end
  local S = {}
  for i = 1, #x do
    S[i] = {}
    for j = 1, #x do
      local s = 0
      for k = 1, #x[i] do s = s + x[i][k] * x[j][k] end
      S[i][j] = s
    end
  end
  return S
end

local function naive_knn(S, k)   -- sets: nb[i][j] = true for j among i's k nearest others
  local nb = {}
  for i = 1, #S do
    local order = {}
    for j = 1, #S do if j ~= i then order[#order + 1] = j end end
    table.sort(order, function(a, b)
      if S[i][a] ~= S[i][b] then return S[i][a] > S[i][b] end
      return a < b
    end)
    nb[i] = {}
    for t = 1, k do nb[i][order[t]] = true end
  end
  return nb
end

local function naive_mutual_knn(X, Y, k)
  local a, b = naive_knn(cosine(X), k), naive_knn(cosine(Y), k)
  local total = 0
  for i = 1, #a do for j in pairs(a[i]) do if b[i][j] then total = total + 1 end end end
  return total / (#a * k)
end

-- platonic-rep's cknna (metrics.py, unbiased = True) on normalised rows
local function naive_cknna(X, Y, k)
  local K, Lm = cosine(X), cosine(Y)
  local nk, nl = naive_knn(K, k), naive_knn(Lm, k)
  local function masked(A, B, m1, m2)
    local P, Q = {}, {}
    for i = 1, #A do
      P[i], Q[i] = {}, {}
      for j = 1, #A do
        local m = (m1[i][j] and m2[i][j]) and 1 or 0
        P[i][j], Q[i][j] = m * A[i][j], m * B[i][j]
      end
    end
    return hsic_u(P, Q)
  end
  return masked(K, Lm, nk, nl) / math.sqrt(masked(K, K, nk, nk) * masked(Lm, Lm, nl, nl))
end

local function centred(X)
  return X - X:mean(1, true)
end

------------------------------------------------------------------------------------------
-- invariances

test("cka: 1 for X against XQ, cX and X plus offsets (linear, unbiased, rbf)", function()
  local X = randn(1, 40, 6)
  local Q = orthogonal(2, 6)
  local offsets = randn(3, 1, 6) * 100
  for _, o in ipairs{{}, {unbiased = true}, {kernel = "rbf"}, {kernel = "rbf", unbiased = true},
                     {method = "gram"}} do
    local tag = (o.kernel or "linear") .. (o.unbiased and " unbiased" or "") .. (o.method or "")
    near(R.cka(X, X:matmul(Q), o), 1, 1e-12, tag .. " XQ")
    near(R.cka(X, X * 3.5, o), 1, 1e-12, tag .. " cX")
    near(R.cka(X, X + offsets, o), 1, 1e-11, tag .. " X + offsets")
  end
  -- a different number of features: X against [XQ, 0] (zero-padded rotation)
  local pad = tensor.cat({X:matmul(Q), tensor.zeros(40, 3)}, 2)
  near(R.cka(X, pad), 1, 1e-12)
end)

test("cka: feature space and Gram matrices agree to 1e-12", function()
  for _, s in ipairs{{30, 4, 7}, {20, 25, 3}, {9, 2, 2}} do
    local n, p, q = s[1], s[2], s[3]
    local X, Y = randn(n, n, p), randn(n + 1, n, q) + randn(n + 2, n, p):narrow(2, 1, math.min(p, q)):matmul(tensor.ones(math.min(p, q), q))
    for _, unbiased in ipairs{false, true} do
      near(R.cka(X, Y, {method = "feature", unbiased = unbiased}),
           R.cka(X, Y, {method = "gram", unbiased = unbiased}), 1e-12,
           string.format("%dx%d vs %dx%d unbiased=%s", n, p, n, q, tostring(unbiased)))
    end
    near(R.kernel_alignment(X, Y, {method = "feature"}), R.kernel_alignment(X, Y, {method = "gram"}), 1e-12)
  end
end)

test("cka: the feature-space product split between threads matches a naive sum (odd and even widths)", function()
  -- z^T z of [X Y] runs as two tasks on the threads once n (p + q)^2 is large
  for _, s in ipairs{{60000, 3, 4}, {40000, 4, 4}} do
    local n, p, q = s[1], s[2], s[3]
    local X, Y = randn(1, n, p), randn(2, n, q) + randn(3, n, p):narrow(2, 1, 1):matmul(tensor.ones(1, q))
    local function naive()   -- <Xc^T Yc>^2 / (|Xc^T Xc| |Yc^T Yc|) with plain sums
      local Xc, Yc = X - X:mean(1, true), Y - Y:mean(1, true)
      local function f2(A, B) local s2 = 0
        for i = 1, A:size(2) do for j = 1, B:size(2) do s2 = s2 + A:select(2, i):dot(B:select(2, j)) ^ 2 end end
        return s2 end
      return f2(Xc, Yc) / math.sqrt(f2(Xc, Xc) * f2(Yc, Yc))
    end
    local want = naive()
    for _, t in ipairs{1, 2} do
      local got = with_threads(t, function() return R.cka(X, Y, {method = "feature"}) end)
      near(got, want, 1e-12, string.format("%dx%d vs %dx%d on %d threads", n, p, n, q, t))
    end
  end
end)

test("cka: unbiased is close to biased for large n, and can go negative for independent data", function()
  local X = randn(10, 2000, 5)
  local Y = X:matmul(randn(11, 5, 4)) + randn(12, 2000, 4) * 0.5
  local b, u = R.cka(X, Y), R.unbiased_cka(X, Y)
  ok(b > 0.5, "correlated data score high: " .. b)
  ok(math.abs(b - u) < 0.01, string.format("biased %.5f vs unbiased %.5f", b, u))
  -- independent data: biased CKA stays positive (its bias ~ p q / n), unbiased centres on 0
  local negatives = 0
  for s = 1, 10 do
    local v = R.unbiased_cka(randn(100 + s, 50, 3), randn(200 + s, 50, 3))
    if v < 0 then negatives = negatives + 1 end
    ok(R.cka(randn(100 + s, 50, 3), randn(200 + s, 50, 3)) > 0)
  end
  ok(negatives > 0, "some unbiased scores of independent data are negative")
end)

test("kernel_alignment: 1 iff K = cL; not invariant to offsets (uncentred)", function()
  local X = randn(20, 30, 5)
  near(R.kernel_alignment(X, X:matmul(orthogonal(21, 5)) * 0.3), 1, 1e-12)
  ok(R.kernel_alignment(X, X + 5) < 0.99, "offsets change the uncentred kernel")
  ok(R.kernel_alignment(X, X:matmul(randn(22, 5, 5))) < 0.999, "a non-orthogonal map changes K")
end)

test("mutual_knn and cknna: 1 for identical neighbourhoods", function()
  local X = randn(30, 50, 8)
  eq(R.mutual_knn(X, X), 1)
  eq(R.mutual_knn(X, X:matmul(orthogonal(31, 8)) * 2, {k = 5}), 1)
  near(R.cknna(X, X, {k = 5}), 1, 1e-12)
  near(R.cknna(X, X:matmul(orthogonal(32, 8)), {k = 5}), 1, 1e-12)
end)

test("svcca: 1 for X against XA with A invertible at full dims", function()
  local X = randn(40, 60, 6)
  local A = randn(41, 6, 6) + tensor.eye(6) * 3
  local s, info = R.svcca(X, X:matmul(A), {dims = 6})
  near(s, 1, 1e-12)
  eq(info.dims, {6, 6})
  eq(info.rho:numel(), 6)
  -- rank deficiency is cut: Y = [X, X] has rank 6, not 12
  local s2, info2 = R.svcca(X, tensor.cat({X, X}, 2), {dims = {6, 12}})
  near(s2, 1, 1e-12)
  eq(info2.dims, {6, 6})
  -- by variance: 100% of the variance keeps every direction
  local s3, info3 = R.svcca(X, X:matmul(A), {variance = 1})
  near(s3, 1, 1e-12)
  eq(info3.dims, {6, 6})
end)

test("procrustes: 1 for X against c XQ + offsets; equals 1 - min |X - YQ|^2 / 2", function()
  local X = randn(50, 30, 5)
  near(R.procrustes(X, X:matmul(orthogonal(51, 5)) * 4 + 7), 1, 1e-12)
  local Y = randn(52, 30, 5)
  local s = R.procrustes(X, Y)
  ok(s > 0 and s < 1)
  -- explicit minimiser: Q = U V^T from the SVD of Y~^T X~
  local Xt, Yt = centred(X), centred(Y)
  Xt = Xt / Xt:norm(); Yt = Yt / Yt:norm()
  local U, _, V = L.svd(Yt:t():matmul(Xt))
  local resid = (Xt - Yt:matmul(U:matmul(V:t()))):norm()^2
  near(s, 1 - resid / 2, 1e-12)
  near(s, L.norm(Xt:t():matmul(Yt), "nuc"), 1e-12)
  -- wider than n: reduced through the SVD, same score as the nuclear norm directly
  local W1, W2 = randn(53, 10, 25), randn(54, 10, 30)
  local A, B = centred(W1), centred(W2)
  near(R.procrustes(W1, W2), L.norm(A:t():matmul(B), "nuc") / (A:norm() * B:norm()), 1e-12)
end)

------------------------------------------------------------------------------------------
-- against naive implementations

test("linear, unbiased and RBF CKA and kernel alignment match naive loops to 1e-12", function()
  local X, Y = randn(60, 12, 4), randn(61, 12, 3)
  local K, Lm = gram(centred(X)), gram(centred(Y))
  near(R.cka(X, Y), naive_cka(K, Lm, hsic_b), 1e-12, "linear")
  near(R.cka(X, Y, {method = "gram"}), naive_cka(K, Lm, hsic_b), 1e-12, "linear gram")
  near(R.cka(X, Y, {unbiased = true}), naive_cka(gram(X), gram(Y), hsic_u), 1e-12, "unbiased")
  near(R.cka(X, Y, {unbiased = true, method = "gram"}), naive_cka(gram(X), gram(Y), hsic_u), 1e-12)
  near(R.kernel_alignment(X, Y), naive_cka(gram(X), gram(Y), frob), 1e-12, "kernel alignment")
  local sx, sy = median_distance(X), median_distance(Y)
  near(R.cka(X, Y, {kernel = "rbf"}), naive_cka(rbf(X, sx), rbf(Y, sy), hsic_b), 1e-12, "rbf median")
  near(R.cka(X, Y, {kernel = "rbf", sigma = 0.7}), naive_cka(rbf(X, 0.7), rbf(Y, 0.7), hsic_b), 1e-12)
  near(R.cka(X, Y, {kernel = "rbf", sigma = {0.5, 2}, unbiased = true}),
       naive_cka(rbf(X, 0.5), rbf(Y, 2), hsic_u), 1e-12, "rbf unbiased")
  -- odd number of pairs (n = 11: 55) and even (n = 12: 66) for the median
  near(require("entro.metrics_c").median_distance(X), sx, 1e-12)
  local X11 = X:narrow(1, 1, 11)
  near(require("entro.metrics_c").median_distance(X11), median_distance(X11), 1e-12)
end)

test("knn on many rows: split between threads, the same lists as one thread and as a scan", function()
  -- 600 rows: the neighbour search and the similarity mirror run on the threads
  local X = randn(81, 600, 7)
  local one = with_threads(1, function() return R.knn(X, {k = 9}) end)
  local two = with_threads(2, function() return R.knn(X, {k = 9}) end)
  eq((one - two):abs():max(), 0, "the same lists")
  local S = cosine(X)
  for _, i in ipairs{1, 2, 300, 599, 600} do   -- against a full sort of row i
    local order = {}
    for j = 1, 600 do if j ~= i then order[#order + 1] = j end end
    table.sort(order, function(a, b) return S[i][a] > S[i][b] or (S[i][a] == S[i][b] and a < b) end)
    for t = 1, 9 do eq(math.tointeger(two:get(i, t)), order[t], "row " .. i .. " rank " .. t) end
  end
  eq(with_threads(2, function() return R.mutual_knn(X, X * 2, {k = 9}) end), 1)
end)

test("mutual_knn, knn and cknna match naive loops", function()
  local X, Y = randn(70, 25, 5), randn(71, 25, 4)
  for _, k in ipairs{1, 3, 10, 24} do
    near(R.mutual_knn(X, Y, {k = k}), naive_mutual_knn(X, Y, k), 1e-15, "k=" .. k)
  end
  for _, k in ipairs{2, 5, 12} do
    near(R.cknna(X, Y, {k = k}), naive_cknna(X, Y, k), 1e-12, "cknna k=" .. k)
  end
  -- knn lists best first
  local idx, S = R.knn(X, {k = 4}), cosine(X)
  for i = 1, 25 do
    local prev = math.huge
    for t = 1, 4 do
      local j = math.tointeger(idx:get(i, t))
      ok(j ~= i, "a row is not its own neighbour")
      ok(S[i][j] <= prev, "best first")
      prev = S[i][j]
    end
  end
  -- ties go to the lower index: four identical rows
  local T = tensor.cat({tensor.ones(4, 3), randn(72, 6, 3)}, 1)
  eq(R.knn(T, {k = 3}):narrow(1, 1, 2):totable(), {{2, 3, 4}, {1, 3, 4}})
end)

test("svcca and procrustes match LAPACK-based references", function()
  local X, Y = randn(80, 40, 5), randn(81, 40, 4)
  -- at full dims, CCA's correlations are the singular values of Q_X^T Q_Y (QR bases)
  local Qx, Qy = L.qr(centred(X)), L.qr(centred(Y))
  local rho = L.svd(Qx:t():matmul(Qy), {vectors = false})
  local s, info = R.svcca(X, Y, {dims = {5, 4}})
  near(info.rho, rho, 1e-12)
  near(s, rho:mean(), 1e-12)
end)

------------------------------------------------------------------------------------------
-- against numpy

local function numpy_available()
  return os.execute("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == true
end

test("linear CKA and mutual kNN match numpy on a fixed matrix", function()
  if not numpy_available() then skip("/usr/bin/python3 cannot import numpy") end
  -- a fixed, seed-free matrix: the same numbers on every machine
  local n, p, q = 60, 7, 5
  local X, Y = tensor.zeros(n, p), tensor.zeros(n, q)
  for i = 1, n do
    for j = 1, p do X:set(i, j, math.sin(i * 1.3 + j * j * 0.7) + 0.1 * math.cos(i * j)) end
    for j = 1, q do Y:set(i, j, math.sin(i * 1.3 + j * 0.7) * math.cos(j + i * 0.11) + 0.05 * i / n) end
  end
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  for _, M in ipairs{X, Y} do
    for i = 1, n do
      local r = {}
      for j = 1, M:size(2) do r[j] = string.format("%.17g", M:get(i, j)) end
      f:write(table.concat(r, " "), "\n")
    end
  end
  f:close()
  local script = string.format([==[
import numpy as np
lines = open(%q).read().split("\n")
X = np.array([[float(v) for v in l.split()] for l in lines[:%d]])
Y = np.array([[float(v) for v in l.split()] for l in lines[%d:2 * %d]])
Xc, Yc = X - X.mean(0), Y - Y.mean(0)
cka = np.linalg.norm(Yc.T @ Xc) ** 2 / (np.linalg.norm(Xc.T @ Xc) * np.linalg.norm(Yc.T @ Yc))
def knn(F, k):
    F = F / np.linalg.norm(F, axis=1, keepdims=True)
    S = F @ F.T
    np.fill_diagonal(S, -1e8)
    return np.argsort(-S, axis=1, kind="stable")[:, :k]
for k in (1, 5, 10):
    a, b = knn(X, k), knn(Y, k)
    print("knn", k, repr(np.mean([len(set(a[i]) & set(b[i])) / k for i in range(len(X))])))
print("cka", repr(cka))
]==], path, n, n, n)
  local spath = os.tmpname()
  f = assert(io.open(spath, "w"))
  f:write(script)
  f:close()
  local pipe = io.popen("OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 " .. spath .. " 2>&1")
  local out = pipe:read("a")
  pipe:close()
  os.remove(path); os.remove(spath)
  local ref = out:match("cka (%S+)")
  ok(ref, "numpy output: " .. out)
  near(R.cka(X, Y), tonumber(ref), 1e-12, "cka")
  local checked = 0
  for k, v in out:gmatch("knn (%d+) (%S+)") do
    near(R.mutual_knn(X, Y, {k = tonumber(k)}), tonumber(v), 1e-12, "mutual_knn k=" .. k)
    checked = checked + 1
  end
  eq(checked, 3)
end)

------------------------------------------------------------------------------------------
-- permutation null

test("null: independent features score within a few null std of the null", function()
  local X, Y = randn(90, 200, 10), randn(91, 200, 10)
  for _, m in ipairs{"cka", "mutual_knn", "procrustes", "unbiased_cka"} do
    local nl = R.null(m, X, Y, {perms = 30, rng = tensor.rng(92)})
    eq(#nl.values, 30)
    ok(nl.std > 0, m .. ": the null varies")
    local s = R.align(m, X, Y)
    ok(math.abs(s - nl.mean) < 4 * nl.std,
       string.format("%s: score %.4f vs null %.4f +- %.4f", m, s, nl.mean, nl.std))
  end
  -- related features stand far above it
  local Z = X:matmul(randn(93, 10, 10)) + randn(94, 200, 10) * 0.3
  local nl = R.null("cka", X, Z, {perms = 20, rng = tensor.rng(95)})
  ok(R.cka(X, Z) > nl.mean + 10 * nl.std)
end)

test("null: seeded, passes metric options through, checks its own", function()
  local X, Y = randn(100, 40, 4), randn(101, 40, 4)
  local a = R.null("mutual_knn", X, Y, {perms = 5, rng = tensor.rng(7), k = 3})
  local b = R.null("mutual_knn", X, Y, {perms = 5, rng = tensor.rng(7), k = 3})
  eq(a.values, b.values)
  -- k reached the metric: k = 3 scores are multiples of 1/(40*3)
  for _, v in ipairs(a.values) do near(v * 120, math.floor(v * 120 + 0.5), 1e-9) end
  raises(function() R.null("cka", X, Y, {perms = 1}) end, "null: perms must be an integer >= 2")
  raises(function() R.null("cka", X, Y, {perms = 3, kk = 1}) end, "cka: unknown option 'kk'")
  raises(function() R.null("nope", X, Y) end, "null: unknown metric 'nope'")
end)

------------------------------------------------------------------------------------------
-- registry

test("registry: metrics() lists, align dispatches, register adds", function()
  local names, docs = R.metrics()
  for _, m in ipairs{"cka", "cknna", "kernel_alignment", "mutual_knn", "procrustes", "svcca",
                     "unbiased_cka"} do
    ok(docs[m] and #docs[m] > 0, m .. " is listed with a doc")
  end
  for i = 2, #names do ok(names[i - 1] < names[i], "sorted") end
  local X, Y = randn(110, 20, 3), randn(111, 20, 3)
  eq(R.align("cka", X, Y), R.cka(X, Y))
  eq(R.align("mutual_knn", X, Y, {k = 4}), R.mutual_knn(X, Y, {k = 4}))
  R.register("test_first_col", function(A, B) return A:get(1, 1) - B:get(1, 1) end, "a toy")
  eq(R.align("test_first_col", X, X), 0)
  local _, docs2 = R.metrics()
  eq(docs2.test_first_col, "a toy")
  raises(function() R.register("x", 3) end, "register: 'x' needs a function")
  raises(function() R.align("no_such", X, Y) end, "align: unknown metric 'no_such' (known: ")
  if diag then
    eq(diag.cka, R.cka)
    eq(diag.layer_similarity, R.layer_similarity)
    ok(diag._help and diag._help.cka, "help texts reach diag")
  end
end)

------------------------------------------------------------------------------------------
-- activations and layer similarity

test("activations: every submodule's output by dotted name, forwards restored", function()
  local g = tensor.rng(120)
  local net = nn.mlp{6, 8, 5, 2, rng = g}
  local X = g:randn(10, 6)
  local list, map = R.activations(net, X)
  local names = {}
  for i, e in ipairs(list) do names[i] = e.name end
  eq(names, {"layers", "layers.1", "layers.2", "layers.3", "layers.4", "layers.5"})
  eq(map["layers.2"]:shape(), {10, 8})
  near(map["layers.2"], net.layers[1](X):relu(), 1e-15)
  ok(not map["layers.5"].needs_grad, "recorded under no_grad")
  for _, m in ipairs(net:modules()) do eq(rawget(m, "forward"), nil) end
  -- restored on error too
  local Bad = nn.Module:extend("Bad")
  function Bad:forward() error("bad forward") end
  local seq = nn.Sequential(nn.Linear(6, 3), Bad())
  raises(function() R.activations(seq, X) end, "bad forward")
  for _, m in ipairs(seq:modules()) do eq(rawget(m, "forward"), nil) end
  -- 3-D outputs: flattened by default, or averaged over tokens, or the last token
  local blk = nn.TransformerBlock(4, 2, {rng = g})
  local Z = g:randn(3, 5, 4)
  eq(select(2, R.activations(blk, Z)).mlp:shape(), {3, 20})
  eq(select(2, R.activations(blk, Z, {tokens = "mean"})).mlp:shape(), {3, 4})
  eq(select(2, R.activations(blk, Z, {tokens = "last"})).attn:shape(), {3, 4})
  eq(select(2, R.activations(blk, Z, {tokens = "keep"})).attn:shape(), {3, 5, 4})
  raises(function() R.activations(blk, Z, {tokens = "sum"}) end, "activations: tokens must be one of")
end)

test("layer_similarity: hidden layers by default; symmetric with 1 on the diagonal for one net", function()
  local g = tensor.rng(130)
  local X = g:randn(50, 4)
  -- deep linear: every Linear's output
  local dl = nn.deep_linear{4, 6, 5, 3, rng = g}
  local S, r, c = R.layer_similarity(dl, dl, X)
  eq(r, {"layers.1", "layers.2", "layers.3"})
  eq(c, r)
  for i = 1, 3 do
    near(S:get(i, i), 1, 1e-12)
    for j = 1, 3 do near(S:get(i, j), S:get(j, i), 1e-12) end
  end
  -- mlp: after each activation; a second net of other widths; explicit layer lists
  local a, b = nn.mlp{4, 16, 16, 1, rng = g}, nn.mlp{4, 8, 8, 8, 1, rng = g}
  local S2, ra, cb = R.layer_similarity(a, b, X, X, {metric = "mutual_knn", k = 5})
  eq(ra, {"layers.2", "layers.4"})
  eq(cb, {"layers.2", "layers.4", "layers.6"})
  eq(S2:shape(), {2, 3})
  near(S2:get(1, 2), R.mutual_knn(a.layers[2](a.layers[1](X)), b.layers[4](b.layers[3](b.layers[2](b.layers[1](X)))), {k = 5}), 1e-15)
  local _, r3, c3 = R.layer_similarity(a, b, X, X, {layers = {"net.layers.1", "layers.3"}, layers_b = "all"})
  eq(r3, {"layers.1", "layers.3"})
  eq(#c3, 8)
  local _, r4 = R.layer_similarity(a, b, X, X, {layers = function(name) return name:match("%.5$") end,
                                                 layers_b = {"layers.1"}})
  eq(r4, {"layers.5"})
  -- transformers: each block's attn and mlp
  local function tnet()
    return nn.Sequential(nn.TransformerBlock(4, 2, {rng = g}), nn.TransformerBlock(4, 2, {rng = g}))
  end
  local _, rt = R.layer_similarity(tnet(), tnet(), g:randn(6, 3, 4))
  eq(rt, {"1.attn", "1.mlp", "2.attn", "2.mlp"})
  raises(function() R.layer_similarity(a, b, X, X, {layers = {"layers.9"}}) end,
         "layer_similarity: net A has no layer output 'layers.9' (known: layers, layers.1")
  raises(function() R.layer_similarity(a, b, X, X:narrow(1, 1, 40)) end,
         "layer_similarity: A's 'layers.2' vs B's 'layers.2': ")
end)

------------------------------------------------------------------------------------------
-- misuse

test("errors name the metric and the shapes", function()
  local X, Y = randn(140, 100, 3), randn(141, 99, 3)
  raises(function() R.cka(X, Y) end, "cka: X has 100 rows, Y has 99 (rows must be paired)")
  for _, m in ipairs{"kernel_alignment", "mutual_knn", "cknna", "svcca", "procrustes"} do
    raises(function() R.align(m, X, Y) end, m .. ": X has 100 rows, Y has 99 (rows must be paired)")
  end
  raises(function() R.cka(X, Y, {kernel = "rbf"}) end, "cka: X has 100 rows, Y has 99")
  local T3 = tensor.zeros(4, 3, 2)
  raises(function() R.cka(T3, T3) end, "cka: X must be a 2-D matrix (rows x features), got shape 4x3x2")
  raises(function() R.mutual_knn(X, tensor.zeros(100)) end, "mutual_knn: Y must be a 2-D matrix")
  raises(function() R.cka({}, X) end, "cka: X must be a tensor (rows x features), got table")
  local S = randn(142, 10, 3)
  raises(function() R.mutual_knn(S, S, {k = 10}) end, "mutual_knn: k = 10 must be below n = 10")
  raises(function() R.cknna(S, S, {k = 1}) end, "cknna: k must be an integer >= 2, got 1")
  raises(function() R.knn(S, {k = 0}) end, "knn: k must be an integer >= 1, got 0")
  raises(function() R.mutual_knn(S, S, {k = 2.5}) end, "mutual_knn: k must be an integer >= 1, got 2.5")
  local N = S:clone()
  N:set(3, 2, 0 / 0)
  for _, m in ipairs{"cka", "kernel_alignment", "mutual_knn", "cknna", "svcca", "procrustes"} do
    raises(function() R.align(m, S, N, m == "mutual_knn" and {k = 3} or m == "cknna" and {k = 3} or nil) end,
           m .. ": Y has NaN/Inf entries")
  end
  N:set(3, 2, math.huge)
  raises(function() R.cka(N, S, {kernel = "rbf"}) end, "cka: X has NaN/Inf entries")
  raises(function() R.cka(S, S, {kernal = "rbf"}) end, "cka: unknown option 'kernal' (known: kernel, method, sigma, unbiased)")
  raises(function() R.cka(S, S, {kernel = "poly"}) end, "cka: kernel must be one of linear, rbf, got poly")
  raises(function() R.cka(S, S, {kernel = "rbf", sigma = -1}) end, "cka: sigma must be positive and finite")
  raises(function() R.cka(S, S, {sigma = 1}) end, "cka: sigma applies to kernel = 'rbf'")
  raises(function() R.cka(tensor.ones(5, 2), S:narrow(1, 1, 5), {kernel = "rbf"}) end,
         "cka: the median distance between rows of X is 0")
  raises(function() R.cka(S:narrow(1, 1, 3), S:narrow(1, 1, 3), {unbiased = true}) end,
         "cka: needs at least 4 rows, got 3")
  raises(function() R.cka(tensor.zeros(5, 0), S:narrow(1, 1, 5)) end, "cka: X has no features (shape 5x0)")
  raises(function() R.svcca(S, S, {dims = 4}) end, "svcca: dims = 4 for X must be between 1 and 3")
  raises(function() R.svcca(S, S, {dims = 2, variance = 0.9}) end, "svcca: give dims or variance, not both")
  raises(function() R.svcca(S, S, {variance = 1.5}) end, "svcca: variance must be a fraction in (0, 1]")
  raises(function() R.procrustes(S, S, {k = 2}) end, "procrustes: unknown option 'k'")
  -- no variance: the score is 0/0, NaN, not an error
  local c = R.cka(tensor.ones(10, 3), S)
  ok(c ~= c, "CKA of a constant representation is NaN")
  local p = R.procrustes(tensor.ones(10, 3), S)
  ok(p ~= p, "Procrustes of a constant representation is NaN")
end)

test("strided views give the same scores as contiguous copies", function()
  local B = randn(150, 8, 30)   -- its transpose is a 30 x 8 view with column stride 30
  local X, Y = B:t(), randn(151, 30, 4)
  local Xc = X:contiguous()
  for _, m in ipairs{"cka", "unbiased_cka", "kernel_alignment", "mutual_knn", "cknna", "svcca", "procrustes"} do
    eq(R.align(m, X, Y), R.align(m, Xc, Y), m)
  end
  eq(R.cka(X, Y, {kernel = "rbf"}), R.cka(Xc, Y, {kernel = "rbf"}))
end)
