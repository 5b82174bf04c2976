// The tests' child processes are the project's one helper (tools/common/child_process.hpp,
// library claynet_process); these names keep the tests' spelling.
#pragma once

#include "../../tools/common/child_process.hpp"

namespace claynet::test {

using Child = claynet::process::Child;
using claynet::process::waitForPort;

}  // namespace claynet::test
