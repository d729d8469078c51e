//! The latching rules of [`RtpDemux`] on a virtual clock.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use super::*;

const NAT: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));
const OTHER: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 9));

fn addr(ip: IpAddr, port: u16) -> SocketAddr {
    SocketAddr::new(ip, port)
}

fn private(port: u16) -> SocketAddr {
    addr(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 20)), port)
}

/// Every leg takes every datagram.
fn take(_: u32) -> bool {
    true
}

#[test]
fn a_participant_without_a_latch_ip_hears_only_its_signalled_address() {
    let now = Instant::now();
    let mut demux = RtpDemux::new();
    let _ = demux.insert(1, addr(NAT, 4000), None);
    assert_eq!(
        demux.handle_datagram(now, addr(NAT, 4000), take),
        Some(Routed::Owner(1))
    );
    assert_eq!(demux.handle_datagram(now, addr(NAT, 4002), take), None);
    assert_eq!(demux.remote(1), Some(addr(NAT, 4000)));
}

#[test]
fn the_first_source_from_the_latch_ip_becomes_the_address_both_ways() {
    let now = Instant::now();
    let mut demux = RtpDemux::new();
    let _ = demux.insert(1, private(4000), Some(NAT));
    assert_eq!(demux.handle_datagram(now, addr(OTHER, 4000), take), None);
    assert_eq!(
        demux.handle_datagram(now, addr(NAT, 31000), take),
        Some(Routed::Latched(1))
    );
    assert_eq!(demux.remote(1), Some(addr(NAT, 31000)));
    assert_eq!(
        demux.handle_datagram(now, addr(NAT, 31000), take),
        Some(Routed::Owner(1))
    );
    // The signalled address is released.
    assert_eq!(demux.handle_datagram(now, private(4000), take), None);
}

#[test]
fn a_participant_heard_at_its_signalled_address_does_not_latch() {
    let start = Instant::now();
    let mut demux = RtpDemux::new();
    let _ = demux.insert(1, addr(NAT, 4000), Some(NAT));
    assert_eq!(
        demux.handle_datagram(start, addr(NAT, 4000), take),
        Some(Routed::Owner(1))
    );
    let soon = start + Duration::from_millis(1500);
    assert_eq!(demux.handle_datagram(soon, addr(NAT, 5000), take), None);
    assert_eq!(demux.remote(1), Some(addr(NAT, 4000)));
}

#[test]
fn a_nat_rebinding_relatches_only_after_two_quiet_seconds() {
    let start = Instant::now();
    let mut demux = RtpDemux::new();
    let _ = demux.insert(1, private(4000), Some(NAT));
    assert_eq!(
        demux.handle_datagram(start, addr(NAT, 31000), take),
        Some(Routed::Latched(1))
    );
    // The old binding is alive: a second stream from the NAT takes nothing over.
    let alive = start + Duration::from_millis(1000);
    assert_eq!(
        demux.handle_datagram(alive, addr(NAT, 31000), take),
        Some(Routed::Owner(1))
    );
    let early = alive + REBIND_AFTER - Duration::from_millis(1);
    assert_eq!(demux.handle_datagram(early, addr(NAT, 32000), take), None);
    let quiet = alive + REBIND_AFTER;
    assert_eq!(
        demux.handle_datagram(quiet, addr(NAT, 32000), take),
        Some(Routed::Latched(1))
    );
    assert_eq!(demux.remote(1), Some(addr(NAT, 32000)));
    assert_eq!(demux.handle_datagram(quiet, addr(NAT, 31000), take), None);
}

#[test]
fn two_waiting_on_one_ip_prefer_the_signalled_port_then_the_oldest() {
    let now = Instant::now();
    let mut demux = RtpDemux::new();
    let _ = demux.insert(1, private(4000), Some(NAT));
    let _ = demux.insert(2, private(4002), Some(NAT));
    let _ = demux.insert(3, private(4004), Some(NAT));
    // A source on participant 2's port goes to 2, though 1 is older.
    assert_eq!(
        demux.handle_datagram(now, addr(NAT, 4002), take),
        Some(Routed::Latched(2))
    );
    // Any other port: the oldest still waiting.
    assert_eq!(
        demux.handle_datagram(now, addr(NAT, 40000), take),
        Some(Routed::Latched(1))
    );
    assert_eq!(
        demux.handle_datagram(now, addr(NAT, 40001), take),
        Some(Routed::Latched(3))
    );
    // Nobody is left waiting, and no owned address changes hands.
    assert_eq!(demux.handle_datagram(now, addr(NAT, 40002), take), None);
    assert_eq!(demux.remote(2), Some(addr(NAT, 4002)));
    assert_eq!(demux.remote(1), Some(addr(NAT, 40000)));
    assert_eq!(demux.remote(3), Some(addr(NAT, 40001)));
}

#[test]
fn one_never_heard_goes_before_one_rebinding() {
    let start = Instant::now();
    let mut demux = RtpDemux::new();
    let _ = demux.insert(1, private(4000), Some(NAT));
    let _ = demux.handle_datagram(start, addr(NAT, 31000), take);
    let _ = demux.insert(2, private(4002), Some(NAT));
    let later = start + REBIND_AFTER * 2;
    assert_eq!(
        demux.handle_datagram(later, addr(NAT, 32000), take),
        Some(Routed::Latched(2))
    );
    assert_eq!(demux.remote(1), Some(addr(NAT, 31000)));
}

#[test]
fn a_datagram_the_leg_refuses_latches_nobody_or_the_next_candidate() {
    let now = Instant::now();
    let mut demux = RtpDemux::new();
    let _ = demux.insert(1, private(4000), Some(NAT));
    let _ = demux.insert(2, private(4002), Some(NAT));
    assert_eq!(demux.handle_datagram(now, addr(NAT, 5000), |_| false), None);
    assert_eq!(demux.remote(1), Some(private(4000)));
    // Participant 1 negotiated another codec: 2 takes it.
    assert_eq!(
        demux.handle_datagram(now, addr(NAT, 5000), |k| k == 2),
        Some(Routed::Latched(2))
    );
    // A refused datagram from the owner's address does not count as heard.
    let _ = demux.insert(3, addr(NAT, 6000), Some(NAT));
    assert_eq!(demux.handle_datagram(now, addr(NAT, 6000), |_| false), None);
    assert_eq!(
        demux.handle_datagram(now, addr(NAT, 6001), |k| k == 3),
        Some(Routed::Latched(3))
    );
}

#[test]
fn an_address_taken_over_is_not_released_by_its_old_owner() {
    let now = Instant::now();
    let mut demux = RtpDemux::new();
    let remote = addr(NAT, 4000);
    assert_eq!(demux.insert(1, remote, None), None);
    assert_eq!(demux.insert(2, remote, None), Some(1));
    demux.remove(1);
    assert_eq!(
        demux.handle_datagram(now, remote, take),
        Some(Routed::Owner(2))
    );
    demux.remove(2);
    assert_eq!(demux.handle_datagram(now, remote, take), None);
    assert!(demux.is_empty());
}

#[test]
fn a_removed_participant_waits_no_longer() {
    let now = Instant::now();
    let mut demux = RtpDemux::new();
    let _ = demux.insert(1, private(4000), Some(NAT));
    demux.remove(1);
    assert_eq!(demux.handle_datagram(now, addr(NAT, 5000), take), None);
    assert_eq!(demux.len(), 0);
}
