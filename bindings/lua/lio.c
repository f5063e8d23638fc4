/* lio.c -- tensor.save / tensor.load and tensor.dumps / tensor.loads: the walk over Lua values
 * that feeds the engine's writer, and the table building that follows its reader (the format
 * itself is in core/serialize.h).
 *
 * What survives a round trip: tensors (their values and shape; not requires_grad, and a view
 * comes back as a contiguous tensor of its own), floats and integers as distinct subtypes,
 * strings, booleans, and tables, without their metatables. A table or tensor object reached
 * twice is written once and comes back as one object, so shared subtables, cycles and tied
 * weights keep their identity; two different views of one storage come back unrelated.
 *
 * Everything the engine holds while Lua may raise -- the open writer and its temporary file,
 * a mapped input file -- lives in a to-be-closed userdata, so an error cleans it up. */
#include <string.h>
#include "lentro.h"
#include "../core/serialize.h"

#define WRITER_MT "entro.Writer"
#define FILE_MT "entro.MappedFile"

static void check(lua_State *L, int status) {
  if (status) lt_error(L);
}

/* ---- saving ---- */

typedef struct keypath { const struct keypath *up; int key; } keypath;   /* key: stack index */

typedef struct {
  entro_ser_writer *w;
  const char *op;
  int seen;        /* stack index of a table: object -> id */
  uint64_t nobj;
} saver;

static int is_name(const char *s) {
  if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z'))) return 0;
  for (s++; *s; s++)
    if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
      return 0;
  return 1;
}

/* Pushes the path to a value the way it would be written in Lua: layers[2].w["a b"]. */
static const char *push_path(lua_State *L, const keypath *at) {
  const keypath *chain[ENTRO_SER_MAXDEPTH + 1];
  int n = 0;
  for (; at; at = at->up) chain[n++] = at;
  luaL_checkstack(L, 4, NULL);
  lua_pushliteral(L, "");
  for (int i = n - 1; i >= 0; i--) {
    int k = chain[i]->key;
    if (lua_type(L, k) == LUA_TSTRING && is_name(lua_tostring(L, k)))
      lua_pushfstring(L, i == n - 1 ? "%s" : ".%s", lua_tostring(L, k));
    else if (lua_type(L, k) == LUA_TSTRING)
      lua_pushfstring(L, "[\"%s\"]", lua_tostring(L, k));
    else {
      luaL_tolstring(L, k, NULL);   /* a copy: the key itself must stay a number for lua_next */
      lua_pushfstring(L, "[%s]", lua_tostring(L, -1));
      lua_remove(L, -2);
    }
    lua_concat(L, 2);
  }
  return lua_tostring(L, -1);
}

static int cannot(lua_State *L, const saver *s, const keypath *at, const char *what) {
  if (!at) return luaL_error(L, "%s: cannot save %s", s->op, what);
  return luaL_error(L, "%s: cannot save %s (at key '%s')", s->op, what, push_path(L, at));
}

/* "a function", "an entro.Generator", "nil" */
static const char *describe(lua_State *L, int idx) {
  if (lua_isnil(L, idx)) return "nil";
  const char *name = luaL_getmetafield(L, idx, "__name") == LUA_TSTRING ? lua_tostring(L, -1)
                                                                          : luaL_typename(L, idx);
  return lua_pushfstring(L, "%s %s", name[0] && strchr("aeioAEIO", name[0]) ? "an" : "a", name);
}

/* Writes a reference when the table or tensor at idx was written before (returns 1);
 * otherwise gives it the next id, in the order the reader counts them. */
static int seen(lua_State *L, saver *s, int idx) {
  lua_pushvalue(L, idx);
  if (lua_rawget(L, s->seen) == LUA_TNUMBER) {
    check(L, entro_ser_put_ref(s->w, (uint64_t)lua_tointeger(L, -1)));
    lua_pop(L, 1);
    return 1;
  }
  lua_pop(L, 1);
  lua_pushvalue(L, idx);
  lua_pushinteger(L, (lua_Integer)s->nobj++);
  lua_rawset(L, s->seen);
  return 0;
}

