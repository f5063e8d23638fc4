/* lautograd.c -- Lua glue for autograd: requires_grad, backward, x.grad and friends,
 * tensor.grad (functional gradients), no_grad, and the fused layer and loss ops. */
#include <string.h>
#include "lentro.h"
#include "../core/autograd.h"
#include "../core/grad_ops.h"
#include "../core/nn_ops.h"
#include "../core/ops.h"

/* x:requires_grad([flag]) -> x. Only leaves (tensors not computed by a recorded op). */
static int m_requires_grad(lua_State *L) {
  entro_tensor *t = lt_check(L, 1);
  int flag = lua_isnoneornil(L, 2) ? 1 : lua_toboolean(L, 2);
  if (t->grad_fn)
    return luaL_error(L, "requires_grad: the tensor was computed by %s, so it is not a leaf; "
                      "call it on the parameters (or use x:detach())", t->grad_fn->name);
  if (flag) t->flags |= ENTRO_REQUIRES_GRAD;
  else t->flags &= ~(unsigned)ENTRO_REQUIRES_GRAD;
  lua_settop(L, 1);
  return 1;
}

/* x:backward([grad] [, {retain_graph = bool}]) */
static int m_backward(lua_State *L) {
  entro_tensor *t = lt_check(L, 1);
  entro_tensor *g = lt_test(L, 2);
  int opts = lua_istable(L, 2) && !g ? 2 : lua_istable(L, 3) ? 3 : 0;
  if (!g && !lua_isnoneornil(L, 2) && !opts)
    return luaL_error(L, "backward: the gradient must be a tensor, got %s", luaL_typename(L, 2));
  int retain = 0;
  if (opts) {
    lua_getfield(L, opts, "retain_graph");
    retain = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  if (entro_backward(t, g, retain, 0, 0, NULL, NULL)) return lt_error(L);
  return 0;
}

static int m_detach(lua_State *L) {
  entro_tensor *t = lt_check(L, 1);
  lt_push(L, entro_tensor_view_of(t));   /* a fresh header: no grad_fn, no flag */
  return 1;
}

/* x:zero_grad(): zeros x.grad in place, keeping its storage for the next step */
static int m_zero_grad(lua_State *L) {
  entro_tensor *t = lt_check(L, 1);
  if (t->grad && entro_tensor_fill(t->grad, 0)) return lt_error(L);
  lua_settop(L, 1);
  return 1;
}

/* ---- fields ---- */

static int f_grad(lua_State *L) {
  entro_tensor *t = lt_check(L, 1);
  if (!t->grad) { lua_pushnil(L); return 1; }
  entro_tensor_retain(t->grad);
  lt_push(L, t->grad);
  return 1;
}

static int set_grad(lua_State *L) {
  entro_tensor *t = lt_check(L, 1);
  entro_tensor *g = lua_isnil(L, 2) ? NULL : lt_test(L, 2);
  if (!g && !lua_isnil(L, 2))
    return luaL_error(L, "grad: must be a tensor or nil, got %s", luaL_typename(L, 2));
  if (g && !entro_tensor_same_shape(g, t)) {
    char a[200], b[200];
    return luaL_error(L, "grad: gradient of shape %s for a tensor of shape %s",
                      entro_tensor_shape_str(a, g), entro_tensor_shape_str(b, t));
  }
  /* kept as given (backward accumulates into it), unless it is an expanded view that
   * could not be accumulated into: then a private copy */
  if (g && !entro_tensor_is_writable(g)) {
    if (!(g = entro_tensor_clone(g))) return lt_error(L);
  } else if (g) {
    entro_tensor_retain(g);
  }
  entro_tensor_release(t->grad);
  t->grad = g;
  return 0;
}

static int f_grad_fn(lua_State *L) {
  entro_tensor *t = lt_check(L, 1);
  if (t->grad_fn) lua_pushstring(L, t->grad_fn->name); else lua_pushnil(L);
  return 1;
}

static int f_is_leaf(lua_State *L) {
  lua_pushboolean(L, lt_check(L, 1)->grad_fn == NULL);
  return 1;
}

static int f_needs_grad(lua_State *L) {
  lua_pushboolean(L, entro_requires_grad(lt_check(L, 1)));
  return 1;
}

/* ---- grad mode ---- */

/* Runs f(...) with grad mode set to `mode`, restoring it even when f raises. */
static int with_mode(lua_State *L, int mode) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  int saved = entro_grad_mode;
  entro_grad_mode = mode;
  int status = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
  entro_grad_mode = saved;
  if (status != LUA_OK) return lua_error(L);
  return lua_gettop(L);
}
static int l_no_grad(lua_State *L) { return with_mode(L, 0); }
static int l_enable_grad(lua_State *L) { return with_mode(L, 1); }

