// Text for XML and HTML: what greenshift writes into libvirt's domain XML, SVG charts and HTML
// reports is escaped once, here.
#pragma once

#include <string>

namespace greenshift {

// `text` escaped for an XML (or HTML) attribute value or text node: & < > " ' become entities.
std::string XmlEscape(const std::string& text);

}  // namespace greenshift
