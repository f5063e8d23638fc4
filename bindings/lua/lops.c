/* lops.c -- Lua glue for the numerical kernels: arithmetic and its metamethods, elementwise
 * math, comparisons, reductions, matrix products, indexing and joining. */
#include <math.h>
#include <string.h>
#include "lentro.h"
#include "../core/ops.h"
#include "../core/grad_ops.h"
#include "../core/autograd.h"

/* Pushes a kernel's result: the caller's own userdata when it gave `out` (at outidx, or in
 * an options table there), so in-place ops return the very object they changed. */
static int result(lua_State *L, entro_tensor *r, int outidx) {
  if (!r) return lt_error(L);
  if (outidx > 0 && !lua_isnoneornil(L, outidx)) {
    if (lua_istable(L, outidx) && !lt_test(L, outidx)) lua_getfield(L, outidx, "out");
    else lua_pushvalue(L, outidx);
    if (lt_test(L, -1) == r) { entro_tensor_release(r); return 1; }
    lua_pop(L, 1);
  }
  lt_push(L, r);
  return 1;
}

/* out= and in-place forms are not recorded by autograd, so with grad mode on they refuse
 * to write into a tensor that requires grad or to read one (as PyTorch does); a parameter
 * step runs under tensor.no_grad. */
void lt_check_unrecorded(lua_State *L, const char *op, entro_tensor *out, entro_tensor *a,
                             entro_tensor *b) {
  if (!out || !entro_grad_mode) return;
  if (out->grad_fn)
    luaL_error(L, "%s: in-place or out= on a tensor computed by a differentiable op would "
               "corrupt its gradient; use the out-of-place form", op);
  if (entro_requires_grad(out))
    luaL_error(L, "%s: in-place or out= on a tensor that requires grad is not differentiable; "
               "use the out-of-place form (or tensor.no_grad for a parameter update)", op);
  if ((a != out && entro_requires_grad(a)) || (b != out && entro_requires_grad(b)))
    luaL_error(L, "%s: out= and in-place forms are not differentiable, and an input requires "
               "grad; use the out-of-place form (or tensor.no_grad)", op);
}

/* ---- arithmetic ---- */

/* a op b where either may be a number; out optional (in place when out == a). */
static int binary(lua_State *L, int op, int ia, int ib, entro_tensor *out, int outidx) {
  entro_tensor *a = lt_test(L, ia), *b = lt_test(L, ib), *r;
  const char *name = entro_binop_names[op];
  lt_check_unrecorded(L, name, out, a, b);
  if (a && b) r = out ? entro_binary(op, out, a, b) : entro_f_binary(op, a, b);
  else if (a && lua_type(L, ib) == LUA_TNUMBER)
    r = out ? entro_binary_scalar(op, out, a, lua_tonumber(L, ib), 0)
            : entro_f_binary_scalar(op, a, lua_tonumber(L, ib), 0);
  else if (b && lua_type(L, ia) == LUA_TNUMBER)
    r = out ? entro_binary_scalar(op, out, b, lua_tonumber(L, ia), 1)
            : entro_f_binary_scalar(op, b, lua_tonumber(L, ia), 1);
  else if (a || b) {
    int bad = a ? ib : ia;
    return luaL_error(L, "%s: expected a tensor or a number, got %s", entro_binop_names[op],
                      luaL_typename(L, bad));
  } else {
    return luaL_error(L, "%s: expected a tensor, got %s and %s", entro_binop_names[op],
                      luaL_typename(L, ia), luaL_typename(L, ib));
  }
  return result(L, r, outidx);
}

#define BIN(NAME, OP)                                                                        \
  static int m_##NAME(lua_State *L) {                                                        \
    lt_check(L, 1);                                                                          \
    return binary(L, OP, 1, 2, lt_out(L, 3), 3);                                             \
  }                                                                                          \
  static int m_##NAME##_(lua_State *L) { return binary(L, OP, 1, 2, lt_check(L, 1), 1); }

BIN(add, EB_ADD) BIN(sub, EB_SUB) BIN(mul, EB_MUL) BIN(div, EB_DIV) BIN(pow, EB_POW)
BIN(maximum, EB_MAX) BIN(minimum, EB_MIN) BIN(atan2, EB_ATAN2) BIN(fmod, EB_FMOD)
BIN(eq, EB_EQ) BIN(ne, EB_NE) BIN(lt, EB_LT) BIN(le, EB_LE) BIN(gt, EB_GT) BIN(ge, EB_GE)