static int l_is_grad_enabled(lua_State *L) {
  lua_pushboolean(L, entro_grad_mode);
  return 1;
}

static int l_set_grad_enabled(lua_State *L) {
  entro_grad_mode = lua_toboolean(L, 1);
  return 0;
}

/* A list argument's length, bounded so the arrays sized from it stay small. */
static int list_len(lua_State *L, int idx, const char *what) {
  lua_Integer n = luaL_len(L, idx);
  if (n > 100000) return luaL_error(L, "grad: too many %s (%I)", what, n);
  return (int)n;
}

/* tensor.grad(f, params [, {retain_graph, create_graph, grad_outputs}]) -> {g1, g2, ...}, loss
 * tensor.grad({y1, y2, ...}, params, {grad_outputs = {v1, v2, ...}, ...}) -> {g1, g2, ...}
 * create_graph records the backward pass, so the gradients can be differentiated again
 * (exact Hessian-vector products).
 * f is a function returning a tensor (called with grad mode on), or such a tensor; a list
 * of outputs gives the gradients of sum_i <y_i, v_i> in one backward pass (as
 * torch.autograd.grad(outputs, inputs, grad_outputs)). grad_outputs (a tensor, or a list
 * for a list of outputs) may be left out for one-element outputs.
 * The .grad of the parameters is not touched. */
static int l_grad(lua_State *L) {
  luaL_checktype(L, 2, LUA_TTABLE);
  int retain = 0, create = 0;
  lua_settop(L, 3);
  if (!lua_isnil(L, 3) && !lua_istable(L, 3))
    return luaL_error(L, "grad: options must be a table, got %s", luaL_typename(L, 3));
  if (lua_istable(L, 3)) {
    lua_pushnil(L);
    while (lua_next(L, 3)) {   /* a misspelt option would silently change the result */
      const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
      if (!k || (strcmp(k, "retain_graph") && strcmp(k, "create_graph") && strcmp(k, "grad_outputs")))
        return luaL_error(L, "grad: unknown option '%s' (retain_graph, create_graph, grad_outputs)",
                          luaL_tolstring(L, -2, NULL));
      lua_pop(L, 1);
    }
    lua_getfield(L, 3, "retain_graph");
    retain = lua_toboolean(L, -1);
    lua_getfield(L, 3, "create_graph");
    create = lua_toboolean(L, -1);
    lua_pop(L, 2);
    lua_getfield(L, 3, "grad_outputs");
  } else {
    lua_pushnil(L);
  }
  int igo = lua_gettop(L);   /* grad_outputs, or nil */
  int many = lua_istable(L, 1) && !lt_test(L, 1);
  if (lua_isfunction(L, 1)) {
    int saved = entro_grad_mode;
    entro_grad_mode = 1;
    lua_pushvalue(L, 1);
    int status = lua_pcall(L, 0, 1, 0);
    entro_grad_mode = saved;
    if (status != LUA_OK) return lua_error(L);
  } else {
    lua_pushvalue(L, 1);
  }
  int iloss = lua_gettop(L);
  int m = many ? list_len(L, iloss, "outputs") : 1;
  if (many && m == 0) return luaL_error(L, "grad: the list of outputs is empty");
  if (!lua_isnil(L, igo) && !(many ? lua_istable(L, igo) && !lt_test(L, igo) : lt_test(L, igo) != NULL))
    return luaL_error(L, "grad: grad_outputs must be %s, got %s",
                      many ? "a list of tensors, one per output" : "a tensor", luaL_typename(L, igo));
  if (many && !lua_isnil(L, igo) && list_len(L, igo, "grad_outputs") != m)
    return luaL_error(L, "grad: %d outputs but %d grad_outputs", m, list_len(L, igo, "grad_outputs"));
  int n = list_len(L, 2, "parameters");
  /* the arrays live in one userdata, so an error cannot leak them */
  entro_tensor **cap = lua_newuserdatauv(L, (2 * (size_t)n + 2 * (size_t)m + 1) * sizeof *cap, 0);
  entro_tensor **out = cap + n, **roots = out + n, **gos = roots + m;
  for (int i = 0; i < m; i++) {
    if (many) lua_geti(L, iloss, i + 1); else lua_pushvalue(L, iloss);
    roots[i] = lt_test(L, -1);
    if (!roots[i]) {
      if (many) return luaL_error(L, "grad: outputs[%d] is a %s, expected a tensor", i + 1, luaL_typename(L, -1));
      return luaL_error(L, "grad: f must return a tensor (a scalar loss), got %s", luaL_typename(L, -1));
    }
    gos[i] = NULL;
    if (!lua_isnil(L, igo)) {
      if (many) lua_geti(L, igo, i + 1); else lua_pushvalue(L, igo);
      gos[i] = lt_test(L, -1);
      if (!gos[i]) return luaL_error(L, "grad: grad_outputs[%d] is a %s, expected a tensor", i + 1, luaL_typename(L, -1));
      lua_pop(L, 1);
    }
    lua_pop(L, 1);   /* kept alive by the outputs list */
  }
  for (int i = 0; i < n; i++) {
    lua_geti(L, 2, i + 1);
    cap[i] = lt_test(L, -1);
    if (!cap[i]) return luaL_error(L, "grad: params[%d] is a %s, expected a tensor", i + 1, luaL_typename(L, -1));
    if (!entro_requires_grad(cap[i]) || cap[i]->grad_fn)
      return luaL_error(L, "grad: params[%d] is not a leaf that requires grad", i + 1);
    lua_pop(L, 1);   /* kept alive by the params table */
  }
  int st = many ? entro_backward_many(m, roots, (const entro_tensor *const *)gos, retain, create, n, cap, out)
                : entro_backward(roots[0], gos[0], retain, create, n, cap, out);
  if (st) return lt_error(L);
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    entro_tensor *g = out[i];
    out[i] = NULL;
    lt_push(L, g);
    lua_rawseti(L, -2, i + 1);
  }
  if (many) return 1;
  lua_pushvalue(L, iloss);
  return 2;
}

