/* lrng.c -- entro.Generator: explicit random generators for Lua, and the default one.
 *
 * tensor.rng(seed) makes a generator; tensor.rand/randn/... use the default generator,
 * seeded from ENTRO_SEED (the entro binary sets it from --seed) or 0. */
#include <stdlib.h>
#include <string.h>
#include "lentro.h"
#include "../core/rng.h"

static const char DEFAULT_KEY = 'g';   /* registry key: its address */

static entro_rng *check_rng(lua_State *L, int idx) {
  return luaL_checkudata(L, idx, ENTRO_RNG_MT);
}

static entro_rng *push_rng(lua_State *L) {
  entro_rng *g = lua_newuserdatauv(L, sizeof *g, 0);
  memset(g, 0, sizeof *g);
  luaL_setmetatable(L, ENTRO_RNG_MT);
  return g;
}

static uint64_t read_seed(lua_State *L, int idx) {
  if (lua_isinteger(L, idx)) return (uint64_t)lua_tointeger(L, idx);
  double d = luaL_checknumber(L, idx);
  if (d != d) luaL_error(L, "rng: the seed is NaN");
  return (uint64_t)(int64_t)d;
}

static int l_rng(lua_State *L) {
  uint64_t seed = lua_isnoneornil(L, 1) ? 0 : read_seed(L, 1);
  entro_rng_seed(push_rng(L), seed);
  return 1;
}

/* The generator: self at index 1 when it is one, else the default; returns the index of
 * the first argument after it. */
static entro_rng *target(lua_State *L, int *first) {
  entro_rng *g = luaL_testudata(L, 1, ENTRO_RNG_MT);
  if (g) { *first = 2; return g; }
  *first = 1;
  /* tensor.randn(3, 4, {rng = g}): a trailing options table may name the generator */
  int top = lua_gettop(L);
  if (top >= 1 && lua_istable(L, top) && lua_getfield(L, top, "rng") != LUA_TNIL) {
    g = luaL_testudata(L, -1, ENTRO_RNG_MT);
    if (!g) luaL_error(L, "rng option must be an entro.Generator (tensor.rng(seed)), got %s",
                       luaL_typename(L, -1));
    lua_pop(L, 1);   /* the options table keeps it alive */
    return g;
  }
  if (top >= 1 && lua_istable(L, top)) lua_pop(L, 1);   /* the nil from getfield */
  lua_rawgetp(L, LUA_REGISTRYINDEX, &DEFAULT_KEY);
  g = lua_touserdata(L, -1);
  lua_pop(L, 1);   /* kept alive by the registry */
  return g;
}

/* Makes a tensor of the shape given from idx on; returns NULL (and pushes nothing) when
 * no shape was given. */
static entro_tensor *shaped(lua_State *L, int idx, const char *op) {
  int64_t shape[ENTRO_MAXDIM], numel;
  if (lua_isnoneornil(L, idx)) return NULL;
  int n = lt_read_shape(L, idx, shape, op);
  if (entro_shape_check(op, n, shape, &numel)) lt_error(L);
  entro_tensor *t = entro_tensor_new(n, shape);
  lt_push(L, t);
  return t;
}

static int finish(lua_State *L, int st) {
  if (st) return lt_error(L);
  return 1;
}

static int g_rand(lua_State *L) {
  int a;
  entro_rng *g = target(L, &a);
  entro_tensor *t = shaped(L, a, "rand");
  if (!t) { lua_pushnumber(L, entro_rng_uniform(g)); return 1; }
  return finish(L, entro_rng_fill_uniform(g, t, 0, 1));
}

static int g_randn(lua_State *L) {
  int a;
  entro_rng *g = target(L, &a);
  entro_tensor *t = shaped(L, a, "randn");
  if (!t) { lua_pushnumber(L, entro_rng_normal(g)); return 1; }
  return finish(L, entro_rng_fill_normal(g, t, 0, 1));
}

static int g_normal(lua_State *L) {
  int a;
  entro_rng *g = target(L, &a);
  double mean = luaL_checknumber(L, a), std = luaL_checknumber(L, a + 1);
  if (!(std >= 0)) return luaL_error(L, "normal: standard deviation %f is negative", std);
  entro_tensor *t = shaped(L, a + 2, "normal");
  if (!t) { lua_pushnumber(L, mean + std * entro_rng_normal(g)); return 1; }
  return finish(L, entro_rng_fill_normal(g, t, mean, std));
}

static int g_uniform(lua_State *L) {
  int a;
  entro_rng *g = target(L, &a);
  double lo = luaL_checknumber(L, a), hi = luaL_checknumber(L, a + 1);
  entro_tensor *t = shaped(L, a + 2, "uniform");
  if (!t) { lua_pushnumber(L, lo + (hi - lo) * entro_rng_uniform(g)); return 1; }
  return finish(L, entro_rng_fill_uniform(g, t, lo, hi));
}

/* randint(lo, hi, ...): integers in lo..hi inclusive, as Torch7's random(a, b) */
static int g_randint(lua_State *L) {
  int a;
  entro_rng *g = target(L, &a);
  int64_t lo = lt_int(L, a, "randint", "the lower bound"), hi = lt_int(L, a + 1, "randint", "the upper bound");
  if (hi < lo) return luaL_error(L, "randint: empty range %I..%I", (lua_Integer)lo, (lua_Integer)hi);
  /* doubles hold integers exactly up to 2^53; this also keeps hi - lo from overflowing */
  const int64_t big = (int64_t)1 << 53;
  if (lo < -big || hi > big)
    return luaL_error(L, "randint: range %I..%I exceeds the exact integers of a double (2^53)",
                      (lua_Integer)lo, (lua_Integer)hi);
  entro_tensor *t = shaped(L, a + 2, "randint");
  if (!t) {
    lua_pushinteger(L, lo + (int64_t)entro_rng_below(g, (uint64_t)(hi - lo) + 1));
    return 1;
  }
  return finish(L, entro_rng_fill_randint(g, t, lo, hi));
}

