// The live status table of `claynet host`, `claynet join` and `claynet demo`: columns of text,
// redrawn in place on a terminal (ANSI cursor movement) and printed as plain lines otherwise, so
// that a log or a pipe gets every snapshot in order.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

namespace claynet::cli {

using TableRow = std::vector<std::string>;

/// Lays out a header and rows in columns: the first column left-aligned, the others right-aligned.
std::vector<std::string> layoutTable(const TableRow& header, const std::vector<TableRow>& rows);

class LiveTable {
 public:
  /// inPlace: each show() replaces the previous one on screen (for a terminal).
  LiveTable(std::FILE* out, bool inPlace) : out_(out), inPlace_(inPlace) {}
  /// Whether `out` is a terminal that understands the cursor movement (TERM not "dumb").
  static bool isTerminal(std::FILE* out);

  /// Draws the table and then `footer` lines (e.g. a progress line).
  void show(const TableRow& header, const std::vector<TableRow>& rows,
            const std::vector<std::string>& footer = {});
  /// Leaves the last drawing on screen: the next show() starts below whatever comes between.
  void release() { drawn_ = 0; }
  /// Whether the last show() redrew in place: false when not on a terminal, or when the terminal
  /// was narrower than the header and the table went out as plain lines.
  bool drawingInPlace() const { return inPlace_ && !narrow_; }

 private:
  std::FILE* out_;
  bool inPlace_;
  bool narrow_ = false;
  int drawn_ = 0;  // lines of the previous drawing still to be overwritten
};

/// "12.3" for a duration in ms; "-" when unknown (negative).
std::string formatMs(double ms);
/// "950", "12.4k", "3.1M": counts and byte sizes at a glance.
std::string formatCount(double n);

}  // namespace claynet::cli