static void save_value(lua_State *L, saver *s, int idx, const keypath *at, int depth);

static void save_table(lua_State *L, saver *s, int idx, const keypath *at, int depth) {
  if (seen(L, s, idx)) return;
  if (depth == ENTRO_SER_MAXDEPTH) {
    luaL_error(L, "%s: tables nested deeper than %d (at key '%s')", s->op, ENTRO_SER_MAXDEPTH,
               push_path(L, at));
  }
  luaL_checkstack(L, 6, NULL);
  check(L, entro_ser_put_table(s->w));
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    int k = lua_gettop(L) - 1;
    keypath here = {at, k};
    int kt = lua_type(L, k);
    if (kt != LUA_TNUMBER && kt != LUA_TSTRING && kt != LUA_TBOOLEAN) {
      const char *what = describe(L, k);
      if (!at) luaL_error(L, "%s: cannot save %s as a key (in the outermost table)", s->op, what);
      luaL_error(L, "%s: cannot save %s as a key (in '%s')", s->op, what, push_path(L, at));
    }
    save_value(L, s, k, at, depth);
    save_value(L, s, k + 1, &here, depth + 1);
    lua_pop(L, 1);
  }
  check(L, entro_ser_put_end(s->w));
}

static void save_value(lua_State *L, saver *s, int idx, const keypath *at, int depth) {
  switch (lua_type(L, idx)) {
  case LUA_TNUMBER:
    if (lua_isinteger(L, idx)) check(L, entro_ser_put_integer(s->w, (int64_t)lua_tointeger(L, idx)));
    else check(L, entro_ser_put_number(s->w, (double)lua_tonumber(L, idx)));
    return;
  case LUA_TSTRING: {
    size_t n;
    const char *p = lua_tolstring(L, idx, &n);
    check(L, entro_ser_put_string(s->w, p, n));
    return;
  }
  case LUA_TBOOLEAN:
    check(L, entro_ser_put_boolean(s->w, lua_toboolean(L, idx)));
    return;
  case LUA_TTABLE:
    save_table(L, s, idx, at, depth);
    return;
  case LUA_TUSERDATA: {
    lt_box *b = luaL_testudata(L, idx, ENTRO_TENSOR_MT);
    if (b && !b->t) cannot(L, s, at, "a closed tensor");
    if (b) {
      if (!seen(L, s, idx)) check(L, entro_ser_put_tensor(s->w, b->t));
      return;
    }
    break;
  }
  }
  cannot(L, s, at, describe(L, idx));
}

/* A new writer in a to-be-closed slot at the top of the stack. */
static entro_ser_writer *new_writer(lua_State *L) {
  entro_ser_writer *w = lua_newuserdatauv(L, sizeof *w, 0);
  entro_ser_writer_init(w);
  luaL_setmetatable(L, WRITER_MT);
  lua_toclose(L, -1);
  return w;
}

static int writer_gc(lua_State *L) {
  entro_ser_writer_free(luaL_checkudata(L, 1, WRITER_MT));
  return 0;
}

static void save_root(lua_State *L, entro_ser_writer *w, const char *op, int idx) {
  lua_newtable(L);
  saver s = {w, op, lua_gettop(L), 0};
  save_value(L, &s, idx, NULL, 0);
  lua_pop(L, 1);
}

/* tensor.save(path, value): writes path.tmp.<pid>, then renames it over path. */
static int l_save(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  luaL_checkany(L, 2);
  lua_settop(L, 2);
  entro_ser_writer *w = new_writer(L);
  check(L, entro_ser_writer_open_file(w, "tensor.save", path));
  save_root(L, w, "tensor.save", 2);
  check(L, entro_ser_commit(w));
  return 0;
}

