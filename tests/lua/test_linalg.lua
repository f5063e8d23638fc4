-- tensor.linalg: decompositions checked by reconstruction and against known answers,
-- strided inputs against contiguous copies, and every misuse as an error naming the op.
local L = tensor.linalg
local T = tensor.tensor

local function maxabs(x) return x:abs():max() end
local function rand(seed, m, n) return tensor.rng(seed):randn(m, n) end
-- a random symmetric matrix
local function sym(seed, n)
  local a = rand(seed, n, n)
  return a:add(a:t()):mul(0.5)
end
-- V diag(w) V^T, with diag(w) applied by broadcasting over V's columns
local function recompose(V, w, W)
  return V:mul(w):matmul((W or V):t())
end
local function is_identity(x, tol, msg)
  near(x, tensor.eye(x:size(1)), tol, msg)
end

test("eigh: a 3x3 with known eigenvalues", function()
  local a = T{{2, -1, 0}, {-1, 2, -1}, {0, -1, 2}}
  local w, V = L.eigh(a)
  near(w, {2 - math.sqrt(2), 2, 2 + math.sqrt(2)}, 1e-14)
  eq(V:shape(), {3, 3})
  near(recompose(V, w), a, 1e-14)
  -- the middle eigenvector is (1, 0, -1)/sqrt 2 up to sign
  near(math.abs(V:get(1, 2)), 1 / math.sqrt(2), 1e-14)
  near(V:get(2, 2), 0, 1e-14)
end)

test("eigh: reconstruction and orthonormality on random matrices", function()
  for _, n in ipairs{1, 2, 5, 40} do
    local a = sym(n, n)
    local w, V = L.eigh(a)
    near(recompose(V, w), a, 1e-12, "n=" .. n)
    is_identity(V:t():matmul(V), 1e-12, "n=" .. n)
    for i = 2, n do ok(w:get(i - 1) <= w:get(i), "ascending") end
  end
end)

test("eigh: 200x200 random symmetric, sum of eigenvalues = trace", function()
  local a = sym(200, 200)
  local w = L.eigh(a, {vectors = false})
  ok(tensor.is_tensor(w) and w:dim() == 1 and w:size(1) == 200)
  local trace = 0
  for i = 1, 200 do trace = trace + a:get(i, i) end
  near(w:sum(), trace, 1e-10)
  near(L.eigvalsh(a), w, 1e-12)
  -- and the squares sum to the Frobenius norm squared
  near(w:square():sum(), L.norm(a) ^ 2, 1e-10)
end)

test("eigh reads only the lower triangle", function()
  local a = T{{2, 1}, {1, 2}}
  local b = T{{2, 99}, {1, 2}}   -- upper triangle is garbage
  near(L.eigh(b), L.eigh(a), 1e-15)
end)

test("svd: U S V^T = A, orthonormal factors, descending values", function()
  for _, mn in ipairs{{6, 4}, {4, 6}, {5, 5}, {1, 3}} do
    local m, n = mn[1], mn[2]
    local a = rand(m * 10 + n, m, n)
    local U, S, V = L.svd(a)
    local k = math.min(m, n)
    eq(U:shape(), {m, k}); eq(S:shape(), {k}); eq(V:shape(), {n, k})
    near(recompose(U, S, V), a, 1e-12, m .. "x" .. n)
    is_identity(U:t():matmul(U), 1e-12)
    is_identity(V:t():matmul(V), 1e-12)
    for i = 2, k do ok(S:get(i - 1) >= S:get(i), "descending") end
    near(L.svd(a, {vectors = false}), S, 1e-12)
  end
end)

test("svd: full factors are square and orthogonal", function()
  local a = rand(3, 5, 3)
  local U, S, V = L.svd(a, {full = true})
  eq(U:shape(), {5, 5}); eq(S:shape(), {3}); eq(V:shape(), {3, 3})
  is_identity(U:t():matmul(U), 1e-12)
  near(U:narrow(2, 1, 3):mul(S):matmul(V:t()), a, 1e-12)
end)

test("svd: known singular values, and V (not V^T) is returned", function()
  -- [[3, 0], [4, 5]] has singular values 3 sqrt5 and sqrt5
  near(L.svd(T{{3, 0}, {4, 5}}, {vectors = false}), {3 * math.sqrt(5), math.sqrt(5)}, 1e-14)
  -- A V = U diag(S) holds for V, and generically fails for V^T
  local a = rand(21, 4, 4)
  local U, S, V = L.svd(a)
  near(a:matmul(V), U:mul(S), 1e-13)
  ok(maxabs(a:matmul(V:t()):sub(U:mul(S))) > 0.1, "V^T would fail")
end)

