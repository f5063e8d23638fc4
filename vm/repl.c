/* repl.c -- the interactive prompt: auto-printing, multi-line input, readline history in
 * ~/.entro_history, Tab completion of globals, fields and tensor methods, and Ctrl-C that
 * clears the line at the prompt and stops a running computation otherwise (main.c's
 * host_docall does that part).
 *
 * The loop follows lua.c: try "return <line>" first so expressions print their values,
 * keep reading while the chunk is incomplete (the error ends in "<eof>"). When standard
 * input is not a terminal, lines are read plainly, without prompts, for tests and pipes. */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>
#include <readline/readline.h>
#include <readline/history.h>
#include <lua.h>
#include <lauxlib.h>
#include "host.h"
#include "../bindings/lua/lentro.h"

#define PROMPT "> "
#define PROMPT2 ">> "
#define HISTORY_FILE ".entro_history"
#define HISTORY_MAX 1000
#define CHUNK_EOF (-1)    /* read_chunk: the input ended */
#define CHUNK_NONE (-2)   /* read_chunk: an empty line, or Ctrl-C dropped the chunk */

static lua_State *replL;
static int use_readline;
static volatile sig_atomic_t prompt_interrupted;
static char history_path[4096];

/* ---- input ----
 *
 * Readline's callback interface, so that Ctrl-C can abandon a line: the blocking readline()
 * retries its read after a signal and cannot be left without a longjmp. SIGINT is blocked
 * except inside pselect, so a Ctrl-C is either seen before waiting or ends the wait. */

static void on_sigint(int sig) {
  if (host_on_main_thread(sig)) prompt_interrupted = 1;
}

static char *rl_result;
static int rl_finished;

static void on_line(char *line) {
  rl_result = line;
  rl_finished = 1;
  rl_callback_handler_remove();
}

static char *read_terminal(const char *prompt) {
  sigset_t block, orig, waiting;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigprocmask(SIG_BLOCK, &block, &orig);
  waiting = orig;
  sigdelset(&waiting, SIGINT);
  rl_result = NULL;
  rl_finished = 0;
  rl_callback_handler_install(prompt, on_line);
  while (!rl_finished && !prompt_interrupted) {
    fd_set in;
    FD_ZERO(&in);
    FD_SET(STDIN_FILENO, &in);
    if (pselect(STDIN_FILENO + 1, &in, NULL, NULL, NULL, &waiting) >= 0) {
      rl_callback_read_char();
    } else if (errno != EINTR) {   /* the terminal went away: end of input */
      rl_callback_handler_remove();
      break;
    }
  }
  if (!rl_finished && prompt_interrupted) {   /* Ctrl-C: drop the line and any search */
    rl_free_line_state();
    rl_callback_sigcleanup();
    rl_cleanup_after_signal();
    rl_callback_handler_remove();
  }
  sigprocmask(SIG_SETMASK, &orig, NULL);
  return rl_result;
}

/* Reads one line into a malloc'd string (without the newline); NULL at end of input.
 * *cancelled is set when Ctrl-C abandoned the line. */
static char *read_line(const char *prompt, int *cancelled) {
  *cancelled = 0;
  if (!use_readline) {
    size_t cap = 256, n = 0;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    int c;
    while ((c = getchar()) != EOF && c != '\n') {
      if (n + 1 >= cap) {
        char *nb = realloc(buf, cap *= 2);
        if (!nb) { free(buf); return NULL; }
        buf = nb;
      }
      buf[n++] = (char)c;
    }
    if (c == EOF && n == 0) { free(buf); return NULL; }
    buf[n] = '\0';
    return buf;
  }
  char *line = read_terminal(prompt);   /* a Ctrl-C since the last evaluation counts too */
  if (prompt_interrupted) {
    *cancelled = 1;
    prompt_interrupted = 0;
    fputs("^C\n", stdout);
    fflush(stdout);
    free(line);
    line = strdup("");
  }
  return line;
}

/* ---- completion ---- */

/* Pushes the value named by the dotted/colon path prefix[0..len), or nil. */
static void push_path(lua_State *L, const char *s, size_t len) {
  lua_pushglobaltable(L);
  size_t i = 0;
  while (i < len) {
    size_t j = i;
    while (j < len && s[j] != '.' && s[j] != ':') j++;
    if (!lua_istable(L, -1) && !lua_isuserdata(L, -1)) { lua_pop(L, 1); lua_pushnil(L); return; }
    lua_pushlstring(L, s + i, j - i);
    lua_gettable(L, -2);   /* __index answers too: lazy modules, tensor fields */
    lua_remove(L, -2);
    i = j + 1;
  }
}