static int g_bernoulli(lua_State *L) {
  int a;
  entro_rng *g = target(L, &a);
  double p = luaL_checknumber(L, a);
  if (!(p >= 0 && p <= 1)) return luaL_error(L, "bernoulli: probability %f outside [0, 1]", p);
  entro_tensor *t = shaped(L, a + 1, "bernoulli");
  if (!t) { lua_pushnumber(L, entro_rng_uniform(g) < p ? 1 : 0); return 1; }
  return finish(L, entro_rng_fill_bernoulli(g, t, p));
}

/* perm(n): a random permutation of 1..n */
static int g_perm(lua_State *L) {
  int a;
  entro_rng *g = target(L, &a);
  int64_t n = lt_int(L, a, "perm", "the size");
  if (n < 0) return luaL_error(L, "perm: negative size %I", (lua_Integer)n);
  entro_tensor *t = entro_tensor_new(1, &n);
  lt_push(L, t);
  entro_rng_perm(g, t);
  for (int64_t i = 0; i < n; i++) entro_data(t)[i] += 1;
  return 1;
}

/* In-place fills of an existing tensor: g:normal_(t, mean, std), g:uniform_(t, lo, hi),
 * g:bernoulli_(t, p). No allocation, for optimizers' noise. */
static int g_normal_(lua_State *L) {
  entro_rng *g = check_rng(L, 1);
  entro_tensor *t = lt_check(L, 2);
  if (entro_rng_fill_normal(g, t, luaL_optnumber(L, 3, 0), luaL_optnumber(L, 4, 1))) return lt_error(L);
  lua_settop(L, 2);
  return 1;
}
static int g_uniform_(lua_State *L) {
  entro_rng *g = check_rng(L, 1);
  entro_tensor *t = lt_check(L, 2);
  if (entro_rng_fill_uniform(g, t, luaL_optnumber(L, 3, 0), luaL_optnumber(L, 4, 1))) return lt_error(L);
  lua_settop(L, 2);
  return 1;
}
static int g_bernoulli_(lua_State *L) {
  entro_rng *g = check_rng(L, 1);
  entro_tensor *t = lt_check(L, 2);
  if (entro_rng_fill_bernoulli(g, t, luaL_checknumber(L, 3))) return lt_error(L);
  lua_settop(L, 2);
  return 1;
}

static int g_state(lua_State *L) {
  char buf[160];
  entro_rng_state(check_rng(L, 1), buf, sizeof buf);
  lua_pushstring(L, buf);
  return 1;
}

static int g_set_state(lua_State *L) {
  entro_rng *g = check_rng(L, 1);
  if (entro_rng_set_state(g, luaL_checkstring(L, 2))) return lt_error(L);
  lua_settop(L, 1);
  return 1;
}

static int g_seed(lua_State *L) {
  entro_rng_seed(check_rng(L, 1), read_seed(L, 2));
  lua_settop(L, 1);
  return 1;
}

static int g_split(lua_State *L) {
  entro_rng *g = check_rng(L, 1);
  entro_rng_split(g, push_rng(L));
  return 1;
}

static int g_clone(lua_State *L) {
  entro_rng *g = check_rng(L, 1);
  *push_rng(L) = *g;
  return 1;
}

static int g_tostring(lua_State *L) {
  lua_pushfstring(L, "entro.Generator (%p)", lua_topointer(L, 1));
  return 1;
}

static int l_default_rng(lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &DEFAULT_KEY);
  return 1;
}

static int l_manual_seed(lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &DEFAULT_KEY);
  entro_rng_seed(lua_touserdata(L, -1), read_seed(L, 1));
  return 1;
}

static int l_is_rng(lua_State *L) {
  lua_pushboolean(L, luaL_testudata(L, 1, ENTRO_RNG_MT) != NULL);
  return 1;
}

static const luaL_Reg gen_methods[] = {
  {"rand", g_rand}, {"randn", g_randn}, {"normal", g_normal}, {"uniform", g_uniform},
  {"randint", g_randint}, {"bernoulli", g_bernoulli}, {"perm", g_perm},
  {"normal_", g_normal_}, {"uniform_", g_uniform_}, {"bernoulli_", g_bernoulli_},
  {"state", g_state}, {"set_state", g_set_state}, {"seed", g_seed}, {"split", g_split},
  {"clone", g_clone}, {NULL, NULL}
};

static const luaL_Reg module_fns[] = {
  {"rand", g_rand}, {"randn", g_randn}, {"normal", g_normal}, {"uniform", g_uniform},
  {"randint", g_randint}, {"bernoulli", g_bernoulli}, {"perm", g_perm},
  {"rng", l_rng}, {"default_rng", l_default_rng}, {"manual_seed", l_manual_seed},
  {"is_rng", l_is_rng}, {NULL, NULL}
};

void lt_open_rng(lua_State *L, int mod) {
  if (luaL_newmetatable(L, ENTRO_RNG_MT)) {
    luaL_newlib(L, gen_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, g_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_pop(L, 1);
  lua_pushvalue(L, mod);
  luaL_setfuncs(L, module_fns, 0);
  lua_pop(L, 1);
  /* the default generator, seeded from ENTRO_SEED or 0 */
  const char *env = getenv("ENTRO_SEED");
  uint64_t seed = env && *env ? (uint64_t)strtoll(env, NULL, 10) : 0;
  entro_rng_seed(push_rng(L), seed);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &DEFAULT_KEY);
}