/* ---- fused layers and losses ---- */

static int reduction_opt(lua_State *L, int idx, const char *op) {
  if (!lua_istable(L, idx)) return ENTRO_MEAN;
  lua_getfield(L, idx, "reduction");
  const char *r = lua_tostring(L, -1);
  int red = !r || !strcmp(r, "mean") ? ENTRO_MEAN : !strcmp(r, "sum") ? ENTRO_SUM
          : !strcmp(r, "none") ? ENTRO_NONE : -1;
  if (red < 0) return luaL_error(L, "%s: reduction must be \"mean\", \"sum\" or \"none\", got \"%s\"", op, r);
  lua_pop(L, 1);
  return red;
}

/* tensor.linear(x, W [, b [, module]]): with a module, a failure is worded by
 * module:input_error(x, message), which names the module's path; the checks themselves
 * happen here, once, in C. */
static int l_linear(lua_State *L) {
  entro_tensor *x = lt_test(L, 1), *w = lt_check(L, 2), *b = lt_opt(L, 3);
  entro_tensor *y = x ? entro_f_linear(x, w, b) : NULL;
  if (!y && lua_istable(L, 4) && lua_getfield(L, 4, "input_error") == LUA_TFUNCTION) {
    lua_pushvalue(L, 4);
    lua_pushvalue(L, 1);
    lua_pushstring(L, x ? entro_errmsg() : "not a tensor");
    lua_call(L, 3, 0);   /* raises */
  }
  if (!x) lt_check(L, 1);   /* the usual type error */
  lt_push(L, y);
  return 1;
}

static int softmaxish(lua_State *L, int logp) {
  entro_tensor *x = lt_check(L, 1);
  int d = x->ndim ? lt_optdim(L, 2, x->ndim, logp ? "log_softmax" : "softmax", x->ndim - 1) : 0;
  lt_push(L, logp ? entro_f_log_softmax(x, d) : entro_f_softmax(x, d));
  return 1;
}
static int l_softmax(lua_State *L) { return softmaxish(L, 0); }
static int l_log_softmax(lua_State *L) { return softmaxish(L, 1); }

