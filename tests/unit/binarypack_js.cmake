# Cross-check of claynet's BinaryPack against the real JavaScript implementation (npm
# peerjs-js-binarypack and peerjs 1.5.5's chunker), label unit: node runs binarypack_js.mjs, which
# drives binarypack_tool over stdin/stdout. No sockets.
if(NOT TARGET claynet_signaling)
  return()
endif()
add_executable(binarypack_tool ${CMAKE_CURRENT_LIST_DIR}/binarypack_tool.cpp)
target_link_libraries(binarypack_tool PRIVATE claynet_signaling)

find_program(CLAYNET_NODE_FOR_UNIT node)
if(NOT CLAYNET_NODE_FOR_UNIT)
  message(WARNING "unit test binarypack_js: node not found; not registered")
  return()
endif()
add_test(NAME unit_binarypack_js
         COMMAND ${CLAYNET_NODE_FOR_UNIT} ${CMAKE_CURRENT_LIST_DIR}/binarypack_js.mjs
                 $<TARGET_FILE:binarypack_tool>
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(unit_binarypack_js PROPERTIES LABELS unit TIMEOUT 120)
