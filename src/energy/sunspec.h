// Reading the AC power of a SunSpec inverter over Modbus TCP (libmodbus): find the SunSpec map
// ("SunS" at 40000, 0 or 50000), walk its models to the inverter model (101, 102 or 103), and
// read W with its scale factor W_SF.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace greenshift::energy {

struct SunSpecOptions {
  std::string host = "127.0.0.1";
  int port = 502;
  int unit_id = 1;
  int timeout_ms = 2000;
};

struct InverterPower {
  int model = 0;       // 101 (single phase), 102 (split phase) or 103 (three phase)
  double power_w = 0;  // W x 10^W_SF
  int base_register = 0;
};

// Pure: the AC power from the registers of an inverter model block (starting with its ID and
// length). Errors for a block too short, or W / W_SF marked "not implemented" (0x8000).
Result<InverterPower> DecodeInverterModel(const std::vector<uint16_t>& block);

// Connects, finds the inverter model and reads its power.
Result<InverterPower> ReadSunSpecPower(const SunSpecOptions& options);

}  // namespace greenshift::energy
