//! `--metrics-port`: the Prometheus endpoint of a real master and replica,
//! scraped over HTTP; the values agree with INFO.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{free_port, Flavor, ServerProcess};

fn scrape(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the metrics port");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn scrape_when_ready(port: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return scrape(port, "/metrics");
        }
        assert!(Instant::now() < deadline, "metrics port never opened");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn master_and_replica_export_redis_exporter_metrics() {
    let (mport, rport) = (free_port(), free_port());
    let master = ServerProcess::start(Flavor::Ours, &["--metrics-port", &mport.to_string()]);
    let mut c = master.client();
    for i in 0..5 {
        c.cmd(&["SET", &format!("k{i}"), "v"]).unwrap();
    }
    let text = scrape_when_ready(mport);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("redis_up 1\n"), "{text}");
    assert!(
        text.contains("redis_instance_info{role=\"master\""),
        "{text}"
    );
    assert!(text.contains("redis_db_keys{db=\"db0\"} 5\n"), "{text}");

    let replica = ServerProcess::start(
        Flavor::Ours,
        &[
            "--metrics-port",
            &rport.to_string(),
            "--replicaof",
            "127.0.0.1",
            &master.port.to_string(),
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let m = scrape_when_ready(mport);
        let r = scrape_when_ready(rport);
        if m.contains("redis_connected_slaves 1\n") && r.contains("redis_master_link_up 1\n") {
            assert!(r.contains("redis_instance_info{role=\"slave\""), "{r}");
            assert!(r.contains("redis_db_keys{db=\"db0\"} 5\n"), "{r}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "replica never showed up:\n{m}\n{r}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(scrape(mport, "/nothing").starts_with("HTTP/1.1 404"));
    drop(replica);
}

#[test]
fn a_bad_metrics_port_is_refused_at_start() {
    let out = std::process::Command::new(support::our_binary())
        .args(["--metrics-port", "notaport"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a valid port"));
}
