/* A shared library that defines a variable: resolved when the loader maps it (linked) or when
   the program dlopens it (--pending). */
int lib_value = 0;

void lib_set(int v) {
  lib_value = v; /* LINE-LIB-SET */
}
