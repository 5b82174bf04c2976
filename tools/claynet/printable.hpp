// Text from other nodes or a server, made safe to print on a terminal.
#pragma once

#include <string>

namespace claynet::cli {

/// `text` with every control character replaced by '?': C0 and DEL, the C1 code points
/// U+0080..U+009F (U+009B is a one-character CSI on some terminals), and every byte that is not
/// part of valid UTF-8. Escape sequences could otherwise move the cursor, retitle the window, ...
std::string printable(const std::string& text);

}  // namespace claynet::cli
