// Softmax with a sink: a logit sigma_h per head joins each row's denominator and takes no value,
//   A_ij = exp(s_ij) / (exp(sigma_h) + sum_l exp(s_il)),
// so a head can attend to nothing instead of parking its mass on some token. With sigma fixed at 0
// this is "softmax off by one" (Miller 2023, quiet attention); learned per head it is the sink of
// gpt-oss (OpenAI 2025). Rows sum to less than 1: the rest went to the sink.
//
// B = batch, H = heads, Tq = query length, Tk = key length.
#include "variants/parts.h"

namespace attnlab::variants {
namespace {

class SinkNormaliser : public Normaliser {
 public:
  SinkNormaliser(const AttentionSite& site, bool learned) {
    logits_ = register_parameter("logits", torch::zeros({site.heads}), learned);  // [H]
  }

  torch::Tensor normalise(const torch::Tensor& scores) override {
    // The sink as one more column of the softmax, dropped after: [B,H,Tq,Tk+1] -> [B,H,Tq,Tk].
    const auto sink = logits_.to(scores.dtype()).view({1, -1, 1, 1}).expand(
        {scores.size(0), scores.size(1), scores.size(2), 1});
    const auto key_length = scores.size(-1);
    return torch::softmax(torch::cat({scores, sink}, /*dim=*/-1), /*dim=*/-1)
        .narrow(-1, 0, key_length);  // a row with no allowed key gives all its mass to the sink
  }
  torch::Tensor reference_normalise(const torch::Tensor& scores) const override {
    const auto sink = logits_.to(torch::kDouble).view({1, -1, 1, 1});  // [1,H,1,1]
    const auto shift = torch::maximum(std::get<0>(scores.max(-1, /*keepdim=*/true)), sink);
    const auto weights = torch::exp(scores - shift);
    return weights / (weights.sum(-1, /*keepdim=*/true) + torch::exp(sink - shift));
  }
  MapKind map_kind() const override { return MapKind::Partial; }
  bool is_softmax() const override { return true; }
  torch::Tensor sink_logits() const override { return logits_; }

 private:
  torch::Tensor logits_;  // [H]
};

}  // namespace

ATTNLAB_REGISTER(normaliser_registry(),
                 {"sink",
                  "softmax with a sink logit per head in each row's denominator (learned as in "
                  "gpt-oss; fixed at 0: softmax off by one)",
                  {{"sink_learned", true,
                    "learn the sink logit of each head (false: fixed at 0, softmax off by one)"}},
                  {"softmax"}, {"logit_scores"},
                  [](const VariantOptions& options, const AttentionSite& site) {
                    return std::make_shared<SinkNormaliser>(site, options.get_bool("sink_learned"));
                  }});

}  // namespace attnlab::variants
