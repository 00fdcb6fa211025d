# One GDB session on the example kernel, run against `hwbp vm --gdb-stdio` and against QEMU's
# gdbstub (gdb_session_test.sh prepends the `target remote` line). What both print is compared.
set pagination off
set confirm off
set width 0
break record_sample
continue
bt 2
p/x $pc
print counter
x/4wx &history
# The stepi stop lines differ only in form (QEMU's x86-64 description mis-unwinds this i386
# frame, so GDB prints it as a new frame); the pc after three steps is what must agree.
pipe stepi | cat > /dev/null
pipe stepi | cat > /dev/null
pipe stepi | cat > /dev/null
p/x $pc
delete
watch counter
continue
continue
rwatch max_retries
awatch ticks
watch history[1]
watch history[2]
watch history[3]
continue
continue
continue
delete
set var counter = 1000
print counter
x/2gx &ticks
kill