test("solve: vector and matrix right-hand sides", function()
  local a = rand(1, 6, 6):add(tensor.eye(6):mul(4))
  local b = rand(2, 6, 1):view(6)
  local x = L.solve(a, b)
  eq(x:shape(), {6})
  near(a:matmul(x), b, 1e-13)
  local B = rand(3, 6, 3)
  local X = L.solve(a, B)
  eq(X:shape(), {6, 3})
  near(a:matmul(X), B, 1e-13)
  near(L.solve(T{{2, 0}, {0, 4}}, T{1, 1}), {0.5, 0.25}, 1e-15)
end)

test("lstsq: tall random system against the normal equations", function()
  local a, b = rand(4, 30, 5), rand(5, 30, 2)
  local x, rank, S = L.lstsq(a, b)
  eq(x:shape(), {5, 2})
  eq(rank, 5)
  ok(math.type(rank) == "integer", "rank is an integer")
  eq(S:shape(), {5})
  near(S, L.svd(a, {vectors = false}), 1e-12)
  local xn = L.solve(a:t():matmul(a), a:t():matmul(b))
  near(x, xn, 1e-12)
  -- a vector right-hand side gives a vector
  local xv = L.lstsq(a, b:select(2, 1):contiguous())
  near(xv, x:select(2, 1), 1e-12)
end)

test("lstsq: rank-deficient and wide systems give the minimum-norm solution", function()
  local a = T{{1, 1}, {1, 1}, {1, 1}}
  local x, rank = L.lstsq(a, T{3, 3, 3})
  eq(rank, 1)
  near(x, {1.5, 1.5}, 1e-13)
  local w = T{{1, 2, 3}}
  local xw, rw = L.lstsq(w, T{14})
  eq(rw, 1)
  near(xw, {1, 2, 3}, 1e-13)   -- the min-norm solution lies along the row
  near(L.lstsq(w, T{14}, {rcond = 1e-3}), xw, 1e-15)
  -- no right-hand sides: still the rank and the singular values
  local x0, r0, S0 = L.lstsq(a, tensor.zeros(3, 0))
  eq(x0:shape(), {2, 0}); eq(r0, 1)
  near(S0, {math.sqrt(6), 0}, 1e-14)
end)

test("cholesky: a known factor, L L^T = A on a random SPD matrix", function()
  local a = T{{4, 12, -16}, {12, 37, -43}, {-16, -43, 98}}
  near(L.cholesky(a), T{{2, 0, 0}, {6, 1, 0}, {-8, 5, 3}}, 1e-14)
  local r = rand(9, 8, 8)
  local spd = r:matmul(r:t()):add(tensor.eye(8))
  local l = L.cholesky(spd)
  near(l:matmul(l:t()), spd, 1e-12)
  for i = 1, 8 do for j = i + 1, 8 do eq(l:get(i, j), 0) end end
end)

test("qr: Q orthonormal, R upper triangular, QR = A", function()
  for _, mn in ipairs{{7, 4}, {4, 7}, {5, 5}} do
    local m, n = mn[1], mn[2]
    local a = rand(m + n, m, n)
    local Q, R = L.qr(a)
    local k = math.min(m, n)
    eq(Q:shape(), {m, k}); eq(R:shape(), {k, n})
    is_identity(Q:t():matmul(Q), 1e-13)
    for i = 1, k do for j = 1, math.min(i - 1, n) do eq(R:get(i, j), 0) end end
    near(Q:matmul(R), a, 1e-13)
  end
end)

test("inv, det, slogdet", function()
  local a = rand(11, 7, 7)
  is_identity(L.inv(a):matmul(a), 1e-12)
  -- det of a permutation: an odd one is -1
  eq(L.det(T{{0, 1, 0}, {1, 0, 0}, {0, 0, 1}}), -1)
  eq(L.det(T{{0, 1, 0}, {0, 0, 1}, {1, 0, 0}}), 1)
  near(L.det(T{{2, 0, 0}, {0, -3, 0}, {0, 0, 0.5}}), -3, 1e-15)
  -- the 4x4 Hilbert matrix: det = 1/6048000
  local h = {}
  for i = 1, 4 do h[i] = {} for j = 1, 4 do h[i][j] = 1 / (i + j - 1) end end
  near(L.det(T(h)) * 6048000, 1, 1e-9)
  local s, la = L.slogdet(T(h))
  eq(s, 1)
  near(la, -math.log(6048000), 1e-10)
  -- singular: det 0, slogdet (0, -inf), no error
  eq(L.det(T{{1, 2}, {2, 4}}), 0)
  local s0, l0 = L.slogdet(T{{1, 2}, {2, 4}})
  eq(s0, 0); eq(l0, -math.huge)
  -- slogdet does not overflow where det does
  local big = tensor.eye(400):mul(10)
  eq(L.det(big), math.huge)
  local sb, lb = L.slogdet(big)
  eq(sb, 1); near(lb, 400 * math.log(10), 1e-12)
  eq(L.det(tensor.zeros(0, 0)), 1)
end)

