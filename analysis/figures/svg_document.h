// The pieces every SVG figure shares: text escaping, the palette, and the document wrapper.
#pragma once

#include <string>
#include <vector>

namespace attnlab::analysis {

std::string svg_escape(const std::string& text);
// A colour-blind-safe palette (Okabe-Ito), cycling after 8.
const char* svg_colour(std::size_t index);
// A standalone document of the given size with a white background.
std::string svg_document(double width, double height, const std::string& body);
// Documents made by svg_document (or any with width and height attributes) one above the other,
// as nested <svg> elements of one document.
std::string svg_stack_vertically(const std::vector<std::string>& documents);

}  // namespace attnlab::analysis
