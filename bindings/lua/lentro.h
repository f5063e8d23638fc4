/* lentro.h -- shared helpers of the Lua glue: the tensor userdata, argument reading,
 * error raising and 1-based index conversion (done here and nowhere else). */
#ifndef LENTRO_H
#define LENTRO_H

#include <lua.h>
#include <lauxlib.h>
#include "../core/tensor.h"

#define ENTRO_TENSOR_MT "entro.Tensor"
#define ENTRO_RNG_MT "entro.Generator"
#define ENTRO_VERSION "0.1.0"

typedef struct { entro_tensor *t; } lt_box;

/* Raises the engine's last error as a Lua error (clearing a pending interrupt). */
int lt_error(lua_State *L);
/* Pushes t as a Lua tensor, taking over the reference; raises the engine error if t is NULL. */
void lt_push(lua_State *L, entro_tensor *t);
entro_tensor *lt_check(lua_State *L, int idx);
entro_tensor *lt_opt(lua_State *L, int idx);      /* NULL for nil / none */
entro_tensor *lt_test(lua_State *L, int idx);     /* NULL when not a tensor */
/* A tensor or a number at idx; numbers become a new 0-dim tensor (caller releases). */
entro_tensor *lt_tensor_or_number(lua_State *L, int idx, int *owned);

/* Reads a shape given as varargs of integers from idx on, or one table at idx. */
int lt_read_shape(lua_State *L, int idx, int64_t *shape, const char *op);
/* Converts a 1-based (or negative, from the end) dimension argument to 0-based. */
int lt_dim(lua_State *L, int idx, int ndim, const char *op);
int lt_optdim(lua_State *L, int idx, int ndim, const char *op, int def);
/* Converts a 1-based (or negative) index into a dimension of size n to 0-based. */
int64_t lt_index(lua_State *L, int idx, int64_t n, const char *op);
/* Converts an integer-valued Lua number, naming op on failure. */
int64_t lt_int(lua_State *L, int idx, const char *op, const char *what);
/* Reads an optional `out` tensor from a trailing table {out = t} or a tensor argument. */
entro_tensor *lt_out(lua_State *L, int idx);

/* 1-based indices (a Lua array or a tensor) as a new tensor of 0-based doubles: the one
 * place where index tensors change base. */
entro_tensor *lt_indices0(lua_State *L, int idx, const char *op);

/* Refuses an out= or in-place write that autograd would not record but a gradient needs. */
void lt_check_unrecorded(lua_State *L, const char *op, entro_tensor *out, entro_tensor *a,
                         entro_tensor *b);

/* Tells Lua's collector about storage bytes the engine just took from malloc. */
void lt_account(lua_State *L);

int luaopen_entro_tensor(lua_State *L);
int luaopen_entro(lua_State *L);
void lt_open_ops(lua_State *L, int methods, int module);
void lt_open_rng(lua_State *L, int module);
void lt_open_format(lua_State *L, int methods, int module);
void lt_open_linalg(lua_State *L, int module);   /* tensor.linalg */
void lt_open_io(lua_State *L, int module);       /* tensor.save / tensor.load */
void lt_open_autograd(lua_State *L, int methods, int module);
int luaopen_entro_optim_kernels(lua_State *L);   /* entro.optim_kernels, for optim.lua */
int luaopen_entro_data_c(lua_State *L);   /* entro.data_c, the C half of entro.data */
int luaopen_entro_metrics_c(lua_State *L);   /* entro.metrics_c, for represent.lua */

#endif
