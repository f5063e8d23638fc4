/* main.c -- the entro binary: argument parsing, the script runner and Ctrl-C.
 *
 *   entro [options] [script [args]]
 *
 * Modelled on lua.c: arguments reach the script in `arg`, errors print with a traceback,
 * Ctrl-C interrupts Lua code through a hook and long C kernels through a flag. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include "host.h"
#include "../bindings/lua/lentro.h"
#include "../bindings/core/interrupt.h"

static lua_State *globalL;
static const char *progname = "entro";

static const char usage[] =
  "usage: entro [options] [script [args]]\n"
  "  script      run a Lua script (- for standard input); its arguments are in `arg`\n"
  "  -e code     run the string code\n"
  "  -i          enter the interactive prompt after running script or -e\n"
  "  --seed N    seed the default random generator (also ENTRO_SEED; default 0)\n"
  "  --quiet     no progress bars (also ENTRO_QUIET=1)\n"
  "  --version   print the version and exit\n"
  "  --help      print this help and exit\n"
  "With no script and no -e, entro starts the interactive prompt (or, when standard\n"
  "input is not a terminal, runs it as a script).\n";

/* ---- Ctrl-C: as lua.c, the handler only sets a hook (and a flag for C kernels) ---- */

static void lstop(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  entro_interrupted = 0;
  luaL_error(L, "interrupted!");
}

static pthread_t main_thread;

/* The kernel hands a process signal to any thread that does not block it, OpenBLAS's
 * workers included; the handlers pass it on to the main thread, whose waits it must end. */
int host_on_main_thread(int sig) {
  if (pthread_equal(pthread_self(), main_thread)) return 1;
  pthread_kill(main_thread, sig);
  return 0;
}

static void laction(int sig) {
  int flag = LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT;
  if (!host_on_main_thread(sig)) return;
  signal(sig, SIG_DFL);   /* a second Ctrl-C while this one is pending kills the process */
  entro_interrupted = 1;
  lua_sethook(globalL, lstop, flag, 1);
}

static int msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

int host_docall(lua_State *L, int narg, int nres) {
  int base = lua_gettop(L) - narg;
  lua_pushcfunction(L, msghandler);
  lua_insert(L, base);
  globalL = L;
  entro_interrupted = 0;
  /* no SA_RESTART, so Ctrl-C also ends a blocking read (io.read) */
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = laction;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old);
  int status = lua_pcall(L, narg, nres, base);
  sigaction(SIGINT, &old, NULL);   /* the REPL's handler, or the default */
  if (lua_gethook(L) == lstop) lua_sethook(L, NULL, 0, 0);   /* a Ctrl-C too late to act */
  entro_interrupted = 0;
  lua_remove(L, base);
  return status;
}

int host_report(lua_State *L, int status) {
  if (status != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    fflush(stdout);   /* what the chunk printed comes first */
    fprintf(stderr, "%s: %s\n", progname, msg ? msg : "(error object is not a string)");
    fflush(stderr);
    lua_pop(L, 1);
  }
  return status;
}

/* ---- arguments ---- */

typedef struct {
  int script;          /* index in argv of the script, or 0 */
  int interactive;
  int version;
  const char *exec[64];
  int nexec;
} options;

static int is_integer(const char *s) {
  char *end;
  errno = 0;
  strtoll(s, &end, 10);
  return end != s && *end == '\0' && errno == 0;
}

static int parse(int argc, char **argv, options *o) {
  memset(o, 0, sizeof *o);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-e")) {
      if (++i >= argc) { fprintf(stderr, "entro: -e needs an argument\n%s", usage); return -1; }
      if (o->nexec == 64) { fprintf(stderr, "entro: too many -e options\n"); return -1; }
      o->exec[o->nexec++] = argv[i];
    } else if (!strcmp(a, "-i")) {
      o->interactive = 1;
    } else if (!strcmp(a, "--seed")) {
      if (++i >= argc) { fprintf(stderr, "entro: --seed needs a number\n%s", usage); return -1; }
      if (!is_integer(argv[i])) { fprintf(stderr, "entro: --seed needs an integer, got '%s'\n", argv[i]); return -1; }
      setenv("ENTRO_SEED", argv[i], 1);
    } else if (!strncmp(a, "--seed=", 7)) {
      if (!is_integer(a + 7)) { fprintf(stderr, "entro: --seed needs an integer, got '%s'\n", a + 7); return -1; }
      setenv("ENTRO_SEED", a + 7, 1);
    } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
      setenv("ENTRO_QUIET", "1", 1);
    } else if (!strcmp(a, "--version") || !strcmp(a, "-v")) {
      o->version = 1;
    } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(usage, stdout);
      exit(EXIT_SUCCESS);
    } else if (!strcmp(a, "--")) {
      if (i + 1 < argc) o->script = i + 1;
      break;
    } else if (a[0] == '-' && a[1] != '\0') {
      fprintf(stderr, "entro: unknown option '%s'\n%s", a, usage);
      return -1;
    } else {
      o->script = i;
      break;
    }
  }
  return 0;
}