test("sqrtm, inv_sqrtm, expm", function()
  local r = rand(12, 6, 6)
  local spd = r:matmul(r:t()):add(tensor.eye(6):mul(0.1))
  local s = L.sqrtm(spd)
  near(s:matmul(s), spd, 1e-12)
  eq(s:totable(), s:t():totable(), "exactly symmetric")
  local is = L.inv_sqrtm(spd)
  is_identity(is:matmul(spd):matmul(is), 1e-11)
  near(L.expm(T{{1, 0}, {0, -2}}), T{{math.exp(1), 0}, {0, math.exp(-2)}}, 1e-14)
  -- expm(A) expm(-A) = I; expm of a rotation generator's symmetric cousin
  local a = sym(13, 5)
  is_identity(L.expm(a):matmul(L.expm(a:neg())), 1e-12)
  -- a PSD matrix with an exact zero eigenvalue: roundoff negatives are clamped
  local v = T{{1}, {2}, {3}}
  local p = v:matmul(v:t())
  near(L.sqrtm(p):matmul(L.sqrtm(p)), p, 1e-12)
end)

test("tridiag_eigh matches eigh on the dense matrix", function()
  local d, e = T{1, 2, 3, 4, 5}, T{0.5, -1, 0.25, 2}
  local dense = tensor.zeros(5, 5)
  for i = 1, 5 do dense:set(i, i, d:get(i)) end
  for i = 1, 4 do dense:set(i, i + 1, e:get(i)); dense:set(i + 1, i, e:get(i)) end
  local w, Z = L.tridiag_eigh(d, e)
  near(w, L.eigvalsh(dense), 1e-13)
  near(recompose(Z, w), dense, 1e-13)
  near(L.tridiag_eigh(d, e, {vectors = false}), w, 1e-14)
  near(L.tridiag_eigh(T{3}, tensor.zeros(0)), {3}, 0)
end)

test("pinv, matrix_rank, norm", function()
  local a = rand(14, 6, 3)
  local p = L.pinv(a)
  eq(p:shape(), {3, 6})
  near(a:matmul(p):matmul(a), a, 1e-12)
  near(p, L.inv(a:t():matmul(a)):matmul(a:t()), 1e-12)
  -- rank 2: a product of 6x2 and 2x5
  local low = rand(15, 6, 2):matmul(rand(16, 2, 5))
  eq(L.matrix_rank(low), 2)
  eq(L.matrix_rank(a), 3)
  eq(L.matrix_rank(T{{1, 0}, {0, 1e-3}}, 1e-2), 1)
  local lp = L.pinv(low)
  near(low:matmul(lp):matmul(low), low, 1e-12)
  local m = T{{1, -2}, {3, 4}}
  near(L.norm(m), math.sqrt(30), 1e-15)
  near(L.norm(m, "fro"), math.sqrt(30), 1e-15)
  eq(L.norm(m, 1), 6)
  eq(L.norm(m, math.huge), 7)
  local S = L.svd(m, {vectors = false})
  near(L.norm(m, 2), S:get(1), 1e-15)
  near(L.norm(m, "nuc"), S:sum(), 1e-15)
  near(L.norm(T{{1e200, 1e200}}), math.sqrt(2) * 1e200, 1e-15)
end)

test("strided inputs give the same answers as contiguous ones", function()
  local base = rand(17, 6, 6)
  local at = base:t()                     -- transposed view
  local ac = at:contiguous()
  ok(not at:is_contiguous())
  local function same(f)
    local r1, r2 = {f(at)}, {f(ac)}
    for i = 1, #r2 do
      if tensor.is_tensor(r2[i]) then near(r1[i], r2[i], 1e-13) else near(r1[i], r2[i], 1e-13) end
    end
  end
  local spd = base:matmul(base:t()):add(tensor.eye(6))
  same(function(x) return L.svd(x) end)
  same(function(x) return L.qr(x) end)
  same(function(x) return L.inv(x) end)
  same(function(x) return L.det(x) end)
  same(function(x) return L.solve(x, base:select(2, 1)) end)
  same(function(x) return L.lstsq(x, base) end)
  same(function(x) return L.pinv(x) end)
  same(function(x) return L.eigh(x:add(x:t())) end)
  -- a narrowed view with a row stride wider than its width, and a doubly strided one
  local big = rand(18, 10, 10)
  local sub = big:narrow(1, 2, 6):narrow(2, 3, 6)
  near(L.inv(sub), L.inv(sub:contiguous()), 1e-13)
  local s2 = big:transpose(1, 2):narrow(1, 1, 5):narrow(2, 1, 5)
  near(L.det(s2), L.det(s2:contiguous()), 1e-13)
  local tspd = spd:t()
  near(L.cholesky(tspd), L.cholesky(spd), 1e-13)
  near(L.sqrtm(tspd), L.sqrtm(spd), 1e-13)
  -- an expanded (stride 0) input
  local row = T{{1, 2, 3}}
  local ex = row:expand(4, 3)
  eq(L.matrix_rank(ex), 1)
end)

