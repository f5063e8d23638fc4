/* ltensor.c -- the entro.Tensor userdata: lifetime, constructors, shape, element access and
 * views. Arithmetic and reductions are in lops.c, generators in lrng.c. */
#include <math.h>
#include <string.h>
#include "lentro.h"
#include "../core/ops.h"
#include "../core/grad_ops.h"
#include "../core/autograd.h"
#include "../core/interrupt.h"

/* ---- helpers shared by the glue ---- */

int lt_error(lua_State *L) {
  if (entro_errcode() == ENTRO_EINTR) entro_interrupted = 0;
  return luaL_error(L, "%s", entro_errmsg());
}

/* Lua's collector sees a tensor as a few bytes of userdata; the storage behind it lives
 * outside its heap. Every STEP_BYTES of storage handed out, the collector takes a step (in
 * generational mode, a young collection), so dead tensors go back to the storage cache at a
 * pace set by tensor memory. (Reporting the bytes as collector debt instead inflated the
 * collector's idea of its heap: after a phase of big tensors its next major collection
 * looked bad, it paused for long, and small tensors came from malloc for ~60 000 steps.)
 * Whenever live tensor memory doubles since the last full collection, a full collection
 * runs: tensors that survived a young collection are only freed by a major one. */
static int64_t full_gc_at = (int64_t)64 << 20;

static int64_t owed;   /* tensor bytes handed out since the last collector step */
#define STEP_BYTES ((int64_t)512 << 10)

void lt_account(lua_State *L) {
  owed += entro_mem_take_fresh();
  if (owed >= STEP_BYTES) {
    lua_gc(L, LUA_GCSTEP, 0);
    owed = 0;
  }
  int64_t live = entro_mem_live();
  if (live > full_gc_at) {
    lua_gc(L, LUA_GCCOLLECT);
    live = entro_mem_live();
    full_gc_at = live > ((int64_t)32 << 20) ? 2 * live : (int64_t)64 << 20;
  } else if (live < full_gc_at / 4 && full_gc_at > ((int64_t)64 << 20)) {
    /* the big tensors are gone: come back down, or garbage could grow to the old mark */
    full_gc_at = live > ((int64_t)32 << 20) ? 2 * live : (int64_t)64 << 20;
  }
}

/* The metatable is also kept under this address in the registry: fetching it by pointer
 * avoids the string lookup (and strcmp) of luaL_checkudata on every op. */
static const char TENSOR_MT_KEY = 't';

void lt_push(lua_State *L, entro_tensor *t) {
  if (!t) lt_error(L);
  /* userdata first, with the metatable, before it owns anything: __gc always sees a valid box */
  lt_box *b = lua_newuserdatauv(L, sizeof *b, 1);
  b->t = NULL;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &TENSOR_MT_KEY);
  lua_setmetatable(L, -2);
  b->t = t;
  lt_account(L);
}

/* The metatable's address in the state that opened the module last: comparing addresses
 * is the fast test; a state where it differs (several states in one process) falls back to
 * the registry compare. */
static const void *tensor_mt;

/* The box at idx if it is a tensor userdata, else NULL. */
static lt_box *box_at(lua_State *L, int idx) {
  lt_box *b = lua_touserdata(L, idx);
  if (!b || !lua_getmetatable(L, idx)) return NULL;
  int same = lua_topointer(L, -1) == tensor_mt;
  if (!same) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &TENSOR_MT_KEY);
    same = lua_rawequal(L, -1, -2);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return same ? b : NULL;
}

entro_tensor *lt_test(lua_State *L, int idx) {
  lt_box *b = box_at(L, idx);
  if (b && !b->t) luaL_argerror(L, idx, "tensor was closed");   /* not "expected a tensor" */
  return b ? b->t : NULL;
}

entro_tensor *lt_check(lua_State *L, int idx) {
  lt_box *b = box_at(L, idx);
  if (!b) luaL_typeerror(L, idx, ENTRO_TENSOR_MT);
  if (!b->t) luaL_argerror(L, idx, "tensor was closed");
  return b->t;
}

