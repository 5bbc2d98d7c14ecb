#include "energy/sunspec.h"

#include <modbus/modbus.h>

#include <cerrno>
#include <cmath>
#include <memory>

namespace greenshift::energy {

namespace {

constexpr uint16_t kNotImplemented = 0x8000;  // int16 "no value" and sunssf "no scale"
constexpr int kWOffset = 2 + 12;              // after ID and L: A, AphA..C, A_SF, PPVph.., V_SF, W
constexpr int kWsfOffset = 2 + 13;

struct Closer {
  void operator()(modbus_t* ctx) const {
    modbus_close(ctx);
    modbus_free(ctx);
  }
};

}  // namespace

Result<InverterPower> DecodeInverterModel(const std::vector<uint16_t>& block) {
  if (block.size() < 2) return Status::Error("SunSpec: empty model block");
  const int model = block[0];
  if (model != 101 && model != 102 && model != 103) {
    return Status::Error("SunSpec: model " + std::to_string(model) + " is not an inverter model");
  }
  if (block.size() < static_cast<size_t>(kWsfOffset + 1) || block[1] < 14) {
    return Status::Error("SunSpec: inverter model " + std::to_string(model) +
                         " block is too short");
  }
  if (block[kWOffset] == kNotImplemented || block[kWsfOffset] == kNotImplemented) {
    return Status::Error("SunSpec: inverter model " + std::to_string(model) +
                         " does not implement W / W_SF");
  }
  const int16_t watts = static_cast<int16_t>(block[kWOffset]);
  const int16_t scale = static_cast<int16_t>(block[kWsfOffset]);
  if (scale < -10 || scale > 10) {
    return Status::Error("SunSpec: W_SF " + std::to_string(scale) + " is out of range -10..10");
  }
  InverterPower power;
  power.model = model;
  power.power_w = watts * std::pow(10.0, scale);
  return power;
}

Result<InverterPower> ReadSunSpecPower(const SunSpecOptions& options) {
  const std::string where = options.host + ":" + std::to_string(options.port) + " unit " +
                            std::to_string(options.unit_id);
  std::unique_ptr<modbus_t, Closer> ctx(modbus_new_tcp(options.host.c_str(), options.port));
  if (!ctx) return Status::Error("Modbus " + where + ": cannot create a context");
  modbus_set_slave(ctx.get(), options.unit_id);
  modbus_set_response_timeout(ctx.get(), options.timeout_ms / 1000,
                              (options.timeout_ms % 1000) * 1000);
  if (modbus_connect(ctx.get()) != 0) {
    return Status::Error("Modbus " + where + ": cannot connect: " + modbus_strerror(errno));
  }
  auto read = [&](int address, int count, std::vector<uint16_t>& out) -> Status {
    out.assign(count, 0);
    if (modbus_read_registers(ctx.get(), address, count, out.data()) != count) {
      return Status::Error("Modbus " + where + ": reading " + std::to_string(count) +
                           " registers at " + std::to_string(address) + ": " +
                           modbus_strerror(errno));
    }
    return Status::Ok();
  };
  int base = -1;
  std::vector<uint16_t> marker;
  for (int candidate : {40000, 0, 50000}) {
    if (read(candidate, 2, marker).ok() && marker[0] == 0x5375 && marker[1] == 0x6e53) {
      base = candidate;
      break;
    }
  }
  if (base < 0) {
    return Status::Error("Modbus " + where + ": no SunSpec map ('SunS' at 40000, 0 or 50000)");
  }
  int address = base + 2;
  for (int models = 0; models < 64; ++models) {
    std::vector<uint16_t> header;
    GS_RETURN_IF_ERROR(read(address, 2, header));
    const int id = header[0], length = header[1];
    if (id == 0xFFFF) break;  // end of the map
    if (id == 101 || id == 102 || id == 103) {
      std::vector<uint16_t> body;
      GS_RETURN_IF_ERROR(read(address, std::min(length + 2, 125), body));
      Result<InverterPower> power = DecodeInverterModel(body);
      if (!power.ok()) return Status::Error("Modbus " + where + ": " + power.error());
      power->base_register = base;
      return power;
    }
    address += 2 + length;
  }
  return Status::Error("Modbus " + where + ": the SunSpec map has no inverter model (101/102/103)");
}

}  // namespace greenshift::energy
