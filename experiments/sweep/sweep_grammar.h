// Hydra's basic sweeper grammar for sweep parameters, and the cartesian product of them.
//   key=a,b,c                    a comma list (quotes and brackets protect commas: lr=[1,2],'a,b')
//   key=range(start,stop[,step]) Python's range; floats allowed (range(0,1,0.25): 0,0.25,0.5,0.75)
//   key=choice(a,b,c)            the same as a comma list
//   key=glob(pattern[,pattern])  the options of a config group (variant=glob(*), glob(r*)) whose
//                                names match any pattern (fnmatch); needs the group's options
//   key=value                    one value: a fixed override, part of every job
// Prefixes (+key, ++key) carry through to the jobs' overrides. Errors name the parameter and the
// column, as override errors do.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace attnlab::sweep {

struct SweepParameter {
  std::string key;                  // with its prefix: "variant", "+extra.tag", "++train.lr"
  std::vector<std::string> values;  // as override values, in sweep order
  std::string text;                 // as the user wrote it
  bool swept() const { return values.size() > 1; }
};

// The options of a config group by name (e.g. "variant" -> {"scaled", "rope", ...}), for glob().
using GroupOptions = std::function<std::vector<std::string>(const std::string& group)>;

// Throws config::ConfigError "sweep parameter '<text>': <what> at column N" (with a caret line).
SweepParameter parse_parameter(const std::string& text, const GroupOptions& group_options);

// One job per combination, each a list of "key=value" overrides in parameter order; the last
// parameter varies fastest (Hydra's order). Throws config::ConfigError beyond 100000 jobs.
std::vector<std::vector<std::string>> expand(const std::vector<SweepParameter>& parameters);

}  // namespace attnlab::sweep
