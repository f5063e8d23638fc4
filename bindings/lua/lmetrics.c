/* lmetrics.c -- entro.metrics_c: the C half of the representation metrics, whose public face
 * is stdlib/entro/represent.lua (re-exported by diag). Options are read and checked there;
 * these functions take plain positional arguments, call core/metrics.h and return numbers. */
#include "lentro.h"
#include "../core/metrics.h"

static int push_result(lua_State *L, int status, double r) {
  if (status) return lt_error(L);
  lua_pushnumber(L, r);
  return 1;
}

static int opt_flag(lua_State *L, int idx, int def) {
  return lua_isnoneornil(L, idx) ? def : lua_toboolean(L, idx);
}

/* linear_cka(X, Y [, center = true [, unbiased = false [, method = "auto" [, op]]]]) */
static int l_linear_cka(lua_State *L) {
  static const char *const methods[] = {"auto", "feature", "gram", NULL};
  static const int codes[] = {ENTRO_CKA_AUTO, ENTRO_CKA_FEATURE, ENTRO_CKA_GRAM};
  entro_tensor *x = lt_check(L, 1), *y = lt_check(L, 2);
  int center = opt_flag(L, 3, 1), unbiased = opt_flag(L, 4, 0);
  int method = codes[luaL_checkoption(L, 5, "auto", methods)];
  const char *op = luaL_optstring(L, 6, "cka");
  double r;
  int st = entro_metrics_linear_cka(op, x, y, center, unbiased, method, &r);
  return push_result(L, st, r);
}

/* rbf_cka(X, Y, sigma_x, sigma_y [, unbiased = false [, op]]) */
static int l_rbf_cka(lua_State *L) {
  entro_tensor *x = lt_check(L, 1), *y = lt_check(L, 2);
  double sx = luaL_checknumber(L, 3), sy = luaL_checknumber(L, 4);
  int unbiased = opt_flag(L, 5, 0);
  const char *op = luaL_optstring(L, 6, "cka");
  double r;
  int st = entro_metrics_rbf_cka(op, x, y, sx, sy, unbiased, &r);
  return push_result(L, st, r);
}

/* median_distance(X [, op [, what]]) */
static int l_median_distance(lua_State *L) {
  entro_tensor *x = lt_check(L, 1);
  const char *op = luaL_optstring(L, 2, "median_distance"), *what = luaL_optstring(L, 3, "X");
  double r;
  int st = entro_metrics_median_distance(op, what, x, &r);
  return push_result(L, st, r);
}

/* knn(X, k [, normalize = true [, op]]) -> n x k tensor of 1-based row indices */
static int l_knn(lua_State *L) {
  entro_tensor *x = lt_check(L, 1), *idx;
  const char *op = luaL_optstring(L, 4, "knn");
  int64_t k = lt_int(L, 2, op, "k");
  if (entro_metrics_knn(op, x, k, opt_flag(L, 3, 1), &idx)) return lt_error(L);
  for (int64_t i = 0; i < idx->numel; i++) entro_data(idx)[i] += 1;   /* to 1-based */
  lt_push(L, idx);
  return 1;
}

/* mutual_knn(X, Y, k) */
static int l_mutual_knn(lua_State *L) {
  entro_tensor *x = lt_check(L, 1), *y = lt_check(L, 2);
  int64_t k = lt_int(L, 3, "mutual_knn", "k");
  double r;
  int st = entro_metrics_mutual_knn(x, y, k, &r);
  return push_result(L, st, r);
}

/* cknna(X, Y, k [, normalize = true]) */
static int l_cknna(lua_State *L) {
  entro_tensor *x = lt_check(L, 1), *y = lt_check(L, 2);
  int64_t k = lt_int(L, 3, "cknna", "k");
  double r;
  int st = entro_metrics_cknna(x, y, k, opt_flag(L, 4, 1), &r);
  return push_result(L, st, r);
}

/* svcca(X, Y, dims_x, dims_y [, var = 0]) -> score, rho, dims_x, dims_y; with var > 0 the
 * dims come from the variance fraction and dims_x, dims_y are ignored. */
static int l_svcca(lua_State *L) {
  entro_tensor *x = lt_check(L, 1), *y = lt_check(L, 2), *rho;
  int64_t dx = lt_int(L, 3, "svcca", "dims"), dy = lt_int(L, 4, "svcca", "dims");
  double var = luaL_optnumber(L, 5, 0), r;
  int64_t ux, uy;
  if (entro_metrics_svcca(x, y, dx, dy, var, &r, &rho, &ux, &uy)) return lt_error(L);
  lua_pushnumber(L, r);
  lt_push(L, rho);
  lua_pushinteger(L, (lua_Integer)ux);
  lua_pushinteger(L, (lua_Integer)uy);
  return 4;
}

/* procrustes(X, Y) */
static int l_procrustes(lua_State *L) {
  entro_tensor *x = lt_check(L, 1), *y = lt_check(L, 2);
  double r;
  int st = entro_metrics_procrustes(x, y, &r);
  return push_result(L, st, r);
}

static const luaL_Reg fns[] = {
  {"linear_cka", l_linear_cka}, {"rbf_cka", l_rbf_cka}, {"median_distance", l_median_distance},
  {"knn", l_knn}, {"mutual_knn", l_mutual_knn}, {"cknna", l_cknna}, {"svcca", l_svcca},
  {"procrustes", l_procrustes}, {NULL, NULL}
};

int luaopen_entro_metrics_c(lua_State *L) {
  luaL_newlib(L, fns);
  return 1;
}
