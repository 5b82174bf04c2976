# claynet-signal (claynet::SignalServer, `claynet signal`): script-driven tests.
#
# The gtest cases (test_signal_server.cpp) drive the server with libsoup's WebSocket client; they
# need libsoup's headers in the shared signaling test binary.
if(TARGET claynet_signaling_tests)
  target_link_libraries(claynet_signaling_tests PRIVATE PkgConfig::SOUP PkgConfig::GLIB)
endif()

# Differential test: the same scripted sequence against the npm `peer` 1.0.2 server and against
# `claynet signal` must give the same frames to every client (tests/signaling/ws_differential.mjs,
# clients from node's `ws` package). Runs in a sealed network namespace, on 127.0.0.1.
find_program(CLAYNET_SIGNAL_NODE node)
if(CLAYNET_SIGNAL_NODE AND TARGET claynet)
  add_test(NAME signal_server_differential_npm_peer
           COMMAND ${PROJECT_SOURCE_DIR}/scripts/netns-run.sh
                   ${CLAYNET_SIGNAL_NODE} ${CMAKE_CURRENT_SOURCE_DIR}/ws_differential.mjs
                   --claynet $<TARGET_FILE:claynet>
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(signal_server_differential_npm_peer PROPERTIES LABELS signaling TIMEOUT 120)
else()
  message(STATUS "claynet-signal differential test: node or the claynet target missing; not registered")
endif()
