# Smoke test of `claynet bench network` (label `network`): a host and 2 joiners for 2 s in a sealed
# namespace. It checks what the benchmark must get right whatever the machine's speed: it exits 0,
# every node joined, state updates went through the host's relay, and --json has every figure.
# No timing is asserted.
#
# Included by tests/network/CMakeLists.txt, this file registers the test; the test runs this same
# file with `cmake -P` to do the run and the checks.
if(NOT CMAKE_SCRIPT_MODE_FILE)
  if(TARGET claynet)
    add_test(NAME network_bench_smoke
             COMMAND ${CMAKE_COMMAND} -DCLAYNET=$<TARGET_FILE:claynet>
                     -DNETNS=${PROJECT_SOURCE_DIR}/scripts/netns-run.sh
                     -P ${CMAKE_CURRENT_LIST_FILE})
    set_tests_properties(network_bench_smoke PROPERTIES LABELS network TIMEOUT 90)
  endif()
  return()
endif()

execute_process(
  COMMAND ${NETNS} ${CLAYNET} bench network --nodes 3 --seconds 2 --runs 1 --json
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 75)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "claynet bench network failed (${rc}):\n${err}\n${out}")
endif()
message(STATUS "claynet bench network printed: ${out}")
foreach(key join_ms_p50 all_joined_ms state_latency_p50_us state_latency_p99_us
            state_delivered_ratio host_cpu_pct nodes seconds hz bytes state_sent state_received)
  string(JSON ${key} ERROR_VARIABLE missing GET "${out}" ${key})
  if(missing)
    message(FATAL_ERROR "--json lacks ${key}: ${missing}\n${out}")
  endif()
endforeach()
if(NOT nodes EQUAL 3)
  message(FATAL_ERROR "nodes is ${nodes}, expected 3")
endif()
# Each joiner measured its join, and the host saw all 3 nodes.
if(NOT join_ms_p50 GREATER 0 OR NOT all_joined_ms GREATER 0)
  message(FATAL_ERROR "not every node joined: join_ms_p50 ${join_ms_p50}, all_joined_ms "
                      "${all_joined_ms}")
endif()
# With 3 nodes each joiner hears the other only through the host's relay.
if(NOT state_received GREATER 0 OR NOT state_delivered_ratio GREATER 0
   OR NOT state_latency_p50_us GREATER 0)
  message(FATAL_ERROR "no state update arrived through the relay: ${out}")
endif()
if(state_delivered_ratio GREATER 1)
  message(FATAL_ERROR "more state updates received than sent: ${out}")
endif()
