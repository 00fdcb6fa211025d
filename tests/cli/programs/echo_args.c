/* Prints "ARG word" for each of its arguments and writes `counter` once: a target for checking
   that every word after `--` reaches the program, whatever it looks like (issue 12). */
#include <stdio.h>

int counter = 1;

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) printf("ARG %s\n", argv[i]);
  counter = argc;
  return 0;
}
