// greenshift vm start | list | stop
#include <cstdio>
#include <iostream>

#include "cli/context.h"
#include "lab/disk_check.h"
#include "lab/experiment.h"
#include "lab/guest.h"
#include "lab/lab.h"
#include "lab/libvirt_hosts.h"
#include "lab/storage.h"

namespace greenshift::cli {

void AddVmCommands(CLI::App& app, Context& context) {
  CLI::App* vm_cmd = app.add_subcommand("vm", "start, list and stop VMs");
  vm_cmd->require_subcommand(1);

  struct StartOptions {
    std::string name, site, ip;
    int memory_mib = 256;
    int dirty_mb_s = 0;
    int dirty_size_mib = -1;  // -1: 64 when the guest dirties memory, else none
    int disk_gib = 0;
    std::string storage = "copy";
    double disk_mb_s = 0;
    int disk_fill_mib = 0;
    bool no_wait = false;
  };
  auto start = std::make_shared<StartOptions>();
  CLI::App* start_cmd = vm_cmd->add_subcommand("start", "start a VM on a site");
  start_cmd->add_option("name", start->name, "VM name (a-z, 0-9, '-', up to 12)")->required();
  start_cmd->add_option("--site", start->site, "site to start it on")->required();
  start_cmd->add_option("--memory", start->memory_mib, "memory in MiB")->capture_default_str();
  start_cmd->add_option("--dirty-mb-s", start->dirty_mb_s, "memory the guest rewrites, MB/s")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  start_cmd
      ->add_option("--dirty-size-mib", start->dirty_size_mib,
                   "non-zero memory the guest holds and rewrites (default: 64 with "
                   "--dirty-mb-s, else 0)")
      ->check(CLI::NonNegativeNumber);
  start_cmd->add_option("--disk-gib", start->disk_gib, "a virtio-blk disk of this size (0: none)")
      ->check(CLI::Range(0, 16384))
      ->capture_default_str();
  start_cmd
      ->add_option("--storage", start->storage,
                   "where the disk lives: copy (on the VM's site, copied along when it moves) "
                   "or shared on the lab's storage (lab up --storage) over nbd, iscsi or nfs")
      ->check(CLI::IsMember({"copy", "nbd", "iscsi", "nfs"}))
      ->capture_default_str();
  start_cmd
      ->add_option("--disk-mb-s", start->disk_mb_s,
                   "checksummed records the guest writes to its disk, MB/s (needs --disk-gib)")
      ->check(CLI::Range(0.0, 1000.0))
      ->capture_default_str();
  start_cmd
      ->add_option("--disk-fill-mib", start->disk_fill_mib,
                   "records written at full speed first, MiB (a disk that holds data)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  start_cmd->add_option("--ip", start->ip, "address (default: the next free in 198.18.128.0/17)");
  start_cmd->add_flag("--no-wait", start->no_wait, "return before the guest answers HTTP");
  start_cmd->callback([&context, start]() {
    Result<lab::LabState> state = context.OpenLab();
    if (!state.ok()) return context.Fail(state.error());
    lab::LabDriver lab_driver = context.DriverFor(*state);
    auto& driver = lab_driver.driver;
    lab::GuestSpec guest;
    guest.vm.name = start->name;
    guest.vm.memory_mib = start->memory_mib;
    guest.vm.disk_gib = start->disk_gib;
    guest.storage = start->storage;
    guest.disk_mb_s = start->disk_mb_s;
    guest.disk_fill_mib = start->disk_fill_mib;
    guest.dirty_mb_s = start->dirty_mb_s;
    guest.dirty_size_mib =
        start->dirty_size_mib >= 0 ? start->dirty_size_mib : (start->dirty_mb_s > 0 ? 64 : 0);
    guest.mac = lab::MacFor(state->name, guest.vm.name);
    Result<std::vector<hypervisor::VmInfo>> existing = driver->ListVms();
    if (!existing.ok()) return context.Fail(existing.error());
    std::vector<std::string> used;
    for (const hypervisor::VmInfo& vm : *existing)
      used.push_back(lab::HostAddress(lab::GuestOf(vm).ip_cidr));
    if (start->ip.empty()) {
      Result<std::string> ip = lab::NextVmAddress(used);
      if (!ip.ok()) return context.Fail(ip.error());
      start->ip = *ip;
    }
    for (const std::string& taken : used) {
      if (taken == start->ip)
        return context.Fail("address " + start->ip + " is taken by another VM");
    }
    if (start->ip.rfind("198.18.", 0) != 0 || start->ip.find('/') != std::string::npos) {
      return context.Fail("--ip must be an address in 198.18.0.0/16 without a prefix, got '" +
                          start->ip + "'");
    }
    guest.ip_cidr = start->ip + "/16";
    Status started = lab_driver.start(guest, start->site);
    if (!started.ok()) return context.Fail(started.message());
    if (!start->no_wait) {
      Result<std::string> answer = lab::WaitForGuest(*state, start->ip, std::chrono::seconds(90));
      if (!answer.ok())
        return context.Fail(answer.error() + " (the VM is running; see its console log in " +
                            state->run_dir + "/qemu/)");
    }
    std::printf("VM %s runs on site %s at %s\n", guest.vm.name.c_str(), start->site.c_str(),
                start->ip.c_str());
  });

  auto json_output = std::make_shared<bool>(false);
  CLI::App* list_cmd = vm_cmd->add_subcommand("list", "VMs, where they run and in what state");
  list_cmd->add_flag("--json", *json_output, "print JSON");
  list_cmd->callback([&context, json_output]() {
    Result<lab::LabState> state = context.OpenLab();
    if (!state.ok()) return context.Fail(state.error());
    Result<std::vector<hypervisor::VmInfo>> vms = context.DriverFor(*state).driver->ListVms();
    if (!vms.ok()) return context.Fail(vms.error());
    nlohmann::json list = nlohmann::json::array();
    for (const hypervisor::VmInfo& vm : *vms) {
      const lab::GuestSpec guest = lab::GuestOf(vm);
      list.push_back({{"name", vm.spec.name},
                      {"site", vm.host},
                      {"state", hypervisor::VmStateName(vm.state)},
                      {"ip", lab::HostAddress(guest.ip_cidr)},
                      {"mac", guest.mac},
                      {"memory_mib", vm.spec.memory_mib},
                      {"disk_gib", vm.spec.disk_gib},
                      {"disk_mb_s", guest.disk_mb_s},
                      {"dirty_mb_s", guest.dirty_mb_s},
                      {"pid", vm.pid},
                      {"copies", vm.copies},
                      {"unanswered", vm.unanswered}});
    }
    if (*json_output) {
      std::cout << list.dump(2) << "\n";
      return;
    }
    std::printf("%-12s %-12s %-10s %-15s %8s %10s\n", "NAME", "SITE", "STATE", "IP", "MEM_MIB",
                "DIRTY_MB_S");
    for (const nlohmann::json& vm : list) {
      std::printf("%-12s %-12s %-10s %-15s %8d %10d\n", vm["name"].get<std::string>().c_str(),
                  vm["site"].get<std::string>().c_str(), vm["state"].get<std::string>().c_str(),
                  vm["ip"].get<std::string>().c_str(), vm["memory_mib"].get<int>(),
                  vm["dirty_mb_s"].get<int>());
      if (const std::string why = vm["unanswered"]; !why.empty())
        std::printf("  %s: %s\n", vm["name"].get<std::string>().c_str(), why.c_str());
    }
  });

  auto stop_name = std::make_shared<std::string>();
  CLI::App* stop_cmd = vm_cmd->add_subcommand("stop", "stop a VM and forget it");
  stop_cmd->add_option("name", *stop_name, "VM name")->required();
  stop_cmd->callback([&context, stop_name]() {
    Result<lab::LabState> state = context.OpenLab();
    if (!state.ok()) return context.Fail(state.error());
    lab::LabDriver lab_driver = context.DriverFor(*state);
    Result<hypervisor::VmInfo> vm = lab_driver.driver->GetVm(*stop_name);
    Status stopped = lab_driver.driver->StopVm(*stop_name);
    if (!stopped.ok()) return context.Fail(stopped.message());
    // A disk on the lab's shared storage goes with the VM, as a local one does.
    const std::string storage = vm.ok() ? lab::GuestOf(*vm).storage : "";
    if (lab::IsSharedStorage(storage) && state->has_storage)
      lab::RemoveSharedDisk(*state, *stop_name, storage);
    // Under libvirt the driver stops the domain and leaves its disk (an operator's VM keeps its
    // disk); the lab's guest's disk goes with it, as under qemu.
    if (stopped.ok() && state->hypervisor == "libvirt")
      lab::RemoveLibvirtGuestDisk(*state, *stop_name);
    std::printf("VM %s stopped\n", stop_name->c_str());
  });

  struct RecoverOptions {
    std::string name;
    double timeout_s = 30;
  };
  auto recover = std::make_shared<RecoverOptions>();
  CLI::App* recover_cmd = vm_cmd->add_subcommand(
      "recover",
      "settle a VM whose migration was left behind by a killed `greenshift migrate`: keep the "
      "one copy that runs it, end the other");
  recover_cmd->add_option("name", recover->name, "VM name")->required();
  recover_cmd
      ->add_option("--timeout-s", recover->timeout_s,
                   "how long a migration that still runs may take to finish first")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  recover_cmd->callback([&context, recover]() {
    Result<lab::LabState> state = context.OpenLab();
    if (!state.ok()) return context.Fail(state.error());
    Result<hypervisor::VmInfo> settled = context.DriverFor(*state).driver->Recover(
        recover->name, std::chrono::milliseconds(static_cast<int64_t>(recover->timeout_s * 1000)));
    if (!settled.ok()) return context.Fail(settled.error());
    std::printf("VM %s runs on %s (%s)\n", recover->name.c_str(), settled->host.c_str(),
                hypervisor::VmStateName(settled->state));
  });

  struct VerifyOptions {
    std::string name;
    bool json = false;
  };
  auto verify = std::make_shared<VerifyOptions>();
  CLI::App* verify_cmd = vm_cmd->add_subcommand(
      "verify-disk",
      "check that every record the guest's disk workload acknowledged is on its disk, whole");
  verify_cmd->add_option("name", verify->name, "VM name")->required();
  verify_cmd->add_flag("--json", verify->json, "print the report as JSON");
  verify_cmd->callback([&context, verify]() {
    Result<lab::LabState> state = context.OpenLab();
    if (!state.ok()) return context.Fail(state.error());
    Result<hypervisor::VmInfo> vm = context.DriverFor(*state).driver->GetVm(verify->name);
    if (!vm.ok()) return context.Fail(vm.error());
    if (vm->spec.disk_gib <= 0) return context.Fail("VM " + verify->name + " has no disk");
    // First what the guest acknowledged, then the disk: every record acknowledged by then must be
    // on the disk when it is read.
    const std::string ip = lab::HostAddress(lab::GuestOf(*vm).ip_cidr);
    Result<std::string> status = lab::WaitForGuest(*state, ip, std::chrono::seconds(10));
    if (!status.ok()) return context.Fail(status.error());
    unsigned long long acked = 0, run = 0;
    const size_t at = status->find("disk_acked=");
    if (at == std::string::npos ||
        std::sscanf(status->c_str() + at, "disk_acked=%llu disk_run=%llx", &acked, &run) != 2) {
      return context.Fail("VM " + verify->name + " did not say which disk records it wrote: '" +
                          *status + "'");
    }
    const std::string storage = lab::GuestOf(*vm).storage;
    // A disk on its site: the same image path under qemu and libvirt (libvirt_hosts.h).
    const std::string image = lab::IsSharedStorage(storage)
                                  ? lab::SharedImagePath(*state, vm->spec.name, storage)
                                  : qemu::DiskPath(lab::DriverConfigFor(*state, "", context.accel),
                                                   vm->spec.name, vm->host);
    Result<lab::DiskReport> report = lab::CheckImage(image, acked, run);
    if (!report.ok()) return context.Fail(report.error());
    if (verify->json) {
      nlohmann::json j = lab::ToJson(*report);
      j["vm"] = verify->name;
      j["image"] = image;
      std::cout << j.dump(2) << "\n";
    } else {
      std::printf(
          "VM %s, disk %s: %llu acknowledged records checked, %llu present, %llu missing, "
          "%llu torn (newest on disk %llu)\n",
          verify->name.c_str(), image.c_str(), static_cast<unsigned long long>(report->checked),
          static_cast<unsigned long long>(report->present),
          static_cast<unsigned long long>(report->missing),
          static_cast<unsigned long long>(report->torn),
          static_cast<unsigned long long>(report->highest));
    }
    if (!report->Clean()) context.Fail("records were lost on the disk of VM " + verify->name);
  });

  struct DirtyRateOptions {
    std::string name;
    int seconds = 1;
    bool json = false;
  };
  auto rate = std::make_shared<DirtyRateOptions>();
  CLI::App* rate_cmd = vm_cmd->add_subcommand(
      "dirty-rate", "measure how fast a running VM dirties its memory (QEMU page sampling)");
  rate_cmd->add_option("name", rate->name, "VM name")->required();
  rate_cmd->add_option("--seconds", rate->seconds, "measurement time")
      ->check(CLI::Range(1, 60))
      ->capture_default_str();
  rate_cmd->add_flag("--json", rate->json, "print as JSON");
  rate_cmd->callback([&context, rate]() {
    Result<lab::LabState> state = context.OpenLab();
    if (!state.ok()) return context.Fail(state.error());
    lab::LabDriver lab_driver = context.DriverFor(*state);
    auto& driver = lab_driver.driver;
    Result<double> bytes_s = driver->MeasureDirtyRate(rate->name, rate->seconds);
    if (!bytes_s.ok()) return context.Fail(bytes_s.error());
    if (rate->json) {
      std::cout << nlohmann::json{{"vm", rate->name},
                                  {"seconds", rate->seconds},
                                  {"dirty_rate_bytes_s", *bytes_s}}
                       .dump()
                << "\n";
    } else {
      std::printf("VM %s dirties %.1f MB/s\n", rate->name.c_str(), *bytes_s / 1e6);
    }
  });
}

}  // namespace greenshift::cli