entro_tensor *lt_opt(lua_State *L, int idx) {
  return lua_isnoneornil(L, idx) ? NULL : lt_check(L, idx);
}

entro_tensor *lt_tensor_or_number(lua_State *L, int idx, int *owned) {
  *owned = 0;
  if (lua_type(L, idx) == LUA_TNUMBER) {
    entro_tensor *t = entro_tensor_scalar(lua_tonumber(L, idx));
    if (!t) lt_error(L);
    *owned = 1;
    return t;
  }
  return lt_check(L, idx);
}

/* A value's type for a message: its metatable's __name (entro.Tensor) when it has one. */
static const char *type_name(lua_State *L, int idx) {
  if (luaL_getmetafield(L, idx, "__name") == LUA_TSTRING) return lua_tostring(L, -1);
  return luaL_typename(L, idx);
}

int64_t lt_int(lua_State *L, int idx, const char *op, const char *what) {
  int isnum;
  lua_Integer v = lua_tointegerx(L, idx, &isnum);
  if (!isnum) {
    if (lua_type(L, idx) == LUA_TNUMBER)
      luaL_error(L, "%s: %s must be an integer, got %s", op, what, lua_tostring(L, idx));
    else
      luaL_error(L, "%s: %s must be an integer, got %s", op, what, type_name(L, idx));
  }
  return (int64_t)v;
}

int lt_read_shape(lua_State *L, int idx, int64_t *shape, const char *op) {
  int n = 0;
  if (lua_istable(L, idx)) {
    n = (int)luaL_len(L, idx);
    if (n > ENTRO_MAXDIM) luaL_error(L, "%s: %d dimensions (at most %d)", op, n, ENTRO_MAXDIM);
    for (int i = 1; i <= n; i++) {
      lua_geti(L, idx, i);
      shape[i - 1] = lt_int(L, -1, op, "a size");
      lua_pop(L, 1);
    }
    return n;
  }
  int top = lua_gettop(L), i;
  for (i = idx; i <= top && lua_type(L, i) == LUA_TNUMBER; i++) {
    if (n == ENTRO_MAXDIM) luaL_error(L, "%s: more than %d dimensions", op, ENTRO_MAXDIM);
    shape[n++] = lt_int(L, i, op, "a size");
  }
  /* the sizes may be followed by an options table, but not by a stray "3" or a tensor */
  if (i <= top && !lua_isnil(L, i) && !lua_istable(L, i))
    luaL_error(L, "%s: a size must be an integer, got %s", op, type_name(L, i));
  return n;
}

int lt_dim(lua_State *L, int idx, int ndim, const char *op) {
  int64_t d = lt_int(L, idx, op, "the dimension");
  int64_t z = d < 0 ? d + ndim : d - 1;
  if (d == 0 || z < 0 || z >= ndim)
    luaL_error(L, "%s: dimension %I out of range for a %d-d tensor", op, (lua_Integer)d, ndim);
  return (int)z;
}

int lt_optdim(lua_State *L, int idx, int ndim, const char *op, int def) {
  return lua_isnoneornil(L, idx) ? def : lt_dim(L, idx, ndim, op);
}

int64_t lt_index(lua_State *L, int idx, int64_t n, const char *op) {
  int64_t i = lt_int(L, idx, op, "an index");
  int64_t z = i < 0 ? i + n : i - 1;
  if (i == 0 || z < 0 || z >= n)
    luaL_error(L, "%s: index %I out of range 1..%I", op, (lua_Integer)i, (lua_Integer)n);
  return z;
}

entro_tensor *lt_out(lua_State *L, int idx) {
  if (lua_istable(L, idx) && !lt_test(L, idx)) {
    lua_getfield(L, idx, "out");
    entro_tensor *t = lt_opt(L, -1);
    lua_pop(L, 1);
    return t;
  }
  return lt_opt(L, idx);
}