#define MM(NAME, OP) static int mm_##NAME(lua_State *L) { return binary(L, OP, 1, 2, NULL, 0); }
MM(add, EB_ADD) MM(sub, EB_SUB) MM(mul, EB_MUL) MM(div, EB_DIV) MM(pow, EB_POW)

static int mm_unm(lua_State *L) { lt_push(L, entro_f_unary(EU_NEG, lt_check(L, 1))); return 1; }

/* y:axpy_(alpha, x): y += alpha * x */
static int m_axpy_(lua_State *L) {
  entro_tensor *y = lt_check(L, 1);
  double alpha = luaL_checknumber(L, 2);
  entro_tensor *x = lt_check(L, 3);
  lt_check_unrecorded(L, "axpy_", y, y, x);
  if (entro_axpy(y, alpha, x)) return lt_error(L);
  lua_settop(L, 1);
  return 1;
}

/* x:affine(alpha, beta [, out]): alpha * x + beta in one pass */
static int m_affine(lua_State *L) {
  entro_tensor *x = lt_check(L, 1), *out = lt_out(L, 4);
  double alpha = luaL_checknumber(L, 2), beta = luaL_optnumber(L, 3, 0);
  lt_check_unrecorded(L, "affine", out, x, NULL);
  return result(L, out ? entro_affine(out, x, alpha, beta) : entro_f_affine(x, alpha, beta), 4);
}

/* ---- unary math ---- */

static int unary(lua_State *L, int op, int inplace) {
  entro_tensor *x = lt_check(L, 1), *out = inplace ? x : lt_out(L, 2);
  lt_check_unrecorded(L, entro_unop_names[op], out, x, NULL);
  return result(L, out ? entro_unary(op, out, x) : entro_f_unary(op, x), inplace ? 1 : 2);
}

#define UN(NAME, OP)                                                    \
  static int m_##NAME(lua_State *L) { return unary(L, OP, 0); }         \
  static int m_##NAME##_(lua_State *L) { return unary(L, OP, 1); }

UN(neg, EU_NEG) UN(exp, EU_EXP) UN(log, EU_LOG) UN(sqrt, EU_SQRT) UN(abs, EU_ABS)
UN(sign, EU_SIGN) UN(tanh, EU_TANH) UN(sigmoid, EU_SIGMOID) UN(relu, EU_RELU) UN(sin, EU_SIN)
UN(cos, EU_COS) UN(floor, EU_FLOOR) UN(ceil, EU_CEIL) UN(round, EU_ROUND) UN(reciprocal, EU_RECIP)
UN(square, EU_SQUARE) UN(log1p, EU_LOG1P) UN(expm1, EU_EXPM1) UN(softplus, EU_SOFTPLUS)
UN(gelu, EU_GELU) UN(isnan, EU_ISNAN)

static int clamp(lua_State *L, int inplace) {
  entro_tensor *x = lt_check(L, 1);
  double lo = luaL_optnumber(L, 2, -HUGE_VAL), hi = luaL_optnumber(L, 3, HUGE_VAL);
  entro_tensor *out = inplace ? x : lt_out(L, 4);
  lt_check_unrecorded(L, "clamp", out, x, NULL);
  return result(L, out ? entro_clamp(out, x, lo, hi) : entro_f_clamp(x, lo, hi), inplace ? 1 : 4);
}
static int m_clamp(lua_State *L) { return clamp(L, 0); }
static int m_clamp_(lua_State *L) { return clamp(L, 1); }

static int m_leaky_relu(lua_State *L) {
  entro_tensor *x = lt_check(L, 1), *out = lt_out(L, 3);
  double slope = luaL_optnumber(L, 2, 0.01);
  lt_check_unrecorded(L, "leaky_relu", out, x, NULL);
  return result(L, out ? entro_leaky_relu(out, x, slope) : entro_f_leaky_relu(x, slope), 3);
}

/* tensor.where(cond, a, b): a and b may be numbers */
/* A tensor at idx, a number there becoming a 0-dim tensor that Lua owns, so that any error
 * raised later cannot leak it. */
static entro_tensor *operand(lua_State *L, int idx) {
  if (lua_type(L, idx) == LUA_TNUMBER) {
    lt_push(L, entro_tensor_scalar(lua_tonumber(L, idx)));
    lua_replace(L, idx);
  }
  return lt_check(L, idx);
}