/* arg = {[0] = script, ...}, as lua.c builds it */
static void create_arg_table(lua_State *L, char **argv, int argc, int script) {
  int narg = argc - (script + 1);
  lua_createtable(L, narg, script + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

/* Opens the libraries and binds entro's modules to globals. */
static int open_all(lua_State *L) {
  /* Tensors are many and short-lived: the generational collector keeps up with them at a
   * fraction of the incremental collector's cost. */
  lua_gc(L, LUA_GCGEN, 0, 0);
  luaL_openlibs(L);
  luaL_requiref(L, "entro", luaopen_entro, 1);
  lua_getfield(L, -1, "tensor");
  lua_setglobal(L, "tensor");
  static const char *const globals[] = {"nn", "optim", "diag", "plot", "data", NULL};
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  for (int i = 0; globals[i]; i++) {
    lua_pushfstring(L, "entro.%s", globals[i]);
    if (lua_getfield(L, -2, lua_tostring(L, -1)) == LUA_TNIL) { lua_pop(L, 2); continue; }
    lua_pop(L, 1);
    lua_getglobal(L, "require");
    lua_insert(L, -2);
    lua_call(L, 1, 1);
    lua_setglobal(L, globals[i]);
  }
  lua_pop(L, 2);
  /* help(), from the stdlib */
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  if (lua_getfield(L, -1, "entro.help") != LUA_TNIL) {
    lua_pop(L, 1);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "entro.help");
    lua_call(L, 1, 1);
    lua_setglobal(L, "help");
  } else {
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return 0;
}

static int run_chunk(lua_State *L, int status) {
  if (status == LUA_OK) status = host_docall(L, 0, 0);
  return host_report(L, status);
}

static int run_script(lua_State *L, char **argv, int argc, int script) {
  const char *fname = argv[script];
  if (!strcmp(fname, "-") && strcmp(argv[script - 1], "--")) fname = NULL;   /* stdin */
  int status = luaL_loadfile(L, fname);
  if (status != LUA_OK) return host_report(L, status);
  int n = argc - script - 1;
  luaL_checkstack(L, n + 3, "too many arguments to script");
  for (int i = script + 1; i < argc; i++) lua_pushstring(L, argv[i]);
  status = host_docall(L, n, 0);
  return host_report(L, status);
}

typedef struct { int argc; char **argv; options *o; int status; } pmain_args;

static int pmain(lua_State *L) {
  pmain_args *a = lua_touserdata(L, 1);
  options *o = a->o;
  open_all(L);
  create_arg_table(L, a->argv, a->argc, o->script ? o->script : 0);
  a->status = 1;
  for (int i = 0; i < o->nexec; i++) {
    if (run_chunk(L, luaL_loadbuffer(L, o->exec[i], strlen(o->exec[i]), "=(command line)")) != LUA_OK)
      return 0;
  }
  if (o->script) {
    if (run_script(L, a->argv, a->argc, o->script) != LUA_OK) return 0;
  }
  if (o->interactive) {
    host_repl(L);
  } else if (!o->script && o->nexec == 0) {
    if (isatty(STDIN_FILENO)) {
      host_repl(L);
    } else if (run_chunk(L, luaL_loadfile(L, NULL)) != LUA_OK) {
      return 0;
    }
  }
  a->status = 0;
  return 0;
}

int main(int argc, char **argv) {
  options o;
  main_thread = pthread_self();
  if (parse(argc, argv, &o) < 0) return EXIT_FAILURE;
  if (o.version) {
    printf("entro %s (%s)\n", ENTRO_VERSION, LUA_RELEASE);
    if (!o.script && !o.nexec && !o.interactive) return EXIT_SUCCESS;
  }
  lua_State *L = luaL_newstate();
  if (!L) { fprintf(stderr, "entro: cannot create the Lua state: not enough memory\n"); return EXIT_FAILURE; }
  pmain_args a = {argc, argv, &o, 1};
  lua_pushcfunction(L, pmain);
  lua_pushlightuserdata(L, &a);
  int status = lua_pcall(L, 1, 0, 0);
  if (status != LUA_OK) host_report(L, status);
  lua_close(L);
  return (status == LUA_OK && a.status == 0) ? EXIT_SUCCESS : EXIT_FAILURE;
}
