#include "status_table.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace claynet::cli {

std::vector<std::string> layoutTable(const TableRow& header, const std::vector<TableRow>& rows) {
  std::vector<std::size_t> width(header.size(), 0);
  auto measure = [&](const TableRow& r) {
    for (std::size_t i = 0; i < r.size() && i < width.size(); ++i)
      width[i] = std::max(width[i], r[i].size());
  };
  measure(header);
  for (const auto& r : rows) measure(r);
  auto line = [&](const TableRow& r) {
    std::string s;
    for (std::size_t i = 0; i < width.size(); ++i) {
      std::string cell = i < r.size() ? r[i] : "";
      std::string pad(width[i] - std::min(width[i], cell.size()), ' ');
      if (i > 0) s += "  ";
      s += i == 0 ? cell + pad : pad + cell;
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s;
  };
  std::vector<std::string> out{line(header)};
  for (const auto& r : rows) out.push_back(line(r));
  return out;
}

bool LiveTable::isTerminal(std::FILE* out) {
  const char* term = std::getenv("TERM");
  return ::isatty(fileno(out)) && term && std::strcmp(term, "dumb") != 0;
}

namespace {

// The terminal's width in columns; 0 when unknown.
int terminalColumns(std::FILE* out) {
  winsize w{};
  if (::ioctl(fileno(out), TIOCGWINSZ, &w) != 0) return 0;
  return w.ws_col;
}

// The columns a line takes: its code points (the table is ASCII apart from node ids, which
// printable() has made free of control characters).
std::size_t columns(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

std::string clip(const std::string& s, std::size_t width) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && n++ == width) return s.substr(0, i);
  }
  return s;
}

}  // namespace

void LiveTable::show(const TableRow& header, const std::vector<TableRow>& rows,
                     const std::vector<std::string>& footer) {
  std::vector<std::string> lines = layoutTable(header, rows);
  lines.insert(lines.end(), footer.begin(), footer.end());
  bool inPlace = inPlace_;
  if (inPlace_) {
    // Redrawing moves up as many rows as lines were drawn, so no line may wrap into two rows:
    // every line is clipped to the width, and a terminal narrower than the header (where the
    // clipped table would be unreadable) gets plain lines instead.
    const int width = terminalColumns(out_);
    narrow_ = width > 0 && columns(lines.front()) > static_cast<std::size_t>(width);
    if (narrow_) {
      inPlace = false;
      drawn_ = 0;
    } else if (width > 0) {
      for (auto& l : lines) l = clip(l, static_cast<std::size_t>(width));
    }
  }
  std::string text;
  if (inPlace && drawn_ > 0) text += "\x1b[" + std::to_string(drawn_) + "F";  // up, column 1
  for (const auto& l : lines) text += (inPlace ? "\x1b[2K" : "") + l + "\n";
  if (inPlace) {
    // A shorter drawing than the last leaves stale lines below; clear them and come back.
    int stale = drawn_ - static_cast<int>(lines.size());
    for (int i = 0; i < stale; ++i) text += "\x1b[2K\n";
    if (stale > 0) text += "\x1b[" + std::to_string(stale) + "F";
    drawn_ = static_cast<int>(lines.size());
  }
  std::fputs(text.c_str(), out_);
  std::fflush(out_);
}

std::string formatMs(double ms) {
  if (ms < 0) return "-";
  char b[32];
  std::snprintf(b, sizeof b, ms >= 100 ? "%.0f" : "%.1f", ms);
  return b;
}

std::string formatCount(double n) {
  char b[32];
  if (n >= 1e6)
    std::snprintf(b, sizeof b, "%.1fM", n / 1e6);
  else if (n >= 1e4)
    std::snprintf(b, sizeof b, "%.1fk", n / 1e3);
  else
    std::snprintf(b, sizeof b, "%.0f", n);
  return b;
}

}  // namespace claynet::cli