static int l_where(lua_State *L) {
  entro_tensor *c = lt_check(L, 1);
  entro_tensor *a = operand(L, 2), *b = operand(L, 3);
  entro_tensor *out = lt_out(L, 4);
  if (out && entro_grad_mode && (entro_requires_grad(a) || entro_requires_grad(b) ||
                                 entro_requires_grad(out)))
    return luaL_error(L, "where: out= is not differentiable, and an input requires grad");
  entro_tensor *r = out ? entro_where(out, c, a, b) : entro_f_where(c, a, b);
  return result(L, r, 4);
}

/* ---- reductions ---- */

/* Reads a trailing options table {unbiased = bool}, returning ddof. */
static int read_ddof(lua_State *L) {
  int top = lua_gettop(L);
  if (top >= 2 && lua_istable(L, top)) {
    lua_getfield(L, top, "unbiased");
    int ddof = lua_isnil(L, -1) ? 1 : lua_toboolean(L, -1);
    lua_pop(L, 1);
    lua_settop(L, top - 1);
    return ddof;
  }
  return 1;
}

/* x:op() -> number; x:op(dim [, keepdim]) -> tensor. p is read for norm. */
static int reduce(lua_State *L, int op) {
  entro_tensor *x = lt_check(L, 1);
  int ddof = (op == ER_VAR || op == ER_STD) ? read_ddof(L) : 0;
  double p = 2;
  int dimarg = 2;
  if (op == ER_NORM) {
    if (lua_type(L, 2) == LUA_TSTRING && !strcmp(lua_tostring(L, 2), "inf")) p = HUGE_VAL;
    else p = luaL_optnumber(L, 2, 2);
    dimarg = 3;
  }
  if (lua_isnoneornil(L, dimarg)) {
    double v;
    if (entro_should_record(x, NULL) && op != ER_ARGMAX && op != ER_ARGMIN) {
      /* a 0-dim tensor that remembers how it was made, so loss:backward() works */
      lt_push(L, entro_f_reduce_all(op, x, p, ddof));
      return 1;
    }
    if (entro_reduce_all(op, x, p, ddof, &v)) return lt_error(L);
    if (op == ER_ARGMAX || op == ER_ARGMIN) lua_pushinteger(L, (lua_Integer)v + 1);
    else lua_pushnumber(L, v);
    return 1;
  }
  int d = lt_dim(L, dimarg, x->ndim, entro_reduce_names[op]);
  int keep = lua_toboolean(L, dimarg + 1);
  entro_tensor *r = entro_f_reduce_dim(op, x, d, keep, p, ddof);
  if (r && (op == ER_ARGMAX || op == ER_ARGMIN)) {   /* 0-based -> 1-based */
    entro_tensor *s = entro_affine(r, r, 1, 1);
    entro_tensor_release(s);
  }
  lt_push(L, r);
  if (op == ER_MAX || op == ER_MIN) {   /* values and 1-based indices, as torch.max(x, dim) */
    entro_tensor *i = entro_reduce_dim(op == ER_MAX ? ER_ARGMAX : ER_ARGMIN, NULL, x, d, keep, p, 0);
    if (i) { entro_tensor *s = entro_affine(i, i, 1, 1); entro_tensor_release(s); }
    lt_push(L, i);
    return 2;
  }
  return 1;
}

#define RED(NAME, OP) static int m_##NAME(lua_State *L) { return reduce(L, OP); }
RED(sum, ER_SUM) RED(mean, ER_MEAN) RED(prod, ER_PROD) RED(max, ER_MAX) RED(min, ER_MIN)
RED(argmax, ER_ARGMAX) RED(argmin, ER_ARGMIN) RED(var, ER_VAR) RED(std, ER_STD)
RED(norm, ER_NORM) RED(logsumexp, ER_LOGSUMEXP)

static int m_cumsum(lua_State *L) {
  entro_tensor *x = lt_check(L, 1);
  int d = x->ndim ? lt_optdim(L, 2, x->ndim, "cumsum", 0) : 0;
  if (x->ndim == 0) { lt_push(L, entro_f_clone(x)); return 1; }
  entro_tensor *out = lt_out(L, 3);
  lt_check_unrecorded(L, "cumsum", out, x, NULL);
  return result(L, out ? entro_cumsum(out, x, d) : entro_f_cumsum(x, d), 3);
}