static int is_name(const char *k) {
  if (!(*k == '_' || isalpha((unsigned char)*k))) return 0;
  while (*++k) if (!(*k == '_' || isalnum((unsigned char)*k))) return 0;
  return 1;
}

/* Adds the names among the string keys of the table on top (and its __index chain) that
 * start with word; names starting with _ only when word does. */
static void collect(lua_State *L, const char *word, size_t wl, int depth) {
  if (depth > 4) return;
  if (lua_istable(L, -1)) {
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      lua_pop(L, 1);
      if (lua_type(L, -1) == LUA_TSTRING) {
        size_t kl;
        const char *k = lua_tolstring(L, -1, &kl);
        if (kl >= wl && !strncmp(k, word, wl) && is_name(k) && (k[0] != '_' || word[0] == '_')) {
          lua_pushvalue(L, -1);
          lua_pushboolean(L, 1);
          lua_rawset(L, 1);   /* candidates set at stack index 1 of the completion frame */
        }
      }
    }
  }
  if (lua_getmetatable(L, -1)) {
    /* tensors keep their methods in __methods and fields (x.grad) in __fields; other
     * objects their methods in a table __index */
    if (lua_getfield(L, -1, "__methods") == LUA_TTABLE) collect(L, word, wl, depth + 1);
    lua_pop(L, 1);
    if (lua_getfield(L, -1, "__fields") == LUA_TTABLE) collect(L, word, wl, depth + 1);
    lua_pop(L, 1);
    if (lua_getfield(L, -1, "__index") == LUA_TTABLE) collect(L, word, wl, depth + 1);
    lua_pop(L, 2);
  }
}

static char **candidates;
static int ncand, icand;

static char *generator(const char *text, int state) {
  (void)text;
  if (state == 0) icand = 0;
  return icand < ncand ? strdup(candidates[icand++]) : NULL;
}

static int build_candidates(lua_State *L) {
  const char *text = lua_tostring(L, 1);
  lua_settop(L, 0);
  lua_newtable(L);   /* index 1: candidate set */
  size_t tl = strlen(text);
  const char *sep = NULL;
  for (const char *p = text; *p; p++) if (*p == '.' || *p == ':') sep = p;
  size_t plen = sep ? (size_t)(sep - text) : 0;
  const char *word = sep ? sep + 1 : text;
  size_t wl = tl - (sep ? plen + 1 : 0);
  if (sep && plen == 0) { lua_newtable(L); return 1; }   /* after a call or an index */
  if (sep) push_path(L, text, plen);
  else lua_pushglobaltable(L);
  collect(L, word, wl, 0);
  lua_pop(L, 1);
  if (!sep) {   /* keywords too */
    static const char *const kw[] = {"and", "break", "do", "else", "elseif", "end", "false",
      "for", "function", "goto", "if", "in", "local", "nil", "not", "or", "repeat", "return",
      "then", "true", "until", "while", NULL};
    for (int i = 0; kw[i]; i++)
      if (!strncmp(kw[i], word, wl)) { lua_pushstring(L, kw[i]); lua_pushboolean(L, 1); lua_rawset(L, 1); }
  }
  /* sorted list of full completions */
  lua_newtable(L);
  int n = 0;
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    lua_pop(L, 1);
    lua_pushlstring(L, text, sep ? plen + 1 : 0);
    lua_pushvalue(L, -2);
    lua_concat(L, 2);
    lua_rawseti(L, 2, ++n);
  }
  lua_getglobal(L, "table");
  lua_getfield(L, -1, "sort");
  lua_pushvalue(L, 2);
  lua_call(L, 1, 0);
  lua_pop(L, 1);
  return 1;
}

static char **complete(const char *text, int start, int end) {
  (void)start; (void)end;
  rl_attempted_completion_over = 1;   /* never fall back to file names */
  lua_State *L = replL;
  int top = lua_gettop(L);
  lua_pushcfunction(L, build_candidates);
  lua_pushstring(L, text);
  for (int i = 0; i < ncand; i++) free(candidates[i]);
  free(candidates);
  candidates = NULL;
  ncand = 0;
  if (lua_pcall(L, 1, 1, 0) == LUA_OK) {
    int n = (int)luaL_len(L, -1);
    candidates = calloc((size_t)n + 1, sizeof *candidates);
    for (int i = 1; candidates && i <= n; i++) {
      lua_geti(L, -1, i);
      candidates[ncand++] = strdup(lua_tostring(L, -1));
      lua_pop(L, 1);
    }
  }
  lua_settop(L, top);
  if (ncand == 0) return NULL;
  rl_completion_append_character = '\0';
  return rl_completion_matches(text, generator);
}

