/* lentro.c -- luaopen_entro: the `entro` table, its submodules, and the preloading of the
 * Lua standard library compiled into the binary. The same function serves the entro
 * binary and `require "entro"` from a stock lua5.4. Writes no globals. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "lentro.h"
#include "lstdlib.h"
#include "../core/blas.h"
#include "../core/parallel.h"

/* Loader for one embedded stdlib module: upvalue 1 is its index in entro_stdlib. */
static int load_embedded(lua_State *L) {
  const entro_stdlib_entry *e = &entro_stdlib[lua_tointeger(L, lua_upvalueindex(1))];
  if (luaL_loadbufferx(L, e->source, e->len, e->chunkname, "t") != LUA_OK) return lua_error(L);
  lua_pushstring(L, e->module);
  lua_call(L, 1, 1);
  return 1;
}

static int l_mem(lua_State *L) {
  lua_pushinteger(L, entro_mem_live());
  lua_createtable(L, 0, 4);
  lua_pushinteger(L, entro_mem_live()); lua_setfield(L, -2, "live");
  lua_pushinteger(L, entro_mem_peak()); lua_setfield(L, -2, "peak");
  lua_pushinteger(L, entro_mem_cached()); lua_setfield(L, -2, "cached");
  lua_pushinteger(L, entro_mem_allocs()); lua_setfield(L, -2, "allocs");
  return 2;
}

static int l_mem_trim(lua_State *L) {
  (void)L;
  entro_mem_trim();
  return 0;
}

/* entro.clock(): a monotonic clock in seconds, for timing and progress bars. */
static int l_clock(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9);
  return 1;
}

/* entro.blas(): which OpenBLAS kernels run, with how many threads. */
static int l_blas(lua_State *L) {
  if (entro_blas_init()) return lt_error(L);
  lua_createtable(L, 0, 4);
  lua_pushstring(L, entro_blas.get_corename()); lua_setfield(L, -2, "core");
  lua_pushstring(L, entro_blas.get_config()); lua_setfield(L, -2, "config");
  /* OpenBLAS itself runs single-threaded: entro splits products between its threads */
  lua_pushinteger(L, entro_parallel_threads()); lua_setfield(L, -2, "threads");
  const char *c = entro_blas_chosen_coretype();
  if (c) { lua_pushstring(L, c); lua_setfield(L, -2, "coretype_set_by_entro"); }
  return 1;
}

static int l_set_threads(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  if (n < 1 || n > 1024) return luaL_error(L, "set_threads: %d threads is not a sensible count", (int)n);
  entro_parallel_set_threads((int)n);   /* products, LAPACK and elementwise kernels alike */
  return 0;
}

/* entro.<sub> loads "entro.<sub>" on first use. */
static int entro_index(lua_State *L) {
  const char *k = luaL_checkstring(L, 2);
  lua_getglobal(L, "require");
  lua_pushfstring(L, "entro.%s", k);
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_getfield(L, -1, lua_tostring(L, -2));
  int known = !lua_isnil(L, -1);
  lua_pop(L, 2);
  if (!known) {
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_getfield(L, -1, lua_tostring(L, -2));
    known = !lua_isnil(L, -1);
    lua_pop(L, 2);
  }
  if (!known) return 0;
  lua_call(L, 1, 1);
  lua_pushvalue(L, -1);
  lua_setfield(L, 1, k);   /* cache it */
  return 1;
}

/* tensor.gradcheck(...): loads entro.gradcheck (Lua) on first use */
static int l_gradcheck(lua_State *L) {
  int n = lua_gettop(L);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "entro.gradcheck");
  lua_call(L, 1, 1);
  lua_insert(L, 1);
  lua_call(L, n, LUA_MULTRET);
  return lua_gettop(L);
}

static const luaL_Reg entro_fns[] = {
  {"mem", l_mem}, {"mem_trim", l_mem_trim}, {"clock", l_clock}, {"blas", l_blas},
  {"set_threads", l_set_threads}, {NULL, NULL}
};

int luaopen_entro(lua_State *L) {
  /* Load OpenBLAS now, so its core type is chosen before anything else can load it. A
   * failure here is reported again, as a Lua error, by the first op that needs BLAS. */
  entro_blas_init();
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  int loaded = lua_gettop(L);
  lua_getfield(L, loaded, "entro");
  if (lua_istable(L, -1)) return 1;   /* already open in this state */
  lua_pop(L, 1);

  /* entro.tensor, registered before the Lua modules that require it */
  luaL_requiref(L, "entro.tensor", luaopen_entro_tensor, 0);
  int tensor = lua_gettop(L);
  lua_pushcfunction(L, l_gradcheck);
  lua_setfield(L, tensor, "gradcheck");
  luaL_requiref(L, "entro.optim_kernels", luaopen_entro_optim_kernels, 0); lua_pop(L, 1);

  lua_getfield(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  for (int i = 0; entro_stdlib[i].module; i++) {
    lua_pushinteger(L, i);
    lua_pushcclosure(L, load_embedded, 1);
    lua_setfield(L, -2, entro_stdlib[i].module);
  }
  lua_pushcfunction(L, luaopen_entro_data_c); lua_setfield(L, -2, "entro.data_c");
  lua_pushcfunction(L, luaopen_entro_metrics_c); lua_setfield(L, -2, "entro.metrics_c");
  lua_pop(L, 1);

  luaL_newlib(L, entro_fns);
  int e = lua_gettop(L);
  lua_pushliteral(L, ENTRO_VERSION); lua_setfield(L, e, "version");
  const char *seed = getenv("ENTRO_SEED");
  lua_pushinteger(L, seed && *seed ? strtoll(seed, NULL, 10) : 0); lua_setfield(L, e, "seed");
  const char *quiet = getenv("ENTRO_QUIET");
  lua_pushboolean(L, quiet && *quiet && strcmp(quiet, "0")); lua_setfield(L, e, "quiet");
  lua_pushvalue(L, tensor); lua_setfield(L, e, "tensor");
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, entro_index);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, e);
  lua_pushvalue(L, e);
  lua_setfield(L, loaded, "entro");
  /* entro.checkpoint and entro.restore live in stdlib/entro/checkpoint.lua */
  lua_getglobal(L, "require");
  lua_pushliteral(L, "entro.checkpoint");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "checkpoint"); lua_setfield(L, e, "checkpoint");
  lua_getfield(L, -1, "restore"); lua_setfield(L, e, "restore");
  lua_settop(L, e);
  return 1;
}
