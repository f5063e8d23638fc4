/* llinalg.c -- tensor.linalg: the Lua face of the engine's LAPACK routines (core/linalg.h).
 *
 * Matrices are 2-D tensors, any strided view; results are new contiguous tensors. Result
 * userdata are created empty before the engine runs, so a Lua memory error while pushing
 * several results cannot leak the ones not yet pushed. */
#include <math.h>
#include <string.h>
#include "lentro.h"
#include "../core/linalg.h"

/* ---- arguments ---- */

static entro_tensor *arg(lua_State *L, int idx, const char *op, const char *what) {
  entro_tensor *t = lt_test(L, idx);   /* a closed tensor raises there */
  if (t) return t;
  luaL_error(L, "%s: %s must be a tensor, got %s", op, what, luaL_typename(L, idx));
  return NULL;
}

/* An options table at idx (or nothing): every key must be one of `known`, so a misspelt
 * option is an error rather than silently ignored. */
static int opts(lua_State *L, int idx, const char *op, const char *const *known) {
  if (lua_isnoneornil(L, idx)) return 0;
  if (!lua_istable(L, idx))
    return luaL_error(L, "%s: options must be a table, got %s", op, luaL_typename(L, idx));
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    int found = 0;
    if (lua_type(L, -2) == LUA_TSTRING)
      for (int i = 0; known[i]; i++) found |= !strcmp(lua_tostring(L, -2), known[i]);
    if (!found) {
      lua_pushvalue(L, -2);
      return luaL_error(L, "%s: unknown option '%s'", op, luaL_tolstring(L, -1, NULL));
    }
    lua_pop(L, 1);
  }
  return 1;
}