test("inputs are never modified", function()
  local a = T{{4, 1}, {1, 3}}
  local copy = a:clone()
  L.eigh(a); L.svd(a); L.inv(a); L.cholesky(a); L.qr(a); L.det(a); L.sqrtm(a)
  L.solve(a, T{1, 2}); L.lstsq(a, T{1, 2}); L.pinv(a)
  eq(a:totable(), copy:totable())
end)

test("empty matrices", function()
  local z = tensor.zeros(0, 0)
  local w, V = L.eigh(z)
  eq(w:shape(), {0}); eq(V:shape(), {0, 0})
  eq(L.inv(z):shape(), {0, 0})
  local U, S, Vt = L.svd(tensor.zeros(3, 0), {full = true})
  eq(S:shape(), {0}); is_identity(U, 0); eq(Vt:shape(), {0, 0})
  local Q, R = L.qr(tensor.zeros(3, 0))
  eq(Q:shape(), {3, 0}); eq(R:shape(), {0, 0})
  near(L.lstsq(tensor.zeros(0, 2), tensor.zeros(0)), {0, 0}, 0)
  eq(L.pinv(tensor.zeros(2, 0)):shape(), {0, 2})
  eq(L.norm(tensor.zeros(0, 3), 2), 0)
end)

test("errors name the op and the offending shapes or values", function()
  local sq, rect, vec = tensor.eye(3), tensor.zeros(2, 3), tensor.zeros(3)
  local nan = T{{1, 0 / 0}, {0, 1}}
  local inf = T{{1, math.huge}, {0, 1}}
  raises(function() L.eigh(nan) end, "eigh: matrix has NaN/Inf entries")
  raises(function() L.eigh(inf) end, "eigh: matrix has NaN/Inf entries")
  raises(function() L.eigh(rect) end, "eigh: needs a square matrix, got 2x3")
  raises(function() L.eigh(vec) end, "eigh: needs a 2-D matrix, got a tensor of shape 3")
  raises(function() L.eigh(5) end, "eigh: A must be a tensor, got number")
  raises(function() L.eigh(sq, {vector = false}) end, "eigh: unknown option 'vector'")
  raises(function() L.eigvalsh(rect) end, "eigvalsh: needs a square matrix")
  raises(function() L.svd(vec) end, "svd: needs a 2-D matrix")
  raises(function() L.svd(nan) end, "svd: matrix has NaN/Inf entries")
  raises(function() L.svd("x") end, "svd: A must be a tensor, got string")
  raises(function() L.solve(rect, vec) end, "solve: needs a square matrix, got 2x3")
  raises(function() L.solve(sq, tensor.zeros(4)) end, "solve: sizes differ (A is 3x3, B is 4")
  raises(function() L.solve(sq, tensor.zeros(2, 2, 2)) end, "solve: B must be a vector or a matrix")
  raises(function() L.solve(T{{1, 2}, {2, 4}}, T{1, 1}) end, "solve: matrix A of shape 2x2 is singular")
  raises(function() L.solve(sq, T{1, 0 / 0, 1}) end, "solve: B has NaN/Inf entries")
  raises(function() L.solve(sq) end, "solve: B must be a tensor, got no value")
  raises(function() L.lstsq(rect, tensor.zeros(3)) end, "lstsq: sizes differ")
  raises(function() L.lstsq(rect, tensor.zeros(2), {rcond = "x"}) end, "lstsq: rcond must be a number")
  raises(function() L.cholesky(T{{1, 2, 0}, {2, 1, 0}, {0, 0, 1}}) end,
         "cholesky: matrix is not positive definite (leading minor 2)")
  raises(function() L.cholesky(T{{1, 0, 0}, {0, 1, 0}, {0, 0, -1}}) end, "(leading minor 3)")
  raises(function() L.cholesky(vec) end, "cholesky: needs a 2-D matrix")
  raises(function() L.qr(vec) end, "qr: needs a 2-D matrix")
  raises(function() L.inv(T{{1, 2}, {2, 4}}) end, "inv: matrix of shape 2x2 is singular")
  raises(function() L.inv(rect) end, "inv: needs a square matrix, got 2x3")
  raises(function() L.det(rect) end, "det: needs a square matrix")
  raises(function() L.det(nan) end, "det: matrix has NaN/Inf entries")
  raises(function() L.slogdet(vec) end, "slogdet: needs a 2-D matrix")
  raises(function() L.sqrtm(T{{1, 0}, {0, -1}}) end, "sqrtm: matrix is not positive semidefinite")
  raises(function() L.sqrtm(rect) end, "sqrtm: needs a square matrix")
  raises(function() L.inv_sqrtm(T{{1, 0}, {0, 0}}) end, "inv_sqrtm: matrix is not positive definite")
  raises(function() L.expm(T{{800, 0}, {0, 1}}) end, "expm: eigenvalue 800 overflows exp")
  raises(function() L.expm(nan) end, "expm: matrix has NaN/Inf entries")
  raises(function() L.tridiag_eigh(T{1, 2, 3}, T{1}) end,
         "tridiag_eigh: the off-diagonal e has length 1, expected 2")
  raises(function() L.tridiag_eigh(sq, T{1}) end, "tridiag_eigh: the diagonal d must be a vector")
  raises(function() L.tridiag_eigh(T{1, 0 / 0}, T{1}) end, "tridiag_eigh: the diagonal d has NaN/Inf")
  raises(function() L.pinv(vec) end, "pinv: needs a 2-D matrix")
  raises(function() L.matrix_rank(nan) end, "matrix_rank: matrix has NaN/Inf entries")
  raises(function() L.norm(sq, 3) end, "norm: unknown order 3")
  raises(function() L.norm(vec) end, "norm: needs a 2-D matrix, got a vector of 3")
  raises(function() L.norm(nan, 2) end, "norm: matrix has NaN/Inf entries")
  ok(L.norm(nan) ~= L.norm(nan), "the Frobenius norm of NaN is NaN")
  local closed = tensor.eye(2)
  closed:close()
  local msg = raises(function() L.inv(closed) end, "tensor was closed")
  ok(msg:find("inv", 1, true), msg)
end)

