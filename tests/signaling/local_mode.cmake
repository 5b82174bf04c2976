# Local mode (issue 3 §3): two claynet processes, the host's embedded server found through a
# LAN code only (claynet on both sides, so label `signaling` only).
if(TARGET claynet-peerjs-peer AND CLAYNET_NODE_FOR_TESTS)
  foreach(serialization binary json raw)
    add_test(NAME signaling_local_mode_${serialization}
             COMMAND ${PROJECT_SOURCE_DIR}/scripts/netns-run.sh ${CLAYNET_NODE_FOR_TESTS}
                     ${CMAKE_CURRENT_SOURCE_DIR}/run_local.mjs
                     --peer $<TARGET_FILE:claynet-peerjs-peer> --serialization ${serialization})
    set_tests_properties(signaling_local_mode_${serialization}
                         PROPERTIES LABELS signaling TIMEOUT 120)
  endforeach()
endif()