/* ---- lifetime ---- */

static int t_gc(lua_State *L) {
  lt_box *b = box_at(L, 1);
  if (!b) return 0;
  entro_tensor_release(b->t);
  b->t = NULL;
  return 0;
}

/* ---- constructors ---- */

static int new_filled(lua_State *L, const char *op, int idx, double v, int zero) {
  int64_t shape[ENTRO_MAXDIM];
  int n = lt_read_shape(L, idx, shape, op);
  int64_t numel;
  if (entro_shape_check(op, n, shape, &numel)) return lt_error(L);
  lt_push(L, zero ? entro_tensor_zeros(n, shape) : entro_tensor_full(n, shape, v));
  return 1;
}

static int l_zeros(lua_State *L) { return new_filled(L, "zeros", 1, 0, 1); }
static int l_ones(lua_State *L) { return new_filled(L, "ones", 1, 1, 0); }
static int l_empty(lua_State *L) { return new_filled(L, "empty", 1, 0, 1); }

static int l_full(lua_State *L) {
  int64_t shape[ENTRO_MAXDIM];
  luaL_checktype(L, 1, LUA_TTABLE);
  int n = lt_read_shape(L, 1, shape, "full");
  double v = luaL_checknumber(L, 2);
  int64_t numel;
  if (entro_shape_check("full", n, shape, &numel)) return lt_error(L);
  lt_push(L, entro_tensor_full(n, shape, v));
  return 1;
}

static int l_like(lua_State *L, double v, int zero) {
  entro_tensor *t = lt_check(L, 1);
  lt_push(L, zero ? entro_tensor_zeros(t->ndim, t->shape) : entro_tensor_full(t->ndim, t->shape, v));
  return 1;
}
static int l_zeros_like(lua_State *L) { return l_like(L, 0, 1); }
static int l_ones_like(lua_State *L) { return l_like(L, 1, 0); }
static int l_full_like(lua_State *L) { return l_like(L, luaL_checknumber(L, 2), 0); }

static int l_eye(lua_State *L) {
  int64_t n = lt_int(L, 1, "eye", "the size");
  int64_t m = lua_isnoneornil(L, 2) ? n : lt_int(L, 2, "eye", "the size");
  int64_t shape[2] = {n, m}, numel;
  if (entro_shape_check("eye", 2, shape, &numel)) return lt_error(L);
  entro_tensor *t = entro_tensor_zeros(2, shape);
  if (t) for (int64_t i = 0; i < n && i < m; i++) entro_data(t)[i * m + i] = 1;
  lt_push(L, t);
  return 1;
}

static int l_arange(lua_State *L) {
  double a = luaL_checknumber(L, 1), b, step;
  if (lua_isnoneornil(L, 2)) { b = a; a = 0; } else b = luaL_checknumber(L, 2);
  step = luaL_optnumber(L, 3, 1);
  if (step == 0 || !isfinite(a) || !isfinite(b) || !isfinite(step))
    return luaL_error(L, "arange: bad range %f, %f, step %f", a, b, step);
  double cnt = ceil((b - a) / step);
  if (cnt < 0) cnt = 0;
  if (cnt > 1e15) return luaL_error(L, "arange: %f elements is too many", cnt);
  int64_t n = (int64_t)cnt;
  entro_tensor *t = entro_tensor_new(1, &n);
  if (t) for (int64_t i = 0; i < n; i++) entro_data(t)[i] = a + (double)i * step;
  lt_push(L, t);
  return 1;
}

static int l_linspace(lua_State *L) {
  double a = luaL_checknumber(L, 1), b = luaL_checknumber(L, 2);
  int64_t n = lt_int(L, 3, "linspace", "the count");
  if (n < 0) return luaL_error(L, "linspace: negative count %I", (lua_Integer)n);
  entro_tensor *t = entro_tensor_new(1, &n);
  if (t) {
    double *d = entro_data(t);
    for (int64_t i = 0; i < n; i++) d[i] = n == 1 ? a : a + (b - a) * (double)i / (double)(n - 1);
    if (n > 1) d[n - 1] = b;
  }
  lt_push(L, t);
  return 1;
}

