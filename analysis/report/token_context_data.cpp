#include "analysis/report/token_context_data.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "analysis/heads/analysed_map.h"
#include "analysis/heads/token_context_report.h"
#include "analysis/report/csv_table.h"

namespace attnlab::report {
namespace {

using nlohmann::json;

json finite_or_null(double value) { return std::isfinite(value) ? json(value) : json(nullptr); }

// Every input's tokens as text, each up to its length: the probe's token text, else the ids.
heads::InputTokens probe_tokens(const dump::DumpReader& reader) {
  const auto tokens = reader.probe(dump::kProbeTokens);
  const auto length = tokens.shape.at(1);
  std::vector<std::int64_t> lengths(static_cast<std::size_t>(tokens.shape.at(0)), length);
  if (reader.has(dump::kProbeLengths)) lengths = reader.probe(dump::kProbeLengths).values;
  const bool has_text = reader.has(dump::kProbeTokenText);
  const auto strings = has_text ? reader.probe_text(dump::kProbeTokenText).values
                                : std::vector<std::string>();
  heads::InputTokens inputs(lengths.size());
  for (std::size_t input = 0; input < lengths.size(); ++input) {
    for (std::int64_t t = 0; t < std::min(lengths[input], length); ++t) {
      const auto at = input * static_cast<std::size_t>(length) + static_cast<std::size_t>(t);
      inputs[input].push_back(has_text ? strings.at(at) : std::to_string(tokens.values.at(at)));
    }
  }
  return inputs;
}

json panel(const dump::DumpReader& reader, const heads::InputTokens& inputs, std::int64_t layer,
           std::int64_t head, std::int64_t input, std::int64_t position) {
  const auto& info = reader.layers().at(static_cast<std::size_t>(layer));
  const bool known_input = input >= 0 && input < static_cast<std::int64_t>(inputs.size());
  if (!known_input || position < 0 ||
      position >= static_cast<std::int64_t>(inputs[static_cast<std::size_t>(input)].size()) ||
      head < 0 || head >= info.heads) {
    throw std::invalid_argument("layer " + std::to_string(layer) + " head " +
                                std::to_string(head) + " input " + std::to_string(input) +
                                " position " + std::to_string(position) + " is not in the dump");
  }
  const auto allowed = reader.allowed_keys(layer);
  const auto map = heads::read_analysed_map(reader, layer, reader.snapshots() - 1, input, head,
                                            allowed.values.data() + head * info.query_length);
  const auto& tokens = inputs[static_cast<std::size_t>(input)];
  const auto row = map.weights.begin() + position * info.key_length;
  std::vector<float> weights(row, row + static_cast<std::ptrdiff_t>(tokens.size()));
  return {{"input", input}, {"position", position}, {"tokens", tokens}, {"weights", weights}};
}

}  // namespace

json token_context_json(const std::filesystem::path& folder, const dump::DumpReader& reader) {
  const auto file = folder / heads::kTokenHeadsFile;
  if (!std::filesystem::exists(file) || reader.snapshots() == 0 || !reader.has_maps()) {
    return nullptr;
  }
  const auto table = CsvTable::read(file);
  const auto inputs = probe_tokens(reader);
  const auto column = [&table](const char* name) { return table.require_column(name); };
  json heads = json::array();
  std::int64_t occurrences = 0;
  for (std::size_t row = 0; row < table.rows(); ++row) {
    const auto layer = table.integer(row, column("layer"));
    const auto head = table.integer(row, column("head"));
    if (layer < 0 || layer >= static_cast<std::int64_t>(reader.layers().size())) {
      throw std::invalid_argument(file.string() + ": layer " + std::to_string(layer) +
                                  " is not in " + reader.path().string());
    }
    occurrences = table.integer(row, column("occurrences"));
    json panels = json::array();
    for (const char* which : {"first", "second"}) {
      const std::string prefix = which;
      try {
        panels.push_back(panel(reader, inputs, layer, head,
                               table.integer(row, column((prefix + "_input").c_str())),
                               table.integer(row, column((prefix + "_position").c_str()))));
      } catch (const std::invalid_argument& error) {
        throw std::invalid_argument(file.string() + ": " + error.what());
      }
    }
    heads.push_back({{"rank", table.integer(row, column("rank"))},
                     {"layer", layer},
                     {"head", head},
                     {"map_kind", table.field(row, column("map_kind"))},
                     {"js_by_token", finite_or_null(table.number(row, column("js_by_token")))},
                     {"js_by_position",
                      finite_or_null(table.number(row, column("js_by_position")))},
                     {"panels", panels}});
  }
  json token = nullptr;
  if (!heads.empty()) {
    const auto& first = heads.front()["panels"][0];
    token = first["tokens"].at(first["position"].get<std::size_t>());
  }
  return {{"token", token},
          {"occurrences", occurrences},
          {"step", reader.steps().back()},
          {"heads", heads}};
}

}  // namespace attnlab::report
