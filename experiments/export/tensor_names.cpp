#include "experiments/export/tensor_names.h"

#include <cctype>
#include <utility>

namespace attnlab::exporting {
namespace {

ExportError unnamed(const std::string& module_path) {
  return ExportError("no export name for " + module_path +
                     " (add a rule to experiments/export/tensor_names and docs/export.md's contract)");
}

// Rewrites a leading `from` of `path` to `to`; false when `path` does not start with `from`.
bool rewrite_prefix(const std::string& path, const std::string& from, const std::string& to,
                    std::string& out) {
  if (path.rfind(from, 0) != 0) return false;
  out = to + path.substr(from.size());
  return true;
}

// Inside one attention module: "query_key_value.weight" -> "qkv.weight".
std::string attention_name(const std::string& path, const std::string& full_path) {
  static const std::vector<std::pair<std::string, std::string>> rules = {
      {"query_key_value.", "qkv."}, {"query.", "q."},
      {"key_value.", "kv."},        {"output.", "out."},
      {"variant.score.", "score."}, {"variant.position.", "position."},
      {"variant.qk_norm.", "qk_norm."}, {"variant.normaliser.", "normaliser."},
      {"variant.mixer.", "mixer."},     {"variant.gate.", "gate."}};
  std::string out;
  for (const auto& [from, to] : rules) {
    if (rewrite_prefix(path, from, to, out)) return out;
  }
  throw unnamed(full_path);
}

// Inside one block: "attention.output.weight" -> "self_attention.out.weight".
std::string block_name(const std::string& path, const std::string& full_path) {
  static const std::vector<std::pair<std::string, std::string>> rules = {
      {"attention_norm.", "attention_norm."}, {"cross_norm.", "cross_norm."},
      {"mlp_norm.", "mlp_norm."},             {"mlp.0.", "mlp.fc1."},
      {"mlp.2.", "mlp.fc2."}};
  std::string out;
  for (const auto& [from, to] : rules) {
    if (rewrite_prefix(path, from, to, out)) return out;
  }
  if (rewrite_prefix(path, "attention.", "", out)) {
    return "self_attention." + attention_name(out, full_path);
  }
  if (rewrite_prefix(path, "cross_attention.", "", out)) {
    return "cross_attention." + attention_name(out, full_path);
  }
  throw unnamed(full_path);
}

// "blocks.3.rest" with stack "blocks." -> {"3", "rest"}; false if the path is not in that stack.
bool split_stack(const std::string& path, const std::string& stack, std::string& index,
                 std::string& rest) {
  if (path.rfind(stack, 0) != 0) return false;
  std::size_t end = stack.size();
  while (end < path.size() && std::isdigit(static_cast<unsigned char>(path[end]))) ++end;
  if (end == stack.size() || end >= path.size() || path[end] != '.') return false;
  index = path.substr(stack.size(), end - stack.size());
  rest = path.substr(end + 1);
  return true;
}

}  // namespace

std::string tensor_name(const std::string& module_path) {
  std::string index, rest, out;
  if (split_stack(module_path, "encoder_blocks.", index, rest)) {
    return "encoder.layers." + index + "." + block_name(rest, module_path);
  }
  if (split_stack(module_path, "blocks.", index, rest)) {
    return "layers." + index + "." + block_name(rest, module_path);
  }
  static const std::vector<std::pair<std::string, std::string>> top = {
      {"token_embedding.", "embed."},
      {"positions.learned.", "pos_embed."},
      {"source_positions.learned.", "encoder.pos_embed."},
      {"encoder_norm.", "encoder.final_norm."},
      {"final_norm.", "final_norm."},
      {"head.", "head."}};
  for (const auto& [from, to] : top) {
    if (rewrite_prefix(module_path, from, to, out)) return out;
  }
  throw unnamed(module_path);
}

std::vector<NamedTensor> named_weights(const model::TransformerImpl& model) {
  std::vector<NamedTensor> weights;
  for (const auto& parameter : model.named_parameters(/*recurse=*/true)) {
    weights.push_back({tensor_name(parameter.key()), parameter.value()});
  }
  for (const auto& buffer : model.named_buffers(/*recurse=*/true)) {
    weights.push_back({tensor_name(buffer.key()), buffer.value()});
  }
  return weights;
}

}  // namespace attnlab::exporting
