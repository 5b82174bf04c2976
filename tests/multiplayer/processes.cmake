# The process-per-peer tests (test_processes.cpp) run claynet-multiplayer-peer and `claynet
# signal` from the build's bin directory: build them with the test binary.
if(TARGET claynet_multiplayer_tests AND TARGET claynet-multiplayer-peer)
  add_dependencies(claynet_multiplayer_tests claynet-multiplayer-peer)
endif()
if(TARGET claynet_multiplayer_tests AND TARGET claynet)
  add_dependencies(claynet_multiplayer_tests claynet)
endif()