/* ---- products ---- */

static int m_matmul(lua_State *L) {
  entro_tensor *a = lt_check(L, 1), *b = lt_check(L, 2), *out = lt_out(L, 3);
  lt_check_unrecorded(L, "matmul", out, a, b);
  return result(L, out ? entro_matmul(out, a, b) : entro_f_matmul(a, b), 3);
}

static int m_dot(lua_State *L) {
  int st;
  entro_tensor *a = lt_check(L, 1), *b = lt_check(L, 2);
  if (entro_should_record(a, b) && a->ndim == 1 && b->ndim == 1) {
    lt_push(L, entro_f_matmul(a, b));
    return 1;
  }
  double d = entro_dot(a, b, &st);
  if (st) return lt_error(L);
  lua_pushnumber(L, d);
  return 1;
}

static int m_outer(lua_State *L) {
  entro_tensor *a = lt_check(L, 1), *b = lt_check(L, 2), *out = lt_out(L, 3);
  lt_check_unrecorded(L, "outer", out, a, b);
  if (!out && entro_should_record(a, b) && a->ndim == 1 && b->ndim == 1) {
    int64_t sa[2] = {a->shape[0], 1}, sb[2] = {1, b->shape[0]};
    entro_tensor *ac = entro_f_reshape(a, 2, sa, 0), *bc = entro_f_reshape(b, 2, sb, 0);
    entro_tensor *r = ac && bc ? entro_f_binary(EB_MUL, ac, bc) : NULL;
    entro_tensor_release(ac);
    entro_tensor_release(bc);
    return result(L, r, 0);
  }
  return result(L, entro_outer(out, a, b), 3);
}

/* ---- indexing ---- */

/* 1-based indices (a Lua array or a tensor) to a new tensor of 0-based doubles. The one
 * place where index tensors change base. */
entro_tensor *lt_indices0(lua_State *L, int idx, const char *op) {
  entro_tensor *t = lt_test(L, idx), *r;
  if (t) {
    r = entro_affine(NULL, t, 1, -1);
  } else if (lua_istable(L, idx)) {
    int64_t n = (int64_t)luaL_len(L, idx);
    r = entro_tensor_new(1, &n);
    if (!r) lt_error(L);
    for (int64_t i = 0; i < n; i++) {
      lua_geti(L, idx, i + 1);
      if (lua_type(L, -1) != LUA_TNUMBER) {
        entro_tensor_release(r);
        luaL_error(L, "%s: index %I is a %s, expected a number", op, (lua_Integer)i + 1,
                   luaL_typename(L, -1));
      }
      entro_data(r)[i] = lua_tonumber(L, -1) - 1;
      lua_pop(L, 1);
    }
  } else {
    luaL_error(L, "%s: indices must be a tensor or a table, got %s", op, luaL_typename(L, idx));
    return NULL;
  }
  if (!r) lt_error(L);
  return r;
}

static int m_index_select(lua_State *L) {
  entro_tensor *x = lt_check(L, 1);
  int d = lt_dim(L, 2, x->ndim, "index_select");
  entro_tensor *i = lt_indices0(L, 3, "index_select");
  entro_tensor *r = entro_f_index_select(x, d, i);
  entro_tensor_release(i);
  lt_push(L, r);
  return 1;
}

static int m_gather(lua_State *L) {
  entro_tensor *x = lt_check(L, 1);
  int d = lt_dim(L, 2, x->ndim, "gather");
  entro_tensor *i = lt_indices0(L, 3, "gather");
  entro_tensor *r = entro_f_gather(x, d, i);
  entro_tensor_release(i);
  lt_push(L, r);
  return 1;
}

static int m_scatter_add_(lua_State *L) {
  entro_tensor *x = lt_check(L, 1);
  int d = lt_dim(L, 2, x->ndim, "scatter_add");
  entro_tensor *src = lt_check(L, 4);
  lt_check_unrecorded(L, "scatter_add_", x, x, src);
  entro_tensor *i = lt_indices0(L, 3, "scatter_add");
  int st = entro_scatter_add(x, d, i, src);
  entro_tensor_release(i);
  if (st) return lt_error(L);
  lua_settop(L, 1);
  return 1;
}

static int m_masked_select(lua_State *L) {
  lt_push(L, entro_f_masked_select(lt_check(L, 1), lt_check(L, 2)));
  return 1;
}

