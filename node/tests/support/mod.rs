//! Test support: start real server processes (ours and Debian's
//! redis-server) on free loopback ports, and talk RESP to them.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use redis_ha_node::resp::Frame;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}

/// A fresh scratch directory, removed when dropped.
pub struct ScratchDir(pub PathBuf);

impl ScratchDir {
    pub fn new(tag: &str) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!(
            "redis-ha-test-{}-{}-{}",
            tag,
            std::process::id(),
            n
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        ScratchDir(dir)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        // A failing test keeps its directory: the logs in it say why.
        if std::thread::panicking() {
            eprintln!("kept {} for inspection", self.0.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Which implementation a process runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    Ours,
    RealRedis,
}

/// A running server; killed when dropped.
pub struct ServerProcess {
    pub child: Child,
    pub port: u16,
    pub flavor: Flavor,
    pub dir: ScratchDir,
}

pub fn our_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_redis-ha-node"))
}

/// Debian's redis-server (REDIS_SERVER_BIN overrides).
pub fn redis_server_binary() -> PathBuf {
    std::env::var_os("REDIS_SERVER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("redis-server"))
}

pub fn have_real_redis() -> bool {
    Command::new(redis_server_binary())
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

impl ServerProcess {
    /// Starts a server with `--port <free> --dir <scratch> --save ""` plus `extra`.
    pub fn start(flavor: Flavor, extra: &[&str]) -> ServerProcess {
        let mut last_err = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let dir = ScratchDir::new(match flavor {
                Flavor::Ours => "ours",
                Flavor::RealRedis => "redis",
            });
            let bin = match flavor {
                Flavor::Ours => our_binary(),
                Flavor::RealRedis => redis_server_binary(),
            };
            let log = std::fs::File::create(dir.0.join("server.log")).expect("log file");
            let mut cmd = Command::new(&bin);
            cmd.arg("--port")
                .arg(port.to_string())
                .arg("--bind")
                .arg("127.0.0.1")
                .arg("--dir")
                .arg(&dir.0)
                .arg("--save")
                .arg("")
                .args(extra)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("dup log"))
                .stderr(log);
            let child = match cmd.spawn() {
                Ok(c) => c,
                Err(e) => panic!("cannot start {}: {e} (is it installed?)", bin.display()),
            };
            let mut server = ServerProcess {
                child,
                port,
                flavor,
                dir,
            };
            match server.wait_ready(Duration::from_secs(10)) {
                Ok(()) => return server,
                Err(e) => last_err = e,
            }
        }
        panic!("server {flavor:?} did not start: {last_err}");
    }

    fn wait_ready(&mut self, limit: Duration) -> Result<(), String> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("exited with {status}: {}", self.log()));
            }
            if let Ok(mut c) = Client::connect(self.port) {
                // PONG, or NOAUTH when a password is set: either way it serves.
                match c.cmd(&["PING"]) {
                    Ok(Frame::Simple(s)) if s == b"PONG" => return Ok(()),
                    Ok(Frame::Error(e)) if e.starts_with(b"NOAUTH") => return Ok(()),
                    _ => {}
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("not ready after {limit:?}: {}", self.log()))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("server.log")).unwrap_or_default()
    }

    pub fn client(&self) -> Client {
        Client::connect(self.port).expect("connect to test server")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A blocking RESP client over a real socket.
pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub fn connect(port: u16) -> std::io::Result<Client> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Client {
            stream,
            buf: Vec::new(),
        })
    }

    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) -> std::io::Result<()> {
        self.stream.write_all(&Frame::encode_command(args))
    }

    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Reads one reply frame.
    pub fn read(&mut self) -> std::io::Result<Frame> {
        loop {
            match Frame::parse(&self.buf) {
                Ok(Some((frame, used))) => {
                    self.buf.drain(..used);
                    return Ok(frame);
                }
                Ok(None) => {}
                Err(e) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        e.to_string(),
                    ))
                }
            }
            let mut chunk = [0u8; 64 * 1024];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed",
                ));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Reads with a deadline; Ok(None) on timeout.
    pub fn read_timeout(&mut self, t: Duration) -> std::io::Result<Option<Frame>> {
        self.stream.set_read_timeout(Some(t))?;
        let r = match self.read() {
            Ok(f) => Ok(Some(f)),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        };
        self.stream
            .set_read_timeout(Some(Duration::from_secs(30)))?;
        r
    }

    pub fn cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> std::io::Result<Frame> {
        self.send(args)?;
        self.read()
    }

    /// Reads raw bytes until EOF or timeout (for protocol-error tests).
    pub fn read_to_end_timeout(&mut self, t: Duration) -> Vec<u8> {
        let _ = self.stream.set_read_timeout(Some(t));
        let mut out = std::mem::take(&mut self.buf);
        let mut chunk = [0u8; 4096];
        while let Ok(n) = self.stream.read(&mut chunk) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&chunk[..n]);
        }
        out
    }
}