/* tensor.tensor{{1,2},{3,4}}: the shape is read from the first element at each depth, then
 * every element is checked against it. */
static void nested_shape(lua_State *L, int idx, int *nd, int64_t *shape) {
  *nd = 0;
  lua_pushvalue(L, idx);
  while (lua_istable(L, -1)) {
    if (*nd == ENTRO_MAXDIM) luaL_error(L, "tensor: more than %d levels of nesting", ENTRO_MAXDIM);
    shape[(*nd)++] = (int64_t)luaL_len(L, -1);
    if (shape[*nd - 1] == 0) break;
    lua_geti(L, -1, 1);
    lua_remove(L, -2);
  }
  lua_pop(L, 1);
}

static void nested_fill(lua_State *L, int idx, int depth, int nd, const int64_t *shape,
                        double **out) {
  if (depth == nd) {
    if (lua_type(L, idx) != LUA_TNUMBER && !lua_isboolean(L, idx))
      luaL_error(L, "tensor: element is a %s, expected a number", type_name(L, idx));
    *(*out)++ = lua_isboolean(L, idx) ? lua_toboolean(L, idx) : lua_tonumber(L, idx);
    return;
  }
  if (!lua_istable(L, idx) || (int64_t)luaL_len(L, idx) != shape[depth])
    luaL_error(L, "tensor: ragged nested table at depth %d (expected %I elements)", depth + 1,
               (lua_Integer)shape[depth]);
  for (int64_t i = 1; i <= shape[depth]; i++) {
    lua_geti(L, idx, i);
    nested_fill(L, lua_gettop(L), depth + 1, nd, shape, out);
    lua_pop(L, 1);
  }
}

static int l_tensor(lua_State *L) {
  if (lt_test(L, 1)) { lt_push(L, entro_tensor_clone(lt_check(L, 1))); return 1; }
  if (lua_type(L, 1) == LUA_TNUMBER) { lt_push(L, entro_tensor_scalar(lua_tonumber(L, 1))); return 1; }
  luaL_checktype(L, 1, LUA_TTABLE);
  int nd;
  int64_t shape[ENTRO_MAXDIM], numel;
  nested_shape(L, 1, &nd, shape);
  if (entro_shape_check("tensor", nd, shape, &numel)) return lt_error(L);
  entro_tensor *t = entro_tensor_new(nd, shape);
  if (!t) return lt_error(L);
  lt_push(L, t);   /* owned by Lua now, so a ragged-table error does not leak it */
  double *p = entro_data(t);
  nested_fill(L, 1, 0, nd, shape, &p);
  return 1;
}

static int l_is_tensor(lua_State *L) {
  lua_pushboolean(L, luaL_testudata(L, 1, ENTRO_TENSOR_MT) != NULL);
  return 1;
}

/* ---- shape and access ---- */

static int m_shape(lua_State *L) {
  entro_tensor *t = lt_check(L, 1);
  lua_createtable(L, t->ndim, 0);
  for (int i = 0; i < t->ndim; i++) { lua_pushinteger(L, t->shape[i]); lua_rawseti(L, -2, i + 1); }
  return 1;
}

static int m_stride(lua_State *L) {
  entro_tensor *t = lt_check(L, 1);
  if (!lua_isnoneornil(L, 2)) { lua_pushinteger(L, t->stride[lt_dim(L, 2, t->ndim, "stride")]); return 1; }
  lua_createtable(L, t->ndim, 0);
  for (int i = 0; i < t->ndim; i++) { lua_pushinteger(L, t->stride[i]); lua_rawseti(L, -2, i + 1); }
  return 1;
}