/* tensor.cat({a, b, ...}, dim) and tensor.stack({a, b, ...}, dim) */
static int join(lua_State *L, int stack) {
  const char *op = stack ? "stack" : "cat";
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 2);   /* the dim stays at 2, below the pointer array pushed next */
  int n = (int)luaL_len(L, 1);
  if (n == 0) return luaL_error(L, "%s: no tensors given", op);
  if (n > 100000) return luaL_error(L, "%s: too many tensors (%d)", op, n);
  entro_tensor **ts = lua_newuserdatauv(L, (size_t)n * sizeof *ts, 0);
  for (int i = 0; i < n; i++) {
    lua_geti(L, 1, i + 1);
    ts[i] = lt_test(L, -1);
    if (!ts[i]) return luaL_error(L, "%s: element %d is a %s, expected a tensor", op, i + 1, luaL_typename(L, -1));
    lua_pop(L, 1);   /* still referenced by the table */
  }
  int nd = ts[0]->ndim + (stack ? 1 : 0);
  int d = nd == 0 ? 0 : lt_optdim(L, 2, nd, op, 0);
  lt_push(L, stack ? entro_f_stack(n, ts, d) : entro_f_cat(n, ts, d));
  return 1;
}
static int l_cat(lua_State *L) { return join(L, 0); }
static int l_stack(lua_State *L) { return join(L, 1); }

#define PAIR(NAME) {#NAME, m_##NAME}, {#NAME "_", m_##NAME##_}
static const luaL_Reg methods[] = {
  PAIR(add), PAIR(sub), PAIR(mul), PAIR(div), PAIR(pow), PAIR(maximum), PAIR(minimum),
  PAIR(atan2), PAIR(fmod), PAIR(eq), PAIR(ne), PAIR(lt), PAIR(le), PAIR(gt), PAIR(ge),
  PAIR(neg), PAIR(exp), PAIR(log), PAIR(sqrt), PAIR(abs), PAIR(sign), PAIR(tanh),
  PAIR(sigmoid), PAIR(relu), PAIR(sin), PAIR(cos), PAIR(floor), PAIR(ceil), PAIR(round),
  PAIR(reciprocal), PAIR(square), PAIR(log1p), PAIR(expm1), PAIR(softplus), PAIR(gelu),
  PAIR(isnan), PAIR(clamp),
  {"axpy_", m_axpy_}, {"affine", m_affine}, {"leaky_relu", m_leaky_relu},
  {"sum", m_sum}, {"mean", m_mean}, {"prod", m_prod}, {"max", m_max}, {"min", m_min},
  {"argmax", m_argmax}, {"argmin", m_argmin}, {"var", m_var}, {"std", m_std},
  {"norm", m_norm}, {"logsumexp", m_logsumexp}, {"cumsum", m_cumsum},
  {"matmul", m_matmul}, {"dot", m_dot}, {"outer", m_outer},
  {"index_select", m_index_select}, {"gather", m_gather}, {"scatter_add_", m_scatter_add_},
  {"masked_select", m_masked_select},
  {NULL, NULL}
};

static const luaL_Reg metamethods[] = {
  {"__add", mm_add}, {"__sub", mm_sub}, {"__mul", mm_mul}, {"__div", mm_div},
  {"__pow", mm_pow}, {"__unm", mm_unm}, {NULL, NULL}
};

void lt_open_ops(lua_State *L, int meth, int mod) {
  lua_pushvalue(L, meth);
  luaL_setfuncs(L, methods, 0);
  lua_pop(L, 1);
  luaL_getmetatable(L, ENTRO_TENSOR_MT);
  luaL_setfuncs(L, metamethods, 0);
  lua_pop(L, 1);
  /* every method is also a module function: tensor.exp(x), tensor.matmul(a, b) */
  for (const luaL_Reg *r = methods; r->name; r++) {
    lua_pushcfunction(L, r->func);
    lua_setfield(L, mod, r->name);
  }
  lua_pushcfunction(L, l_where); lua_setfield(L, mod, "where");
  lua_pushcfunction(L, l_where); lua_setfield(L, meth, "where");
  lua_pushcfunction(L, l_cat); lua_setfield(L, mod, "cat");
  lua_pushcfunction(L, l_stack); lua_setfield(L, mod, "stack");
}
