// The model's dense layers on oneDNN's sgemm against LibTorch's linear: values and gradients of
// small and large layers, 2-D and 3-D inputs, non-contiguous inputs, and the fall-back under
// autocast.
#include <catch2/catch.hpp>

#include "experiments/model/linear_kernel.h"
#include "experiments/train/precision.h"

using attnlab::model::apply_linear;

TEST_CASE("dense layers agree with LibTorch's linear in values and gradients", "[model]") {
  torch::manual_seed(6);
  // A small layer, and one whose weight gradient takes the large-weight product.
  for (const auto& [inputs, outputs] : std::vector<std::pair<std::int64_t, std::int64_t>>{
           {24, 40}, {256, 640}}) {
    torch::nn::Linear layer(inputs, outputs);
    REQUIRE((inputs * outputs >= attnlab::model::kLargeWeight) == (inputs == 256));
    for (const auto& rows : std::vector<std::vector<std::int64_t>>{{7}, {3, 5}}) {
      auto shape = rows;
      shape.push_back(inputs);
      DYNAMIC_SECTION(inputs << "x" << outputs << ", input rank " << shape.size()) {
        auto x = torch::randn(shape).requires_grad_(true);
        auto out_shape = rows;
        out_shape.push_back(outputs);
        const auto weights = torch::randn(out_shape);

        (apply_linear(layer, x) * weights).sum().backward();
        const std::vector<torch::Tensor> fast = {x.grad().clone(), layer->weight.grad().clone(),
                                                 layer->bias.grad().clone()};
        x.mutable_grad() = torch::Tensor();
        layer->zero_grad(/*set_to_none=*/true);
        const auto expected = torch::linear(x, layer->weight, layer->bias);
        (expected * weights).sum().backward();

        CHECK(apply_linear(layer, x).sizes() == expected.sizes());
        CHECK(torch::allclose(apply_linear(layer, x), expected, 1e-5, 1e-5));
        CHECK(torch::allclose(fast[0], x.grad(), 1e-5, 1e-5));
        CHECK(torch::allclose(fast[1], layer->weight.grad(), 1e-4, 1e-5));
        CHECK(torch::allclose(fast[2], layer->bias.grad(), 1e-4, 1e-5));
        layer->zero_grad(/*set_to_none=*/true);
      }
    }
  }
}

TEST_CASE("a one-row input leaves the layer's bias alone", "[model]") {
  // With one row, bias.expand({1, O}).contiguous() is the bias itself: the product must not be
  // accumulated onto it.
  torch::manual_seed(8);
  torch::nn::Linear layer(16, 10);
  const auto bias = layer->bias.detach().clone();
  const auto x = torch::randn({1, 16});
  const auto first = apply_linear(layer, x).detach().clone();
  const auto second = apply_linear(layer, x);
  CHECK(torch::equal(layer->bias.detach(), bias));
  CHECK(torch::equal(first, second.detach()));
  CHECK(torch::allclose(second, torch::linear(x, layer->weight, layer->bias), 1e-5, 1e-6));
}

TEST_CASE("dense layers take non-contiguous inputs", "[model]") {
  torch::manual_seed(7);
  torch::nn::Linear layer(8, 3);
  const auto wide = torch::randn({4, 6, 16});
  const auto x = wide.narrow(2, 4, 8).transpose(0, 1);  // [6,4,8], strided
  REQUIRE_FALSE(x.is_contiguous());
  CHECK(torch::allclose(apply_linear(layer, x), torch::linear(x, layer->weight, layer->bias),
                        1e-5, 1e-6));
}

TEST_CASE("under bf16 autocast dense layers run LibTorch's autocast linear", "[model]") {
  torch::nn::Linear layer(8, 4);
  const auto x = torch::randn({2, 8});
  CHECK(apply_linear(layer, x).scalar_type() == torch::kFloat);
  attnlab::train::AutocastScope autocast(attnlab::train::Precision::BFloat16, torch::kCPU);
  CHECK(apply_linear(layer, x).scalar_type() == torch::kBFloat16);
}
