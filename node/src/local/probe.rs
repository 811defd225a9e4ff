//! A small blocking RESP client for looking at a running set: one command
//! per connection is plenty for status polls once a second.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::resp::Frame;

/// How long any single probe may take before the instance counts as down.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// Sends one command to `host:port` and returns its reply (an error reply is
/// returned as `Frame::Error`, not as `Err`; `Err` means no reply at all).
pub fn call(host: &str, port: u16, args: &[&str]) -> Result<Frame, String> {
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("{host}:{port}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host}:{port}: no address"))?;
    let mut stream = TcpStream::connect_timeout(&addr, PROBE_TIMEOUT)
        .map_err(|e| format!("{host}:{port}: {e}"))?;
    stream
        .set_read_timeout(Some(PROBE_TIMEOUT))
        .and_then(|_| stream.set_write_timeout(Some(PROBE_TIMEOUT)))
        .map_err(|e| format!("{host}:{port}: {e}"))?;
    stream
        .write_all(&Frame::encode_command(args))
        .map_err(|e| format!("{host}:{port}: {e}"))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match Frame::parse(&buf) {
            Ok(Some((frame, _))) => return Ok(frame),
            Ok(None) => {}
            Err(e) => return Err(format!("{host}:{port}: {e}")),
        }
        let n = stream
            .read(&mut chunk)
            .map_err(|e| format!("{host}:{port}: {e}"))?;
        if n == 0 {
            return Err(format!("{host}:{port}: connection closed"));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// `INFO <section>` as text.
pub fn info(host: &str, port: u16, section: &str) -> Result<String, String> {
    match call(host, port, &["INFO", section])? {
        Frame::Bulk(b) | Frame::Verbatim(_, b) => Ok(String::from_utf8_lossy(&b).into_owned()),
        other => Err(format!("{host}:{port}: unexpected INFO reply {other:?}")),
    }
}

/// One `name:value` line of an INFO text.
pub fn info_field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k == name).then(|| v.trim_end())
    })
}

/// The master address one sentinel reports, if it knows the name.
pub fn sentinel_master(host: &str, port: u16, name: &str) -> Result<(String, u16), String> {
    let reply = call(host, port, &["SENTINEL", "get-master-addr-by-name", name])?;
    let items = reply
        .items()
        .ok_or_else(|| format!("sentinel {host}:{port} does not know master '{name}'"))?;
    let (Some(h), Some(p)) = (
        items.first().and_then(Frame::as_str),
        items.get(1).and_then(Frame::as_str),
    ) else {
        return Err(format!("sentinel {host}:{port}: malformed reply {reply:?}"));
    };
    let p = p
        .parse()
        .map_err(|_| format!("sentinel {host}:{port}: bad port '{p}'"))?;
    Ok((h.to_string(), p))
}

/// The master as the first reachable sentinel reports it (as clients
/// discover it).
pub fn discover_master(sentinels: &[(String, u16)], name: &str) -> Result<(String, u16), String> {
    let mut errors = Vec::new();
    for (h, p) in sentinels {
        match sentinel_master(h, *p, name) {
            Ok(addr) => return Ok(addr),
            Err(e) => errors.push(e),
        }
    }
    Err(format!("no sentinel answered: {}", errors.join("; ")))
}

/// A field of `SENTINEL master <name>` (a flat field/value array).
pub fn sentinel_master_field(
    host: &str,
    port: u16,
    name: &str,
    field: &str,
) -> Result<String, String> {
    let reply = call(host, port, &["SENTINEL", "master", name])?;
    if reply.is_error() {
        return Err(format!("sentinel {host}:{port}: {reply:?}"));
    }
    let items = reply.items().unwrap_or_default();
    items
        .chunks(2)
        .find(|kv| kv.first().and_then(Frame::as_str) == Some(field))
        .and_then(|kv| kv.get(1).and_then(Frame::as_str))
        .map(str::to_string)
        .ok_or_else(|| format!("sentinel {host}:{port}: no field {field}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_field_reads_exact_names() {
        let text =
            "# Replication\r\nrole:slave\r\nmaster_link_status:up\r\nmaster_host:127.0.0.1\r\n";
        assert_eq!(info_field(text, "role"), Some("slave"));
        assert_eq!(info_field(text, "master_link_status"), Some("up"));
        assert_eq!(info_field(text, "master"), None);
    }

    #[test]
    fn unreachable_instances_are_errors_not_panics() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        assert!(call("127.0.0.1", port, &["PING"]).is_err());
        assert!(discover_master(&[("127.0.0.1".into(), port)], "mymaster").is_err());
    }
}
