/* lformat.c -- tostring for tensors, and tensor.set_printoptions. */
#include <stdlib.h>
#include "lentro.h"
#include "../core/format.h"

static int64_t threshold = 1000, edge = 3;

static int t_tostring(lua_State *L) {
  lt_box *b = luaL_checkudata(L, 1, ENTRO_TENSOR_MT);
  if (!b->t) { lua_pushliteral(L, "[entro.Tensor (closed)]"); return 1; }
  char *s = entro_tensor_format(b->t, threshold, edge);
  if (!s) return lt_error(L);
  lua_pushstring(L, s);
  free(s);
  return 1;
}

/* tensor.set_printoptions{threshold = 1000, edgeitems = 3} */
static int l_set_printoptions(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_getfield(L, 1, "threshold");
  if (!lua_isnil(L, -1)) threshold = lt_int(L, -1, "set_printoptions", "threshold");
  lua_getfield(L, 1, "edgeitems");
  if (!lua_isnil(L, -1)) edge = lt_int(L, -1, "set_printoptions", "edgeitems");
  if (edge < 1) edge = 1;
  return 0;
}

void lt_open_format(lua_State *L, int meth, int mod) {
  (void)meth;
  luaL_getmetatable(L, ENTRO_TENSOR_MT);
  lua_pushcfunction(L, t_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pushliteral(L, "entro.Tensor");
  lua_setfield(L, -2, "__name");
  lua_pop(L, 1);
  lua_pushcfunction(L, l_set_printoptions);
  lua_setfield(L, mod, "set_printoptions");
}