static int m_size(lua_State *L) {
  entro_tensor *t = lt_check(L, 1);
  if (lua_isnoneornil(L, 2)) return m_shape(L);
  lua_pushinteger(L, t->shape[lt_dim(L, 2, t->ndim, "size")]);
  return 1;
}

static int m_dim(lua_State *L) { lua_pushinteger(L, lt_check(L, 1)->ndim); return 1; }
static int m_numel(lua_State *L) { lua_pushinteger(L, lt_check(L, 1)->numel); return 1; }
static int m_len(lua_State *L) {
  entro_tensor *t = lt_check(L, 1);
  lua_pushinteger(L, t->ndim ? t->shape[0] : 0);
  return 1;
}
static int m_is_contiguous(lua_State *L) {
  lua_pushboolean(L, entro_tensor_is_contiguous(lt_check(L, 1)));
  return 1;
}

static double *element(lua_State *L, entro_tensor *t, int first, const char *op) {
  int nargs = lua_gettop(L) - first + 1;
  if (nargs < t->ndim)
    luaL_error(L, "%s: %d indices for a %d-d tensor", op, nargs, t->ndim);
  int64_t idx[ENTRO_MAXDIM];
  for (int i = 0; i < t->ndim; i++) idx[i] = lt_index(L, first + i, t->shape[i], op);
  return entro_tensor_ptr(t, idx);
}

static int m_get(lua_State *L) {
  entro_tensor *t = lt_check(L, 1);
  if (lua_gettop(L) - 1 != t->ndim)
    return luaL_error(L, "get: %d indices for a %d-d tensor", lua_gettop(L) - 1, t->ndim);
  lua_pushnumber(L, *element(L, t, 2, "get"));
  return 1;
}

static int m_set(lua_State *L) {
  entro_tensor *t = lt_check(L, 1);
  int top = lua_gettop(L);
  if (top - 2 != t->ndim)
    return luaL_error(L, "set: %d indices for a %d-d tensor (then the value)", top - 2, t->ndim);
  double v = luaL_checknumber(L, top);
  lt_check_unrecorded(L, "set", t, t, NULL);
  if (entro_tensor_check_writable("set", t)) return lt_error(L);
  lua_settop(L, top - 1);
  *element(L, t, 2, "set") = v;
  entro_tensor_bump(t);
  lua_settop(L, 1);
  return 1;
}

static int m_item(lua_State *L) {
  entro_tensor *t = lt_check(L, 1);
  if (t->numel != 1) {
    char b[200];
    return luaL_error(L, "item: tensor of shape %s has %I elements, not 1",
                      entro_tensor_shape_str(b, t), (lua_Integer)t->numel);
  }
  int64_t zero[ENTRO_MAXDIM] = {0};
  lua_pushnumber(L, *entro_tensor_ptr(t, zero));
  return 1;
}

static void push_nested(lua_State *L, const entro_tensor *t, int d, int64_t off) {
  if (d == t->ndim) { lua_pushnumber(L, t->st->data[off]); return; }
  lua_createtable(L, (int)t->shape[d], 0);
  for (int64_t i = 0; i < t->shape[d]; i++) {
    push_nested(L, t, d + 1, off + i * t->stride[d]);
    lua_rawseti(L, -2, i + 1);
  }
}

static int m_totable(lua_State *L) {
  entro_tensor *t = lt_check(L, 1);
  if (t->numel > 100000000) return luaL_error(L, "totable: %I elements is too many", (lua_Integer)t->numel);
  luaL_checkstack(L, t->ndim + 4, "totable");
  push_nested(L, t, 0, t->offset);
  return 1;
}

/* ---- views ---- */

static int m_narrow(lua_State *L) {
  entro_tensor *t = lt_check(L, 1);
  int d = lt_dim(L, 2, t->ndim, "narrow");
  int64_t start = lt_int(L, 3, "narrow", "the start");
  int64_t len = lt_int(L, 4, "narrow", "the length");
  if (start == 0) return luaL_error(L, "narrow: start 0 is not an index (they are 1-based)");
  start = start < 0 ? start + t->shape[d] : start - 1;   /* 0-based, without overflow */
  lt_push(L, entro_f_narrow(t, d, start, len));
  return 1;
}

