/* host.h -- what the entro binary's parts share: running chunks with Ctrl-C handling and
 * tracebacks (main.c) and the interactive loop (repl.c). */
#ifndef ENTRO_HOST_H
#define ENTRO_HOST_H
#include <lua.h>

/* Calls the function below narg arguments on the stack, with a traceback handler and
 * Ctrl-C armed; leaves nres results or an error message. Returns a Lua status. */
int host_docall(lua_State *L, int narg, int nres);
/* Prints the message on top of the stack (if any) to stderr; returns status. */
int host_report(lua_State *L, int status);
/* For signal handlers: true on the main thread; elsewhere passes sig on to it. */
int host_on_main_thread(int sig);
/* Runs the read-eval-print loop until end of input. */
void host_repl(lua_State *L);

#endif
