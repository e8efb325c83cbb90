//! Cores and pinned executors.
//!
//! `core_affinity::get_core_ids()` reports the calling thread's affinity mask, not the
//! machine: once any thread is pinned, asking again from it returns one core. So the mask is
//! read once, by `main`, before anything is pinned, and passed down.
//!
//! Every executor gets `io_memory(1 MiB)`: glommio's default io_uring buffer area is locked
//! memory, and 1 MiB per executor stays under the 8 MiB memlock limit that non-root users
//! have by default.

use glommio::{LocalExecutorBuilder, Placement};

/// Locked memory given to each executor's io_uring buffers, in bytes.
pub const EXECUTOR_IO_MEMORY_BYTES: usize = 1 << 20;

/// The cores this process may run on. Call once, before pinning anything.
pub fn available_cores() -> Vec<usize> {
    let mut cores: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect();
    cores.sort_unstable();
    cores
}

/// A builder for an executor named `name`, pinned to `core` (or free to move when `None`).
pub fn executor(name: &str, core: Option<usize>) -> LocalExecutorBuilder {
    let placement = match core {
        Some(c) => Placement::Fixed(c),
        None => Placement::Unbound,
    };
    LocalExecutorBuilder::new(placement)
        .name(name)
        .io_memory(EXECUTOR_IO_MEMORY_BYTES)
}

/// Fail if another process already serves `addr`. Shards bind with SO_REUSEPORT so that they
/// can share a port, and the kernel would let a second process of the same user share it too,
/// splitting the connections between the two without a word. A plain bind cannot tell (it is
/// also refused by the TIME_WAIT leftovers of a killed predecessor, which must not prevent a
/// restart), so this asks the question directly: does anything accept a connection there?
/// Port 0 is always free.
pub fn check_port_free(addr: std::net::SocketAddr) -> Result<(), String> {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
    if addr.port() == 0 {
        return Ok(());
    }
    let probe = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    };
    match TcpStream::connect_timeout(&probe, std::time::Duration::from_millis(200)) {
        Ok(_) => Err(format!(
            "cannot listen on {addr}: another process is already serving that port"
        )),
        Err(_) => Ok(()),
    }
}

/// Pin the calling (non-glommio) thread to `core`; false if that was not possible.
pub fn pin_current_thread(core: Option<usize>) -> bool {
    core.is_some_and(|id| core_affinity::set_for_current(core_affinity::CoreId { id }))
}

/// The core for shard `i` of `n` given the available `cores`: round-robin, so `n` larger than
/// the core count still works (shards then share cores), and `None` when no mask is known.
pub fn core_for(cores: &[usize], i: usize) -> Option<usize> {
    (!cores.is_empty()).then(|| cores[i % cores.len()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_wrap_around_the_cores() {
        assert_eq!(core_for(&[2, 5], 0), Some(2));
        assert_eq!(core_for(&[2, 5], 1), Some(5));
        assert_eq!(core_for(&[2, 5], 2), Some(2));
        assert_eq!(core_for(&[], 0), None);
    }

    #[test]
    fn a_port_in_use_is_not_free() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = held.local_addr().unwrap();
        assert!(check_port_free(addr)
            .unwrap_err()
            .contains(&addr.to_string()));
        let any = std::net::SocketAddr::new([0, 0, 0, 0].into(), addr.port());
        assert!(
            check_port_free(any).is_err(),
            "0.0.0.0 is probed on loopback"
        );
        drop(held);
        assert_eq!(check_port_free(addr), Ok(()));
        assert_eq!(check_port_free("127.0.0.1:0".parse().unwrap()), Ok(()));
    }

    #[test]
    fn a_pinned_executor_runs() {
        let cores = available_cores();
        assert!(!cores.is_empty(), "this process has an affinity mask");
        let h = executor("test", core_for(&cores, 0))
            .spawn(|| async { 40 + 2 })
            .expect("executor starts");
        assert_eq!(h.join().expect("executor finishes"), 42);
    }
}
