/* loptim.c -- entro.optim_kernels: the glue between optim.lua and the update kernels of
 * core/optim.h. Internal: optim.lua validates options with friendly messages and calls
 * step() once per parameter per step; this file reads the group's options, creates the
 * parameter's state buffers the first time (and never again), and runs one kernel. */
#include <string.h>
#include "lentro.h"
#include "../core/optim.h"
#include "../core/rng.h"

/* group[k] as a number (def when nil), naming op and k when it is something else. */
static double num_field(lua_State *L, int group, const char *k, const char *op, double def) {
  int t = lua_getfield(L, group, k);
  double v = def;
  if (t == LUA_TNUMBER) v = lua_tonumber(L, -1);
  else if (t != LUA_TNIL)
    luaL_error(L, "%s: %s must be a number, got %s", op, k, luaL_typename(L, -1));
  lua_pop(L, 1);
  return v;
}

static int bool_field(lua_State *L, int group, const char *k) {
  lua_getfield(L, group, k);
  int v = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

/* Elements [off, off + n) of a contiguous tensor at idx, or NULL for nil. */
static const double *slice(lua_State *L, int idx, int64_t off, int64_t n, const char *op,
                           const char *what) {
  if (lua_isnoneornil(L, idx)) return NULL;
  entro_tensor *t = lt_check(L, idx);
  if (!entro_tensor_is_contiguous(t) || off < 0 || off + n > t->numel)
    luaL_error(L, "%s: the %s tensor (%d elements, contiguous: %s) does not cover elements "
               "%d..%d", op, what, (int)t->numel, entro_tensor_is_contiguous(t) ? "yes" : "no",
               (int)off + 1, (int)(off + n));
  return entro_data(t) + off;
}

/* state[k]: the tensor there, or a new one of p's shape stored there (fresh is then set).
 * The tensor stays on the stack, which keeps it alive for the kernel. */
static entro_tensor *state_buffer(lua_State *L, int state, const char *k, entro_tensor *p,
                                  int zero, int *fresh, const char *op) {
  if (lua_getfield(L, state, k) != LUA_TNIL) {
    entro_tensor *t = lt_test(L, -1);
    if (!t) luaL_error(L, "%s: state.%s must be a tensor, got %s", op, k, luaL_typename(L, -1));
    if (fresh) *fresh = 0;
    return t;
  }
  lua_pop(L, 1);
  entro_tensor *t = zero ? entro_tensor_zeros(p->ndim, p->shape) : entro_tensor_new(p->ndim, p->shape);
  lt_push(L, t);
  lua_pushvalue(L, -1);
  lua_setfield(L, state, k);
  if (fresh) *fresh = 1;
  return t;
}

static const char *const kinds[] = {"sgd", "adam", "adamw", "langevin", NULL};
static const char *const ops[] = {"optim.sgd", "optim.adam", "optim.adamw", "optim.langevin"};

/* The group's options (at index g) for kind into h; the learning rate tensor, if any, stays
 * for the caller to slice (lr_idx). */
static void read_options(lua_State *L, int kind, int g, entro_optim_hp *h, int *lr_idx) {
  memset(h, 0, sizeof *h);
  h->op = ops[kind];
  *lr_idx = 0;
  if (lua_getfield(L, g, "lr") == LUA_TNUMBER) { h->lr = lua_tonumber(L, -1); lua_pop(L, 1); }
  else if (lt_test(L, -1)) *lr_idx = lua_gettop(L);   /* stays on the stack */
  else luaL_error(L, "%s: lr must be a number or a tensor, got %s", h->op, luaL_typename(L, -1));
  double wd = num_field(L, g, "weight_decay", h->op, 0);
  int torch_decay = 0;
  if (lua_getfield(L, g, "decay_convention") == LUA_TSTRING)
    torch_decay = strcmp(lua_tostring(L, -1), "torch") == 0;
  lua_pop(L, 1);
  if (kind == 2) h->decoupled_decay = wd;          /* AdamW: always PyTorch's decoupled form */
  else h->weight_decay = torch_decay ? wd : 2 * wd;  /* gradient of gamma |theta|^2 is 2 gamma theta */
  switch (kind) {
  case 0:
    h->momentum = num_field(L, g, "momentum", h->op, 0);
    h->dampening = num_field(L, g, "dampening", h->op, 0);
    h->nesterov = bool_field(L, g, "nesterov");
    break;
  case 1: case 2:
    if (lua_getfield(L, g, "betas") != LUA_TTABLE)
      luaL_error(L, "%s: betas must be a table {beta1, beta2}", h->op);
    lua_rawgeti(L, -1, 1);
    lua_rawgeti(L, -2, 2);
    h->beta1 = lua_tonumber(L, -2);
    h->beta2 = lua_tonumber(L, -1);
    lua_pop(L, 3);
    h->eps = num_field(L, g, "eps", h->op, 1e-8);
    h->amsgrad = bool_field(L, g, "amsgrad");
    break;
  default:
    h->temperature = num_field(L, g, "temperature", h->op, 0);
    lua_getfield(L, g, "rng");
    h->rng = luaL_testudata(L, -1, ENTRO_RNG_MT);
    if (!h->rng) luaL_error(L, "%s: rng must be an entro.Generator, got %s", h->op, luaL_typename(L, -1));
    lua_pop(L, 1);   /* the group table keeps the generator alive */
    break;
  }
}

/* One parameter's update: p at pidx, its state table at sidx, the noise vector at nidx
 * (or none). Returns 1, or 0 when p has no gradient. Raises on error. */
static int update(lua_State *L, int kind, entro_optim_hp *h, int pidx, int sidx, int nidx,
                  int lr_idx, int64_t noise_off, int64_t lr_off) {
  entro_tensor *p = lt_check(L, pidx);
  if (!p->grad) return 0;
  int top = lua_gettop(L);
  h->noise = slice(L, nidx, noise_off, p->numel, h->op, "noise");
  h->lr_v = lr_idx ? slice(L, lr_idx, lr_off, p->numel, h->op, "lr") : NULL;
  int st, fresh = 0;
  switch (kind) {
  case 0: {
    entro_tensor *buf = h->momentum != 0 ? state_buffer(L, sidx, "momentum_buffer", p, 0, &fresh, h->op) : NULL;
    st = entro_optim_sgd(p, p->grad, buf, fresh, h);
    break;
  }
  case 1: case 2: {
    entro_tensor *m = state_buffer(L, sidx, "exp_avg", p, 1, NULL, h->op);
    entro_tensor *v = state_buffer(L, sidx, "exp_avg_sq", p, 1, NULL, h->op);
    entro_tensor *vmax = h->amsgrad ? state_buffer(L, sidx, "max_exp_avg_sq", p, 1, NULL, h->op) : NULL;
    lua_getfield(L, sidx, "step");
    lua_Integer step = lua_isinteger(L, -1) ? lua_tointeger(L, -1) + 1 : 1;
    st = entro_optim_adam(p, p->grad, m, v, vmax, step, h);
    if (!st) { lua_pushinteger(L, step); lua_setfield(L, sidx, "step"); }
    break;
  }
  default:
    st = entro_optim_langevin(p, p->grad, h);
    break;
  }
  if (st) {
    if (fresh) { lua_pushnil(L); lua_setfield(L, sidx, "momentum_buffer"); }   /* never half-made */
    if (lua_getfield(L, pidx, "name") == LUA_TSTRING)
      return luaL_error(L, "%s (parameter '%s')", entro_errmsg(), lua_tostring(L, -1));
    return lt_error(L);
  }
  lua_settop(L, top);
  return 1;
}

/* step(kind, p, group, state [, noise, noise_off] [, lr_off]) -> true, or false when p has
 * no gradient. kind: "sgd", "adam", "adamw" or "langevin"; offsets are 0-based element
 * offsets of p into the noise vector and into a tensor learning rate. */
static int l_step(lua_State *L) {
  int kind = luaL_checkoption(L, 1, NULL, kinds);
  lt_check(L, 2);
  luaL_checktype(L, 3, LUA_TTABLE);
  luaL_checktype(L, 4, LUA_TTABLE);
  int64_t noise_off = luaL_optinteger(L, 6, 0), lr_off = luaL_optinteger(L, 7, 0);
  lua_settop(L, 7);
  entro_optim_hp h;
  int lr_idx;
  read_options(L, kind, 3, &h, &lr_idx);
  lua_pushboolean(L, update(L, kind, &h, 2, 4, 5, lr_idx, noise_off, lr_off));
  return 1;
}

/* step_group(kind, group, states [, noise, noise_off]) -> elements covered: one call per
 * group per step, so the options are read once and the loop over parameters runs in C.
 * states maps each parameter to its state table (created here when missing). */
static int l_step_group(lua_State *L) {
  int kind = luaL_checkoption(L, 1, NULL, kinds);
  luaL_checktype(L, 2, LUA_TTABLE);
  luaL_checktype(L, 3, LUA_TTABLE);
  int64_t noise_off = luaL_optinteger(L, 5, 0);
  lua_settop(L, 5);
  entro_optim_hp h;
  int lr_idx;
  read_options(L, kind, 2, &h, &lr_idx);
  lua_getfield(L, 2, "params");
  int params = lua_gettop(L);
  lua_Integer n = luaL_len(L, params);
  int64_t goff = 0;
  for (lua_Integer i = 1; i <= n; i++) {
    lua_geti(L, params, i);              /* p */
    int pidx = lua_gettop(L);
    lua_pushvalue(L, pidx);
    if (lua_gettable(L, 3) != LUA_TTABLE) {   /* states[p] */
      lua_pop(L, 1);
      lua_newtable(L);
      lua_pushvalue(L, pidx);
      lua_pushvalue(L, -2);
      lua_settable(L, 3);
    }
    int sidx = lua_gettop(L);
    update(L, kind, &h, pidx, sidx, 4, lr_idx, noise_off + goff, goff);
    goff += lt_check(L, pidx)->numel;
    lua_settop(L, params);
  }
  lua_pushinteger(L, goff);
  return 1;
}

static int l_correlated_noise(lua_State *L) {
  entro_tensor *out = lt_check(L, 1), *f = lt_check(L, 2), *z = lt_check(L, 3);
  entro_rng *g = luaL_checkudata(L, 4, ENTRO_RNG_MT);
  if (entro_optim_correlated_noise(out, f, z, g)) return lt_error(L);
  return 0;
}

/* zero_group(params [, to_none]): fills every gradient with 0 in place (or drops them) */
static int l_zero_group(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  int none = lua_toboolean(L, 2);
  lua_Integer n = luaL_len(L, 1);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_geti(L, 1, i);
    entro_tensor *p = lt_check(L, -1);
    if (p->grad && none) { entro_tensor_release(p->grad); p->grad = NULL; }
    else if (p->grad && entro_tensor_fill(p->grad, 0)) return lt_error(L);
    lua_pop(L, 1);
  }
  return 0;
}

static const luaL_Reg fns[] = {
  {"step_group", l_step_group}, {"zero_group", l_zero_group},
  {"step", l_step}, {"correlated_noise", l_correlated_noise}, {NULL, NULL}
};

int luaopen_entro_optim_kernels(lua_State *L) {
  luaL_newlib(L, fns);
  return 1;
}