static int opt_bool(lua_State *L, int idx, const char *key, int def) {
  if (!lua_istable(L, idx)) return def;
  lua_getfield(L, idx, key);
  int v = lua_isnil(L, -1) ? def : lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

/* A number given directly at idx, or as opts[key]; def when absent. */
static double opt_num(lua_State *L, int idx, const char *op, const char *key, double def) {
  if (lua_isnoneornil(L, idx)) return def;
  if (lua_istable(L, idx)) {
    lua_getfield(L, idx, key);
    if (lua_isnil(L, -1)) { lua_pop(L, 1); return def; }
    lua_replace(L, idx);   /* read the field in place of the table */
  }
  if (lua_type(L, idx) != LUA_TNUMBER)
    return luaL_error(L, "%s: %s must be a number, got %s", op, key, luaL_typename(L, idx));
  double v = lua_tonumber(L, idx);
  if (isnan(v)) return luaL_error(L, "%s: %s is NaN", op, key);
  return v;
}

/* ---- results ---- */

/* An empty tensor userdata, to be filled by fill() once the engine has succeeded. */
static lt_box *box(lua_State *L) {
  lt_box *b = lua_newuserdatauv(L, sizeof *b, 1);
  b->t = NULL;
  luaL_setmetatable(L, ENTRO_TENSOR_MT);
  return b;
}

static void fill(lua_State *L, lt_box *b, entro_tensor *t) {
  b->t = t;
  lt_account(L);
}

/* ---- the functions ---- */

static const char *const vec_opts[] = {"vectors", NULL};

static int l_eigh(lua_State *L) {
  entro_tensor *a = arg(L, 1, "eigh", "A");
  opts(L, 2, "eigh", vec_opts);
  int vectors = opt_bool(L, 2, "vectors", 1);
  lt_box *bw = box(L), *bv = vectors ? box(L) : NULL;
  entro_tensor *w, *v;
  if (entro_linalg_eigh(a, vectors, &w, vectors ? &v : NULL)) return lt_error(L);
  fill(L, bw, w);
  if (vectors) fill(L, bv, v);
  return vectors ? 2 : 1;
}

static int l_eigvalsh(lua_State *L) {
  entro_tensor *a = arg(L, 1, "eigvalsh", "A"), *w;
  lt_box *bw = box(L);
  if (entro_linalg_eigvalsh(a, &w)) return lt_error(L);
  fill(L, bw, w);
  return 1;
}

static int l_svd(lua_State *L) {
  static const char *const known[] = {"full", "vectors", NULL};
  entro_tensor *a = arg(L, 1, "svd", "A");
  opts(L, 2, "svd", known);
  int full = opt_bool(L, 2, "full", 0), vectors = opt_bool(L, 2, "vectors", 1);
  lt_box *bu = vectors ? box(L) : NULL, *bs = box(L), *bv = vectors ? box(L) : NULL;
  entro_tensor *u, *s, *v;
  if (entro_linalg_svd(a, full, vectors, &u, &s, &v)) return lt_error(L);
  fill(L, bs, s);
  if (!vectors) return 1;
  fill(L, bu, u);
  fill(L, bv, v);
  return 3;
}

static int l_solve(lua_State *L) {
  entro_tensor *a = arg(L, 1, "solve", "A"), *b = arg(L, 2, "solve", "B"), *x;
  lt_box *bx = box(L);
  if (entro_linalg_solve(a, b, &x)) return lt_error(L);
  fill(L, bx, x);
  return 1;
}

static int l_lstsq(lua_State *L) {
  static const char *const known[] = {"rcond", NULL};
  entro_tensor *a = arg(L, 1, "lstsq", "A"), *b = arg(L, 2, "lstsq", "B"), *x, *s;
  if (lua_istable(L, 3)) opts(L, 3, "lstsq", known);
  double rcond = opt_num(L, 3, "lstsq", "rcond", -1);
  lua_settop(L, 2);
  lt_box *bx = box(L);
  lua_pushnil(L);   /* the rank's slot */
  lt_box *bs = box(L);
  int64_t rank;
  if (entro_linalg_lstsq(a, b, rcond, &x, &rank, &s)) return lt_error(L);
  fill(L, bx, x);
  fill(L, bs, s);
  lua_pushinteger(L, (lua_Integer)rank);
  lua_replace(L, -3);
  return 3;
}

static int l_cholesky(lua_State *L) {
  entro_tensor *a = arg(L, 1, "cholesky", "A"), *r;
  lt_box *b = box(L);
  if (entro_linalg_cholesky(a, &r)) return lt_error(L);
  fill(L, b, r);
  return 1;
}

static int l_qr(lua_State *L) {
  entro_tensor *a = arg(L, 1, "qr", "A"), *q, *r;
  lt_box *bq = box(L), *br = box(L);
  if (entro_linalg_qr(a, &q, &r)) return lt_error(L);
  fill(L, bq, q);
  fill(L, br, r);
  return 2;
}

/* One-matrix-in, one-matrix-out routines. */
static int unary(lua_State *L, const char *op, int (*f)(const entro_tensor *, entro_tensor **)) {
  entro_tensor *a = arg(L, 1, op, "A"), *r;
  lt_box *b = box(L);
  if (f(a, &r)) return lt_error(L);
  fill(L, b, r);
  return 1;
}
static int l_inv(lua_State *L) { return unary(L, "inv", entro_linalg_inv); }
static int l_sqrtm(lua_State *L) { return unary(L, "sqrtm", entro_linalg_sqrtm); }
static int l_inv_sqrtm(lua_State *L) { return unary(L, "inv_sqrtm", entro_linalg_inv_sqrtm); }
static int l_expm(lua_State *L) { return unary(L, "expm", entro_linalg_expm); }

static int l_det(lua_State *L) {
  double d;
  if (entro_linalg_det(arg(L, 1, "det", "A"), &d)) return lt_error(L);
  lua_pushnumber(L, d);
  return 1;
}

static int l_slogdet(lua_State *L) {
  double sign, logabs;
  if (entro_linalg_slogdet(arg(L, 1, "slogdet", "A"), &sign, &logabs)) return lt_error(L);
  lua_pushnumber(L, sign);
  lua_pushnumber(L, logabs);
  return 2;
}

static int l_tridiag_eigh(lua_State *L) {
  entro_tensor *d = arg(L, 1, "tridiag_eigh", "the diagonal d");
  entro_tensor *e = arg(L, 2, "tridiag_eigh", "the off-diagonal e");
  opts(L, 3, "tridiag_eigh", vec_opts);
  int vectors = opt_bool(L, 3, "vectors", 1);
  lt_box *bw = box(L), *bz = vectors ? box(L) : NULL;
  entro_tensor *w, *z;
  if (entro_linalg_tridiag_eigh(d, e, vectors, &w, vectors ? &z : NULL)) return lt_error(L);
  fill(L, bw, w);
  if (vectors) fill(L, bz, z);
  return vectors ? 2 : 1;
}

static int l_pinv(lua_State *L) {
  static const char *const known[] = {"rcond", NULL};
  entro_tensor *a = arg(L, 1, "pinv", "A"), *r;
  if (lua_istable(L, 2)) opts(L, 2, "pinv", known);
  double rcond = opt_num(L, 2, "pinv", "rcond", -1);
  lt_box *b = box(L);
  if (entro_linalg_pinv(a, rcond, &r)) return lt_error(L);
  fill(L, b, r);
  return 1;
}

static int l_matrix_rank(lua_State *L) {
  static const char *const known[] = {"tol", NULL};
  entro_tensor *a = arg(L, 1, "matrix_rank", "A");
  if (lua_istable(L, 2)) opts(L, 2, "matrix_rank", known);
  double tol = opt_num(L, 2, "matrix_rank", "tol", -1);
  int64_t rank;
  if (entro_linalg_matrix_rank(a, tol, &rank)) return lt_error(L);
  lua_pushinteger(L, (lua_Integer)rank);
  return 1;
}

/* "fro" (the default), "nuc", 2, 1 or math.huge */
static int norm_kind(lua_State *L, int idx) {
  if (lua_isnoneornil(L, idx)) return ENTRO_NORM_FRO;
  if (lua_type(L, idx) == LUA_TSTRING) {
    const char *s = lua_tostring(L, idx);
    if (!strcmp(s, "fro")) return ENTRO_NORM_FRO;
    if (!strcmp(s, "nuc")) return ENTRO_NORM_NUC;
  } else if (lua_type(L, idx) == LUA_TNUMBER) {
    double p = lua_tonumber(L, idx);
    if (p == 2) return ENTRO_NORM_2;
    if (p == 1) return ENTRO_NORM_1;
    if (p == HUGE_VAL) return ENTRO_NORM_INF;
  }
  return luaL_error(L, "norm: unknown order %s (use \"fro\", \"nuc\", 2, 1 or math.huge)",
                    luaL_tolstring(L, idx, NULL));
}

static int l_norm(lua_State *L) {
  entro_tensor *a = arg(L, 1, "norm", "A");
  int kind = norm_kind(L, 2);
  if (a->ndim == 1)
    return luaL_error(L, "norm: needs a 2-D matrix, got a vector of %I (use x:norm(p) for "
                      "vector norms)", (lua_Integer)a->shape[0]);
  double r;
  if (entro_linalg_norm(a, kind, &r)) return lt_error(L);
  lua_pushnumber(L, r);
  return 1;
}

/* linalg.project_out(w, Q, {passes = 2 | 1 | "auto", tol = 0}) -> w, coefficients, |w| */
static int l_project_out(lua_State *L) {
  static const char *const known[] = {"passes", "tol", NULL};
  entro_tensor *w = arg(L, 1, "project_out", "w"), *q = arg(L, 2, "project_out", "Q");
  opts(L, 3, "project_out", known);
  int passes = 2;
  if (lua_istable(L, 3)) {
    lua_getfield(L, 3, "passes");
    if (lua_type(L, -1) == LUA_TSTRING && !strcmp(lua_tostring(L, -1), "auto")) passes = 0;
    else if (lua_type(L, -1) == LUA_TNUMBER && (lua_tonumber(L, -1) == 1 || lua_tonumber(L, -1) == 2))
      passes = (int)lua_tonumber(L, -1);
    else if (!lua_isnil(L, -1))
      return luaL_error(L, "project_out: passes must be 1, 2 or \"auto\", got %s",
                        luaL_tolstring(L, -1, NULL));
    lua_pop(L, 1);
  }
  double tol = opt_num(L, 3, "project_out", "tol", 0);
  lt_check_unrecorded(L, "project_out", w, w, q);
  int64_t k = q->ndim == 2 ? q->shape[0] : 0;
  lt_box *bc = box(L);
  entro_tensor *c = entro_tensor_zeros(1, &k);
  if (!c) return lt_error(L);
  fill(L, bc, c);
  double norm;
  if (entro_linalg_project_out(q, w, passes, tol, entro_data(c), &norm)) return lt_error(L);
  lua_pushvalue(L, 1);
  lua_pushvalue(L, -2);
  lua_pushnumber(L, norm);
  return 3;
}

static const luaL_Reg fns[] = {
  {"eigh", l_eigh}, {"eigvalsh", l_eigvalsh}, {"svd", l_svd}, {"solve", l_solve},
  {"lstsq", l_lstsq}, {"cholesky", l_cholesky}, {"qr", l_qr}, {"inv", l_inv},
  {"det", l_det}, {"slogdet", l_slogdet}, {"sqrtm", l_sqrtm}, {"inv_sqrtm", l_inv_sqrtm},
  {"expm", l_expm}, {"tridiag_eigh", l_tridiag_eigh}, {"pinv", l_pinv},
  {"matrix_rank", l_matrix_rank}, {"norm", l_norm}, {"project_out", l_project_out},
  {NULL, NULL}
};

static const char *const help[][2] = {
  {"eigh", "linalg.eigh(A, {vectors = true}) -> w, V -- symmetric eigendecomposition (dsyevd): "
           "eigenvalues ascending, eigenvectors as the columns of V, A = V diag(w) V^T; reads "
           "only A's lower triangle"},
  {"eigvalsh", "linalg.eigvalsh(A) -> w -- eigenvalues of a symmetric matrix, ascending"},
  {"svd", "linalg.svd(A, {full = false, vectors = true}) -> U, S, V -- A = U diag(S) V^T "
          "(dgesdd); returns V, not V^T, like torch.svd; S descending; reduced U m x k, V n x k, "
          "k = min(m, n), or square with full = true; vectors = false returns S alone"},
  {"solve", "linalg.solve(A, B) -> X -- solves A X = B for square A (dgesv); B a vector or a "
            "matrix; an exactly singular A is an error"},
  {"lstsq", "linalg.lstsq(A, B, {rcond}) -> X, rank, S -- minimum-norm least squares (dgelsd); "
            "singular values below rcond * max(S) count as zero (default eps * max(m, n))"},
  {"cholesky", "linalg.cholesky(A) -> L -- lower triangular, A = L L^T (dpotrf); reads A's lower "
               "triangle; A must be positive definite"},
  {"qr", "linalg.qr(A) -> Q, R -- reduced QR (dgeqrf + dorgqr): Q m x k orthonormal columns, "
         "R k x n upper triangular, k = min(m, n)"},
  {"inv", "linalg.inv(A) -> A^-1 (dgetrf + dgetri); an exactly singular A is an error"},
  {"det", "linalg.det(A) -> number -- from the LU factorization; 0 for a singular matrix"},
  {"slogdet", "linalg.slogdet(A) -> sign, log|det| -- sign 0 and -inf for a singular matrix; "
              "no overflow"},
  {"sqrtm", "linalg.sqrtm(A) -> the symmetric PSD square root of a symmetric PSD matrix (via "
            "eigh; reads the lower triangle; roundoff-sized negative eigenvalues become 0)"},
  {"inv_sqrtm", "linalg.inv_sqrtm(A) -> A^(-1/2) for a symmetric positive definite A (via eigh)"},
  {"expm", "linalg.expm(A) -> the matrix exponential of a symmetric matrix (via eigh)"},
  {"tridiag_eigh", "linalg.tridiag_eigh(d, e, {vectors = true}) -> w, Z -- eigenvalues "
                   "(ascending) and eigenvector columns of the symmetric tridiagonal matrix with "
                   "diagonal d (n) and off-diagonal e (n - 1) (dstev), as Lanczos needs"},
  {"pinv", "linalg.pinv(A, {rcond}) -> the Moore-Penrose pseudo-inverse via the SVD; singular "
           "values at or below rcond * max(S) count as zero (default eps * max(m, n))"},
  {"matrix_rank", "linalg.matrix_rank(A [, tol]) -> integer -- singular values above tol "
                  "(default max(S) * max(m, n) * eps)"},
  {"norm", "linalg.norm(A, 'fro'|'nuc'|2|1|math.huge) -> number -- matrix norms (default "
           "'fro'); 2 and 'nuc' from the singular values"},
  {"project_out", "linalg.project_out(w, Q, {passes = 2, tol = 0}) -> w, c, |w| -- removes "
                  "from the vector w, in place, its components along the rows of Q (k x n, "
                  "taken as orthonormal): w = w - Q^T (Q w) by classical Gram-Schmidt, twice by "
                  "default (reorthogonalisation, as Lanczos needs), once with passes = 1, and "
                  "with \"auto\" a second time only when the first removed over half of |w|^2 "
                  "(DGKS, as ARPACK); when every component is at most tol |w|, w is left as it "
                  "is. c holds the k coefficients removed (zeros if none), |w| the norm after. "
                  "Blocked so that Q is read from memory once per pass plus once"},
};

void lt_open_linalg(lua_State *L, int mod) {
  luaL_newlib(L, fns);
  lua_createtable(L, 0, (int)(sizeof help / sizeof help[0]));
  for (size_t i = 0; i < sizeof help / sizeof help[0]; i++) {
    lua_pushstring(L, help[i][1]);
    lua_setfield(L, -2, help[i][0]);
  }
  lua_setfield(L, -2, "_help");
  lua_setfield(L, mod, "linalg");
}
