#!/usr/bin/env bash
# hwbp names functions and lines as GDB does: for a sample of pcs of real programs (libc, ls, xz,
# python3) and of the C++ fixture, hwbp_symbolize's "pc function file:line" must equal what GDB
# says for the same pc (gdb.block_for_pc: the innermost function, inlined ones included, and
# gdb.find_pc_line). Without DWARF GDB falls back to the ELF ("minimal") symbol, like hwbp.
# Usage: compare_with_gdb.sh HWBP_SYMBOLIZE SCRATCH_DIR EXTRA_FILE...
set -u
SYMBOLIZE=$1; DIR=$2; shift 2
GDB=${GDB:-/usr/bin/gdb}
mkdir -p "$DIR"; cd "$DIR" || exit 1
fail() { echo "FAIL: $*"; exit 1; }
[ -x "$GDB" ] || { echo "SKIP: GDB not installed ($GDB)"; exit 77; }

cat > names.py <<'PYEOF'
import gdb
out = open("gdb.txt", "w")
for line in open("pcs.txt"):
    pc = int(line.split()[0], 16)
    fn = None
    try:
        b = gdb.block_for_pc(pc)
        while b is not None and b.function is None:
            b = b.superblock
        if b is not None:
            fn = b.function.print_name
    except RuntimeError:
        pass
    if fn is None:
        # No DWARF function: GDB's minimal symbol. Several ELF symbols often start at one address
        # (glibc: __GI_link, __link, link) and which one GDB prints falls out of its symbol sort;
        # hwbp's name counts as the same when GDB finds it at the same start address.
        text = gdb.execute("info symbol %#x" % pc, to_string=True)
        fn = "??" if text.startswith("No symbol") else text.split(" + ")[0].split(" in section")[0]
        off = int(text.split(" + ")[1].split()[0]) if " + " in text else 0
        theirs = line.rstrip("\n").split("\t")[1]
        if fn != "??" and theirs != fn:
            try:
                if int(gdb.parse_and_eval("(long)&'%s'" % theirs)) == pc - off:
                    fn = theirs
            except gdb.error:
                pass
    sal = gdb.find_pc_line(pc)
    where = "%s:%d" % (sal.symtab.filename, sal.line) if sal.symtab else "??:0"
    out.write("%#x\t%s\t%s\n" % (pc, fn, where))
out.close()
PYEOF

# "./libio/fileops.c" (GDB: as in the line table) and "/build/.../libio/fileops.c" name one file:
# compare paths without a leading "./" and by suffix.
same_file() {
  local a=${1#./} b=${2#./}
  [ "$a" = "$b" ] || [[ "$a" == */"$b" ]] || [[ "$b" == */"$a" ]]
}

libc=$(ldd /bin/true | awk '/libc.so/ {print $3}')
checked=0
for f in "$libc" /usr/bin/ls /usr/bin/xz "$(readlink -f /usr/bin/python3 2>/dev/null)" "$@"; do
  [ -f "$f" ] || { echo "note: $f not found, not compared"; continue; }
  name=$(basename "$f")
  "$SYMBOLIZE" "$f" 40 > hwbp.txt || fail "hwbp_symbolize $f failed"
  [ -s hwbp.txt ] || { echo "note: $f: no function symbols to sample"; continue; }
  cut -f1,2 hwbp.txt > pcs.txt
  timeout 240 "$GDB" -nx -batch -ex "python exec(open('names.py').read())" "$f" > gdb.log 2>&1 ||
    fail "GDB failed on $f: $(tail -5 gdb.log)"
  [ "$(wc -l < gdb.txt)" -eq "$(wc -l < hwbp.txt)" ] || fail "$f: GDB answered $(wc -l < gdb.txt) of $(wc -l < hwbp.txt) pcs"
  bad=0
  while IFS=$'\t' read -r pc hfn hwhere <&3 && IFS=$'\t' read -r _ gfn gwhere <&4; do
    if [ "$hfn" != "$gfn" ] || [ "${hwhere##*:}" != "${gwhere##*:}" ] || ! same_file "${hwhere%:*}" "${gwhere%:*}"; then
      echo "$name $pc: hwbp '$hfn $hwhere', GDB '$gfn $gwhere'"
      bad=$((bad + 1))
    fi
  done 3< hwbp.txt 4< gdb.txt
  n=$(wc -l < hwbp.txt)
  echo "$name: $((n - bad)) of $n pcs named as GDB names them$(grep -qv '??:0' hwbp.txt && echo ', with file:line')"
  [ $bad -eq 0 ] || fail "$name: $bad pcs differ from GDB"
  checked=$((checked + n))
done
[ $checked -gt 0 ] || fail "no pcs compared"
echo PASS