static int classloss(lua_State *L, int ce) {
  const char *op = ce ? "cross_entropy" : "nll";
  entro_tensor *x = lt_check(L, 1);
  int red = reduction_opt(L, 3, op);
  entro_tensor *labels = lt_indices0(L, 2, op);
  entro_tensor *r = ce ? entro_f_cross_entropy(x, labels, red) : entro_f_nll(x, labels, red);
  entro_tensor_release(labels);
  lt_push(L, r);
  return 1;
}
static int l_cross_entropy(lua_State *L) { return classloss(L, 1); }
static int l_nll(lua_State *L) { return classloss(L, 0); }

static int regressloss(lua_State *L, int bce) {
  const char *op = bce ? "bce_with_logits" : "mse";
  entro_tensor *a = lt_check(L, 1);
  int red = reduction_opt(L, 3, op);   /* may raise: before b is allocated */
  int owned;
  entro_tensor *b = lt_tensor_or_number(L, 2, &owned);
  entro_tensor *be = b;
  if (owned) {   /* a number target: expand it to the prediction's shape */
    be = entro_tensor_expand(b, a->ndim, a->shape);
    entro_tensor_release(b);
    if (!be) return lt_error(L);
  }
  entro_tensor *r = bce ? entro_f_bce_with_logits(a, be, red) : entro_f_mse(a, be, red);
  if (owned) entro_tensor_release(be);
  lt_push(L, r);
  return 1;
}
static int l_mse(lua_State *L) { return regressloss(L, 0); }
static int l_bce_with_logits(lua_State *L) { return regressloss(L, 1); }

/* tensor.layer_norm(x [, w [, b]] [, eps]) over the last dimension */
static int l_layer_norm(lua_State *L) {
  entro_tensor *x = lt_check(L, 1), *w = lt_test(L, 2), *b = lt_test(L, 3);
  double eps = 1e-5;
  for (int i = 2; i <= 4; i++) if (lua_type(L, i) == LUA_TNUMBER) eps = lua_tonumber(L, i);
  lt_push(L, entro_f_layer_norm(x, w, b, eps));
  return 1;
}

static const luaL_Reg methods[] = {
  {"requires_grad", m_requires_grad}, {"backward", m_backward}, {"detach", m_detach},
  {"zero_grad", m_zero_grad}, {"softmax", l_softmax}, {"log_softmax", l_log_softmax},
  {NULL, NULL}
};

static const luaL_Reg module_fns[] = {
  {"no_grad", l_no_grad}, {"enable_grad", l_enable_grad}, {"is_grad_enabled", l_is_grad_enabled},
  {"set_grad_enabled", l_set_grad_enabled}, {"grad", l_grad}, {"linear", l_linear},
  {"softmax", l_softmax}, {"log_softmax", l_log_softmax}, {"cross_entropy", l_cross_entropy},
  {"nll", l_nll}, {"mse", l_mse}, {"bce_with_logits", l_bce_with_logits},
  {"layer_norm", l_layer_norm}, {"detach", m_detach}, {"backward", m_backward},
  {NULL, NULL}
};

void lt_open_autograd(lua_State *L, int meth, int mod) {
  lua_pushvalue(L, meth);
  luaL_setfuncs(L, methods, 0);
  lua_pop(L, 1);
  lua_pushvalue(L, mod);
  luaL_setfuncs(L, module_fns, 0);
  lua_pop(L, 1);
  luaL_getmetatable(L, ENTRO_TENSOR_MT);
  lua_getfield(L, -1, "__fields");
  lua_pushcfunction(L, f_grad); lua_setfield(L, -2, "grad");
  lua_pushcfunction(L, f_grad_fn); lua_setfield(L, -2, "grad_fn");
  lua_pushcfunction(L, f_is_leaf); lua_setfield(L, -2, "is_leaf");
  lua_pushcfunction(L, f_needs_grad); lua_setfield(L, -2, "needs_grad");
  lua_pop(L, 1);
  lua_getfield(L, -1, "__setters");
  lua_pushcfunction(L, set_grad); lua_setfield(L, -2, "grad");
  lua_pop(L, 2);
}
