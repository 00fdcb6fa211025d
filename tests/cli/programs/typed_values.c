/* Values of many C types written one after the other, for typed output (run_typed_values_test.sh):
   hwbp prints them as GDB's `watch` prints Old/New values, and names the member of a struct or
   array watch that a hit wrote. All writes happen after main starts (GDB arms there). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

enum color { RED, GREEN, BLUE };
enum perm { P_READ = 1, P_WRITE = 2, P_EXEC = 4 };

struct config {
  int retries;
  long timeout;
  char name[8];
  enum color color;
  double ratio;
  unsigned mode : 3;
  unsigned level : 5;
};

int v_int = 3;
unsigned v_unsigned = 7;
long long v_long = 1;
bool v_bool;
char v_char = 'a';
unsigned char v_uchar = 200;
float v_float = 1.5f;
double v_double = 2.25;
enum color v_color = RED;
enum perm v_perm = P_READ;
int* v_ptr;
char v_text[8] = "hi";
int v_array[6];
struct config cfg = {3, 100, "start", GREEN, 0.5, 1, 2};
struct pair {
  short lo;
  short hi;
} v_pair = {1, 0}; /* small enough for one debug register */

/* Keeps every store: the compiler may not merge or drop writes across it. */
#define STEP() __asm__ volatile("" ::: "memory")

int main(void) {
  v_int = -4; STEP();
  v_int = 2147483647; STEP();
  v_unsigned = 4294967295u; STEP();
  v_long = -9000000000LL; STEP();
  v_bool = true; STEP();
  v_char = '\n'; STEP();
  v_char = 'Z'; STEP();
  v_uchar = 7; STEP();
  v_float = 0.1f; STEP();
  v_double = 0.1; STEP();
  v_double = -1e300; STEP();
  v_color = BLUE; STEP();
  v_color = (enum color)7; STEP();
  v_perm = P_READ | P_WRITE; STEP();
  v_perm = (enum perm)(P_EXEC | 16); STEP();
  v_ptr = &v_int; STEP();
  v_ptr = &v_array[2]; STEP();
  strcpy(v_text, "hey"); STEP();
  v_array[4] = 9; STEP();
  cfg.retries = 4; STEP();
  cfg.color = BLUE; STEP();
  cfg.ratio = 0.75; STEP();
  cfg.level = 9; STEP();
  cfg.retries = 4; STEP(); /* the same value: the member is named from the store's operand */
  v_pair.hi = 5; STEP();
  v_pair.lo = -2; STEP();
  v_pair.hi = 5; STEP(); /* the same value */
  printf("done %d %s\n", cfg.retries, v_text);
  return 0;
}
