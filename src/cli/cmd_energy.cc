// greenshift energy wind: the energy a real turbine yields from measured weather.
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/context.h"
#include "core/files.h"
#include "energy/wind.h"

namespace greenshift::cli {

void AddEnergyCommands(CLI::App& app, Context& context) {
  CLI::App* energy_cmd = app.add_subcommand("energy", "green power models on real data");
  energy_cmd->require_subcommand(1);

  struct WindOptions {
    std::string weather, curves, turbine = "E-126/4200";
    double hub_height_m = 135;
    bool json = false;
  };
  auto wind = std::make_shared<WindOptions>();
  CLI::App* wind_cmd = energy_cmd->add_subcommand(
      "wind", "yearly energy and capacity factor of a turbine from windpowerlib-style weather");
  wind_cmd->add_option("--weather", wind->weather, "weather CSV (windpowerlib layout)")->required();
  wind_cmd->add_option("--curves", wind->curves, "power_curves.csv (Open Energy Database)")
      ->required();
  wind_cmd->add_option("--turbine", wind->turbine, "turbine type")->capture_default_str();
  wind_cmd->add_option("--hub-height", wind->hub_height_m, "hub height, m")->capture_default_str();
  wind_cmd->add_flag("--json", wind->json, "print as JSON");
  wind_cmd->callback([&context, wind]() {
    Result<std::string> curves_text = ReadFile(wind->curves);
    if (!curves_text.ok()) return context.Fail(curves_text.error());
    Result<std::vector<energy::PowerCurve>> curves =
        energy::ParsePowerCurves(*curves_text, wind->curves);
    if (!curves.ok()) return context.Fail(curves.error());
    Result<energy::PowerCurve> curve = energy::FindPowerCurve(*curves, wind->turbine);
    if (!curve.ok()) return context.Fail(curve.error());
    Result<std::string> weather_text = ReadFile(wind->weather);
    if (!weather_text.ok()) return context.Fail(weather_text.error());
    Result<energy::WindWeather> weather =
        energy::ParseWindpowerlibWeather(*weather_text, wind->weather);
    if (!weather.ok()) return context.Fail(weather.error());
    Result<energy::WindYield> yield =
        energy::ComputeWindYield(*curve, *weather, wind->hub_height_m);
    if (!yield.ok()) return context.Fail(yield.error());
    if (wind->json) {
      std::cout << nlohmann::json{{"turbine", curve->turbine_type},
                                  {"rated_power_w", curve->RatedPowerW()},
                                  {"hub_height_m", wind->hub_height_m},
                                  {"measured_height_m", yield->measured_height_m},
                                  {"hours", yield->hours},
                                  {"mean_hub_speed_m_s", yield->mean_hub_speed_m_s},
                                  {"energy_kwh", yield->energy_kwh},
                                  {"capacity_factor", yield->capacity_factor}}
                       .dump(2)
                << "\n";
      return;
    }
    std::printf("turbine          %s (%.0f kW rated, cut-in %.1f m/s, cut-out %.1f m/s)\n",
                curve->turbine_type.c_str(), curve->RatedPowerW() / 1000, curve->CutInSpeedMs(),
                curve->CutOutSpeedMs());
    std::printf("hub height       %.0f m (wind measured at %.0f m, log profile)\n",
                wind->hub_height_m, yield->measured_height_m);
    std::printf("period           %.0f hours\n", yield->hours);
    std::printf("mean hub speed   %.2f m/s\n", yield->mean_hub_speed_m_s);
    std::printf("energy           %.1f MWh\n", yield->energy_kwh / 1000);
    std::printf("capacity factor  %.1f %%\n", yield->capacity_factor * 100);
  });
}

}  // namespace greenshift::cli
