/* ldata.c -- entro.data_c: the C half of the data module (stdlib/entro/data.lua), which is
 * the public face. It reads IDX files and buffers into tensors and gathers shuffled batch rows
 * into a reused buffer; the engine work is in core/idx.h. */
#include <math.h>
#include "lentro.h"
#include "../core/idx.h"

static int64_t opt_limit(lua_State *L, int idx, const char *op) {
  if (lua_isnoneornil(L, idx)) return -1;
  int64_t n = lt_int(L, idx, op, "the row limit n");
  if (n < 0) return luaL_error(L, "%s: the row limit n = %I is negative", op, (lua_Integer)n);
  return n;
}

static double opt_div(lua_State *L, int idx, const char *op) {
  double d = luaL_optnumber(L, idx, 1.0);
  if (!(d > 0 && d < HUGE_VAL)) return luaL_error(L, "%s: the divisor %f is not a positive number", op, d);
  return d;
}

/* read_idx(path [, limit [, div [, op]]]) -> tensor of the file's shape, values / div */
static int l_read_idx(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  const char *op = luaL_optstring(L, 4, "read_idx");
  int64_t limit = opt_limit(L, 2, op);
  double div = opt_div(L, 3, op);
  lt_push(L, entro_idx_read(op, path, limit, div));
  return 1;
}

/* parse_idx(bytes [, limit [, div [, op [, name]]]]) -> tensor, from IDX bytes in a string */
static int l_parse_idx(lua_State *L) {
  size_t len;
  const unsigned char *buf = (const unsigned char *)luaL_checklstring(L, 1, &len);
  const char *op = luaL_optstring(L, 4, "parse_idx");
  int64_t limit = opt_limit(L, 2, op);
  double div = opt_div(L, 3, op);
  const char *what = lua_pushfstring(L, "'%s'", luaL_optstring(L, 5, "string"));
  lt_push(L, entro_idx_from_buffer(op, what, buf, len, limit, div));
  return 1;
}

/* gather(out, X, idx [, op]) -> out: out[i] = X[idx[i]], idx 1-based (a tensor or a table) */
static int l_gather(lua_State *L) {
  entro_tensor *out = lt_check(L, 1), *x = lt_check(L, 2);
  const char *op = luaL_optstring(L, 4, "gather");
  if ((x->flags & ENTRO_REQUIRES_GRAD) || (out->flags & ENTRO_REQUIRES_GRAD))
    return luaL_error(L, "%s: the data requires grad; a loader's gather is not recorded "
                      "(pass X:detach())", op);
  entro_tensor *i = lt_indices0(L, 3, op);
  int st = entro_gather_rows(op, out, x, i);
  entro_tensor_release(i);
  if (st) return lt_error(L);
  lua_settop(L, 1);
  return 1;
}

static const luaL_Reg fns[] = {
  {"read_idx", l_read_idx}, {"parse_idx", l_parse_idx}, {"gather", l_gather}, {NULL, NULL}
};

int luaopen_entro_data_c(lua_State *L) {
  luaL_newlib(L, fns);
  return 1;
}
