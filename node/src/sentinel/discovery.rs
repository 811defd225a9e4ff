//! The data node's start-up option `--ask-sentinels host:port,...
//! --master-name name`: before taking a role, ask the sentinels who the
//! master is and start as its replica. A restarted former master that the
//! sentinels still name as master, but which has no data to load, refuses
//! to start: serving an empty dataset as master would make its replicas
//! copy the emptiness.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::resp::Frame;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AskSentinels {
    pub sentinels: Vec<(String, u16)>,
    pub master_name: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Master,
    Replica(String, u16),
}

/// Removes `--ask-sentinels a:p,b:q` and `--master-name n` from argv.
pub fn take_args(args: &mut Vec<String>) -> Result<Option<AskSentinels>, String> {
    let mut list = None;
    let mut name = None;
    let mut i = 0;
    while i < args.len() {
        let flag = args[i].as_str();
        if flag == "--ask-sentinels" || flag == "--master-name" {
            let Some(v) = args.get(i + 1).cloned() else {
                return Err(format!("{flag} needs a value"));
            };
            if flag == "--ask-sentinels" {
                list = Some(v);
            } else {
                name = Some(v);
            }
            args.drain(i..i + 2);
        } else {
            i += 1;
        }
    }
    let Some(list) = list else {
        return match name {
            Some(_) => Err("--master-name needs --ask-sentinels".into()),
            None => Ok(None),
        };
    };
    let mut sentinels = Vec::new();
    for item in list.split(',').filter(|s| !s.is_empty()) {
        let (h, p) = item
            .rsplit_once(':')
            .ok_or_else(|| format!("--ask-sentinels wants host:port, got '{item}'"))?;
        let port = p
            .parse::<u16>()
            .map_err(|_| format!("--ask-sentinels: bad port in '{item}'"))?;
        sentinels.push((h.trim_matches(|c| c == '[' || c == ']').to_string(), port));
    }
    if sentinels.is_empty() {
        return Err("--ask-sentinels needs at least one host:port".into());
    }
    Ok(Some(AskSentinels {
        sentinels,
        master_name: name.unwrap_or_else(|| "mymaster".to_string()),
    }))
}

fn command(host: &str, port: u16, args: &[&str]) -> Result<Frame, String> {
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .ok_or("no address")?;
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    s.write_all(&Frame::encode_command(args))
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some((f, _)) = Frame::parse(&buf).map_err(|e| e.to_string())? {
            return Ok(f);
        }
        let n = s.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// What one sentinel says: the master address and whether it has ever
/// seen a server there (its run id).
fn ask_one(host: &str, port: u16, name: &str) -> Result<((String, u16), bool), String> {
    let addr = command(host, port, &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", name])?;
    let items = addr
        .items()
        .ok_or_else(|| format!("sentinel does not know master '{name}'"))?;
    let ip = items
        .first()
        .and_then(|f| f.as_str())
        .ok_or("bad reply")?
        .to_string();
    let mport = items
        .get(1)
        .and_then(|f| f.as_str())
        .and_then(|p| p.parse::<u16>().ok())
        .ok_or("bad reply")?;
    let master = command(host, port, &["SENTINEL", "MASTER", name])?;
    let seen = master
        .items()
        .map(|it| {
            it.chunks(2).any(|kv| {
                kv[0].as_str() == Some("runid")
                    && kv
                        .get(1)
                        .and_then(|v| v.as_str())
                        .is_some_and(|v| !v.is_empty())
            })
        })
        .unwrap_or(false);
    Ok(((ip, mport), seen))
}

/// Asks the sentinels (retrying until `limit`) and decides the role.
/// `me` are the addresses this node is known by, `has_data` whether it has
/// an RDB or AOF to load.
pub fn decide(
    ask: &AskSentinels,
    my_port: u16,
    me: &[String],
    has_data: bool,
    limit: Duration,
) -> Result<Decision, String> {
    let start = Instant::now();
    let mut last_err = String::from("no sentinel answered");
    loop {
        for (h, p) in &ask.sentinels {
            match ask_one(h, *p, &ask.master_name) {
                Ok(((ip, port), seen)) => {
                    let is_me = port == my_port && me.iter().any(|m| m.eq_ignore_ascii_case(&ip));
                    if !is_me {
                        crate::notice!("Sentinel {h}:{p} says the master of '{}' is {ip}:{port}: starting as its replica", ask.master_name);
                        return Ok(Decision::Replica(ip, port));
                    }
                    if has_data || !seen {
                        crate::notice!("Sentinel {h}:{p} names this node as the master of '{}': starting as master", ask.master_name);
                        return Ok(Decision::Master);
                    }
                    return Err(format!(
                        "Sentinel {h}:{p} still names this node ({ip}:{port}) as the master of '{}', but it has no data to load: refusing to start as an empty master. Start it again once the sentinels have failed over.",
                        ask.master_name
                    ));
                }
                Err(e) => last_err = format!("sentinel {h}:{p}: {e}"),
            }
        }
        if start.elapsed() > limit {
            return Err(format!(
                "Could not learn the master of '{}' from the sentinels ({last_err}): refusing to start without a role",
                ask.master_name
            ));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_its_arguments_out_of_argv() {
        let mut a: Vec<String> = [
            "--port",
            "7000",
            "--ask-sentinels",
            "127.0.0.1:1,h:2",
            "--master-name",
            "m",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let ask = take_args(&mut a).unwrap().unwrap();
        assert_eq!(a, vec!["--port", "7000"]);
        assert_eq!(
            ask.sentinels,
            vec![("127.0.0.1".to_string(), 1), ("h".to_string(), 2)]
        );
        assert_eq!(ask.master_name, "m");
        let mut none: Vec<String> = vec!["--port".into(), "1".into()];
        assert_eq!(take_args(&mut none).unwrap(), None);
        let mut bad: Vec<String> = vec!["--ask-sentinels".into(), "nohostport".into()];
        assert!(take_args(&mut bad).is_err());
        let mut bad: Vec<String> = vec!["--ask-sentinels".into()];
        assert!(take_args(&mut bad).is_err());
    }
}
