/* target_lua.c -- fuzz target for the file readers as a script meets them: through the Lua
 * glue and the Lua modules (tensor.loads/load, data.parse_idx/read_idx, data.read_csv,
 * log.read_csv; see readers.lua, which this loads from the working directory). The first
 * byte picks the reader, the rest is the file. A finding: a crash, an error that does not
 * name its operation, a malformed result, or tensor storage still alive after a full
 * collection (a leak on some error path). */
#include "fuzz.h"
#include <lua.h>
#include <lualib.h>
#include <lauxlib.h>
#include "../../bindings/lua/lentro.h"

static lua_State *L;
static int feed_ref, nreaders;
static int64_t baseline;

static void init(void) {
  L = luaL_newstate();
  if (!L) fuzz_finding("init", "no Lua state");
  luaL_openlibs(L);
  luaL_requiref(L, "entro", luaopen_entro, 1);
  lua_pop(L, 1);
  if (luaL_dofile(L, "tests/fuzz/readers.lua")) fuzz_finding("init", lua_tostring(L, -1));
  lua_getfield(L, -1, "count");
  nreaders = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  lua_getfield(L, -1, "feed");
  feed_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_settop(L, 0);
  lua_gc(L, LUA_GCCOLLECT);
  baseline = entro_mem_live();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!L) init();
  if (size < 1) return 0;
  char path[64];
  int fd = fuzz_memfile(data + 1, size - 1, path, sizeof path);
  if (fd < 0) return 0;
  lua_rawgeti(L, LUA_REGISTRYINDEX, feed_ref);
  lua_pushlstring(L, (const char *)data + 1, size - 1);
  lua_pushstring(L, path);
  lua_pushinteger(L, data[0] % nreaders + 1);
  if (lua_pcall(L, 3, 1, 0) != LUA_OK) fuzz_finding("the harness failed", lua_tostring(L, -1));
  lua_rawgeti(L, -1, 1);
  if (lua_isstring(L, -1)) fuzz_finding("reader", lua_tostring(L, -1));
  lua_settop(L, 0);
  close(fd);
  lua_gc(L, LUA_GCCOLLECT);
  if (entro_mem_live() != baseline) {
    char b[96];
    snprintf(b, sizeof b, "%lld bytes of tensor storage alive, %lld before",
             (long long)entro_mem_live(), (long long)baseline);
    fuzz_finding("a leak", b);
  }
  return 0;
}