static int m_select(lua_State *L) {
  entro_tensor *t = lt_check(L, 1);
  int d = lt_dim(L, 2, t->ndim, "select");
  lt_push(L, entro_f_select(t, d, lt_index(L, 3, t->shape[d], "select")));
  return 1;
}

static int m_transpose(lua_State *L) {
  entro_tensor *t = lt_check(L, 1);
  int d0, d1;
  if (lua_isnoneornil(L, 2)) {
    if (t->ndim > 2) {
      char b[200];
      return luaL_error(L, "t: needs a tensor of at most 2 dimensions, got %s (use transpose(d1, d2))",
                        entro_tensor_shape_str(b, t));
    }
    if (t->ndim < 2) { lt_push(L, entro_f_reshape(t, t->ndim, t->shape, 0)); return 1; }   /* recorded */
    d0 = 0; d1 = 1;
  } else {
    d0 = lt_dim(L, 2, t->ndim, "transpose");
    d1 = lt_dim(L, 3, t->ndim, "transpose");
  }
  lt_push(L, entro_f_transpose(t, d0, d1));
  return 1;
}

static int m_permute(lua_State *L) {
  entro_tensor *t = lt_check(L, 1);
  int64_t p[ENTRO_MAXDIM];
  int n = lt_read_shape(L, 2, p, "permute");
  if (n != t->ndim) return luaL_error(L, "permute: %d dimensions given for a %d-d tensor", n, t->ndim);
  int perm[ENTRO_MAXDIM];
  for (int i = 0; i < n; i++) perm[i] = (int)(p[i] < 0 ? p[i] + n : p[i] - 1);
  lt_push(L, entro_f_permute(t, perm));
  return 1;
}

/* view (copy 0), reshape (copy 1) or expand (copy -1) to a shape read from the arguments */
static int shaped(lua_State *L, int copy, const char *op) {
  entro_tensor *t = lt_check(L, 1);
  int64_t s[ENTRO_MAXDIM];
  int n = lt_read_shape(L, 2, s, op);
  lt_push(L, copy < 0 ? entro_f_expand(t, n, s) : entro_f_reshape(t, n, s, copy));
  return 1;
}
static int m_view(lua_State *L) { return shaped(L, 0, "view"); }
static int m_reshape(lua_State *L) { return shaped(L, 1, "reshape"); }
static int m_expand(lua_State *L) { return shaped(L, -1, "expand"); }

static int m_expand_as(lua_State *L) {
  entro_tensor *t = lt_check(L, 1), *o = lt_check(L, 2);
  lt_push(L, entro_f_expand(t, o->ndim, o->shape));
  return 1;
}

static int m_squeeze(lua_State *L) {
  entro_tensor *t = lt_check(L, 1);
  entro_tensor *v = entro_tensor_squeeze(t, lt_optdim(L, 2, t->ndim, "squeeze", -1));
  if (v) {   /* as a reshape, so autograd sees it */
    entro_tensor *r = entro_f_reshape(t, v->ndim, v->shape, 0);
    entro_tensor_release(v);
    v = r;
  }
  lt_push(L, v);
  return 1;
}

static int m_unsqueeze(lua_State *L) {
  entro_tensor *t = lt_check(L, 1);
  int64_t d = lt_int(L, 2, "unsqueeze", "the dimension");
  int64_t z = d < 0 ? d + t->ndim + 1 : d - 1;
  if (d == 0 || z < 0 || z > t->ndim)
    return luaL_error(L, "unsqueeze: dimension %I out of range for a %d-d tensor", (lua_Integer)d, t->ndim);
  if (t->ndim == ENTRO_MAXDIM)
    return luaL_error(L, "unsqueeze: a %d-d tensor cannot gain a dimension (at most %d)", t->ndim, ENTRO_MAXDIM);
  int64_t s[ENTRO_MAXDIM];
  for (int i = 0, k = 0; i <= t->ndim; i++) s[i] = i == z ? 1 : t->shape[k++];
  lt_push(L, entro_f_reshape(t, t->ndim + 1, s, 0));
  return 1;
}

