#!/usr/bin/env bash
# Installs hwbp into a scratch prefix and builds two tiny consumers against the installed copy:
# one through CMake's find_package(hwbp), one through pkg-config. Each consumer arms a real
# watchpoint and checks the hit, so a broken install (headers, libraries, package files) fails.
set -euo pipefail
src=$1
work=$2
build=$3          # the build tree under test: its install rules are what is checked
hwbp_cli=${4:-}  # the build's hwbp command: its doctor says whether hits are delivered here
rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix
# Install the tree ctest is testing (already built) instead of building the library again: the
# same install rules, without a second full build (which took minutes on a loaded 2-CPU machine).
cmake --install "$build" --prefix "$prefix" >/dev/null
for f in include/hwbp/hwbp.hpp include/hwbp/hwbp.h lib/libhwbp.a lib/libhwbp.so \
         lib/cmake/hwbp/hwbpConfig.cmake lib/pkgconfig/hwbp.pc; do
  [ -e "$prefix/$f" ] || { echo "missing after install: $f"; exit 1; }
done

# 1. CMake package
cmake -S "$src/tests/install/consumer" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/consumer" >/dev/null

# 2. pkg-config, from C, against the shared library
PKG_CONFIG_PATH="$prefix/lib/pkgconfig" cc -o "$work/consumer_c" "$src/tests/install/consumer/consumer.c" \
  $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs hwbp)

# Both consumers arm a real watch and check its hits: on the debug registers where they deliver
# hits, by page protection where they do not (automatic engine), so they run on every machine.
LD_LIBRARY_PATH="$prefix/lib" "$work/consumer/consumer"
LD_LIBRARY_PATH="$prefix/lib" "$work/consumer_c"
echo "install consumers: ok"
