// The dashboard the service serves at /: per-site green power (measured and forecast) over time,
// where each VM runs, the current plan, and the migration history with each one's measured
// downtime. It polls the REST API every 2 s. Charts are drawn by Chart.js from Debian's
// libjs-chart.js, served at /static/chart.js.
#pragma once

#include <string>

#include "core/status.h"

namespace greenshift::api {

const std::string& DashboardHtml();
// Chart.js as Debian installs it (/usr/share/javascript/chart.js/chart.min.js).
Result<std::string> ChartJs();

}  // namespace greenshift::api