/// Splits a case line with redis-cli-like quoting.
pub fn split_line(line: &str) -> Option<Vec<Vec<u8>>> {
    redis_ha_node::resp::request::split_args(line.as_bytes())
}

/// Our server in a directory the caller owns, so a restart in the same
/// directory finds the same files (ServerProcess uses a fresh scratch
/// directory each time). Killed and reaped when dropped.
pub struct DirServer {
    pub child: Child,
    pub port: u16,
}

impl Drop for DirServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl DirServer {
    pub fn client(&self) -> Client {
        Client::connect(self.port).expect("connect")
    }
}

/// Starts our binary on `port` in `dir` with `args`, appending its output to
/// `dir/server.log`; does not wait for it to serve.
pub fn spawn_ours_in(dir: &std::path::Path, port: u16, args: &[&str]) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.log"))
        .expect("log file");
    Command::new(our_binary())
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .arg("--dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("dup log"))
        .stderr(log)
        .spawn()
        .expect("start our server")
}

/// Starts our server in `dir` and waits until it answers PING; panics with
/// its log if it exits or does not serve within `limit`.
pub fn start_ours_in(
    dir: &std::path::Path,
    port: u16,
    args: &[&str],
    limit: Duration,
) -> DirServer {
    // Owned at once, so a failed start still kills and reaps it.
    let mut server = DirServer {
        child: spawn_ours_in(dir, port, args),
        port,
    };
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("our server exited with {status}: {}", read_log(dir));
        }
        if let Ok(mut c) = Client::connect(port) {
            if matches!(c.cmd(&["PING"]), Ok(Frame::Simple(_))) {
                return server;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("our server did not start: {}", read_log(dir));
}

/// The server log written in `dir`.
pub fn read_log(dir: &std::path::Path) -> String {
    std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
}

/// Waits for a process to exit by itself; kills it and panics after `limit`.
pub fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Ok(Some(status)) = child.try_wait() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    panic!("process did not exit");
}

/// One command on `c`; panics on an I/O error (the server is ours to test).
pub fn cmd_bytes(c: &mut Client, args: &[&[u8]]) -> Frame {
    c.cmd(args).expect("command")
}

/// One command on `c` that must not reply with an error.
pub fn ok(c: &mut Client, args: &[&[u8]]) {
    let reply = cmd_bytes(c, args);
    assert!(
        !matches!(reply, Frame::Error(_)),
        "{:?} failed: {reply:?}",
        args.iter()
            .map(|a| String::from_utf8_lossy(a))
            .collect::<Vec<_>>()
    );
}

/// A list, set, hash and sorted set of `n` elements each (`big*` keys),
/// large enough to leave the compact encodings, and a key in db 3; leaves
/// the client in db 0.
pub fn fill_big_collections(c: &mut Client, n: usize) {
    for i in 0..n {
        let n = i.to_string();
        let v = format!("value-{i}");
        ok(c, &[b"RPUSH", b"biglist", v.as_bytes()]);
        ok(c, &[b"SADD", b"bigset", v.as_bytes()]);
        ok(c, &[b"HSET", b"bighash", n.as_bytes(), v.as_bytes()]);
        ok(c, &[b"ZADD", b"bigzset", n.as_bytes(), v.as_bytes()]);
    }
    ok(c, &[b"SELECT", b"3"]);
    ok(c, &[b"SET", b"in-db-3", b"yes"]);
    ok(c, &[b"SELECT", b"0"]);
}
