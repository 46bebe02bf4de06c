// Summary statistics over seeds: mean, sample standard deviation and a 95% confidence interval
// of the mean from Student's t distribution (few seeds make the normal interval far too narrow).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace attnlab::analysis {

struct Summary {
  std::size_t n = 0;
  double mean = 0.0;
  double std = 0.0;        // sample standard deviation (n - 1); 0 for n = 1
  double ci95 = 0.0;       // half-width: t_{0.975, n-1} * std / sqrt(n); 0 for n = 1
  double min = 0.0;
  double max = 0.0;
};

// "0.9973 ± 0.0021" (mean and 95% CI half-width), the mean alone for one value, "-" for none.
std::string format_summary(const Summary& summary);

Summary summarise(const std::vector<double>& values);

// The 0.975 quantile of Student's t with `degrees` degrees of freedom (exact table to 30, then
// the normal approximation with a first-order correction).
double t_quantile_975(std::size_t degrees);

}  // namespace attnlab::analysis
