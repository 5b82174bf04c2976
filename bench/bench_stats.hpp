// Small statistics and number formatting shared by the `claynet bench ...` reports.
#pragma once

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

namespace claynet::bench {

/// The median of `v`; 0 when empty.
inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

/// A figure for a table: no decimals from 1000 up, one from 10 up, `smallDecimals` below.
inline std::string formatFigure(double v, int smallDecimals) {
  char b[64];
  if (v >= 1000)
    std::snprintf(b, sizeof b, "%.0f", v);
  else if (v >= 10)
    std::snprintf(b, sizeof b, "%.1f", v);
  else
    std::snprintf(b, sizeof b, "%.*f", smallDecimals, v);
  return b;
}

}  // namespace claynet::bench
