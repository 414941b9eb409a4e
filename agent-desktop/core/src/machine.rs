//! Facts about this machine for registration, and the figures each heartbeat carries.

use sessionforge_shared::protocol::MachineInfo;
use sysinfo::{MemoryRefreshKind, RefreshKind, System};

/// Hostname, OS, architecture, CPUs, memory and agent version.
pub fn info() -> MachineInfo {
    let sys = System::new_with_specifics(RefreshKind::nothing().with_memory(MemoryRefreshKind::nothing().with_ram()));
    let hostname = System::host_name().filter(|h| !h.trim().is_empty()).unwrap_or_else(|| "unknown-host".into());
    MachineInfo {
        hostname,
        os: System::name().unwrap_or_else(|| std::env::consts::OS.to_string()),
        os_version: System::long_os_version().or_else(System::os_version).unwrap_or_default(),
        arch: std::env::consts::ARCH.to_string(),
        cpus: std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1),
        memory_bytes: sys.total_memory(),
        agent_version: crate::version::VERSION.to_string(),
    }
}

/// Samples load and memory for heartbeats.
#[derive(Debug)]
pub struct Sampler {
    sys: System,
}

/// One heartbeat's figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub load: f64,
    pub memory_used_bytes: u64,
    pub memory_total_bytes: u64,
}

impl Default for Sampler {
    fn default() -> Self {
        Self { sys: System::new() }
    }
}

impl Sampler {
    pub fn sample(&mut self) -> Sample {
        self.sys.refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
        Sample {
            load: System::load_average().one,
            memory_used_bytes: self.sys.used_memory(),
            memory_total_bytes: self.sys.total_memory(),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reports_real_facts() {
        let info = super::info();
        assert!(!info.hostname.is_empty());
        assert!(info.cpus >= 1);
        assert!(info.memory_bytes > 0);
        let sample = super::Sampler::default().sample();
        assert!(sample.memory_total_bytes >= sample.memory_used_bytes);
    }
}