/* ---- evaluation ---- */

/* Is the load status on top a syntax error at the end of the input (more lines may fix it)? */
static int incomplete(lua_State *L, int status) {
  if (status == LUA_ERRSYNTAX) {
    size_t lmsg;
    const char *msg = lua_tolstring(L, -1, &lmsg);
    return lmsg >= 5 && !strcmp(msg + lmsg - 5, "<eof>");
  }
  return 0;
}

/* Loads the input as an expression ("return " .. line); pushes the chunk or fails. */
static int try_expression(lua_State *L, const char *line) {
  const char *ret = lua_pushfstring(L, "return %s;", line);
  int status = luaL_loadbuffer(L, ret, strlen(ret), "=stdin");
  lua_remove(L, -2);
  if (status != LUA_OK) lua_pop(L, 1);
  return status;
}

static void print_results(lua_State *L, int n) {
  if (n <= 0) return;
  luaL_checkstack(L, LUA_MINSTACK, "too many results to print");
  lua_getglobal(L, "print");
  lua_insert(L, -(n + 1));
  if (lua_pcall(L, n, 0, 0) != LUA_OK)
    fprintf(stderr, "entro: error calling print (%s)\n", lua_tostring(L, -1));
}

/* Adds a chunk to the history, and at once to the file: appended, so that sessions running
 * side by side keep each other's lines, and kept to HISTORY_MAX lines. */
static void remember(const char *chunk) {
  if (!use_readline) return;
  add_history(chunk);
  if (!history_path[0]) return;
  if (append_history(1, history_path) != 0) write_history(history_path);   /* a new file */
  history_truncate_file(history_path, HISTORY_MAX);
}

/* Reads a whole chunk and leaves it loaded on the stack (LUA_OK) or a syntax error message
 * there; or pushes nothing and returns CHUNK_EOF or CHUNK_NONE. */
static int read_chunk(lua_State *L) {
  int cancelled;
  char *line = read_line(PROMPT, &cancelled);
  if (!line) return CHUNK_EOF;
  if (cancelled || !*line) { free(line); return CHUNK_NONE; }
  /* first as an expression, then as statements, reading more while incomplete */
  int status = try_expression(L, line);
  if (status == LUA_OK) {
    remember(line);
    free(line);
    return status;
  }
  lua_pushstring(L, line);
  free(line);
  for (;;) {
    size_t len;
    const char *buf = lua_tolstring(L, -1, &len);
    status = luaL_loadbuffer(L, buf, len, "=stdin");
    if (!incomplete(L, status)) break;
    char *more = read_line(PROMPT2, &cancelled);
    if (!more) break;                                 /* end of input: report the <eof> error */
    lua_pop(L, 1);
    if (cancelled) { free(more); lua_pop(L, 1); return CHUNK_NONE; }
    lua_pushliteral(L, "\n");
    lua_pushstring(L, more);
    free(more);
    lua_concat(L, 3);
  }
  remember(lua_tostring(L, -2));   /* history gets the whole chunk */
  lua_remove(L, -2);
  return status;
}

void host_repl(lua_State *L) {
  struct sigaction sa, old;
  replL = L;
  use_readline = isatty(STDIN_FILENO);
  if (use_readline) {
    printf("entro %s -- the thermodynamics-of-learning laboratory (Lua 5.4). help() for help.\n",
           ENTRO_VERSION);
    rl_readline_name = "entro";
    rl_attempted_completion_function = complete;
    rl_completer_word_break_characters = " \t\n\"\\'`@$><=;|&{(,+-*/%^~#[)]}";
    rl_catch_signals = 0;   /* Ctrl-C is ours: on_sigint, here and between evaluations */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;   /* no SA_RESTART: the wait for input returns EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    const char *home = getenv("HOME");
    if (home && snprintf(history_path, sizeof history_path, "%s/%s", home, HISTORY_FILE) <
                    (int)sizeof history_path) {
      read_history(history_path);
    } else {
      history_path[0] = '\0';
    }
    stifle_history(HISTORY_MAX);
  }
  for (;;) {
    int top = lua_gettop(L);
    int status = read_chunk(L);
    if (status == CHUNK_EOF) break;
    if (status == CHUNK_NONE) continue;
    if (status == LUA_OK) status = host_docall(L, 0, LUA_MULTRET);
    if (status == LUA_OK) print_results(L, lua_gettop(L) - top);
    else host_report(L, status);
    lua_settop(L, top);
    fflush(stdout);
  }
  if (use_readline) {
    fputc('\n', stdout);
    sigaction(SIGINT, &old, NULL);
  }
  fflush(stdout);
}