test("help texts", function()
  for name in pairs(L) do
    if name ~= "_help" then ok(type(L._help[name]) == "string", "help for " .. name) end
  end
end)

---------------------------------------------------------------------------------------------
-- project_out: w -= Q^T (Q w), once, twice or "auto", in place
---------------------------------------------------------------------------------------------

-- k orthonormal rows of length n, as the transpose of QR's Q (a non-contiguous view)
local function orows(seed, n, k) return L.qr(tensor.rng(seed):randn(n, k)):t() end
-- max |a - b| <= tol * scale
local function close(a, b, tol, scale, msg)
  local d = maxabs(a:sub(b))
  ok(d <= tol * scale, string.format("%s: max difference %.3g > %.3g", msg, d, tol * scale))
end
local function same_bits(a, b, msg)
  eq(a:shape(), b:shape(), msg)
  if a:numel() > 5000 then   -- elementwise ==, without building big Lua tables
    local differ = a:numel() - a:eq(b):sum()
    if differ ~= 0 then error(string.format("%s: %d elements differ", msg, differ), 2) end
    return
  end
  local A, B = a:contiguous():view(-1):totable(), b:contiguous():view(-1):totable()
  for i = 1, #A do
    if A[i] ~= B[i] then
      error(string.format("%s: element %d: %.17g vs %.17g", msg, i, A[i], B[i]), 2)
    end
  end
end

-- Q (big, 300000 x 20) is built once: a QR of that size is the slow part
local PO_Q = {}
local function po_rows(n)
  if not PO_Q[n] then
    local Qt = orows(7000 + n, n, math.min(n, 20))
    PO_Q[n] = {t = Qt, c = Qt:contiguous()}
  end
  return PO_Q[n]
end

test("project_out: against the naive reference over sizes, row counts and passes", function()
  local g = tensor.rng(4242)
  for _, n in ipairs{1, 5, 2047, 2048, 2049, 300000} do
    local Qs = po_rows(n)
    for _, k in ipairs{1, 3, 4, 5, 20} do
      if k <= n then
        local w0 = g:randn(n)
        local scale = w0:norm()
        -- the reference after one pass and after two
        local Qr = Qs.c:narrow(1, 1, k)
        local c1 = Qr:matmul(w0)
        local w1 = w0:sub(Qr:t():matmul(c1))
        local c2 = Qr:matmul(w1)
        local w2, c12 = w1:sub(Qr:t():matmul(c2)), c1:add(c2)
        for pi, passes in ipairs{1, 2, "auto"} do
          -- every other case takes Q as the transposed (non-contiguous) view; the big one
          -- mostly contiguous, as copying a 20 x 300000 view costs more than the work
          local strided = (n < 300000 and (k + pi) % 2 == 0) or (n == 300000 and k == 5 and pi == 1)
          local Q = (strided and Qs.t or Qs.c):narrow(1, 1, k)
          local msg = string.format("n=%d k=%d passes=%s%s", n, k, passes, strided and " strided Q" or "")
          local w = w0:clone()
          local r, c, nrm = L.project_out(w, Q, {passes = passes})
          ok(rawequal(r, w), msg .. ": returns w itself")
          eq(c:shape(), {k}, msg)
          ok(math.type(nrm) == "float", msg .. ": the norm is a number")
          if passes == 1 then
            close(w, w1, 1e-13, scale, msg .. ": w")
            close(c, c1, 1e-13, scale, msg .. ": c = Q w0")
          else
            -- "auto" may stop after one pass: it still agrees with two to 1e-12
            local tol = passes == "auto" and 1e-12 or 1e-13
            close(w, w2, tol, scale, msg .. ": w")
            close(c, c12, tol, scale, msg .. ": c")
          end
          close(Qr:matmul(w), tensor.zeros(k), 1e-12, scale, msg .. ": Q w after")
          near(nrm, w:norm(), 1e-13, msg .. ": norm")
          -- what was removed and what is left add up to w0
          if passes == 2 then close(w:add(Qr:t():matmul(c)), w0, 1e-13, scale, msg .. ": w + Q^T c = w0") end
        end
      end
    end
  end
end)

