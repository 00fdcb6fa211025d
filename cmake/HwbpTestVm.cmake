# The test VM in ctest (docs/test-vm.md): QEMU 10 TCG with a nested kvm_amd, booted once per
# ctest run by the fixture tests vm.start / vm.stop, serving every vm.* test.
#
#   hwbp_add_vm_test(NAME name COMMAND cmd args...
#                    [HARDWARE] [KVM] [TIMEOUT s] [LABELS l...]
#                    [GTEST_EXCLUDE files...] [GTEST_ONLY file] [EVIDENCE why])
#       runs cmd inside the test VM, in the caller's binary directory, as root.
#       HARDWARE: needs debug-register hits; skipped where this machine's own registers fire
#       (the host pass runs it natively). KVM: needs the VM's /dev/kvm. GTEST_EXCLUDE/ONLY:
#       a list file of "gtest PATTERN" lines. EVIDENCE: the VM cannot decide this result; it is
#       shown and the test skipped.
#
#   hwbp_add_kvm_tests(target [TIMEOUT s])
#       the way a KVM test binary joins: each gtest case runs natively (label needs-kvm; a case
#       skips itself where the machine has no usable /dev/kvm, see tests/kvm/kvm_test_support.hpp),
#       and the whole binary runs in the test VM as vm.<target> (labels vm, kvm), on every machine.
#
# Labels: vm (everything that runs in the VM), kvm, needs-kvm, hardware, multi-watch.
# `make test-vm` = ctest -L '^vm$' (anchored: -L takes a regex, and "needs-kvm" contains "vm").
# Off by default in sanitizer builds: the plain build's pass in the VM covers it.
if(HWBP_SANITIZE)
  set(_hwbp_test_vm_default OFF)
else()
  set(_hwbp_test_vm_default ON)
endif()
option(HWBP_TEST_VM "Run tests inside the test VM (QEMU 10 TCG, nested kvm_amd)" ${_hwbp_test_vm_default})

set(HWBP_TEST_VM_SCRIPT ${PROJECT_SOURCE_DIR}/scripts/test-vm/vm.sh)
set(HWBP_TEST_VM_STATE ${PROJECT_BINARY_DIR}/test-vm)
set(HWBP_TEST_VM_FIXTURE hwbp_test_vm)

# vm.sh's common arguments; --hwbp lets it ask `hwbp doctor` whether the debug registers fire.
function(_hwbp_vm_base_args out)
  set(args --state ${HWBP_TEST_VM_STATE})
  if(TARGET hwbp_cli)
    list(APPEND args --hwbp $<TARGET_FILE:hwbp_cli>)
  endif()
  set(${out} ${args} PARENT_SCOPE)
endfunction()

# vm.start boots the VM (or skips with the reason the VM is unavailable, after which every
# vm.* test skips with the same reason); vm.stop powers it off. One boot per ctest run.
function(_hwbp_vm_fixture)
  get_property(done GLOBAL PROPERTY HWBP_TEST_VM_FIXTURE_ADDED)
  if(done)
    return()
  endif()
  set_property(GLOBAL PROPERTY HWBP_TEST_VM_FIXTURE_ADDED TRUE)
  _hwbp_vm_base_args(base)
  add_test(NAME vm.start COMMAND bash ${HWBP_TEST_VM_SCRIPT} start ${base})
  set_tests_properties(vm.start PROPERTIES FIXTURES_SETUP ${HWBP_TEST_VM_FIXTURE}
                       SKIP_RETURN_CODE 77 TIMEOUT 900 LABELS vm RUN_SERIAL TRUE)
  add_test(NAME vm.stop COMMAND bash ${HWBP_TEST_VM_SCRIPT} stop ${base})
  set_tests_properties(vm.stop PROPERTIES FIXTURES_CLEANUP ${HWBP_TEST_VM_FIXTURE}
                       TIMEOUT 60 LABELS vm)
endfunction()

function(hwbp_add_vm_test)
  if(NOT HWBP_TEST_VM)
    return()
  endif()
  cmake_parse_arguments(PARSE_ARGV 0 T "HARDWARE;KVM" "NAME;TIMEOUT;GTEST_ONLY;EVIDENCE"
                        "COMMAND;LABELS;GTEST_EXCLUDE")
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 600)
  endif()
  _hwbp_vm_fixture()
  _hwbp_vm_base_args(args)
  list(APPEND args --name ${T_NAME} --timeout ${T_TIMEOUT})
  if(T_HARDWARE)
    list(APPEND args --hardware)
  endif()
  if(T_KVM)
    list(APPEND args --kvm)
  endif()
  foreach(file ${T_GTEST_EXCLUDE})
    list(APPEND args --gtest-exclude ${file})
  endforeach()
  if(T_GTEST_ONLY)
    list(APPEND args --gtest-only ${T_GTEST_ONLY})
  endif()
  if(T_EVIDENCE)
    list(APPEND args --evidence ${T_EVIDENCE})
  endif()
  add_test(NAME ${T_NAME} COMMAND bash ${HWBP_TEST_VM_SCRIPT} run ${args} -- ${T_COMMAND})
  # ctest's own limit leaves vm.sh time to kill a hung VM and say so (its 30 s grace + boot).
  math(EXPR ctest_timeout "${T_TIMEOUT} + 180")
  set_tests_properties(${T_NAME} PROPERTIES FIXTURES_REQUIRED ${HWBP_TEST_VM_FIXTURE}
                       SKIP_RETURN_CODE 77 TIMEOUT ${ctest_timeout} LABELS "vm;${T_LABELS}")
endfunction()

function(hwbp_add_kvm_tests target)
  cmake_parse_arguments(PARSE_ARGV 1 K "" "TIMEOUT" "")
  if(NOT K_TIMEOUT)
    set(K_TIMEOUT 300)
  endif()
  # One label only: gtest_discover_tests flattens a list value into separate properties.
  gtest_discover_tests(${target} DISCOVERY_TIMEOUT 60
                       PROPERTIES LABELS needs-kvm TIMEOUT ${K_TIMEOUT})
  hwbp_add_vm_test(NAME vm.${target} KVM TIMEOUT ${K_TIMEOUT} LABELS kvm
                   COMMAND $<TARGET_FILE:${target}>)
endfunction()
