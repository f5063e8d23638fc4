/* check.h -- a tiny test harness for the engine's C tests (no Lua). */
#ifndef CHECK_H
#define CHECK_H
#include <math.h>
#include <stdio.h>

static int check_passed, check_failed;
static const char *check_current;

#define CHECK(cond) do { \
  if (cond) check_passed++; \
  else { check_failed++; printf("FAIL %s: %s:%d: %s\n", check_current, __FILE__, __LINE__, #cond); } \
} while (0)

#define CHECK_NEAR(a, b, tol) do { \
  double a_ = (a), b_ = (b); \
  if (fabs(a_ - b_) <= (tol) * (1 + fabs(b_))) check_passed++; \
  else { check_failed++; printf("FAIL %s: %s:%d: %s = %.17g, expected %.17g\n", check_current, __FILE__, __LINE__, #a, a_, b_); } \
} while (0)

#define TEST(name) static void name(void)
#define RUN(name) do { check_current = #name; name(); } while (0)

static int check_summary(void) {
  printf("%d passed, %d failed\n", check_passed, check_failed);
  return check_failed ? 1 : 0;
}

#endif