static int m_flatten(lua_State *L) {
  entro_tensor *t = lt_check(L, 1);
  if (t->ndim == 0) { int64_t one = 1; lt_push(L, entro_f_reshape(t, 1, &one, 1)); return 1; }
  int a = lt_optdim(L, 2, t->ndim, "flatten", 0), b = lt_optdim(L, 3, t->ndim, "flatten", t->ndim - 1);
  if (a > b) return luaL_error(L, "flatten: start dimension %d after end dimension %d", a + 1, b + 1);
  int64_t s[ENTRO_MAXDIM];
  int n = 0;
  for (int i = 0; i < a; i++) s[n++] = t->shape[i];
  int64_t m = 1;
  for (int i = a; i <= b; i++) m *= t->shape[i];
  s[n++] = m;
  for (int i = b + 1; i < t->ndim; i++) s[n++] = t->shape[i];
  lt_push(L, entro_f_reshape(t, n, s, 1));
  return 1;
}

static int m_contiguous(lua_State *L) {
  entro_tensor *t = lt_check(L, 1);
  if (entro_tensor_is_contiguous(t)) { lua_settop(L, 1); return 1; }
  lt_push(L, entro_f_clone(t));
  return 1;
}

static int m_clone(lua_State *L) { lt_push(L, entro_f_clone(lt_check(L, 1))); return 1; }

static int m_copy(lua_State *L) {
  entro_tensor *t = lt_check(L, 1);
  lt_check_unrecorded(L, "copy", t, t, lt_test(L, 2));   /* before s may be allocated */
  int owned;
  entro_tensor *s = lt_tensor_or_number(L, 2, &owned);
  int st = entro_tensor_copy(t, s);
  if (owned) entro_tensor_release(s);
  if (st) return lt_error(L);
  lua_settop(L, 1);
  return 1;
}

static int m_fill(lua_State *L) {
  entro_tensor *t = lt_check(L, 1);
  lt_check_unrecorded(L, "fill", t, t, NULL);
  if (entro_tensor_fill(t, luaL_checknumber(L, 2))) return lt_error(L);
  lua_settop(L, 1);
  return 1;
}

static int m_close(lua_State *L) { return t_gc(L); }

static int m_storage_offset(lua_State *L) {
  lua_pushinteger(L, lt_check(L, 1)->offset + 1);
  return 1;
}

static int m_same_storage(lua_State *L) {
  lua_pushboolean(L, lt_check(L, 1)->st == lt_check(L, 2)->st);
  return 1;
}

static const luaL_Reg methods[] = {
  {"shape", m_shape}, {"size", m_size}, {"stride", m_stride}, {"dim", m_dim},
  {"numel", m_numel}, {"nelement", m_numel}, {"is_contiguous", m_is_contiguous},
  {"get", m_get}, {"set", m_set}, {"item", m_item}, {"totable", m_totable},
  {"narrow", m_narrow}, {"select", m_select}, {"t", m_transpose}, {"transpose", m_transpose},
  {"permute", m_permute}, {"view", m_view}, {"reshape", m_reshape}, {"expand", m_expand},
  {"expand_as", m_expand_as}, {"squeeze", m_squeeze}, {"unsqueeze", m_unsqueeze},
  {"flatten", m_flatten}, {"contiguous", m_contiguous}, {"clone", m_clone}, {"copy", m_copy},
  {"fill", m_fill}, {"fill_", m_fill}, {"copy_", m_copy}, {"close", m_close},
  {"storage_offset", m_storage_offset}, {"same_storage", m_same_storage},
  {NULL, NULL}
};

