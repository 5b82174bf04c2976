// GLib's type system deadlocks when one thread initialises a class (libsoup's session, on the
// network thread) while another registers a type with an interface (GIO's socket addresses, on
// a resolver thread): CI's nat_network_noturn_claynet hung there, the joiner silent from its
// first line. Each child process races the two once (fresh type system each time); without the
// fix about one in five hangs here.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "../common/child_process.hpp"

namespace claynet::test {
namespace {

TEST(GTypeRace, ARuntimeRegistersGioTypesBeforeThreadsRaceOnThem) {
  const std::string child = std::string(CLAYNET_BIN_DIR) + "/claynet_gtype_race_child";
  constexpr int kRuns = 40;
  int hung = 0;
  for (int i = 0; i < kRuns; ++i) {
    std::string error;
    auto c = Child::spawn({child, std::to_string((i % 8) * 500)}, {false, -1}, error);
    ASSERT_TRUE(c) << error;
    auto status = c->wait(std::chrono::seconds(5));
    if (!status) {
      ++hung;
      c->kill(9);
      c->wait(std::chrono::seconds(5));
      continue;
    }
    EXPECT_EQ(*status, 0) << "run " << i;
  }
  EXPECT_EQ(hung, 0) << hung << " of " << kRuns << " processes deadlocked in GLib's type system";
}

}  // namespace
}  // namespace claynet::test
