// A second static named hwbp_symtest_dup, in another translation unit (see ambiguity_test.cpp).
static volatile int hwbp_symtest_dup = 2;
volatile int* hwbp_symtest_dup_other() { return &hwbp_symtest_dup; }