static const luaL_Reg module[] = {
  {"zeros", l_zeros}, {"ones", l_ones}, {"empty", l_empty}, {"full", l_full},
  {"zeros_like", l_zeros_like}, {"ones_like", l_ones_like}, {"full_like", l_full_like},
  {"eye", l_eye}, {"arange", l_arange}, {"linspace", l_linspace}, {"tensor", l_tensor},
  {"is_tensor", l_is_tensor},
  {NULL, NULL}
};

/* Tensor fields and methods share __index: methods first, then the computed fields that
 * the autograd glue registers (x.grad, x.grad_fn, ...), then the tensor's own fields kept
 * in its user value (x.name, set by nn for parameters). */
static int t_index(lua_State *L) {
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(1));          /* methods[key] */
  if (!lua_isnil(L, -1)) return 1;
  lua_pop(L, 1);
  if (lua_type(L, 2) == LUA_TSTRING) {
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(2));        /* fields[key] */
    if (lua_isfunction(L, -1)) {
      lua_pushvalue(L, 1);
      lua_call(L, 1, 1);
      return 1;
    }
    lua_pop(L, 1);
  }
  if (lua_getiuservalue(L, 1, 1) == LUA_TTABLE) {
    lua_pushvalue(L, 2);
    lua_rawget(L, -2);
    return 1;
  }
  lua_pushnil(L);
  return 1;
}

/* x.key = v: computed fields with a setter (upvalue 1, "__setters") first, else the user
 * value table. */
static int t_newindex(lua_State *L) {
  lt_check(L, 1);
  if (lua_type(L, 2) == LUA_TSTRING) {
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) == LUA_TFUNCTION) {
      lua_pushvalue(L, 1);
      lua_pushvalue(L, 3);
      lua_call(L, 2, 0);
      return 0;
    }
    lua_pop(L, 1);
  }
  if (lua_getiuservalue(L, 1, 1) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, 1, 1);
  }
  lua_pushvalue(L, 2);
  lua_pushvalue(L, 3);
  lua_rawset(L, -3);
  return 0;
}

int luaopen_entro_tensor(lua_State *L) {
  luaL_newlib(L, module);                       /* module */
  int mod = lua_gettop(L);
  luaL_newmetatable(L, ENTRO_TENSOR_MT);        /* metatable */
  int mt = lua_gettop(L);
  lua_pushvalue(L, mt);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &TENSOR_MT_KEY);
  tensor_mt = lua_topointer(L, mt);
  lua_newtable(L);                              /* methods */
  int meth = lua_gettop(L);
  luaL_setfuncs(L, methods, 0);
  lua_newtable(L);                              /* computed fields: x.grad, ... */
  int fields = lua_gettop(L);
  lua_pushvalue(L, fields); lua_setfield(L, mt, "__fields");
  lua_newtable(L);                              /* their setters */
  int setters = lua_gettop(L);
  lua_pushvalue(L, setters); lua_setfield(L, mt, "__setters");
  lt_open_ops(L, meth, mod);
  lt_open_format(L, meth, mod);
  lt_open_rng(L, mod);
  lt_open_linalg(L, mod);
  lt_open_io(L, mod);
  lt_open_autograd(L, meth, mod);
  lua_pushcfunction(L, t_gc); lua_setfield(L, mt, "__gc");
  lua_pushcfunction(L, m_close); lua_setfield(L, mt, "__close");
  lua_pushcfunction(L, m_len); lua_setfield(L, mt, "__len");
  lua_pushvalue(L, meth);
  lua_pushvalue(L, fields);
  lua_pushcclosure(L, t_index, 2);
  lua_setfield(L, mt, "__index");
  lua_pushvalue(L, setters);
  lua_pushcclosure(L, t_newindex, 1);
  lua_setfield(L, mt, "__newindex");
  lua_pushvalue(L, meth); lua_setfield(L, mod, "methods");
  lua_pushvalue(L, meth); lua_setfield(L, mt, "__methods");   /* for REPL completion */
  lua_settop(L, mod);
  return 1;
}
