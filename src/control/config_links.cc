#include "control/config_parts.h"

#include <optional>
#include <string>
#include <vector>

namespace greenshift::control {

Status ReadLinks(const Table& top, ServiceConfig& c) {
  std::vector<Table> links;
  GS_ASSIGN(links, top.Tables("links"));
  for (const Table& t : links) {
    GS_RETURN_IF_ERROR(t.CheckKnown({"a", "b", "mbit", "rtt_ms", "network"}));
    LinkConfig link;
    GS_ASSIGN(link.a, t.String("a", std::nullopt));
    GS_ASSIGN(link.b, t.String("b", std::nullopt));
    if (!c.FindSite(link.a)) return t.Error("a", "no site is named '" + link.a + "'");
    if (!c.FindSite(link.b)) return t.Error("b", "no site is named '" + link.b + "'");
    if (link.a == link.b)
      return t.Error("b", "a link joins two different sites, both are '" + link.a + "'");
    if (c.FindLink(link.a, link.b))
      return t.Error("b",
                     "the link between '" + link.a + "' and '" + link.b + "' is defined twice");
    GS_ASSIGN(link.mbit, t.Number("mbit", c.link_mbit, 0.001, 1e7));
    GS_ASSIGN(link.rtt_ms, t.Number("rtt_ms", 0, 0, 20000));
    GS_ASSIGN(link.network, t.String("network", LinkConfig{}.network));
    if (link.network != "l2" && link.network != "bgp" && link.network != "vxlan")
      return t.Error("network",
                     "must be \"l2\", \"bgp\" or \"vxlan\", got \"" + link.network + "\"");
    c.links.push_back(std::move(link));
  }
  return Status::Ok();
}

}  // namespace greenshift::control
