//! Checks the netns harness itself: the restart case leaves a TIME_WAIT that
//! `ss` sees inside the namespace and that blocks a plain bind.
mod common;

use common::{sockets, Netns};

#[test]
fn restart_case_leaves_time_wait_that_blocks_plain_bind() {
    require_netns!();
    let ns = Netns::new();
    let addr = "127.0.0.1:9527".parse().unwrap();
    let client = ns.run(|| sockets::server_side_time_wait(addr, sockets::Opts::default()));
    let ss = ns.ss(&["-tanH", "state", "time-wait"]);
    assert!(
        ss.contains(&format!("127.0.0.1:9527 127.0.0.1:{}", client.port()))
            || ss.contains(&format!("127.0.0.1:9527   127.0.0.1:{}", client.port()))
            || ss
                .split_whitespace()
                .any(|w| w == format!("127.0.0.1:{}", client.port())),
        "ss shows no TIME_WAIT for 9527: {ss}"
    );
    assert!(!ns.run(|| sockets::kernel_allows(addr, sockets::Opts::default())));
    let both_reuse = sockets::Opts {
        reuseaddr: true,
        ..Default::default()
    };
    // The old socket had no SO_REUSEADDR: even a bind that sets it is refused.
    assert!(!ns.run(|| sockets::kernel_allows(addr, both_reuse)));
}