test("project_out: passes = 2 is the default, and does better than one pass", function()
  local n, k = 2049, 5
  local Q = po_rows(n).c:narrow(1, 1, k)
  local g = tensor.rng(77)
  -- w almost inside the span of Q: one pass leaves it visibly non-orthogonal
  local a = g:randn(k):mul(1e8)
  local w0 = Q:t():matmul(a):add(g:randn(n))
  local w1, w2, wd, wn = w0:clone(), w0:clone(), w0:clone(), w0:clone()
  L.project_out(w1, Q, {passes = 1})
  L.project_out(w2, Q, {passes = 2})
  L.project_out(wd, Q)
  L.project_out(wn, Q, {})
  same_bits(wd, w2, "no options means passes = 2")
  same_bits(wn, w2, "empty options means passes = 2")
  local o1 = maxabs(Q:matmul(w1)) / w1:norm()
  local o2 = maxabs(Q:matmul(w2)) / w2:norm()
  ok(o2 < 1e-13, string.format("two passes leave |Q w| / |w| = %.3g", o2))
  ok(o1 > 100 * o2, string.format("one pass (%.3g) should be far worse than two (%.3g)", o1, o2))
end)

test("project_out: \"auto\" takes the second pass exactly when the first removed over half", function()
  local n, k = 2049, 5
  local Q = po_rows(n).c:narrow(1, 1, k)
  local g = tensor.rng(99)
  -- r orthogonal to the rows of Q, then w = Q^T a + r with |Q^T a|^2 a chosen share of |w|^2
  local r = g:randn(n)
  L.project_out(r, Q)
  r:div_(r:norm())
  local u = g:randn(k)
  u:div_(u:norm())
  for _, share in ipairs{0.3, 0.45, 0.55, 0.7, 0.999} do
    local w0 = Q:t():matmul(u:mul(math.sqrt(share))):add(r:mul(math.sqrt(1 - share)))
    local w1, w2, wa = w0:clone(), w0:clone(), w0:clone()
    local _, c1 = L.project_out(w1, Q, {passes = 1})
    local _, c2 = L.project_out(w2, Q, {passes = 2})
    local _, ca, na = L.project_out(wa, Q, {passes = "auto"})
    local msg = "share " .. share
    ok(maxabs(w1:sub(w2)) > 0, msg .. ": one and two passes differ in the last bits")
    if share > 0.5 then
      same_bits(wa, w2, msg .. ": auto = two passes")
      same_bits(ca, c2, msg .. ": auto's coefficients = two passes'")
    else
      same_bits(wa, w1, msg .. ": auto = one pass")
      same_bits(ca, c1, msg .. ": auto's coefficients = one pass'")
    end
    near(na, wa:norm(), 1e-13, msg)
    close(wa, w2, 1e-12, 1, msg .. ": auto vs two passes")
    ok(maxabs(Q:matmul(wa)) <= 1e-12, msg .. ": auto is orthogonal")
  end
end)

