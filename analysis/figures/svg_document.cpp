#include "analysis/figures/svg_document.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace attnlab::analysis {

const char* svg_colour(std::size_t index) {
  static const char* kPalette[] = {"#0072B2", "#E69F00", "#009E73", "#D55E00",
                                   "#CC79A7", "#56B4E9", "#F0E442", "#000000"};
  return kPalette[index % 8];
}

std::string svg_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string svg_document(double width, double height, const std::string& body) {
  return fmt::format("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" "
                     "viewBox=\"0 0 {} {}\" font-family=\"sans-serif\">\n"
                     "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n{}</svg>\n",
                     width, height, width, height, body);
}

namespace {

// The width and height attributes of an SVG document's root element.
std::pair<double, double> svg_size(const std::string& document) {
  const auto attribute = [&](const std::string& name) {
    const auto at = document.find(" " + name + "=\"");
    if (at == std::string::npos) throw std::logic_error("SVG document without a " + name);
    return std::stod(document.substr(at + name.size() + 3));
  };
  return {attribute("width"), attribute("height")};
}

}  // namespace

std::string svg_stack_vertically(const std::vector<std::string>& documents) {
  double width = 0.0, height = 0.0;
  std::string body;
  for (const auto& document : documents) {
    if (document.rfind("<svg ", 0) != 0) throw std::logic_error("not an SVG document");
    const auto [panel_width, panel_height] = svg_size(document);
    body += fmt::format("<svg x=\"0\" y=\"{}\" {}", height, document.substr(5));
    width = std::max(width, panel_width);
    height += panel_height;
  }
  return svg_document(width, height, body);
}

}  // namespace attnlab::analysis
