# Browser interop of claynet::Network (label `interop` only: it needs Chromium and npm packages,
# and the sanitizer run leaves interop out): a browser Clayground node (the real PeerJS 1.5.5 in
# headless Chromium with Clayground's envelope, tests/network/clayground_network_page.mjs) in one
# Star network with claynet-network-node processes, in Cloud mode through `claynet signal` and
# through the npm `peer` server, inside a sealed network namespace (scripts/netns-run.sh).
#
#   ctest -L interop -R network_interop_browser
#
# Needs: node, `npm ci` (peer, peerjs, playwright-core), Debian's chromium (/usr/bin/chromium).
# Names: network_interop_browser_<hosts|joins>_via_<claynet|npm>; see run_network_interop.mjs.
# Clayground wire version 5 (hello/welcome handshake, the "state" channel on the same connection,
# bye), via claynet signal only: network_interop_browser_v5_<browser_only|browser_hosts|browser_joins>.

find_program(CLAYNET_NODE_EXECUTABLE node)
if(NOT CLAYNET_NODE_EXECUTABLE OR NOT TARGET claynet-network-node OR NOT TARGET claynet)
  message(STATUS "Network browser interop tests: node, claynet-network-node or claynet missing; "
                 "not registered")
  return()
endif()

foreach(_scenario hosts joins)
  foreach(_server claynet npm)
    set(_name network_interop_browser_${_scenario}_via_${_server})
    add_test(NAME ${_name}
             COMMAND /bin/sh ${PROJECT_SOURCE_DIR}/scripts/netns-run.sh
                     ${CLAYNET_NODE_EXECUTABLE}
                     ${CMAKE_CURRENT_SOURCE_DIR}/run_network_interop.mjs
                     --scenario browser-${_scenario} --server ${_server}
                     --bin $<TARGET_FILE_DIR:claynet-network-node> --timeout 150
             WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
    set_tests_properties(${_name} PROPERTIES LABELS interop TIMEOUT 180)
  endforeach()
endforeach()

foreach(_scenario browser-only browser-hosts browser-joins)
  string(REPLACE "-" "_" _id ${_scenario})
  set(_name network_interop_browser_v5_${_id})
  add_test(NAME ${_name}
           COMMAND /bin/sh ${PROJECT_SOURCE_DIR}/scripts/netns-run.sh
                   ${CLAYNET_NODE_EXECUTABLE}
                   ${CMAKE_CURRENT_SOURCE_DIR}/run_network_interop.mjs
                   --scenario v5-${_scenario} --server claynet
                   --bin $<TARGET_FILE_DIR:claynet-network-node> --timeout 150
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(${_name} PROPERTIES LABELS interop TIMEOUT 180)
endforeach()