test("project_out: strided w and Q give the same bits as contiguous copies", function()
  local g = tensor.rng(555)
  for _, n in ipairs{5, 2049} do
    local k = n == 5 and 3 or 4
    local Qs = po_rows(n)
    local Qc = Qs.c:narrow(1, 1, k):contiguous()
    local w0 = g:randn(n)
    local want = w0:clone()
    local _, cw, nw = L.project_out(want, Qc)
    -- Q: the transposed view, rows 2..k+1 of it (an offset), and a column window of a
    -- wider matrix (row stride > n)
    local wide = tensor.zeros(k + 1, n + 7)
    wide:narrow(1, 2, k):narrow(2, 4, n):copy_(Qc)
    local Qviews = {
      {"transposed", Qs.t:narrow(1, 1, k)},
      {"column window", wide:narrow(1, 2, k):narrow(2, 4, n)},
    }
    -- w: a column of a matrix, and a narrow of such a column
    local M = g:randn(n, 3)
    local B = g:randn(n + 5, 3)
    for _, qv in ipairs(Qviews) do
      local Q = qv[2]
      same_bits(Q, Qc, qv[1] .. " holds the same rows")
      for wi, wmaker in ipairs{
        function() return w0:clone() end,
        function() M:select(2, 2):copy_(w0); return M:select(2, 2) end,
        function() B:select(2, 3):narrow(1, 4, n):copy_(w0); return B:select(2, 3):narrow(1, 4, n) end,
      } do
        local msg = string.format("n=%d %s Q, w #%d", n, qv[1], wi)
        local w = wmaker()
        if wi > 1 then ok(not w:is_contiguous(), msg .. ": w is strided") end
        local M0, B0 = M:clone(), B:clone()
        local r, c, nrm = L.project_out(w, Q)
        ok(rawequal(r, w), msg)
        same_bits(w, want, msg .. ": w")
        same_bits(c, cw, msg .. ": c")
        eq(nrm, nw, msg .. ": norm")
        -- the other columns of M and B, and B's rows outside the narrow, are not written
        if wi == 2 then
          same_bits(M:select(2, 1), M0:select(2, 1), msg .. ": column 1")
          same_bits(M:select(2, 3), M0:select(2, 3), msg .. ": column 3")
        elseif wi == 3 then
          same_bits(B:select(2, 1), B0:select(2, 1), msg .. ": column 1")
          same_bits(B:select(2, 2), B0:select(2, 2), msg .. ": column 2")
          same_bits(B:select(2, 3):narrow(1, 1, 3), B0:select(2, 3):narrow(1, 1, 3), msg .. ": head")
          same_bits(B:select(2, 3):narrow(1, n + 4, 2), B0:select(2, 3):narrow(1, n + 4, 2), msg .. ": tail")
        end
      end
    end
    ok(maxabs(wide:select(1, 1)) == 0 and maxabs(wide:narrow(2, 1, 3)) == 0, "wide's padding untouched")
  end
end)

test("project_out: k = 0 rows leaves w unchanged", function()
  local g = tensor.rng(31)
  for _, n in ipairs{1, 5, 2049} do
    local w0 = g:randn(n)
    for _, Q in ipairs{tensor.zeros(0, n), po_rows(n).c:narrow(1, 1, 0)} do
      for _, passes in ipairs{1, 2, "auto"} do
        local w = w0:clone()
        local r, c, nrm = L.project_out(w, Q, {passes = passes})
        ok(rawequal(r, w))
        eq(c:shape(), {0})
        same_bits(w, w0, "n=" .. n)
        near(nrm, w0:norm(), 1e-14, "n=" .. n)
      end
    end
  end
end)