/* tensor.dumps(value) -> the bytes tensor.save would write */
static int l_dumps(lua_State *L) {
  luaL_checkany(L, 1);
  lua_settop(L, 1);
  entro_ser_writer *w = new_writer(L);
  check(L, entro_ser_writer_open_mem(w, "tensor.dumps"));
  save_root(L, w, "tensor.dumps", 1);
  const unsigned char *data;
  size_t len;
  check(L, entro_ser_finish(w, &data, &len));
  lua_pushlstring(L, (const char *)data, len);
  return 1;
}

/* ---- loading ---- */

/* Follows the reader, keeping each open table on the stack under its pending key; every
 * object is on the stack or in objs as soon as it exists, so an error leaks nothing. */
static int build(lua_State *L, entro_ser_reader *r) {
  lua_newtable(L);   /* objs: id + 1 -> table or tensor */
  int objs = lua_gettop(L);
  entro_ser_item it;
  while (!r->done) {
    luaL_checkstack(L, 4, NULL);
    check(L, entro_ser_read(r, &it));
    switch (it.kind) {
    case ENTRO_SER_TABLE:
      lua_newtable(L);
      lua_pushvalue(L, -1);
      lua_rawseti(L, objs, (lua_Integer)it.id + 1);
      continue;   /* open until its END */
    case ENTRO_SER_END: break;   /* the finished table is on top */
    case ENTRO_SER_TENSOR:
      lt_push(L, it.tensor);
      lua_pushvalue(L, -1);
      lua_rawseti(L, objs, (lua_Integer)it.id + 1);
      break;
    case ENTRO_SER_REF: lua_rawgeti(L, objs, (lua_Integer)it.id + 1); break;
    case ENTRO_SER_NUMBER: lua_pushnumber(L, (lua_Number)it.number); break;
    case ENTRO_SER_INTEGER: lua_pushinteger(L, (lua_Integer)it.integer); break;
    case ENTRO_SER_STRING: lua_pushlstring(L, it.str, it.len); break;
    case ENTRO_SER_BOOLEAN: lua_pushboolean(L, it.boolean); break;
    }
    if (it.role == ENTRO_SER_VALUE) lua_rawset(L, -3);   /* table, key, value */
  }
  return 1;
}

static int file_gc(lua_State *L) {
  entro_ser_file_free(luaL_checkudata(L, 1, FILE_MT));
  return 0;
}

/* tensor.load(path) -> the value saved there */
static int l_load(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  entro_ser_file *f = lua_newuserdatauv(L, sizeof *f, 0);
  memset(f, 0, sizeof *f);
  luaL_setmetatable(L, FILE_MT);
  lua_toclose(L, -1);
  check(L, entro_ser_file_read(f, "tensor.load", path));
  const char *what = lua_pushfstring(L, "'%s'", path);
  entro_ser_reader r;
  check(L, entro_ser_reader_open(&r, "tensor.load", what, f->data, f->len, 0));
  return build(L, &r);
}

/* tensor.loads(bytes) -> the value tensor.dumps encoded */
static int l_loads(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  entro_ser_reader r;
  check(L, entro_ser_reader_open(&r, "tensor.loads", "the string", s, len, 0));
  return build(L, &r);
}

static const luaL_Reg io_fns[] = {
  {"save", l_save}, {"load", l_load}, {"dumps", l_dumps}, {"loads", l_loads}, {NULL, NULL}
};

void lt_open_io(lua_State *L, int mod) {
  luaL_newmetatable(L, WRITER_MT);
  lua_pushcfunction(L, writer_gc); lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, writer_gc); lua_setfield(L, -2, "__close");
  luaL_newmetatable(L, FILE_MT);
  lua_pushcfunction(L, file_gc); lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, file_gc); lua_setfield(L, -2, "__close");
  lua_pop(L, 2);
  for (const luaL_Reg *f = io_fns; f->name; f++) {
    lua_pushcfunction(L, f->func);
    lua_setfield(L, mod, f->name);
  }
}
