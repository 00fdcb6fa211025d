/* Uses lib_value only through lib_set(): no copy relocation, the variable lives in the library. */
void lib_set(int v);
int main(void) {
  lib_set(4);
  lib_set(9);
  return 0;
}