test("project_out: the same bits with 1 and 2 threads", function()
  local prev = entro.blas().threads
  local n = 300000
  local Qs = po_rows(n)
  local w0 = tensor.rng(8080):randn(n)
  local results = {}
  for _, th in ipairs{1, 2, 1} do
    results[#results + 1] = with_threads(th, function()
      eq(entro.blas().threads, th)
      local row = {}
      for _, passes in ipairs{1, 2, "auto"} do
        local w = w0:clone()
        local _, c, nrm = L.project_out(w, Qs.c, {passes = passes})
        row[#row + 1] = {w, c, nrm}
      end
      local w = w0:clone()
      local _, c, nrm = L.project_out(w, Qs.c:narrow(1, 1, 3))
      row[#row + 1] = {w, c, nrm}
      return row
    end)
  end
  eq(entro.blas().threads, prev, "thread count restored")
  for t = 2, 3 do
    for i, res in ipairs(results[t]) do
      local msg = string.format("run %d case %d", t, i)
      same_bits(res[1], results[1][i][1], msg .. ": w")
      same_bits(res[2], results[1][i][2], msg .. ": c")
      eq(res[3], results[1][i][3], msg .. ": norm")
    end
  end
end)

test("project_out: writes w (bumping its version) and never Q", function()
  local n, k = 2049, 3
  local Q = po_rows(n).c:narrow(1, 1, k):contiguous()
  local Q0 = Q:clone()
  local g = tensor.rng(61)
  -- a contiguous w and a strided one, each saved by a recorded op before the call
  local M = g:randn(n, 2)
  for _, w in ipairs{g:randn(n), M:select(2, 2)} do
    local w0 = w:clone()
    local a = tensor.ones(n):requires_grad()
    local b = tensor.ones(k, n):requires_grad()
    local y = a:mul(w)          -- saves w for a's gradient
    local z = b:mul(Q)          -- saves Q for b's gradient
    L.project_out(w, Q)
    ok(maxabs(w:sub(w0)) > 0.01, "w changed")
    same_bits(Q, Q0, "Q unchanged")
    raises(function() y:sum():backward() end, "modified in place")
    z:sum():backward()          -- Q's version did not move
    same_bits(b.grad, Q0, "b's gradient is Q")
  end
  -- Q from a view of a bigger storage: only w's storage is written
  local big = Q0:clone()
  L.project_out(g:randn(n), big:narrow(1, 2, 2))
  same_bits(big, Q0, "Q view unchanged")
end)

test("project_out: errors", function()
  local n = 5
  local Q = po_rows(n).c:narrow(1, 1, 3):contiguous()
  local Q0 = Q:clone()
  local w = tensor.rng(3):randn(n)
  local w0 = w:clone()
  raises(function() L.project_out(w, tensor.zeros(n)) end, "project_out: needs a k x n matrix")
  raises(function() L.project_out(w, tensor.zeros(1, 3, n)) end, "project_out: needs a k x n matrix")
  raises(function() L.project_out(w, tensor.zeros(3, n + 1)) end, "project_out: needs a k x n matrix")
  raises(function() L.project_out(tensor.zeros(1, n), Q) end, "project_out: needs a k x n matrix")
  raises(function() L.project_out(tensor.zeros(n - 1), Q) end, "project_out: needs a k x n matrix")
  raises(function() L.project_out(Q:select(1, 1), Q) end, "must not share storage")
  local Qsq = po_rows(n).c:clone()   -- 5 x 5: a column is a vector of length n too
  raises(function() L.project_out(Qsq:select(2, 2), Qsq) end, "must not share storage")
  local Qbig = Q:clone()
  raises(function() L.project_out(Qbig:select(1, 3), Qbig:narrow(1, 1, 2)) end, "must not share storage")
  same_bits(Qbig, Q0, "Q not written by the failed call")
  for _, p in ipairs{3, 0, -1, "x", 1.5, true} do
    raises(function() L.project_out(w, Q, {passes = p}) end, "project_out: passes must be")
  end
  same_bits(L.project_out(w:clone(), Q, {passes = 2.0}), L.project_out(w:clone(), Q), "passes = 2.0")
  raises(function() L.project_out(tensor.ones(1):expand(n), Q) end, "project_out: w is an expanded view")
  raises(function() L.project_out(w, Q, {pass = 2}) end, "project_out: unknown option 'pass'")
  raises(function() L.project_out(w, Q, {passes = 2, extra = 1}) end, "unknown option")
  raises(function() L.project_out(w, Q, 2) end, "options must be a table")
  raises(function() L.project_out("w", Q) end, "project_out: w must be a tensor")
  raises(function() L.project_out(w, {{1, 0, 0, 0, 0}}) end, "project_out: Q must be a tensor")
  raises(function() L.project_out(w) end, "must be a tensor")
  raises(function() L.project_out() end, "must be a tensor")
  same_bits(w, w0, "w not written by any failed call")
  same_bits(Q, Q0, "Q not written by any failed call")
  -- in grad mode, a w or Q that requires grad is refused (the write is not recorded)
  local wp = w:clone():requires_grad()
  raises(function() L.project_out(wp, Q) end, "project_out: in-place")
  raises(function() L.project_out(w, Q:clone():requires_grad()) end, "project_out:")
  raises(function() L.project_out(wp * 2, Q) end, "project_out: in-place")
  same_bits(w, w0, "w not written")
end)

test("project_out: tol leaves w alone when every component is within tol |w|", function()
  local L = tensor.linalg
  local n = 3000
  local Q = po_rows(n).c:narrow(1, 1, 6)
  local g = tensor.rng(77)
  local w0 = g:randn(n)
  w0 = w0 - Q:t():matmul(Q:matmul(w0))            -- orthogonal to Q to rounding
  local small = w0 + Q:select(1, 3) * (1e-13 * w0:norm())   -- one component of 1e-13 |w|
  -- components within tol: w is untouched, the coefficients are zeros, |w| is reported
  local w = small:clone()
  local r, c, nrm = L.project_out(w, Q, {passes = "auto", tol = 1e-12})
  same_bits(w, small, "w untouched under tol")
  same_bits(c, tensor.zeros(6), "no coefficients removed")
  ok(math.abs(nrm - small:norm()) <= 1e-14 * nrm, "norm of the untouched w")
  ok(rawequal(r, w), "w itself comes back")
  -- above tol they are removed as without it
  local want = L.project_out(small:clone(), Q, {passes = "auto"})
  local got, c2 = L.project_out(small:clone(), Q, {passes = "auto", tol = 1e-14})
  same_bits(got, want, "a component above tol is removed")
  ok(math.abs(c2:get(3) - 1e-13 * w0:norm()) <= 1e-3 * 1e-13 * w0:norm(), "the coefficient removed")
  -- tol = 0 is the default
  same_bits(L.project_out(small:clone(), Q, {tol = 0}), L.project_out(small:clone(), Q), "tol 0")
  for _, bad in ipairs{-1e-3, 1, 2, 0 / 0} do
    raises(function() L.project_out(small:clone(), Q, {tol = bad}) end, "project_out: tol")
  end
  raises(function() L.project_out(small:clone(), Q, {tol = "x"}) end, "tol must be a number")
end)
