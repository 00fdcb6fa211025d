/* dlopens the library named by argv[1] after start-up and calls its lib_set(). */
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  void* h = dlopen(argv[1], RTLD_NOW);
  if (!h) { fprintf(stderr, "%s\n", dlerror()); return 1; }
  void (*set)(int) = (void (*)(int))dlsym(h, "lib_set");
  set(31);
  set(32);
  return 0;
}
