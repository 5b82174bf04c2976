# PeerJS interop: the real PeerJS 1.5.5 library in headless Chromium against claynet, and against
# itself, through the npm `peer` server and through `claynet signal`. Each test is one run of
# tests/signaling/run_peerjs.mjs inside a sealed network namespace (scripts/netns-run.sh); the
# peers speak the contract of tests/signaling/peer_browser_peerjs.mjs / claynet-peerjs-peer.
#
#   ctest -L interop -R peerjs_
#
# Needs: node, the npm packages of package.json (`npm ci`: peer, peerjs, playwright-core),
# Debian's chromium (/usr/bin/chromium), unshare/ip (root, or unprivileged user namespaces).
#
# Names: peerjs_<opener>_to_<acceptor>_<serialization>_via_<server>; the opener calls connect().

find_program(CLAYNET_NODE_EXECUTABLE node)
if(NOT CLAYNET_NODE_EXECUTABLE)
  message(WARNING "PeerJS interop tests: node not found; not registered")
  return()
endif()
foreach(_pkg peer peerjs playwright-core)
  if(NOT EXISTS ${PROJECT_SOURCE_DIR}/node_modules/${_pkg})
    message(WARNING "PeerJS interop tests: node_modules/${_pkg} missing; run `npm ci` in "
                    "${PROJECT_SOURCE_DIR} before `ctest -L interop`")
  endif()
endforeach()

set(_pjs_dir ${PROJECT_SOURCE_DIR}/tests/signaling)
set(_pjs_netns_run ${PROJECT_SOURCE_DIR}/scripts/netns-run.sh)
# Peer commands, as /bin/sh command strings.
set(_pjs_peer_browser "'${CLAYNET_NODE_EXECUTABLE}' '${_pjs_dir}/peer_browser_peerjs.mjs'")
if(TARGET claynet-peerjs-peer)
  set(_pjs_peer_claynet "'$<TARGET_FILE:claynet-peerjs-peer>'")
endif()

# claynet_peerjs_test(<name> <npm|claynet> <serialization> <opener cmd> <acceptor cmd>)
function(claynet_peerjs_test name server serialization opener acceptor)
  set(_server_args --server ${server})
  if(server STREQUAL "claynet")
    list(APPEND _server_args --claynet-bin $<TARGET_FILE_DIR:claynet>)
  endif()
  add_test(NAME ${name}
           COMMAND /bin/sh ${_pjs_netns_run}
                   ${CLAYNET_NODE_EXECUTABLE} ${_pjs_dir}/run_peerjs.mjs ${_server_args}
                   --serialization ${serialization} --a "${opener}" --b "${acceptor}"
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(${name} PROPERTIES LABELS "signaling;interop" TIMEOUT 120)
endfunction()

set(_pjs_servers npm)
if(TARGET claynet)
  list(APPEND _pjs_servers claynet)
else()
  message(STATUS "PeerJS interop tests: no claynet target; the tests through `claynet signal` are not registered")
endif()
if(NOT TARGET claynet-peerjs-peer)
  message(STATUS "PeerJS interop tests: no claynet-peerjs-peer target yet; only browser<->browser tests are registered")
endif()

foreach(_server ${_pjs_servers})
  foreach(_ser binary json raw)
    # Two browsers: through npm it is the control for the harness and the browser peer; through
    # claynet signal it shows that the server alone is enough for PeerJS users.
    claynet_peerjs_test(peerjs_browser_to_browser_${_ser}_via_${_server} ${_server} ${_ser}
                        "${_pjs_peer_browser}" "${_pjs_peer_browser}")
    if(_pjs_peer_claynet)
      claynet_peerjs_test(peerjs_browser_to_claynet_${_ser}_via_${_server} ${_server} ${_ser}
                          "${_pjs_peer_browser}" "${_pjs_peer_claynet}")
      claynet_peerjs_test(peerjs_claynet_to_browser_${_ser}_via_${_server} ${_server} ${_ser}
                          "${_pjs_peer_claynet}" "${_pjs_peer_browser}")
    endif()
  endforeach()
endforeach()
